package ah

import (
	"encoding/binary"
	"net/netip"
)

// Test packets. Each builder returns a valid IP packet and the offsets of
// the fields the mutable-field tests change.

var (
	v4Src = netip.MustParseAddr("192.0.2.1")
	v4Dst = netip.MustParseAddr("192.0.2.2")
	v6Src = netip.MustParseAddr("2001:db8::1")
	v6Dst = netip.MustParseAddr("2001:db8::2")
)

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

// ipv4Packet builds an IPv4 UDP-protocol packet with the options given
// (padded to a multiple of 4 with End of Option List).
func ipv4Packet(opts []byte, body []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	ihl := 20 + len(opts)
	p := make([]byte, ihl+len(body))
	p[0] = 0x40 | byte(ihl/4)
	p[1] = 0xb8 // DSCP EF
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:6], 0x1234)
	p[6] = 0x40 // DF
	p[8] = 61
	p[9] = 17
	s, d := v4Src.As4(), v4Dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	copy(p[20:], opts)
	copy(p[ihl:], body)
	setIPv4Checksum(p[:ihl])
	return p
}

// IPv4 options used in the tests: Router Alert (immutable, RFC 4302 A.1)
// and Timestamp (mutable). The timestamp uses flag 1 (address and
// timestamp pairs): Scapy 2.5, which TestScapyInterop compares against,
// misparses flag-0 timestamps.
var (
	optRouterAlert = []byte{148, 4, 0, 0}
	optTimestamp   = []byte{68, 12, 5, 1, 192, 0, 2, 9, 0, 0, 0, 42} // RFC 791: flag 1, one address and timestamp
)

// ipv6Packet builds an IPv6 packet with the extension headers in exts
// (each a complete header whose first byte is overwritten with the next
// header value) and an upper-layer body of protocol 17.
func ipv6Packet(extTypes []uint8, exts [][]byte, body []byte) []byte {
	n := 40
	for _, e := range exts {
		n += len(e)
	}
	p := make([]byte, n+len(body))
	binary.BigEndian.PutUint32(p[0:4], 6<<28|0x2e<<20|0x12345) // TC 0x2e, flow 0x12345
	binary.BigEndian.PutUint16(p[4:6], uint16(len(p)-40))
	p[7] = 63
	s, d := v6Src.As16(), v6Dst.As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
	nhOff := 6
	off := 40
	for i, e := range exts {
		p[nhOff] = extTypes[i]
		copy(p[off:], e)
		nhOff = off
		off += len(e)
	}
	p[nhOff] = 17
	copy(p[off:], body)
	return p
}

// IPv6 extension headers: a hop-by-hop header with a Router Alert option
// (type 5, immutable) and an option of type 0x3e (the "may change" bit
// 0x20 set, skip-if-unknown), a destination options header with an
// immutable option (type 0x1e), and a type-0 routing header with segments
// left 0 (as a final destination receives it).
func v6Exts() ([]uint8, [][]byte) {
	hbh := []byte{0, 1, 5, 2, 0, 0, 0x3e, 4, 9, 9, 9, 9, 1, 0, 0, 0}                              // 16 bytes, PadN at the end
	dopt := []byte{0, 0, 0x1e, 4, 7, 7, 7, 7}                                                     // 8 bytes
	rt := []byte{0, 2, 0, 0, 0, 0, 0, 0, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9} // 24 bytes
	return []uint8{protoHopByHop, protoDstOpts, protoRouting}, [][]byte{hbh, dopt, rt}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
