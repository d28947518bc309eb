package spd

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePolicy feeds arbitrary bytes to the policy file parser. It
// must never panic; it returns either a policy that validates and
// compiles, or PolicyErrors that wrap ErrInvalidPolicy and carry the file
// name. Seeds: the shipped default policies, the full example, every
// malformed file of TestParseErrors and testdata/*.yaml.
func FuzzParsePolicy(f *testing.F) {
	for _, name := range DefaultPolicyNames() {
		data, err := DefaultPolicyFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(fullPolicy))
	f.Add([]byte(ikePolicy))
	f.Add([]byte(""))
	f.Add([]byte("name: [unclosed\n"))
	f.Add([]byte("filter_lists:\n  - &x {name: A, filters: [{}]}\n  - *x\n"))
	f.Add([]byte("filter_lists:\n  - name: A\n    filters:\n      - source: 10.0.0.9-10.0.0.1\n"))
	f.Add([]byte("rules:\n  - filter_list: L\n    filter_action: P\n    priority: 0\n"))
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	local := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("policy returned with an error")
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error does not wrap ErrInvalidPolicy: %v", err)
			}
			if pe, ok := IsPolicyError(err); !ok || pe.File != "fuzz.yaml" || pe.Msg == "" {
				t.Fatalf("malformed error %#v", pe)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed policy does not validate: %v", err)
		}
		c, err := Compile(p, CompileOptions{LocalAddrs: local})
		if err != nil {
			t.Fatalf("parsed policy does not compile: %v", err)
		}
		sel := Selector{Src: local[0], Dst: netip.MustParseAddr("198.51.100.1"), Protocol: ProtocolTCP, DstPort: 80}
		if m := c.Lookup(sel, DirOutbound); m.Rule == nil {
			t.Fatal("nil rule")
		}
		if err := c.Dump(discard{}); err != nil {
			t.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// FuzzLookup is a differential fuzz target: it decodes a selector (with
// OPAQUE ports or not) from the input and compares the classifier with
// the reference model over a fixed random policy, including invalid
// (zero) addresses.
func FuzzLookup(f *testing.F) {
	g := newGen(99)
	p := g.policy(40, 6)
	c, err := Compile(p, CompileOptions{LocalAddrs: g.local})
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 16; i++ {
		s := g.selector()
		f.Add(s.Src.AsSlice(), s.Dst.AsSlice(), uint8(s.Protocol), s.SrcPort, s.DstPort, s.ICMPType, s.ICMPCode, uint8(i%8))
	}
	f.Add([]byte{}, []byte{1, 2, 3}, uint8(6), uint16(0), uint16(80), uint8(0), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, src, dst []byte, proto uint8, sp, dp uint16, typ, code, dir uint8) {
		s := Selector{Protocol: Protocol(proto), SrcPort: sp, DstPort: dp, ICMPType: typ, ICMPCode: code}
		s.Src, _ = netip.AddrFromSlice(src)
		s.Dst, _ = netip.AddrFromSlice(dst)
		d := Direction(dir % 4) // unset, inbound, outbound, both
		s.Opaque = dir&4 != 0
		m := c.Lookup(s, d)
		if !s.Src.IsValid() || !s.Dst.IsValid() {
			return // no panic is all that is asked of an invalid selector
		}
		if got, want := resultOf(p, m), refLookup(p, s, d, g.local); got != want {
			t.Fatalf("lookup %+v %s: got %+v, want %+v", s, d, got, want)
		}
	})
}
