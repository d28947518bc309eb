package spd

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// pktSpec describes a packet the tests build by hand.
type pktSpec struct {
	v6        bool
	src, dst  netip.Addr
	ext       []uint8 // IPv6 extension headers in order (0, 43, 44, 60)
	fragOff   uint16  // fragment offset in 8-octet units (IPv4, or the IPv6 Fragment header)
	moreFrags bool
	v4Frag    bool // IPv4: set MF/offset from fragOff/moreFrags
	proto     uint8
	l4        []byte // bytes after the headers
	options   int    // IPv4 option words (NOPs)
	trailer   int    // bytes beyond the packet's own length
}

func (p *pktSpec) build() []byte {
	var b []byte
	if !p.v6 {
		ihl := 5 + p.options
		b = make([]byte, ihl*4)
		b[0] = 0x40 | byte(ihl)
		b[8] = 64
		b[9] = p.proto
		for i := 20; i < len(b); i++ {
			b[i] = 1 // NOP
		}
		if p.v4Frag {
			f := p.fragOff & 0x1fff
			if p.moreFrags {
				f |= 0x2000
			}
			binary.BigEndian.PutUint16(b[6:], f)
		}
		s, d := p.src.As4(), p.dst.As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		b = append(b, p.l4...)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	} else {
		b = make([]byte, 40)
		b[0], b[7] = 0x60, 64
		s, d := p.src.As16(), p.dst.As16()
		copy(b[8:], s[:])
		copy(b[24:], d[:])
		nhOff := 6
		for _, e := range p.ext {
			b[nhOff] = e
			nhOff = len(b)
			switch e {
			case 44:
				h := make([]byte, 8)
				f := p.fragOff << 3
				if p.moreFrags {
					f |= 1
				}
				binary.BigEndian.PutUint16(h[2:], f)
				b = append(b, h...)
			case 43:
				// Type 0 with one address and no segments left (the
				// type gopacket decodes).
				b = append(b, 0, 2, 0, 0, 0, 0, 0, 0)
				b = append(b, make([]byte, 16)...)
			default:
				// One PadN option filling the 8 octets.
				b = append(b, 0, 0, 1, 4, 0, 0, 0, 0)
			}
		}
		b[nhOff] = p.proto
		b = append(b, p.l4...)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	}
	for range p.trailer {
		b = append(b, 0xee)
	}
	return b
}

// l4Header returns a transport header for proto with the given ports
// (or ICMP type and code) and some payload.
func l4Header(proto uint8, sp, dp uint16, payload int) []byte {
	var h []byte
	switch proto {
	case 6:
		h = make([]byte, 20)
		h[12] = 5 << 4
	case 17:
		h = make([]byte, 8)
		binary.BigEndian.PutUint16(h[4:], uint16(8+payload))
	case 132:
		h = make([]byte, 12)
	case 1, 58:
		h = make([]byte, 8)
		h[0], h[1] = byte(sp), byte(dp)
		return append(h, make([]byte, payload)...)
	default:
		h = make([]byte, 8) // ESP SPI + sequence, GRE, unknown
		h[3] = 1
	}
	binary.BigEndian.PutUint16(h[0:], sp)
	binary.BigEndian.PutUint16(h[2:], dp)
	return append(h, make([]byte, payload)...)
}

func TestParseSelector(t *testing.T) {
	a4, b4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:1::2")
	tcp := l4Header(6, 1234, 443, 10)
	for _, tc := range []struct {
		name string
		spec pktSpec
		want Selector
	}{
		{"ipv4 tcp", pktSpec{src: a4, dst: b4, proto: 6, l4: tcp, trailer: 3},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolTCP, SrcPort: 1234, DstPort: 443}},
		{"ipv4 options udp", pktSpec{src: a4, dst: b4, proto: 17, l4: l4Header(17, 53, 5353, 0), options: 2},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolUDP, SrcPort: 53, DstPort: 5353}},
		{"ipv4 icmp", pktSpec{src: a4, dst: b4, proto: 1, l4: l4Header(1, 8, 0, 4)},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolICMP, ICMPType: 8}},
		{"ipv4 first fragment", pktSpec{src: a4, dst: b4, proto: 6, l4: tcp, v4Frag: true, moreFrags: true},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolTCP, SrcPort: 1234, DstPort: 443}},
		{"ipv4 first fragment, 4 bytes of tcp", pktSpec{src: a4, dst: b4, proto: 6, l4: tcp[:4], v4Frag: true, moreFrags: true},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolTCP, SrcPort: 1234, DstPort: 443}},
		{"ipv4 later fragment", pktSpec{src: a4, dst: b4, proto: 6, l4: tcp, v4Frag: true, fragOff: 185},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolTCP, Opaque: true}},
		{"ipv4 later icmp fragment", pktSpec{src: a4, dst: b4, proto: 1, l4: tcp, v4Frag: true, fragOff: 1, moreFrags: true},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolICMP, Opaque: true}},
		{"ipv4 esp", pktSpec{src: a4, dst: b4, proto: 50, l4: l4Header(50, 0, 0, 20)},
			Selector{Src: a4, Dst: b4, Protocol: ProtocolESP}},
		{"ipv6 tcp", pktSpec{v6: true, src: a6, dst: b6, proto: 6, l4: tcp},
			Selector{Src: a6, Dst: b6, Protocol: ProtocolTCP, SrcPort: 1234, DstPort: 443}},
		{"ipv6 chain", pktSpec{v6: true, src: a6, dst: b6, ext: []uint8{0, 60, 43, 60}, proto: 17, l4: l4Header(17, 500, 4500, 0)},
			Selector{Src: a6, Dst: b6, Protocol: ProtocolUDP, SrcPort: 500, DstPort: 4500}},
		{"ipv6 first fragment", pktSpec{v6: true, src: a6, dst: b6, ext: []uint8{0, 44}, proto: 58, l4: l4Header(58, 128, 0, 8), moreFrags: true},
			Selector{Src: a6, Dst: b6, Protocol: ProtocolICMPv6, ICMPType: 128}},
		{"ipv6 later fragment", pktSpec{v6: true, src: a6, dst: b6, ext: []uint8{44}, proto: 6, l4: tcp, fragOff: 9},
			Selector{Src: a6, Dst: b6, Protocol: ProtocolTCP, Opaque: true}},
		{"ipv6 later fragment before destination options", pktSpec{v6: true, src: a6, dst: b6, ext: []uint8{44, 60}, proto: 6, l4: tcp, fragOff: 9},
			Selector{Src: a6, Dst: b6, Protocol: 60, Opaque: true}},
		{"ipv6 experimental extension header", pktSpec{v6: true, src: a6, dst: b6, ext: []uint8{60}, proto: 253, l4: tcp},
			Selector{Src: a6, Dst: b6, Protocol: 253, Opaque: true}},
		{"ipv6 sctp", pktSpec{v6: true, src: a6, dst: b6, proto: 132, l4: l4Header(132, 9, 10, 0)},
			Selector{Src: a6, Dst: b6, Protocol: ProtocolSCTP, SrcPort: 9, DstPort: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := tc.spec.build()
			got, err := ParseSelector(pkt)
			if err != nil || got != tc.want {
				t.Fatalf("ParseSelector = %+v, %v; want %+v", got, err, tc.want)
			}
			if n := testing.AllocsPerRun(100, func() { ParseSelector(pkt) }); n != 0 {
				t.Fatalf("%v allocations", n)
			}
		})
	}
	for _, bad := range [][]byte{
		nil, {0x45}, {0x60}, make([]byte, 20), // version 0
		(&pktSpec{src: a4, dst: b4, proto: 6, l4: tcp}).build()[:30], // total length beyond the bytes
		// Tiny first fragments (RFC 1858, RFC 7112): the ports are not in
		// them, and OPAQUE would let them and what follows pass a port rule.
		(&pktSpec{src: a4, dst: b4, proto: 6, l4: tcp[:3], v4Frag: true, moreFrags: true}).build(),
		(&pktSpec{v6: true, src: a6, dst: b6, ext: []uint8{44}, proto: 17, l4: []byte{1}, moreFrags: true}).build(),
		(&pktSpec{v6: true, src: a6, dst: b6, proto: 58, l4: []byte{128}}).build(),
		func() []byte { // extension header overrunning the payload
			b := (&pktSpec{v6: true, src: a6, dst: b6, ext: []uint8{60}, proto: 6}).build()
			b[41] = 9
			return b
		}(),
	} {
		if _, err := ParseSelector(bad); !errors.Is(err, ErrMalformedPacket) {
			t.Errorf("ParseSelector(%x) = %v, want ErrMalformedPacket", bad, err)
		}
	}
}

// randomPacket draws a packet over the shapes ParseSelector must handle.
func randomPacket(r *rand.Rand) pktSpec {
	protos := []uint8{6, 17, 132, 1, 58, 50, 47, 253, 59}
	p := pktSpec{v6: r.IntN(2) == 0, proto: protos[r.IntN(len(protos))]}
	if p.v6 {
		p.src = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(r.IntN(256))})
		p.dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 14: 1, 15: byte(r.IntN(256))})
		if r.IntN(2) == 0 {
			p.ext = append(p.ext, 0)
		}
		for range r.IntN(4) {
			p.ext = append(p.ext, []uint8{43, 44, 60}[r.IntN(3)])
		}
	} else {
		p.src = netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(256))})
		p.dst = netip.AddrFrom4([4]byte{10, 0, 1, byte(r.IntN(256))})
		p.options = r.IntN(3)
		p.v4Frag = r.IntN(3) == 0
	}
	if r.IntN(3) == 0 {
		p.fragOff = uint16(1 + r.IntN(100))
	}
	p.moreFrags = r.IntN(2) == 0
	p.l4 = l4Header(p.proto, uint16(r.IntN(65536)), uint16(r.IntN(65536)), r.IntN(30))
	p.trailer = r.IntN(3)
	return p
}

// gopacketSelector is the reference model: gopacket decodes the headers,
// and the RFC 4301 section 4.4.1.1 rules are applied to its layers. It
// reports false when gopacket cannot decode the transport header that
// the rules need.
func gopacketSelector(pkt []byte) (Selector, bool) {
	first := layers.LayerTypeIPv4
	if pkt[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	gp := gopacket.NewPacket(pkt, first, gopacket.Default)
	var s Selector
	for {
		var fragment []byte // a first fragment's payload, which gopacket leaves undecoded
		for _, l := range gp.Layers() {
			later := false
			switch l := l.(type) {
			case *layers.IPv4:
				s.Src, _ = netip.AddrFromSlice(l.SrcIP)
				s.Dst, _ = netip.AddrFromSlice(l.DstIP)
				s.Protocol = Protocol(l.Protocol)
				later = l.FragOffset != 0
			case *layers.IPv6:
				s.Src, _ = netip.AddrFromSlice(l.SrcIP)
				s.Dst, _ = netip.AddrFromSlice(l.DstIP)
				s.Protocol = Protocol(l.NextHeader)
			case *layers.IPv6HopByHop:
				s.Protocol = Protocol(l.NextHeader)
			case *layers.IPv6Destination:
				s.Protocol = Protocol(l.NextHeader)
			case *layers.IPv6Routing:
				s.Protocol = Protocol(l.NextHeader)
			case *layers.IPv6Fragment:
				s.Protocol = Protocol(l.NextHeader)
				later = l.FragmentOffset != 0
			case *gopacket.Fragment:
				fragment = l.LayerContents()
			}
			if later {
				s.Opaque = true
				return s, true
			}
		}
		if fragment == nil {
			break
		}
		// Decode the first fragment's headers on their own.
		gp = gopacket.NewPacket(fragment, layers.IPProtocol(s.Protocol).LayerType(), gopacket.Default)
	}
	if gp.ErrorLayer() != nil && !s.Protocol.HasPorts() && !s.Protocol.IsICMP() {
		return Selector{}, false
	}
	switch s.Protocol {
	case ProtocolTCP:
		if l, ok := gp.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			s.SrcPort, s.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
			return s, true
		}
	case ProtocolUDP:
		if l, ok := gp.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			s.SrcPort, s.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
			return s, true
		}
	case ProtocolSCTP:
		if l, ok := gp.Layer(layers.LayerTypeSCTP).(*layers.SCTP); ok {
			s.SrcPort, s.DstPort = uint16(l.SrcPort), uint16(l.DstPort)
			return s, true
		}
	case ProtocolICMP:
		if l, ok := gp.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			s.ICMPType, s.ICMPCode = l.TypeCode.Type(), l.TypeCode.Code()
			return s, true
		}
	case ProtocolICMPv6:
		if l, ok := gp.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
			s.ICMPType, s.ICMPCode = l.TypeCode.Type(), l.TypeCode.Code()
			return s, true
		}
	default:
		s.Opaque = s.Src.Is6() && hidesNextLayer(uint8(s.Protocol))
		return s, true
	}
	return s, false
}

// TestParseSelectorGopacket compares ParseSelector with gopacket's
// decoding over random IPv4 and IPv6 packets with extension-header
// chains, first and later fragments, and every protocol with ports or
// ICMP type and code.
func TestParseSelectorGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 4301))
	compared, opaque := 0, 0
	for i := range 20000 {
		spec := randomPacket(r)
		pkt := spec.build()
		want, ok := gopacketSelector(pkt)
		if !ok {
			continue
		}
		got, err := ParseSelector(pkt)
		if err != nil {
			t.Fatalf("packet %d %x: %v", i, pkt, err)
		}
		got.Src, got.Dst = got.Src.Unmap(), got.Dst.Unmap()
		if got != want {
			t.Fatalf("packet %d %x:\n got %+v\nwant %+v", i, pkt, got, want)
		}
		compared++
		if got.Opaque {
			opaque++
		}
	}
	if compared < 15000 || opaque < 1000 {
		t.Fatalf("weak coverage: %d packets compared, %d opaque", compared, opaque)
	}
	t.Logf("%d packets agree, %d with OPAQUE ports", compared, opaque)
}

// FuzzParseSelector feeds arbitrary bytes to ParseSelector: it must not
// panic, must reject or accept consistently with the shared header walk,
// and what it reads must lie inside the packet.
func FuzzParseSelector(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 32 {
		spec := randomPacket(r)
		f.Add(spec.build())
	}
	f.Add([]byte{})
	f.Add([]byte{0x45, 0, 0, 20})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		s, err := ParseSelector(pkt)
		if err != nil {
			if !errors.Is(err, ErrMalformedPacket) || s != (Selector{}) {
				t.Fatalf("error %v with selector %+v", err, s)
			}
			return
		}
		if !s.Src.IsValid() || !s.Dst.IsValid() || s.Src.Is4() != (pkt[0]>>4 == 4) {
			t.Fatalf("bad addresses %+v for version %d", s, pkt[0]>>4)
		}
		if s.Opaque && (s.SrcPort != 0 || s.DstPort != 0 || s.ICMPType != 0 || s.ICMPCode != 0) {
			t.Fatalf("opaque selector with ports: %+v", s)
		}
		// The same bytes with a trailer beyond the packet's length give
		// the same selector.
		s2, err := ParseSelector(append(append([]byte(nil), pkt...), 0xff, 0xff, 0xff, 0xff))
		if err != nil || s2 != s {
			t.Fatalf("trailer changed the result: %+v %v, was %+v", s2, err, s)
		}
	})
}

// TestFragmentsCannotBypassPortRule: with "permit TCP to port 80" and a
// default of block, no fragment of a telnet packet matches the permit
// rule: the first is judged by its ports, the later ones are OPAQUE and
// match only rules without ports or with OPAQUE ones. A rule on OPAQUE
// ports is how a policy lets later fragments through on purpose.
func TestFragmentsCannotBypassPortRule(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	web := Rule{Name: "web", Action: FilterAction{Action: ActionBypass},
		Filters: FilterList{Filters: []Filter{{Protocol: ProtocolTCP, DestinationPort: Port(80)}}}}
	frags := Rule{Name: "fragments", Action: FilterAction{Action: ActionBypass},
		Filters: FilterList{Filters: []Filter{{Protocol: ProtocolTCP, SourcePort: OpaquePort(), DestinationPort: OpaquePort()}}}}
	verdicts := func(p *Policy, dport uint16) []string {
		c, err := Compile(p, CompileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i, off := range []uint16{0, 185, 370} {
			spec := pktSpec{src: a, dst: b, proto: 6, l4: l4Header(6, 40000, dport, 1460), v4Frag: true, fragOff: off, moreFrags: i < 2}
			if off != 0 {
				spec.l4 = make([]byte, 1480) // the middle of the segment: no header
			}
			s, err := ParseSelector(spec.build())
			if err != nil {
				t.Fatal(err)
			}
			m := c.Lookup(s, DirOutbound)
			out = append(out, m.Rule.ID+"/"+m.Rule.Action.Action.String()[:4])
		}
		return out
	}
	block := FilterAction{Action: ActionDiscard}
	for _, tc := range []struct {
		name  string
		p     *Policy
		dport uint16
		want  []string
	}{
		{"telnet", &Policy{Rules: []Rule{web}, Default: block}, 23, []string{"<default>/DISC", "<default>/DISC", "<default>/DISC"}},
		{"web, no fragment rule", &Policy{Rules: []Rule{web}, Default: block}, 80, []string{"web/BYPA", "<default>/DISC", "<default>/DISC"}},
		{"web with the fragment rule", &Policy{Rules: []Rule{web, frags}, Default: block}, 80, []string{"web/BYPA", "fragments/BYPA", "fragments/BYPA"}},
		{"telnet with the fragment rule", &Policy{Rules: []Rule{web, frags}, Default: block}, 23, []string{"<default>/DISC", "fragments/BYPA", "fragments/BYPA"}},
	} {
		if got := verdicts(tc.p, tc.dport); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
