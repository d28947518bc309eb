package ike

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// hostTS is the traffic selector of one address, one protocol and one
// port: a triggering packet's end (RFC 7296 2.9).
func hostTS(a string, proto uint8, port uint16) *isakmp.TrafficSelector {
	t := SelectorFromPrefix(netip.PrefixFrom(netip.MustParseAddr(a), 32))
	t.IPProtocol, t.StartPort, t.EndPort = proto, port, port
	return &t
}

// TestGetConfigForRequestIKEAuth: the responder's hook sees the peer's
// identity at IKE_AUTH and picks the Config that authenticates it and
// serves the first CHILD SA, whose Tag and Version the CHILD SA carries
// on both sides; an unknown peer is refused with AUTHENTICATION_FAILED.
func TestGetConfigForRequestIKEAuth(t *testing.T) {
	const ikeP, espP = "aes256gcm16-prfsha256-x25519", "aes256gcm16"
	icfg := pskConfig(t, true, ikeP, espP)
	icfg.Tag = "initiator-rule"
	chosen := pskConfig(t, false, ikeP, espP)
	chosen.Tag = "rule-7"
	// The Config given to Accept has no PeerAuth of any use: it would
	// refuse the initiator if the hook did not replace it.
	base := pskConfigWith(t, "responder.example", "nobody.example", []byte("another pre-shared key of length"), ikeP, espP)
	base.LocalTS, base.RemoteTS = chosen.LocalTS, chosen.RemoteTS
	var reqs []ConfigRequest
	base.GetConfigForRequest = func(r *ConfigRequest) (*Config, error) {
		reqs = append(reqs, *r)
		switch {
		case r.PeerID.Type == 0:
			return nil, nil
		case !r.PeerID.Equal(auth.FQDN("initiator.example")):
			return nil, errors.New("unknown peer")
		}
		return chosen, nil
	}
	p := newPair(t, icfg, base)
	p.run()
	if !p.i.Established() || !p.r.Established() {
		t.Fatalf("not established: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if len(reqs) != 2 || reqs[0].PeerID.Type == 0 || reqs[0].Version != IKEv2 || reqs[0].Remote != addrI ||
		reqs[0].TSi != nil || reqs[1].TSi == nil || reqs[1].TSr == nil {
		t.Fatalf("hook calls %+v", reqs)
	}
	ci, cr := findEvent(p.evI, EventChildUp), findEvent(p.evR, EventChildUp)
	if ci == nil || cr == nil {
		t.Fatalf("no CHILD SA: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if ci.Child.Tag != "initiator-rule" || cr.Child.Tag != "rule-7" || ci.Child.Version != IKEv2 || cr.Child.Version != IKEv2 {
		t.Fatalf("tags %q %q versions %v %v", ci.Child.Tag, cr.Child.Tag, ci.Child.Version, cr.Child.Version)
	}

	// A peer the hook does not know.
	other := pskConfigWith(t, "stranger.example", "responder.example", psk, ikeP, espP)
	other.LocalTS, other.RemoteTS = icfg.LocalTS, icfg.RemoteTS
	p = newPair(t, other, base)
	p.run()
	if p.i.Established() || findEvent(p.evI, EventAuthFailed) == nil || findEvent(p.evR, EventAuthFailed) == nil {
		t.Fatalf("stranger: %v / %v", kinds(p.evI), kinds(p.evR))
	}
}

// TestGetConfigForRequestChild: the hook is asked again for each CHILD SA
// with its selectors: a refusal is TS_UNACCEPTABLE (the IKE SA stays up),
// and the chosen Config's proposals are the only ones accepted
// (NO_PROPOSAL_CHOSEN otherwise).
func TestGetConfigForRequestChild(t *testing.T) {
	const ikeP = "aes256gcm16-prfsha256-x25519"
	icfg := pskConfig(t, true, ikeP, "aes256gcm16")
	rcfg := pskConfig(t, false, ikeP, "aes256gcm16")
	web := pskConfig(t, false, ikeP, "aes256gcm16-x25519")
	web.Tag = "web"
	web.LocalTS = []isakmp.TrafficSelector{*hostTS("10.2.0.80", 6, 80)}
	web.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(netI)}
	rcfg.GetConfigForRequest = func(r *ConfigRequest) (*Config, error) {
		if r.TSr == nil {
			return nil, nil
		}
		if len(narrow(r.TSr, web.LocalTS)) > 0 {
			return web, nil
		}
		if r.TSr[0].Start == netR.Addr() {
			return nil, nil // the first CHILD SA: the Config given to Accept
		}
		return nil, errors.New("no rule")
	}
	p := newPair(t, icfg, rcfg)
	p.run()
	if countEvents(p.evI, EventChildUp) != 1 {
		t.Fatalf("first CHILD SA: %v", kinds(p.evI))
	}

	// A CHILD SA for the web rule, triggered by a packet to port 80: the
	// trigger's selectors go first, and the responder narrows to the rule.
	webI := pskConfig(t, true, ikeP, "aes256gcm16-x25519")
	webI.Tag = "web-i"
	webI.RemoteTS = []isakmp.TrafficSelector{*hostTS("10.2.0.80", 6, 80)}
	req := ChildRequest{Config: webI, TriggerLocal: hostTS("10.1.2.3", 6, 40000), TriggerRemote: hostTS("10.2.0.80", 6, 80)}
	if err := p.i.CreateChildRequest(p.now, req); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	evI, evR := p.evI[len(p.evI)-1], p.evR[len(p.evR)-1]
	if evI.Kind != EventChildUp || evR.Kind != EventChildUp {
		t.Fatalf("web CHILD SA: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if evI.Child.Tag != "web-i" || evR.Child.Tag != "web" || evR.Child.PFS != isakmp.GroupCurve25519 {
		t.Fatalf("tags %q %q", evI.Child.Tag, evR.Child.Tag)
	}
	if got := evR.Child.RemoteTS[0]; !sameSelector(got, *hostTS("10.1.2.3", 6, 40000)) {
		t.Fatalf("responder's first remote selector %+v, want the trigger's", got)
	}
	checkESP(t, evI.Child, evR.Child)
	// Its rekey keeps its Config: PFS with x25519 as the web rule says.
	if err := p.i.RekeyChild(p.now, evI.Child.InboundSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	if r := findEvent(p.evR, EventChildRekeyed); r == nil || r.Child.Tag != "web" || r.Child.PFS != isakmp.GroupCurve25519 {
		t.Fatalf("rekey: %v", kinds(p.evR))
	}

	// Selectors no rule covers.
	none := pskConfig(t, true, ikeP, "aes256gcm16")
	none.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(netip.MustParsePrefix("10.9.0.0/16"))}
	if err := p.i.CreateChildRequest(p.now, ChildRequest{Config: none}); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	last := p.evI[len(p.evI)-1]
	if last.Kind != EventChildFailed || !errors.Is(last.Err, NotifyError(isakmp.NotifyTSUnacceptable)) || !p.i.Established() {
		t.Fatalf("uncovered selectors: %v %v", kinds(p.evI), last.Err)
	}

	// The web rule's selectors with a proposal the rule does not allow.
	weak := pskConfig(t, true, ikeP, "aes128gcm16")
	weak.RemoteTS = webI.RemoteTS
	if err := p.i.CreateChildRequest(p.now, ChildRequest{Config: weak}); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	last = p.evI[len(p.evI)-1]
	if last.Kind != EventChildFailed || !errors.Is(last.Err, NotifyError(isakmp.NotifyNoProposalChosen)) {
		t.Fatalf("proposal outside the rule: %v %v", kinds(p.evI), last.Err)
	}
}

// TestChildRequestInitiator: an initiator's first CHILD SA follows the
// ChildRequest given to newInitiator (its Config and trigger).
func TestChildRequestInitiator(t *testing.T) {
	const ikeP, espP = "aes256gcm16-prfsha256-x25519", "aes256gcm16"
	icfg := pskConfig(t, true, ikeP, espP)
	rule := pskConfig(t, true, ikeP, espP)
	rule.Tag = "rule-1"
	s, err := newInitiator(icfg, addrI, addrR, t0, &ChildRequest{Config: rule,
		TriggerLocal: hostTS("10.1.0.9", 17, 53), TriggerRemote: hostTS("10.2.0.9", 17, 53)})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{t: t, now: t0, rcfg: pskConfig(t, false, ikeP, espP), i: s}
	p.collect()
	p.run()
	ev := findEvent(p.evI, EventChildUp)
	if ev == nil || ev.Child.Tag != "rule-1" || !sameSelector(ev.Child.LocalTS[0], *hostTS("10.1.0.9", 17, 53)) {
		t.Fatalf("events %v", kinds(p.evI))
	}
}
