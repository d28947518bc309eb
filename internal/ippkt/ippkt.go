// Package ippkt walks IPv4 and IPv6 headers, with IPv6 extension-header
// chains, for the packages that need to know where the headers of a
// packet end: esp and ah (where ESP or AH goes, or where it is) and spd
// (where the next layer protocol and its ports are). It checks every
// length against the packet and against the other length fields before
// it is used, and never allocates.
//
// References:
//   - RFC 791: IPv4 header, fragments
//   - RFC 8200 sections 4 and 4.5: IPv6 extension headers, Fragment header
//   - RFC 4303 section 3.1.1, RFC 4302 section 3.1.1: where ESP and AH go
//   - RFC 4301 section 4.4.1.1: the next layer protocol behind extension headers
package ippkt

import "encoding/binary"

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers") that
// the walk knows.
const (
	ProtoHopByHop = 0
	ProtoICMP     = 1
	ProtoIPv4     = 4
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6     = 41
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
	ProtoSCTP     = 132
)

// Sizes and offsets of the headers.
const (
	IPv4MinHeader = 20
	IPv6Header    = 40
	IPv4Proto     = 9 // offset of the IPv4 protocol field
	IPv6NextHdr   = 6 // offset of the IPv6 next header field
	fragHeader    = 8 // RFC 8200 section 4.5
)

// Stop says where Parse stops walking IPv6 extension headers.
type Stop uint8

const (
	// Insert stops where ESP or AH is inserted in transport mode, after
	// hop-by-hop, routing and fragment headers and a destination
	// options header followed by a routing header (RFC 4303 section
	// 3.1.1, RFC 4302 section 3.1.1).
	Insert Stop = iota
	// Upper walks every hop-by-hop, routing, fragment and destination
	// options header, as a receiver does to find ESP, AH or the next
	// layer protocol (RFC 4301 section 4.4.1.1).
	Upper
)

// Either walk stops after a Fragment header whose offset is not zero:
// what follows it is the middle of a packet, not a header.

// Header is what Parse learnt about a packet's headers. It has four
// fields so that the compiler keeps it in registers.
type Header struct {
	// HdrLen is the length of the headers walked: the IPv4 header with
	// options, or the IPv6 header and the extension headers walked.
	HdrLen int
	// NhOff is the offset of the byte naming the protocol at HdrLen (the
	// IPv4 protocol, or the last walked header's next header).
	NhOff int
	// Total is the packet's length from its own header; bytes beyond it
	// (link padding, TFC padding) are not part of the packet.
	Total int
	Flags Flags
}

// Flags describe the packet.
type Flags uint8

const (
	// V6 is set for IPv6.
	V6 Flags = 1 << iota
	// Fragment is set for an IPv4 fragment (MF or a fragment offset) or
	// an IPv6 packet with a Fragment header.
	Fragment
	// LaterFragment is set for a fragment whose offset is not zero: it
	// does not hold the next layer header (RFC 4301 section 4.4.1.1,
	// OPAQUE ports). Only set when the walk reached the Fragment header.
	LaterFragment
)

// V6 reports whether the packet is IPv6.
func (h Header) V6() bool { return h.Flags&V6 != 0 }

// Fragment reports whether the packet is a fragment.
func (h Header) Fragment() bool { return h.Flags&Fragment != 0 }

// LaterFragment reports whether the packet is a fragment other than the
// first.
func (h Header) LaterFragment() bool { return h.Flags&LaterFragment != 0 }

// IsExtension reports whether nh is an IPv6 extension header that Parse
// walks: hop-by-hop options, routing, fragment, destination options.
func IsExtension(nh uint8) bool {
	return nh == ProtoHopByHop || nh == ProtoRouting || nh == ProtoFragment || nh == ProtoDstOpts
}

// ExtLen returns the length of the extension header nh (IsExtension) at
// off in b, a packet of total bytes, or false if it overruns total.
func ExtLen(b []byte, off, total int, nh uint8) (int, bool) {
	n := fragHeader
	if nh != ProtoFragment {
		if off+2 > total || off+2 > len(b) {
			return 0, false
		}
		n = (int(b[off+1]) + 1) * 8 // RFC 8200 section 4.3: units of 8 octets, not counting the first 8
	}
	if off+n > total || off+n > len(b) {
		return 0, false
	}
	return n, true
}

// Parse checks an IP header and the lengths that relate to it, and walks
// IPv6 extension headers as stop says. It reports false for anything that
// is not a well-formed IPv4 or IPv6 packet of at most len(b) bytes; IPv6
// jumbograms (RFC 2675) are not supported.
func Parse(b []byte, stop Stop) (Header, bool) {
	if len(b) < 1 {
		return Header{}, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < IPv4MinHeader {
			return Header{}, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if ihl < IPv4MinHeader || total < ihl || total > len(b) {
			return Header{}, false
		}
		h := Header{HdrLen: ihl, NhOff: IPv4Proto, Total: total}
		if f := binary.BigEndian.Uint16(b[6:8]); f&0x3fff != 0 { // MF or an offset
			h.Flags = Fragment
			if f&0x1fff != 0 {
				h.Flags |= LaterFragment
			}
		}
		return h, true
	case 6:
		if len(b) < IPv6Header {
			return Header{}, false
		}
		plen := int(binary.BigEndian.Uint16(b[4:6]))
		total := IPv6Header + plen
		if plen == 0 || total > len(b) {
			return Header{}, false
		}
		h := Header{HdrLen: IPv6Header, NhOff: IPv6NextHdr, Total: total, Flags: V6}
		for {
			nh := b[h.NhOff]
			if !IsExtension(nh) {
				return h, true
			}
			n, ok := ExtLen(b, h.HdrLen, total, nh)
			if !ok {
				return Header{}, false
			}
			if stop == Insert && nh == ProtoDstOpts && b[h.HdrLen] != ProtoRouting {
				// A destination options header not followed by a
				// routing header is for the final destination only and
				// goes inside ESP or AH.
				return h, true
			}
			h.NhOff = h.HdrLen
			h.HdrLen += n
			if nh == ProtoFragment {
				h.Flags |= Fragment
				if binary.BigEndian.Uint16(b[h.NhOff+2:])&0xfff8 != 0 {
					h.Flags |= LaterFragment
					return h, true
				}
			}
		}
	}
	return Header{}, false
}
