package ipsec

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Addresses of the two IKE peers (RFC 5737 documentation addresses: the
// tests run in memory and send nothing) and of the networks behind them.
var (
	addrI = netip.MustParseAddrPort("192.0.2.1:500")
	addrR = netip.MustParseAddrPort("198.51.100.1:500")
	netI  = netip.MustParsePrefix("10.1.0.0/16")
	netR  = netip.MustParsePrefix("10.2.0.0/16")
	hostI = netip.MustParseAddr("10.1.0.5")
	hostR = netip.MustParseAddr("10.2.0.7")
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ikeConfig returns one side's PSK configuration with the given IKE and
// CHILD proposals in strongSwan syntax.
func ikeConfig(t testing.TB, initiator bool, ikeProps, childProps string, proto isakmp.ProtocolID, mode ike.Mode) *ike.Config {
	t.Helper()
	local, remote := "gw-a.example", "gw-b.example"
	lnet, rnet := netI, netR
	if !initiator {
		local, remote, lnet, rnet = remote, local, rnet, lnet
	}
	secret := []byte("a pre-shared key of thirty-two b")
	key, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewPSKStore(auth.PSKOptions{})
	if err := store.Add(auth.FQDN(remote), secret); err != nil {
		t.Fatal(err)
	}
	ip, err := ike.ParseProposals(ikeProps, isakmp.ProtocolIKE)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ike.ParseProposals(childProps, proto)
	if err != nil {
		t.Fatal(err)
	}
	return &ike.Config{
		LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote),
		Auth: key, PeerAuth: ike.PSKPeers(store),
		IKEProposals: ip, ChildProposals: cp,
		LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(lnet)},
		RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(rnet)},
		Mode:     mode,
	}
}

// pair runs an initiator and a responder session in memory, one datagram
// at a time, so that tests can look at the state between any two.
type pair struct {
	t        testing.TB
	now      time.Time
	rcfg     *ike.Config
	i, r     *ike.Session
	toR, toI [][]byte
	evI, evR []ike.Event
	onEvent  func(initiator bool, ev ike.Event) // optional, called as events appear
	// beforeDeliver, if set, runs before a datagram is handed to a side.
	beforeDeliver func(toInitiator bool)
	deliveries    int
}

func newPair(t testing.TB, icfg, rcfg *ike.Config) *pair {
	t.Helper()
	p := &pair{t: t, now: t0, rcfg: rcfg}
	s, err := ike.NewInitiator(icfg, addrI, addrR, p.now)
	if err != nil {
		t.Fatal(err)
	}
	p.i = s
	p.collect()
	return p
}

func (p *pair) collect() {
	for _, ev := range p.i.Events() {
		p.evI = append(p.evI, ev)
		if p.onEvent != nil {
			p.onEvent(true, ev)
		}
	}
	p.toR = append(p.toR, p.i.Datagrams()...)
	if p.r == nil {
		return
	}
	for _, ev := range p.r.Events() {
		p.evR = append(p.evR, ev)
		if p.onEvent != nil {
			p.onEvent(false, ev)
		}
	}
	p.toI = append(p.toI, p.r.Datagrams()...)
}

// deliverOne hands the oldest datagram in flight (to the responder first)
// to its receiver; it reports whether there was one.
func (p *pair) deliverOne() bool {
	p.t.Helper()
	switch {
	case len(p.toR) > 0 && p.beforeDeliver != nil:
		p.beforeDeliver(false)
	case len(p.toI) > 0 && p.beforeDeliver != nil:
		p.beforeDeliver(true)
	}
	switch {
	case len(p.toR) > 0:
		d := p.toR[0]
		p.toR = p.toR[1:]
		if p.r == nil {
			s, err := ike.Accept(p.rcfg, addrR, addrI, p.now, d)
			if err != nil {
				p.t.Fatalf("Accept: %v", err)
			}
			p.r = s
		} else {
			p.r.Receive(p.now, d)
		}
	case len(p.toI) > 0:
		d := p.toI[0]
		p.toI = p.toI[1:]
		p.i.Receive(p.now, d)
	default:
		return false
	}
	p.deliveries++
	p.collect()
	return true
}

// run delivers until nothing is in flight, calling between (if not nil)
// after every datagram.
func (p *pair) run(between func()) {
	p.t.Helper()
	for n := 0; p.deliverOne(); n++ {
		if n > 200 {
			p.t.Fatal("no quiescence after 200 datagrams")
		}
		if between != nil {
			between()
		}
	}
}

// session runs f on one side and collects what it produced.
func (p *pair) session(initiator bool, f func(s *ike.Session)) {
	if initiator {
		f(p.i)
	} else {
		f(p.r)
	}
	p.collect()
}

// last returns the last event of kind k on one side, or nil.
func last(evs []ike.Event, k ike.EventKind) *ike.Event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == k {
			return &evs[i]
		}
	}
	return nil
}

// count returns how many events of kind k there are.
func count(evs []ike.Event, k ike.EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// negotiate brings up an IKE SA and its first CHILD SA and returns both
// sides' view of the CHILD SA.
func negotiate(t testing.TB, childProps string, proto isakmp.ProtocolID, mode ike.Mode) (p *pair, ci, cr *ike.ChildSA) {
	t.Helper()
	const ikeProps = "aes256gcm16-prfsha256-x25519"
	p = newPair(t, ikeConfig(t, true, ikeProps, childProps, proto, mode),
		ikeConfig(t, false, ikeProps, childProps, proto, mode))
	p.run(nil)
	ei, er := last(p.evI, ike.EventChildUp), last(p.evR, ike.EventChildUp)
	if ei == nil || er == nil {
		t.Fatalf("no CHILD SA: initiator %v, responder %v", p.evI, p.evR)
	}
	return p, ei.Child, er.Child
}

// udp4 builds an IPv4/UDP packet from src to dst carrying payload.
func udp4(src, dst netip.Addr, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], 4000)
	binary.BigEndian.PutUint16(p[22:], 5000)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}
