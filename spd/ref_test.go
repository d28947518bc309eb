package spd

import (
	"fmt"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"net/netip"
)

// This file holds the reference model the differential tests compare the
// classifier with: a direct reading of the filter semantics over
// net/netip, written independently of the compiled entries, and a
// generator of random policies and selectors.

func refAddrMatch(a Address, x netip.Addr, local []netip.Addr) bool {
	switch a.Kind {
	case AddrAny:
		return true
	case AddrMe:
		for _, m := range local {
			if m.Unmap() == x {
				return true
			}
		}
		return false
	case AddrHost:
		return a.From.Unmap() == x
	case AddrSubnet:
		// IPv4 is the IPv4-mapped part of one 128-bit space (doc.go), so
		// compare there: ::ffff:0:0/96 holds every IPv4 address.
		p := a.Prefix
		if p.Addr().Is4() {
			p = netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), p.Bits()+96)
		}
		return p.Contains(netip.AddrFrom16(x.As16()))
	case AddrRange:
		x16 := netip.AddrFrom16(x.As16())
		return netip.AddrFrom16(a.From.As16()).Compare(x16) <= 0 && x16.Compare(netip.AddrFrom16(a.To.As16())) <= 0
	}
	return false
}

// refPortMatch is RFC 4301 section 4.4.1.1: ANY matches every port and
// OPAQUE; OPAQUE matches only OPAQUE; a range matches readable ports in it.
func refPortMatch(r PortRange, p uint16, opaque bool) bool {
	switch {
	case r.IsAny():
		return true
	case r.IsOpaque() || opaque:
		return r.IsOpaque() && opaque
	}
	lo, hi := r.Bounds()
	return lo <= p && p <= hi
}

// refMatch reports whether f matches s in direction dir, forward or
// mirrored.
func refMatch(f *Filter, s Selector, dir Direction, local []netip.Addr, mirrored bool) bool {
	// Selector documents IPv4-mapped addresses as IPv4.
	s.Src, s.Dst = s.Src.Unmap(), s.Dst.Unmap()
	fdir := f.Direction
	src, dst := f.Source, f.Destination
	sport, dport := f.SourcePort, f.DestinationPort
	if mirrored {
		fdir = fdir.reverse()
		src, dst = dst, src
		sport, dport = dport, sport
	}
	both := func(d Direction) bool { return d == 0 || d == DirBoth }
	if !both(fdir) && !both(dir) && fdir != dir {
		return false
	}
	if f.Protocol != ProtocolAny && f.Protocol != s.Protocol {
		return false
	}
	if !refAddrMatch(src, s.Src, local) || !refAddrMatch(dst, s.Dst, local) {
		return false
	}
	if f.Protocol.HasPorts() && (!refPortMatch(sport, s.SrcPort, s.Opaque) || !refPortMatch(dport, s.DstPort, s.Opaque)) {
		return false
	}
	if f.Protocol.IsICMP() && s.Opaque && !f.ICMP.IsAny() {
		return false
	}
	if f.Protocol.IsICMP() && !s.Opaque {
		if t, ok := f.ICMP.Type(); ok && t != s.ICMPType {
			return false
		}
		if c, ok := f.ICMP.Code(); ok && c != s.ICMPCode {
			return false
		}
	}
	return true
}

// refSpecificity: 128 minus ceil(log2(number of addresses)), IPv4 counted
// in the IPv4-mapped space.
func refSpecificity(a Address) int {
	switch a.Kind {
	case AddrAny:
		return 0
	case AddrMe, AddrHost:
		return 128
	case AddrSubnet:
		if a.Prefix.Addr().Is4() {
			return 96 + a.Prefix.Bits()
		}
		return a.Prefix.Bits()
	}
	if a.From.Is4() != a.To.Is4() {
		from := new(big.Int).SetBytes(netip.AddrFrom16(a.From.As16()).AsSlice())
		to := new(big.Int).SetBytes(netip.AddrFrom16(a.To.As16()).AsSlice())
		return 128 - new(big.Int).Sub(to, from).BitLen()
	}
	from := new(big.Int).SetBytes(a.From.AsSlice())
	to := new(big.Int).SetBytes(a.To.AsSlice())
	n := new(big.Int).Sub(to, from) // size - 1
	return 128 - n.BitLen()
}

func refPortWeight(lo, hi uint16) int { return 16 - bits.Len16(hi-lo) }

type refResult struct {
	rule, filter int // -1, -1 for the default rule
	mirrored     bool
}

// refLookup scans every filter of every enabled rule and keeps the best
// by the order of doc.go.
func refLookup(p *Policy, s Selector, dir Direction, local []netip.Addr) refResult {
	best := refResult{-1, -1, false}
	var bestKey [10]int
	for ri := range p.Rules {
		r := &p.Rules[ri]
		if r.Disabled {
			continue
		}
		for fi := range r.Filters.Filters {
			f := &r.Filters.Filters[fi]
			for _, mir := range []bool{false, true} {
				if mir && !f.Mirrored {
					continue
				}
				if !refMatch(f, s, dir, local, mir) {
					continue
				}
				port := 0
				switch {
				case f.Protocol.HasPorts():
					for _, r := range []PortRange{f.SourcePort, f.DestinationPort} {
						if r.IsOpaque() {
							port += 16 // doc.go: OPAQUE weighs as one port
							continue
						}
						a, b := r.Bounds()
						port += refPortWeight(a, b)
					}
				case f.Protocol.IsICMP():
					if _, ok := f.ICMP.Type(); ok {
						port += 16
					}
					if _, ok := f.ICMP.Code(); ok {
						port += 16
					}
				}
				proto := 0
				if f.Protocol != ProtocolAny {
					proto = 1
				}
				prio := [2]int{1, 0}
				if r.Priority != 0 {
					prio = [2]int{0, int(r.Priority)}
				}
				act := map[Action]int{ActionDiscard: 0, ActionProtect: 1, ActionBypass: 2}[r.Action.Action]
				mi := 0
				if mir {
					mi = 1
				}
				k := [10]int{-int(r.Origin), prio[0], prio[1],
					-(refSpecificity(f.Source) + refSpecificity(f.Destination)),
					-proto, -port, act, ri, fi, mi}
				if best.rule < 0 || less10(k, bestKey) {
					best, bestKey = refResult{ri, fi, mir}, k
				}
			}
		}
	}
	return best
}

func less10(a, b [10]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// gen draws random policies and selectors over a small address universe,
// so that prefixes, ranges and ports overlap often.
type gen struct {
	r     *rand.Rand
	local []netip.Addr
	v4    []netip.Addr
	v6    []netip.Addr
	ports []uint16
}

func newGen(seed uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i := 0; i < 12; i++ {
		g.v4 = append(g.v4, netip.AddrFrom4([4]byte{10, byte(g.r.IntN(3)), byte(g.r.IntN(4) * 64), byte(g.r.IntN(256))}))
		g.v6 = append(g.v6, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(g.r.IntN(2)), 14: byte(g.r.IntN(3)), 15: byte(g.r.IntN(256))}))
	}
	g.local = []netip.Addr{g.v4[0], g.v6[0]}
	g.ports = []uint16{0, 22, 53, 80, 443, 500, 1023, 1024, 4500, 8080, 65535}
	return g
}

func (g *gen) addr(v6 bool) netip.Addr {
	if v6 {
		return g.v6[g.r.IntN(len(g.v6))]
	}
	return g.v4[g.r.IntN(len(g.v4))]
}

// near returns a, or a neighbour of it.
func (g *gen) near(a netip.Addr) netip.Addr {
	switch g.r.IntN(4) {
	case 0:
		if n := a.Next(); n.IsValid() {
			return n
		}
	case 1:
		if n := a.Prev(); n.IsValid() {
			return n
		}
	}
	return a
}

// wideV6 are IPv6 prefixes that cover IPv4-mapped addresses too.
// mappedV4 are IPv4 prefixes written as IPv4-mapped IPv6 prefixes.
var (
	wideV6   = []netip.Prefix{netip.MustParsePrefix("::/0"), netip.MustParsePrefix("::/1")}
	mappedV4 = []netip.Prefix{netip.MustParsePrefix("::ffff:0:0/96"), netip.MustParsePrefix("::ffff:10.0.0.0/112")}
)

func (g *gen) address(v6 bool) Address {
	if g.r.IntN(15) == 0 {
		if v6 {
			return SubnetAddr(wideV6[g.r.IntN(len(wideV6))])
		}
		return SubnetAddr(mappedV4[g.r.IntN(len(mappedV4))])
	}
	switch g.r.IntN(6) {
	case 0:
		return AnyAddr()
	case 1:
		return MyAddr()
	case 2:
		return HostAddr(g.addr(v6))
	case 3:
		a := g.addr(v6)
		bitsN := 8 + g.r.IntN(25)
		if v6 {
			bitsN = 32 + g.r.IntN(97)
		}
		return SubnetAddr(netip.PrefixFrom(a, bitsN).Masked())
	case 4:
		a, b := g.addr(v6), g.addr(v6)
		if b.Less(a) {
			a, b = b, a
		}
		return RangeAddr(a, b)
	}
	a := g.addr(v6)
	if v6 {
		return SubnetAddr(netip.PrefixFrom(a, 120).Masked())
	}
	return SubnetAddr(netip.PrefixFrom(a, 24).Masked())
}

func (g *gen) portRange() PortRange {
	switch g.r.IntN(4) {
	case 0, 1:
		return AnyPort()
	case 2:
		return Port(g.ports[g.r.IntN(len(g.ports))])
	}
	a, b := g.ports[g.r.IntN(len(g.ports))], g.ports[g.r.IntN(len(g.ports))]
	if a > b {
		a, b = b, a
	}
	return PortSpan(a, b)
}

var genProtocols = []Protocol{ProtocolAny, ProtocolAny, ProtocolTCP, ProtocolTCP, ProtocolUDP, ProtocolSCTP, ProtocolICMP, ProtocolICMPv6, ProtocolGRE}

func (g *gen) filter(id int) Filter {
	v6 := g.r.IntN(3) == 0
	f := Filter{
		Description: fmt.Sprintf("f%d", id),
		Source:      g.address(v6),
		Destination: g.address(v6),
		Protocol:    genProtocols[g.r.IntN(len(genProtocols))],
		Mirrored:    g.r.IntN(2) == 0,
		Direction:   Direction(g.r.IntN(4)), // unset, inbound, outbound, both
	}
	if f.Protocol == ProtocolICMP && v6 || f.Protocol == ProtocolICMPv6 && !v6 {
		f.Protocol = ProtocolAny
	}
	switch {
	case f.Protocol.HasPorts() && g.r.IntN(8) == 0:
		// OPAQUE pairs only with OPAQUE or any.
		f.SourcePort, f.DestinationPort = OpaquePort(), OpaquePort()
		switch g.r.IntN(3) {
		case 0:
			f.SourcePort = AnyPort()
		case 1:
			f.DestinationPort = AnyPort()
		}
	case f.Protocol.HasPorts():
		f.SourcePort, f.DestinationPort = g.portRange(), g.portRange()
	case f.Protocol.IsICMP():
		switch g.r.IntN(3) {
		case 1:
			f.ICMP = ICMPType(uint8(g.r.IntN(4)))
		case 2:
			f.ICMP = ICMPTypeCode(uint8(g.r.IntN(4)), uint8(g.r.IntN(2)))
		}
	}
	return f
}

var protectAction = FilterAction{
	Name:    "Require Security",
	Action:  ActionProtect,
	Methods: []SecurityMethod{{UseESP: true, ESPEncryption: EncryptionAESGCM16, ESPKeyBits: 128, Lifetime: DefaultLifetime, LifetimeKB: DefaultLifetimeKB}},
}

func (g *gen) policy(rules, maxFilters int) *Policy {
	p := &Policy{Name: "random"}
	id := 0
	for i := 0; i < rules; i++ {
		r := Rule{Name: fmt.Sprintf("r%d", i)}
		switch g.r.IntN(3) {
		case 0:
			r.Action = FilterAction{Name: "Permit", Action: ActionBypass}
		case 1:
			r.Action = FilterAction{Name: "Block", Action: ActionDiscard}
		default:
			r.Action = protectAction
			r.Auth = []AuthMethod{{Kind: AuthKerberos}}
		}
		if g.r.IntN(4) == 0 {
			r.Priority = uint32(1 + g.r.IntN(5))
		}
		if g.r.IntN(3) == 0 {
			r.Origin = OriginDomain
		}
		r.Disabled = g.r.IntN(10) == 0
		n := 1 + g.r.IntN(maxFilters)
		for j := 0; j < n; j++ {
			r.Filters.Filters = append(r.Filters.Filters, g.filter(id))
			id++
		}
		p.Rules = append(p.Rules, r)
	}
	if g.r.IntN(2) == 0 {
		p.Default = FilterAction{Action: ActionDiscard}
	}
	return p
}

func (g *gen) selector() Selector {
	v6 := g.r.IntN(3) == 0
	s := Selector{
		Src:      g.near(g.addr(v6)),
		Dst:      g.near(g.addr(v6)),
		Protocol: genProtocols[g.r.IntN(len(genProtocols))],
	}
	if g.r.IntN(4) == 0 {
		s.Src = g.local[0]
		if v6 {
			s.Src = g.local[1]
		}
	}
	if g.r.IntN(2) == 0 {
		s.Src, s.Dst = s.Dst, s.Src
	}
	if g.r.IntN(5) == 0 {
		s.Protocol = Protocol(g.r.IntN(256))
	}
	s.SrcPort = g.ports[g.r.IntN(len(g.ports))]
	s.DstPort = g.ports[g.r.IntN(len(g.ports))]
	if g.r.IntN(3) == 0 {
		s.DstPort = uint16(g.r.IntN(65536))
	}
	s.ICMPType, s.ICMPCode = uint8(g.r.IntN(4)), uint8(g.r.IntN(2))
	s.Opaque = g.r.IntN(6) == 0
	return s
}
