package esp

import (
	"encoding/binary"
	"net/netip"

	"github.com/ipsecgo/ipsec/internal/csum"
	"github.com/ipsecgo/ipsec/internal/ippkt"
)

// Seal protects the IP packet pkt and appends the result, a complete IP
// packet, to dst. In transport mode ESP is spliced in after the IP header
// (and, for IPv6, after the extension headers that must precede it, RFC 4303
// section 3.1.1); in tunnel mode pkt becomes the inner packet of a new outer
// header from TunnelSrc to TunnelDst (section 3.1.2). With UDP encapsulation
// configured, ESP is carried in UDP (RFC 3948 section 2). Seal does not
// modify pkt, which must not overlap dst's spare capacity, and does not
// allocate when dst has room.
func (sa *SA) Seal(dst, pkt []byte) ([]byte, error) {
	if sa.mode == Transport {
		return sa.sealTransport(dst, pkt)
	}
	n, nh, ok := innerPacket(pkt)
	if !ok {
		return dst, errNotIP
	}
	seq, err := sa.nextSeq()
	if err != nil {
		return dst, err
	}
	dst, out := sa.appendESP(dst, sa.outer.hdrLen+sa.udpLen, pkt[:n], max(0, sa.tfcPadTo-n), nh, seq)
	sa.writeOuter(out, pkt, seq)
	if sa.udpLen != 0 {
		sa.fillUDP(out, sa.outer.v6, out[sa.outer.hdrLen:])
	}
	sa.traffic.Add(n)
	return dst, nil
}

func (sa *SA) sealTransport(dst, pkt []byte) ([]byte, error) {
	h, ok := ippkt.Parse(pkt, ippkt.Insert)
	ip := ipPacket{h}
	if !ok {
		return dst, errNotIP
	}
	if ip.fragment() {
		// RFC 4303 section 3.3: ESP is applied before fragmentation.
		return dst, errFragment
	}
	seq, err := sa.nextSeq()
	if err != nil {
		return dst, err
	}
	payload := pkt[ip.HdrLen:ip.Total]
	dst, out := sa.appendESP(dst, ip.HdrLen+sa.udpLen, payload, 0, pkt[ip.NhOff], seq)
	proto := uint8(protoESP)
	if sa.udpLen != 0 {
		proto = protoUDP
	}
	ip.writeHeader(out[:ip.HdrLen], pkt[:ip.HdrLen], proto, len(out))
	if sa.udpLen != 0 {
		sa.fillUDP(out, ip.v6(), out[ip.HdrLen:])
	}
	sa.traffic.Add(len(payload))
	return dst, nil
}

// writeOuter writes the outer IP header of tunnel mode for the inner packet
// inner at the start of out, from the SA's template. RFC 4301 section 5.1.2:
// DSCP is copied from the inner header, ECN as in RFC 6040's normal mode, DF
// from an inner IPv4 header.
//
// The IPv4 identification is the low 16 bits of the sequence number: unique
// per SA for as long as a counter would be (RFC 6864 section 4).
func (sa *SA) writeOuter(out, inner []byte, seq uint64) {
	o := &sa.outer
	proto := uint8(protoESP)
	if sa.udpLen != 0 {
		proto = protoUDP
	}
	if o.v6 {
		tos := inner[1]
		if inner[0]>>4 == 6 {
			tos = uint8(binary.BigEndian.Uint16(inner[0:2]) >> 4)
		}
		h := out[:ipv6Hdr]
		copy(h, o.hdr[:])
		binary.BigEndian.PutUint16(h, 6<<12|uint16(tos)<<4)
		binary.BigEndian.PutUint16(h[4:], uint16(len(out)-ipv6Hdr))
		h[ipv6NextHdr] = proto
		return
	}
	// IPv4: the fields that vary are written over the template, and added
	// to its precomputed share of the checksum (RFC 1071 section 2: the
	// sum is associative).
	var tos, flags uint8
	if inner[0]>>4 == 4 {
		tos, flags = inner[1], inner[6]&0x40
	} else {
		tos = uint8(binary.BigEndian.Uint16(inner[0:2]) >> 4)
	}
	h := out[:ipv4MinHdr]
	copy(h, o.hdr[:ipv4MinHdr])
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:], uint16(len(out)))
	binary.BigEndian.PutUint16(h[4:], uint16(seq))
	h[6] = flags
	h[ipv4Proto] = proto
	sum := o.sum + uint32(tos) + uint32(len(out)) + uint32(uint16(seq)) + uint32(flags)<<8 + uint32(proto)
	binary.BigEndian.PutUint16(h[ipv4Csum:], csum.Finish(uint64(sum)))
}

// outerTemplate is the part of the tunnel-mode outer header that is the
// same for every packet of an SA: version, TTL, addresses.
type outerTemplate struct {
	hdr    [ipv6Hdr]byte
	hdrLen int
	v6     bool
	sum    uint32 // IPv4: the template's share of the header checksum
}

func newOuterTemplate(src, dst netip.Addr) outerTemplate {
	var t outerTemplate
	if dst.Is4() {
		t.hdr[0], t.hdr[8] = 0x45, defaultTTL
		s, d := src.As4(), dst.As4()
		copy(t.hdr[12:], s[:])
		copy(t.hdr[16:], d[:])
		t.hdrLen = ipv4MinHdr
		// Version/IHL and TTL, then the addresses; TOS, length, ID,
		// flags and protocol are added per packet.
		t.sum = uint32(t.hdr[0])<<8 + uint32(t.hdr[8])<<8
		for i := 12; i < 20; i += 2 {
			t.sum += uint32(binary.BigEndian.Uint16(t.hdr[i:]))
		}
		return t
	}
	t.hdr[0], t.hdr[7] = 0x60, defaultTTL
	s, d := src.As16(), dst.As16()
	copy(t.hdr[8:], s[:])
	copy(t.hdr[24:], d[:])
	t.hdrLen, t.v6 = ipv6Hdr, true
	return t
}

// fillUDP writes the UDP header of RFC 3948 section 2.1 at udp, which runs
// to the end of the packet pkt. The IPv4 checksum is zero as RFC 3948 allows;
// over IPv6 it is computed (RFC 8200 section 8.1).
func (sa *SA) fillUDP(pkt []byte, v6 bool, udp []byte) {
	binary.BigEndian.PutUint16(udp[0:], sa.sport)
	binary.BigEndian.PutUint16(udp[2:], sa.dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	udp[6], udp[7] = 0, 0
	if v6 {
		src, dst := addrs(pkt, true)
		c := csum.Checksum(udp, pseudoHeaderSum(src, dst, protoUDP, len(udp)))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], c)
	}
}

// Open verifies and decrypts the IP packet pkt in place and returns the
// packet to deliver, which aliases pkt: in tunnel mode the inner packet, in
// transport mode the original packet with ESP removed. The bytes of pkt
// outside the returned packet are scratch afterwards (the AEAD nonce is
// built in front of ESP), and after an error all of pkt is: keep a copy of
// what you want to log. Errors wrap ErrMalformed, ErrWrongSPI, ErrReplay,
// ErrAuthFailed or ErrDummy; every dropped packet is counted. Open does not
// check the inner packet against policy; that is the SPD's job (RFC 4301
// section 5.2).
func (sa *SA) Open(pkt []byte) ([]byte, error) {
	h, ok := ippkt.Parse(pkt, ippkt.Upper)
	ip := ipPacket{h}
	if !ok || ip.fragment() {
		sa.malformed.Add(1)
		return nil, errOuterIP
	}
	espOff := ip.HdrLen
	switch pkt[ip.NhOff] {
	case protoESP:
	case protoUDP:
		if sa.sport == 0 || ip.Total-espOff < udpHdr {
			sa.malformed.Add(1)
			return nil, errUnwantedUDP
		}
		espOff += udpHdr
		if Classify(pkt[espOff:ip.Total]) != KindESP {
			sa.malformed.Add(1)
			return nil, errUDPNotESP
		}
	default:
		sa.malformed.Add(1)
		return nil, errNotESP
	}
	if sa.mode == Tunnel {
		// The outer headers are dead once parsed: the transform may use
		// them as scratch.
		payload, nh, err := sa.openESP(pkt[:ip.Total], espOff)
		if err != nil {
			return nil, err
		}
		// The inner header's length drops TFC padding (RFC 4303 2.4).
		n, inner, ok := innerPacket(payload)
		if !ok || inner != nh {
			sa.malformed.Add(1)
			return nil, errInner
		}
		sa.traffic.Add(n)
		return payload[:n], nil
	}
	// Transport mode: the IP header moves up against the payload at the
	// end. A short header waits on the stack meanwhile, so that its place
	// can be the transform's scratch.
	var saved [64]byte
	hdr := pkt[:ip.HdrLen]
	scratch := 0
	if len(hdr) <= len(saved) {
		copyHeader(saved[:len(hdr)], hdr)
		hdr = saved[:len(hdr)]
		scratch = espOff
	}
	payload, nh, err := sa.openESP(pkt[espOff-scratch:ip.Total], scratch)
	if err != nil {
		return nil, err
	}
	// Make the header describe the packet without ESP (RFC 4303 section
	// 3.4.4.1 ends with the reconstructed original datagram).
	payloadOff := offsetOf(pkt, payload)
	start := payloadOff - len(hdr)
	out := pkt[start : payloadOff+len(payload)]
	ip.updateHeader(out[:len(hdr)], hdr, nh, len(out))
	if sa.sport != 0 {
		fixTransportChecksum(out, ip, nh)
	}
	sa.traffic.Add(len(payload))
	return out, nil
}

// offsetOf returns where sub starts inside b; sub must be a sub-slice of b.
func offsetOf(b, sub []byte) int {
	return cap(b) - cap(sub)
}

// fixTransportChecksum recomputes the TCP or UDP checksum of a transport-mode
// packet received through NAT (RFC 3948 section 3.1.2, second option): the
// sender computed it over addresses that NAT has since changed. A UDP
// checksum of zero over IPv4 means "none" and stays zero.
func fixTransportChecksum(pkt []byte, ip ipPacket, proto uint8) {
	l4 := pkt[ip.HdrLen:]
	var off int
	switch {
	case proto == protoTCP && len(l4) >= 20:
		off = 16
	case proto == protoUDP && len(l4) >= udpHdr:
		off = 6
		if !ip.v6() && l4[6] == 0 && l4[7] == 0 {
			return
		}
	default:
		return
	}
	src, dst := addrs(pkt, ip.v6())
	l4[off], l4[off+1] = 0, 0
	c := csum.Checksum(l4, pseudoHeaderSum(src, dst, proto, len(l4)))
	if c == 0 && proto == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
}
