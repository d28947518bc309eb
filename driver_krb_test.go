package ipsec

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/internal/krbtest"
)

// Kerberos through the driver (issue 16): the policy rule's
// authentication methods, in order, drive IKEv1 Main Mode; each gateway
// holds its computer account's keytab from a real MIT KDC
// (internal/krbtest; without krb5-kdc the tests skip, or fail under
// IPSEC_REQUIRE_INTEROP=1).

const (
	drvKrbA = "host/a.ipsec.test"
	drvKrbB = "host/b.ipsec.test"
	drvKrbC = "host/c.ipsec.test"
)

// drvKrbPolicy returns the IKEv1 e2e policy whose tunnel rules
// authenticate with Kerberos (naming the peer's principal), then a
// pre-shared key. psk is each side's key for those rules (A's, B's);
// bPSKOnly leaves B's tunnel rules with the pre-shared key only.
func drvKrbPolicy(pskA, pskB string, bPSKOnly bool) func(a bool) string {
	return func(a bool) string {
		s := drvV1PolicyFor(a)
		peer, psk := drvKrbB, pskA
		if !a {
			peer, psk = drvKrbA, pskB
		}
		methods := `[{kerberos: "` + peer + `"}, {preshared_key: "` + psk + `"}]`
		if !a && bPSKOnly {
			methods = `[{preshared_key: "` + psk + `"}]`
		}
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "{name: tunnel ") {
				l = strings.Replace(l, `authentication: [{preshared_key: "a pre-shared key for the e2e test"}]`,
					"authentication: "+methods, 1)
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
}

// krbGateways starts A and B with their Kerberos credentials and the
// policy policyFor gives each.
func krbGateways(t *testing.T, policyFor func(a bool) string) (a, b *drvGateway) {
	k := krbtest.Start(t,
		krbtest.Principal{Name: drvKrbA, Keytab: "a.keytab"},
		krbtest.Principal{Name: drvKrbB, Keytab: "b.keytab"},
		krbtest.Principal{Name: drvKrbC, Keytab: "c.keytab"})
	conf := k.WriteKrb5Conf(t)
	load := func(p, kt string) *auth.KerberosHost {
		h, err := auth.LoadKerberosHost(auth.KerberosHostConfig{Krb5Conf: conf, Keytab: k.Path(kt), Principal: p})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	hostA, hostB := load(drvKrbA, "a.keytab"), load(drvKrbB, "b.keytab")
	vs := &v1Versions{n: map[ike.Version]int{}}
	a, b = startGatewaysPolicy(t, policyFor, func(c *DriverConfig) {
		vs.hook(c)
		c.Kerberos = hostB
		if c.Endpoint.IKEAddr.Addr() == netip.MustParseAddr("127.0.0.1") {
			c.Kerberos = hostA
		}
	})
	t.Cleanup(func() {
		vs.mu.Lock()
		n := len(vs.n)
		vs.mu.Unlock()
		if !t.Failed() && n > 0 {
			vs.only(t, ike.IKEv1)
		}
	})
	return a, b
}

// krbTraffic: the first packet of A's tunnel is held, then delivered
// through the CHILD SA, and B's reply comes back on it.
func krbTraffic(t *testing.T, a, b *drvGateway) {
	t.Helper()
	r := a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "first"))
	if r.Verdict != VerdictHeld || r.Rule != "tunnel out" {
		t.Fatalf("first packet: %+v", r)
	}
	waitFor(t, "the held packet", func() bool { return b.delivered("first") == 1 })
	if r = b.out(t, ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, "reply")); r.Verdict != VerdictProtected {
		t.Fatalf("reply: %+v", r)
	}
	waitFor(t, "the reply", func() bool { return a.delivered("reply") == 1 })
}

// TestKerberosIKEDriverEndToEnd: both gateways' tunnel rules say
// "kerberos, then pre-shared key"; their pre-shared keys differ, so the
// IKE SA can only have been authenticated with Kerberos (the first
// method), and traffic passes through the SA.
func TestKerberosIKEDriverEndToEnd(t *testing.T) {
	a, b := krbGateways(t, drvKrbPolicy("A's key, not B's", "B's key, not A's", false))
	krbTraffic(t, a, b)
}

// TestKerberosIKEDriverSecondMethod: B's tunnel rules allow only the
// pre-shared key, so B takes A's second method, as Windows does when
// the first is not acceptable.
func TestKerberosIKEDriverSecondMethod(t *testing.T) {
	a, b := krbGateways(t, drvKrbPolicy("the key both gateways share", "the key both gateways share", true))
	krbTraffic(t, a, b)
}

// TestKerberosIKEDriverWrongPrincipal: A's rule names another host's
// principal for B, and the pre-shared keys differ: A's ticket is for
// host/c, which B's keytab cannot accept, so authentication fails,
// the held packet is dropped and counted, nothing is delivered and no
// SA is left on either side.
func TestKerberosIKEDriverWrongPrincipal(t *testing.T) {
	policy := drvKrbPolicy("A's key, not B's", "B's key, not A's", false)
	a, b := krbGateways(t, func(isA bool) string {
		s := policy(isA)
		if isA {
			s = strings.ReplaceAll(s, `{kerberos: "`+drvKrbB+`"}`, `{kerberos: "`+drvKrbC+`"}`)
		}
		return s
	})
	if r := a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "first")); r.Verdict != VerdictHeld {
		t.Fatalf("first packet: %+v", r)
	}
	waitFor(t, "the failed negotiation", func() bool { return a.d.RuleDrops("tunnel out")[ReasonNegotiation] == 1 })
	if b.delivered("first") != 0 || allOutboundSAs(a.d) != 0 || allOutboundSAs(b.d) != 0 {
		t.Fatalf("delivered %d, outbound SAs %d / %d", b.delivered("first"), allOutboundSAs(a.d), allOutboundSAs(b.d))
	}
}
