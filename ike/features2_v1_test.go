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
