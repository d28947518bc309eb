package meter

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSequential compares a Meter with plain sums over random sizes,
// including counts of maxAdd and more, which take the slow path.
func TestSequential(t *testing.T) {
	var m Meter
	var wantP, wantB uint64
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 3_000_000 {
		n := r.IntN(65536)
		switch i % 100_000 {
		case 7:
			n = maxAdd + r.IntN(1<<30)
		case 8:
			n = 0
		}
		m.Add(n)
		wantP++
		wantB += uint64(n)
		if i%4099 == 0 {
			if p, b := m.Load(); p != wantP || b != wantB {
				t.Fatalf("after %d adds: %d packets %d bytes, want %d %d", i+1, p, b, wantP, wantB)
			}
		}
	}
	if p, b := m.Load(); p != wantP || b != wantB {
		t.Fatalf("%d packets %d bytes, want %d %d", p, b, wantP, wantB)
	}
}

// TestPacketFold crosses the packet threshold with empty packets.
func TestPacketFold(t *testing.T) {
	var m Meter
	const n = 3*foldPkts + 5
	for range n {
		m.Add(0)
	}
	if p, b := m.Load(); p != n || b != 0 {
		t.Fatalf("%d packets %d bytes, want %d 0", p, b, n)
	}
	if m.pending.Load()>>byteBits >= foldPkts {
		t.Fatal("pending packets were not folded")
	}
}

// TestByteFold crosses the byte threshold with the largest fast-path adds.
func TestByteFold(t *testing.T) {
	var m Meter
	const n = 3*foldBytes/(maxAdd-1) + 5
	for range n {
		m.Add(maxAdd - 1)
	}
	if p, b := m.Load(); p != n || b != n*(maxAdd-1) {
		t.Fatalf("%d packets %d bytes, want %d %d", p, b, n, n*(maxAdd-1))
	}
	if m.pending.Load()&byteMask >= foldBytes {
		t.Fatal("pending bytes were not folded")
	}
}

// TestConcurrent adds from several goroutines while a reader checks that the
// counts never go backwards, then checks the totals.
func TestConcurrent(t *testing.T) {
	var m Meter
	const g, per = 4, 1_500_000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var lastP, lastB uint64
		for {
			p, b := m.Load()
			if p < lastP || b < lastB {
				done <- errBackwards
				return
			}
			lastP, lastB = p, b
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
		}
	}()
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range per {
				m.Add((i*per + j) % 60000)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var wantB uint64
	for i := range g * per {
		wantB += uint64(i % 60000)
	}
	if p, b := m.Load(); p != g*per || b != wantB {
		t.Fatalf("%d packets %d bytes, want %d %d", p, b, g*per, wantB)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

const errBackwards = errString("counts went backwards")

// BenchmarkAdd compares Meter.Add with its baseline in the same run: two
// atomic adds, one for packets and one for bytes.
func BenchmarkAdd(b *testing.B) {
	b.Run("meter", func(b *testing.B) {
		var m Meter
		for b.Loop() {
			m.Add(1400)
		}
	})
	b.Run("two-atomics", func(b *testing.B) {
		var m Meter // its fields stand in for two counters
		for b.Loop() {
			m.packets.Add(1)
			m.bytes.Add(1400)
		}
	})
}

// TestAddLoad: sequentially, AddLoad returns the exact running counts across
// folds; concurrently, it never returns more packets than had been offered
// when it returned.
func TestAddLoad(t *testing.T) {
	var m Meter
	var wantB uint64
	for i := range 3*foldPkts + 10 {
		n := i % 1500
		if i%1_000_003 == 5 {
			n = maxAdd + 7
		}
		wantB += uint64(n)
		if p, b := m.AddLoad(n); p != uint64(i+1) || b != wantB {
			t.Fatalf("add %d: %d packets %d bytes, want %d %d", i+1, p, b, i+1, wantB)
		}
	}

	var c Meter
	var started atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1 << 21 {
				started.Add(1)
				p, _ := c.AddLoad(100)
				if s := started.Load(); p > s {
					errs <- fmt.Errorf("AddLoad said %d packets, only %d offered", p, s)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p, b := c.Load(); p != 4<<21 || b != 100*4<<21 {
		t.Fatalf("%d packets %d bytes", p, b)
	}
}

// TestAddN: batches of every size, small and past the pending fields'
// limits, add up like the same packets counted one at a time (the
// reference is a plain sum), alone and from several goroutines.
func TestAddN(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var m Meter
	var wantP, wantB uint64
	for range 20000 {
		p, b := r.IntN(64), r.IntN(64*1500)
		switch r.IntN(50) {
		case 0:
			p = maxAddN + r.IntN(3*maxAddN)
		case 1:
			b = maxAdd + r.IntN(3*maxAdd)
		}
		m.AddN(p, b)
		wantP += uint64(p)
		wantB += uint64(b)
		if gp, gb := m.Load(); gp != wantP || gb != wantB {
			t.Fatalf("after AddN(%d, %d): %d packets %d bytes, want %d %d", p, b, gp, gb, wantP, wantB)
		}
	}
	var c Meter
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1 << 16 {
				if (i+g)%3 == 0 {
					c.Add(100)
				} else {
					c.AddN(32, 3200)
				}
			}
		}()
	}
	wg.Wait()
	var wp uint64
	for g := range 4 {
		for i := range 1 << 16 {
			if (i+g)%3 == 0 {
				wp++
			} else {
				wp += 32
			}
		}
	}
	if p, b := c.Load(); p != wp || b != 100*wp {
		t.Fatalf("concurrent: %d packets %d bytes, want %d and %d", p, b, wp, 100*wp)
	}
}
