package esp

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipsecgo/ipsec/internal/csum"
	"github.com/ipsecgo/ipsec/internal/ippkt"
)

// Sizes and offsets of the IP and UDP headers this package reads and writes.
const (
	ipv4MinHdr  = ippkt.IPv4MinHeader
	ipv6Hdr     = ippkt.IPv6Header
	udpHdr      = 8
	ipv4Proto   = ippkt.IPv4Proto
	ipv4Csum    = 10 // offset of the IPv4 header checksum
	ipv6NextHdr = ippkt.IPv6NextHdr
	defaultTTL  = 64
)

// ipPacket is what the mode code needs to know about an IP packet: the
// shared header walk's result (internal/ippkt), with the header writers
// below. In transport mode HdrLen is the part that stays in front of ESP:
// the IPv4 header with options, or the IPv6 header and the extension
// headers that precede ESP (RFC 4303 section 3.1.1).
type ipPacket struct{ ippkt.Header }

func (p ipPacket) v6() bool       { return p.V6() }
func (p ipPacket) fragment() bool { return p.Fragment() }

// parseIP checks an IP header and the lengths that relate to it. For IPv6,
// espOrder selects where the walk stops: true stops where ESP would be
// inserted (after hop-by-hop, routing, fragment, and destination options
// followed by routing); false walks every extension header, as a receiver
// does to find ESP or UDP.
func parseIP(b []byte, espOrder bool) (ipPacket, bool) {
	stop := ippkt.Upper
	if espOrder {
		stop = ippkt.Insert
	}
	h, ok := ippkt.Parse(b, stop)
	return ipPacket{h}, ok
}

// innerPacket checks that p starts with an IPv4 or IPv6 header and returns
// the packet's length from it and the protocol number that carries it (4 or
// 41). Bytes beyond that length (TFC padding) are not part of the packet.
func innerPacket(p []byte) (n int, nh uint8, ok bool) {
	switch {
	case len(p) >= ipv4MinHdr && p[0]>>4 == 4:
		n = int(binary.BigEndian.Uint16(p[2:4]))
		return n, protoIPv4, n >= int(p[0]&0x0f)*4 && n >= ipv4MinHdr && n <= len(p)
	case len(p) >= ipv6Hdr && p[0]>>4 == 6:
		n = ipv6Hdr + int(binary.BigEndian.Uint16(p[4:6]))
		return n, protoIPv6, n > ipv6Hdr && n <= len(p) // no jumbograms (RFC 2675)
	}
	return 0, 0, false
}

// writeHeader writes the IP header src into dst, which is as long and may
// overlap it, with proto as the protocol after the header and the lengths of
// a packet of length bytes. The IPv4 header checksum (RFC 791, RFC 1071) is
// worked out from src before anything is written: summing dst just after
// writing it in pieces would stall the CPU on store forwarding.
func (p ipPacket) writeHeader(dst, src []byte, proto uint8, length int) {
	if p.v6() {
		copyHeader(dst, src)
		dst[p.NhOff] = proto
		binary.BigEndian.PutUint16(dst[4:6], uint16(length-ipv6Hdr))
		return
	}
	// The sum of src's 16-bit words, modulo 0xffff, with the checksum,
	// length and TTL/protocol words exchanged for the new ones; the
	// version word makes the true sum positive, so a remainder of 0 is
	// 0xffff once folded.
	const m = 0xffff
	sum := uint32(^csum.Checksum(src, 0)) + 3*m
	sum -= uint32(binary.BigEndian.Uint16(src[ipv4Csum:])) + uint32(binary.BigEndian.Uint16(src[2:])) + uint32(binary.BigEndian.Uint16(src[8:]))
	sum += uint32(length) + uint32(src[8])<<8 + uint32(proto)
	sum %= m
	if sum == 0 {
		sum = m
	}
	putIPv4(dst, src, proto, length, ^uint16(sum))
}

// updateHeader is writeHeader for a header whose checksum is already right
// for src, as a received one is: the checksum is updated for the two words
// that change (RFC 1624 section 3, equation 3), without summing the header.
// A wrong checksum stays wrong.
func (p ipPacket) updateHeader(dst, src []byte, proto uint8, length int) {
	if p.v6() {
		p.writeHeader(dst, src, proto, length)
		return
	}
	hc := binary.BigEndian.Uint16(src[ipv4Csum:])
	oldLen, oldTP := binary.BigEndian.Uint16(src[2:]), binary.BigEndian.Uint16(src[8:])
	newTP := uint16(src[8])<<8 | uint16(proto)
	sum := uint64(^hc) + uint64(^oldLen) + uint64(uint16(length)) + uint64(^oldTP) + uint64(newTP)
	putIPv4(dst, src, proto, length, csum.Finish(sum))
}

// putIPv4 copies the IPv4 header src to dst with a new total length,
// protocol and header checksum.
func putIPv4(dst, src []byte, proto uint8, length int, checksum uint16) {
	copyHeader(dst, src)
	binary.BigEndian.PutUint16(dst[2:], uint16(length))
	dst[ipv4Proto] = proto
	binary.BigEndian.PutUint16(dst[ipv4Csum:], checksum)
}

// copyHeader copies the IP header src to dst (the same length; they may
// overlap), without a call for the usual 20-byte IPv4 header.
func copyHeader(dst, src []byte) {
	if len(src) == ipv4MinHdr && len(dst) == ipv4MinHdr {
		*(*[ipv4MinHdr]byte)(dst) = [ipv4MinHdr]byte(src)
		return
	}
	copy(dst, src)
}

// pseudoHeaderSum returns the partial sum of the TCP/UDP pseudo-header (RFC
// 768, RFC 8200 section 8.1).
func pseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var sum uint32
	for _, a := range [2]netip.Addr{src, dst} {
		s := a.AsSlice()
		for i := 0; i < len(s); i += 2 {
			sum += uint32(s[i])<<8 | uint32(s[i+1])
		}
	}
	return sum + uint32(proto) + uint32(length)
}

// addrs returns the source and destination addresses of an IP header.
func addrs(b []byte, v6 bool) (src, dst netip.Addr) {
	if v6 {
		return netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	}
	return netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
}
