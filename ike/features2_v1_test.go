package ike

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// flipCommit sets the commit bit (RFC 2408 3.1) on a message: the bit is
// in the header, which neither the CBC layer nor HASH(1) covers.
func flipCommit(b []byte) []byte {
	b[19] |= byte(isakmp.FlagCommit)
	return b
}

// TestCommitBitV1: an initiator that sets the commit bit on QM1 makes the
// responder set it on QM2 and confirm with CONNECTED after QM3; the
// initiator reports the CHILD SA only then, so both end up with it.
func TestCommitBitV1(t *testing.T) {
	p := newPairV1(t, pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256"),
		pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
	sawCommit, dropConnected := false, true
	p.filter = func(fromI bool, b []byte) bool {
		if len(b) < 28 || isakmp.ExchangeType(b[18]) == isakmp.ExchangeV1MainMode {
			return true
		}
		if fromI && isakmp.ExchangeType(b[18]) == isakmp.ExchangeV1QuickMode && p.r != nil && len(p.r.children) == 0 && len(p.r.exchs) == 0 {
			flipCommit(b)
		}
		if !fromI && isakmp.ExchangeType(b[18]) == isakmp.ExchangeV1QuickMode && b[19]&byte(isakmp.FlagCommit) != 0 {
			sawCommit = true
		}
		if !fromI && isakmp.ExchangeType(b[18]) == isakmp.ExchangeV1Informational && dropConnected {
			// Hold the CONNECTED back once: the initiator must wait.
			dropConnected = false
			if len(p.i.children) != 0 || findEvent(p.evI, EventChildUp) != nil {
				t.Error("initiator reported the CHILD SA before CONNECTED")
			}
			return false
		}
		return true
	}
	p.run()
	if !sawCommit || len(p.r.children) != 1 || len(p.i.children) != 0 {
		t.Fatalf("commit %v, children %d/%d", sawCommit, len(p.r.children), len(p.i.children))
	}
	// The CONNECTED was lost: the initiator resends QM3 and the responder
	// answers it with CONNECTED from its cache.
	p.runFor(time.Minute)
	if len(p.i.children) != 1 || findEvent(p.evI, EventChildUp) == nil {
		t.Fatalf("initiator: %v", kinds(p.evI))
	}
	checkESP(t, &p.i.children[0].sa, &p.r.children[0].sa)
}

// TestResponderLifetimeV1: a responder with a shorter CHILD SA lifetime
// than offered answers RESPONDER-LIFETIME (RFC 2407 4.6.3.1) and both use
// its lifetimes, in seconds and kilobytes.
func TestResponderLifetimeV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	icfg.ChildRekey, icfg.ChildLifetime, icfg.ChildLifetimeKilobytes = 2*time.Hour, 3*time.Hour, 1000000
	rcfg.ChildRekey, rcfg.ChildLifetime, rcfg.ChildLifetimeKilobytes = 30*time.Minute, time.Hour, 50000
	p := establishV1(t, icfg, rcfg)
	ci, cr := findEvent(p.evI, EventChildUp).Child, findEvent(p.evR, EventChildUp).Child
	if ci.HardLifetime != time.Hour || cr.HardLifetime != time.Hour || ci.LifetimeKilobytes != 50000 || cr.LifetimeKilobytes != 50000 {
		t.Fatalf("lifetimes %v/%d and %v/%d", ci.HardLifetime, ci.LifetimeKilobytes, cr.HardLifetime, cr.LifetimeKilobytes)
	}
	if ci.SoftLifetime >= time.Hour || ci.SoftLifetime <= 0 {
		t.Fatalf("soft lifetime %v", ci.SoftLifetime)
	}
}

// TestNATTraversalV1: NAT-D (RFC 3947 3.2) finds no NAT on a direct path
// and a NAT when the responder sees another source; then both sides ask
// for UDP port 4500 and negotiate the UDP-encapsulated modes (3, and 4
// with NAT-OA for transport).
func TestNATTraversalV1(t *testing.T) {
	p := establishV1(t, pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256"),
		pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
	if p.i.UDPEncap() || p.r.UDPEncap() || p.i.natt != nattRFC {
		t.Fatalf("NAT detected on a direct path (natt %v)", p.i.natt)
	}
	for _, mode := range []Mode{Tunnel, Transport} {
		icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
		rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
		icfg.Mode, rcfg.Mode = mode, mode
		// The initiator at 10.0.0.1:500 behind a NAT that maps it to
		// 192.0.2.1:4501 (the harness's addrI is what the responder sees).
		i, err := NewInitiatorV1(icfg, netip.MustParseAddrPort("10.0.0.1:500"), addrR, t0, nil)
		if err != nil {
			t.Fatal(err)
		}
		var r *SessionV1
		var natoa int
		for round := 0; round < 20; round++ {
			for _, d := range i.Datagrams() {
				if r == nil {
					if r, err = AcceptV1(rcfg, addrR, netip.MustParseAddrPort("192.0.2.1:4501"), t0, d); err != nil {
						t.Fatal(err)
					}
					continue
				}
				r.Receive(t0, d)
			}
			if r != nil {
				for _, d := range r.Datagrams() {
					i.Receive(t0, d)
				}
			}
			if i.UDPEncap() {
				// The endpoint floats to port 4500 (RFC 3947 4).
				i.SetPath(netip.MustParseAddrPort("10.0.0.1:4500"), netip.MustParseAddrPort("192.0.2.2:4500"))
			}
			if r != nil && r.UDPEncap() {
				r.SetPath(netip.MustParseAddrPort("192.0.2.2:4500"), netip.MustParseAddrPort("192.0.2.1:4501"))
			}
			for _, ex := range r.exchs {
				if ex.qm != nil && len(r.natOA(ex.qm.mode)) == 2 {
					natoa++
				}
			}
		}
		if !i.localNAT || i.remoteNAT || r.localNAT || !r.remoteNAT {
			t.Fatalf("NAT detection: initiator %v/%v responder %v/%v", i.localNAT, i.remoteNAT, r.localNAT, r.remoteNAT)
		}
		if len(i.children) != 1 || len(r.children) != 1 {
			t.Fatalf("%v: no CHILD SA", mode)
		}
		ci := i.children[0].sa
		if ci.Mode != mode || ci.EncapLocalPort != 4500 || ci.EncapRemotePort != 4500 || r.children[0].sa.EncapRemotePort != 4501 {
			t.Fatalf("%v: %+v", mode, ci)
		}
		if mode == Transport && natoa == 0 {
			t.Fatal("no NAT-OA for UDP-encapsulated transport mode")
		}
	}
}

// TestInitialContactV1: INITIAL-CONTACT in MM5 reaches the responder.
func TestInitialContactV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	icfg.InitialContact = true
	p := establishV1(t, icfg, pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
	if !p.r.InitialContact() || p.i.InitialContact() {
		t.Fatal("INITIAL-CONTACT not reported")
	}
}

// TestGetConfigForRequestV1: the responder's hook is asked at MM1 (by
// address), at MM5 (with the peer's identity) and per Quick Mode (with
// the proposed identities); its Config's Tag reaches the CHILD SA and an
// error refuses the Quick Mode with INVALID-ID-INFORMATION.
func TestGetConfigForRequestV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	base := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	tagged := *base
	tagged.Tag = "rule-7"
	var calls []ConfigRequest
	refuse := false
	rcfg := *base
	rcfg.GetConfigForRequest = func(r *ConfigRequest) (*Config, error) {
		calls = append(calls, *r)
		if r.TSi != nil {
			if refuse {
				return nil, errors.New("not for this flow")
			}
			return &tagged, nil
		}
		return nil, nil
	}
	p := establishV1(t, icfg, &rcfg)
	if len(calls) != 3 || calls[0].Version != IKEv1 || calls[0].PeerID.Type != 0 || !calls[1].PeerID.Equal(icfg.LocalID) ||
		len(calls[2].TSi) != 1 || calls[2].TSi[0].Start != netI.Addr() {
		t.Fatalf("calls %+v", calls)
	}
	if c := findEvent(p.evR, EventChildUp); c == nil || c.Child.Tag != "rule-7" {
		t.Fatal("Tag not carried")
	}
	refuse = true
	if err := p.i.CreateChildRequest(p.now, ChildRequest{}); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	ev := lastEvent(p.evI, EventChildFailed)
	if ev == nil || !errors.Is(ev.Err, ErrChildSA) || !errors.Is(ev.Err, NotifyError(isakmp.NotifyType(isakmp.V1NotifyInvalidIDInformation))) {
		t.Fatalf("refusal: %v", kinds(p.evI))
	}
}

// TestNATTDraftV1: with a peer that announces only
// draft-ietf-ipsec-nat-t-ike-02 (Windows XP and Server 2003), NAT-D uses
// the draft payload type 130 and UDP encapsulation the draft modes 61443
// and 61444.
func TestNATTDraftV1(t *testing.T) {
	for _, mode := range []Mode{Tunnel, Transport} {
		icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
		rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
		icfg.ForceUDPEncap, icfg.Mode, rcfg.Mode = true, mode, mode
		p := newPairV1(t, icfg, rcfg)
		draftNATD := false
		p.rewrite = func(_ bool, b []byte) []byte {
			m, err := isakmp.Parse(b)
			if err != nil || m.Ciphertext != nil {
				return b
			}
			var keep []isakmp.Payload
			for _, pl := range m.Payloads {
				if v, ok := pl.(*isakmp.V1VendorID); ok && string(v.Data) == string(vidRFC3947) {
					continue
				}
				if pl.Type() == isakmp.PayloadV1NATDDraft {
					draftNATD = true
				}
				keep = append(keep, pl)
			}
			m.Payloads = keep
			out, err := m.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		p.run()
		if p.r == nil || len(p.i.children) != 1 || len(p.r.children) != 1 {
			t.Fatalf("%v: not established: %v / %v", mode, kinds(p.evI), kindsOr(p.r, p.evR))
		}
		if p.i.natt != nattDraft || !draftNATD || !p.i.UDPEncap() || !p.r.UDPEncap() {
			t.Fatalf("%v: natt %v, draft NAT-D %v", mode, p.i.natt, draftNATD)
		}
		want := map[Mode]isakmp.V1EncapMode{Tunnel: isakmp.V1EncapUDPTunnelDraft, Transport: isakmp.V1EncapUDPTransportDraft}[mode]
		for _, ex := range p.i.exchs {
			if ex.qm != nil && ex.qm.x.encap != want {
				t.Fatalf("%v: encapsulation mode %v", mode, ex.qm.x.encap)
			}
		}
		checkESP(t, &p.i.children[0].sa, &p.r.children[0].sa)
	}
}

// TestAHV1: Quick Mode negotiates AH (RFC 2407 4.4.3), whose CHILD SA
// carries integrity keys only.
func TestAHV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	icfg.ChildProposals = mustProposals(t, "sha256,sha1", isakmp.ProtocolAH)
	rcfg.ChildProposals = mustProposals(t, "sha1", isakmp.ProtocolAH)
	p := establishV1(t, icfg, rcfg)
	ci, cr := findEvent(p.evI, EventChildUp), findEvent(p.evR, EventChildUp)
	if ci == nil || cr == nil || ci.Child.Protocol != isakmp.ProtocolAH || ci.Child.Integ != isakmp.IntegHMACSHA1_96 ||
		len(ci.Child.InboundEncKey) != 0 || len(ci.Child.OutboundIntegKey) != 20 ||
		string(ci.Child.OutboundIntegKey) != string(cr.Child.InboundIntegKey) {
		t.Fatalf("AH CHILD SA: %+v", ci)
	}
}

// TestBundleV1: a responder with AH and ESP proposals accepts an AH+ESP
// bundle (two proposals with one number, RFC 2408 4.2, as Windows offers
// them): one reply proposal per protocol with its own SPI, and two CHILD
// SAs keyed with their own SPIs (RFC 2409 5.5).
func TestBundleV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha1")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha1")
	rcfg.ChildProposals = append(rcfg.ChildProposals, mustProposals(t, "sha1", isakmp.ProtocolAH)...)
	p := establishV1(t, icfg, rcfg)
	r := p.r
	esp, err := v1Phase2Offer(icfg, 0x1000, 0, Tunnel, false, false, isakmp.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	ahCfg := *icfg
	ahCfg.ChildProposals = mustProposals(t, "sha1", isakmp.ProtocolAH)
	ah, err := v1Phase2Offer(&ahCfg, 0x2000, 0, Tunnel, false, false, isakmp.GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	sa := &isakmp.V1SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly,
		Proposals: []isakmp.V1Proposal{ah.Proposals[0], esp.Proposals[0]}}
	ni := make([]byte, 32)
	ps := []isakmp.Payload{sa, &isakmp.V1Nonce{Data: ni},
		idFromSelectorV1(icfg.LocalTS[0]), idFromSelectorV1(icfg.RemoteTS[0])}
	q, reply, refusal := r.decideQuickMode(p.now, r.sa, 77, ps)
	if refusal != 0 || q.ah == nil {
		t.Fatalf("bundle refused: %v", refusal)
	}
	rsa := reply[0].(*isakmp.V1SA)
	if len(rsa.Proposals) != 2 || rsa.Proposals[0].Protocol != isakmp.ProtocolAH || rsa.Proposals[1].Protocol != isakmp.ProtocolESP ||
		rsa.Proposals[0].Number != rsa.Proposals[1].Number || string(rsa.Proposals[0].SPI) == string(rsa.Proposals[1].SPI) {
		t.Fatalf("reply %+v", rsa.Proposals)
	}
	h, d := r.sa.x.hash, r.sa.keys.d
	if got := q.ah.ch.sa.OutboundIntegKey; string(got) != string(v1Keymat(h, d, nil, isakmp.ProtocolAH, 0x2000, ni, q.nr, 20)) {
		t.Fatal("AH keys not keyed with the AH SPI")
	}
	if got := q.ch.sa.OutboundEncKey; string(got) != string(v1Keymat(h, d, nil, isakmp.ProtocolESP, 0x1000, ni, q.nr, 16+20)[:16]) {
		t.Fatal("ESP keys not keyed with the ESP SPI")
	}
	r.installChildV1(p.now, q, q.ch)
	r.installChildV1(p.now, q.ah, q.ah.ch)
	if len(r.children) != 3 {
		t.Fatalf("%d CHILD SAs", len(r.children))
	}
	// A bundle whose AH part is not acceptable is refused as a whole.
	rcfg2 := *rcfg
	rcfg2.ChildProposals = mustProposals(t, "aes128-sha1", isakmp.ProtocolESP)
	r.cfg = &rcfg2
	if _, _, refusal := r.decideQuickMode(p.now, r.sa, 78, ps); refusal != isakmp.V1NotifyNoProposalChosen {
		t.Fatalf("half-acceptable bundle: %v", refusal)
	}
}

// TestAggressiveModeNATV1: Aggressive Mode carries NAT-D in AM2 and AM3
// (RFC 3947 3.2) and survives the loss of AM2 and AM3 (AM1 and AM2 are
// retransmitted, the responder's AM2 answered from the cache).
func TestAggressiveModeNATV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes256-sha1-modp2048", "aes128-sha1")
	rcfg := pskConfigV1(t, false, "aes256-sha1-modp2048", "aes128-sha1")
	icfg.AggressiveMode, rcfg.AggressiveMode, icfg.ForceUDPEncap = true, true, true
	p := newPairV1(t, icfg, rcfg)
	n := map[bool]int{}
	p.filter = func(fromI bool, b []byte) bool {
		n[fromI]++
		// Lose the first AM2 and the first AM3.
		return !(!fromI && n[fromI] == 1) && !(fromI && n[fromI] == 3)
	}
	p.runFor(time.Minute)
	if !p.i.Established() || !p.r.Established() || len(p.i.children) != 1 || len(p.r.children) != 1 {
		t.Fatalf("not established: %v / %v", kinds(p.evI), kindsOr(p.r, p.evR))
	}
	if !p.i.UDPEncap() || !p.r.UDPEncap() || !p.r.remoteNAT || !p.i.localNAT {
		t.Fatal("forced NAT not detected in Aggressive Mode")
	}
	if p.i.Stats().Retransmits == 0 || p.r.Stats().Retransmits+p.r.Stats().CachedResponses == 0 {
		t.Fatalf("stats %+v / %+v", p.i.Stats(), p.r.Stats())
	}
	checkESP(t, &p.i.children[0].sa, &p.r.children[0].sa)
}

// TestBundleEndToEndV1: CHILD proposals naming both AH and ESP make the
// initiator offer an AH+ESP bundle; both sides end with an AH and an ESP
// SA, and a rekey (of either part) replaces the bundle as a whole.
func TestBundleEndToEndV1(t *testing.T) {
	mk := func(initiator bool) *Config {
		c := pskConfigV1(t, initiator, "aes128-sha256-modp2048", "aes128-sha256")
		c.ChildProposals = append(c.ChildProposals, mustProposals(t, "sha256", isakmp.ProtocolAH)...)
		return c
	}
	p := establishV1(t, mk(true), mk(false))
	pairs := func() (esp, ah [2]*child) {
		for k, s := range []*SessionV1{p.i, p.r} {
			if len(s.children) != 2 {
				t.Fatalf("side %d: %d CHILD SAs", k, len(s.children))
			}
			for _, c := range s.children {
				if c.sa.Protocol == isakmp.ProtocolESP {
					esp[k] = c
				} else {
					ah[k] = c
				}
			}
			if esp[k] == nil || ah[k] == nil || s.sibling[esp[k]] != ah[k] {
				t.Fatalf("side %d: not a bundle", k)
			}
		}
		return esp, ah
	}
	esp, ah := pairs()
	checkESP(t, &esp[0].sa, &esp[1].sa)
	if string(ah[0].sa.OutboundIntegKey) != string(ah[1].sa.InboundIntegKey) || ah[0].sa.OutboundSPI != ah[1].sa.InboundSPI {
		t.Fatal("AH parts do not pair up")
	}
	// Rekey through the AH part: the bundle is replaced as a whole.
	if err := p.i.RekeyChild(p.now, ah[0].sa.InboundSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	if countEvents(p.evI, EventChildRekeyed) != 2 || countEvents(p.evR, EventChildRekeyed) != 2 {
		t.Fatalf("rekey: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	esp2, _ := pairs()
	if esp2[0] == esp[0] {
		t.Fatal("ESP part not replaced")
	}
	checkESP(t, &esp2[0].sa, &esp2[1].sa)
}

// TestNarrowToTriggerV1: a responder that refuses the configured selectors
// with INVALID-ID-INFORMATION gets a second Quick Mode for the trigger
// packet's flow (ChildRequest.TriggerLocal/TriggerRemote).
func TestNarrowToTriggerV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	base := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := *base
	asked := 0
	rcfg.GetConfigForRequest = func(r *ConfigRequest) (*Config, error) {
		if r.TSi == nil {
			return nil, nil
		}
		asked++
		// Only single hosts, as a peer that cannot narrow would insist.
		if r.TSi[0].Start != r.TSi[0].End {
			return nil, errors.New("hosts only")
		}
		return nil, nil
	}
	p := establishV1(t, icfg, &rcfg)
	if findEvent(p.evR, EventChildUp) != nil {
		t.Fatal("subnet accepted")
	}
	src, dst := hostSelector(netip.MustParseAddr("10.1.0.5")), hostSelector(netip.MustParseAddr("10.2.0.7"))
	if err := p.i.CreateChildRequest(p.now, ChildRequest{TriggerLocal: &src, TriggerRemote: &dst}); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	c := lastEvent(p.evI, EventChildUp)
	if c == nil || asked != 3 || c.Child.LocalTS[0].Start != src.Start || c.Child.RemoteTS[0].End != dst.End {
		t.Fatalf("asked %d, events %v", asked, kinds(p.evI))
	}
}
