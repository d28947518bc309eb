package ike

import (
	"bytes"
	"testing"
	"time"
)

// The IKEv1 in-memory harness: two SessionV1 values, a fake clock, and a
// wire that delivers or drops datagrams as a test says (the IKEv2 pair's
// twin).

func pskConfigV1(t testing.TB, initiator bool, ike, esp string) *Config {
	t.Helper()
	c := pskConfig(t, initiator, ike, esp)
	c.KeyExchange = KeyExchangeIKEv1
	return c
}

type pairV1 struct {
	t      testing.TB
	now    time.Time
	i, r   *SessionV1
	rcfg   *Config
	evI    []Event
	evR    []Event
	toR    [][]byte
	toI    [][]byte
	filter func(fromInitiator bool, b []byte) (deliver bool)
	// rewrite, if set, replaces a datagram in flight.
	rewrite func(fromInitiator bool, b []byte) []byte
	wireI   [][]byte
	wireR   [][]byte
	// acceptErr is the error of AcceptV1, if it failed.
	acceptErr error
}

func newPairV1(t testing.TB, icfg, rcfg *Config) *pairV1 {
	t.Helper()
	p := &pairV1{t: t, now: t0, rcfg: rcfg}
	s, err := NewInitiatorV1(icfg, addrI, addrR, p.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.i = s
	p.collect()
	return p
}

func (p *pairV1) collect() {
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

func (p *pairV1) deliverToR(d []byte) {
	if p.r == nil {
		s, err := AcceptV1(p.rcfg, addrR, addrI, p.now, d)
		if err != nil {
			p.acceptErr = err
			return
		}
		p.r = s
		return
	}
	p.r.Receive(p.now, d)
}

func (p *pairV1) step() bool {
	moved := false
	toR, toI := p.toR, p.toI
	p.toR, p.toI = nil, nil
	for _, d := range toR {
		moved = true
		if p.rewrite != nil {
			d = p.rewrite(true, d)
		}
		if p.filter == nil || p.filter(true, d) {
			p.deliverToR(d)
		}
	}
	for _, d := range toI {
		moved = true
		if p.rewrite != nil {
			d = p.rewrite(false, d)
		}
		if p.filter == nil || p.filter(false, d) {
			p.i.Receive(p.now, d)
		}
	}
	p.collect()
	return moved
}

func (p *pairV1) run() {
	for i := 0; p.step(); i++ {
		if i > 100 {
			p.t.Fatal("harness: no quiescence after 100 rounds")
		}
	}
}

// advance moves the clock to the earlier deadline (within limit), ticks
// both sessions and checks that no timer is stuck in the past.
func (p *pairV1) advance(limit time.Duration) bool {
	end := p.now.Add(limit)
	next := time.Time{}
	for _, s := range []*SessionV1{p.i, p.r} {
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
	for _, s := range []*SessionV1{p.i, p.r} {
		if s != nil {
			if d := s.Deadline(); !d.IsZero() && !d.After(p.now) {
				p.t.Fatalf("harness: a timer is stuck at %v (now %v)", d.Sub(t0), p.now.Sub(t0))
			}
		}
	}
	p.collect()
	return true
}

// runFor alternates delivery and timers for d of fake time.
func (p *pairV1) runFor(d time.Duration) {
	end := p.now.Add(d)
	for i := 0; p.now.Before(end); i++ {
		if i > 10000 {
			p.t.Fatal("harness: too many steps")
		}
		p.run()
		if !p.advance(end.Sub(p.now)) {
			p.run()
			return
		}
	}
}

func establishV1(t testing.TB, icfg, rcfg *Config) *pairV1 {
	t.Helper()
	p := newPairV1(t, icfg, rcfg)
	p.run()
	if !p.i.Established() || p.r == nil || !p.r.Established() {
		t.Fatalf("not established: initiator %v, responder %v (accept: %v)", kinds(p.evI), kindsOr(p.r, p.evR), p.acceptErr)
	}
	return p
}

func kindsOr(s *SessionV1, ev []Event) any {
	if s == nil {
		return "no responder"
	}
	return kinds(ev)
}

// lastEvent returns the last event of kind k.
func lastEvent(ev []Event, k EventKind) *Event {
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].Kind == k {
			return &ev[i]
		}
	}
	return nil
}
