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
