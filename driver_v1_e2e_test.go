package ipsec

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The IKEv1 end-to-end setting: the e2e policy of driver_e2e_test.go
// with key exchange settings that say IKEv1 (as Windows Server 2003's
// default policies do), so that both drivers negotiate with
// ike.SessionV1 through their endpoints.

const drvV1KeyExchange = `key_exchange:
  versions: [ikev1]
  methods:
    - {encryption: aes128-cbc, integrity: sha256, group: ecp256}
`

// drvV1PolicyFor is the e2e policy for one gateway, negotiated with
// IKEv1.
func drvV1PolicyFor(a bool) string {
	return strings.Replace(drvPolicyFor(a, true), "filter_lists:", drvV1KeyExchange+"filter_lists:", 1)
}

// startGatewaysPolicy is startGateways with the policy policyFor gives
// each side (true: A) in force before the drivers run.
func startGatewaysPolicy(t *testing.T, policyFor func(a bool) string, cfg func(*DriverConfig)) (a, b *drvGateway) {
	ikeP, nattP := freePorts(t)
	a = newGateway(t, "A", true, ikeP, nattP, cfg)
	b = newGateway(t, "B", false, ikeP, nattP, cfg)
	a.peer, b.peer = b, a
	for _, g := range []*drvGateway{a, b} {
		g.spd.Swap(compilePolicy(t, policyFor(g == a), g.addr))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, g := range []*drvGateway{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.d.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: Run: %v", g.name, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return a, b
}

// v1Versions records the IKE version of every CHILD SA the endpoints
// report.
type v1Versions struct {
	mu sync.Mutex
	n  map[ike.Version]int
}

func (v *v1Versions) hook(c *DriverConfig) {
	c.Endpoint.Events = func(ev ike.Event) {
		if ev.Kind == ike.EventChildUp && ev.Child != nil {
			v.mu.Lock()
			v.n[ev.Child.Version]++
			v.mu.Unlock()
		}
	}
}

func (v *v1Versions) only(t *testing.T, want ike.Version) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.n) != 1 || v.n[want] == 0 {
		t.Fatalf("CHILD SAs by IKE version: %v, want only %v", v.n, want)
	}
}

// rekeyUnderTraffic rekeys the CHILD SA of rule on a (from a's side)
// while both sides send packets on it (through out), and checks that
// every packet sent was delivered once.
func rekeyUnderTraffic(t *testing.T, a, b *drvGateway, rule string, out func(*drvGateway, []byte) Result, pa, pb func(i int) []byte) {
	t.Helper()
	var ref childRef
	var inSPI uint32
	a.d.mu.Lock()
	for id, c := range a.d.children {
		if c.rule.id == rule {
			ref, inSPI = c, id.spi
		}
	}
	a.d.mu.Unlock()
	if inSPI == 0 {
		t.Fatalf("no CHILD SA of %q on %s", rule, a.name)
	}
	var sent [2]int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if out(a, pa(i)).Verdict == VerdictProtected {
				sent[0]++
			}
			if out(b, pb(i)).Verdict == VerdictProtected {
				sent[1]++
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := a.d.neg.rekeyChild(context.Background(), ref.ike, inSPI); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rekey", func() bool {
		a.d.mu.Lock()
		defer a.d.mu.Unlock()
		old, fresh := false, false
		for id, c := range a.d.children {
			old = old || id.spi == inSPI
			fresh = fresh || c.rule.id == rule && id.spi != inSPI
		}
		return !old && fresh
	})
	time.Sleep(400 * time.Millisecond) // past Settle: traffic on the new SA
	close(stop)
	<-done
	waitFor(t, "every packet sent during the rekey", func() bool {
		for i := range sent[0] {
			if b.delivered(string(pa(i)[28:])) != 1 {
				return false
			}
		}
		for i := range sent[1] {
			if a.delivered(string(pb(i)[28:])) != 1 {
				return false
			}
		}
		return true
	})
	if sent[0] < 10 || sent[1] < 10 {
		t.Fatalf("sent %v during the rekey", sent)
	}
	for _, g := range []*drvGateway{a, b} {
		g.mu.Lock()
		if g.lost != 0 {
			t.Errorf("%s: %d packets could not be sent", g.name, g.lost)
		}
		g.mu.Unlock()
	}
}

// TestDriverIKEv1EndToEnd: two drivers whose policy's key exchange
// settings say IKEv1 (Windows Server 2003's default) negotiate with
// IKEv1 Main and Quick Mode through their endpoints, ESP in UDP (NAT-T
// forced, RFC 3947): the first packet is held, then delivered; traffic
// flows both ways; a Quick Mode rekey with PFS under traffic both ways
// loses nothing.
func TestDriverIKEv1EndToEnd(t *testing.T) {
	vs := &v1Versions{n: map[ike.Version]int{}}
	a, b := startGatewaysPolicy(t, drvV1PolicyFor, vs.hook)

	r := a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "first"))
	if r.Verdict != VerdictHeld || r.Rule != "tunnel out" {
		t.Fatalf("first packet: %+v", r)
	}
	waitFor(t, "the held packet", func() bool { return b.delivered("first") == 1 })
	r = a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "second"))
	if r.Verdict != VerdictProtected || r.Proto != ProtoESPInUDP || r.To.Addr() != b.addr {
		t.Fatalf("second packet: %+v", r)
	}
	waitFor(t, "the second packet", func() bool { return b.delivered("second") == 1 })
	if r = b.out(t, ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, "reply")); r.Verdict != VerdictProtected {
		t.Fatalf("reply: %+v", r)
	}
	waitFor(t, "the reply", func() bool { return a.delivered("reply") == 1 })
	vs.only(t, ike.IKEv1)

	rekeyUnderTraffic(t, a, b, "tunnel out", func(g *drvGateway, p []byte) Result { return g.out(t, p) },
		func(i int) []byte { return ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, fmt.Sprintf("a%d", i)) },
		func(i int) []byte { return ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, fmt.Sprintf("b%d", i)) })
	a.d.mu.Lock()
	var pfs bool
	for _, c := range a.d.children {
		pfs = pfs || c.rule.id == "tunnel out" && c.pfs != isakmp.GroupNone
	}
	a.d.mu.Unlock()
	if !pfs {
		t.Fatal("the rekeyed CHILD SA has no PFS group")
	}
	vs.only(t, ike.IKEv1)
}
