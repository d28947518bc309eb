package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// superPacket builds what the kernel hands a TUN with TSO/USO on: a
// TCP or UDP packet with up to 64 KiB of payload, a virtio-net header
// asking for segments of mss bytes, and the pseudo-header's sum in the
// checksum field (CHECKSUM_PARTIAL).
func superPacket(rng *rand.Rand, v6, udp bool, payload, mss int, flags uint8) []byte {
	src, dst := net.IP{10, 1, 0, 1}, net.IP{10, 2, 0, 1}
	if v6 {
		src, dst = net.ParseIP("fd00:1::1"), net.ParseIP("fd00:2::1")
	}
	data := make([]byte, payload)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var l4 []gopacket.SerializableLayer
	var ipL gopacket.NetworkLayer
	proto := layers.IPProtocolTCP
	if udp {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		ipL = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src, DstIP: dst}
	} else {
		ipL = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Id: uint16(rng.Uint32()), Protocol: proto, SrcIP: src, DstIP: dst}
	}
	if udp {
		u := &layers.UDP{SrcPort: 5001, DstPort: 5201}
		u.SetNetworkLayerForChecksum(ipL)
		l4 = append(l4, u)
	} else {
		t := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: rng.Uint32(), Ack: rng.Uint32(), Window: 501, DataOffset: 8,
			ACK: true, PSH: flags&tcpPSH != 0, FIN: flags&tcpFIN != 0, CWR: flags&tcpCWR != 0, ECE: flags&0x40 != 0,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}
		t.SetNetworkLayerForChecksum(ipL)
		l4 = append(l4, t)
	}
	buf := gopacket.NewSerializeBuffer()
	ls := append([]gopacket.SerializableLayer{ipL.(gopacket.SerializableLayer)}, l4...)
	ls = append(ls, gopacket.Payload(data))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	pkt := buf.Bytes()
	ipLen := 20
	if v6 {
		ipLen = 40
	}
	h := vnetHdr{flags: vnetNeedsCsum, csumStart: uint16(ipLen), gsoSize: uint16(mss)}
	ck := 16
	switch {
	case udp:
		h.gsoType, ck = gsoUDPL4, 6
	case v6:
		h.gsoType = gsoTCPv6
	default:
		h.gsoType = gsoTCPv4
	}
	h.csumOffset = uint16(ck)
	hl := ipLen + 8
	if !udp {
		hl = ipLen + 32
	}
	h.hdrLen = uint16(hl)
	if payload <= mss && rng.IntN(2) == 0 {
		h.gsoType, h.gsoSize = gsoNone, 0 // a small packet: checksum only
	}
	// CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
	l4len := len(pkt) - ipLen
	ps := pseudoSum(pkt, !v6, uint8(proto)) + uint32(l4len)
	ps = ps>>16 + ps&0xffff
	ps = ps>>16 + ps&0xffff
	binary.BigEndian.PutUint16(pkt[ipLen+ck:], uint16(ps))
	frame := make([]byte, vnetHdrLen+len(pkt))
	h.encode(frame)
	copy(frame[vnetHdrLen:], pkt)
	return frame
}

// TestSegmentAgainstGopacket cuts random super-packets and checks every
// segment against gopacket's own serialization of the same headers
// (lengths and checksums computed by gopacket, not by us), and the
// sequence numbers, flags and payloads against the super-packet.
func TestSegmentAgainstGopacket(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for n := range 400 {
		v6, udp := rng.IntN(2) == 0, rng.IntN(3) == 0
		mss := 200 + rng.IntN(1300)
		payload := 1 + rng.IntN(65535-200)
		if rng.IntN(4) == 0 {
			payload = 1 + rng.IntN(mss)
		}
		flags := uint8(0)
		for _, f := range []uint8{tcpPSH, tcpFIN, tcpCWR, 0x40} {
			if rng.IntN(3) == 0 {
				flags |= f
			}
		}
		fr := superPacket(rng, v6, udp, payload, mss, flags)
		f, ok := parseFrame(fr, true)
		if !ok {
			t.Fatalf("case %d: frame refused", n)
		}
		orig := gopacket.NewPacket(fr[vnetHdrLen:], firstLayer(v6), gopacket.Default)
		var got []byte
		dst := make([]byte, f.maxSeg())
		for i := range f.n {
			m := f.segment(i, dst)
			seg := dst[:m]
			if m > f.maxSeg() {
				t.Fatalf("case %d: segment %d longer than maxSeg", n, i)
			}
			p := gopacket.NewPacket(seg, firstLayer(v6), gopacket.Default)
			if p.ErrorLayer() != nil {
				t.Fatalf("case %d segment %d: %v", n, i, p.ErrorLayer().Error())
			}
			// gopacket recomputes lengths and checksums from the same
			// layers: they must come out as ours.
			re := reserialize(t, p, v6)
			if !bytes.Equal(re, seg) {
				t.Fatalf("case %d (v6 %v udp %v mss %d payload %d) segment %d of %d differs from gopacket's:\n%x\n%x", n, v6, udp, mss, payload, i, f.n, seg, re)
			}
			if tcp, ok := p.TransportLayer().(*layers.TCP); ok {
				o := orig.TransportLayer().(*layers.TCP)
				if tcp.Seq != o.Seq+uint32(len(got)) {
					t.Fatalf("case %d segment %d: seq %d, want %d", n, i, tcp.Seq, o.Seq+uint32(len(got)))
				}
				last := i == f.n-1
				if tcp.PSH != (o.PSH && last) || tcp.FIN != (o.FIN && last) || tcp.CWR != (o.CWR && i == 0) || tcp.ECE != o.ECE {
					t.Fatalf("case %d segment %d: flags %v", n, i, tcp)
				}
			}
			if !v6 {
				ip := p.NetworkLayer().(*layers.IPv4)
				if ip.Id != orig.NetworkLayer().(*layers.IPv4).Id+uint16(i) {
					t.Fatalf("case %d segment %d: IP id", n, i)
				}
			}
			got = append(got, p.TransportLayer().LayerPayload()...)
		}
		if !bytes.Equal(got, orig.TransportLayer().LayerPayload()) {
			t.Fatalf("case %d: payloads do not join up to the super-packet's", n)
		}
	}
}

func firstLayer(v6 bool) gopacket.Decoder {
	if v6 {
		return layers.LayerTypeIPv6
	}
	return layers.LayerTypeIPv4
}

// reserialize serializes p's layers again with gopacket computing lengths
// and checksums.
func reserialize(t *testing.T, p gopacket.Packet, v6 bool) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	nl := p.NetworkLayer()
	ls = append(ls, nl.(gopacket.SerializableLayer))
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		l.SetNetworkLayerForChecksum(nl)
		ls = append(ls, l)
	case *layers.UDP:
		l.SetNetworkLayerForChecksum(nl)
		ls = append(ls, l)
	}
	ls = append(ls, gopacket.Payload(p.TransportLayer().LayerPayload()))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCoalesceRoundTrip merges random streams of packets (TCP segments of
// a few IPv4 and IPv6 flows interleaved, with PSH, short segments, a bad
// checksum now and then, and other packets) and cuts what was written
// again as the kernel would: the packets must come out as they went in, in
// order, and runs must have been merged. A coalescer that checks
// checksums never merges a segment whose checksum is bad, so even that
// one comes out as it went in; the plane's, which does not check (the ESP
// ICV authenticated the packet), merges it, and it comes out with only
// its checksum recomputed.
func TestCoalesceRoundTrip(t *testing.T) {
	for _, check := range []bool{true, false} {
		t.Run(fmt.Sprintf("check=%v", check), func(t *testing.T) { testCoalesceRoundTrip(t, check) })
	}
}

func testCoalesceRoundTrip(t *testing.T, check bool) {
	rng := rand.New(rand.NewPCG(3, 9))
	merged := [2]int{}
	badMerged := 0
	for n := range 300 {
		var in [][]byte
		bad := map[int]bool{} // indexes in `in` of corrupt segments
		for range 1 + rng.IntN(6) {
			mss := 100 + rng.IntN(1400)
			fr := superPacket(rng, rng.IntN(2) == 0, false, 1+rng.IntN(60000), mss, uint8(rng.IntN(2))*tcpPSH)
			f, ok := parseFrame(fr, true)
			if !ok {
				t.Fatal("frame refused")
			}
			corrupt := rng.IntN(10) == 0
			for i := range f.n {
				b := make([]byte, f.maxSeg())
				b = b[:f.segment(i, b)]
				if corrupt && i == f.n/2 {
					b[len(b)-1] ^= 1 // a bad checksum
					bad[len(in)] = true
				}
				in = append(in, b)
			}
			if rng.IntN(3) == 0 {
				in = append(in, []byte{0x60, 0, 0, 0, 0, 0, 17, 64}) // not TCP over IPv4
			}
		}
		// Interleave neighbours now and then.
		for i := 0; i+1 < len(in); i++ {
			if rng.IntN(20) == 0 {
				in[i], in[i+1] = in[i+1], in[i]
				bad[i], bad[i+1] = bad[i+1], bad[i]
			}
		}
		var frames [][]byte
		c := coalescer{vnet: true, check: check, write: func(pieces [][]byte) error {
			frames = append(frames, bytes.Join(pieces, nil))
			return nil
		}}
		if failed := c.writeAll(in); failed != 0 {
			t.Fatal(failed)
		}
		var out [][]byte
		var inRun []bool // out[i] came out of a merged frame
		for _, fr := range frames {
			var h vnetHdr
			h.decode(fr)
			if h.gsoType == gsoNone {
				if h.flags != 0 {
					t.Fatalf("case %d: single packet with flags %x", n, h.flags)
				}
				out = append(out, fr[vnetHdrLen:])
				inRun = append(inRun, false)
				continue
			}
			merged[h.gsoType/gsoTCPv6]++
			f, ok := parseFrame(fr, true)
			if !ok {
				t.Fatalf("case %d: merged frame refused", n)
			}
			for i := range f.n {
				b := make([]byte, f.maxSeg())
				out = append(out, b[:f.segment(i, b)])
				inRun = append(inRun, true)
			}
		}
		if len(out) != len(in) {
			t.Fatalf("case %d: %d packets out, %d in", n, len(out), len(in))
		}
		for i := range in {
			if bad[i] && inRun[i] {
				if check {
					t.Fatalf("case %d packet %d: a bad checksum merged", n, i)
				}
				badMerged++
				if !equalButTCPChecksum(in[i], out[i]) {
					t.Fatalf("case %d packet %d differs beyond its checksum:\n%x\n%x", n, i, in[i], out[i])
				}
				continue
			}
			if !bytes.Equal(in[i], out[i]) {
				t.Fatalf("case %d packet %d differs:\n%x\n%x", n, i, in[i], out[i])
			}
		}
	}
	if merged[0] == 0 || merged[1] == 0 {
		t.Fatalf("merged runs (IPv4, IPv6): %v", merged)
	}
	if !check && badMerged == 0 {
		t.Fatal("no segment with a bad checksum was merged without checking")
	}
}

// equalButTCPChecksum reports whether TCP packets a and b are the same
// but for the TCP checksum.
func equalButTCPChecksum(a, b []byte) bool {
	t, ok := parseTCP(a)
	if !ok || len(a) != len(b) {
		return false
	}
	ck := t.ip + 16
	return bytes.Equal(a[:ck], b[:ck]) && bytes.Equal(a[ck+2:], b[ck+2:])
}

// FuzzParseFrame: any frame is refused or cut into segments that fit
// maxSeg, without panicking.
func FuzzParseFrame(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	f.Add(superPacket(rng, false, false, 3000, 1000, 0))
	f.Add(superPacket(rng, true, false, 3000, 1000, tcpPSH))
	f.Add(superPacket(rng, false, true, 3000, 1000, 0))
	f.Add(superPacket(rng, true, true, 100, 1000, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, ok := parseFrame(b, true)
		if !ok {
			return
		}
		if fr.n > 65536 {
			t.Fatalf("%d segments", fr.n)
		}
		dst := make([]byte, fr.maxSeg())
		for i := range fr.n {
			if m := fr.segment(i, dst); m > len(dst) {
				t.Fatal(m)
			}
		}
	})
}

// FuzzCoalesce: any packet sequence is written whole, in order: cutting
// what was written gives the packets back (with checksums checked: one
// that does not check them merges a segment with a bad checksum, which
// then comes back with the checksum recomputed; TestCoalesceRoundTrip
// covers that).
func FuzzCoalesce(f *testing.F) {
	rng := rand.New(rand.NewPCG(2, 2))
	fr := superPacket(rng, false, false, 5000, 1000, 0)
	pf, _ := parseFrame(fr, true)
	var seed []byte
	for i := range pf.n {
		b := make([]byte, pf.maxSeg())
		b = b[:pf.segment(i, b)]
		seed = binary.BigEndian.AppendUint16(seed, uint16(len(b)))
		seed = append(seed, b...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var in [][]byte
		for len(b) >= 2 {
			n := min(int(binary.BigEndian.Uint16(b)), len(b)-2)
			in = append(in, b[2:2+n])
			b = b[2+n:]
		}
		var out [][]byte
		c := coalescer{vnet: true, check: true, write: func(pieces [][]byte) error {
			fr := bytes.Join(pieces, nil)
			var h vnetHdr
			h.decode(fr)
			if h.gsoType == gsoNone {
				out = append(out, fr[vnetHdrLen:])
				return nil
			}
			f, ok := parseFrame(fr, true)
			if !ok {
				return fmt.Errorf("merged frame refused")
			}
			for i := range f.n {
				s := make([]byte, f.maxSeg())
				out = append(out, s[:f.segment(i, s)])
			}
			return nil
		}}
		if failed := c.writeAll(in); failed != 0 {
			t.Fatal("a merged frame does not parse")
		}
		if len(out) != len(in) {
			t.Fatalf("%d out, %d in", len(out), len(in))
		}
		for i := range in {
			if !bytes.Equal(in[i], out[i]) {
				t.Fatalf("packet %d differs", i)
			}
		}
	})
}
