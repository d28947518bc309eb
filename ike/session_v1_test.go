package ike

import (
	"errors"
	"testing"

	"github.com/ipsecgo/ipsec/isakmp"
)

// TestMainModePSKV1 runs Main Mode with a pre-shared key and Quick Mode
// between two in-memory sessions for several suites, and checks that the
// CHILD SAs carry ESP both ways.
func TestMainModePSKV1(t *testing.T) {
	for _, c := range []struct{ ike, esp string }{
		{"aes128-sha1-modp2048", "aes128-sha1"},
		{"aes256-sha256-modp3072", "aes256-sha256"},
		{"aes256-sha384-ecp384", "aes256gcm16"},
		{"aes128-sha512-ecp256", "aes128-sha512"},
		{"aes256-sha256-x25519", "aes128gcm16-x25519"},
		{"aes128-sha256-modp4096", "aes256-sha384-modp2048"},
	} {
		t.Run(c.ike+"/"+c.esp, func(t *testing.T) {
			icfg, rcfg := pskConfigV1(t, true, c.ike, c.esp), pskConfigV1(t, false, c.ike, c.esp)
			icfg.Tag, rcfg.Tag = "rule-i", "rule-r"
			p := establishV1(t, icfg, rcfg)
			ci, cr := findEvent(p.evI, EventChildUp), findEvent(p.evR, EventChildUp)
			if ci == nil || cr == nil {
				t.Fatalf("no CHILD SA: %v / %v", kinds(p.evI), kinds(p.evR))
			}
			if ci.Child.Version != IKEv1 || cr.Child.Version != IKEv1 || ci.Child.Tag != "rule-i" || cr.Child.Tag != "rule-r" {
				t.Fatalf("version/tag %v %q / %v %q", ci.Child.Version, ci.Child.Tag, cr.Child.Version, cr.Child.Tag)
			}
			checkESP(t, ci.Child, cr.Child)
			up := findEvent(p.evI, EventIKEUp)
			if up.IKE.SPIi != p.r.Info().SPIi || up.IKE.SPIr != p.r.Info().SPIr || !up.IKE.Initiator {
				t.Fatalf("IKE info %+v vs %+v", up.IKE, p.r.Info())
			}
			if p.i.Stats().Retransmits != 0 || p.r.Stats().Dropped != 0 || p.i.Stats().Dropped != 0 {
				t.Fatalf("stats %+v / %+v", p.i.Stats(), p.r.Stats())
			}
		})
	}
}

// TestWrongPSKV1: a responder with another secret cannot decrypt MM5 in a
// way that authenticates: both sides end without a CHILD SA.
func TestWrongPSKV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	wrong, _ := newTestPSK([]byte("another secret of decent length!"))
	rcfg.Auth = wrong
	p := newPairV1(t, icfg, rcfg)
	p.runFor(5 * 60 * 1e9)
	if p.r.Established() || p.i.Established() || findEvent(p.evR, EventChildUp) != nil {
		t.Fatalf("established with a wrong key: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if !p.i.Closed() || !p.r.Closed() {
		t.Fatalf("sessions still open: %v / %v", kinds(p.evI), kinds(p.evR))
	}
}

// TestNoProposalV1: disjoint phase 1 proposals: the responder answers
// NO-PROPOSAL-CHOSEN in the clear and the initiator gives up at once.
func TestNoProposalV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes256-sha512-ecp384", "aes128-sha256")
	p := newPairV1(t, icfg, rcfg)
	p.run()
	if !p.i.Closed() {
		t.Fatalf("initiator open: %v", kinds(p.evI))
	}
	ev := findEvent(p.evI, EventIKEDown)
	if ev == nil || !errors.Is(ev.Err, ErrNoProposalChosen) || !errors.Is(ev.Err, NotifyError(isakmp.NotifyNoProposalChosen)) {
		t.Fatalf("events %v (%v)", kinds(p.evI), ev)
	}
}
