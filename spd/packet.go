package spd

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/ipsecgo/ipsec/internal/ippkt"
)

// ErrMalformedPacket is returned by ParseSelector for bytes that are not a
// well-formed IPv4 or IPv6 packet.
var ErrMalformedPacket = errors.New("spd: malformed packet")

// ParseSelector reads the RFC 4301 section 4.4.1.1 selectors of an IPv4 or
// IPv6 packet: addresses, next layer protocol, and ports (TCP, UDP, SCTP)
// or ICMP type and code. It does not allocate, and bytes beyond the
// packet's own length are ignored.
//
// IPv6 hop-by-hop, routing, fragment and destination options headers are
// skipped to find the next layer protocol; any other next header value is
// the next layer protocol (RFC 4301 section 4.4.1.1, note on locating the
// Next Layer Protocol), including ESP and AH.
//
// Ports (or ICMP type and code) are OPAQUE, Selector.Opaque, when they
// are not in the packet: in a fragment other than the first (IPv4 offset
// not zero, IPv6 Fragment header offset not zero; the protocol is the one
// the IP or Fragment header names), and behind an IPv6 extension header
// this function does not walk (mobility 135, HIP 139, Shim6 140,
// experimental 253 and 254; the protocol is then that header's number).
// See Selector.Opaque for how they match.
//
// A first fragment (or an unfragmented packet) whose next layer header
// is too short to hold the ports is malformed, not OPAQUE: a first
// fragment always holds them (an IPv4 fragment carries at least 8 bytes;
// RFC 7112 requires the whole IPv6 header chain in the first fragment),
// and reading it as OPAQUE would let a crafted tiny first fragment (RFC
// 1858) escape a rule on ports together with the fragments after it.
func ParseSelector(pkt []byte) (Selector, error) {
	h, ok := ippkt.Parse(pkt, ippkt.Upper)
	if !ok {
		return Selector{}, ErrMalformedPacket
	}
	var s Selector
	if h.V6() {
		s.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
		s.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
	} else {
		s.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		s.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	}
	s.Protocol = Protocol(pkt[h.NhOff])
	if h.LaterFragment() {
		s.Opaque = true
		return s, nil
	}
	l4 := pkt[h.HdrLen:h.Total]
	switch {
	case s.Protocol.HasPorts():
		// TCP, UDP and SCTP all start with source and destination port.
		if len(l4) < 4 {
			return Selector{}, ErrMalformedPacket
		}
		s.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		s.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case s.Protocol.IsICMP():
		if len(l4) < 2 {
			return Selector{}, ErrMalformedPacket
		}
		s.ICMPType, s.ICMPCode = l4[0], l4[1]
	case h.V6() && hidesNextLayer(uint8(s.Protocol)):
		s.Opaque = true
	}
	return s, nil
}

// hidesNextLayer reports whether nh is an IPv6 extension header (IANA
// "IPv6 Extension Header Types") that ParseSelector does not walk, so the
// next layer protocol behind it is unknown.
func hidesNextLayer(nh uint8) bool {
	switch nh {
	case 135, 139, 140, 253, 254:
		return true
	}
	return false
}
