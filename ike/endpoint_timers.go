package ike

import "time"

// timerHeap is an indexed binary min-heap of sessions by their next
// deadline: each worker keeps one, so that finding what is due costs
// O(1) and moving, adding or removing one session's deadline O(log n),
// whatever the number of sessions (package sad keeps its lifetimes the
// same way; this one is indexed because a session's deadline moves on
// every message, and a stale entry per move would pile up). Each entry
// knows its position (heapIndex, -1 when absent). Not safe for concurrent
// use.
type timerHeap []*epSession

// set puts es in the heap at time at, or takes it out for the zero time.
func (h *timerHeap) set(es *epSession, at time.Time) {
	switch {
	case at.IsZero():
		h.remove(es)
	case es.heapIndex < 0:
		es.due = at
		es.heapIndex = len(*h)
		*h = append(*h, es)
		h.up(es.heapIndex)
	case !at.Equal(es.due):
		es.due = at
		if !h.up(es.heapIndex) {
			h.down(es.heapIndex)
		}
	}
}

// remove takes es out of the heap if it is there.
func (h *timerHeap) remove(es *epSession) {
	i := es.heapIndex
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	es.heapIndex = -1
	es.due = time.Time{}
	if i != last {
		if !h.up(i) {
			h.down(i)
		}
	}
}

// peek returns the session with the earliest deadline, or nil.
func (h timerHeap) peek() *epSession {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

func (h timerHeap) less(i, j int) bool { return h[i].due.Before(h[j].due) }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}

// up moves entry i towards the root and reports whether it moved.
func (h timerHeap) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (h timerHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}
