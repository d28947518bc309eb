package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// certConfigV1 turns a PSK test configuration into a signature one.
func certConfigV1(t *testing.T, cfg *Config, ca *testCA, key crypto.Signer) *Config {
	v, err := auth.NewCertVerifier(auth.CertVerifierConfig{Roots: []*x509.Certificate{ca.cert}})
	if err != nil {
		t.Fatal(err)
	}
	c := *cfg
	c.Auth = nil
	c.SignatureKey = key
	c.PeerAuth = CertPeers(v)
	c.Certificates = [][]byte{ca.issue(t, string(cfg.LocalID.Data), key)}
	c.CertRequestCAs = []*x509.Certificate{ca.cert}
	return &c
}

// TestSignaturesV1 authenticates Main Mode with RSA (RFC 2409 5.1) and
// ECDSA (RFC 4754) certificates chained to a common root, through package
// auth, and refuses a certificate for another name and an untrusted root.
func TestSignaturesV1(t *testing.T) {
	ca := newTestCA(t)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rk2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e256a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e256b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e384a, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	e384b, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	const ikeP, espP = "aes256-sha256-ecp256", "aes256gcm16"
	for _, c := range []struct {
		name   string
		ik, rk crypto.Signer
	}{
		{"rsa", rk, rk2},
		{"ecdsa-p256", e256a, e256b},
		{"ecdsa-p384", e384a, e384b},
	} {
		t.Run(c.name, func(t *testing.T) {
			icfg := certConfigV1(t, pskConfigV1(t, true, ikeP, espP), ca, c.ik)
			rcfg := certConfigV1(t, pskConfigV1(t, false, ikeP, espP), ca, c.rk)
			p := establishV1(t, icfg, rcfg)
			checkESP(t, findEvent(p.evI, EventChildUp).Child, findEvent(p.evR, EventChildUp).Child)
			if !p.r.Info().RemoteID.Equal(icfg.LocalID) {
				t.Fatalf("peer identity %v", p.r.Info().RemoteID)
			}
		})
	}
	// Different methods (RSA against ECDSA) find no common transform.
	p := newPairV1(t, certConfigV1(t, pskConfigV1(t, true, ikeP, espP), ca, rk),
		certConfigV1(t, pskConfigV1(t, false, ikeP, espP), ca, e256b))
	p.run()
	if p.i.Established() || !p.i.Closed() {
		t.Fatalf("RSA against ECDSA: %v", kinds(p.evI))
	}
	// A certificate for another name is refused.
	icfg := certConfigV1(t, pskConfigV1(t, true, ikeP, espP), ca, e256a)
	icfg.Certificates = [][]byte{ca.issue(t, "someone-else.example", e256a)}
	p = newPairV1(t, icfg, certConfigV1(t, pskConfigV1(t, false, ikeP, espP), ca, e256b))
	p.run()
	if ev := findEvent(p.evR, EventAuthFailed); ev == nil || !errors.Is(ev.Err, ErrAuthenticationFailed) || p.r.Established() {
		t.Fatalf("wrong certificate accepted: %v", kinds(p.evR))
	}
	// A chain to an untrusted root is refused.
	p = newPairV1(t, certConfigV1(t, pskConfigV1(t, true, ikeP, espP), newTestCA(t), e256a),
		certConfigV1(t, pskConfigV1(t, false, ikeP, espP), ca, e256b))
	p.run()
	if findEvent(p.evR, EventAuthFailed) == nil {
		t.Fatalf("untrusted chain accepted: %v", kinds(p.evR))
	}
}

// TestAggressiveModeV1: with AggressiveMode on both sides the three
// messages establish the ISAKMP SA and Quick Mode follows; a responder
// without it refuses.
func TestAggressiveModeV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	icfg.AggressiveMode, rcfg.AggressiveMode = true, true
	p := establishV1(t, icfg, rcfg)
	checkESP(t, findEvent(p.evI, EventChildUp).Child, findEvent(p.evR, EventChildUp).Child)
	if !p.r.sa.aggressive || !p.i.sa.aggressive || len(p.wireR) != 2 { // AM2, QM2
		t.Fatalf("not Aggressive Mode: %d responder messages", len(p.wireR))
	}
	rcfg.AggressiveMode = false
	p = newPairV1(t, icfg, rcfg)
	p.run()
	if !p.i.Closed() || p.r == nil || !p.r.Closed() {
		t.Fatalf("Aggressive Mode accepted while off: %v", kinds(p.evI))
	}
	// Signatures are refused for Aggressive Mode at configuration time.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sc := certConfigV1(t, pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256"), newTestCA(t), ec)
	sc.AggressiveMode = true
	if _, err := NewInitiatorV1(sc, addrI, addrR, t0, nil); err == nil {
		t.Fatal("Aggressive Mode with signatures accepted")
	}
}

// TestLegacyV1: Windows Server 2003's defaults (3DES, HMAC-MD5, MODP-1024)
// work only with AllowLegacyV1 on both sides.
func TestLegacyV1(t *testing.T) {
	mk := func(initiator, legacy bool) *Config {
		c := pskConfigV1(t, initiator, "aes128-sha256-modp2048", "aes128-sha256")
		var err error
		if c.IKEProposals, err = ParseProposalsV1("3des-md5-modp1024,3des-sha1-modp1024", isakmp.ProtocolIKE); err != nil {
			t.Fatal(err)
		}
		if c.ChildProposals, err = ParseProposalsV1("3des-md5,3des-sha1", isakmp.ProtocolESP); err != nil {
			t.Fatal(err)
		}
		c.AllowLegacyV1 = legacy
		return c
	}
	if _, err := NewInitiatorV1(mk(true, false), addrI, addrR, t0, nil); err == nil {
		t.Fatal("legacy-only proposals accepted without AllowLegacyV1")
	}
	if _, err := ParseProposals("3des-md5-modp1024", isakmp.ProtocolIKE); err == nil {
		t.Fatal("IKEv2 proposals accept legacy algorithms")
	}
	p := establishV1(t, mk(true, true), mk(false, true))
	ci := findEvent(p.evI, EventChildUp).Child
	if ci.Encr.ID != isakmp.Encr3DES || ci.Integ != isakmp.IntegHMACMD5_96 || p.i.Info().KE != isakmp.GroupMODP1024 {
		t.Fatalf("negotiated %v %v %v", ci.Encr, ci.Integ, p.i.Info().KE)
	}
	// A modern responder refuses the legacy initiator.
	p = newPairV1(t, mk(true, true), pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
	p.run()
	if !p.i.Closed() {
		t.Fatal("legacy proposal accepted by a responder without AllowLegacyV1")
	}
	// DES and MODP-768 have no switch at all.
	if _, err := ParseProposalsV1("des-md5-modp768", isakmp.ProtocolIKE); err == nil {
		t.Fatal("DES/MODP-768 accepted")
	}
}

// TestRetransmitV1: lost messages are retransmitted with back-off and
// retransmitted messages are answered from the cache (MM6, QM2).
func TestRetransmitV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	p := newPairV1(t, icfg, rcfg)
	n := 0
	p.filter = func(fromI bool, b []byte) bool {
		if fromI {
			return true
		}
		n++
		// Drop the responder's third (MM6) and fourth (QM2) message once.
		return n != 3 && n != 5
	}
	p.runFor(time.Minute)
	if !p.i.Established() || !p.r.Established() || findEvent(p.evI, EventChildUp) == nil || findEvent(p.evR, EventChildUp) == nil {
		t.Fatalf("not established: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if p.i.Stats().Retransmits < 2 || p.r.Stats().CachedResponses < 2 {
		t.Fatalf("stats %+v / %+v", p.i.Stats(), p.r.Stats())
	}
	checkESP(t, findEvent(p.evI, EventChildUp).Child, findEvent(p.evR, EventChildUp).Child)
	// A peer that never answers is declared dead after the retries.
	i, err := NewInitiatorV1(icfg, addrI, addrR, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 20 && !i.Closed(); k++ {
		i.Tick(i.Deadline())
	}
	ev := i.Events()
	if findEvent(ev, EventPeerDead) == nil || findEvent(ev, EventIKEDown) == nil {
		t.Fatalf("events %v", kinds(ev))
	}
	if got := len(i.Datagrams()); got != 1+DefaultRetransmitTries {
		t.Fatalf("%d datagrams, want %d", got, 1+DefaultRetransmitTries)
	}
}

// TestDeleteV1: deleting a CHILD SA and closing the ISAKMP SA reach the
// peer as Delete notifications, in both directions.
func TestDeleteV1(t *testing.T) {
	for _, fromI := range []bool{true, false} {
		p := establishV1(t, pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256"),
			pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
		a, b, evB := p.i, p.r, &p.evR
		if !fromI {
			a, b, evB = p.r, p.i, &p.evI
		}
		c := a.ChildSAs()[0]
		if err := a.DeleteChild(p.now, c.InboundSPI); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		if len(a.ChildSAs()) != 0 || len(b.ChildSAs()) != 0 || findEvent(*evB, EventChildDeleted) == nil {
			t.Fatalf("CHILD SA not deleted: %d/%d %v", len(a.ChildSAs()), len(b.ChildSAs()), kinds(*evB))
		}
		if err := a.CreateChildRequest(p.now, ChildRequest{}); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		if len(a.ChildSAs()) != 1 || len(b.ChildSAs()) != 1 {
			t.Fatalf("no new CHILD SA: %v", kinds(*evB))
		}
		a.Close(p.now)
		p.collect()
		p.run()
		if !a.Closed() || !b.Closed() || countEvents(*evB, EventChildDeleted) != 2 || findEvent(*evB, EventIKEDown) == nil {
			t.Fatalf("close: %v", kinds(*evB))
		}
	}
}

// TestDPDV1: an idle peer is probed with R-U-THERE and answers ACK
// (RFC 3706); a silent one is declared dead.
func TestDPDV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	icfg.DPDInterval = 30 * time.Second
	p := establishV1(t, icfg, pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256"))
	if !p.i.peerDPD || !p.r.peerDPD {
		t.Fatal("DPD vendor ID not exchanged")
	}
	sent := p.i.Stats().Sent
	p.runFor(100 * time.Second)
	if !p.i.Established() || p.i.Stats().Sent < sent+3 || p.i.Stats().Retransmits != 0 {
		t.Fatalf("DPD: %v stats %+v", kinds(p.evI), p.i.Stats())
	}
	p.filter = func(fromI bool, _ []byte) bool { return fromI }
	p.runFor(10 * time.Minute)
	if findEvent(p.evI, EventPeerDead) == nil || !p.i.Closed() {
		t.Fatalf("silent peer not declared dead: %v", kinds(p.evI))
	}
}

// TestRekeyChildV1: a new Quick Mode replaces the CHILD SA
// (EventChildRekeyed on both sides), the old one is deleted after
// (make-before-break), on command and on the soft lifetime timer.
func TestRekeyChildV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256-ecp256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256-ecp256")
	icfg.ChildRekey, rcfg.ChildRekey = 10*time.Minute, 20*time.Minute
	p := establishV1(t, icfg, rcfg)
	old := p.i.ChildSAs()[0]
	if old.PFS != isakmp.GroupECP256 {
		t.Fatalf("PFS %v", old.PFS)
	}
	if err := p.i.RekeyChild(p.now, old.InboundSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	ri, rr := lastEvent(p.evI, EventChildRekeyed), lastEvent(p.evR, EventChildRekeyed)
	if ri == nil || rr == nil || ri.Old.InboundSPI != old.InboundSPI || rr.Old.OutboundSPI != old.InboundSPI {
		t.Fatalf("rekey events %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if len(p.i.ChildSAs()) != 1 || len(p.r.ChildSAs()) != 1 || findEvent(p.evR, EventChildDeleted) == nil {
		t.Fatalf("old SA not deleted: %d / %d", len(p.i.ChildSAs()), len(p.r.ChildSAs()))
	}
	checkESP(t, ri.Child, rr.Child)
	// On the timer: the initiator's shorter soft lifetime rekeys first.
	before := countEvents(p.evI, EventChildRekeyed)
	p.runFor(15 * time.Minute)
	if countEvents(p.evI, EventChildRekeyed) <= before || len(p.i.ChildSAs()) != 1 || len(p.r.ChildSAs()) != 1 {
		t.Fatalf("no timed rekey: %v / %v", kinds(p.evI), kinds(p.evR))
	}
}

// TestRekeyISAKMPV1: a new Main Mode replaces the ISAKMP SA on the
// initiator (EventIKERekeyed, CHILD SAs kept); the old responder session,
// whose ISAKMP SA is deleted, keeps its CHILD SAs until they expire.
func TestRekeyISAKMPV1(t *testing.T) {
	icfg := pskConfigV1(t, true, "aes128-sha256-modp2048", "aes128-sha256")
	rcfg := pskConfigV1(t, false, "aes128-sha256-modp2048", "aes128-sha256")
	p := establishV1(t, icfg, rcfg)
	oldR := p.r
	spiI := p.i.Info().SPIi
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	p.collect()
	// The new Main Mode is a new session at the responder's endpoint.
	p.r = nil
	for _, d := range p.toR {
		p.deliverToR(d)
	}
	p.toR = nil
	newR := p.r
	for i := 0; i < 20; i++ {
		moved := false
		for _, d := range p.i.Datagrams() {
			moved = true
			m, _ := isakmp.Parse(d)
			if m.Header.InitiatorSPI == spiI {
				oldR.Receive(p.now, d)
			} else {
				newR.Receive(p.now, d)
			}
		}
		for _, s := range []*SessionV1{oldR, newR} {
			for _, d := range s.Datagrams() {
				moved = true
				p.i.Receive(p.now, d)
			}
		}
		p.evI = append(p.evI, p.i.Events()...)
		if !moved {
			break
		}
	}
	if findEvent(p.evI, EventIKERekeyed) == nil || p.i.Info().SPIi == spiI || len(p.i.ChildSAs()) != 1 {
		t.Fatalf("initiator: %v", kinds(p.evI))
	}
	if !newR.Established() || oldR.Established() || oldR.Closed() || len(oldR.ChildSAs()) != 1 {
		t.Fatalf("responders: new %v old %v/%v", newR.Established(), oldR.Established(), oldR.Closed())
	}
	// The CHILD SA is rekeyed on the new ISAKMP SA.
	if err := p.i.RekeyChild(p.now, p.i.ChildSAs()[0].InboundSPI); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		for _, d := range p.i.Datagrams() {
			newR.Receive(p.now, d)
		}
		for _, d := range newR.Datagrams() {
			p.i.Receive(p.now, d)
		}
	}
	if len(newR.ChildSAs()) != 1 || len(p.i.ChildSAs()) != 1 {
		t.Fatalf("child on new ISAKMP SA: %d / %d", len(newR.ChildSAs()), len(p.i.ChildSAs()))
	}
	// The orphaned old session ends when its CHILD SA expires.
	oldR.Tick(p.now.Add(3 * time.Hour))
	if !oldR.Closed() {
		t.Fatal("orphaned session did not end with its CHILD SA")
	}
}
