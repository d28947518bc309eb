package spd

import (
	"math/bits"
	"slices"
	"sync"
)

// The classifier's index. Each entry is stored in exactly one place: in a
// segment tree over the one axis where it is most selective (destination
// address, source address, destination port or source port), or, when it
// is "any" on all four, in a plain list. A lookup stabs each tree at the
// selector's value: a search finds the elementary interval (leaf), then a
// walk to the root visits the candidate lists that cover it. Lists are
// sorted by rank and the walk keeps the best rank found so far, so a list
// is left at its first match or at the first entry that ranks below the
// best. Each list is visited only if non-empty: every node records its
// nearest non-empty ancestor, so the walk jumps over empty levels.
//
// A lookup is bound by memory latency, so the layout avoids cache misses:
// candidates are stored inline in their lists with everything needed to
// check them (the tree's own axis needs no check: a node covers only
// leaves inside the entry's interval); the leaf search first searches a
// small sampled copy of the interval bounds, then one short block; and
// entries whose address interval lies inside the IPv4-mapped space go to
// separate IPv4 trees whose bounds are 32-bit (a block is one cache
// line), which IPv6 keys skip, as IPv4 keys skip general trees that hold
// nothing inside the IPv4 space.
//
// Memory: an entry is stored in at most 2*log2(m) nodes of one tree, m
// being the number of elementary intervals of that axis (de Berg et al.,
// "Computational Geometry", section 10.3).

const (
	dimDst = iota
	dimSrc
	dimDport
	dimSport
	numDims
)

const noEntry = ^uint32(0)

// node is a segment tree node: its candidates are cand[start:end]; up is
// the nearest ancestor with candidates (0 for none; node 0 is unused).
type node struct{ start, end, up uint32 }

// cand is an entry as stored in a candidate list.
type cand struct {
	other      span // the entry's interval on the other address axis
	sp, dp     [2]uint16
	rank       uint32 // index in Classifier.entries
	rule, filt uint32 // the entry's rule and filter, so a hit needs no other load
	proto      uint8
	flags      uint8 // direction bits (Direction.mask) | candAnyProto | candMirrored
}

const (
	candAnyProto = 4
	candMirrored = 8
	candOpaque   = 16 // matches only OPAQUE ports
	candPorts    = 32 // restricts ports or ICMP type/code: never matches OPAQUE
)

// hit is the result of an index lookup.
type hit struct {
	rank, rule, filt uint32
	mirrored         bool
}

// blockShift sets the sampling of the bounds: one in 1<<blockShift is
// copied to top.
const blockShift = 4

type segIndex struct {
	bounds []u128 // elementary interval starts, sorted, bounds[0] = 0
	top    []u128 // bounds[0], bounds[16], bounds[32], ...
	size   int    // number of leaves, a power of two >= len(bounds)
	nodes  []node // heap order: root 1, children 2i and 2i+1, leaves size..
	cand   []cand
	// IPv4 trees (Classifier.index4) search these instead: the bounds
	// inside the IPv4-mapped space as 32-bit IPv4 addresses, and their
	// sample; 16 bounds then fill one cache line.
	b32, top32 []uint32
	// touchesV4 says whether any candidate of this (general) tree covers
	// an IPv4-mapped address; if none does, IPv4 keys skip the tree.
	touchesV4 bool
}

// v4Span is the IPv4-mapped space, ::ffff:0.0.0.0 to ::ffff:255.255.255.255.
var v4Span = span{u128{0, 0xffff << 32}, u128{0, 0xffff<<32 | 0xffffffff}}

// inV4 reports whether s lies inside the IPv4-mapped space.
func (s span) inV4() bool {
	return !s.lo.less(v4Span.lo) && !v4Span.hi.less(s.hi)
}

// isV4 reports whether v is an IPv4-mapped address.
func (v u128) isV4() bool { return v.hi == 0 && v.lo>>32 == 0xffff }

func (e *entry) axis(d int) span {
	switch d {
	case dimDst:
		return e.dst
	case dimSrc:
		return e.src
	case dimDport:
		return span{u128{0, uint64(e.dp[0])}, u128{0, uint64(e.dp[1])}}
	}
	return span{u128{0, uint64(e.sp[0])}, u128{0, uint64(e.sp[1])}}
}

func axisFull(d int) span {
	if d <= dimSrc {
		return fullSpan
	}
	return span{u128{}, u128{0, 0xffff}}
}

// buildIndex assigns every entry to an axis and builds the trees.
//
// Choice of axis: an entry with a restricted address goes to an address
// axis, where the fewest other entries share its exact interval (an
// address that every filter names, such as "my IP address", is a poor
// index), then where its interval is narrowest, then destination before
// source. An entry with both addresses "any" goes to the narrower port
// axis (a port or ICMP type/code), and with nothing restricted to the
// plain list. This is a heuristic for speed; it never changes a result.
func (c *Classifier) buildIndex() {
	// Approximate counts of equal intervals: a hashed table per axis
	// (collisions only blur the heuristic).
	slots := uint32(1) << bits.Len(uint(2*len(c.entries)))
	var counts [2][]uint32
	for d := range counts {
		counts[d] = make([]uint32, slots)
	}
	for i := range c.entries {
		for d := range 2 {
			if s := c.entries[i].axis(d); s != fullSpan {
				counts[d][s.hash()&(slots-1)]++
			}
		}
	}
	var members [numDims][]uint32
	var members4 [2][]uint32
	for i := range c.entries {
		e := &c.entries[i]
		best, bestCount, bestWidth := -1, uint32(0), 0
		for d := range 2 {
			s := e.axis(d)
			if s == fullSpan {
				continue
			}
			n, w := counts[d][s.hash()&(slots-1)], 128-s.specificity()
			if best < 0 || n < bestCount || n == bestCount && w < bestWidth {
				best, bestCount, bestWidth = d, n, w
			}
		}
		if best < 0 {
			for d := dimDport; d < numDims; d++ {
				s := e.axis(d)
				if s == axisFull(d) {
					continue
				}
				if w := 128 - s.specificity(); best < 0 || w < bestWidth {
					best, bestWidth = d, w
				}
			}
		}
		switch {
		case best < 0:
			c.rest = append(c.rest, uint32(i))
		case best <= dimSrc && e.axis(best).inV4():
			members4[best] = append(members4[best], uint32(i))
		default:
			members[best] = append(members[best], uint32(i))
		}
	}
	// The trees are independent: build them in parallel.
	var wg sync.WaitGroup
	for d := range numDims {
		if len(members[d]) > 0 {
			wg.Go(func() {
				t := &c.index[d]
				t.build(c.entries, members[d], d)
				for _, i := range members[d] {
					if s := c.entries[i].axis(d); d > dimSrc || !s.hi.less(v4Span.lo) && !v4Span.hi.less(s.lo) {
						t.touchesV4 = true
						break
					}
				}
			})
		}
	}
	for d := range members4 {
		if len(members4[d]) > 0 {
			wg.Go(func() {
				t := &c.index4[d]
				t.build(c.entries, members4[d], d)
				// bounds[0] is 0, below the IPv4 space; every other bound
				// is an IPv4 address or the first address after the space,
				// which no IPv4 key reaches. So for an IPv4 key x the leaf
				// is the number of IPv4 bounds <= x.
				t.b32 = make([]uint32, 0, len(t.bounds))
				for _, b := range t.bounds[1:] {
					if b.isV4() {
						t.b32 = append(t.b32, uint32(b.lo))
					}
				}
				for i := 0; i < len(t.b32); i += 1 << blockShift {
					t.top32 = append(t.top32, t.b32[i])
				}
				t.bounds, t.top = nil, nil
			})
		}
	}
	wg.Wait()
}

func (s span) hash() uint32 {
	h := s.lo.hi*0x9e3779b97f4a7c15 ^ s.lo.lo*0xc2b2ae3d27d4eb4f ^
		s.hi.hi*0x165667b19e3779f9 ^ s.hi.lo*0xd6e8feb86659fd93
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return uint32(h)
}

func compareU128(x, y u128) int {
	switch {
	case x.less(y):
		return -1
	case y.less(x):
		return 1
	}
	return 0
}

func (t *segIndex) build(entries []entry, members []uint32, d int) {
	b := make([]u128, 0, 2*len(members)+1)
	b = append(b, u128{})
	for _, i := range members {
		s := entries[i].axis(d)
		b = append(b, s.lo)
		if s.hi != maxU128 {
			b = append(b, s.hi.addOne())
		}
	}
	slices.SortFunc(b, compareU128)
	t.bounds = slices.Compact(b)
	for i := 0; i < len(t.bounds); i += 1 << blockShift {
		t.top = append(t.top, t.bounds[i])
	}
	t.size = 1 << bits.Len(uint(len(t.bounds)-1))
	t.nodes = make([]node, 2*t.size)

	// Canonical nodes of each member's leaf interval [l, r): counted in a
	// first pass, written in a second (members are in rank order, so each
	// list comes out sorted).
	lr := make([][2]uint32, len(members))
	count := make([]uint32, 2*t.size+1)
	for mi, i := range members {
		s := entries[i].axis(d)
		l := t.leaf(s.lo)
		r := len(t.bounds)
		if s.hi != maxU128 {
			r = t.leaf(s.hi.addOne())
		}
		lr[mi] = [2]uint32{uint32(l), uint32(r)}
		for l, r = l+t.size, r+t.size; l < r; l, r = l>>1, r>>1 {
			if l&1 == 1 {
				count[l+1]++
				l++
			}
			if r&1 == 1 {
				r--
				count[r+1]++
			}
		}
	}
	for n := 1; n < len(count); n++ {
		count[n] += count[n-1]
	}
	for n := range t.nodes {
		t.nodes[n].start, t.nodes[n].end = count[n], count[n]
	}
	t.cand = make([]cand, count[len(count)-1])
	put := func(node int, cd *cand) {
		n := &t.nodes[node]
		t.cand[n.end] = *cd
		n.end++
	}
	for mi, i := range members {
		e := &entries[i]
		cd := cand{other: fullSpan, sp: e.sp, dp: e.dp, rank: i, rule: e.rule, filt: e.filt, proto: e.proto, flags: e.dirs | e.flags}
		if e.anyProto {
			cd.flags |= candAnyProto
		}
		if e.mirrored {
			cd.flags |= candMirrored
		}
		switch d {
		case dimDst:
			cd.other = e.src
		case dimSrc:
			cd.other = e.dst
		}
		l, r := int(lr[mi][0])+t.size, int(lr[mi][1])+t.size
		for ; l < r; l, r = l>>1, r>>1 {
			if l&1 == 1 {
				put(l, &cd)
				l++
			}
			if r&1 == 1 {
				r--
				put(r, &cd)
			}
		}
	}
	// Nearest non-empty ancestor, top down.
	for n := 2; n < len(t.nodes); n++ {
		parent := n >> 1
		if t.nodes[parent].start != t.nodes[parent].end {
			t.nodes[n].up = uint32(parent)
		} else {
			t.nodes[n].up = t.nodes[parent].up
		}
	}
}

// leaf returns the index of the elementary interval holding v: the last
// bound <= v. It searches the sampled bounds, then one block.
func (t *segIndex) leaf(v u128) int {
	lo, hi := 0, len(t.top)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if v.less(t.top[m]) {
			hi = m
		} else {
			lo = m
		}
	}
	i := lo << blockShift
	end := min(i+1<<blockShift, len(t.bounds))
	for i+1 < end && !v.less(t.bounds[i+1]) {
		i++
	}
	return i
}

// leaf32 is leaf for an IPv4 tree and an IPv4 key x.
func (t *segIndex) leaf32(x uint32) int {
	// The block of the last sampled bound <= x; none: leaf 0.
	lo, hi := -1, len(t.top32)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if x < t.top32[m] {
			hi = m
		} else {
			lo = m
		}
	}
	if lo < 0 {
		return 0
	}
	i := lo << blockShift
	end := min(i+1<<blockShift, len(t.b32))
	for i+1 < end && x >= t.b32[i+1] {
		i++
	}
	return i + 1
}

// stab scans the candidate lists covering v and returns the best
// candidate, starting from best. o is the selector's value on the
// candidates' other address axis.
func (t *segIndex) stab(v, o u128, k *key, best *cand) *cand {
	return t.walk(t.leaf(v), o, k, best)
}

// walk is stab from the leaf holding the selector's value.
func (t *segIndex) walk(leaf int, o u128, k *key, best *cand) *cand {
	n := uint32(leaf + t.size)
	nd := &t.nodes[n]
	if nd.start == nd.end {
		n = nd.up
	}
	for n != 0 {
		nd = &t.nodes[n]
		for j := range t.cand[nd.start:nd.end] {
			cd := &t.cand[int(nd.start)+j]
			if cd.rank >= best.rank {
				break
			}
			if cd.flags&k.dir != 0 && cd.flags&k.forbid == 0 &&
				(cd.flags&candAnyProto != 0 || cd.proto == k.proto) &&
				k.sp >= cd.sp[0] && k.sp <= cd.sp[1] &&
				k.dp >= cd.dp[0] && k.dp <= cd.dp[1] &&
				!o.less(cd.other.lo) && !cd.other.hi.less(o) {
				best = cd
				break
			}
		}
		n = nd.up
	}
	return best
}

var noCand = cand{rank: noEntry}

func (c *Classifier) lookup(k *key) hit {
	best := &noCand
	if k.dst.isV4() {
		if t := &c.index4[dimDst]; t.size != 0 {
			best = t.walk(t.leaf32(uint32(k.dst.lo)), k.src, k, best)
		}
	}
	if k.src.isV4() {
		if t := &c.index4[dimSrc]; t.size != 0 {
			best = t.walk(t.leaf32(uint32(k.src.lo)), k.dst, k, best)
		}
	}
	if t := &c.index[dimDst]; t.size != 0 && (t.touchesV4 || !k.dst.isV4()) {
		best = t.stab(k.dst, k.src, k, best)
	}
	if t := &c.index[dimSrc]; t.size != 0 && (t.touchesV4 || !k.src.isV4()) {
		best = t.stab(k.src, k.dst, k, best)
	}
	if t := &c.index[dimDport]; t.size != 0 {
		best = t.stab(u128{0, uint64(k.dp)}, k.src, k, best)
	}
	if t := &c.index[dimSport]; t.size != 0 {
		best = t.stab(u128{0, uint64(k.sp)}, k.src, k, best)
	}
	for _, i := range c.rest {
		if i >= best.rank {
			break
		}
		if e := &c.entries[i]; e.match(k) {
			return hit{i, e.rule, e.filt, e.mirrored}
		}
	}
	return hit{best.rank, best.rule, best.filt, best.flags&candMirrored != 0}
}
