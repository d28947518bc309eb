package meter

import (
	"sync"
	"sync/atomic"
)

// The pending word holds packets in its top 24 bits and bytes in its low 40.
// A fold moves it into the totals once either field passes a quarter of its
// range. An Add puts at most one packet and maxAdd bytes into pending (an
// AddN at most maxAddN packets), and one that finds a field past a quarter
// waits for the fold, so a field can pass a quarter only by one Add per
// goroutine in flight: more than 750,000 concurrent callers (2,900 with
// AddN) would be needed to overflow one.
const (
	byteBits  = 40
	byteMask  = 1<<byteBits - 1
	onePacket = 1 << byteBits
	foldBytes = 1 << (byteBits - 2)
	foldPkts  = 1 << (64 - byteBits - 2)
	maxAdd    = 1 << 20 // the part of a count above this goes straight to the totals
	maxAddN   = 1 << 8  // AddN packets above this go straight to the totals
	// A field is a quarter full when either of its top two bits is set.
	foldMask = 3<<(64-2) | 3<<(byteBits-2)
)

// Meter counts packets and their bytes. The zero value is ready to use, and
// a Meter is safe for concurrent use.
type Meter struct {
	pending atomic.Uint64 // packets<<byteBits | bytes, since the last fold
	gen     atomic.Uint64 // odd while a fold moves pending into the totals
	packets atomic.Uint64 // folded totals
	bytes   atomic.Uint64
	mu      sync.Mutex // one fold at a time
}

// Add counts one packet of n bytes.
func (m *Meter) Add(n int) {
	if m.pending.Add(onePacket|uint64(n)&(maxAdd-1))&foldMask != 0 || n >= maxAdd {
		m.fold(0, uint64(n)&^(maxAdd-1))
	}
}

// AddN counts packets packets of bytes bytes in all, with one atomic add
// for a batch where Add would take one per packet.
func (m *Meter) AddN(packets, bytes int) {
	if packets <= 0 && bytes <= 0 {
		return
	}
	p := uint64(packets) & (maxAddN - 1)
	if m.pending.Add(p<<byteBits|uint64(bytes)&(maxAdd-1))&foldMask != 0 || packets >= maxAddN || bytes >= maxAdd {
		m.fold(uint64(packets)&^(maxAddN-1), uint64(bytes)&^(maxAdd-1))
	}
}

// AddLoad counts one packet of n bytes, like Add, and returns the counts
// with it included, for callers that act on thresholds (SA lifetimes).
// Racing with other Adds the counts may already include some of theirs;
// they never include a packet twice.
func (m *Meter) AddLoad(n int) (packets, bytes uint64) {
	g := m.gen.Load()
	m.Add(n)
	if g&1 == 0 {
		// No fold was under way; if none ran since, the totals and
		// pending as read now are one consistent picture.
		packets, bytes = m.sum()
		if m.gen.Load() == g {
			return packets, bytes
		}
	}
	return m.Load()
}

// fold moves the pending counts into the totals, with extra packets and
// bytes: the part of an Add's count that is too large for pending.
func (m *Meter) fold(extraPackets, extra uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen.Add(1)
	v := m.pending.Load()
	m.pending.Add(-v) // what concurrent Adds put in since the Load stays
	m.packets.Add(v>>byteBits + extraPackets)
	m.bytes.Add(v&byteMask + extra)
	m.gen.Add(1)
}

// Load returns the packets and bytes counted so far.
func (m *Meter) Load() (packets, bytes uint64) {
	for {
		g := m.gen.Load()
		if g&1 != 0 {
			// A fold is under way: wait for it, and read while no
			// other can start.
			m.mu.Lock()
			packets, bytes = m.sum()
			m.mu.Unlock()
			return packets, bytes
		}
		packets, bytes = m.sum()
		if m.gen.Load() == g {
			return packets, bytes
		}
	}
}

// sum adds the pending counts to the totals.
func (m *Meter) sum() (packets, bytes uint64) {
	v := m.pending.Load()
	return m.packets.Load() + v>>byteBits, m.bytes.Load() + v&byteMask
}
