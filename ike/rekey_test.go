package ike

import (
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// TestRekeyChildPFS rekeys the CHILD SA from each side with a new key
// exchange (RFC 7296 1.3.3, 2.17 with g^ir), checks that the new SAs carry
// ESP both ways and differ from the old ones, and that the old SAs are
// deleted on both sides.
func TestRekeyChildPFS(t *testing.T) {
	for _, fromInitiator := range []bool{true, false} {
		p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16-modp2048-ecp256")
		a, b := p.i, p.r
		evA, evB := &p.evI, &p.evR
		if !fromInitiator {
			a, b = b, a
			evA, evB = evB, evA
		}
		old := a.ChildSAs()[0]
		*evA, *evB = nil, nil
		if err := a.RekeyChild(p.now, old.InboundSPI); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		ra, rb := findEvent(*evA, EventChildRekeyed), findEvent(*evB, EventChildRekeyed)
		if ra == nil || rb == nil {
			t.Fatalf("rekey events %v / %v", kinds(*evA), kinds(*evB))
		}
		if ra.Old.InboundSPI != old.InboundSPI || ra.Child.InboundSPI == old.InboundSPI {
			t.Fatalf("wrong SPIs: old %x, event old %x new %x", old.InboundSPI, ra.Old.InboundSPI, ra.Child.InboundSPI)
		}
		if ra.Child.PFS != isakmp.GroupMODP2048 || rb.Child.PFS != isakmp.GroupMODP2048 {
			t.Fatalf("PFS group %v / %v, want MODP_2048", ra.Child.PFS, rb.Child.PFS)
		}
		checkESP(t, ra.Child, rb.Child)
		if string(ra.Child.OutboundEncKey) == string(old.OutboundEncKey) {
			t.Fatal("rekeyed SA has the old key")
		}
		if countEvents(*evA, EventChildDeleted) != 1 || countEvents(*evB, EventChildDeleted) != 1 {
			t.Fatalf("old SA not deleted: %v / %v", kinds(*evA), kinds(*evB))
		}
		if len(a.ChildSAs()) != 1 || len(b.ChildSAs()) != 1 {
			t.Fatalf("CHILD SAs: %d / %d", len(a.ChildSAs()), len(b.ChildSAs()))
		}
	}
}

// TestRekeyChildInvalidKE: the rekey initiator's first KE is for a group
// the responder does not take; it retries with the group named in
// INVALID_KE_PAYLOAD.
func TestRekeyChildInvalidKE(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519-ecp256")
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16-ecp256")
	p := newPair(t, icfg, rcfg)
	p.run()
	old := p.i.ChildSAs()[0]
	if err := p.i.RekeyChild(p.now, old.InboundSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	ev := findEvent(p.evI, EventChildRekeyed)
	if ev == nil || ev.Child.PFS != isakmp.GroupECP256 {
		t.Fatalf("events %v", kinds(p.evI))
	}
}

// TestRekeyChildOnTimer: CHILD SAs are rekeyed before their soft lifetime,
// without intervention, and keep working.
func TestRekeyChildOnTimer(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
	icfg.ChildRekey, rcfg.ChildRekey = 10*time.Minute, 20*time.Minute
	p := newPair(t, icfg, rcfg)
	p.run()
	for p.now.Sub(t0) < 35*time.Minute && p.advance(time.Hour) {
		p.run()
	}
	if n := countEvents(p.evI, EventChildRekeyed); n < 3 {
		t.Fatalf("%d rekeys in 35 minutes with a 10-minute rekey time: %v", n, kinds(p.evI))
	}
	ci, cr := p.i.ChildSAs(), p.r.ChildSAs()
	if len(ci) != 1 || len(cr) != 1 {
		t.Fatalf("CHILD SAs %d / %d", len(ci), len(cr))
	}
	if ci[0].SoftLifetime > 10*time.Minute || ci[0].SoftLifetime < 9*time.Minute || ci[0].HardLifetime != 11*time.Minute {
		t.Fatalf("lifetimes %v / %v", ci[0].SoftLifetime, ci[0].HardLifetime)
	}
	checkESP(t, &ci[0], &cr[0])
}

// TestRekeyIKE rekeys the IKE SA from each side (RFC 7296 1.3.2, 2.18):
// new SPIs, the old IKE SA deleted, the CHILD SA untouched, and the new
// IKE SA able to rekey the CHILD SA.
func TestRekeyIKE(t *testing.T) {
	for _, fromInitiator := range []bool{true, false} {
		p := establish(t, "aes128-sha256-modp2048", "aes128-sha256")
		a, b := p.i, p.r
		evA, evB := &p.evI, &p.evR
		if !fromInitiator {
			a, b = b, a
			evA, evB = evB, evA
		}
		oldI, oldR := a.SPIs()
		if err := a.RekeyIKE(p.now); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		newI, newR := a.SPIs()
		bi, br := b.SPIs()
		if newI == oldI || newR == oldR || bi != newI || br != newR {
			t.Fatalf("SPIs %x %x -> %x %x, peer %x %x", oldI, oldR, newI, newR, bi, br)
		}
		if findEvent(*evA, EventIKERekeyed) == nil || findEvent(*evB, EventIKERekeyed) == nil {
			t.Fatalf("events %v / %v", kinds(*evA), kinds(*evB))
		}
		if hasOld(a) || hasOld(b) {
			t.Fatal("old IKE SA not deleted")
		}
		if a.sa.initiator != true || b.sa.initiator != false {
			t.Fatal("the rekey initiator must be the new IKE SA's initiator")
		}
		if findEvent(*evA, EventChildDeleted) != nil || findEvent(*evB, EventIKEDown) != nil {
			t.Fatal("rekeying the IKE SA removed SAs")
		}
		// The new IKE SA works: rekey the CHILD SA over it, with traffic.
		ch := a.ChildSAs()[0]
		if err := a.RekeyChild(p.now, ch.InboundSPI); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		ra, rb := findEvent(*evA, EventChildRekeyed), findEvent(*evB, EventChildRekeyed)
		if ra == nil || rb == nil {
			t.Fatalf("no CHILD rekey over the new IKE SA: %v / %v", kinds(*evA), kinds(*evB))
		}
		checkESP(t, ra.Child, rb.Child)
		if st := a.Stats(); st.Dropped+st.IntegrityFailures != 0 {
			t.Fatalf("stats %+v", st)
		}
		if st := b.Stats(); st.Dropped+st.IntegrityFailures != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// TestSimultaneousChildRekey: both sides rekey the same CHILD SA at once
// (RFC 7296 2.8.1). Exactly one new pair survives, on both sides, and it
// works.
func TestSimultaneousChildRekey(t *testing.T) {
	p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
	ci := p.i.ChildSAs()[0]
	cr := p.r.ChildSAs()[0]
	if err := p.i.RekeyChild(p.now, ci.InboundSPI); err != nil {
		t.Fatal(err)
	}
	if err := p.r.RekeyChild(p.now, cr.InboundSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	si, sr := p.i.ChildSAs(), p.r.ChildSAs()
	if len(si) != 1 || len(sr) != 1 {
		t.Fatalf("CHILD SAs after the collision: %d / %d (events %v / %v)", len(si), len(sr), kinds(p.evI), kinds(p.evR))
	}
	if si[0].InboundSPI == ci.InboundSPI || si[0].OutboundSPI != sr[0].InboundSPI {
		t.Fatalf("survivors do not pair: %x/%x vs %x/%x", si[0].InboundSPI, si[0].OutboundSPI, sr[0].InboundSPI, sr[0].OutboundSPI)
	}
	checkESP(t, &si[0], &sr[0])
}

// TestSimultaneousIKERekey: both sides rekey the IKE SA at once. Each
// answers the other's request as usual; when both exchanges are done, the
// new SA with the lowest of the four nonces is deleted by its creator and
// the other survives on both sides (RFC 7296 2.8.2), in one round.
func TestSimultaneousIKERekey(t *testing.T) {
	for round := 0; round < 20; round++ {
		simultaneousIKERekey(t)
	}
}

func simultaneousIKERekey(t *testing.T) {
	p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	oldI, oldR := p.i.SPIs()
	p.i.RekeyIKE(p.now)
	p.r.RekeyIKE(p.now)
	p.collect()
	p.run()
	if countEvents(p.evI, EventIKERekeyed) != 1 || countEvents(p.evR, EventIKERekeyed) != 1 {
		t.Fatalf("events %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if hasOld(p.i) || hasOld(p.r) {
		t.Fatal("the old or the redundant IKE SA was not deleted")
	}
	ni, nr := p.i.SPIs()
	ri, rr := p.r.SPIs()
	if ni == oldI || nr == oldR || ni != ri || nr != rr {
		t.Fatalf("SPIs after the collision: %x %x vs %x %x (events %v / %v)", ni, nr, ri, rr, kinds(p.evI), kinds(p.evR))
	}
	if !p.i.Established() || !p.r.Established() || len(p.i.ChildSAs()) != 1 {
		t.Fatal("SAs lost in the collision")
	}
}

// TestChildHardLifetime: when rekeying keeps failing (the responder refuses
// the PFS group), the CHILD SA is deleted at its hard lifetime.
func TestChildHardLifetime(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16-modp3072")
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16-ecp384")
	icfg.ChildRekey, icfg.ChildLifetime = 10*time.Minute, 12*time.Minute
	rcfg.ChildRekey = time.Hour
	p := newPair(t, icfg, rcfg)
	p.run()
	if len(p.i.ChildSAs()) != 1 {
		t.Fatalf("no CHILD SA: %v", kinds(p.evI))
	}
	for len(p.i.ChildSAs()) > 0 && p.advance(time.Hour) {
		p.run()
	}
	if d := p.now.Sub(t0); d < 12*time.Minute || d > 12*time.Minute+time.Minute {
		t.Fatalf("CHILD SA gone after %v, want its 12-minute hard lifetime", d)
	}
	if countEvents(p.evI, EventChildFailed) < 2 || len(p.r.ChildSAs()) != 0 || !p.i.Established() {
		t.Fatalf("events %v / %v", kinds(p.evI), kinds(p.evR))
	}
}

// TestInitRetransmission: a lost IKE_SA_INIT response makes the initiator
// retransmit its request, which the responder answers from its cache
// without creating a second IKE SA.
func TestInitRetransmission(t *testing.T) {
	p := newPair(t, pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16"),
		pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16"))
	dropped := false
	p.filter = func(fromI bool, b []byte) bool {
		var h isakmp.Header
		if !fromI && !dropped && h.Parse(b) == nil && h.Exchange == isakmp.ExchangeIKESAInit {
			dropped = true
			return false
		}
		return true
	}
	p.run()
	r := p.r
	for !p.i.Established() && p.advance(time.Minute) {
		p.run()
	}
	if !p.i.Established() || p.r != r || r.Stats().CachedResponses != 1 {
		t.Fatalf("established %v, same responder %v, stats %+v", p.i.Established(), p.r == r, r.Stats())
	}
}

// TestRekeyIKELostDelete: the Delete of the old IKE SA never arrives; both
// sides forget the old SA anyway once its retransmission schedule is over,
// and the new one stays up.
func TestRekeyIKELostDelete(t *testing.T) {
	p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	oldI, _ := p.i.SPIs()
	p.filter = func(fromI bool, b []byte) bool {
		var h isakmp.Header
		return !(fromI && h.Parse(b) == nil && h.Exchange == isakmp.ExchangeInformational && h.InitiatorSPI == oldI)
	}
	p.i.RekeyIKE(p.now)
	p.collect()
	p.run()
	if !hasOld(p.i) || !hasOld(p.r) {
		t.Fatal("old IKE SA already gone")
	}
	for (hasOld(p.i) || hasOld(p.r)) && p.advance(10*time.Minute) {
		p.run()
	}
	if hasOld(p.i) || hasOld(p.r) || !p.i.Established() || !p.r.Established() {
		t.Fatalf("old %v/%v, established %v/%v", hasOld(p.i), hasOld(p.r), p.i.Established(), p.r.Established())
	}
	if findEvent(p.evI, EventPeerDead) != nil {
		t.Fatal("a lost Delete of the old SA killed the new one")
	}
}
