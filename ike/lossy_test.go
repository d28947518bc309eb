package ike

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLossyWire drives the handshake, CHILD SA rekeys from both sides and
// an IKE SA rekey over a wire that drops, duplicates and reorders
// datagrams (seeded, so every run is the same). Whatever happens, the two
// sides must end in agreement: both established with CHILD SAs that pair
// up and carry ESP, or both gone.
func TestLossyWire(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519")
		rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519")
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
		settle()
		if p.r == nil || !p.i.Established() || !p.r.Established() {
			// A handshake can fail if every copy of a message is lost;
			// then both sides must have given up.
			if p.i.Closed() && (p.r == nil || p.r.Closed() || p.r.sa.state == stateInitDone) {
				continue
			}
			t.Fatalf("seed %d: inconsistent after handshake: %v / %v", seed, kinds(p.evI), kinds(p.evR))
		}
		if c := p.i.ChildSAs(); len(c) > 0 {
			p.i.RekeyChild(p.now, c[0].InboundSPI)
		}
		p.collect()
		settle()
		if c := p.r.ChildSAs(); len(c) > 0 {
			p.r.RekeyChild(p.now, c[0].InboundSPI)
		}
		p.collect()
		settle()
		p.i.RekeyIKE(p.now)
		p.collect()
		settle()
		if p.i.Closed() != p.r.Closed() {
			t.Fatalf("seed %d: one side closed: %v / %v", seed, kinds(p.evI), kinds(p.evR))
		}
		if p.i.Closed() {
			continue
		}
		si, sr := p.i.SPIs()
		ri, rr := p.r.SPIs()
		if si != ri || sr != rr {
			t.Fatalf("seed %d: IKE SPIs differ", seed)
		}
		ci, cr := p.i.ChildSAs(), p.r.ChildSAs()
		if len(ci) != len(cr) {
			t.Fatalf("seed %d: %d vs %d CHILD SAs (%v / %v)", seed, len(ci), len(cr), kinds(p.evI), kinds(p.evR))
		}
		for _, a := range ci {
			var peer *ChildSA
			for j := range cr {
				if cr[j].InboundSPI == a.OutboundSPI && cr[j].OutboundSPI == a.InboundSPI {
					peer = &cr[j]
				}
			}
			if peer == nil {
				t.Fatalf("seed %d: CHILD SA %x has no peer", seed, a.InboundSPI)
			}
			checkESP(t, &a, peer)
		}
	}
}
