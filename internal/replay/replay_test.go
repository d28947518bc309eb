package replay

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// model is the reference: a set of accepted numbers and the highest one.
type model struct {
	size uint64
	top  uint64
	seen map[uint64]bool
}

func (m *model) fresh(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if m.size == 0 || seq > m.top {
		return true
	}
	return m.top-seq < m.size && !m.seen[seq]
}

func (m *model) accept(seq uint64) bool {
	if !m.fresh(seq) {
		return false
	}
	m.seen[seq] = true
	m.top = max(m.top, seq)
	return true
}

// TestWindowDifferential drives the ring-of-blocks window and the map model
// with the same random sequences: mostly forward with reordering, duplicates,
// jumps far ahead and stale packets, across window sizes, starting near the
// 2^32 boundary so that ESN wrap-around is exercised.
func TestWindowDifferential(t *testing.T) {
	sizes := []int{0, 32, 33, 63, 64, 65, 100, 1024, 4096, 65536}
	starts := []uint64{0, 1<<32 - 3000, 5<<32 - 70000, 1<<63 - 1<<36, 1<<64 - 1<<30}
	for _, size := range sizes {
		for _, start := range starts {
			r := rand.New(rand.NewPCG(uint64(size), start))
			w, err := New(size)
			if err != nil {
				t.Fatal(err)
			}
			m := &model{size: uint64(size), seen: map[uint64]bool{}}
			next := start
			for i := 0; i < 20000; i++ {
				var seq uint64
				switch k := r.IntN(100); {
				case k < 60: // in order
					next++
					seq = next
				case k < 80: // reordered within about a window
					seq = next - uint64(r.IntN(size+64+1))
				case k < 90: // duplicate of something recent
					seq = next - uint64(r.IntN(8))
				case k < 95: // a jump ahead, sometimes beyond the ring
					next += uint64(r.IntN(3*size + 200))
					seq = next
				default: // very old or zero
					seq = uint64(r.IntN(3))
				}
				if seq > next+1<<40 { // wrapped below zero
					seq = 0
				}
				if got, want := w.Check(seq), m.fresh(seq); got != want {
					t.Fatalf("size %d start %d step %d: Check(%d) = %v, model %v (top %d)", size, start, i, seq, got, want, m.top)
				}
				if got, want := w.Accept(seq), m.accept(seq); got != want {
					t.Fatalf("size %d start %d step %d: Accept(%d) = %v, model %v (top %d)", size, start, i, seq, got, want, m.top)
				}
				if w.Top() != m.top {
					t.Fatalf("size %d: top %d, model %d", size, w.Top(), m.top)
				}
			}
		}
	}
}

// inferModel is RFC 4303 Appendix A stated as a range: the packet's number is
// the unique value congruent to low modulo 2^32 in [T-W+1, T-W+1+2^32),
// with the range starting at 0 when T-W+1 would be negative.
func inferModel(top, size uint64, low uint32) uint64 {
	if size == 0 {
		size = inferWidth
	}
	var base uint64
	if top+1 > size {
		base = top + 1 - size
	}
	return base + uint64(low-uint32(base))
}

func TestInferSeqDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tops := []uint64{0, 1, 31, 1<<32 - 1, 1 << 32, 1<<32 + 5, 7<<32 + 1<<31, 1<<40 - 1}
	for i := 0; i < 200000; i++ {
		top := tops[r.IntN(len(tops))]
		if r.IntN(2) == 0 {
			top = r.Uint64() >> r.IntN(40)
		}
		size := []uint64{0, 32, 64, 1024, 65536}[r.IntN(5)]
		low := uint32(top) + uint32(r.IntN(2*int(max(size, 64)))) - uint32(max(size, 64))
		if r.IntN(4) == 0 {
			low = r.Uint32()
		}
		if got, want := inferSeq(top, size, low), inferModel(top, size, low); got != want {
			t.Fatalf("inferSeq(top=%#x, size=%d, low=%#x) = %#x, model %#x", top, size, low, got, want)
		}
	}
}

// TestInferSeqAppendixA walks the two cases of RFC 4303 Appendix A2.2.
func TestInferSeqAppendixA(t *testing.T) {
	const w = 64
	tests := []struct {
		name string
		top  uint64
		low  uint32
		want uint64
	}{
		{"case A, in window", 5<<32 | 1000, 990, 5<<32 | 990},
		{"case A, ahead", 5<<32 | 1000, 2000, 5<<32 | 2000},
		{"case A, wrapped ahead", 5<<32 | 1000, 900, 6<<32 | 900},
		{"case A, top at block end", 5<<32 | 0xffffffff, 3, 6<<32 | 3},
		{"case B, previous block", 5<<32 | 10, 0xfffffff0, 4<<32 | 0xfffffff0},
		{"case B, same block", 5<<32 | 10, 20, 5<<32 | 20},
		{"case B, first block", 10, 0xfffffff0, 0xfffffff0},
	}
	for _, tt := range tests {
		if got := inferSeq(tt.top, w, tt.low); got != tt.want {
			t.Errorf("%s: got %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

func TestReset(t *testing.T) {
	w, _ := New(64)
	for s := uint64(1); s < 200; s++ {
		w.Accept(s)
	}
	w.Reset()
	if w.Top() != 0 {
		t.Fatalf("top %d after Reset", w.Top())
	}
	for s := uint64(1); s < 200; s++ {
		if !w.Accept(s) {
			t.Fatalf("seq %d refused after Reset", s)
		}
	}
}

func TestNewSizes(t *testing.T) {
	for _, bad := range []int{-1, 1, 31, MaxSize + 1} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%d) accepted", bad)
		}
	}
	for _, good := range []int{0, 32, 1024, 65536, MaxSize} {
		w, err := New(good)
		if err != nil || w.Size() != good {
			t.Errorf("New(%d) = %v, %v", good, w, err)
		}
	}
}

// TestConcurrentAccept accepts every number from many goroutines, each number
// offered twice: exactly one copy of each must win.
func TestConcurrentAccept(t *testing.T) {
	w, _ := New(65536)
	const n = 40000
	var wins [n + 1]int32
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for s := uint64(1 + g%4); s <= n; s += 4 {
				if w.Check(s) && w.Accept(s) {
					mu.Lock()
					wins[s]++
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	for s := 1; s <= n; s++ {
		// The window (65536) spans all n numbers, so none is ever too old.
		if wins[s] != 1 {
			t.Fatalf("seq %d accepted %d times, want once", s, wins[s])
		}
	}
}

// TestConcurrentNeverTwice races goroutines that offer the same numbers,
// moving a small window forward in jumps and filling in behind it: no number
// may be accepted twice, and the top must end at the highest number.
func TestConcurrentNeverTwice(t *testing.T) {
	const size = 64
	r := rand.New(rand.NewPCG(3, 4))
	var seqs []uint64
	next := uint64(0)
	for range 100000 {
		switch k := r.IntN(10); {
		case k < 6:
			next++
			seqs = append(seqs, next)
		case k < 9:
			if back := uint64(r.IntN(size + 40)); back < next {
				seqs = append(seqs, next-back)
			}
		default:
			next += uint64(r.IntN(4 * size))
			seqs = append(seqs, next)
		}
	}
	w, _ := New(size)
	wins := make([]atomic.Int32, next+1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, s := range seqs {
				if (i+g)%3 == 0 {
					continue // not every goroutine sees every packet
				}
				if w.Accept(s) {
					wins[s].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for s := range wins {
		if n := wins[s].Load(); n > 1 {
			t.Fatalf("seq %d accepted %d times", s, n)
		}
	}
	if w.Top() != next {
		t.Fatalf("top %d, want %d", w.Top(), next)
	}
}

// TestAncientTag plants a slot tag from 2^31 blocks ago, which reads as a
// newer block: the window must not spin, and a number whose slot is misread
// is refused, never accepted twice.
func TestAncientTag(t *testing.T) {
	w, _ := New(64)
	base := uint64(1) << 40
	if !w.Accept(base) {
		t.Fatal("first packet refused")
	}
	next := base + 32 // in the next block, whose slot gets the planted tag
	ancient := (next>>blockBits - 1<<31 - uint64(len(w.slots))) & (1<<32 - 1)
	w.slots[(next>>blockBits)&w.mask].Store(ancient<<32 | 1)
	accepted := 0
	for range 3 {
		if w.Accept(next) {
			accepted++
		}
	}
	if accepted > 1 {
		t.Fatalf("accepted %d times", accepted)
	}
	if top := w.Top(); top != base && top != next {
		t.Fatalf("top %d", top)
	}
	if !w.Check(base+1) || !w.Accept(base+1) {
		t.Fatal("a fresh number in another slot refused")
	}
}

func BenchmarkAccept(b *testing.B) {
	for _, size := range []int{64, 1024, 65536} {
		w, _ := New(size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s := uint64(i + 1)
				if i%8 == 7 {
					s -= 5 // a little reordering
					w.Check(s)
					continue
				}
				w.Check(s)
				w.Accept(s)
			}
		})
	}
}

// TestCheckNeverFalseReplay races the lock-free Check against Accept moving
// the window in jumps that reuse ring blocks. Only even numbers are ever
// accepted, so Check may refuse an odd number only when it is too old; a
// refusal while the number is still inside the window (top only grows, so
// it was inside at Check time too) is a false replay.
func TestCheckNeverFalseReplay(t *testing.T) {
	const size = 32 // a two-block ring: every move reuses a block
	w, _ := New(size)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := rand.New(rand.NewPCG(7, 7))
		seq := uint64(3)
		for i := 0; i < 500000; i++ {
			w.Accept(seq)
			for range r.IntN(4) {
				if back := 3 * uint64(r.IntN(8)); back < seq {
					w.Accept(seq - back) // fill in behind the top
				}
			}
			// Multiples of 3 land on every bit position over time, so a
			// stale block holds bits set for numbers that share a slot
			// with the probed ones.
			seq += 3 * uint64(1+r.IntN(32))
		}
	}()
	r := rand.New(rand.NewPCG(8, 8))
	for {
		select {
		case <-done:
			return
		default:
		}
		top := w.Top()
		if top < 200 {
			continue
		}
		s := top - uint64(r.IntN(size))
		if s%3 == 0 {
			s--
		}
		if !w.Check(s) {
			if now := w.Top(); now-s < size {
				t.Fatalf("Check(%d) refused a never-accepted number inside the window (top %d)", s, now)
			}
		}
	}
}
