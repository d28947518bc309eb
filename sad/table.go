package sad

import (
	"math/bits"
	"sync/atomic"
)

// table is an open-addressing hash table from uint64 keys to *SA that
// readers search without locks while one writer at a time (the DB holds its
// mutex) inserts, replaces and deletes.
//
// Why not a copy-on-write snapshot of a Go map: with a million SAs, copying
// the map on every add or delete costs O(n) per update. Here an update
// touches one slot, and only a resize copies the table (amortised O(1)), by
// building a new table and swapping the pointer readers load.
//
// Slots use linear probing with one rule that makes lock-free reads safe: a
// slot's key never changes once written for the lifetime of a table. A
// delete clears the slot's SA pointer (a tombstone), and a later insert of
// the same key reuses that slot; inserts of other keys take an empty slot.
// So a slot's pointer only ever holds SAs of the slot's key (or nil, which a
// reader treats as absent), and a reader that matched the key need not look
// inside the SA: a lookup costs one cache miss for the slot, not two. Key 0
// lives in its own field because 0 marks an empty slot.
type table struct {
	slots []slot
	mask  uint64
	shift uint8  // 64 - log2(len(slots))
	seed  uint64 // hash seed, random per DB
	zero  atomic.Pointer[SA]

	// Writer-side counts (under the DB mutex).
	used int // slots with a key (live + tombstones)
	live int
}

type slot struct {
	key atomic.Uint64
	sa  atomic.Pointer[SA]
}

const minTableSize = 64

func newTable(capacity int, seed uint64) *table {
	n := minTableSize
	for n < 2*capacity {
		n <<= 1
	}
	return &table{
		slots: make([]slot, n),
		mask:  uint64(n - 1),
		shift: uint8(64 - bits.TrailingZeros(uint(n))),
		seed:  seed,
	}
}

// hash mixes the key with the DB's random seed (multiply-shift over a
// seeded xor), so a peer choosing SPIs cannot predict the slots.
func (t *table) hash(k uint64) uint64 {
	k ^= t.seed
	k ^= k >> 29
	k *= 0xbf58476d1ce4e5b9
	return k >> t.shift
}

// get returns the SA stored under k, or nil. It takes no lock.
func (t *table) get(k uint64) *SA {
	if k == 0 {
		return t.zero.Load()
	}
	for i := t.hash(k); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch s.key.Load() {
		case 0:
			return nil
		case k:
			return s.sa.Load() // nil: a tombstone (keys are unique per table)
		}
	}
}

// put stores sa under k, replacing any SA there, and returns the previous
// one. The caller holds the writer lock and has made room (see full).
func (t *table) put(k uint64, sa *SA) *SA {
	if k == 0 {
		old := t.zero.Swap(sa)
		if old == nil {
			t.live++
		}
		return old
	}
	for i := t.hash(k); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch s.key.Load() {
		case 0:
			// A new key: publish the SA before the key, so a reader that
			// sees the key finds the SA.
			s.sa.Store(sa)
			s.key.Store(k)
			t.used++
			t.live++
			return nil
		case k:
			old := s.sa.Swap(sa)
			if old == nil {
				t.live++
			}
			return old
		}
	}
}

// del removes k and returns the SA that was stored, or nil.
func (t *table) del(k uint64) *SA {
	if k == 0 {
		old := t.zero.Swap(nil)
		if old != nil {
			t.live--
		}
		return old
	}
	for i := t.hash(k); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch s.key.Load() {
		case 0:
			return nil
		case k:
			old := s.sa.Swap(nil)
			if old != nil {
				t.live--
			}
			return old
		}
	}
}

// full reports whether one more key could push the load (live keys and
// tombstones) above one half, which keeps probe sequences short.
func (t *table) full() bool { return 2*(t.used+1) > len(t.slots) }

// rebuilt returns a new table holding t's live SAs, sized for them plus
// room to grow, without tombstones.
func (t *table) rebuilt() *table {
	n := newTable(2*t.live+1, t.seed)
	if z := t.zero.Load(); z != nil {
		n.put(0, z)
	}
	for i := range t.slots {
		s := &t.slots[i]
		if sa := s.sa.Load(); sa != nil {
			n.put(s.key.Load(), sa)
		}
	}
	return n
}

// each calls f for every live SA.
func (t *table) each(f func(*SA)) {
	if z := t.zero.Load(); z != nil {
		f(z)
	}
	for i := range t.slots {
		if sa := t.slots[i].sa.Load(); sa != nil {
			f(sa)
		}
	}
}
