package ipsec

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

// AH+ESP through the driver with IKEv1: Windows offers AH+ESP, which
// IKEv1 negotiates as an SA bundle and the SAD holds as one SA with both
// transforms. AH cannot travel in UDP (RFC 3948 covers ESP only), so
// this test does without NAT-T: the driver returns whole IP packets with
// AH and ESP (ProtoRaw), which the test carries to the other driver's
// Inbound in memory, as a raw socket would (no root needed).

// drvBundlePolicyFor is the IKEv1 e2e policy whose tunnel rules' method
// is AH+ESP.
func drvBundlePolicyFor(a bool) string {
	return strings.Replace(drvV1PolicyFor(a), "      - esp: {encryption: aes256-gcm16}\n",
		"      - esp: {encryption: aes256-gcm16}\n        ah: sha256\n", 1)
}

// rawWire carries protected packets between the two gateways in
// memory: raw ones to the peer's Inbound, ESP in UDP through the
// endpoints.
type rawWire struct {
	mu  sync.Mutex
	gws map[netip.Addr]*drvGateway
	raw int // raw packets carried
}

func (w *rawWire) send(g *drvGateway, r Result) {
	if r.Verdict != VerdictProtected || r.Proto != ProtoRaw {
		g.send(r)
		return
	}
	w.mu.Lock()
	w.raw++
	w.mu.Unlock()
	g.peer.receive(g.peer.d.Inbound(bytes.Clone(r.Packet)))
}

func (w *rawWire) out(t *testing.T, g *drvGateway, pkt []byte) Result {
	t.Helper()
	r := g.d.Outbound(make([]byte, 0, 2048), pkt)
	if r.Verdict == VerdictProtected || r.Verdict == VerdictClear {
		w.send(g, r)
	}
	return r
}

// TestDriverIKEv1Bundle: two drivers whose tunnel rules say AH+ESP and
// IKEv1 negotiate an AH+ESP bundle; the first packet is held, then
// delivered as IP, AH, ESP; traffic flows both ways; a Quick Mode rekey
// of the bundle under traffic loses nothing; a reload that removes the
// rules deletes the bundle on both sides.
func TestDriverIKEv1Bundle(t *testing.T) {
	a, b, w := startRawGateways(t, drvBundlePolicyFor)
	testBundleTraffic(t, a, b, w)

	// Rekey the bundle under traffic both ways (the test's out carries
	// raw packets).
	rekeyUnderTraffic(t, a, b, "tunnel out", func(g *drvGateway, p []byte) Result { return w.out(t, g, p) },
		func(i int) []byte { return ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, fmt.Sprintf("a%d", i)) },
		func(i int) []byte { return ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, fmt.Sprintf("b%d", i)) })
	if sa := a.d.SAD().Outbound(a.d.flowOf(a.d.policy().byID["tunnel out"], b.addr).key); sa == nil || sa.AH() == nil || sa.ESP() == nil {
		t.Fatal("no bundle after the rekey")
	}

	// Reload A without the tunnel rules: the bundles go on both sides.
	a.spd.Swap(compilePolicy(t, drvPolicyFor(true, false), a.addr))
	if r := w.out(t, a, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "after")); r.Verdict != VerdictClear {
		t.Fatalf("after the reload: %+v", r)
	}
	waitFor(t, "the SAs to go on both sides", func() bool { return allOutboundSAs(a.d) == 0 && allOutboundSAs(b.d) == 0 })
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raw < 20 {
		t.Fatalf("only %d raw packets carried", w.raw)
	}
}

// drvWindows2003PolicyFor is the e2e policy with Windows Server 2003's
// algorithms: IKEv1 Main Mode with 3DES, SHA-1 and MODP-2048, then
// 3DES, MD5 and MODP-1024 (Oakley group 2); Quick Mode AH (SHA-1) plus
// ESP (3DES, SHA-1) with session key PFS in group 2.
func drvWindows2003PolicyFor(a bool) string {
	s := strings.Replace(drvPolicyFor(a, true), "filter_lists:", `key_exchange:
  versions: [ikev1]
  methods:
    - {encryption: 3des, integrity: sha1, group: modp2048}
    - {encryption: 3des, integrity: md5, group: modp1024}
filter_lists:`, 1)
	return strings.Replace(s, "    pfs: true\n    security_methods:\n      - esp: {encryption: aes256-gcm16}\n",
		"    pfs: modp1024\n    security_methods:\n      - esp: {encryption: 3des, integrity: sha1}\n        ah: sha1\n", 1)
}

// TestDriverIKEv1Windows2003: the policy of a Windows Server 2003
// gateway (IKEv1, 3DES, SHA-1, MD5, MODP-1024, AH+ESP, PFS) on both
// drivers: the legacy algorithms the policy names are allowed for its
// IKEv1 rules only, and the bundle carries traffic both ways.
func TestDriverIKEv1Windows2003(t *testing.T) {
	a, b, w := startRawGateways(t, drvWindows2003PolicyFor)
	cfg := a.d.policy().byID["tunnel out"].cfg
	if cfg == nil || !cfg.AllowLegacyV1 || cfg.IKEProposals[0].Encr[0].ID != isakmp.Encr3DES {
		t.Fatalf("tunnel rule's Config: %+v (%v)", cfg, a.d.policy().byID["tunnel out"].err)
	}
	testBundleTraffic(t, a, b, w)
	cp := cfg.ChildProposals
	if len(cp) != 2 || cp[0].Encr[0].ID != isakmp.Encr3DES || cp[1].Integ[0] != isakmp.IntegHMACSHA1_96 {
		t.Fatalf("CHILD proposals %+v", cp)
	}
	a.d.mu.Lock()
	defer a.d.mu.Unlock()
	for _, c := range a.d.children {
		if c.pfs != isakmp.GroupMODP1024 {
			t.Fatalf("CHILD SA with PFS group %v", c.pfs)
		}
	}
}

// startRawGateways starts A and B with policyFor, without NAT-T: their
// protected packets are raw IP and travel through w.
func startRawGateways(t *testing.T, policyFor func(a bool) string) (a, b *drvGateway, w *rawWire) {
	w = &rawWire{gws: map[netip.Addr]*drvGateway{}}
	vs := &v1Versions{n: map[ike.Version]int{}}
	a, b = startGatewaysPolicy(t, policyFor, func(c *DriverConfig) {
		vs.hook(c)
		c.ForceUDPEncap = false
		addr := c.Endpoint.IKEAddr.Addr()
		c.Output = func(r Result) {
			w.mu.Lock()
			g := w.gws[addr]
			w.mu.Unlock()
			w.send(g, r)
		}
	})
	w.mu.Lock()
	w.gws[a.addr], w.gws[b.addr] = a, b
	w.mu.Unlock()
	t.Cleanup(func() {
		if !t.Failed() {
			vs.only(t, ike.IKEv1)
		}
	})
	return a, b, w
}

// testBundleTraffic: the first packet of A's tunnel is held, then
// delivered as IP, AH, ESP; traffic flows both ways through the bundle;
// a tampered packet is dropped.
func testBundleTraffic(t *testing.T, a, b *drvGateway, w *rawWire) {
	t.Helper()
	r := w.out(t, a, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "first"))
	if r.Verdict != VerdictHeld || r.Rule != "tunnel out" {
		t.Fatalf("first packet: %+v", r)
	}
	waitFor(t, "the held packet", func() bool { return b.delivered("first") == 1 })
	r = w.out(t, a, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "second"))
	if r.Verdict != VerdictProtected || r.Proto != ProtoRaw || r.To.Addr() != b.addr {
		t.Fatalf("second packet: %+v", r)
	}
	// IP, AH (next header ESP), ESP, in tunnel mode between the IKE
	// addresses.
	p := r.Packet
	if len(p) < 40 || p[9] != protoAH || p[20] != protoESP ||
		netip.AddrFrom4([4]byte(p[12:16])) != a.addr || netip.AddrFrom4([4]byte(p[16:20])) != b.addr {
		t.Fatalf("sealed packet is not IP, AH, ESP: % x", p[:min(len(p), 40)])
	}
	sa := a.d.SAD().Outbound(a.d.flowOf(a.d.policy().byID["tunnel out"], b.addr).key)
	if sa == nil || sa.ESP() == nil || sa.AH() == nil || sa.Proto() != sad.ProtoAH {
		t.Fatalf("outbound SA is not a bundle: %+v", sa)
	}
	waitFor(t, "the second packet", func() bool { return b.delivered("second") == 1 })
	if r = w.out(t, b, ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, "reply")); r.Verdict != VerdictProtected || r.Proto != ProtoRaw {
		t.Fatalf("reply: %+v", r)
	}
	waitFor(t, "the reply", func() bool { return a.delivered("reply") == 1 })

	// A packet whose AH ICV does not verify is dropped.
	bad := bytes.Clone(p)
	bad[len(bad)-1] ^= 1
	if r = b.d.Inbound(bad); r.Verdict != VerdictDrop {
		t.Fatalf("tampered packet: %+v", r)
	}
}

// TestDriverIKEv1AH: a rule whose security method is AH alone
// (Windows' "integrity only"): IKEv1 negotiates an AH CHILD SA and the
// driver returns raw IP, AH packets, delivered both ways.
func TestDriverIKEv1AH(t *testing.T) {
	a, b, w := startRawGateways(t, func(isA bool) string {
		return strings.Replace(drvV1PolicyFor(isA), "      - esp: {encryption: aes256-gcm16}\n", "      - ah: sha256\n", 1)
	})
	if r := w.out(t, a, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "first")); r.Verdict != VerdictHeld {
		t.Fatalf("first packet: %+v", r)
	}
	waitFor(t, "the held packet", func() bool { return b.delivered("first") == 1 })
	r := w.out(t, b, ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, "reply"))
	if r.Verdict != VerdictProtected || r.Proto != ProtoRaw || r.Packet[9] != protoAH {
		t.Fatalf("reply: %+v", r)
	}
	waitFor(t, "the reply", func() bool { return a.delivered("reply") == 1 })
}
