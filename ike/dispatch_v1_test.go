package ike

import (
	"context"
	"sync"
	"testing"
)

// TestEndpointPeerRekeyV1 runs two endpoints with IKEv1 on loopback: the
// IKE SA is rekeyed (a new Main Mode) first by its responder, then by its
// initiator. Each endpoint hands the peer's new Main Mode to the session
// it already has with that peer (not to a new session), and finds the
// answers to a rekey started by a responder session by our initiator
// cookie; each side ends with one IKE SA, the same, and the CHILD SA keeps
// carrying ESP.
func TestEndpointPeerRekeyV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	icfg.ForceUDPEncap = true
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	a, b := newEPPeer(t, icfg), newEPPeer(t, rcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*epPeer{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); p.ep.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	bIKE, _ := b.ep.Addrs()
	if _, err := a.ep.Initiate(ctx, icfg, bIKE, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CHILD SA", func() bool { return a.has(EventChildUp) && b.has(EventChildUp) })
	exchange(t, a, b, 3)
	for round, p := range []*epPeer{b, a} {
		sas := p.ep.IKESAs()
		if len(sas) != 1 {
			t.Fatalf("round %d: %d IKE SAs", round, len(sas))
		}
		spi := sas[0].SPIr
		if sas[0].Initiator {
			spi = sas[0].SPIi
		}
		if err := p.ep.RekeyIKE(ctx, spi); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "phase 1 rekey", func() bool {
			return countOf(a, EventIKERekeyed) == round+1 && countOf(b, EventIKERekeyed) == round+1
		})
		waitFor(t, "one IKE SA each, the same", func() bool {
			x, y := a.ep.IKESAs(), b.ep.IKESAs()
			return len(x) == 1 && len(y) == 1 && x[0].SPIi == y[0].SPIi && x[0].SPIr == y[0].SPIr && x[0].SPIi != sas[0].SPIi
		})
		exchange(t, a, b, 3)
	}
	for _, p := range []*epPeer{a, b} {
		if n := countOf(p, EventIKEUp); n != 1 {
			t.Fatalf("%d IKE SAs came up on one side (a second session for the rekey?)", n)
		}
		if countOf(p, EventChildDeleted)+countOf(p, EventIKEDown) != 0 {
			t.Fatal("the rekeys deleted SAs")
		}
	}
}

func countOf(p *epPeer, k EventKind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return countEvents(p.events, k)
}
