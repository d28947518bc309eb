package sad

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestTableDifferential drives the lock-free table and a Go map with the
// same random puts, replaces, deletes and gets (including key 0, colliding
// keys and enough churn to force rebuilds) and requires the same answers.
func TestTableDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tb := newTable(0, r.Uint64())
	model := map[uint64]*SA{}
	keys := func() uint64 {
		switch r.IntN(4) {
		case 0:
			return uint64(r.IntN(8)) // small keys, including 0
		case 1:
			return uint64(r.IntN(4000)) << 32 // keys that differ in high bits only
		default:
			return r.Uint64N(20000)
		}
	}
	for i := range 300000 {
		k := keys()
		switch op := r.IntN(10); {
		case op < 4:
			sa := &SA{tkey: k}
			if tb.full() {
				tb = tb.rebuilt()
			}
			if got, want := tb.put(k, sa), model[k]; got != want {
				t.Fatalf("op %d put %d: previous %p, model %p", i, k, got, want)
			}
			model[k] = sa
		case op < 7:
			if got, want := tb.del(k), model[k]; got != want {
				t.Fatalf("op %d del %d: %p, model %p", i, k, got, want)
			}
			delete(model, k)
		default:
			if got, want := tb.get(k), model[k]; got != want {
				t.Fatalf("op %d get %d: %p, model %p", i, k, got, want)
			}
		}
		if tb.live != len(model) {
			t.Fatalf("op %d: live %d, model %d", i, tb.live, len(model))
		}
	}
	n := 0
	tb.each(func(s *SA) {
		if model[s.tkey] != s {
			t.Fatalf("each: %d", s.tkey)
		}
		n++
	})
	if n != len(model) {
		t.Fatalf("each saw %d of %d", n, len(model))
	}
}

// TestTableConcurrentReaders runs lookups while a writer inserts, replaces
// and deletes (run with -race): a reader must only ever see the SA stored
// under the key it asked for, and keys that are never deleted must always
// be found.
func TestTableConcurrentReaders(t *testing.T) {
	var mu sync.Mutex
	var cur = newTable(100, 42)
	var ptr = &cur
	stable := map[uint64]*SA{}
	for k := uint64(1); k <= 100; k++ {
		stable[k] = &SA{tkey: k}
		cur.put(k, stable[k])
	}
	load := func() *table { mu.Lock(); defer mu.Unlock(); return *ptr }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				tb := load()
				k := 1 + r.Uint64N(100)
				if s := tb.get(k); s != stable[k] {
					t.Errorf("stable key %d: %p", k, s)
					return
				}
				k = 1000 + r.Uint64N(5000)
				if s := tb.get(k); s != nil && s.tkey != k {
					t.Errorf("key %d returned SA of %d", k, s.tkey)
					return
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 50000 {
		k := 1000 + r.Uint64N(5000)
		mu.Lock()
		tb := *ptr
		if r.IntN(2) == 0 {
			if tb.full() {
				tb = tb.rebuilt()
				*ptr = tb
			}
			tb.put(k, &SA{tkey: k})
		} else {
			tb.del(k)
		}
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}
