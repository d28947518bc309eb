package ike

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The deterministic in-memory harness: two sessions, a fake clock, and a
// wire that delivers, drops or duplicates datagrams as a test says.

var (
	addrI = netip.MustParseAddrPort("192.0.2.1:500")
	addrR = netip.MustParseAddrPort("192.0.2.2:500")
	netI  = netip.MustParsePrefix("10.1.0.0/16")
	netR  = netip.MustParsePrefix("10.2.0.0/16")
	psk   = []byte("a pre-shared key of decent length")
	t0    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func mustProposals(t testing.TB, s string, proto isakmp.ProtocolID) []Proposal {
	t.Helper()
	p, err := ParseProposals(s, proto)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pskConfig returns a configuration for one side: initiator or responder.
func pskConfig(t testing.TB, initiator bool, ike, esp string) *Config {
	t.Helper()
	local, remote := "initiator.example", "responder.example"
	lnet, rnet := netI, netR
	if !initiator {
		local, remote = remote, local
		lnet, rnet = rnet, lnet
	}
	c := pskConfigWith(t, local, remote, psk, ike, esp)
	c.LocalTS = []isakmp.TrafficSelector{SelectorFromPrefix(lnet)}
	c.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(rnet)}
	return c
}

func pskConfigWith(t testing.TB, local, remote string, secret []byte, ike, esp string) *Config {
	t.Helper()
	key, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewPSKStore(auth.PSKOptions{})
	if err := store.Add(auth.FQDN(remote), secret); err != nil {
		t.Fatal(err)
	}
	return &Config{
		LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote),
		Auth: key, PeerAuth: PSKPeers(store),
		IKEProposals:   mustProposals(t, ike, isakmp.ProtocolIKE),
		ChildProposals: mustProposals(t, esp, isakmp.ProtocolESP),
	}
}

type pair struct {
	t      testing.TB
	now    time.Time
	i, r   *Session
	rcfg   *Config
	evI    []Event
	evR    []Event
	toR    [][]byte // in flight from the initiator
	toI    [][]byte
	filter func(fromInitiator bool, b []byte) (deliver bool)
	// Wire records every datagram, for replay tests.
	wireI, wireR [][]byte
}

func newPair(t testing.TB, icfg, rcfg *Config) *pair {
	t.Helper()
	p := &pair{t: t, now: t0, rcfg: rcfg}
	s, err := NewInitiator(icfg, addrI, addrR, p.now)
	if err != nil {
		t.Fatal(err)
	}
	p.i = s
	p.collect()
	return p
}

func (p *pair) collect() {
	p.evI = append(p.evI, p.i.Events()...)
	for _, d := range p.i.Datagrams() {
		p.wireI = append(p.wireI, bytes.Clone(d))
		p.toR = append(p.toR, d)
	}
	if p.r != nil {
		p.evR = append(p.evR, p.r.Events()...)
		for _, d := range p.r.Datagrams() {
			p.wireR = append(p.wireR, bytes.Clone(d))
			p.toI = append(p.toI, d)
		}
	}
}

// deliverToR hands the responder one datagram (creating it from an
// IKE_SA_INIT request if needed).
func (p *pair) deliverToR(d []byte) {
	if p.r == nil || p.r.Closed() && p.r.sa.state == stateClosed && p.r.sa.spiR == ([8]byte{}) {
		s, err := Accept(p.rcfg, addrR, addrI, p.now, d)
		if err != nil {
			p.t.Fatalf("Accept: %v", err)
		}
		p.r = s
		return
	}
	p.r.Receive(p.now, d)
}

// step delivers everything in flight once; it reports whether anything
// moved.
func (p *pair) step() bool {
	moved := false
	toR, toI := p.toR, p.toI
	p.toR, p.toI = nil, nil
	for _, d := range toR {
		moved = true
		if p.filter == nil || p.filter(true, d) {
			p.deliverToR(d)
		}
	}
	for _, d := range toI {
		moved = true
		if p.filter == nil || p.filter(false, d) {
			p.i.Receive(p.now, d)
		}
	}
	p.collect()
	return moved
}

// run delivers until the wire is quiet.
func (p *pair) run() {
	for i := 0; p.step(); i++ {
		if i > 100 {
			p.t.Fatal("harness: no quiescence after 100 rounds")
		}
	}
}

// advance moves the fake clock to the earlier deadline of the two
// sessions (if it is within limit) and ticks both.
func (p *pair) advance(limit time.Duration) bool {
	end := p.now.Add(limit)
	next := time.Time{}
	for _, s := range []*Session{p.i, p.r} {
		if s == nil {
			continue
		}
		if d := s.Deadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if next.IsZero() || next.After(end) {
		p.now = end
		return false
	}
	if next.After(p.now) {
		p.now = next
	}
	p.i.Tick(p.now)
	if p.r != nil {
		p.r.Tick(p.now)
	}
	// Every timer that was due must have moved on: a deadline that stays
	// in the past would make a driver spin.
	for _, s := range []*Session{p.i, p.r} {
		if s != nil {
			if d := s.Deadline(); !d.IsZero() && !d.After(p.now) {
				p.t.Fatalf("harness: a timer is stuck at %v (now %v): %s", d.Sub(t0), p.now.Sub(t0), timers(s, p.now))
			}
		}
	}
	p.collect()
	return true
}

func kinds(ev []Event) []EventKind {
	var k []EventKind
	for _, e := range ev {
		k = append(k, e.Kind)
	}
	return k
}

func findEvent(ev []Event, k EventKind) *Event {
	for i := range ev {
		if ev[i].Kind == k {
			return &ev[i]
		}
	}
	return nil
}

func countEvents(ev []Event, k EventKind) int {
	n := 0
	for _, e := range ev {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// hasOld reports whether the session still keeps a replaced or pending
// IKE SA.
func hasOld(s *Session) bool { return len(s.retired) > 0 || s.pending != nil }

func newTestPSK(secret []byte) (*auth.PSK, error) { return auth.NewPSK(secret, auth.PSKOptions{}) }

// timers describes a session's timers relative to now, for diagnostics.
func timers(s *Session, now time.Time) string {
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Sub(now).String()
	}
	out := fmt.Sprintf("state %v dpd %s rekeyIKE %s halfOpen %s", s.sa.state, rel(s.dpdAt), rel(s.sa.rekeyAt), rel(s.halfOpenUntil))
	if s.sa.req != nil {
		out += " req " + rel(s.sa.req.timeout)
	}
	for _, o := range s.retired {
		out += " retired " + rel(o.until)
		if o.req != nil {
			out += " retiredreq " + rel(o.req.timeout)
		}
	}
	if s.pending != nil {
		out += " pending"
	}
	for _, c := range s.children {
		out += fmt.Sprintf(" child %x rekeyed=%v rekey %s expire %s", c.sa.InboundSPI, c.rekeyed, rel(c.rekeyAt), rel(c.expireAt))
	}
	return out
}
