package ike

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/isakmp"
)

// TestChildSALimit: with Config.MaxChildSAs 2 the responder takes one
// more CHILD SA after IKE_AUTH's, answers the next request with
// NO_ADDITIONAL_SAS (RFC 7296 1.3) and counts it; a rekey, which
// replaces a CHILD SA, is still answered.
func TestChildSALimit(t *testing.T) {
	icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	rcfg.MaxChildSAs = 2
	p := newPair(t, icfg, rcfg)
	p.run()
	for i, want := range []EventKind{EventChildUp, EventChildFailed} {
		before := len(p.evI)
		if err := p.i.CreateChild(p.now); err != nil {
			t.Fatal(err)
		}
		p.collect()
		p.run()
		ev := findEvent(p.evI[before:], want)
		if ev == nil {
			t.Fatalf("request %d: events %v, want %v", i+1, kinds(p.evI[before:]), want)
		}
		if want == EventChildFailed && !errors.Is(ev.Err, NotifyError(isakmp.NotifyNoAdditionalSAs)) {
			t.Fatalf("refused with %v, want NO_ADDITIONAL_SAS", ev.Err)
		}
	}
	if got := p.r.Stats().NoAdditionalSAs; got != 1 {
		t.Fatalf("NoAdditionalSAs = %d", got)
	}
	before := len(p.evI)
	if err := p.i.RekeyChild(p.now, p.i.ChildSAs()[0].InboundSPI); err != nil {
		t.Fatal(err)
	}
	p.collect()
	p.run()
	if findEvent(p.evI[before:], EventChildRekeyed) == nil {
		t.Fatalf("rekey at the limit: %v", kinds(p.evI[before:]))
	}
}

// TestCertReqBounded: a responder that trusts many CAs sends a CERTREQ
// in its IKE_SA_INIT response only as long as the response stays within
// maxInitAmplification times the request, and counts the trimming.
func TestCertReqBounded(t *testing.T) {
	icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	for i := range 200 {
		rcfg.CertRequestCAs = append(rcfg.CertRequestCAs, &x509.Certificate{RawSubjectPublicKeyInfo: []byte{byte(i), byte(i >> 8)}})
	}
	s, err := NewInitiator(icfg, addrI, addrR, t0)
	if err != nil {
		t.Fatal(err)
	}
	req := s.Datagrams()[0]
	r, err := Accept(rcfg, addrR, addrI, t0, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := r.Datagrams()[0]
	if len(resp) > maxInitAmplification*len(req) {
		t.Fatalf("response %d bytes to a request of %d", len(resp), len(req))
	}
	var m isakmp.Message
	if err := m.Decode(resp); err != nil {
		t.Fatal(err)
	}
	cr := find[*isakmp.CertReq](m.Payloads)
	if cr == nil || len(cr.Data) == 0 || len(cr.Data)%20 != 0 || len(cr.Data) >= 200*20 {
		t.Fatalf("CERTREQ %v", cr)
	}
	if r.Stats().CertReqTrimmed != 1 {
		t.Fatalf("CertReqTrimmed = %d", r.Stats().CertReqTrimmed)
	}
	// A short list goes out whole and is not counted.
	rcfg.CertRequestCAs = rcfg.CertRequestCAs[:2]
	r, _ = Accept(rcfg, addrR, addrI, t0, req)
	if err := m.Decode(r.Datagrams()[0]); err != nil {
		t.Fatal(err)
	}
	if cr := find[*isakmp.CertReq](m.Payloads); cr == nil || len(cr.Data) != 40 || r.Stats().CertReqTrimmed != 0 {
		t.Fatalf("short list: %v, trimmed %d", cr, r.Stats().CertReqTrimmed)
	}
}

// TestTrimRetired: the oldest retired IKE SAs go first.
func TestTrimRetired(t *testing.T) {
	s := v2Session{&Session{sa: &ikeSA{}}}
	var sas []*ikeSA
	for i := range 5 {
		sas = append(sas, &ikeSA{spiI: [8]byte{byte(i + 1)}})
	}
	s.retired = append(s.retired, sas...)
	if n := s.trimRetired(2); n != 3 || len(s.retired) != 2 || s.retired[0] != sas[3] || s.retired[1] != sas[4] {
		t.Fatalf("trimmed %d, left %v", n, s.retired)
	}
	if n := s.trimRetired(2); n != 0 {
		t.Fatalf("trimmed %d more", n)
	}
}

// TestEndpointHalfOpenTimeout: a responder SA that never sees IKE_AUTH
// is dropped after HalfOpenTimeout and counted; its admission slot is
// free again.
func TestEndpointHalfOpenTimeout(t *testing.T) {
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	resp := floodResponder(t, EndpointConfig{Responder: rcfg, HalfOpenTimeout: 100 * time.Millisecond})
	target, _ := resp.Addrs()
	c := floodSockets(t, 5, 1)[0]
	tmpl := initTemplate(t)
	b, _ := tmpl.Append(nil)
	if _, err := c.WriteToUDPAddrPort(b, target); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a half-open SA", func() bool { return resp.Stats().HalfOpen == 1 })
	waitFor(t, "its expiry", func() bool { st := resp.Stats(); return st.HalfOpenExpired == 1 && st.HalfOpen == 0 && st.IKESAs == 0 })
	if st := resp.Stats(); st.Failed != 1 || st.Accepted != 1 {
		t.Fatalf("%+v", st)
	}
}

// TestEndpointConfigForRequest: GetConfigForRequest is asked at the
// first message with the version and addresses; an error is answered
// NO_PROPOSAL_CHOSEN without state, a Config is used for the IKE SA.
func TestEndpointConfigForRequest(t *testing.T) {
	chosen := pskConfig(t, false, floodSuite, "aes128gcm16")
	refuse := netip.MustParseAddr("127.6.0.1")
	var mu sync.Mutex
	var seen []ConfigRequest
	rcfg := pskConfig(t, false, "aes256-sha256-modp2048", "aes128gcm16") // not what the initiator offers
	rcfg.GetConfigForRequest = func(r *ConfigRequest) (*Config, error) {
		mu.Lock()
		seen = append(seen, *r)
		mu.Unlock()
		if r.Remote.Addr() == refuse {
			return nil, errors.New("not from there")
		}
		return chosen, nil
	}
	resp := floodResponder(t, EndpointConfig{Responder: rcfg})
	target, _ := resp.Addrs()
	socks := floodSockets(t, 6, 2)
	icfg := pskConfig(t, true, floodSuite, "aes128gcm16")
	tmpl := initTemplate(t)
	b, _ := tmpl.Append(nil)
	socks[0].WriteToUDPAddrPort(b, target)
	socks[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := socks[0].ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if h, nt := decodeOneWay(t, buf[:n]); nt.NotifyType != isakmp.NotifyNoProposalChosen || h.ResponderSPI != ([8]byte{}) {
		t.Fatalf("refusal: %v, responder SPI %x", nt.NotifyType, h.ResponderSPI)
	}
	if !handshakeOver(t, socks[1], icfg, target) {
		t.Fatal("handshake with the chosen Config failed")
	}
	st := resp.Stats()
	if st.ConfigRefused != 1 || st.Established != 1 || st.HalfOpen != 0 || st.IKESAs != 1 {
		t.Fatalf("%+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Version != IKEv2 || seen[0].Local != target || seen[1].Remote.Addr() != netip.MustParseAddr("127.6.0.2") {
		t.Fatalf("requests seen: %+v", seen)
	}
}

// TestEndpointShutdown: Shutdown deletes the IKE SA (the peer sees it
// go), IKESAs lists it before, Stats counts the handshake, and the
// commands find nothing afterwards.
func TestEndpointShutdown(t *testing.T) {
	icfg := pskConfig(t, true, floodSuite, "aes128gcm16")
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	a, b := newEPPeer(t, nil), newEPPeer(t, rcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.ep.Run(ctx) })
	runA := make(chan error, 1)
	go func() { runA <- a.ep.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	bIKE, _ := b.ep.Addrs()
	spi, err := a.ep.Initiate(ctx, icfg, bIKE, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CHILD SA", func() bool { return a.has(EventChildUp) && b.has(EventChildUp) })
	if l := a.ep.IKESAs(); len(l) != 1 || l[0].SPIi != spi || !l[0].Initiator {
		t.Fatalf("IKESAs: %+v", l)
	}
	if st := a.ep.Stats(); st.Initiated != 1 || st.Established != 1 || st.IKESAs != 1 {
		t.Fatalf("initiator stats %+v", st)
	}
	if st := b.ep.Stats(); st.Accepted != 1 || st.Established != 1 || st.HalfOpen != 0 {
		t.Fatalf("responder stats %+v", st)
	}
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if err := a.ep.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := <-runA; err != nil {
		t.Fatalf("Run after Shutdown: %v", err)
	}
	waitFor(t, "the peer to see the delete", func() bool { return b.has(EventIKEDown) })
	if st := a.ep.Stats(); st.IKESAs != 0 || st.Closed != 1 {
		t.Fatalf("after Shutdown: %+v", st)
	}
	if err := a.ep.CloseIKE(ctx, spi); err == nil {
		t.Fatal("CloseIKE after Shutdown found the IKE SA")
	}
}

// TestEndpointCommands drives an IKE SA through the endpoint's commands:
// CreateChild, RekeyChild, DeleteChild, RekeyIKE (the SA is then found by
// its new SPI too) and CloseIKE, and SendESPBatch over the result.
func TestEndpointCommands(t *testing.T) {
	icfg := pskConfig(t, true, floodSuite, "aes128gcm16")
	icfg.ForceUDPEncap = true
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	a, b := newEPPeer(t, nil), newEPPeer(t, rcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*epPeer{a, b} {
		wg.Go(func() { p.ep.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	bIKE, bNATT := b.ep.Addrs()
	spi, err := a.ep.Initiate(ctx, icfg, bIKE, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *epPeer, k EventKind) int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return countEvents(p.events, k)
	}
	waitFor(t, "CHILD SA", func() bool { return count(a, EventChildUp) == 1 && count(b, EventChildUp) == 1 })
	if err := a.ep.CreateChild(ctx, spi, ChildRequest{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second CHILD SA", func() bool { return count(a, EventChildUp) == 2 && count(b, EventChildUp) == 2 })
	a.mu.Lock()
	first := findEvent(a.events, EventChildUp).Child.InboundSPI
	a.mu.Unlock()
	if err := a.ep.RekeyChild(ctx, spi, first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CHILD rekey", func() bool { return count(a, EventChildRekeyed) == 1 && count(b, EventChildDeleted) == 1 })
	if err := a.ep.DeleteChild(ctx, spi, 12345); err == nil {
		t.Fatal("DeleteChild of an unknown SPI succeeded")
	}
	// Send a batch over the newest CHILD SA.
	a.mu.Lock()
	out := a.out[a.current]
	a.mu.Unlock()
	var pkts [][]byte
	for range 5 {
		pkt, err := out.SealESP(nil, []byte("batched"), 17)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, pkt)
	}
	rb := b.received.Load()
	if n, err := a.ep.SendESPBatch(bNATT, pkts); n != 5 || err != nil {
		t.Fatalf("SendESPBatch: %d, %v", n, err)
	}
	waitFor(t, "the batch", func() bool { return b.received.Load() == rb+5 })

	if err := a.ep.RekeyIKE(ctx, spi); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "IKE rekey", func() bool { return count(a, EventIKERekeyed) == 1 && count(b, EventIKERekeyed) == 1 })
	a.mu.Lock()
	newSPI := findEvent(a.events, EventIKERekeyed).IKE.SPIi
	a.mu.Unlock()
	waitFor(t, "the old SPI to go", func() bool { return a.ep.sessions.get(spi) == nil })
	if err := a.ep.CloseIKE(ctx, newSPI); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delete", func() bool { return a.has(EventIKEDown) && b.has(EventIKEDown) })
	if st := a.ep.Stats(); st.IKESAs != 0 || st.Closed != 1 {
		t.Fatalf("%+v", st)
	}
}

// fakeV1 stands in for an IKEv1 session in the dispatch test: it answers
// every datagram with a bare ISAKMP header carrying both cookies, and is
// established after its third message.
type fakeV1 struct {
	local, remote netip.AddrPort
	mine, peer    [8]byte // our cookie, the peer's
	initiator     bool
	got           [][]byte
	n             atomic.Int32 // len(got), for the test goroutine
	out           [][]byte
	closed        bool
}

func (f *fakeV1) header() []byte {
	h := isakmp.Header{InitiatorSPI: f.peer, ResponderSPI: f.mine, Version: isakmp.VersionIKEv1,
		Exchange: 2, Length: isakmp.HeaderLen}
	if f.initiator {
		h.InitiatorSPI, h.ResponderSPI = f.mine, f.peer
	}
	return h.Append(nil)
}

func (f *fakeV1) Receive(_ time.Time, d []byte) {
	f.got = append(f.got, append([]byte(nil), d...))
	f.n.Add(1)
	if f.initiator {
		f.peer = [8]byte(d[8:16])
	}
	f.out = append(f.out, f.header())
}
func (f *fakeV1) Tick(time.Time)                         {}
func (f *fakeV1) Deadline() time.Time                    { return time.Time{} }
func (f *fakeV1) Datagrams() [][]byte                    { o := f.out; f.out = nil; return o }
func (f *fakeV1) Events() []Event                        { return nil }
func (f *fakeV1) Closed() bool                           { return f.closed }
func (f *fakeV1) Established() bool                      { return len(f.got) >= 3 || f.initiator && len(f.got) >= 1 }
func (f *fakeV1) Path() (netip.AddrPort, netip.AddrPort) { return f.local, f.remote }
func (f *fakeV1) SetPath(l, r netip.AddrPort)            { f.local, f.remote = l, r }
func (f *fakeV1) UDPEncap() bool                         { return false }
func (f *fakeV1) Stats() Stats                           { return Stats{Received: uint64(len(f.got))} }
func (f *fakeV1) localSPIs() [][8]byte                   { return [][8]byte{f.mine} }
func (f *fakeV1) Close(time.Time)                        { f.closed = true }
func (f *fakeV1) CreateChildRequest(time.Time, ChildRequest) error {
	return errors.New("fake")
}
func (f *fakeV1) RekeyChild(time.Time, uint32) error  { return errors.New("fake") }
func (f *fakeV1) DeleteChild(time.Time, uint32) error { return errors.New("fake") }
func (f *fakeV1) RekeyIKE(time.Time) error            { return errors.New("fake") }
func (f *fakeV1) Info() IKESAInfo                     { return IKESAInfo{Initiator: f.initiator} }

// TestEndpointDispatchV1: IKEv1 datagrams (ISAKMP major version 1) go to
// IKEv1 sessions on the same sockets: a first message (zero responder
// cookie) makes a session through the AcceptV1 hook when the Responder
// allows IKEv1, its retransmission finds the same session by (initiator
// cookie, source), later messages find it by our cookie; an initiated
// IKEv1 session is found by our initiator cookie. A responder that
// allows only IKEv2 drops IKEv1 and counts it.
func TestEndpointDispatchV1(t *testing.T) {
	oldAccept, oldInitiate := acceptV1Session, newInitiatorV1Session
	t.Cleanup(func() { acceptV1Session, newInitiatorV1Session = oldAccept, oldInitiate })
	var mu sync.Mutex
	var made []*fakeV1
	acceptV1Session = func(cfg *Config, local, remote netip.AddrPort, now time.Time, d []byte) (session, error) {
		f := &fakeV1{local: local, remote: remote, mine: [8]byte{0xee, byte(len(made) + 1)}, peer: [8]byte(d[:8])}
		f.Receive(now, d)
		mu.Lock()
		made = append(made, f)
		mu.Unlock()
		return f, nil
	}
	newInitiatorV1Session = func(cfg *Config, local, remote netip.AddrPort, now time.Time, req *ChildRequest) (session, error) {
		f := &fakeV1{local: local, remote: remote, mine: [8]byte{0xdd, 1}, initiator: true}
		f.out = append(f.out, f.header())
		mu.Lock()
		made = append(made, f)
		mu.Unlock()
		return f, nil
	}

	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	rcfg.KeyExchange = KeyExchangeAny
	resp := floodResponder(t, EndpointConfig{Responder: rcfg})
	target, _ := resp.Addrs()
	c := floodSockets(t, 7, 1)[0]
	buf := make([]byte, 512)
	exchange := func(h isakmp.Header) isakmp.Header {
		t.Helper()
		h.Version, h.Exchange, h.Length = isakmp.VersionIKEv1, 2, isakmp.HeaderLen
		if _, err := c.WriteToUDPAddrPort(h.Append(nil), target); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		var r isakmp.Header
		if err := r.Parse(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return r
	}
	icookie := [8]byte{0x11, 0x22}
	r1 := exchange(isakmp.Header{InitiatorSPI: icookie})
	r2 := exchange(isakmp.Header{InitiatorSPI: icookie}) // retransmitted first message
	r3 := exchange(isakmp.Header{InitiatorSPI: icookie, ResponderSPI: r1.ResponderSPI})
	if r1.ResponderSPI != r2.ResponderSPI || r3.ResponderSPI != r1.ResponderSPI || r1.InitiatorSPI != icookie {
		t.Fatalf("answers %x %x %x", r1.ResponderSPI, r2.ResponderSPI, r3.ResponderSPI)
	}
	mu.Lock()
	if len(made) != 1 || made[0].n.Load() != 3 {
		t.Fatalf("%d sessions made, first got %d datagrams", len(made), made[0].n.Load())
	}
	mu.Unlock()
	if st := resp.Stats(); st.Established != 1 || st.HalfOpen != 0 || st.IKEv1Dropped != 0 {
		t.Fatalf("%+v", st)
	}

	// Initiating: the peer's answer carries our cookie as the initiator's.
	ctx := context.Background()
	icfg := pskConfig(t, true, floodSuite, "aes128gcm16")
	icfg.KeyExchange = KeyExchangeIKEv1
	peerAddr := c.LocalAddr().(*net.UDPAddr).AddrPort()
	spi, err := resp.Initiate(ctx, icfg, peerAddr, nil)
	if err != nil || spi != ([8]byte{0xdd, 1}) {
		t.Fatalf("Initiate: %x, %v", spi, err)
	}
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	var h isakmp.Header
	if err := h.Parse(buf[:n]); err != nil || h.InitiatorSPI != spi {
		t.Fatalf("first message %+v, %v", h, err)
	}
	h.ResponderSPI = [8]byte{0x77}
	c.WriteToUDPAddrPort(h.Append(nil), target)
	waitFor(t, "the answer to reach the initiated session", func() bool { return resp.Stats().Established == 2 })

	// IKEv2 only: IKEv1 is dropped.
	only2 := floodResponder(t, EndpointConfig{Responder: pskConfig(t, false, floodSuite, "aes128gcm16")})
	o, _ := only2.Addrs()
	h = isakmp.Header{InitiatorSPI: [8]byte{9}, Version: isakmp.VersionIKEv1, Exchange: 2, Length: isakmp.HeaderLen}
	c.WriteToUDPAddrPort(h.Append(nil), o)
	waitFor(t, "the IKEv1 datagram to be dropped", func() bool { return only2.Stats().IKEv1Dropped == 1 })
}

// espOrderRig is an endpoint with two workers and a session, by SPI, in
// worker 1, read by a NAT-T reader that the test drives by hand; ike is
// an IKE datagram (with the non-ESP marker) for that session, esp makes
// an ESP packet carrying s.
func espOrderRig(t *testing.T, cfg EndpointConfig) (e *Endpoint, r *reader, w *worker, ike []byte, esp func(s string) []byte) {
	cfg.IKEAddr, cfg.NATTAddr = netip.MustParseAddrPort("127.0.0.1:500"), netip.MustParseAddrPort("127.0.0.1:4500")
	cfg.Workers = 2
	e, err := NewEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w = e.workers[1]
	spi := [8]byte{0x5e}
	es := w.newEPSession()
	es.closed = true
	e.sessions.put(spi, es)
	ike = append([]byte{0, 0, 0, 0}, rawMessage(t, isakmp.Header{InitiatorSPI: spi, ResponderSPI: [8]byte{1},
		Version: isakmp.VersionIKEv2, Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagResponse})...)
	esp = func(s string) []byte { return append([]byte{0, 0, 1, 0}, s...) }
	return e, &reader{e: e, natt: true}, w, ike, esp
}

// TestEndpointESPOrder: an ESP packet from an address with an IKE
// datagram still queued waits behind it in the same worker, and so does
// the ESP after it until the worker has handed them over (in one batch,
// before it turns to anything else); ESP from elsewhere goes to the
// callback when the read ends; once the worker is done, ESP from the
// address does too.
func TestEndpointESPOrder(t *testing.T) {
	var got []string
	_, r, w, ike, esp := espOrderRig(t, EndpointConfig{
		ESP: func(from netip.AddrPort, pkt []byte) { got = append(got, string(pkt[4:])) }})
	peer, other := netip.MustParseAddrPort("192.0.2.1:4500"), netip.MustParseAddrPort("192.0.2.2:4500")
	r.dispatch(t0, ike, peer, true)
	r.dispatch(t0, esp("held"), peer, true)
	r.dispatch(t0, esp("elsewhere"), other, true)
	r.dispatch(t0, esp("held too"), peer, true)
	r.flushESP() // the read ends
	if len(got) != 1 || got[0] != "elsewhere" || len(w.in) != 3 {
		t.Fatalf("before the IKE datagram: delivered %q, %d queued", got, len(w.in))
	}
	w.process(<-w.in) // the IKE datagram
	w.process(<-w.in) // the ESP packets behind it, gathered
	w.process(<-w.in)
	if len(got) != 1 {
		t.Fatalf("delivered %q before the worker turned to anything else", got)
	}
	r.dispatch(t0, esp("after"), peer, true) // still behind the gathered ones
	if len(w.in) != 1 {
		t.Fatalf("ESP overtook the packets the worker holds: %d queued", len(w.in))
	}
	w.flushESP()
	w.process(<-w.in)
	w.flushESP()
	r.dispatch(t0, esp("direct"), peer, true)
	r.flushESP()
	if want := []string{"elsewhere", "held", "held too", "after", "direct"}; fmt.Sprint(got) != fmt.Sprint(want) || len(w.in) != 0 {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}

// TestEndpointESPBatch: with ESPBatch, the ESP packets of a read go over
// together, in order; an IKE datagram among them first flushes the ESP
// before it, and ESP from its address waits behind it as with ESP.
func TestEndpointESPBatch(t *testing.T) {
	var got [][]string
	e, r, w, ike, esp := espOrderRig(t, EndpointConfig{
		ESP: func(netip.AddrPort, []byte) { t.Error("ESP called with ESPBatch set") },
		ESPBatch: func(from []netip.AddrPort, pkts [][]byte) {
			var call []string
			for i, p := range pkts {
				call = append(call, from[i].Addr().String()+" "+string(p[4:]))
			}
			got = append(got, call)
		}})
	peer, other := netip.MustParseAddrPort("192.0.2.1:4500"), netip.MustParseAddrPort("192.0.2.2:4500")
	// One read: two ESP packets, the IKE datagram, ESP from its sender
	// and from elsewhere.
	r.dispatch(t0, esp("1"), peer, true)
	r.dispatch(t0, esp("2"), other, true)
	if len(got) != 0 {
		t.Fatalf("delivered before the read ended: %q", got)
	}
	r.dispatch(t0, ike, peer, true)
	r.dispatch(t0, esp("held"), peer, true)
	r.dispatch(t0, esp("3"), other, true)
	r.flushESP()
	want := [][]string{{"192.0.2.1 1", "192.0.2.2 2"}, {"192.0.2.2 3"}}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(w.in) != 2 {
		t.Fatalf("delivered %q, want %q; %d queued", got, want, len(w.in))
	}
	w.process(<-w.in) // the IKE datagram
	w.process(<-w.in) // the ESP packet behind it, alone
	w.flushESP()
	want = append(want, []string{"192.0.2.1 held"})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if n := e.Stats().ESPReceived; n != 4 {
		t.Errorf("ESPReceived %d, want 4", n)
	}
}

// TestEndpointResponderCookieJar: when the Responder has its own
// CookieJar, the endpoint's cookies come from it, so a request that
// returns the cookie passes both the endpoint's check and the session's
// (both demand cookies here) and the handshake completes.
func TestEndpointResponderCookieJar(t *testing.T) {
	jar, err := NewCookieJar(0, nil) // the session always demands one
	if err != nil {
		t.Fatal(err)
	}
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	rcfg.Cookies = jar
	resp := floodResponder(t, EndpointConfig{Responder: rcfg})
	resp.adm.halfOpen.Add(1000) // and so does the endpoint
	target, _ := resp.Addrs()
	c := floodSockets(t, 8, 1)[0]
	if !handshakeOver(t, c, pskConfig(t, true, floodSuite, "aes128gcm16"), target) {
		t.Fatalf("handshake failed: %+v", resp.Stats())
	}
	if st := resp.Stats(); st.CookiesSent != 1 || st.CookiesAccepted != 1 || st.Established != 1 {
		t.Fatalf("%+v", st)
	}
}

// TestCookieDuplicateAnswer: two COOKIE answers to a request and its
// retransmission (the same cookie twice) count as one challenge: the
// initiator sends the request with the cookie again instead of running
// out of cookie retries, and the handshake completes (RFC 7296 2.6).
func TestCookieDuplicateAnswer(t *testing.T) {
	jar, err := NewCookieJar(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	rcfg.Cookies = jar
	p := newPair(t, pskConfig(t, true, floodSuite, "aes128gcm16"), rcfg)
	req := p.toR[0]
	p.toR = nil
	// The request and its retransmissions, each challenged statelessly.
	for range 3 {
		r, err := Accept(rcfg, addrR, addrI, p.now, req)
		if err != nil {
			t.Fatal(err)
		}
		p.toI = append(p.toI, r.Datagrams()...)
	}
	p.run()
	if !p.i.Established() || !p.r.Established() {
		t.Fatalf("not established after repeated COOKIE answers: %v", kinds(p.evI))
	}
}

// TestSharedFirstQueue: first messages from the IKE port wait in the queue
// all workers serve. When a request and its retransmission are taken by
// two workers, at the same time or one after the other, one half-open SA
// is made and both are answered with the same response by its worker
// (RFC 7296 2.1); the retransmission's admission reservation is given
// back.
func TestSharedFirstQueue(t *testing.T) {
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	for _, together := range []bool{false, true} {
		e, err := NewEndpoint(EndpointConfig{IKEAddr: netip.MustParseAddrPort("127.0.0.1:500"),
			NATTAddr: netip.MustParseAddrPort("127.0.0.1:4500"), Responder: rcfg, Workers: 2, QueueLen: 8,
			CookieThresholdPerSource: 100, MaxHalfOpenPerSource: 100})
		if err != nil {
			t.Fatal(err)
		}
		r := &reader{e: e}
		const n = 20
		for i := range n {
			req := newPair(t, pskConfig(t, true, floodSuite, "aes128gcm16"), rcfg).toR[0]
			from := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.7"), uint16(1000+i))
			r.dispatch(t0, req, from, false)
			r.dispatch(t0, req, from, false) // before the first is accepted
			if len(e.first) != 2 || len(e.workers[0].first) != 0 || len(e.workers[1].first) != 0 {
				t.Fatalf("first messages queued %d shared, %d and %d per worker; want 2 shared", len(e.first),
					len(e.workers[0].first), len(e.workers[1].first))
			}
			a, b := <-e.first, <-e.first
			if together {
				var wg sync.WaitGroup
				wg.Go(func() { e.workers[0].process(a) })
				wg.Go(func() { e.workers[1].process(b) })
				wg.Wait()
			} else {
				e.workers[0].process(a)
				e.workers[1].process(b)
			}
			// The retransmission went behind the SA to its worker, which
			// may have handed the SA to the other (handOff).
			for len(e.workers[0].in)+len(e.workers[1].in) > 0 {
				for _, w := range e.workers {
					for len(w.in) > 0 {
						w.process(<-w.in)
					}
				}
			}
			var answers [][]byte
			for _, w := range e.workers {
				for _, d := range w.out[0] {
					answers = append(answers, d.b)
				}
				clear(w.out[0])
				w.out[0] = w.out[0][:0]
			}
			if len(answers) != 2 || !bytes.Equal(answers[0], answers[1]) {
				t.Fatalf("together %v: %d answers (equal: %v), want the same answer twice", together, len(answers),
					len(answers) == 2 && bytes.Equal(answers[0], answers[1]))
			}
		}
		if got := e.halfOpen.len(); got != n {
			t.Errorf("together %v: %d half-open SAs for %d requests", together, got, n)
		}
		if got := e.adm.halfOpen.Load(); got != n {
			t.Errorf("together %v: %d half-open reservations held, want %d", together, got, n)
		}
		if got := e.Stats().Accepted; got != n {
			t.Errorf("together %v: %d accepted, want %d", together, got, n)
		}
		if got := len(e.workers[0].list) + len(e.workers[1].list); got != n {
			t.Errorf("together %v: the workers hold %d sessions, want %d", together, got, n)
		}
	}
}

// TestWorkSharing: a worker with a backlog hands half of it, session and
// datagram together, to a worker that waits with an empty queue (share).
// Every request is answered once, by the session's new worker, with the
// answer its first copy got (RFC 7296 2.1); every session is in exactly
// the list and timer heap of the worker its owner pointer names; later
// datagrams go straight to the new worker. A full queue keeps the
// session where it is, and a session that arrives during Shutdown is
// closed.
func TestWorkSharing(t *testing.T) {
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	const n, qlen = 24, 32
	e, err := NewEndpoint(EndpointConfig{IKEAddr: netip.MustParseAddrPort("127.0.0.1:500"),
		NATTAddr: netip.MustParseAddrPort("127.0.0.1:4500"), Responder: rcfg, Workers: 2, QueueLen: qlen,
		CookieThreshold: 1000, CookieThresholdPerSource: 1000, MaxHalfOpenPerSource: 1000})
	if err != nil {
		t.Fatal(err)
	}
	w0, w1 := e.workers[0], e.workers[1]
	r := &reader{e: e}
	answers := func(w *worker) map[[8]byte][]byte {
		m := map[[8]byte][]byte{}
		for _, d := range w.out[0] {
			if _, dup := m[[8]byte(d.b)]; dup {
				t.Fatalf("worker %d answered SA %x twice", w.id, d.b[:8])
			}
			m[[8]byte(d.b)] = d.b
		}
		clear(w.out[0])
		w.out[0] = w.out[0][:0]
		return m
	}
	// n half-open SAs, all made by worker 0.
	var reqs [][]byte
	var froms []netip.AddrPort
	for i := range n {
		reqs = append(reqs, newPair(t, pskConfig(t, true, floodSuite, "aes128gcm16"), rcfg).toR[0])
		froms = append(froms, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.9"), uint16(2000+i)))
		r.dispatch(t0, reqs[i], froms[i], false)
	}
	for len(e.first) > 0 {
		w0.process(<-e.first)
	}
	first := answers(w0)
	if len(first) != n || len(w0.list) != n {
		t.Fatalf("worker 0 answered %d first messages and holds %d SAs, want %d", len(first), len(w0.list), n)
	}
	retransmit := func() {
		for i := range n {
			r.dispatch(t0, reqs[i], froms[i], false)
		}
	}
	check := func(phase string) {
		t.Helper()
		seen := map[*epSession]bool{}
		for _, w := range e.workers {
			for i, es := range w.list {
				if es.w.Load() != w || es.listIndex != i || seen[es] {
					t.Fatalf("%s: worker %d's list entry %d: owner %p (want %p), index %d, listed before %v",
						phase, w.id, i, es.w.Load(), w, es.listIndex, seen[es])
				}
				seen[es] = true
			}
			heaped := 0
			for i, es := range w.timers {
				if es.w.Load() != w || es.heapIndex != i || es.listIndex < 0 || w.list[es.listIndex] != es {
					t.Fatalf("%s: worker %d's timer %d is not one of its sessions", phase, w.id, i)
				}
				heaped++
			}
			if heaped != len(w.list) {
				t.Fatalf("%s: worker %d has %d timers for %d half-open SAs", phase, w.id, heaped, len(w.list))
			}
		}
		if len(seen) != n {
			t.Fatalf("%s: the workers hold %d SAs, want %d", phase, len(seen), n)
		}
	}

	// Worker 1 waits with nothing to do; worker 0 has n retransmissions.
	retransmit()
	w1.hungry.Store(true)
	for len(w0.in) > 0 {
		w0.process(<-w0.in)
	}
	moved := int(e.Stats().Moved)
	if moved != (n-1)/2 || len(w1.in) != moved || w1.hungry.Load() {
		t.Fatalf("moved %d SAs (queued for worker 1: %d, still hungry: %v); want (n-1)/2 = %d: half of the backlog behind the first",
			moved, len(w1.in), w1.hungry.Load(), (n-1)/2)
	}
	for len(w1.in) > 0 {
		w1.process(<-w1.in)
	}
	check("after sharing")
	if len(w1.list) != moved {
		t.Fatalf("worker 1 holds %d SAs, want the %d moved", len(w1.list), moved)
	}
	got := answers(w0)
	for k, v := range answers(w1) {
		got[k] = v
	}
	for k, v := range first {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("SA %x: the retransmission got another answer than the request (or none)", k)
		}
	}
	if len(got) != n {
		t.Fatalf("%d answers to %d retransmissions", len(got), n)
	}

	// The next datagrams go straight to each SA's new worker.
	retransmit()
	if len(w0.in) != n-moved || len(w1.in) != moved {
		t.Fatalf("retransmissions queued %d and %d, want %d and %d", len(w0.in), len(w1.in), n-moved, moved)
	}
	for _, w := range e.workers {
		for len(w.in) > 0 {
			w.process(<-w.in)
		}
		answers(w)
	}

	// A full queue: the session stays, and the worker stops giving.
	retransmit()
	for len(w1.in) < qlen {
		w1.in <- item{kind: itemESP}
	}
	w0.giving, w0.givingTo = 1, w1
	w0.process(<-w0.in)
	if e.Stats().Moved != uint64(moved) || w0.giving != 0 {
		t.Fatalf("moved %d SAs (want %d) with a full queue; still giving %d", e.Stats().Moved, moved, w0.giving)
	}
	for _, w := range e.workers {
		for len(w.in) > 0 {
			if it := <-w.in; it.kind != itemESP {
				w.process(it)
			}
		}
		if got := len(answers(w)); got != len(w.list) {
			t.Fatalf("worker %d answered %d of its %d SAs' retransmissions", w.id, got, len(w.list))
		}
	}
	check("after a full queue")

	// SAs handed over during Shutdown are closed on arrival.
	retransmit()
	for len(w1.in) > 0 {
		w1.process(<-w1.in)
	}
	w1.hungry.Store(true)
	w0.process(<-w0.in)
	w0.process(<-w0.in)
	if got := int(e.Stats().Moved) - moved; got != 2 || len(w1.in) != 2 {
		t.Fatalf("moved %d SAs (queued %d), want 2", got, len(w1.in))
	}
	e.shuttingDown.Store(true)
	var arrived []*epSession
	for len(w1.in) > 0 {
		it := <-w1.in
		arrived = append(arrived, it.es)
		w1.process(it)
	}
	for _, es := range arrived {
		if !es.closed || es.listIndex >= 0 || es.heapIndex >= 0 {
			t.Fatalf("an SA that arrived during Shutdown: closed %v, listed %v, timer %v", es.closed, es.listIndex >= 0, es.heapIndex >= 0)
		}
	}
	if len(w1.list) != moved || e.halfOpen.len() != n-2 {
		t.Fatalf("worker 1 holds %d SAs (want %d); %d half-open (want %d)", len(w1.list), moved, e.halfOpen.len(), n-2)
	}
}

// TestWorkSharingRunning: with the endpoint running, the worker with
// more IKE SAs is held while the initiator rekeys every IKE SA, so that
// its requests queue up there while the other worker answers its own and
// runs dry; released, the held worker hands IKE SAs to the idle one
// (under -race: concurrently with both workers, the readers and
// commands). Every rekey completes, commands find the moved IKE SAs by
// their new SPIs, a second round reaches them at their new worker, and
// Shutdown deletes them all.
func TestWorkSharingRunning(t *testing.T) {
	const n = 48
	icfg := pskConfig(t, true, floodSuite, "aes128gcm16")
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	a, b := newEPPeer(t, nil), &epPeer{in: map[uint32]*esp.SA{}, out: map[uint32]*esp.SA{}}
	lo := netip.MustParseAddr("127.0.0.1")
	var err error
	if b.ep, err = NewEndpoint(EndpointConfig{IKEAddr: netip.AddrPortFrom(lo, 0), NATTAddr: netip.AddrPortFrom(lo, 0),
		Responder: rcfg, Events: b.onEvent, PeerNATT: testPeerNATT, Workers: 2,
		CookieThreshold: 1000, CookieThresholdPerSource: 1000, MaxHalfOpenPerSource: 1000}); err != nil {
		t.Fatal(err)
	}
	listen(t, b.ep)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*epPeer{a, b} {
		wg.Go(func() { p.ep.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	bIKE, _ := b.ep.Addrs()
	var spis [][8]byte // the initiator's
	for range n {
		spi, err := a.ep.Initiate(ctx, icfg, bIKE, nil)
		if err != nil {
			t.Fatal(err)
		}
		spis = append(spis, spi)
	}
	events := func(p *epPeer, k EventKind) (l []Event) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, ev := range p.events {
			if ev.Kind == k {
				l = append(l, ev)
			}
		}
		return l
	}
	// newSPIs returns this side's SPIs of the IKE SAs rekeyed so far.
	newSPIs := func(p *epPeer, initiator bool) (l [][8]byte) {
		for _, ev := range events(p, EventIKERekeyed) {
			if initiator {
				l = append(l, ev.IKE.SPIi)
			} else {
				l = append(l, ev.IKE.SPIr)
			}
		}
		return l
	}
	waitFor(t, "IKE SAs", func() bool { return len(events(a, EventIKEUp)) == n && len(events(b, EventIKEUp)) == n })
	for round := 1; round <= 2; round++ {
		held, other := b.ep.workers[0], b.ep.workers[1]
		if listed(t, other) > listed(t, held) {
			held, other = other, held
		}
		release, holding := make(chan struct{}), make(chan struct{})
		var once sync.Once
		free := func() { once.Do(func() { close(release) }) }
		t.Cleanup(free) // before the endpoints stop
		go held.post(ctx, func(time.Time) { close(holding); <-release })
		<-holding
		for _, spi := range spis {
			if err := a.ep.RekeyIKE(ctx, spi); err != nil {
				t.Fatal(err)
			}
		}
		// The other worker answers its own IKE SAs and waits, hungry; the
		// held one's requests wait in its queue.
		deadline := time.Now().Add(10 * time.Second)
		for len(newSPIs(b, false))+len(held.in) < round*n || !other.hungry.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d rekeyed, %d queued at the held worker, the other hungry: %v; want %d in all",
					round, len(newSPIs(b, false))-(round-1)*n, len(held.in), other.hungry.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
		if len(held.in) <= shareMin {
			t.Fatalf("round %d: %d requests queued at the held worker, want more than %d", round, len(held.in), shareMin)
		}
		before := b.ep.Stats().Moved
		free()
		waitFor(t, "every rekey", func() bool { return len(newSPIs(a, true)) == round*n && len(newSPIs(b, false)) == round*n })
		if b.ep.Stats().Moved == before {
			t.Fatalf("round %d: no IKE SA moved to the idle worker", round)
		}
		// Commands find the IKE SAs wherever they are now.
		for _, spi := range newSPIs(b, false)[(round-1)*n:] {
			if err := b.ep.Session(ctx, spi, func(time.Time, *Session) {}); err != nil {
				t.Fatalf("round %d: a command for IKE SA %x: %v", round, spi, err)
			}
		}
		spis = newSPIs(a, true)[(round-1)*n:]
	}
	if st := b.ep.Stats(); st.Failed != 0 || st.QueueDrops != 0 || st.IKESAs != n {
		t.Fatalf("failed %d, queue drops %d, %d IKE SAs (want %d)", st.Failed, st.QueueDrops, st.IKESAs, n)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := b.ep.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v (%d IKE SAs left)", err, b.ep.Stats().IKESAs)
	}
}

// listed returns how many IKE SAs w holds, asked in its goroutine.
func listed(t *testing.T, w *worker) int {
	var n int
	if err := w.post(context.Background(), func(time.Time) { n = len(w.list) }); err != nil {
		t.Fatal(err)
	}
	return n
}
