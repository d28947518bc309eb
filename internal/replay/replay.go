package replay

import (
	"errors"
	"math/bits"
	"sync/atomic"
)

// Window sizes, in packets.
const (
	// MinSize is the smallest window RFC 4303 section 3.4.3 allows (32).
	MinSize = 32
	// DefaultSize is the window used when a caller does not choose one.
	DefaultSize = 1024
	// MaxSize bounds the memory a window may take (512 KiB of ring).
	MaxSize = 1 << 20

	// inferWidth stands in for the window size in ESN inference when
	// anti-replay is off: half the 32-bit space either side of the top.
	inferWidth = 1 << 31
)

// The ring holds blocks of 32 sequence numbers. A slot is one 64-bit word:
// the low 32 bits of the block number (sequence number / 32) in the high
// half, the block's bitmap in the low half. Tagging each slot with its block
// replaces RFC 6479's clearing of the blocks a move skips over, and puts the
// tag and the bits under one compare-and-swap.
const (
	blockBits = 5
	blockMask = 1<<blockBits - 1
)

var errSize = errors.New("replay: window size must be 0 (off) or between 32 and 1048576")

// Window is an anti-replay window over 64-bit sequence numbers. A packet is
// first checked (before its ICV is verified, to drop replays cheaply) and then
// accepted (after the ICV verifies, RFC 4303 section 3.4.3: the window is
// updated only for authentic packets).
//
// Window is safe for concurrent use and takes no lock: Check, Top and
// InferSeq only load; Accept costs one compare-and-swap for a packet in a
// block already under way, and a second one when a packet opens a new block
// (every 32 packets of in-order traffic).
//
// Each slot is tagged with the low 32 bits of its block number. A slot that
// receives no packet while 2^36 sequence numbers go by (every packet of every
// block it stands for lost) could be misread once the tag wraps; a misread
// can make Accept refuse packets of that slot, never accept one twice.
type Window struct {
	size  uint64          // packets the window spans; 0 means anti-replay is off
	head  atomic.Uint64   // the highest block that holds, or is about to hold, an accepted number
	slots []atomic.Uint64 // ring of tagged blocks; block b lives in slot b&mask
	mask  uint64          // len(slots)-1; len(slots) is a power of two
	top   atomic.Uint64   // anti-replay off: the highest accepted number, for ESN inference
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
	// Every block that holds a number in [top-size+1, top] must have a slot
	// of its own: ceil(size/32) blocks, plus one when top is not at the
	// end of its block.
	n := 1
	for n < (size+blockMask)>>blockBits+1 {
		n <<= 1
	}
	return &Window{size: uint64(size), slots: make([]atomic.Uint64, n), mask: uint64(n - 1)}, nil
}

// Size returns the window size in packets (0 when anti-replay is off).
func (w *Window) Size() int { return int(w.size) }

// Top returns the highest sequence number accepted so far. While an Accept
// that opens a new block is under way, it may return the first number of
// that block.
func (w *Window) Top() uint64 {
	if w.size == 0 {
		return w.top.Load()
	}
	return w.topFrom(w.head.Load())
}

// topFrom is Top for head block h, read a moment ago.
func (w *Window) topFrom(h uint64) uint64 {
	for {
		s := w.slots[h&w.mask].Load()
		switch d := state(s, h); {
		case d > 0:
			// A newer block took the slot since h was read; head,
			// published first, has moved on too. (If it has not, the
			// tag is a wrapped ancient one: see Window.)
			if now := w.head.Load(); now != h {
				h = now
				continue
			}
			return h << blockBits
		case d == 0:
			return h<<blockBits | uint64(bits.Len32(uint32(s))-1)
		default:
			return h << blockBits // the block is published, its first bit not yet set
		}
	}
}

// Reset empties the window, as if no packet had been received. It must not
// run concurrently with Accept.
func (w *Window) Reset() {
	w.top.Store(0)
	h := w.head.Swap(0)
	for i := range w.slots[:min(h+1, uint64(len(w.slots)))] {
		w.slots[i].Store(0)
	}
}

// tooOld reports whether seq lies to the left of the window whose head
// block is h (RFC 4303 section 3.4.3). Callers skip it for a number in the
// head block itself: top is in the same block of 32, and size >= 32.
func (w *Window) tooOld(seq, h uint64) bool {
	top := w.topFrom(h)
	return seq <= top && top-seq >= w.size
}

// state is what a slot says about block b: zero when the block is there,
// negative when the slot is free for it (empty, or an older block), positive
// when a newer block holds it (b has left the window). A slot in use always
// has a bit set.
func state(slot, b uint64) int32 {
	if uint32(slot) == 0 {
		return -1
	}
	return int32(uint32(slot>>32) - uint32(b))
}

// Check reports whether seq may be a new packet: it is not zero, and it is
// either ahead of the window or inside it and not yet seen. It changes
// nothing. Racing with Accept it may say "fresh" for a packet that Accept
// will then refuse, never the reverse.
func (w *Window) Check(seq uint64) bool {
	if seq == 0 {
		return false // RFC 4303 section 3.3.3: the first packet is number 1
	}
	if w.size == 0 {
		return true
	}
	b := seq >> blockBits
	h := w.head.Load()
	if b > h {
		return true
	}
	if b != h && w.tooOld(seq, h) {
		return false
	}
	s := w.slots[b&w.mask].Load()
	switch d := state(s, b); {
	case d > 0:
		// A newer block took the slot, so head, published first, is at
		// least that block: seq is out of the window for good.
		return false
	case d == 0:
		return s&(1<<(seq&blockMask)) == 0
	}
	return true
}

// Accept records seq as received, after its ICV has verified. It reports
// false, and records nothing, if seq is a replay or too old; a packet that
// passed Check may still fail here when a copy was accepted concurrently.
// Racing with an Accept that moves the window, it may accept a number that
// is just leaving the window, never one that was accepted before.
func (w *Window) Accept(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if w.size == 0 {
		// Anti-replay is off: only the top is kept, for ESN inference.
		for {
			top := w.top.Load()
			if seq <= top || w.top.CompareAndSwap(top, seq) {
				return true
			}
		}
	}
	b := seq >> blockBits
	bit := uint64(1) << (seq & blockMask)
	slot := &w.slots[b&w.mask]
	for {
		h := w.head.Load()
		if b > h {
			// A new block: publish it as head before tagging its slot,
			// so that no slot is ever newer than head (Check relies on
			// this).
			if !w.head.CompareAndSwap(h, b) {
				continue
			}
		} else if b != h && w.tooOld(seq, h) {
			return false
		}
		old := slot.Load()
		var next uint64
		switch d := state(old, b); {
		case d > 0:
			return false // the window has moved past seq
		case d == 0:
			if old&bit != 0 {
				return false
			}
			next = old | bit
		default:
			next = uint64(uint32(b))<<32 | bit
		}
		if slot.CompareAndSwap(old, next) {
			return true
		}
	}
}

// InferSeq returns the full 64-bit sequence number of a packet that carries
// only the low-order 32 bits, following RFC 4303 Appendix A2.2: the high-order
// bits are taken from the top of the window, or from the next or previous
// 2^32 block when the low bits lie outside the window on the far side of a
// wrap. When anti-replay is off, the inference uses half the 32-bit space as
// its window.
func (w *Window) InferSeq(low uint32) uint64 {
	return inferSeq(w.Top(), w.size, low)
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
