package ike

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike/keylog"
	"github.com/ipsecgo/ipsec/isakmp"
)

// TestKeyLogLines: the key log has one IKEV2 line per IKE SA (the first
// and the one a rekey makes, RFC 7296 2.18) with the keys the session
// protects its messages with, and two lines per CHILD SA (also after a
// CHILD SA rekey) with the keys of the ChildSA events.
func TestKeyLogLines(t *testing.T) {
	var logI, logR bytes.Buffer
	icfg := pskConfig(t, true, "aes128-sha256-prfsha256-x25519", "aes128-sha256")
	rcfg := pskConfig(t, false, "aes128-sha256-prfsha256-x25519", "aes128-sha256")
	icfg.KeyLogWriter, rcfg.KeyLogWriter = &logI, &logR
	p := establishWith(t, icfg, rcfg)
	first := p.i.sa
	ci := findEvent(p.evI, EventChildUp).Child
	if err := p.i.RekeyChild(p.now, ci.InboundSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	if err := p.r.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	second := p.i.sa
	if second == first {
		t.Fatal("IKE SA not rekeyed")
	}
	l, err := keylog.Parse(bytes.NewReader(logI.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.IKEv2) != 2 || len(l.Child) != 4 {
		t.Fatalf("initiator's log has %d IKE SAs and %d CHILD SA directions, want 2 and 4:\n%s", len(l.IKEv2), len(l.Child), logI.String())
	}
	for k, sa := range []*ikeSA{first, second} {
		got := l.IKEv2[k]
		if got.SPIi != sa.spiI || got.SPIr != sa.spiR || !bytes.Equal(got.SKei, sa.keys.ei) || !bytes.Equal(got.SKer, sa.keys.er) ||
			!bytes.Equal(got.SKai, sa.keys.ai) || !bytes.Equal(got.SKar, sa.keys.ar) ||
			got.Encr != uint16(isakmp.EncrAESCBC) || got.Integ != uint16(isakmp.IntegHMACSHA2_256_128) {
			t.Errorf("IKE SA %d logged as %+v", k, got)
		}
	}
	var children []*ChildSA
	for _, ev := range p.evI {
		if ev.Kind == EventChildUp || ev.Kind == EventChildRekeyed {
			children = append(children, ev.Child)
		}
	}
	if len(children) != 2 {
		t.Fatalf("events %v", kinds(p.evI))
	}
	for k, c := range children {
		in, out := l.Child[2*k], l.Child[2*k+1]
		if in.SPI != c.InboundSPI || !bytes.Equal(in.Key, c.InboundEncKey) || !bytes.Equal(in.IKey, c.InboundIntegKey) ||
			in.Src != c.RemoteAddr || in.Dst != c.LocalAddr || !in.Tunnel ||
			out.SPI != c.OutboundSPI || !bytes.Equal(out.Key, c.OutboundEncKey) || !bytes.Equal(out.IKey, c.OutboundIntegKey) ||
			out.Src != c.LocalAddr || out.Dst != c.RemoteAddr || in.Encr != uint16(c.Encr.ID) || in.Integ != uint16(c.Integ) {
			t.Errorf("CHILD SA %d logged as %+v / %+v, negotiated %+v", k, in, out, c)
		}
	}
	// The responder logged the same SAs.
	lr, err := keylog.Parse(bytes.NewReader(logR.Bytes()))
	if err != nil || len(lr.IKEv2) != 2 || len(lr.Child) != 4 {
		t.Fatalf("responder's log: %v\n%s", err, logR.String())
	}
	if !bytes.Equal(keylog.AppendIKEv2(nil, &lr.IKEv2[1]), keylog.AppendIKEv2(nil, &l.IKEv2[1])) {
		t.Error("the two sides log the rekeyed IKE SA differently")
	}
	// Every line converts into a Wireshark record.
	var tab bytes.Buffer
	if err := keylog.WriteESPTable(&tab, l); err != nil || strings.Count(tab.String(), "HMAC-SHA-256-128 [RFC4868]") != 4 {
		t.Errorf("ESP table (%v):\n%s", err, tab.String())
	}
}

// TestKeyLogIKEv1Line: the helper the IKEv1 session calls writes the
// documented IKEV1 line, and it converts to Wireshark's IKEv1 table.
func TestKeyLogIKEv1Line(t *testing.T) {
	var b bytes.Buffer
	ci := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	cr := [8]byte{9, 10, 11, 12, 13, 14, 15, 16}
	key := bytes.Repeat([]byte{0xab}, 16)
	logIKEv1SAKeys(&b, ci, cr, 7, key)
	logIKEv1SAKeys(nil, ci, cr, 7, key) // no writer: nothing happens
	want := "IKEV1 CKYI=0102030405060708 CKYR=090a0b0c0d0e0f10 ENCR=7 KEY=abababababababababababababababab\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
	l, err := keylog.Parse(&b)
	if err != nil || len(l.IKEv1) != 1 {
		t.Fatal(err)
	}
	var tab bytes.Buffer
	if err := keylog.WriteIKEv1Table(&tab, l); err != nil || !strings.Contains(tab.String(), "0102030405060708,abababababababababababababababab\n") {
		t.Fatalf("IKEv1 table (%v):\n%s", err, tab.String())
	}
}

// TestKeyLogAuthFailedNamesPeer: an authentication failure names the
// peer's address and the identity it claimed, in the error and in the
// event's IKESAInfo, on the side that refuses.
func TestKeyLogAuthFailedNamesPeer(t *testing.T) {
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	icfg := *pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	wrong, err := auth.NewPSK([]byte("another secret of decent length!"), auth.PSKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	icfg.Auth = wrong
	p := newPair(t, &icfg, rcfg)
	p.run()
	ev := findEvent(p.evR, EventAuthFailed)
	if ev == nil {
		t.Fatalf("responder events %v", kinds(p.evR))
	}
	if ev.IKE.RemoteAddr != addrI || ev.IKE.LocalAddr != addrR || !ev.IKE.PeerClaimedID.Equal(icfg.LocalID) || ev.IKE.RemoteID.Type != 0 {
		t.Errorf("event IKE info %+v", ev.IKE)
	}
	if msg := ev.Err.Error(); !strings.Contains(msg, addrI.String()) || !strings.Contains(msg, icfg.LocalID.String()) {
		t.Errorf("error %q does not name the peer %v and %v", msg, addrI, icfg.LocalID)
	}
	if ev := findEvent(p.evI, EventAuthFailed); ev == nil || ev.IKE.RemoteAddr != addrR {
		// The responder refused before sending its IDr: no claimed
		// identity, but the address.
		t.Errorf("initiator's auth-failed event %+v does not name the responder", ev)
	}
	if up := findEvent(p.evI, EventIKEUp); up != nil {
		t.Fatal("IKE SA up despite the failure")
	}
}

// TestKeyLogV1Session: an IKEv1 session with a KeyLogWriter logs its
// ISAKMP SA (the cookies and the phase 1 cipher key) and both directions
// of its CHILD SA, on each side, and the two sides' lines agree.
func TestKeyLogV1Session(t *testing.T) {
	var bi, br bytes.Buffer
	icfg := pskConfigV1(t, true, "aes256-sha256-modp2048", "aes128gcm16")
	rcfg := pskConfigV1(t, false, "aes256-sha256-modp2048", "aes128gcm16")
	icfg.KeyLogWriter, rcfg.KeyLogWriter = &bi, &br
	p := establishV1(t, icfg, rcfg)
	li, err := keylog.Parse(&bi)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := keylog.Parse(&br)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		l    *keylog.Log
		s    *SessionV1
	}{{"initiator", li, p.i}, {"responder", lr, p.r}} {
		if len(c.l.IKEv1) != 1 || len(c.l.Child) != 2 {
			t.Fatalf("%s: %d IKEV1 and %d CHILD lines", c.name, len(c.l.IKEv1), len(c.l.Child))
		}
		v1 := c.l.IKEv1[0]
		if v1.CookieI != c.s.sa.ckyI || v1.CookieR != c.s.sa.ckyR || v1.Encr != uint16(isakmp.V1EncrAESCBC) ||
			!bytes.Equal(v1.Key, c.s.sa.keys.enc) || len(v1.Key) != 32 {
			t.Fatalf("%s: IKEV1 line %+v", c.name, v1)
		}
		ch := c.s.ChildSAs()[0]
		in, out := c.l.Child[0], c.l.Child[1]
		if in.SPI != ch.InboundSPI || !bytes.Equal(in.Key, ch.InboundEncKey) ||
			out.SPI != ch.OutboundSPI || !bytes.Equal(out.Key, ch.OutboundEncKey) {
			t.Fatalf("%s: CHILD lines %+v %+v for %+v", c.name, in, out, ch)
		}
	}
	// What one side logs as inbound the other logs as outbound.
	if li.Child[0].SPI != lr.Child[1].SPI || !bytes.Equal(li.Child[0].Key, lr.Child[1].Key) {
		t.Fatal("the two sides' CHILD SA lines disagree")
	}
}
