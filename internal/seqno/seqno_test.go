package seqno

import (
	"math"
	"sync"
	"testing"
)

func TestExhaustion(t *testing.T) {
	for _, esn := range []bool{false, true} {
		var c Counter
		c.Init(esn)
		limit := uint64(math.MaxUint32)
		if esn {
			limit = math.MaxUint64
		}
		if n, ok := c.Next(); !ok || n != 1 {
			t.Fatalf("first number %d, %v", n, ok)
		}
		c.SetLast(limit - 1)
		if n, ok := c.Next(); !ok || n != limit {
			t.Fatalf("last number %d, %v", n, ok)
		}
		for range 3 {
			if _, ok := c.Next(); ok {
				t.Fatal("handed out a number past the limit")
			}
		}
		if c.Sent() != limit {
			t.Fatalf("Sent %d", c.Sent())
		}
	}
}

// TestConcurrentUnique: numbers handed out concurrently are unique, and
// none is lost near exhaustion.
func TestConcurrentUnique(t *testing.T) {
	var c Counter
	c.Init(false)
	c.SetLast(math.MaxUint32 - 4000)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if n, ok := c.Next(); ok {
					mu.Lock()
					if seen[n] {
						t.Errorf("%d handed out twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != 4000 {
		t.Fatalf("handed out %d numbers, want the 4000 left", len(seen))
	}
}

// TestReserve: runs are consecutive, mixed with Next they leave no gap and
// no number twice, and a run that crosses the limit is cut at it and
// exhausts the counter (differential against a plain counter).
func TestReserve(t *testing.T) {
	for _, esn := range []bool{false, true} {
		limit := uint64(math.MaxUint32)
		if esn {
			limit = math.MaxUint64
		}
		var c Counter
		c.Init(esn)
		next := uint64(1) // the reference: the next number to hand out
		for i := range 1000 {
			if i%3 == 0 {
				if n, ok := c.Next(); !ok || n != next {
					t.Fatalf("Next %d, %v, want %d", n, ok, next)
				}
				next++
				continue
			}
			k := uint64(i % 70)
			first, got := c.Reserve(k)
			if got != k || (k > 0 && first != next) {
				t.Fatalf("Reserve(%d) = %d, %d; want %d, %d", k, first, got, next, k)
			}
			next += got
		}
		c.SetLast(limit - 10)
		if first, got := c.Reserve(4); first != limit-9 || got != 4 {
			t.Fatalf("near the limit: %d, %d", first, got)
		}
		if first, got := c.Reserve(32); first != limit-5 || got != 6 {
			t.Fatalf("across the limit: %d, %d; want %d, 6", first, got, limit-5)
		}
		if _, got := c.Reserve(1); got != 0 {
			t.Fatal("Reserve after exhaustion granted a number")
		}
		if _, ok := c.Next(); ok {
			t.Fatal("Next after exhaustion granted a number")
		}
		if c.Sent() != limit {
			t.Fatalf("Sent %d", c.Sent())
		}
	}
}

// TestReserveConcurrent: runs reserved concurrently with single numbers,
// up to exhaustion, cover every number once.
func TestReserveConcurrent(t *testing.T) {
	var c Counter
	c.Init(false)
	const left = 100000
	c.SetLast(math.MaxUint32 - left)
	var mu sync.Mutex
	seen := make(map[uint64]bool, left)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var first, got uint64
				if (i+g)%4 == 0 {
					n, ok := c.Next()
					if ok {
						first, got = n, 1
					}
				} else {
					first, got = c.Reserve(uint64(1 + (i+g)%40))
				}
				if got == 0 {
					return
				}
				mu.Lock()
				for n := first; n < first+got; n++ {
					if seen[n] {
						t.Errorf("%d handed out twice", n)
					}
					seen[n] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != left {
		t.Fatalf("handed out %d numbers, want the %d left", len(seen), left)
	}
}
