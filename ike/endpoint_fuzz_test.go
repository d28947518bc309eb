package ike

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsecgo/ipsec/isakmp"
)

// FuzzScanInit checks the endpoint's allocation-free payload walk against
// the full decoder: whenever an IKEv2 message decodes, scanInit finds the
// same Nonce and COOKIE data (the last of each when a message repeats
// them, which only a message the session refuses does);
// on any input it never panics and never returns slices outside b.
func FuzzScanInit(f *testing.F) {
	tmpl := initTemplate2(f)
	b, _ := tmpl.Append(nil)
	f.Add(b)
	m := tmpl
	m.Payloads = append([]isakmp.Payload{notify(isakmp.NotifyCookie, bytes.Repeat([]byte{7}, cookieLen))}, tmpl.Payloads...)
	wc, _ := m.Append(nil)
	f.Add(wc)
	f.Add(wc[:len(wc)-10])
	f.Add(b[:isakmp.HeaderLen+3])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < isakmp.HeaderLen {
			return
		}
		nonce, cookie, ok := scanInit(b[isakmp.HeaderLen:], isakmp.PayloadType(b[16]))
		for _, s := range [][]byte{nonce, cookie} {
			if len(s) > 0 && !inside(b, s) {
				t.Fatal("result outside the input")
			}
		}
		var m isakmp.Message
		if m.Decode(b) != nil || m.Header.Major() != isakmp.MajorIKEv2 || int(m.Header.Length) != len(b) {
			return
		}
		var want *isakmp.Nonce
		for _, p := range m.Payloads {
			if n, isNonce := p.(*isakmp.Nonce); isNonce {
				want = n
			}
		}
		if (want != nil) != ok || want != nil && !bytes.Equal(want.Data, nonce) {
			t.Fatalf("nonce %x (ok %v), decoder %v", nonce, ok, want)
		}
		var wantCookie []byte
		for _, n := range notifies(m.Payloads) {
			if n.NotifyType == isakmp.NotifyCookie {
				wantCookie = n.Data
			}
		}
		if ok && !bytes.Equal(wantCookie, cookie) {
			t.Fatalf("cookie %x, decoder %x", cookie, wantCookie)
		}
	})
}

// inside reports whether s is a sub-slice of b.
func inside(b, s []byte) bool {
	for i := range b {
		if &b[i] == &s[0] {
			return i+len(s) <= len(b)
		}
	}
	return false
}

func initTemplate2(t testing.TB) isakmp.Message {
	s, err := NewInitiator(pskConfig(t, true, floodSuite, "aes128gcm16"), addrI, addrR, t0)
	if err != nil {
		t.Fatal(err)
	}
	var m isakmp.Message
	if err := m.Decode(s.Datagrams()[0]); err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzEndpointDispatch feeds arbitrary datagrams to the readers' dispatch
// of an Endpoint (not bound; its workers do not run, so admitted
// datagrams stay queued until the queues are full), on both ports and
// with cookies on and off. Nothing may panic, and everything the reader
// answers itself is an IKEv2 response that decodes.
func FuzzEndpointDispatch(f *testing.F) {
	tmpl := initTemplate2(f)
	b, _ := tmpl.Append(nil)
	f.Add(b, false)
	f.Add(append([]byte{0, 0, 0, 0}, b...), true)
	f.Add([]byte{0xff}, true)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, true)
	unknown := rawMessage(f, isakmp.Header{InitiatorSPI: [8]byte{1}, ResponderSPI: [8]byte{2}, Version: isakmp.VersionIKEv2,
		Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagInitiator, MessageID: 3})
	f.Add(unknown, false)
	f.Add(withVersion(b, 0x30), false)
	f.Add(withVersion(b, 0x10), false)
	rcfg := pskConfig(f, false, floodSuite, "aes128gcm16")
	rcfg.KeyExchange = KeyExchangeAny
	var eps []*Endpoint
	for range 2 {
		e, err := NewEndpoint(EndpointConfig{IKEAddr: netip.MustParseAddrPort("127.0.0.1:500"),
			NATTAddr: netip.MustParseAddrPort("127.0.0.1:4500"), Responder: rcfg, QueueLen: 4, Workers: 2,
			ESP: func(netip.AddrPort, []byte) {}})
		if err != nil {
			f.Fatal(err)
		}
		eps = append(eps, e)
	}
	eps[1].adm.halfOpen.Store(1 << 20) // cookies always
	from := netip.MustParseAddrPort("192.0.2.9:500")
	f.Fuzz(func(t *testing.T, b []byte, natt bool) {
		for _, e := range eps {
			r := &reader{e: e, natt: natt}
			r.dispatch(t0, b, from, natt)
			for _, d := range r.out {
				msg := d.b
				if natt {
					if len(msg) < 4 || binary.BigEndian.Uint32(msg) != 0 {
						t.Fatal("NAT-T answer without the non-ESP marker")
					}
					msg = msg[4:]
				}
				var m isakmp.Message
				if err := m.Decode(msg); err != nil || m.Header.Flags&isakmp.FlagResponse == 0 {
					t.Fatalf("answer %x: %v", msg, err)
				}
			}
		}
	})
}
