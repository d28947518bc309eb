package ipsec

// The classification cache: the datapath's shortcut past the SPD lookup
// for the common packet, an IPv4 packet without options that is not a
// fragment, carrying TCP, UDP, SCTP (ports) or ICMP (type and code).
//
// For such a packet the selector of RFC 4301 section 4.4.1.1 is a pure
// function of a few header bytes: the addresses (bytes 12-19), the
// protocol (byte 9) and the first four (ports) or two (ICMP type and
// code) bytes of the next layer. Those bytes and the direction are the
// cache key. The classifier's answer for a selector, the rule, and for a
// Negotiate rule its flow (rule and peer, the peer being the rule's
// tunnel endpoint or the packet's destination), depend only on the key
// and the policy in force, so the cache belongs to one policyState: a
// reload makes a new, empty cache on its next packet and never serves a
// stale rule. Every other packet (IPv6, options, fragments, other
// protocols) takes the full parse and lookup, as do misses.
//
// The cache is a direct-mapped table of slots, each on its own cache
// line, guarded by a sequence number (a seqlock made of atomics only):
// readers never write, take no lock and never allocate; a writer that
// finds the slot busy simply does not cache.

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/ipsecgo/ipsec/spd"
)

const (
	cacheBits  = 8
	cacheSlots = 1 << cacheBits
	// keyV4 marks a valid key (a zero key is an empty slot); the
	// direction is above it.
	keyV4     = 1 << 47
	keyDirBit = 48
)

// cacheSlot is one entry: its key, the rule, and the flow of a Negotiate
// rule. 64 bytes, so that slots do not share a cache line.
type cacheSlot struct {
	seq    atomic.Uint64 // odd while a writer fills the slot
	k0, k1 atomic.Uint64
	rs     atomic.Pointer[ruleState]
	f      atomic.Pointer[ruleFlow]
	_      [24]byte
}

// ruleCache caches the classification of one policyState.
type ruleCache struct {
	st    *policyState
	slots [cacheSlots]cacheSlot
}

// cacheFor returns the cache of st, making it on the first packet after a
// reload.
func (d *Driver) cacheFor(st *policyState) *ruleCache {
	c := d.cache.Load()
	if c != nil && c.st == st {
		return c
	}
	n := &ruleCache{st: st}
	if d.cache.CompareAndSwap(c, n) {
		return n
	}
	if c = d.cache.Load(); c != nil && c.st == st {
		return c
	}
	return n // another policy won meanwhile: use ours once, uncached next time
}

func (k cacheKey) slot() uint32 {
	h := k.k0*0x9e3779b97f4a7c15 ^ k.k1*0xc2b2ae3d27d4eb4f
	return uint32(h >> (64 - cacheBits))
}

// cacheKey is a packet's key; zero means "not cacheable".
type cacheKey struct{ k0, k1 uint64 }

// get returns the cached rule and flow for k, or nil.
func (c *ruleCache) get(k cacheKey) (*ruleState, *ruleFlow) {
	s := &c.slots[k.slot()]
	q := s.seq.Load()
	if q&1 != 0 || s.k0.Load() != k.k0 || s.k1.Load() != k.k1 {
		return nil, nil
	}
	rs, f := s.rs.Load(), s.f.Load()
	if s.seq.Load() != q {
		return nil, nil
	}
	return rs, f
}

// put caches rs and f for k, unless another writer holds the slot.
func (c *ruleCache) put(k cacheKey, rs *ruleState, f *ruleFlow) {
	s := &c.slots[k.slot()]
	q := s.seq.Load()
	if q&1 != 0 || !s.seq.CompareAndSwap(q, q+1) {
		return
	}
	s.k0.Store(k.k0)
	s.k1.Store(k.k1)
	s.rs.Store(rs)
	s.f.Store(f)
	s.seq.Store(q + 2)
}

// cacheKeyOf returns the cache key of a simple IPv4 packet (see the top
// of this file) for direction dir; ok is false for every other packet,
// which spd.ParseSelector reads. It accepts only packets that
// spd.ParseSelector reads without error: the same length checks (RFC 791:
// the total length covers the header and lies within the buffer; the
// next layer's first bytes lie within the total length).
func cacheKeyOf(pkt []byte, dir spd.Direction) (k cacheKey, ok bool) {
	if len(pkt) < 24 || pkt[0] != 0x45 {
		return k, false
	}
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if total > len(pkt) || binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 { // MF or an offset
		return k, false
	}
	p := spd.Protocol(pkt[9])
	l4 := binary.BigEndian.Uint32(pkt[20:24])
	switch {
	case p.HasPorts():
		if total < 24 {
			return k, false
		}
	case p.IsICMP():
		if total < 22 {
			return k, false
		}
		l4 &^= 0xffff // type and code only
	default:
		return k, false
	}
	k.k0 = binary.BigEndian.Uint64(pkt[12:20])
	k.k1 = uint64(dir)<<keyDirBit | keyV4 | uint64(p)<<32 | uint64(l4)
	return k, true
}

// fastSel returns the selector of a packet cacheKeyOf accepted: what
// spd.ParseSelector returns for it.
func fastSel(pkt []byte) spd.Selector {
	sel := spd.Selector{
		Src:      netip.AddrFrom4([4]byte(pkt[12:16])),
		Dst:      netip.AddrFrom4([4]byte(pkt[16:20])),
		Protocol: spd.Protocol(pkt[9]),
	}
	if sel.Protocol.HasPorts() {
		sel.SrcPort, sel.DstPort = binary.BigEndian.Uint16(pkt[20:22]), binary.BigEndian.Uint16(pkt[22:24])
	} else {
		sel.ICMPType, sel.ICMPCode = pkt[20], pkt[21]
	}
	return sel
}

// fastSelector is cacheKeyOf and fastSel in one.
func fastSelector(pkt []byte, dir spd.Direction) (spd.Selector, cacheKey, bool) {
	k, ok := cacheKeyOf(pkt, dir)
	if !ok {
		return spd.Selector{}, k, false
	}
	return fastSel(pkt), k, true
}
