package ah

import (
	"encoding/binary"

	"github.com/ipsecgo/ipsec/internal/csum"
	"github.com/ipsecgo/ipsec/internal/ippkt"
)

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	protoHopByHop = 0
	protoIPv4     = 4
	protoIPv6     = 41
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoDstOpts  = 60
)

// Fixed sizes.
const (
	ipv4MinHeader = 20
	ipv6Header    = 40
	// ahFixed is the AH header up to the Authentication Data field: Next
	// Header, Payload Len, Reserved, SPI, Sequence Number (RFC 4302 2).
	ahFixed = 12
	// tunnelHopLimit is the TTL / hop limit of an outer tunnel header.
	tunnelHopLimit = 64
)

// ipInfo locates the AH header (on input) or the place where it goes (on
// output) in an IP packet. RFC 4302 3.1.1: in IPv4 AH follows the IP header
// and its options; in IPv6 it follows hop-by-hop, routing and fragment
// headers and any destination options header that precedes a routing
// header.
type ipInfo struct {
	v6    bool
	end   int   // bytes of the packet by its own length fields
	nhOff int   // offset of the next-header byte that names the header at off
	off   int   // offset of AH (input) or of the insertion point (output)
	proto uint8 // protocol number of the header at off
}

// parseIP checks the IP header (and, for IPv6, the extension headers up to
// off) of pkt. When in is true it looks for AH; otherwise it finds where AH
// goes. Every offset is checked against the packet before it is used.
func parseIP(pkt []byte, in bool) (ipInfo, error) {
	if len(pkt) < 1 {
		return ipInfo{}, malformed("empty packet")
	}
	switch pkt[0] >> 4 {
	case 4:
		return parseIPv4(pkt, in)
	case 6:
		return parseIPv6(pkt, in)
	}
	return ipInfo{}, malformed("IP version is neither 4 nor 6")
}

// parseInner checks the version and length of a packet that tunnel mode
// carries whole: it needs no more than that.
func parseInner(pkt []byte) (ipInfo, error) {
	if len(pkt) < 1 {
		return ipInfo{}, malformed("empty packet")
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < ipv4MinHeader {
			return ipInfo{}, malformed("short IPv4 header")
		}
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if int(pkt[0]&0x0f)*4 < ipv4MinHeader || total < int(pkt[0]&0x0f)*4 || total > len(pkt) {
			return ipInfo{}, malformed("IPv4 header or total length out of range")
		}
		return ipInfo{end: total}, nil
	case 6:
		if len(pkt) < ipv6Header {
			return ipInfo{}, malformed("short IPv6 header")
		}
		end := ipv6Header + int(binary.BigEndian.Uint16(pkt[4:6]))
		if end > len(pkt) {
			return ipInfo{}, malformed("IPv6 payload length out of range")
		}
		return ipInfo{v6: true, end: end}, nil
	}
	return ipInfo{}, malformed("IP version is neither 4 nor 6")
}

func parseIPv4(pkt []byte, in bool) (ipInfo, error) {
	h, ok := ippkt.Parse(pkt, ippkt.Insert)
	if !ok {
		return ipInfo{}, malformed("IPv4 header or total length out of range")
	}
	// RFC 4302 3.3.4 / 3.4.1: AH protects whole datagrams; fragments are
	// reassembled before AH processing.
	if h.Fragment() {
		return ipInfo{}, malformed("IPv4 fragment: reassemble before AH")
	}
	srcRoute, err := walkIPv4Options(pkt[ipv4MinHeader:h.HdrLen], false)
	if err != nil {
		return ipInfo{}, err
	}
	if srcRoute && !in {
		return ipInfo{}, ErrUnsupported
	}
	info := ipInfo{end: h.Total, nhOff: h.NhOff, off: h.HdrLen, proto: pkt[h.NhOff]}
	if in && info.proto != protoAH {
		return ipInfo{}, malformed("IPv4 protocol is not AH")
	}
	return info, nil
}

// parseIPv6 finds AH (in) or its place (out) with the shared walk
// (internal/ippkt checks every extension header's length), then checks
// what AH adds: no fragments, hop-by-hop first, well-formed options, and
// no routing header with segments left on output.
func parseIPv6(pkt []byte, in bool) (ipInfo, error) {
	stop := ippkt.Insert
	if in {
		stop = ippkt.Upper
	}
	h, ok := ippkt.Parse(pkt, stop)
	if !ok {
		// Payload Length 0 means a jumbogram (RFC 2675); AH does not
		// carry those here.
		return ipInfo{}, malformed("IPv6 payload length or extension header length out of range")
	}
	if h.Fragment() {
		return ipInfo{}, malformed("IPv6 fragment: reassemble before AH")
	}
	info := ipInfo{v6: true, end: h.Total, nhOff: h.NhOff, off: h.HdrLen, proto: pkt[h.NhOff]}
	if in && info.proto != protoAH {
		return ipInfo{}, malformed("no AH header in the IPv6 packet")
	}
	for off, nh := ipv6Header, pkt[ippkt.IPv6NextHdr]; off < h.HdrLen; {
		hl, _ := ippkt.ExtLen(pkt, off, h.Total, nh) // checked by Parse
		if nh == protoHopByHop && off != ipv6Header {
			return ipInfo{}, malformed("IPv6 hop-by-hop header not first")
		}
		switch nh {
		case protoHopByHop, protoDstOpts:
			if err := walkIPv6Options(pkt[off+2:off+hl], false); err != nil {
				return ipInfo{}, err
			}
		case protoRouting:
			// A routing header with segments left changes the destination
			// en route; RFC 4302 3.3.3.1.2.3 wants the ICV over the packet
			// as the final destination sees it. Sealing that is not
			// implemented; receivers see segments left 0.
			if pkt[off+3] != 0 && !in {
				return ipInfo{}, ErrUnsupported
			}
		}
		nh = pkt[off]
		off += hl
	}
	return info, nil
}

// IPv4 option types that are immutable in transit (RFC 4302 Appendix A.1).
// Every other option, known or not, is zeroed as a whole for the ICV.
func ipv4OptionImmutable(t byte) bool {
	switch t {
	case 0, // End of Option List
		1,   // No Operation
		130, // Security
		133, // Extended Security
		134, // Commercial Security
		148, // Router Alert
		149: // Sender Directed Multi-Destination Delivery
		return true
	}
	return false
}

// walkIPv4Options checks the option list and, when zero is set, zeroes every
// mutable option (RFC 4302 3.3.3.1.1.2). It reports whether a source route
// option (loose 131 or strict 137) is present.
func walkIPv4Options(opts []byte, zero bool) (srcRoute bool, err error) {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // End of Option List: the rest is padding.
			return srcRoute, nil
		}
		if t == 1 {
			i++
			continue
		}
		if i+2 > len(opts) {
			return false, malformed("truncated IPv4 option")
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return false, malformed("IPv4 option length out of range")
		}
		if t == 131 || t == 137 {
			srcRoute = true
		}
		if zero && !ipv4OptionImmutable(t) {
			clear(opts[i : i+l])
		}
		i += l
	}
	return srcRoute, nil
}

// walkIPv6Options checks the TLV options of a hop-by-hop or destination
// options header and, when zero is set, zeroes the data of every option whose
// type has the "may change en route" bit (0x20) set (RFC 8200 4.2, RFC 4302
// 3.3.3.1.2.2). Type and length stay, as the RFC asks.
func walkIPv6Options(opts []byte, zero bool) error {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // Pad1
			i++
			continue
		}
		if i+2 > len(opts) {
			return malformed("truncated IPv6 option")
		}
		l := int(opts[i+1])
		if i+2+l > len(opts) {
			return malformed("IPv6 option length out of range")
		}
		if zero && t&0x20 != 0 {
			clear(opts[i+2 : i+2+l])
		}
		i += 2 + l
	}
	return nil
}

// zeroMutable zeroes, in place, the fields of the IP header and of the
// extension headers before AH that may change in transit (RFC 4302
// 3.3.3.1). The headers must have passed parseIP.
func zeroMutable(pkt []byte, info *ipInfo) {
	if !info.v6 {
		// RFC 4302 3.3.3.1.1.1: DSCP/ECN, flags, fragment offset, TTL and
		// header checksum are mutable.
		pkt[1] = 0
		pkt[6], pkt[7] = 0, 0
		pkt[8] = 0
		pkt[10], pkt[11] = 0, 0
		walkIPv4Options(pkt[ipv4MinHeader:info.off], true) //nolint:errcheck // checked by parseIP
		return
	}
	// RFC 4302 3.3.3.1.2.1: traffic class, flow label and hop limit.
	pkt[0] &= 0xf0
	pkt[1], pkt[2], pkt[3] = 0, 0, 0
	pkt[7] = 0
	nh := pkt[6]
	for off := ipv6Header; off < info.off; {
		hl := (int(pkt[off+1]) + 1) * 8
		if nh == protoHopByHop || nh == protoDstOpts {
			walkIPv6Options(pkt[off+2:off+hl], true) //nolint:errcheck // checked by parseIP
		}
		nh = pkt[off]
		off += hl
	}
}

// ipv4Checksum returns the Internet checksum (RFC 791, RFC 1071) of an IPv4
// header whose checksum field is zero.
func ipv4Checksum(h []byte) uint16 { return csum.Checksum(h, 0) }

// setIPv4Checksum recomputes the header checksum of the IPv4 header h.
func setIPv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:12], ipv4Checksum(h))
}
