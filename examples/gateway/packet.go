package main

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipsecgo/ipsec/spd"
)

// IP header fields (RFC 791 section 3.1, RFC 8200 section 3).
const (
	ipv4MinHeader = 20
	ipv6Header    = 40
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoSCTP     = 132
	protoICMPv6   = 58
)

// selectorOf reads the RFC 4301 section 4.4.1.1 selector of an IP packet:
// addresses, protocol, and ports (or ICMP type and code) when the packet
// carries them. Non-first IPv4 fragments and IPv6 packets with extension
// headers get no ports (RFC 4301 OPAQUE); ok is false for bytes that are
// not an IP packet.
func selectorOf(pkt []byte) (s spd.Selector, ok bool) {
	if len(pkt) < 1 {
		return s, false
	}
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < ipv4MinHeader {
			return s, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if ihl < ipv4MinHeader || total < ihl || total > len(pkt) {
			return s, false
		}
		s.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		s.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		s.Protocol = spd.Protocol(pkt[9])
		if binary.BigEndian.Uint16(pkt[6:8])&0x1fff == 0 { // first fragment or none
			l4 = pkt[ihl:total]
		}
	case 6:
		if len(pkt) < ipv6Header {
			return s, false
		}
		total := ipv6Header + int(binary.BigEndian.Uint16(pkt[4:6]))
		if total > len(pkt) {
			return s, false
		}
		s.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
		s.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		s.Protocol = spd.Protocol(pkt[6])
		l4 = pkt[ipv6Header:total]
	default:
		return s, false
	}
	switch s.Protocol {
	case protoTCP, protoUDP, protoSCTP:
		if len(l4) >= 4 {
			s.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			s.DstPort = binary.BigEndian.Uint16(l4[2:4])
		}
	case protoICMP, protoICMPv6:
		if len(l4) >= 2 {
			s.ICMPType, s.ICMPCode = l4[0], l4[1]
		}
	}
	return s, true
}

// nextHeaderOf returns the ESP next header of a tunnelled IP packet (RFC
// 4303 section 2.6: 4 for IPv4, 41 for IPv6).
func nextHeaderOf(pkt []byte) uint8 {
	if len(pkt) > 0 && pkt[0]>>4 == 6 {
		return 41
	}
	return 4
}
