package ike

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// decodeOneWay decodes an unprotected error response and returns its
// header and single Notify.
func decodeOneWay(t *testing.T, b []byte) (isakmp.Header, *isakmp.Notify) {
	t.Helper()
	var m isakmp.Message
	if err := m.Decode(b); err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	if len(m.Payloads) != 1 {
		t.Fatalf("response has %d payloads, want one Notify", len(m.Payloads))
	}
	n, ok := m.Payloads[0].(*isakmp.Notify)
	if !ok {
		t.Fatalf("response payload is %T, want a Notify", m.Payloads[0])
	}
	return m.Header, n
}

// TestOneWayResponse checks the unprotected responses of RFC 7296 1.5:
// SPIs, Message ID and Exchange Type copied, R set, I set only when the
// request came from the original responder, version 2.0, one Notify
// without SPI or data; responses get none.
func TestOneWayResponse(t *testing.T) {
	spiI := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	spiR := [8]byte{9, 10, 11, 12, 13, 14, 15, 16}
	cases := []struct {
		name      string
		req       isakmp.Header
		notify    isakmp.NotifyType
		wantFlags isakmp.Flags
		none      bool
	}{
		{"from original initiator", isakmp.Header{InitiatorSPI: spiI, ResponderSPI: spiR, Version: 0x20,
			Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagInitiator, MessageID: 7},
			isakmp.NotifyInvalidIKESPI, isakmp.FlagResponse, false},
		{"from original responder", isakmp.Header{InitiatorSPI: spiI, ResponderSPI: spiR, Version: 0x20,
			Exchange: isakmp.ExchangeCreateChildSA, MessageID: 0x01020304},
			isakmp.NotifyInvalidIKESPI, isakmp.FlagResponse | isakmp.FlagInitiator, false},
		{"higher major version", isakmp.Header{InitiatorSPI: spiI, Version: 0x31,
			Exchange: isakmp.ExchangeIKESAInit, Flags: isakmp.FlagInitiator},
			isakmp.NotifyInvalidMajorVersion, isakmp.FlagResponse, false},
		{"response", isakmp.Header{InitiatorSPI: spiI, ResponderSPI: spiR, Version: 0x20,
			Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagResponse, MessageID: 3},
			isakmp.NotifyInvalidIKESPI, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := oneWayResponse(&c.req, c.notify)
			if c.none {
				if b != nil {
					t.Fatalf("a response was answered: %x", b)
				}
				return
			}
			h, n := decodeOneWay(t, b)
			if h.InitiatorSPI != c.req.InitiatorSPI || h.ResponderSPI != c.req.ResponderSPI ||
				h.MessageID != c.req.MessageID || h.Exchange != c.req.Exchange {
				t.Errorf("header %+v does not copy %+v", h, c.req)
			}
			if h.Version != isakmp.VersionIKEv2 || h.Flags != c.wantFlags {
				t.Errorf("version %#x flags %v, want 0x20 and %v", h.Version, h.Flags, c.wantFlags)
			}
			if n.NotifyType != c.notify || len(n.Data) != 0 || len(n.SPI) != 0 || n.Protocol != 0 {
				t.Errorf("notify %+v, want a bare %v", n, c.notify)
			}
		})
	}
}

// TestRateLimit checks the token bucket against a fake clock: a burst of
// max(rate, 1), refill at rate per second, never beyond the burst, and
// nothing for a rate of zero.
func TestRateLimit(t *testing.T) {
	allowN := func(r *rateLimit, now time.Time, n int) int {
		k := 0
		for range n {
			if r.allow(now) {
				k++
			}
		}
		return k
	}
	r := newRateLimit(4)
	if got := allowN(r, t0, 10); got != 4 {
		t.Fatalf("burst: %d allowed, want 4", got)
	}
	if got := allowN(r, t0.Add(500*time.Millisecond), 10); got != 2 {
		t.Fatalf("after 0.5 s at 4/s: %d allowed, want 2", got)
	}
	if got := allowN(r, t0.Add(time.Hour), 10); got != 4 {
		t.Fatalf("after an hour: %d allowed, want the burst of 4", got)
	}
	// A clock that steps back does not mint tokens.
	if got := allowN(r, t0, 10); got != 0 {
		t.Fatalf("clock stepped back: %d allowed", got)
	}
	slow := newRateLimit(0.5)
	if got := allowN(slow, t0, 3); got != 1 {
		t.Fatalf("rate 0.5: burst %d, want 1", got)
	}
	if got := allowN(slow, t0.Add(time.Second), 3); got != 0 {
		t.Fatalf("rate 0.5 after 1 s: %d allowed, want 0", got)
	}
	if got := allowN(slow, t0.Add(2*time.Second), 3); got != 1 {
		t.Fatalf("rate 0.5 after 2 s: %d allowed, want 1", got)
	}
	if got := allowN(newRateLimit(0), t0, 3); got != 0 {
		t.Fatalf("rate 0: %d allowed", got)
	}
}

// withVersion returns a copy of the message b with another Version byte.
func withVersion(b []byte, v uint8) []byte {
	c := append([]byte(nil), b...)
	c[17] = v
	return c
}

// TestAcceptHigherMajorVersion: an IKE_SA_INIT request of IKE version 3
// is answered with INVALID_MAJOR_VERSION in a version 2.0 header (RFC
// 7296 2.5, 1.5) by a session that is already closed; a response of that
// version, or an IKEv1 message, is refused without an answer.
func TestAcceptHigherMajorVersion(t *testing.T) {
	icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	s, err := NewInitiator(icfg, addrI, addrR, t0)
	if err != nil {
		t.Fatal(err)
	}
	req := s.Datagrams()[0]
	r, err := Accept(rcfg, addrR, addrI, t0, withVersion(req, 0x30))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Closed() {
		t.Fatal("state kept for a version 3 request")
	}
	out := r.Datagrams()
	if len(out) != 1 {
		t.Fatalf("%d datagrams, want one answer", len(out))
	}
	var reqH isakmp.Header
	if err := reqH.Parse(req); err != nil {
		t.Fatal(err)
	}
	h, n := decodeOneWay(t, out[0])
	if n.NotifyType != isakmp.NotifyInvalidMajorVersion || h.Version != isakmp.VersionIKEv2 ||
		h.InitiatorSPI != reqH.InitiatorSPI || h.ResponderSPI != ([8]byte{}) ||
		h.Exchange != isakmp.ExchangeIKESAInit || h.Flags != isakmp.FlagResponse {
		t.Fatalf("answer %+v %+v", h, n)
	}
	if len(r.Events()) != 0 {
		t.Fatal("events for a refused version")
	}
	// The initiator gives up on that answer.
	s.Receive(t0, out[0])
	if !s.Closed() {
		t.Fatal("initiator still waiting after INVALID_MAJOR_VERSION")
	}
	var nerr NotifyError
	if ev := findEvent(s.Events(), EventIKEDown); ev == nil || !errors.As(ev.Err, &nerr) ||
		nerr != NotifyError(isakmp.NotifyInvalidMajorVersion) {
		t.Fatalf("initiator events: %v", ev)
	}

	resp := withVersion(req, 0x30)
	resp[19] |= byte(isakmp.FlagResponse)
	if _, err := Accept(rcfg, addrR, addrI, t0, resp); err == nil {
		t.Fatal("a version 3 response was accepted")
	}
	if _, err := Accept(rcfg, addrR, addrI, t0, withVersion(req, 0x10)); err == nil {
		t.Fatal("an IKEv1 message was accepted")
	}
}

// TestInitiatorAuthFailed: when the initiator cannot verify the
// responder's AUTH payload (a wrong pre-shared key for the responder) or
// refuses its credential (as for an untrusted certificate), it sends
// N(AUTHENTICATION_FAILED) in an INFORMATIONAL request protected by the
// new IKE SA (RFC 7296 2.21.2) and deletes the IKE SA; the responder,
// which had accepted the initiator, tears its IKE SA down too.
func TestInitiatorAuthFailed(t *testing.T) {
	const prop, esp = "aes128gcm16-prfsha256-x25519", "aes128gcm16"
	cases := []struct {
		name     string
		peerAuth func(t *testing.T) PeerAuthFunc
	}{
		{"wrong key for the responder", func(t *testing.T) PeerAuthFunc {
			store := auth.NewPSKStore(auth.PSKOptions{})
			if err := store.Add(auth.FQDN("responder.example"), []byte("another secret of decent length!")); err != nil {
				t.Fatal(err)
			}
			return PSKPeers(store)
		}},
		{"credential refused", func(*testing.T) PeerAuthFunc {
			return func(auth.Identity, [][]byte, time.Time) (auth.PeerAuthenticator, error) {
				return nil, errors.New("certificate not trusted")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			icfg := pskConfig(t, true, prop, esp)
			icfg.PeerAuth = c.peerAuth(t)
			p := newPair(t, icfg, pskConfig(t, false, prop, esp))
			p.run()
			if findEvent(p.evI, EventAuthFailed) == nil || !p.i.Closed() {
				t.Fatalf("initiator: events %v, closed %v", kinds(p.evI), p.i.Closed())
			}
			// The last datagram of the initiator is the INFORMATIONAL.
			last := p.wireI[len(p.wireI)-1]
			var h isakmp.Header
			if err := h.Parse(last); err != nil {
				t.Fatal(err)
			}
			if h.Exchange != isakmp.ExchangeInformational || h.MessageID != 2 || h.Flags&isakmp.FlagResponse != 0 {
				t.Fatalf("initiator's last message: %v id %d flags %v", h.Exchange, h.MessageID, h.Flags)
			}
			want := []EventKind{EventIKEUp, EventChildUp, EventAuthFailed, EventChildDeleted, EventIKEDown}
			if got := kinds(p.evR); !equalKinds(got, want) {
				t.Fatalf("responder events %v, want %v", got, want)
			}
			var nerr NotifyError
			if ev := findEvent(p.evR, EventIKEDown); !errors.As(ev.Err, &nerr) ||
				nerr != NotifyError(isakmp.NotifyAuthenticationFailed) {
				t.Fatalf("responder's reason: %v", ev.Err)
			}
			if !p.r.Closed() {
				t.Fatal("responder still open")
			}
			if len(p.wireI) != 3 {
				t.Fatalf("initiator sent %d datagrams, want IKE_SA_INIT, IKE_AUTH, INFORMATIONAL", len(p.wireI))
			}
		})
	}
}

func equalKinds(a, b []EventKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// udpProbe is a plain UDP socket on loopback that talks to an Endpoint.
type udpProbe struct {
	t    *testing.T
	conn *net.UDPConn
	to   netip.AddrPort
}

func (u *udpProbe) send(b []byte) {
	u.t.Helper()
	if _, err := u.conn.WriteToUDPAddrPort(b, u.to); err != nil {
		u.t.Fatal(err)
	}
}

func (u *udpProbe) recv() []byte {
	u.t.Helper()
	buf := make([]byte, 65535)
	if err := u.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		u.t.Fatal(err)
	}
	n, _, err := u.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		u.t.Fatalf("no answer from the endpoint: %v", err)
	}
	return buf[:n]
}

func startEndpoint(t *testing.T, cfg EndpointConfig) (*Endpoint, *udpProbe) {
	lo := netip.MustParseAddr("127.0.0.1")
	cfg.IKEAddr, cfg.NATTAddr = netip.AddrPortFrom(lo, 0), netip.AddrPortFrom(lo, 0)
	ep, err := NewEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	listen(t, ep)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ep.Run(ctx) }()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		conn.Close()
	})
	ikeAddr, _ := ep.Addrs()
	return ep, &udpProbe{t: t, conn: conn, to: ikeAddr}
}

// rawMessage encodes a message with header h and payloads ps.
func rawMessage(t testing.TB, h isakmp.Header, ps ...isakmp.Payload) []byte {
	t.Helper()
	m := isakmp.Message{Header: h, Payloads: ps}
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEndpointUnprotectedErrors: the Endpoint answers a request for an
// unknown IKE SA with INVALID_IKE_SPI and a request of a higher major
// version with INVALID_MAJOR_VERSION (RFC 7296 1.5), never a response,
// and no more than its rate limit allows. A later IKE_SA_INIT without an
// acceptable proposal (answered with NO_PROPOSAL_CHOSEN, outside the
// limit) marks the end of what the endpoint sent, so the test needs no
// timeouts to see that nothing else came.
func TestEndpointUnprotectedErrors(t *testing.T) {
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	other := pskConfig(t, true, "aes256-sha512-modp2048", "aes128gcm16")
	s, err := NewInitiator(other, addrI, addrR, t0)
	if err != nil {
		t.Fatal(err)
	}
	marker := s.Datagrams()[0]
	spiI := [8]byte{0xa, 1, 2, 3, 4, 5, 6, 7}
	spiR := [8]byte{0xb, 1, 2, 3, 4, 5, 6, 7}
	unknownReq := rawMessage(t, isakmp.Header{InitiatorSPI: spiI, ResponderSPI: spiR, Version: 0x20,
		Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagInitiator, MessageID: 7})
	unknownResp := rawMessage(t, isakmp.Header{InitiatorSPI: spiI, ResponderSPI: spiR, Version: 0x20,
		Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagResponse, MessageID: 8})
	v3Req := withVersion(marker, 0x30)
	v3Resp := withVersion(rawMessage(t, isakmp.Header{InitiatorSPI: spiI, Version: 0x20,
		Exchange: isakmp.ExchangeIKESAInit, Flags: isakmp.FlagResponse}), 0x30)

	expectMarker := func(u *udpProbe) {
		t.Helper()
		h, n := decodeOneWay(t, u.recv())
		if n.NotifyType != isakmp.NotifyNoProposalChosen || h.Exchange != isakmp.ExchangeIKESAInit {
			t.Fatalf("got %v in %v, want the NO_PROPOSAL_CHOSEN marker", n.NotifyType, h.Exchange)
		}
	}

	t.Run("answers", func(t *testing.T) {
		_, u := startEndpoint(t, EndpointConfig{Responder: rcfg})
		u.send(unknownResp)
		u.send(v3Resp)
		u.send(unknownReq)
		h, n := decodeOneWay(t, u.recv())
		if n.NotifyType != isakmp.NotifyInvalidIKESPI || h.MessageID != 7 || h.InitiatorSPI != spiI ||
			h.ResponderSPI != spiR || h.Flags != isakmp.FlagResponse {
			t.Fatalf("INVALID_IKE_SPI answer: %+v %v", h, n.NotifyType)
		}
		u.send(v3Req)
		h, n = decodeOneWay(t, u.recv())
		if n.NotifyType != isakmp.NotifyInvalidMajorVersion || h.Version != isakmp.VersionIKEv2 ||
			h.Exchange != isakmp.ExchangeIKESAInit {
			t.Fatalf("INVALID_MAJOR_VERSION answer: %+v %v", h, n.NotifyType)
		}
		u.send(marker)
		expectMarker(u) // the two responses got nothing
	})
	t.Run("rate limit", func(t *testing.T) {
		// A rate of one per 1000 s: a burst of one, and no refill
		// within the test.
		_, u := startEndpoint(t, EndpointConfig{Responder: rcfg, ErrorRate: 0.001})
		u.send(unknownReq)
		u.send(unknownReq)
		u.send(v3Req)
		u.send(marker)
		if _, n := decodeOneWay(t, u.recv()); n.NotifyType != isakmp.NotifyInvalidIKESPI {
			t.Fatalf("first answer %v", n.NotifyType)
		}
		expectMarker(u)
	})
	t.Run("off", func(t *testing.T) {
		_, u := startEndpoint(t, EndpointConfig{Responder: rcfg, ErrorRate: -1})
		u.send(unknownReq)
		u.send(v3Req)
		u.send(marker)
		expectMarker(u)
	})
}

// FuzzOneWayResponse: for any datagram whose header parses, the one-way
// answer is nil for a response and otherwise an IKEv2 response that
// decodes, copies SPIs, Message ID and Exchange Type, and holds one bare
// Notify. Accept on the same bytes never panics, and a version above 2
// never leaves an open session.
func FuzzOneWayResponse(f *testing.F) {
	base := rawMessage(f, isakmp.Header{InitiatorSPI: [8]byte{1}, ResponderSPI: [8]byte{2}, Version: 0x20,
		Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagInitiator, MessageID: 9})
	f.Add(base)
	f.Add(withVersion(base, 0x30))
	f.Add(withVersion(base, 0xf2))
	f.Add(withVersion(base, 0x10))
	resp := bytes.Clone(base)
	resp[19] = byte(isakmp.FlagResponse)
	f.Add(resp)
	f.Add(base[:27])
	s, err := NewInitiator(pskConfig(f, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16"), addrI, addrR, t0)
	if err != nil {
		f.Fatal(err)
	}
	init := s.Datagrams()[0]
	f.Add(init)
	f.Add(withVersion(init, 0x30))
	rcfg := pskConfig(f, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	f.Fuzz(func(t *testing.T, b []byte) {
		var h isakmp.Header
		if h.Parse(b) != nil {
			return
		}
		out := oneWayResponse(&h, isakmp.NotifyInvalidIKESPI)
		if h.Flags&isakmp.FlagResponse != 0 {
			if out != nil {
				t.Fatal("answered a response")
			}
		} else {
			var m isakmp.Message
			if err := m.Decode(out); err != nil {
				t.Fatalf("answer does not decode: %v", err)
			}
			r := m.Header
			if r.InitiatorSPI != h.InitiatorSPI || r.ResponderSPI != h.ResponderSPI || r.MessageID != h.MessageID ||
				r.Exchange != h.Exchange || r.Flags&isakmp.FlagResponse == 0 || len(m.Payloads) != 1 {
				t.Fatalf("answer %+v to %+v", r, h)
			}
		}
		if s, err := Accept(rcfg, addrR, addrI, t0, b); err == nil && h.Major() > isakmp.MajorIKEv2 && !s.Closed() {
			t.Fatal("a session kept for a higher major version")
		}
	})
}

// TestOneWayResponseIgnored: an unprotected INVALID_IKE_SPI answer to an
// outstanding request of an established IKE SA is dropped and counted;
// the request stays outstanding and nothing is sent back (RFC 7296 1.5:
// the receiver must not respond or change state).
func TestOneWayResponseIgnored(t *testing.T) {
	p := establish(t, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	out := p.i.Datagrams()
	if len(out) != 1 {
		t.Fatalf("%d datagrams for the rekey", len(out))
	}
	var h isakmp.Header
	if err := h.Parse(out[0]); err != nil {
		t.Fatal(err)
	}
	for _, nt := range []isakmp.NotifyType{isakmp.NotifyInvalidIKESPI, isakmp.NotifyInvalidMajorVersion} {
		before := p.i.Stats()
		p.i.Receive(p.now, oneWayResponse(&h, nt))
		if p.i.Stats().Dropped != before.Dropped+1 {
			t.Fatalf("%v: not counted as dropped", nt)
		}
		if len(p.i.Datagrams()) != 0 || len(p.i.Events()) != 0 || !p.i.Established() || p.i.sa.req == nil {
			t.Fatalf("%v changed the session", nt)
		}
	}
	// The real answer still completes the rekey.
	p.toR = append(p.toR, out...)
	p.run()
	if findEvent(p.evI, EventIKERekeyed) == nil {
		t.Fatalf("rekey did not complete: %v", kinds(p.evI))
	}
}
