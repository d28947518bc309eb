package ike

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestLossyWire drives the handshake, CHILD SA rekeys from both sides and
// an IKE SA rekey over a wire that drops, duplicates and reorders
// datagrams (seeded, so every run is the same). Whatever happens, the two
// sides must end in agreement: both established with CHILD SAs that pair
// up and carry ESP, or both gone.
func TestLossyWire(t *testing.T) {
	for _, simultaneous := range []bool{false, true} {
		lossyWire(t, simultaneous)
	}
}

// lossyWire is TestLossyWire; simultaneous makes both sides start each
// rekey at the same moment (RFC 7296 2.8.1 and 2.25 collisions).
func lossyWire(t *testing.T, simultaneous bool) {
	for seed := uint64(1); seed <= 100; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519")
		rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519")
		// If every copy of a response is lost, the requester gives up while
		// the responder believes all is well; liveness checks let the
		// survivor find out (RFC 7296 2.4).
		icfg.DPDInterval, rcfg.DPDInterval = time.Minute, time.Minute
		// Deterministic nonces, SPIs and jitter (crypto/ecdh keys still
		// come from crypto/rand, which changes no timing).
		icfg.Rand = rand.NewChaCha8([32]byte{byte(seed), 1})
		rcfg.Rand = rand.NewChaCha8([32]byte{byte(seed), 2})
		p := newPair(t, icfg, rcfg)
		p.filter = func(bool, []byte) bool { return rng.Float64() >= 0.2 }
		lossyRun := func() {
			for i := 0; i < 200; i++ {
				// Duplicate some datagrams and shuffle what is in flight.
				for _, q := range []*[][]byte{&p.toR, &p.toI} {
					for _, d := range *q {
						if rng.Float64() < 0.1 {
							*q = append(*q, append([]byte(nil), d...))
						}
					}
					rng.Shuffle(len(*q), func(a, b int) { (*q)[a], (*q)[b] = (*q)[b], (*q)[a] })
				}
				if !p.step() {
					if !p.advance(time.Minute) {
						return
					}
				}
			}
		}
		settle := func() {
			lossyRun()
			// Let every retransmission schedule finish.
			for i := 0; i < 50 && p.advance(30*time.Second); i++ {
				p.run()
			}
		}
		// heal repairs the network and lets outstanding exchanges (and
		// liveness checks of a survivor) finish: from then on both sides
		// must agree.
		heal := func() {
			keep := p.filter
			p.filter = nil
			p.run()
			for i := 0; i < 200 && (busy(p.i) || busy(p.r) || p.i.Closed() != (p.r == nil || p.r.Closed())); i++ {
				p.advance(time.Minute)
				p.run()
			}
			p.filter = keep
		}
		settle()
		if p.r == nil || !p.i.Established() || !p.r.Established() {
			heal()
		}
		if p.r == nil || !p.i.Established() || !p.r.Established() {
			// A handshake can fail if every copy of a message is lost;
			// then both sides must have given up.
			if p.i.Closed() && (p.r == nil || p.r.Closed()) {
				continue
			}
			t.Fatalf("simultaneous %v, seed %d: inconsistent after handshake: %v / %v", simultaneous, seed, kinds(p.evI), kinds(p.evR))
		}
		if c := p.i.ChildSAs(); len(c) > 0 {
			p.i.RekeyChild(p.now, c[0].InboundSPI)
		}
		if c := p.r.ChildSAs(); simultaneous && len(c) > 0 {
			p.r.RekeyChild(p.now, c[0].InboundSPI)
		}
		p.collect()
		settle()
		if c := p.r.ChildSAs(); len(c) > 0 {
			p.r.RekeyChild(p.now, c[0].InboundSPI)
		}
		p.collect()
		settle()
		p.i.RekeyIKE(p.now)
		if simultaneous {
			p.r.RekeyIKE(p.now)
		}
		p.collect()
		settle()
		heal()
		if p.i.Closed() != p.r.Closed() {
			t.Fatalf("simultaneous %v, seed %d: one side closed: %v / %v", simultaneous, seed, kinds(p.evI), kinds(p.evR))
		}
		if p.i.Closed() {
			continue
		}
		si, sr := p.i.SPIs()
		ri, rr := p.r.SPIs()
		if si != ri || sr != rr {
			t.Fatalf("simultaneous %v, seed %d: IKE SPIs differ", simultaneous, seed)
		}
		ci, cr := p.i.ChildSAs(), p.r.ChildSAs()
		if len(ci) != len(cr) {
			t.Fatalf("simultaneous %v, seed %d: %d vs %d CHILD SAs (%v / %v)", simultaneous, seed, len(ci), len(cr), kinds(p.evI), kinds(p.evR))
		}
		for _, a := range ci {
			var peer *ChildSA
			for j := range cr {
				if cr[j].InboundSPI == a.OutboundSPI && cr[j].OutboundSPI == a.InboundSPI {
					peer = &cr[j]
				}
			}
			if peer == nil {
				t.Fatalf("simultaneous %v, seed %d: CHILD SA %x has no peer", simultaneous, seed, a.InboundSPI)
			}
			checkESP(t, &a, peer)
		}
	}
}

// busy reports whether the session has a request outstanding or queued.
func busy(s *Session) bool {
	if s == nil || s.closed {
		return false
	}
	return s.sa.req != nil || len(s.queue) > 0 || slices.ContainsFunc(s.retired, func(o *ikeSA) bool { return o.req != nil })
}
