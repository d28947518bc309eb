package spd

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
)

// Direction is the direction of a packet relative to this host: outbound
// packets leave it, inbound packets arrive (RFC 4301 section 5). Inbound
// and Outbound have the values of sad.Direction; DirBoth is both bits. It
// is a plain value, safe for concurrent use.
type Direction uint8

// Directions. A lookup names DirInbound or DirOutbound. A filter names
// one of them or DirBoth; its zero Direction (unset) also applies to
// both, so that the zero Filter matches every packet.
const (
	DirInbound  Direction = 1
	DirOutbound Direction = 2
	DirBoth     Direction = DirInbound | DirOutbound
)

// String returns "inbound", "outbound", "both", or "unset" for zero.
func (d Direction) String() string {
	switch d {
	case 0:
		return "unset"
	case DirBoth:
		return "both"
	case DirOutbound:
		return "outbound"
	case DirInbound:
		return "inbound"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// mask returns the direction as a bit set (bit 0 inbound, bit 1
// outbound); unset is both.
func (d Direction) mask() uint8 {
	if d == 0 {
		return uint8(DirBoth)
	}
	return uint8(d & DirBoth)
}

// reverse swaps outbound and inbound: the mirror of an outbound filter is
// an inbound filter.
func (d Direction) reverse() Direction {
	switch d {
	case DirOutbound:
		return DirInbound
	case DirInbound:
		return DirOutbound
	}
	return d
}

// PortRange selects TCP, UDP or SCTP ports. The zero value matches any
// port, including OPAQUE ones (RFC 4301 section 4.4.1.1: ANY encompasses
// OPAQUE). It is a value type and safe for concurrent reads.
type PortRange struct {
	lo, hi uint16
	set    bool
	opaque bool
}

// AnyPort matches every port.
func AnyPort() PortRange { return PortRange{} }

// Port matches one port.
func Port(p uint16) PortRange { return PortRange{lo: p, hi: p, set: true} }

// PortSpan matches the inclusive range lo..hi. A range with lo > hi can
// never match; validation rejects it.
func PortSpan(lo, hi uint16) PortRange { return PortRange{lo: lo, hi: hi, set: true} }

// OpaquePort matches only packets whose ports cannot be read (the RFC
// 4301 section 4.4.1.1 value OPAQUE: fragments other than the first; see
// Selector.Opaque). A filter that uses it for one port has it, or any,
// for the other.
func OpaquePort() PortRange { return PortRange{opaque: true} }

// IsAny reports whether the range matches every port.
func (r PortRange) IsAny() bool { return !r.set && !r.opaque }

// IsOpaque reports whether the range is OpaquePort.
func (r PortRange) IsOpaque() bool { return r.opaque }

// Bounds returns the inclusive bounds (0, 65535 for any and for OPAQUE).
func (r PortRange) Bounds() (lo, hi uint16) {
	if !r.set {
		return 0, 0xffff
	}
	return r.lo, r.hi
}

// weight is the range's share of the port weight of doc.go ("Filter
// order"): 16 minus the bits needed to count the range; OPAQUE, which
// matches fewer packets than any, weighs as much as one port.
func (r PortRange) weight() int {
	if r.opaque {
		return 16
	}
	lo, hi := r.Bounds()
	return portBits(lo, hi)
}

// String returns "any", "opaque", "80" or "1024-65535".
func (r PortRange) String() string {
	switch {
	case r.opaque:
		return "opaque"
	case !r.set:
		return "any"
	case r.lo == r.hi:
		return strconv.Itoa(int(r.lo))
	}
	return strconv.Itoa(int(r.lo)) + "-" + strconv.Itoa(int(r.hi))
}

// ICMPMatch selects ICMP (or ICMPv6) messages by type and code. The zero
// value matches every message. It is a value type and safe for
// concurrent reads.
type ICMPMatch struct {
	typ, code        uint8
	typeSet, codeSet bool
}

// ICMPType matches one ICMP type with any code.
func ICMPType(t uint8) ICMPMatch { return ICMPMatch{typ: t, typeSet: true} }

// ICMPTypeCode matches one ICMP type and code.
func ICMPTypeCode(t, c uint8) ICMPMatch {
	return ICMPMatch{typ: t, code: c, typeSet: true, codeSet: true}
}

// IsAny reports whether every ICMP message matches.
func (m ICMPMatch) IsAny() bool { return !m.typeSet && !m.codeSet }

// Type returns the ICMP type and whether one is set.
func (m ICMPMatch) Type() (uint8, bool) { return m.typ, m.typeSet }

// Code returns the ICMP code and whether one is set.
func (m ICMPMatch) Code() (uint8, bool) { return m.code, m.codeSet }

func (m ICMPMatch) bounds() (tlo, thi, clo, chi uint16) {
	tlo, thi, clo, chi = 0, 0xffff, 0, 0xffff
	if m.typeSet {
		tlo, thi = uint16(m.typ), uint16(m.typ)
	}
	if m.codeSet {
		clo, chi = uint16(m.code), uint16(m.code)
	}
	return
}

// String returns "any", "8" (type) or "3/4" (type/code).
func (m ICMPMatch) String() string {
	t, c := "any", "any"
	if m.typeSet {
		t = strconv.Itoa(int(m.typ))
	}
	if m.codeSet {
		c = strconv.Itoa(int(m.code))
	}
	if !m.codeSet {
		return t
	}
	return t + "/" + c
}

// opaque reports whether the filter matches only OPAQUE ports.
func (f *Filter) opaque() bool {
	return f.Protocol.HasPorts() && (f.SourcePort.IsOpaque() || f.DestinationPort.IsOpaque())
}

// Filter is one IP filter of a filter list (RFC 4301 section 4.4.1.1
// selectors, in the shape of a Windows IP filter). The zero value matches
// every packet in both directions. It is a value type and safe for
// concurrent reads.
type Filter struct {
	Description string
	Source      Address
	Destination Address
	// Protocol is the next layer protocol; ProtocolAny matches all.
	Protocol Protocol
	// SourcePort and DestinationPort apply to TCP, UDP and SCTP only.
	SourcePort      PortRange
	DestinationPort PortRange
	// ICMP applies to ICMP and ICMPv6 only.
	ICMP ICMPMatch
	// Mirrored makes the filter also match packets with source and
	// destination (addresses and ports) swapped, in the reverse direction.
	Mirrored bool
	// Direction limits the filter to outbound or inbound packets; its
	// mirror gets the reverse direction. DirBoth, or zero, applies to
	// both.
	Direction Direction
}

// Errors returned by Filter.Check, wrapped with details.
var (
	ErrNeverMatches = errors.New("spd: filter can never match")
)

// Check reports why the filter can never match a packet, or nil. The
// error wraps ErrNeverMatches.
func (f *Filter) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrNeverMatches, fmt.Sprintf(format, args...))
	}
	if err := f.Source.check(); err != nil {
		return bad("source: %v", err)
	}
	if err := f.Destination.check(); err != nil {
		return bad("destination: %v", err)
	}
	if s, d := f.Source.family(), f.Destination.family(); s != 0 && d != 0 && s != d {
		return bad("source %s is IPv%d but destination %s is IPv%d", f.Source, s, f.Destination, d)
	}
	if !f.SourcePort.IsAny() || !f.DestinationPort.IsAny() {
		if !f.Protocol.HasPorts() {
			return bad("ports need protocol TCP, UDP or SCTP, not %s", f.Protocol)
		}
		for _, r := range []PortRange{f.SourcePort, f.DestinationPort} {
			if lo, hi := r.Bounds(); lo > hi {
				return bad("port range %d-%d is empty", lo, hi)
			}
		}
		if (f.SourcePort.IsOpaque() || f.DestinationPort.IsOpaque()) &&
			(f.SourcePort.set || f.DestinationPort.set) {
			// A packet's ports are read together or not at all.
			return bad("opaque ports combine only with opaque or any, not %s and %s", f.SourcePort, f.DestinationPort)
		}
	}
	if !f.ICMP.IsAny() {
		if !f.Protocol.IsICMP() {
			return bad("ICMP type and code need protocol ICMP or ICMPv6, not %s", f.Protocol)
		}
		if f.ICMP.codeSet && !f.ICMP.typeSet {
			return bad("an ICMP code needs an ICMP type")
		}
		fam := f.Source.family()
		if fam == 0 {
			fam = f.Destination.family()
		}
		if fam == 6 && f.Protocol == ProtocolICMP || fam == 4 && f.Protocol == ProtocolICMPv6 {
			return bad("%s with IPv%d addresses", f.Protocol, fam)
		}
	}
	if f.Direction > DirBoth {
		return bad("unknown direction %d", f.Direction)
	}
	return nil
}

// portBits is 16 minus the bits needed to count the range, like
// span.specificity: one port is 16, any is 0.
func portBits(lo, hi uint16) int { return 16 - bits.Len16(hi-lo) }

// specificity returns the filter's address, protocol and port weights as
// defined in doc.go ("Filter order").
func (f *Filter) weights(srcSpec, dstSpec int) (addr, proto, port int) {
	addr = srcSpec + dstSpec
	if f.Protocol != ProtocolAny {
		proto = 1
	}
	switch {
	case f.Protocol.HasPorts():
		port = f.SourcePort.weight() + f.DestinationPort.weight()
	case f.Protocol.IsICMP():
		tlo, thi, clo, chi := f.ICMP.bounds()
		port = portBits(tlo, thi) + portBits(clo, chi)
	}
	return
}
