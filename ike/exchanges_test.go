package ike

import (
	"errors"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// TestInvalidKERetry: the initiator's first KE is for a group the responder
// does not prefer; the responder answers INVALID_KE_PAYLOAD with its group
// and the initiator retries with that group (RFC 7296 1.2, 2.7).
func TestInvalidKERetry(t *testing.T) {
	icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519-ecp256", "aes128gcm16")
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-ecp256", "aes128gcm16")
	var inits int
	p := newPair(t, icfg, rcfg)
	p.filter = func(fromI bool, b []byte) bool {
		var h isakmp.Header
		if h.Parse(b) == nil && h.Exchange == isakmp.ExchangeIKESAInit && fromI {
			inits++
		}
		return true
	}
	// The first IKE_SA_INIT is answered statelessly; the harness makes a
	// new responder for the retry.
	p.step()
	if p.r == nil || !p.r.Closed() {
		t.Fatal("responder kept state for a refused IKE_SA_INIT")
	}
	p.r = nil
	p.run()
	if inits != 2 {
		t.Fatalf("%d IKE_SA_INIT requests, want 2", inits)
	}
	if !p.i.Established() || !p.r.Established() {
		t.Fatalf("not established: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if g := findEvent(p.evI, EventIKEUp).IKE.KE; g != isakmp.GroupECP256 {
		t.Fatalf("group %v, want ECP_256", g)
	}
}

// TestNoProposalChosen: disjoint proposals end the initiator with
// NO_PROPOSAL_CHOSEN.
func TestNoProposalChosen(t *testing.T) {
	p := newPair(t, pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16"),
		pskConfig(t, false, "aes256-sha512-modp4096", "aes128gcm16"))
	p.run()
	if !p.i.Closed() {
		t.Fatal("initiator still open")
	}
	ev := findEvent(p.evI, EventIKEDown)
	if ev == nil || !errors.Is(ev.Err, NotifyError(isakmp.NotifyNoProposalChosen)) {
		t.Fatalf("events %v, err %v", kinds(p.evI), ev)
	}
}

// TestWrongPSK: a responder with another secret answers
// AUTHENTICATION_FAILED, and both sides report the failure.
func TestWrongPSK(t *testing.T) {
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	other := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	icfg := *other
	wrong, _ := newTestPSK([]byte("another secret of decent length!"))
	icfg.Auth = wrong
	p := newPair(t, &icfg, rcfg)
	p.run()
	if findEvent(p.evR, EventAuthFailed) == nil || findEvent(p.evI, EventAuthFailed) == nil {
		t.Fatalf("events %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if !p.i.Closed() || !p.r.Closed() {
		t.Fatal("sessions still open after failed authentication")
	}
	for _, ev := range []*Event{findEvent(p.evR, EventAuthFailed), findEvent(p.evI, EventAuthFailed)} {
		if !errors.Is(ev.Err, ErrAuthenticationFailed) {
			t.Fatalf("auth-failed error %v does not wrap ErrAuthenticationFailed", ev.Err)
		}
	}
	if findEvent(p.evR, EventChildUp) != nil || findEvent(p.evI, EventChildUp) != nil {
		t.Fatal("CHILD SA despite failed authentication")
	}
}

// TestRetransmission drops the first IKE_AUTH request; the initiator
// retransmits it after the configured timeout. Then the first IKE_AUTH
// response is dropped: the retransmitted request is answered from the
// responder's cache (RFC 7296 2.1), not processed twice.
func TestRetransmission(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	p := newPair(t, icfg, pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16"))
	dropAuthReq, dropAuthResp := 1, 1
	p.filter = func(fromI bool, b []byte) bool {
		var h isakmp.Header
		if h.Parse(b) != nil || h.Exchange != isakmp.ExchangeIKEAuth {
			return true
		}
		if fromI && dropAuthReq > 0 {
			dropAuthReq--
			return false
		}
		if !fromI && dropAuthResp > 0 {
			dropAuthResp--
			return false
		}
		return true
	}
	p.run()
	if p.i.Established() {
		t.Fatal("established despite the lost request")
	}
	start := p.now
	for !p.i.Established() && p.advance(time.Minute) {
		p.run()
	}
	if !p.i.Established() || !p.r.Established() {
		t.Fatalf("not established: %v / %v", kinds(p.evI), kinds(p.evR))
	}
	// Timeouts 4 s and then 4 s * 1.8.
	if got, want := p.now.Sub(start), 4*time.Second+7200*time.Millisecond; got != want {
		t.Fatalf("established after %v, want %v", got, want)
	}
	if st := p.i.Stats(); st.Retransmits != 2 {
		t.Fatalf("initiator retransmits %d, want 2", st.Retransmits)
	}
	if st := p.r.Stats(); st.CachedResponses != 1 {
		t.Fatalf("responder cached responses %d, want 1", st.CachedResponses)
	}
	if n := countEvents(p.evR, EventChildUp); n != 1 {
		t.Fatalf("responder made %d CHILD SAs", n)
	}
}

// TestPeerDead: a responder that never answers is declared dead after the
// configured retransmissions, with strongSwan's back-off.
func TestPeerDead(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	p := newPair(t, icfg, pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16"))
	p.filter = func(bool, []byte) bool { return false }
	var sends []time.Duration
	for !p.i.Closed() && p.advance(10*time.Minute) {
		sends = append(sends, p.now.Sub(t0))
		p.run()
	}
	if findEvent(p.evI, EventPeerDead) == nil || !p.i.Closed() {
		t.Fatalf("events %v", kinds(p.evI))
	}
	// 5 retransmissions at 4, 4+7.2, ... then give up one timeout later.
	if len(sends) != 6 {
		t.Fatalf("%d timer expiries, want 6: %v", len(sends), sends)
	}
	total := 4.0
	for i, at := range sends {
		if d := at.Seconds() - total; d > 0.001 || d < -0.001 {
			t.Fatalf("expiry %d at %v, want %.3fs", i, at, total)
		}
		total += 4.0 * pow(1.8, i+1)
	}
	if st := p.i.Stats(); st.Retransmits != 5 {
		t.Fatalf("retransmits %d", st.Retransmits)
	}
}

func pow(b float64, n int) float64 {
	r := 1.0
	for ; n > 0; n-- {
		r *= b
	}
	return r
}

// TestTamperedMessageDropped: a message whose Encrypted payload fails its
// integrity check is dropped silently and counted (RFC 7296 2.21.1), and
// the exchange still completes with the genuine retransmission.
func TestTamperedMessageDropped(t *testing.T) {
	p := newPair(t, pskConfig(t, true, "aes128-sha256-x25519", "aes128-sha256"),
		pskConfig(t, false, "aes128-sha256-x25519", "aes128-sha256"))
	tampered := false
	p.filter = func(fromI bool, b []byte) bool {
		var h isakmp.Header
		if !tampered && fromI && h.Parse(b) == nil && h.Exchange == isakmp.ExchangeIKEAuth {
			tampered = true
			b[len(b)-20] ^= 0x80
		}
		return true
	}
	p.run()
	if p.r.Stats().IntegrityFailures != 1 || p.r.Established() {
		t.Fatalf("responder stats %+v", p.r.Stats())
	}
	for !p.i.Established() && p.advance(time.Minute) {
		p.run()
	}
	if !p.i.Established() || !p.r.Established() {
		t.Fatal("not established after the retransmission")
	}
}

// TestDeleteChildAndIKE: each side deletes a CHILD SA, then the IKE SA
// is deleted; both sides report the deletions (RFC 7296 1.4.1).
func TestDeleteChildAndIKE(t *testing.T) {
	for _, fromInitiator := range []bool{true, false} {
		p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
		a, b := p.i, p.r
		evA, evB := &p.evI, &p.evR
		if !fromInitiator {
			a, b = b, a
			evA, evB = evB, evA
		}
		ch := a.ChildSAs()[0]
		if err := a.DeleteChild(p.now, ch.InboundSPI); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		if len(a.ChildSAs()) != 0 || len(b.ChildSAs()) != 0 {
			t.Fatalf("CHILD SAs left: %d / %d", len(a.ChildSAs()), len(b.ChildSAs()))
		}
		da, db := findEvent(*evA, EventChildDeleted), findEvent(*evB, EventChildDeleted)
		if da == nil || db == nil || da.Child.InboundSPI != db.Child.OutboundSPI {
			t.Fatalf("delete events %v / %v", kinds(*evA), kinds(*evB))
		}
		a.Close(p.now)
		p.collect()
		p.run()
		if !a.Closed() || !b.Closed() {
			t.Fatal("IKE SA not deleted")
		}
		if findEvent(*evA, EventIKEDown) == nil || findEvent(*evB, EventIKEDown) == nil {
			t.Fatalf("events %v / %v", kinds(*evA), kinds(*evB))
		}
	}
}

// TestDPD: with a liveness interval, a silent peer is probed with an empty
// INFORMATIONAL; a live one answers, a dead one is declared dead.
func TestDPD(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	icfg.DPDInterval = 30 * time.Second
	p := newPair(t, icfg, pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16"))
	p.run()
	for i := 0; i < 3; i++ {
		if !p.advance(time.Minute) {
			t.Fatal("no DPD timer")
		}
		p.run()
	}
	if p.r.Stats().Received < 5 || !p.i.Established() {
		t.Fatalf("no liveness checks answered: %+v", p.r.Stats())
	}
	p.filter = func(bool, []byte) bool { return false }
	for !p.i.Closed() && p.advance(10*time.Minute) {
		p.run()
	}
	if findEvent(p.evI, EventPeerDead) == nil {
		t.Fatalf("events %v", kinds(p.evI))
	}
}

// TestCookie: a responder over its half-open threshold answers IKE_SA_INIT
// with a COOKIE and keeps no state; the initiator returns the cookie and
// the exchange completes (RFC 7296 2.6). A forged cookie is refused.
func TestCookie(t *testing.T) {
	jar, err := NewCookieJar(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	rcfg.Cookies = jar
	var inits [][]byte
	p := newPair(t, pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16"), rcfg)
	p.filter = func(fromI bool, b []byte) bool {
		var h isakmp.Header
		if fromI && h.Parse(b) == nil && h.Exchange == isakmp.ExchangeIKESAInit {
			inits = append(inits, append([]byte(nil), b...))
		}
		return true
	}
	p.step()
	if p.r == nil || !p.r.Closed() || jar.HalfOpen() != 0 {
		t.Fatal("responder kept state without a cookie")
	}
	p.r = nil
	p.step() // the COOKIE answer reaches the initiator
	p.step() // the retry with the cookie reaches the responder
	if p.r == nil || p.r.Closed() || jar.HalfOpen() != 1 {
		t.Fatalf("retry with the cookie refused (half-open %d)", jar.HalfOpen())
	}
	p.run()
	if !p.i.Established() || !p.r.Established() || jar.HalfOpen() != 0 {
		t.Fatalf("not established or still half-open: %v, %d", kinds(p.evI), jar.HalfOpen())
	}
	m, err := isakmp.Parse(inits[1])
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m.Payloads[0].(*isakmp.Notify); !ok || n.NotifyType != isakmp.NotifyCookie {
		t.Fatal("the cookie is not the first payload of the retry (RFC 7296 2.6)")
	}
	// The same request with the cookie changed gets a new challenge.
	forged := append([]byte(nil), inits[1]...)
	forged[len(m.Header.Append(nil))+8+4] ^= 1 // inside the cookie data
	s, err := Accept(rcfg, addrR, addrI, p.now, forged)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Closed() || jar.HalfOpen() != 0 {
		t.Fatal("forged cookie accepted")
	}
	// After Rotate the old cookie still works, after two it does not.
	if err := jar.Rotate(nil); err != nil {
		t.Fatal(err)
	}
	if s, _ := Accept(rcfg, addrR, addrI, p.now, inits[1]); s.Closed() {
		t.Fatal("cookie refused after one rotation")
	}
	jar.Rotate(nil)
	if s, _ := Accept(rcfg, addrR, addrI, p.now, inits[1]); !s.Closed() {
		t.Fatal("cookie accepted after two rotations")
	}
}

// TestUnsupportedCriticalPayload: an authenticated request with an unknown
// payload marked critical is answered with UNSUPPORTED_CRITICAL_PAYLOAD
// naming its type (RFC 7296 2.5); a non-critical one is ignored.
func TestUnsupportedCriticalPayload(t *testing.T) {
	p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	for _, critical := range []bool{true, false} {
		var got []isakmp.Payload
		unknown := &isakmp.Unknown{PayloadType: 200, Critical: critical, Body: []byte{1, 2, 3}}
		err := p.i.sendRequest(p.now, p.i.sa, isakmp.ExchangeInformational, []isakmp.Payload{unknown},
			func(_ time.Time, _ *isakmp.Header, ps []isakmp.Payload, _ []byte) error {
				got = ps
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		n := findNotify(got, isakmp.NotifyUnsupportedCriticalPayload)
		if critical && (n == nil || len(n.Data) != 1 || n.Data[0] != 200) {
			t.Fatalf("critical: response %v", got)
		}
		if !critical && (n != nil || p.i.sa.req != nil) {
			t.Fatalf("non-critical: response %v", got)
		}
	}
	if !p.i.Established() || !p.r.Established() {
		t.Fatal("IKE SA lost")
	}
}

// TestCreateChild: a second CHILD SA over CREATE_CHILD_SA (RFC 7296
// 1.3.1), with a key exchange, from each side; both work.
func TestCreateChild(t *testing.T) {
	p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
	for _, s := range []*Session{p.i, p.r} {
		if err := s.CreateChild(p.now); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
	}
	ci, cr := p.i.ChildSAs(), p.r.ChildSAs()
	if len(ci) != 3 || len(cr) != 3 {
		t.Fatalf("CHILD SAs %d / %d", len(ci), len(cr))
	}
	for _, a := range ci {
		var peer *ChildSA
		for j := range cr {
			if cr[j].InboundSPI == a.OutboundSPI {
				peer = &cr[j]
			}
		}
		if peer == nil {
			t.Fatalf("no peer for %x", a.InboundSPI)
		}
		checkESP(t, &a, peer)
	}
	if countEvents(p.evI, EventChildUp) != 3 || countEvents(p.evR, EventChildUp) != 3 {
		t.Fatalf("events %v / %v", kinds(p.evI), kinds(p.evR))
	}
}

// TestInvalidSyntax: an authenticated request whose inner payloads do not
// parse is answered with INVALID_SYNTAX; an INFORMATIONAL carrying
// INVALID_SYNTAX or AUTHENTICATION_FAILED ends the IKE SA.
func TestInvalidSyntax(t *testing.T) {
	p := establish(t, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	sa := p.i.sa
	// A Delete payload whose SPI count does not fit its length.
	bad := []byte{0, 0, 0, 9, 3, 4, 0, 9, 1}
	plain := bad
	n := sa.tx.sealedLen(len(plain))
	m := isakmp.Message{Header: p.i.header(sa, isakmp.ExchangeInformational, sa.nextReqID, false),
		Payloads: []isakmp.Payload{&isakmp.Encrypted{Inner: isakmp.PayloadDelete, Data: make([]byte, n)}}}
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err = sa.tx.seal(b[:len(b)-n], plain)
	if err != nil {
		t.Fatal(err)
	}
	var got []isakmp.Payload
	sa.nextReqID++
	p.i.arm(p.now, sa, &request{id: sa.nextReqID - 1, msg: b, exch: isakmp.ExchangeInformational,
		onResponse: func(_ time.Time, _ *isakmp.Header, ps []isakmp.Payload, _ []byte) error { got = ps; return nil }})
	p.collect()
	p.run()
	if findNotify(got, isakmp.NotifyInvalidSyntax) == nil {
		t.Fatalf("response %v", got)
	}
	err = p.i.sendRequest(p.now, sa, isakmp.ExchangeInformational,
		[]isakmp.Payload{notify(isakmp.NotifyAuthenticationFailed, nil)},
		func(time.Time, *isakmp.Header, []isakmp.Payload, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	if !p.r.Closed() || findEvent(p.evR, EventAuthFailed) == nil {
		t.Fatalf("responder %v", kinds(p.evR))
	}
}
