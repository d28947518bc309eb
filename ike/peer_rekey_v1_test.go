package ike

import (
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
)

// TestPeerRekeyV1: a new Main Mode from the peer of an established
// session (strongSwan's IKEv1 rekey, a reauthentication) is answered by
// that session as its next ISAKMP SA: both sides report EventIKERekeyed,
// agree on the new cookies, keep their CHILD SA, and rekey it over the
// new ISAKMP SA. Either side may start it.
func TestPeerRekeyV1(t *testing.T) {
	for _, responderStarts := range []bool{false, true} {
		name := "initiator-rekeys"
		if responderStarts {
			name = "responder-rekeys"
		}
		t.Run(name, func(t *testing.T) {
			p := establishV1(t, pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256"),
				pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
			p.runFor(time.Second)
			old := p.i.Info()
			s := p.i
			if responderStarts {
				s = p.r
			}
			if err := s.RekeyIKE(p.now); err != nil {
				t.Fatal(err)
			}
			p.collect()
			p.runFor(5 * time.Second) // the old SA's Delete waits rekeyDeleteDelayV1
			if countEvents(p.evI, EventIKERekeyed) != 1 || countEvents(p.evR, EventIKERekeyed) != 1 {
				t.Fatalf("events: initiator %v, responder %v", kinds(p.evI), kinds(p.evR))
			}
			ni, nr := p.i.Info(), p.r.Info()
			if ni.SPIi == old.SPIi || ni.SPIi != nr.SPIi || ni.SPIr != nr.SPIr {
				t.Fatalf("cookies: old %x/%x, initiator %x/%x, responder %x/%x", old.SPIi, old.SPIr, ni.SPIi, ni.SPIr, nr.SPIi, nr.SPIr)
			}
			if len(p.i.ChildSAs()) != 1 || len(p.r.ChildSAs()) != 1 || countEvents(p.evI, EventChildDeleted)+countEvents(p.evR, EventChildDeleted) != 0 {
				t.Fatalf("CHILD SAs: %d and %d; events %v / %v", len(p.i.ChildSAs()), len(p.r.ChildSAs()), kinds(p.evI), kinds(p.evR))
			}
			p.runFor(5 * time.Minute) // past the retired SA's retransmission window
			if n := len(p.i.localSPIs()) + len(p.r.localSPIs()); n != 2 {
				t.Fatalf("old ISAKMP SAs kept: %d cookies", n)
			}
			if err := p.i.RekeyChild(p.now, p.i.ChildSAs()[0].InboundSPI); err != nil {
				t.Fatal(err)
			}
			p.collect()
			p.run()
			if countEvents(p.evI, EventChildRekeyed) != 1 || countEvents(p.evR, EventChildRekeyed) != 1 {
				t.Fatalf("CHILD SA rekey over the new ISAKMP SA: %v / %v", kinds(p.evI), kinds(p.evR))
			}
			a, b := p.i.ChildSAs()[0], p.r.ChildSAs()[0]
			checkESP(t, &a, &b)
		})
	}
}

// TestPeerRekeyOtherIdentityV1: a new Main Mode that authenticates
// another identity than the session's peer is not taken as a rekey: the
// new SA is dropped, the session keeps its ISAKMP and CHILD SAs.
func TestPeerRekeyOtherIdentityV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg.RemoteID = auth.Identity{} // any peer that knows a key
	store := auth.NewPSKStore(auth.PSKOptions{})
	for _, id := range []string{"initiator.example", "intruder.example"} {
		if err := store.Add(auth.FQDN(id), psk); err != nil {
			t.Fatal(err)
		}
	}
	rcfg.PeerAuth = PSKPeers(store)
	p := establishV1(t, icfg, rcfg)
	before := p.r.Info()
	other := *icfg
	other.LocalID = auth.FQDN("intruder.example")
	intruder, err := NewInitiatorV1(&other, addrI, addrR, p.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		for _, d := range intruder.Datagrams() {
			p.r.Receive(p.now, d)
		}
		for _, d := range p.r.Datagrams() {
			intruder.Receive(p.now, d)
		}
	}
	ev := p.r.Events()
	if countEvents(ev, EventIKERekeyed)+countEvents(ev, EventIKEDown)+countEvents(ev, EventChildDeleted) != 0 ||
		p.r.Info().SPIi != before.SPIi || p.r.Info().SPIr != before.SPIr || len(p.r.ChildSAs()) != 1 || !p.r.Established() {
		t.Fatalf("responder after the other identity's Main Mode: %v, %+v", kinds(ev), p.r.Info())
	}
}

// TestPeerRekeyAbandonedV1: a phase 1 rekey the peer starts and abandons
// after its first message is forgotten after the retransmission window,
// and does not block a rekey of our own.
func TestPeerRekeyAbandonedV1(t *testing.T) {
	p := establishV1(t, pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256"),
		pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	for _, d := range p.i.Datagrams() {
		p.r.Receive(p.now, d) // MM1 only; the answer is lost, and so is the peer
	}
	p.r.Datagrams()
	if p.r.next == nil {
		t.Fatal("the peer's rekey was not taken")
	}
	p.now = p.now.Add(p.r.retransmitSchedule())
	p.r.Tick(p.now)
	if p.r.next != nil || !p.r.Established() {
		t.Fatalf("abandoned rekey kept (established %v)", p.r.Established())
	}
	p.r.Datagrams()
	p.toR, p.toI = nil, nil
	// Our own rekey now starts.
	if err := p.r.RekeyIKE(p.now); err != nil || p.r.next == nil || !p.r.next.initiator {
		t.Fatalf("our rekey after the abandoned one: %v", err)
	}
}
