// Package swtest runs real strongSwan peers for tests: it creates a pair of
// network namespaces joined by a veth pair, starts one charon per
// namespace with its own strongswan.conf, vici socket and pid file, drives
// it with swanctl, captures traffic with tcpdump, and removes everything
// again through t.Cleanup (also when the test fails). It stops only the
// processes it started, by PID.
//
// Tests that use it call Require first; without root, charon, swanctl or
// ip it skips (or fails under IPSEC_REQUIRE_INTEROP=1, see
// internal/testenv). The Debian packages are installed by
// .ci/setup.d/strongswan.sh.
//
// Network rule: the namespaces get private addresses (a /30 from
// 10.231.0.0/16 chosen per pair) on the veths only and no default route,
// so nothing a test sends can leave them.
//
//	swtest.Require(t)
//	pair := swtest.NewPair(t)
//	left := pair.StartCharon(t, 0, swtest.Options{})
//	right := pair.StartCharon(t, 1, swtest.Options{})
//	right.Load(t, responderConf)
//	left.Load(t, initiatorConf)
//	left.Swanctl(t, "--initiate", "--child", "net")
//
// References: /work/shared/INTEROP.md (how charon runs on these machines);
// strongSwan's strongswan.conf(5) and swanctl.conf(5).
package swtest
