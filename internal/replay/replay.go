package replay

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Window sizes, in packets.
const (
	// MinSize is the smallest window RFC 4303 section 3.4.3 allows (32).
	MinSize = 32
	// DefaultSize is the window used when a caller does not choose one.
	DefaultSize = 1024
	// MaxSize bounds the memory a window may take (128 KiB of bitmap).
	MaxSize = 1 << 20

	// inferWidth stands in for the window size in ESN inference when
	// anti-replay is off: half the 32-bit space either side of the top.
	inferWidth = 1 << 31
)

var errSize = errors.New("replay: window size must be 0 (off) or between 32 and 1048576")

// Window is an anti-replay window over 64-bit sequence numbers. A packet is
// first checked (before its ICV is verified, to drop replays cheaply) and then
// accepted (after the ICV verifies, RFC 4303 section 3.4.3: the window is
// updated only for authentic packets). Window is safe for concurrent use:
// Accept and Reset serialise on a mutex; Check, Top and InferSeq take no lock.
type Window struct {
	mu     sync.Mutex      // serialises writers
	size   uint64          // packets the window spans; 0 means anti-replay is off
	top    atomic.Uint64   // highest accepted sequence number; 0 before the first
	blocks []atomic.Uint64 // ring of bitmaps; block i holds numbers [64i, 64i+63]
	mask   uint64          // len(blocks)-1; len(blocks) is a power of two
}

// New returns a window that spans size packets. Size 0 turns anti-replay off:
// every sequence number is accepted, but the highest one is still tracked so
// that ESN inference works.
func New(size int) (*Window, error) {
	if size == 0 {
		return &Window{}, nil
	}
	if size < MinSize || size > MaxSize {
		return nil, errSize
	}
	// The ring must hold every number in [top-size+1, top] whatever the
	// alignment of top within its block: size/64 blocks plus two partial ones.
	n := 1
	for n < size/64+2 {
		n <<= 1
	}
	return &Window{size: uint64(size), blocks: make([]atomic.Uint64, n), mask: uint64(n - 1)}, nil
}

// Size returns the window size in packets (0 when anti-replay is off).
func (w *Window) Size() int { return int(w.size) }

// Top returns the highest sequence number accepted so far.
func (w *Window) Top() uint64 { return w.top.Load() }

// Reset empties the window, as if no packet had been received.
func (w *Window) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.top.Store(0)
	for i := range w.blocks {
		w.blocks[i].Store(0)
	}
}

// Check reports whether seq may be a new packet: it is not zero, and it is
// either ahead of the window or inside it and not yet seen. It changes
// nothing and takes no lock. Racing with Accept it may say "fresh" for a
// packet that Accept will then refuse, never the reverse.
func (w *Window) Check(seq uint64) bool {
	if seq == 0 {
		return false
	}
	top := w.top.Load()
	if seq > top || w.size == 0 {
		return true
	}
	if top-seq >= w.size {
		return false // top only grows, so this stays true
	}
	if w.blocks[(seq>>6)&w.mask].Load()&(1<<(seq&63)) == 0 {
		return true
	}
	// Accept stores a new top before it sets bits for the numbers the
	// move brought in; if top is unchanged, the bit is seq's own.
	return w.top.Load() != top
}

// Accept records seq as received, after its ICV has verified. It reports
// false, and records nothing, if seq is a replay or too old; a packet that
// passed Check may still fail here when a copy was accepted concurrently.
func (w *Window) Accept(seq uint64) bool {
	if w.size == 0 {
		// Anti-replay is off: only the top is kept, for ESN inference.
		for {
			top := w.top.Load()
			if seq <= top || w.top.CompareAndSwap(top, seq) {
				return seq != 0
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fresh(seq) {
		return false
	}
	top := w.top.Load()
	if seq > top {
		// Clear the blocks the window moves into (RFC 6479 section 2),
		// then publish the new top; Check relies on this order.
		oldBlock, newBlock := top>>6, seq>>6
		moved := min(newBlock-oldBlock, w.mask+1)
		for i := uint64(1); i <= moved; i++ {
			w.blocks[(oldBlock+i)&w.mask].Store(0)
		}
		w.top.Store(seq)
	}
	w.blocks[(seq>>6)&w.mask].Or(1 << (seq & 63))
	return true
}

// fresh is Check's answer computed under w.mu, where it is exact.
func (w *Window) fresh(seq uint64) bool {
	if seq == 0 {
		return false // RFC 4303 section 3.3.3: the first packet is number 1
	}
	top := w.top.Load()
	if seq > top || w.size == 0 {
		return true
	}
	if top-seq >= w.size {
		return false
	}
	return w.blocks[(seq>>6)&w.mask].Load()&(1<<(seq&63)) == 0
}

// InferSeq returns the full 64-bit sequence number of a packet that carries
// only the low-order 32 bits, following RFC 4303 Appendix A2.2: the high-order
// bits are taken from the top of the window, or from the next or previous
// 2^32 block when the low bits lie outside the window on the far side of a
// wrap. When anti-replay is off, the inference uses half the 32-bit space as
// its window.
func (w *Window) InferSeq(low uint32) uint64 {
	return inferSeq(w.top.Load(), w.size, low)
}

func inferSeq(top, size uint64, low uint32) uint64 {
	if size == 0 {
		size = inferWidth
	}
	th, tl := top>>32, uint32(top)
	bottom := tl - uint32(size-1) // Tl - W + 1, modulo 2^32
	var sh uint64
	if uint64(tl) >= size-1 {
		// Case A: the window lies inside one 2^32 block.
		sh = th
		if low < bottom {
			sh = th + 1
		}
	} else {
		// Case B: the window spans two blocks.
		sh = th
		if low >= bottom && th > 0 {
			sh = th - 1
		}
	}
	return sh<<32 | uint64(low)
}
