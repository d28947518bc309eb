package spd

import (
	"testing"
)

func resultOf(p *Policy, m Match) refResult {
	if m.Default {
		return refResult{-1, -1, false}
	}
	for ri := range p.Rules {
		if p.Rules[ri].Name == m.Rule.Name {
			for fi := range p.Rules[ri].Filters.Filters {
				if p.Rules[ri].Filters.Filters[fi].Description == m.Filter.Description {
					return refResult{ri, fi, m.Mirrored}
				}
			}
		}
	}
	return refResult{-2, -2, false}
}

// TestDifferential compares the compiled classifier with the reference
// linear model over random policies (overlapping prefixes and ranges,
// port ranges, OPAQUE ports, mirrored filters, IPv4 and IPv6, priorities,
// domain and local origins, directions, a permit or block default) and
// random selectors, some with OPAQUE ports.
func TestDifferential(t *testing.T) {
	const policies, perPolicy = 400, 300 // x3 directions = 360,000 cases
	cases, defaults, mirrored, opaque := 0, 0, 0, 0
	for seed := uint64(1); seed <= policies; seed++ {
		g := newGen(seed)
		p := g.policy(1+g.r.IntN(40), 1+g.r.IntN(6))
		c, err := Compile(p, CompileOptions{LocalAddrs: g.local})
		if err != nil {
			t.Fatalf("seed %d: compile: %v", seed, err)
		}
		for i := 0; i < perPolicy; i++ {
			s := g.selector()
			for _, dir := range []Direction{DirOutbound, DirInbound, DirBoth} {
				want := refLookup(p, s, dir, g.local)
				m := c.Lookup(s, dir)
				got := resultOf(p, m)
				cases++
				switch {
				case want.rule < 0:
					defaults++
				case want.mirrored:
					mirrored++
				}
				if s.Opaque && want.rule >= 0 && p.Rules[want.rule].Filters.Filters[want.filter].opaque() {
					opaque++ // an OPAQUE packet matched an OPAQUE filter
				}
				if got != want {
					t.Fatalf("seed %d: lookup %+v %s: got rule %d filter %d mirrored %v, want rule %d filter %d mirrored %v",
						seed, s, dir, got.rule, got.filter, got.mirrored, want.rule, want.filter, want.mirrored)
				}
				if m.Default && m.Rule.Action.Action != map[bool]Action{true: ActionBypass, false: p.Default.Action}[p.Default.Action == 0] {
					t.Fatalf("seed %d: default rule action %s, policy default %s", seed, m.Rule.Action.Action, p.Default.Action)
				}
			}
		}
	}
	// The generator must exercise both outcomes, not only the default.
	if cases < 100000 || defaults < cases/20 || cases-defaults < cases/5 || mirrored < cases/50 || opaque < 500 {
		t.Fatalf("weak coverage: %d cases, %d default, %d mirrored, %d OPAQUE filter matches", cases, defaults, mirrored, opaque)
	}
	t.Logf("%d cases agree (%d default rule, %d mirrored matches, %d OPAQUE filter matches)", cases, defaults, mirrored, opaque)
}

// TestIndexMatchesLinearScan checks the index against the ordered linear
// scan on benchmark-shaped policies (many host and subnet rules around
// "my IP address", IPv4 and IPv6), which are larger than the random
// policies of TestDifferential. It runs under -race, unlike the
// 100,000-filter check in TestLookupMedianAlloc.
func TestIndexMatchesLinearScan(t *testing.T) {
	for _, n := range []int{100, 2000} {
		p, local := benchPolicy(n, uint64(n))
		c, err := Compile(p, CompileOptions{LocalAddrs: local})
		if err != nil {
			t.Fatal(err)
		}
		specific := 0
		for i, s := range benchSelectors(p, local, 2048, uint64(n)+1) {
			for _, dir := range []Direction{DirOutbound, DirInbound, DirBoth} {
				k := s.key(dir)
				got, want := c.lookup(&k), linearLookup(c, s, dir)
				if got.rank != want {
					t.Fatalf("n=%d selector %d %+v %s: index %d, linear %d", n, i, s, dir, got.rank, want)
				}
				if want != noEntry {
					e := &c.entries[want]
					if got.rule != e.rule || got.filt != e.filt || got.mirrored != e.mirrored {
						t.Fatalf("n=%d selector %d: hit %+v, entry %+v", n, i, got, e)
					}
					if r := c.policy.Rules[e.rule].Name; r != "All IP Traffic" && r != "All ICMP Traffic" {
						specific++
					}
				}
			}
		}
		if specific < 1000 {
			t.Fatalf("n=%d: only %d lookups hit a specific rule", n, specific)
		}
	}
}
