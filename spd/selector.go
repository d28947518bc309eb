package spd

import "net/netip"

// Selector describes a packet for a lookup: the RFC 4301 section 4.4.1.1
// selectors as they appear in the packet (Src is the packet's source
// address, whatever the direction). An IPv4-mapped IPv6 address is the
// IPv4 address it maps (RFC 4291 section 2.5.5.2). It is a value type,
// safe for concurrent reads.
type Selector struct {
	Src, Dst netip.Addr
	Protocol Protocol
	// SrcPort and DstPort are read for TCP, UDP and SCTP.
	SrcPort, DstPort uint16
	// ICMPType and ICMPCode are read for ICMP and ICMPv6.
	ICMPType, ICMPCode uint8
	// Opaque says that the ports (or ICMP type and code) could not be
	// read: the RFC 4301 section 4.4.1.1 value OPAQUE, as for a fragment
	// other than the first (see ParseSelector). The port and ICMP fields
	// are then ignored, and the packet matches only filters whose ports
	// and ICMP type and code are any, or whose ports are OpaquePort, so a
	// rule on ports cannot be bypassed by fragmenting.
	Opaque bool
}

// key is a selector on the classifier's axes. IPv4-mapped IPv6 addresses
// and IPv4 addresses are the same point (RFC 4291 section 2.5.5.2).
type key struct {
	src, dst u128
	sp, dp   uint16 // ports, or ICMP type and code
	proto    uint8
	dir      uint8 // Direction.mask()
	// forbid holds the candidate flag that rules an entry out:
	// candPorts for an OPAQUE selector, candOpaque otherwise.
	forbid uint8
}

func (s *Selector) key(dir Direction) key {
	k := key{
		src:   u128From(s.Src),
		dst:   u128From(s.Dst),
		proto: uint8(s.Protocol),
		dir:   dir.mask(),
	}
	if s.Opaque {
		k.forbid = candPorts
		return k
	}
	k.forbid = candOpaque
	switch {
	case s.Protocol.HasPorts():
		k.sp, k.dp = s.SrcPort, s.DstPort
	case s.Protocol.IsICMP():
		k.sp, k.dp = uint16(s.ICMPType), uint16(s.ICMPCode)
	}
	return k
}
