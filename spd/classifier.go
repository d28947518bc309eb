package spd

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Match is the result of a lookup. It is a value, safe for concurrent
// reads; its pointers refer to the immutable rules of the Classifier that
// produced it, which callers must not modify.
type Match struct {
	// Rule is the winning rule, or the policy's default rule when no filter
	// matched (Default is then true). Never nil. Rule.ID is always set
	// (the default rule's is "<default>").
	Rule *Rule
	// Filter is the filter that matched, nil for the default rule.
	Filter *Filter
	// Mirrored is true when the filter matched in its mirrored form.
	Mirrored bool
	// Default is true when no filter matched.
	Default bool
}

// entry is one compiled filter: a filter becomes one entry per resolved
// source span times destination span, plus the same again swapped when
// it is mirrored. The index of an entry in Classifier.entries is its rank:
// lower wins.
type entry struct {
	src, dst   span
	sp, dp     [2]uint16 // inclusive port (or ICMP type/code) bounds
	proto      uint8
	anyProto   bool
	dirs       uint8
	flags      uint8 // candOpaque | candPorts
	mirrored   bool
	rule, filt uint32
}

func (e *entry) match(k *key) bool {
	return e.dirs&k.dir != 0 && e.flags&k.forbid == 0 &&
		(e.anyProto || e.proto == k.proto) &&
		k.sp >= e.sp[0] && k.sp <= e.sp[1] &&
		k.dp >= e.dp[0] && k.dp <= e.dp[1] &&
		!k.dst.less(e.dst.lo) && !e.dst.hi.less(k.dst) &&
		!k.src.less(e.src.lo) && !e.src.hi.less(k.src)
}

// Classifier is a compiled, immutable policy: safe for concurrent use.
type Classifier struct {
	policy  Policy // deep copy; rules are addressed by index
	def     Rule   // the default rule
	entries []entry
	index   [numDims]segIndex
	index4  [2]segIndex // destination and source entries inside the IPv4 space
	rest    []uint32    // entries that are "any" on every indexed axis
	local   []netip.Addr
}

// CompileOptions tunes Compile. Compile copies what it needs; the value
// is not retained.
type CompileOptions struct {
	// LocalAddrs resolves "my IP address" (AddrMe). A filter on AddrMe
	// matches nothing when it is empty.
	LocalAddrs []netip.Addr
}

// sortKey orders entries; see doc.go, "Filter order".
type sortKey struct {
	origin int // domain first
	noPrio int // rules with a priority first
	prio   uint32
	addr   int // higher first
	proto  int // higher first
	port   int // higher first
	action int // block, negotiate, permit
	rule   int
	filter int
}

func compareKeys(a, b *sortKey) int {
	switch {
	case a.origin != b.origin:
		return cmp.Compare(a.origin, b.origin)
	case a.noPrio != b.noPrio:
		return cmp.Compare(a.noPrio, b.noPrio)
	case a.prio != b.prio:
		return cmp.Compare(a.prio, b.prio)
	case a.addr != b.addr:
		return cmp.Compare(b.addr, a.addr)
	case a.proto != b.proto:
		return cmp.Compare(b.proto, a.proto)
	case a.port != b.port:
		return cmp.Compare(b.port, a.port)
	case a.action != b.action:
		return cmp.Compare(a.action, b.action)
	case a.rule != b.rule:
		return cmp.Compare(a.rule, b.rule)
	}
	return cmp.Compare(a.filter, b.filter)
}

// addrSpecificity is the address weight of doc.go: 128 for one address
// (and for "me", which is one of this host's addresses), 0 for any.
func addrSpecificity(a Address) int {
	switch a.Kind {
	case AddrAny:
		return 0
	case AddrMe:
		return 128
	}
	var buf [1]span
	return a.spans(nil, buf[:0])[0].specificity()
}

// filterKey computes the order of a filter of rule ri, filter fi.
func filterKey(r *Rule, ri, fi int) sortKey {
	f := &r.Filters.Filters[fi]
	addr, proto, port := f.weights(addrSpecificity(f.Source), addrSpecificity(f.Destination))
	k := sortKey{
		origin: -int(r.Origin),
		noPrio: 1,
		addr:   addr,
		proto:  proto,
		port:   port,
		action: r.Action.Action.rank(),
		rule:   ri,
		filter: fi,
	}
	if r.Priority != 0 {
		k.noPrio, k.prio = 0, r.Priority
	}
	return k
}

// Compile validates the policy and builds its classifier. The policy is
// copied; later changes to p do not affect the classifier.
func Compile(p *Policy, opts CompileOptions) (*Classifier, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := &Classifier{policy: *p.Clone(), local: slices.Clone(opts.LocalAddrs)}
	for i := range c.policy.Rules {
		c.policy.Rules[i].ID = c.policy.Rules[i].Identity()
	}
	if dr := c.policy.DefaultResponse; dr != nil && dr.ID == "" {
		dr.ID = "<default response>"
	}
	c.def = Rule{Name: "<default>", ID: "<default>", Action: c.policy.Default}
	if c.def.Action.Action == 0 {
		c.def.Action.Action = ActionBypass
	}
	if c.def.Action.Name == "" {
		c.def.Action.Name = "<default>"
	}

	// Order the filters (one key each), then expand them into entries in
	// that order: an entry's index is its rank.
	type keyed struct {
		k      sortKey
		ri, fi int
	}
	var order []keyed
	for ri := range c.policy.Rules {
		r := &c.policy.Rules[ri]
		if r.Disabled {
			continue
		}
		for fi := range r.Filters.Filters {
			order = append(order, keyed{filterKey(r, ri, fi), ri, fi})
		}
	}
	slices.SortFunc(order, func(a, b keyed) int { return compareKeys(&a.k, &b.k) })
	n := 0
	for _, o := range order {
		f := &c.policy.Rules[o.ri].Filters.Filters[o.fi]
		k := f.Source.count(len(c.local)) * f.Destination.count(len(c.local))
		if f.Mirrored {
			k *= 2
		}
		n += k
	}
	c.entries = make([]entry, 0, n)
	var sbuf, dbuf []span
	for _, o := range order {
		f := &c.policy.Rules[o.ri].Filters.Filters[o.fi]
		sbuf = f.Source.spans(c.local, sbuf[:0])
		dbuf = f.Destination.spans(c.local, dbuf[:0])
		base := entry{
			proto:    uint8(f.Protocol),
			anyProto: f.Protocol == ProtocolAny,
			rule:     uint32(o.ri),
			filt:     uint32(o.fi),
			sp:       [2]uint16{0, 0xffff},
			dp:       [2]uint16{0, 0xffff},
			dirs:     f.Direction.mask(),
		}
		switch {
		case f.Protocol.HasPorts():
			base.sp[0], base.sp[1] = f.SourcePort.Bounds()
			base.dp[0], base.dp[1] = f.DestinationPort.Bounds()
		case f.Protocol.IsICMP():
			base.sp[0], base.sp[1], base.dp[0], base.dp[1] = f.ICMP.bounds()
		}
		// RFC 4301 section 4.4.1.1: OPAQUE ports match only ANY or
		// OPAQUE; clear ports never match OPAQUE.
		// A range is not ANY even when it spans every port.
		if f.Protocol.HasPorts() && (f.SourcePort.set || f.DestinationPort.set) ||
			f.Protocol.IsICMP() && !f.ICMP.IsAny() {
			base.flags |= candPorts
		}
		if f.opaque() {
			base.flags |= candOpaque
		}
		for _, s := range sbuf {
			for _, d := range dbuf {
				e := base
				e.src, e.dst = s, d
				c.entries = append(c.entries, e)
			}
		}
		if !f.Mirrored {
			continue
		}
		// The mirror swaps addresses and ports and reverses the
		// direction. RFC 4301 section 4.4.1.1: ICMP type and code are
		// not ports and are not swapped.
		m := base
		m.mirrored = true
		m.dirs = f.Direction.reverse().mask()
		if f.Protocol.HasPorts() {
			m.sp, m.dp = base.dp, base.sp
		}
		for _, s := range sbuf {
			for _, d := range dbuf {
				e := m
				e.src, e.dst = d, s
				c.entries = append(c.entries, e)
			}
		}
	}
	if uint64(len(c.entries)) >= uint64(noEntry) {
		return nil, fmt.Errorf("%w: too many filters (%d entries)", ErrInvalidPolicy, len(c.entries))
	}
	c.buildIndex()
	return c, nil
}

// Lookup returns the rule that applies to a packet with selector s
// travelling in direction dir (DirOutbound or DirInbound; DirBoth, or
// zero, matches filters of either direction). It does not allocate.
func (c *Classifier) Lookup(s Selector, dir Direction) Match {
	k := s.key(dir)
	h := c.lookup(&k)
	if h.rank == noEntry {
		return Match{Rule: &c.def, Default: true}
	}
	r := &c.policy.Rules[h.rule]
	return Match{Rule: r, Filter: &r.Filters.Filters[h.filt], Mirrored: h.mirrored}
}

// Policy returns a copy of the compiled policy.
func (c *Classifier) Policy() *Policy { return c.policy.Clone() }

// DefaultResponse returns the default response rule, or nil.
func (c *Classifier) DefaultResponse() *Rule { return c.policy.DefaultResponse }

// LocalAddrs returns the addresses "my IP address" resolved to.
func (c *Classifier) LocalAddrs() []netip.Addr { return slices.Clone(c.local) }

// Len returns the number of compiled entries (filters, expanded for
// "my IP address" and mirroring).
func (c *Classifier) Len() int { return len(c.entries) }
