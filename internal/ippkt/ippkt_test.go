package ippkt

import (
	"encoding/binary"
	"testing"
)

// v6 builds an IPv6 packet with the extension headers ext (8 octets each)
// in front of proto and n bytes of payload.
func v6(ext []uint8, proto uint8, n int) []byte {
	b := make([]byte, IPv6Header)
	b[0] = 0x60
	nh := IPv6NextHdr
	for _, e := range ext {
		b[nh] = e
		nh = len(b)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	b[nh] = proto
	b = append(b, make([]byte, n)...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-IPv6Header))
	return b
}

func TestParse(t *testing.T) {
	later := v6([]uint8{ProtoFragment, ProtoDstOpts}, ProtoTCP, 20)
	binary.BigEndian.PutUint16(later[IPv6Header+2:], 8<<3)
	for _, tc := range []struct {
		name        string
		pkt         []byte
		stop        Stop
		hdrLen, nh  int
		flags       Flags
		wantInvalid bool
	}{
		{"no extensions", v6(nil, ProtoTCP, 20), Upper, 40, 6, V6, false},
		{"chain, upper", v6([]uint8{ProtoHopByHop, ProtoRouting, ProtoDstOpts}, ProtoUDP, 8), Upper, 64, 56, V6, false},
		{"destination options stay inside ESP", v6([]uint8{ProtoHopByHop, ProtoDstOpts}, ProtoUDP, 8), Insert, 48, 40, V6, false},
		{"destination options before routing go before ESP", v6([]uint8{ProtoDstOpts, ProtoRouting}, ProtoUDP, 8), Insert, 56, 48, V6, false},
		{"first fragment walks on", v6([]uint8{ProtoFragment, ProtoDstOpts}, ProtoTCP, 20), Upper, 56, 48, V6 | Fragment, false},
		{"later fragment stops", later, Upper, 48, 40, V6 | Fragment | LaterFragment, false},
		{"extension header overruns", v6([]uint8{ProtoDstOpts}, ProtoTCP, 0)[:47], Upper, 0, 0, 0, true},
	} {
		if tc.wantInvalid {
			// Payload length now points beyond the bytes.
			if _, ok := Parse(tc.pkt, tc.stop); ok {
				t.Errorf("%s: accepted", tc.name)
			}
			continue
		}
		h, ok := Parse(tc.pkt, tc.stop)
		if !ok || h.HdrLen != tc.hdrLen || h.NhOff != tc.nh || h.Flags != tc.flags || h.Total != len(tc.pkt) {
			t.Errorf("%s: got %+v %v, want hdrLen %d nhOff %d flags %b", tc.name, h, ok, tc.hdrLen, tc.nh, tc.flags)
		}
	}
}

// FuzzParse checks that Parse never panics and that what it reports lies
// inside the packet.
func FuzzParse(f *testing.F) {
	f.Add(v6([]uint8{ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDstOpts}, ProtoTCP, 20))
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0x20, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, stop := range []Stop{Insert, Upper} {
			h, ok := Parse(b, stop)
			if !ok {
				continue
			}
			if h.Total > len(b) || h.HdrLen > h.Total || h.NhOff >= h.HdrLen {
				t.Fatalf("stop %d: %+v outside %d bytes", stop, h, len(b))
			}
		}
	})
}
