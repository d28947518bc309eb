package ike

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestTimerHeapModel drives the indexed timer heap and a reference model
// (a plain map of deadlines, searched in full) with the same random
// operations: set, move, remove, and firing everything due. After every
// step the earliest deadline agrees, every session's index points at
// itself, and the heap property holds.
func TestTimerHeapModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200
	ess := make([]*epSession, n)
	for i := range ess {
		ess[i] = &epSession{heapIndex: -1}
	}
	model := map[int]time.Time{}
	var h timerHeap
	now := t0
	check := func(step int) {
		t.Helper()
		if len(h) != len(model) {
			t.Fatalf("step %d: heap holds %d, model %d", step, len(h), len(model))
		}
		var earliest time.Time
		for _, at := range model {
			if earliest.IsZero() || at.Before(earliest) {
				earliest = at
			}
		}
		top := h.peek()
		if (top == nil) != earliest.IsZero() || top != nil && !top.due.Equal(earliest) {
			t.Fatalf("step %d: top %v, model's earliest %v", step, top, earliest)
		}
		for i, es := range h {
			if es.heapIndex != i {
				t.Fatalf("step %d: entry %d has index %d", step, i, es.heapIndex)
			}
			if i > 0 && es.due.Before(h[(i-1)/2].due) {
				t.Fatalf("step %d: heap property broken at %d", step, i)
			}
		}
		for i, es := range ess {
			at, ok := model[i]
			if ok != (es.heapIndex >= 0) || ok && !es.due.Equal(at) {
				t.Fatalf("step %d: session %d in heap %v due %v, model %v %v", step, i, es.heapIndex >= 0, es.due, ok, at)
			}
		}
	}
	for step := range 20000 {
		i := rng.IntN(n)
		switch op := rng.IntN(10); {
		case op < 6: // set or move, often to equal times
			at := now.Add(time.Duration(rng.IntN(50)) * time.Millisecond)
			h.set(ess[i], at)
			model[i] = at
		case op < 8:
			if rng.IntN(2) == 0 {
				h.set(ess[i], time.Time{})
			} else {
				h.remove(ess[i])
			}
			delete(model, i)
		default: // time passes; everything due fires and is rescheduled or dropped
			now = now.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
			for es := h.peek(); es != nil && !es.due.After(now); es = h.peek() {
				j := indexOf(ess, es)
				if at, ok := model[j]; !ok || at.After(now) {
					t.Fatalf("step %d: fired session %d, model says %v", step, j, at)
				}
				if rng.IntN(2) == 0 {
					h.remove(es)
					delete(model, j)
				} else {
					at := now.Add(time.Duration(1+rng.IntN(50)) * time.Millisecond)
					h.set(es, at)
					model[j] = at
				}
			}
			for j, at := range model {
				if !at.After(now) {
					t.Fatalf("step %d: session %d due %v was not fired at %v", step, j, at, now)
				}
			}
		}
		check(step)
	}
}

func indexOf(ess []*epSession, es *epSession) int {
	for i, x := range ess {
		if x == es {
			return i
		}
	}
	return -1
}

// admissionModel is the reference for admission: plain counters and a
// map, decisions written out as the EndpointConfig documents them.
type admissionModel struct {
	lim       limits
	ikeSAs    int64
	halfOpen  int64
	perSource map[netip.Addr]int64
}

func (m *admissionModel) cookieNeeded(src netip.Addr) bool {
	return m.lim.cookieTotal >= 0 && m.halfOpen >= m.lim.cookieTotal ||
		m.lim.cookieSource >= 0 && m.perSource[src] >= m.lim.cookieSource
}

func (m *admissionModel) reserve(src netip.Addr) verdict {
	switch {
	case m.lim.ikeSA >= 0 && m.ikeSAs >= m.lim.ikeSA:
		return refuseIKESAs
	case m.lim.halfOpen >= 0 && m.halfOpen >= m.lim.halfOpen:
		return refuseHalfOpen
	case m.lim.halfOpenSource >= 0 && m.perSource[src] >= m.lim.halfOpenSource:
		return refusePerSource
	}
	m.ikeSAs++
	m.halfOpen++
	m.perSource[src]++
	return admit
}

// TestAdmissionModel runs admission and its model side by side through
// random first messages from a few sources, establishments, failures
// and closes, under several limit settings (defaults, tight, off), and
// compares every decision and count.
func TestAdmissionModel(t *testing.T) {
	srcs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("198.51.100.7")}
	for _, cfg := range []EndpointConfig{
		{},
		{CookieThreshold: 4, CookieThresholdPerSource: 2, MaxHalfOpenPerSource: 3, MaxHalfOpen: 8, MaxIKESAs: 12},
		{CookieThreshold: -1, CookieThresholdPerSource: -1, MaxHalfOpenPerSource: -1, MaxHalfOpen: 6, MaxIKESAs: -1},
	} {
		lim, err := cfg.limits()
		if err != nil {
			t.Fatal(err)
		}
		var a admission
		a.init(lim)
		m := &admissionModel{lim: lim, perSource: map[netip.Addr]int64{}}
		type held struct {
			src netip.Addr
			up  bool
		}
		var live []held
		rng := rand.New(rand.NewPCG(3, 4))
		for step := range 50000 {
			src := srcs[rng.IntN(len(srcs))]
			switch op := rng.IntN(10); {
			case op < 5:
				if got, want := a.cookieNeeded(src), m.cookieNeeded(src); got != want {
					t.Fatalf("%+v step %d: cookieNeeded(%v) = %v, model %v", cfg, step, src, got, want)
				}
				got, want := a.reserve(src), m.reserve(src)
				if got != want {
					t.Fatalf("%+v step %d: reserve(%v) = %v, model %v", cfg, step, src, got, want)
				}
				if got == admit {
					live = append(live, held{src: src})
				}
			case op < 7 && len(live) > 0: // established
				i := rng.IntN(len(live))
				if !live[i].up {
					live[i].up = true
					a.leaveHalfOpen(live[i].src)
					m.halfOpen--
					m.perSource[live[i].src]--
				}
			case len(live) > 0: // gone: failed while half-open, or closed
				i := rng.IntN(len(live))
				h := live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
				if h.up {
					a.ikeSAs.Add(-1)
					m.ikeSAs--
				} else {
					a.release(h.src)
					m.ikeSAs--
					m.halfOpen--
					m.perSource[h.src]--
				}
			}
			if a.ikeSAs.Load() != m.ikeSAs || a.halfOpen.Load() != m.halfOpen {
				t.Fatalf("%+v step %d: counts %d/%d, model %d/%d", cfg, step, a.ikeSAs.Load(), a.halfOpen.Load(), m.ikeSAs, m.halfOpen)
			}
			for _, s := range srcs {
				if a.perSource.get(s) != m.perSource[s] {
					t.Fatalf("%+v step %d: %v has %d, model %d", cfg, step, s, a.perSource.get(s), m.perSource[s])
				}
			}
		}
		if n := a.perSource.len(); n > len(srcs) {
			t.Fatalf("per-source table holds %d entries", n)
		}
	}
}

// bucketModel is a token bucket written out directly: capacity burst,
// refilled continuously at rate, a clock that never runs backwards.
type bucketModel struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucketModel) take(now time.Time) bool {
	if b.rate <= 0 {
		return false
	}
	if b.last.IsZero() {
		b.tokens, b.last = b.burst, now
	}
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// TestReplyLimiterModel compares the error-reply limiter with a model of
// one bucket per source and one for all: random sources (few enough that
// they do not share a slot of the table) at random times.
func TestReplyLimiterModel(t *testing.T) {
	const rate, total = 3.0, 10.0
	r := newReplyLimiter(rate, total, 1<<16)
	srcs := make([]netip.Addr, 6)
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
	}
	slots := map[uint64]bool{}
	for _, s := range srcs {
		slots[uint64(r.slotOf(s))] = true
	}
	if len(slots) != len(srcs) {
		t.Skip("two sources share a slot with this seed")
	}
	per := map[netip.Addr]*bucketModel{}
	all := &bucketModel{rate: total, burst: total}
	rng := rand.New(rand.NewPCG(5, 6))
	now := t0
	allowed := 0
	for step := range 20000 {
		now = now.Add(time.Duration(rng.IntN(40)) * time.Millisecond)
		src := srcs[rng.IntN(len(srcs))]
		b := per[src]
		if b == nil {
			b = &bucketModel{rate: rate, burst: rate}
			per[src] = b
		}
		want := b.take(now) && all.take(now)
		if got := r.allow(src, now); got != want {
			t.Fatalf("step %d: allow(%v) = %v, model %v", step, src, got, want)
		}
		if want {
			allowed++
		}
	}
	if allowed == 0 {
		t.Fatal("nothing allowed")
	}
	// A flood of distinct sources cannot grow the table.
	big := newReplyLimiter(rate, total, 64)
	for i := range 10000 {
		big.allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now)
	}
	if len(big.slots) != 64 {
		t.Fatalf("table grew to %d", len(big.slots))
	}
}
