package sad

import (
	"errors"
	"net/netip"
)

// TrafficSelector is one traffic selector of an SA (RFC 7296 section
// 3.13.1, RFC 4301 section 4.4.2.1): a protocol, an address range and a
// port range, in the shape of an IKEv2 TS. It is a plain value, safe for
// concurrent reads.
type TrafficSelector struct {
	// Protocol is the IP protocol number; 0 means any.
	Protocol uint8
	// From and To bound the addresses, inclusive, of one family.
	From, To netip.Addr
	// FromPort and ToPort bound the ports, inclusive: 0 and 65535 for
	// any, 65535 and 0 for OPAQUE (RFC 7296 section 3.13.1). For ICMP
	// and ICMPv6 they bound Type<<8 | Code.
	FromPort, ToPort uint16
}

// AnyTS returns the selector of every packet of a's address family.
func AnyTS(a netip.Addr) TrafficSelector {
	if a.Unmap().Is4() {
		return TrafficSelector{From: netip.IPv4Unspecified(), To: netip.AddrFrom4([4]byte{255, 255, 255, 255}), ToPort: 0xffff}
	}
	var ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	return TrafficSelector{From: netip.IPv6Unspecified(), To: netip.AddrFrom16(ones), ToPort: 0xffff}
}

func (ts TrafficSelector) check() error {
	from, to := ts.From.Unmap(), ts.To.Unmap()
	if !from.IsValid() || !to.IsValid() || from.Is4() != to.Is4() || to.Less(from) {
		return errors.New("sad: traffic selector needs an address range of one family")
	}
	return nil
}

// opaque reports whether the port range is the OPAQUE encoding.
func (ts TrafficSelector) opaque() bool { return ts.FromPort == 0xffff && ts.ToPort == 0 }

// matches reports whether a packet's address, protocol and port (or
// whether its ports are OPAQUE) lie inside the selector.
func (ts *TrafficSelector) matches(a netip.Addr, proto uint8, port uint16, opaque bool) bool {
	a = a.Unmap()
	if ts.Protocol != 0 && ts.Protocol != proto {
		return false
	}
	if a.Less(ts.From.Unmap()) || ts.To.Unmap().Less(a) {
		return false
	}
	anyPort := ts.FromPort == 0 && ts.ToPort == 0xffff
	switch {
	case anyPort:
		return true
	case opaque || ts.opaque():
		// RFC 4301 section 4.4.1.1: OPAQUE matches only OPAQUE or ANY.
		return opaque && ts.opaque()
	}
	return ts.FromPort <= port && port <= ts.ToPort
}

// Allows reports whether the packet f may travel through the SA: its
// local address, protocol and port lie inside one of the local traffic
// selectors and its remote ones inside one of the remote selectors (RFC
// 7296 section 2.9; RFC 4301 section 5.2 checks a packet against the
// selectors of the SA it arrived on). For an inbound SA the packet's
// destination is local; for an outbound SA its source. An empty list
// allows everything on its side. It does not allocate.
func (s *SA) Allows(f Flow) bool {
	local, remote := f.Src, f.Dst
	lport, rport := f.SrcPort, f.DstPort
	if s.dir == Inbound {
		local, remote, lport, rport = remote, local, rport, lport
	}
	if isICMP(f.Protocol) {
		// Type and code are one 16-bit value (RFC 7296 section 3.13.1),
		// in SrcPort; either side's range may restrict it.
		lport, rport = f.SrcPort, f.SrcPort
	}
	return anyMatch(s.localTS, local, f.Protocol, lport, f.Opaque) &&
		anyMatch(s.remoteTS, remote, f.Protocol, rport, f.Opaque)
}

func anyMatch(tss []TrafficSelector, a netip.Addr, proto uint8, port uint16, opaque bool) bool {
	if len(tss) == 0 {
		return true
	}
	for i := range tss {
		if tss[i].matches(a, proto, port, opaque) {
			return true
		}
	}
	return false
}

func isICMP(p uint8) bool { return p == 1 || p == 58 }
