package ike

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/isakmp"
)

// epPeer is one side of the loopback endpoint test: an Endpoint and the
// ESP SAs installed from its events.
type epPeer struct {
	ep       *Endpoint
	mu       sync.Mutex
	events   []Event
	in, out  map[uint32]*esp.SA // by SPI
	current  uint32             // outbound SPI in use
	received atomic.Int64
	got      chan struct{}
}

func newEPPeer(t *testing.T, responder *Config) *epPeer {
	p := &epPeer{in: map[uint32]*esp.SA{}, out: map[uint32]*esp.SA{}, got: make(chan struct{}, 100)}
	lo := netip.MustParseAddr("127.0.0.1")
	ep, err := NewEndpoint(EndpointConfig{
		IKEAddr: netip.AddrPortFrom(lo, 0), NATTAddr: netip.AddrPortFrom(lo, 0), Responder: responder,
		Events: p.onEvent, PeerNATT: testPeerNATT,
		ESP: func(from netip.AddrPort, pkt []byte) {
			if len(pkt) < 8 {
				return
			}
			spi := uint32(pkt[0])<<24 | uint32(pkt[1])<<16 | uint32(pkt[2])<<8 | uint32(pkt[3])
			p.mu.Lock()
			sa := p.in[spi]
			p.mu.Unlock()
			if sa == nil {
				return
			}
			if _, _, err := sa.OpenESP(pkt); err == nil {
				p.received.Add(1)
				p.got <- struct{}{}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	listen(t, ep)
	p.ep = ep
	return p
}

// testNATTPorts maps the IKE address of every endpoint a test listens
// with to its NAT-T address: on loopback both ports are the kernel's
// choice, not 500 and 4500.
var testNATTPorts sync.Map

// listen binds ep and registers its NAT-T address for testPeerNATT.
func listen(t testing.TB, ep *Endpoint) {
	t.Helper()
	if err := ep.Listen(); err != nil {
		t.Fatal(err)
	}
	ike, natt := ep.Addrs()
	testNATTPorts.Store(ike, natt)
	t.Cleanup(func() { testNATTPorts.Delete(ike) })
}

// testPeerNATT is EndpointConfig.PeerNATT for test endpoints.
func testPeerNATT(peer netip.AddrPort) netip.AddrPort {
	if v, ok := testNATTPorts.Load(peer); ok {
		return v.(netip.AddrPort)
	}
	return netip.AddrPort{}
}

func (p *epPeer) onEvent(ev Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, ev)
	switch ev.Kind {
	case EventChildUp, EventChildRekeyed:
		in, out := espConfigs(ev.Child)
		in.EncapSrcPort, in.EncapDstPort = ev.Child.EncapRemotePort, ev.Child.EncapLocalPort
		out.EncapSrcPort, out.EncapDstPort = ev.Child.EncapLocalPort, ev.Child.EncapRemotePort
		if a, err := esp.NewSA(in); err == nil {
			p.in[in.SPI] = a
		}
		if a, err := esp.NewSA(out); err == nil {
			p.out[out.SPI] = a
			p.current = out.SPI
		}
	case EventChildDeleted:
		delete(p.in, ev.Child.InboundSPI)
		delete(p.out, ev.Child.OutboundSPI)
	}
}

func (p *epPeer) has(k EventKind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return findEvent(p.events, k) != nil
}

func (p *epPeer) send(t *testing.T, to netip.AddrPort) {
	p.mu.Lock()
	sa := p.out[p.current]
	p.mu.Unlock()
	if sa == nil {
		t.Fatal("no outbound SA")
	}
	pkt, err := sa.SealESP(nil, []byte("datagram between the protected subnets"), 17)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ep.SendESP(to, pkt); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exchange sends n packets each way and waits until they have arrived.
func exchange(t *testing.T, a, b *epPeer, n int) {
	_, aNATT := a.ep.Addrs()
	_, bNATT := b.ep.Addrs()
	ra, rb := a.received.Load(), b.received.Load()
	for i := 0; i < n; i++ {
		a.send(t, bNATT)
		b.send(t, aNATT)
	}
	waitFor(t, "ESP packets", func() bool {
		return a.received.Load() == ra+int64(n) && b.received.Load() == rb+int64(n)
	})
}

// TestEndpointLoopback runs two endpoints on loopback UDP: the initiator
// forces NAT-T, so IKE_AUTH moves to the NAT-T socket with the non-ESP
// marker and ESP travels UDP-encapsulated. Packets cross the CHILD SA
// both ways, before and after a CHILD SA rekey with PFS; then the IKE SA
// is deleted and Run stops with its context.
func TestEndpointLoopback(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
	icfg.ForceUDPEncap = true
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519")
	a, b := newEPPeer(t, nil), newEPPeer(t, rcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*epPeer{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.ep.Run(ctx); err != context.Canceled {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	bIKE, bNATT := b.ep.Addrs()
	spi, err := a.ep.Initiate(ctx, icfg, bIKE, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CHILD SA", func() bool { return a.has(EventChildUp) && b.has(EventChildUp) })
	a.mu.Lock()
	ev := findEvent(a.events, EventChildUp)
	a.mu.Unlock()
	if ev.Child.EncapLocalPort == 0 || ev.Child.EncapRemotePort != bNATT.Port() || !ev.IKE.LocalNAT {
		t.Fatalf("not UDP-encapsulated: %+v / %+v", ev.Child, ev.IKE)
	}
	exchange(t, a, b, 5)

	if err := a.ep.Session(ctx, spi, func(now time.Time, s *Session) {
		s.RekeyChild(now, s.ChildSAs()[0].InboundSPI)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "rekey", func() bool {
		return a.has(EventChildRekeyed) && b.has(EventChildRekeyed) && a.has(EventChildDeleted) && b.has(EventChildDeleted)
	})
	exchange(t, a, b, 5)

	if err := a.ep.Session(ctx, spi, func(now time.Time, s *Session) { s.Close(now) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delete", func() bool { return a.has(EventIKEDown) && b.has(EventIKEDown) })
	if err := a.ep.Session(ctx, spi, func(time.Time, *Session) {}); err == nil {
		t.Fatal("closed session still registered")
	}
}

// TestEndpointInitialContact: a peer that comes back with INITIAL_CONTACT
// replaces its older IKE SA at the responder (RFC 7296 2.4).
func TestEndpointInitialContact(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	icfg.InitialContact = true
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	a, b := newEPPeer(t, nil), newEPPeer(t, rcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*epPeer{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); p.ep.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	bIKE, _ := b.ep.Addrs()
	count := func(p *epPeer, k EventKind) int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return countEvents(p.events, k)
	}
	if _, err := a.ep.Initiate(ctx, icfg, bIKE, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first IKE SA", func() bool { return count(b, EventIKEUp) == 1 })
	if _, err := a.ep.Initiate(ctx, icfg, bIKE, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second IKE SA", func() bool { return count(b, EventIKEUp) == 2 })
	waitFor(t, "the first IKE SA replaced", func() bool { return count(b, EventIKEDown) == 1 })
	b.mu.Lock()
	down := findEvent(b.events, EventIKEDown)
	b.mu.Unlock()
	if !errors.Is(down.Err, errReplaced) {
		t.Fatalf("IKE down: %v", down.Err)
	}
}

// TestEndpointPathNeedsAuthentication: a datagram with a session's SPIs
// but no valid integrity check, arriving on the NAT-T socket from another
// address, does not move the session there (RFC 7296 2.23).
func TestEndpointPathNeedsAuthentication(t *testing.T) {
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	a, b := newEPPeer(t, nil), newEPPeer(t, rcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*epPeer{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); p.ep.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	bIKE, bNATT := b.ep.Addrs()
	spi, err := a.ep.Initiate(ctx, icfg, bIKE, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CHILD SA", func() bool { return a.has(EventChildUp) && b.has(EventChildUp) })
	var rSPI [8]byte
	var before netip.AddrPort
	a.ep.Session(ctx, spi, func(_ time.Time, s *Session) { _, rSPI = s.SPIs() })
	b.ep.Session(ctx, rSPI, func(_ time.Time, s *Session) { _, before = s.Path() })

	// A forged INFORMATIONAL from a third socket: right SPIs, garbage SK.
	forger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	h := isakmp.Header{InitiatorSPI: spi, ResponderSPI: rSPI, Version: isakmp.VersionIKEv2,
		Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagInitiator, MessageID: 7}
	m := isakmp.Message{Header: h, Payloads: []isakmp.Payload{&isakmp.Encrypted{Data: make([]byte, 40)}}}
	msg, _ := m.Append([]byte{0, 0, 0, 0})
	if _, err := forger.WriteToUDPAddrPort(msg, bNATT); err != nil {
		t.Fatal(err)
	}
	var dropped uint64
	waitFor(t, "the forgery to be dropped", func() bool {
		b.ep.Session(ctx, rSPI, func(_ time.Time, s *Session) { dropped = s.Stats().IntegrityFailures + s.Stats().Dropped })
		return dropped > 0
	})
	var after netip.AddrPort
	b.ep.Session(ctx, rSPI, func(_ time.Time, s *Session) { _, after = s.Path() })
	if after != before {
		t.Fatalf("path moved from %v to %v on an unauthenticated message", before, after)
	}
}

// TestEndpointWorkerDescriptors: each worker sends with a descriptor of
// the IKE and NAT-T sockets of its own where the platform can make one
// (so that workers do not queue for one descriptor's write lock), bound to
// the same address, and Close closes them all.
func TestEndpointWorkerDescriptors(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	ep, err := NewEndpoint(EndpointConfig{IKEAddr: netip.AddrPortFrom(lo, 0), NATTAddr: netip.AddrPortFrom(lo, 0), Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := ep.Listen(); err != nil {
		t.Fatal(err)
	}
	if len(ep.ikeFDs) != 3 || len(ep.nattFDs) != 3 {
		t.Fatalf("%d and %d descriptors, want one of each socket per worker", len(ep.ikeFDs), len(ep.nattFDs))
	}
	for i := range 3 {
		for _, p := range []struct {
			fd   *batchConn
			sock *net.UDPConn
		}{{ep.ikeFDs[i], ep.ike}, {ep.nattFDs[i], ep.natt}} {
			if got, want := p.fd.c.LocalAddr().String(), p.sock.LocalAddr().String(); got != want {
				t.Errorf("worker %d: descriptor bound to %s, want %s", i, got, want)
			}
			if len(ep.dups) > 0 && p.fd.c == p.sock {
				t.Errorf("worker %d: shares the socket's descriptor although dups are made", i)
			}
		}
	}
	ep.Close()
	for _, c := range ep.dups {
		if _, err := c.WriteToUDPAddrPort([]byte{0}, netip.AddrPortFrom(lo, 9)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("descriptor still open after Close: %v", err)
		}
	}
}
