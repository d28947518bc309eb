package seqno

import (
	"math"
	"sync/atomic"
)

// Counter hands out sequence numbers. Call Init before use. Counter is safe
// for concurrent use.
type Counter struct {
	last  atomic.Uint64 // the last number handed out; 0 before the first
	limit uint64        // 2^32-1, or 2^64-1 with Extended Sequence Numbers
}

// Init sets the counter up for 32-bit sequence numbers, or 64-bit ones when
// esn is set (RFC 4304), with none handed out yet.
func (c *Counter) Init(esn bool) {
	c.limit = math.MaxUint32
	if esn {
		c.limit = math.MaxUint64
	}
	c.last.Store(0)
}

// Next returns the next sequence number, or false when the space is used up.
// Once exhausted, it stays exhausted.
func (c *Counter) Next() (uint64, bool) {
	n := c.last.Add(1)
	if n > c.limit || n == 0 {
		c.last.Store(c.limit) // never wrap, however many callers race here
		return 0, false
	}
	return n, true
}

// Reserve hands out a run of up to n consecutive numbers with one atomic
// add: first, first+1, ..., first+got-1. got is less than n only when the
// space runs out inside the run (RFC 4303 section 3.3.3: never wrap); the
// counter then stays exhausted, as after Next. Runs handed to concurrent
// callers never overlap, and Next and Reserve may be mixed freely.
func (c *Counter) Reserve(n uint64) (first, got uint64) {
	if n == 0 {
		return 0, 0
	}
	end := c.last.Add(n)
	prev := end - n // the last number handed out before this run
	if end > c.limit || end < n {
		// Past the limit, or wrapped around 2^64: grant what is left
		// below the limit, and park the counter there.
		c.last.Store(c.limit)
		if prev >= c.limit {
			return 0, 0
		}
		return prev + 1, c.limit - prev
	}
	return prev + 1, n
}

// Sent returns how many numbers have been handed out.
func (c *Counter) Sent() uint64 { return min(c.last.Load(), c.limit) }

// Peek returns the number the next call to Next will try to hand out.
func (c *Counter) Peek() uint64 { return c.last.Load() + 1 }

// SetLast moves the counter as if n numbers had been handed out; for tests
// that exercise exhaustion.
func (c *Counter) SetLast(n uint64) { c.last.Store(n) }
