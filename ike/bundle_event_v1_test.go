package ike

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// TestBundleEventV1: the events of an AH+ESP bundle link its parts
// (ChildSA.Bundle), ESP part first, on both sides; DeleteChild with the
// AH part's SPI deletes the whole bundle on both sides; the initiator's
// commit bit (Config.QuickModeCommit) holds its events until CONNECTED.
func TestBundleEventV1(t *testing.T) {
	mk := func(initiator bool) *Config {
		c := pskConfigV1(t, initiator, "aes128-sha256-modp2048", "aes128-sha256")
		c.ChildProposals = append(c.ChildProposals, mustProposals(t, "sha256", isakmp.ProtocolAH)...)
		c.QuickModeCommit = initiator
		return c
	}
	p := establishV1(t, mk(true), mk(false))
	var ahSPI uint32
	for side, evs := range [][]Event{p.evI, p.evR} {
		var ups []*ChildSA
		for _, ev := range evs {
			if ev.Kind == EventChildUp {
				ups = append(ups, ev.Child)
			}
		}
		if len(ups) != 2 || ups[0].Protocol != isakmp.ProtocolESP || ups[1].Protocol != isakmp.ProtocolAH {
			t.Fatalf("side %d: CHILD SAs %+v", side, ups)
		}
		e, a := ups[0], ups[1]
		if e.Bundle == nil || a.Bundle == nil || e.Bundle.InboundSPI != a.InboundSPI || a.Bundle.InboundSPI != e.InboundSPI ||
			e.Bundle.Bundle != nil || string(e.Bundle.InboundIntegKey) != string(a.InboundIntegKey) {
			t.Fatalf("side %d: bundle parts not linked: %+v / %+v", side, e.Bundle, a.Bundle)
		}
		if side == 0 {
			ahSPI = a.InboundSPI
		}
	}
	if len(p.i.children) != 2 {
		t.Fatalf("%d CHILD SAs", len(p.i.children))
	}
	p.evI, p.evR = nil, nil
	if err := p.i.DeleteChild(p.now, ahSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	if countEvents(p.evI, EventChildDeleted) != 2 || countEvents(p.evR, EventChildDeleted) != 2 ||
		len(p.i.children) != 0 || len(p.r.children) != 0 {
		t.Fatalf("delete: %v / %v, %d / %d left", kinds(p.evI), kinds(p.evR), len(p.i.children), len(p.r.children))
	}
}

// TestWrongPSKMessageV1: when the pre-shared keys differ, the responder's
// MM5 decrypts to garbage (IKEv1 encryption carries no integrity check);
// the drop it logs says so, instead of only a payload length error.
func TestWrongPSKMessageV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	psk, err := auth.NewPSK([]byte("another pre-shared key, not the initiator's"), auth.PSKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rcfg.Auth = psk
	rcfg.PeerAuth = func(auth.Identity, [][]byte, time.Time) (auth.PeerAuthenticator, error) { return psk, nil }
	rcfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newPairV1(t, icfg, rcfg)
	p.run()
	if p.i.Established() || p.r != nil && p.r.Established() {
		t.Fatal("established with different pre-shared keys")
	}
	if !strings.Contains(logs.String(), "do the pre-shared keys differ?") {
		t.Fatalf("responder's log: %s", logs.String())
	}
}
