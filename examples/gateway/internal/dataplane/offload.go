package dataplane

import (
	"encoding/binary"

	"github.com/ipsecgo/ipsec/internal/csum"
)

// The TUN's offloads. With IFF_VNET_HDR every frame read from or written
// to the TUN starts with a struct virtio_net_hdr (Linux
// include/uapi/linux/virtio_net.h; virtio 1.2 section 5.1.6.2), in the
// machine's byte order (little-endian on the machines Go's TUN runs on).
// With TSO on (TUNSETOFFLOAD), the kernel hands the TUN whole TCP
// super-packets of up to 64 KiB and a partial checksum; the plane splits
// them into MTU-sized packets itself (segment), right where they will be
// sealed. Inbound, consecutive TCP segments of one flow are written as one
// super-packet (coalescer), so that the kernel takes them in one write, as
// its own GRO would have merged them.
const (
	vnetHdrLen = 10

	vnetNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM

	gsoNone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	gsoTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	gsoTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	gsoUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4
	gsoECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN

	protoTCP = 6
	protoUDP = 17

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpURG = 0x20
	tcpCWR = 0x80
)

// vnetHdr is a decoded struct virtio_net_hdr.
type vnetHdr struct {
	flags, gsoType                         uint8
	hdrLen, gsoSize, csumStart, csumOffset uint16
}

func (h *vnetHdr) decode(b []byte) {
	h.flags, h.gsoType = b[0], b[1]
	h.hdrLen = binary.LittleEndian.Uint16(b[2:])
	h.gsoSize = binary.LittleEndian.Uint16(b[4:])
	h.csumStart = binary.LittleEndian.Uint16(b[6:])
	h.csumOffset = binary.LittleEndian.Uint16(b[8:])
}

func (h *vnetHdr) encode(b []byte) {
	b[0], b[1] = h.flags, h.gsoType
	binary.LittleEndian.PutUint16(b[2:], h.hdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.gsoSize)
	binary.LittleEndian.PutUint16(b[6:], h.csumStart)
	binary.LittleEndian.PutUint16(b[8:], h.csumOffset)
}

// frame is one frame read from the TUN, ready to be cut into packets.
type frame struct {
	pkt    []byte // the IP packet (a super-packet under TSO/USO)
	h      vnetHdr
	l4     int // offset of the TCP or UDP header (segmented frames)
	hdrLen int // IP and transport headers, repeated in every segment
	mss    int // payload bytes per segment
	n      int // segments
	pseudo uint32
}

// parseFrame checks a frame read from the TUN (b, with its virtio-net
// header first when vnet) and says how it splits. A frame it refuses is
// dropped as malformed.
func parseFrame(b []byte, vnet bool) (frame, bool) {
	var f frame
	if !vnet {
		f.pkt, f.n = b, 1
		return f, len(b) > 0
	}
	if len(b) <= vnetHdrLen {
		return f, false
	}
	f.h.decode(b)
	f.pkt, f.n = b[vnetHdrLen:], 1
	pkt := f.pkt
	cs, co := int(f.h.csumStart), int(f.h.csumOffset)
	needs := f.h.flags&vnetNeedsCsum != 0
	if needs && cs+co+2 > len(pkt) {
		return f, false
	}
	gso := f.h.gsoType &^ gsoECN
	if gso == gsoNone {
		return f, true
	}
	// A super-packet: the transport header starts at csum_start
	// (the kernel always asks for the checksum of a GSO packet).
	v4 := pkt[0]>>4 == 4
	switch {
	case !needs || f.h.gsoSize == 0:
		return f, false
	case v4 && (gso != gsoTCPv4 && gso != gsoUDPL4 || cs < 20 || len(pkt) < 20 || int(pkt[0]&0xf)*4 > cs):
		return f, false
	case !v4 && (pkt[0]>>4 != 6 || gso != gsoTCPv6 && gso != gsoUDPL4 || cs < 40):
		return f, false
	}
	f.l4, f.mss = cs, int(f.h.gsoSize)
	proto := uint8(protoTCP)
	if gso == gsoUDPL4 {
		proto = protoUDP
		f.hdrLen = cs + 8
	} else {
		if cs+20 > len(pkt) {
			return f, false
		}
		f.hdrLen = cs + int(pkt[cs+12]>>4)*4
		if f.hdrLen < cs+20 {
			return f, false
		}
	}
	if f.hdrLen > len(pkt) || co != checksumOffset(proto) {
		return f, false
	}
	payload := len(pkt) - f.hdrLen
	f.n = max(1, (payload+f.mss-1)/f.mss)
	f.pseudo = pseudoSum(pkt, v4, proto)
	return f, true
}

// checksumOffset is where the checksum sits in a TCP or UDP header.
func checksumOffset(proto uint8) int {
	if proto == protoTCP {
		return 16
	}
	return 6
}

// pseudoSum is the sum of the pseudo-header's addresses and protocol
// (RFC 9293 section 3.1, RFC 768, RFC 8200 section 8.1), without the
// length.
func pseudoSum(pkt []byte, v4 bool, proto uint8) uint32 {
	addrs := pkt[8:40]
	if v4 {
		addrs = pkt[12:20]
	}
	s := uint32(proto)
	for i := 0; i+1 < len(addrs); i += 2 {
		s += uint32(addrs[i])<<8 | uint32(addrs[i+1])
	}
	return s
}

// maxSeg is the size of the largest segment.
func (f *frame) maxSeg() int {
	if f.n == 1 {
		return len(f.pkt)
	}
	return f.hdrLen + f.mss
}

// segment writes segment i of the frame at the start of dst (which has
// room for maxSeg bytes) and returns its length. A segment is the packet
// the kernel would have sent had the TUN not offered TSO/USO: the
// headers repeated, IPv4 total length, identification (incremented per
// segment) and header checksum, IPv6 payload length, TCP sequence number
// and flags (FIN and PSH on the last segment only, CWR on the first only)
// or UDP length, and the transport checksum computed.
func (f *frame) segment(i int, dst []byte) int {
	pkt := f.pkt
	if f.n == 1 && f.mss == 0 {
		n := copy(dst, pkt)
		if f.h.flags&vnetNeedsCsum != 0 {
			// The field holds the pseudo-header's sum; the sum from
			// csum_start on completes it.
			cs := int(f.h.csumStart)
			binary.BigEndian.PutUint16(dst[cs+int(f.h.csumOffset):], csum.Checksum(dst[cs:n], 0))
		}
		return n
	}
	off := i * f.mss
	plen := min(f.mss, len(pkt)-f.hdrLen-off)
	copy(dst, pkt[:f.hdrLen])
	copy(dst[f.hdrLen:], pkt[f.hdrLen+off:f.hdrLen+off+plen])
	n := f.hdrLen + plen
	seg := dst[:n]
	l4len := n - f.l4
	if seg[0]>>4 == 4 {
		ihl := int(seg[0]&0xf) * 4
		binary.BigEndian.PutUint16(seg[2:], uint16(n))
		binary.BigEndian.PutUint16(seg[4:], binary.BigEndian.Uint16(pkt[4:])+uint16(i))
		seg[10], seg[11] = 0, 0
		binary.BigEndian.PutUint16(seg[10:], csum.Checksum(seg[:ihl], 0))
	} else {
		binary.BigEndian.PutUint16(seg[4:], uint16(n-40))
	}
	l4 := seg[f.l4:]
	var ck int
	if f.h.gsoType&^gsoECN == gsoUDPL4 {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
		ck = 6
	} else {
		binary.BigEndian.PutUint32(l4[4:], binary.BigEndian.Uint32(pkt[f.l4+4:])+uint32(off))
		if i != f.n-1 {
			l4[13] &^= tcpFIN | tcpPSH
		}
		if i != 0 {
			l4[13] &^= tcpCWR
		}
		ck = 16
	}
	l4[ck], l4[ck+1] = 0, 0
	sum := csum.Checksum(l4, f.pseudo+uint32(l4len))
	if sum == 0 && ck == 6 {
		sum = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(l4[ck:], sum)
	return n
}

// tcpSeg describes a TCP packet the coalescer can merge: IPv4 without
// options and not a fragment, or IPv6 with TCP as its next header; only
// ACK and PSH (and ECE) among its flags; and some payload.
type tcpSeg struct {
	ip, thl, plen int // IP header length (20 or 40), TCP header length, payload
	seq           uint32
	flags         uint8
}

func parseTCP(p []byte) (tcpSeg, bool) {
	var t tcpSeg
	switch {
	case len(p) >= 40 && p[0] == 0x45:
		if p[9] != protoTCP || int(binary.BigEndian.Uint16(p[2:])) != len(p) || binary.BigEndian.Uint16(p[6:])&0x3fff != 0 {
			return t, false
		}
		t.ip = 20
	case len(p) >= 60 && p[0]>>4 == 6:
		if p[6] != protoTCP || int(binary.BigEndian.Uint16(p[4:]))+40 != len(p) {
			return t, false
		}
		t.ip = 40
	default:
		return t, false
	}
	tcp := p[t.ip:]
	t.thl = int(tcp[12]>>4) * 4
	t.plen = len(tcp) - t.thl
	t.flags = tcp[13]
	t.seq = binary.BigEndian.Uint32(tcp[4:])
	ok := t.thl >= 20 && t.plen > 0 && t.flags&(tcpFIN|tcpSYN|tcpRST|tcpURG|tcpCWR) == 0 && t.flags&0x10 != 0
	return t, ok
}

// validTCP checks the TCP checksum of a packet parseTCP took. A merged
// super-packet goes to the kernel with a partial checksum, which the
// kernel does not check again, so a coalescer that is told to check
// (coalescer.check) merges only segments whose checksums it checked.
func validTCP(p []byte, t tcpSeg) bool {
	return csum.Checksum(p[t.ip:], pseudoSum(p, t.ip == 20, protoTCP)+uint32(len(p)-t.ip)) == 0
}

// follows reports whether q can join a run that starts with first and
// whose last packet so far is prev (with tf, tp and tq their
// descriptions): the same flow, addresses, IP header fields, TCP options,
// acknowledgment and window; the next sequence number (and, for IPv4, the
// next identification); prev a full-sized segment without PSH; q no
// larger. These are the conditions under which Linux's own TCP GRO merges
// segments (net/ipv4/tcp_offload.c, net/ipv4/af_inet.c inet_gro_receive,
// net/ipv6/ip6_offload.c).
func follows(first, prev, q []byte, tf, tp, tq tcpSeg) bool {
	if tq.ip != tf.ip || tq.thl != tf.thl || tq.plen > tf.plen || tp.plen != tf.plen || tp.flags&tcpPSH != 0 ||
		tq.flags&^tcpPSH != tf.flags&^tcpPSH || tq.seq != tp.seq+uint32(tp.plen) {
		return false
	}
	if tf.ip == 20 {
		// TOS, flags (DF), TTL, addresses; the next identification.
		if first[1] != q[1] || first[6]&0xe0 != q[6]&0xe0 || first[8] != q[8] || [8]byte(first[12:20]) != [8]byte(q[12:20]) ||
			binary.BigEndian.Uint16(q[4:]) != binary.BigEndian.Uint16(prev[4:])+1 {
			return false
		}
	} else if [4]byte(first[:4]) != [4]byte(q[:4]) || first[7] != q[7] || [32]byte(first[8:40]) != [32]byte(q[8:40]) {
		// Traffic class and flow label, hop limit, addresses.
		return false
	}
	// Ports, acknowledgment number, window; then the options.
	f, g := first[tf.ip:], q[tq.ip:]
	if [4]byte(f[:4]) != [4]byte(g[:4]) || [4]byte(f[8:12]) != [4]byte(g[8:12]) || [2]byte(f[14:16]) != [2]byte(g[14:16]) {
		return false
	}
	return string(f[20:tf.thl]) == string(g[20:tq.thl])
}

// Limits of one coalesced write: the IPv4 total length, and the kernel's
// GSO segment limit.
const (
	maxCoalesced = 65535
	maxGROSegs   = 64
)

// coalescer writes inbound packets to the TUN, merging runs of TCP
// segments into super-packets. It is owned by one goroutine.
//
// The plane's coalescers do not check TCP checksums (check is false):
// every packet they get was just opened by an ESP SA, whose ICV proves
// that it is the packet the peer sealed, bit for bit (every SA package
// esp accepts has integrity: an AEAD or an integrity algorithm, RFC 4303
// section 3.2), so a checksum can only be wrong if it was wrong before
// the peer sealed it, where no check of ours would help. Linux's own
// WireGuard reasons the same way: it marks every packet whose
// Poly1305 tag verified CHECKSUM_UNNECESSARY, at every level of
// encapsulation (drivers/net/wireguard/receive.c,
// wg_packet_consume_data_done). Checking cost about 6% of the receiving
// gateway's CPU time in examples/gateway/bench (perf, AES-GCM-128 TCP).
type coalescer struct {
	vnet   bool
	check  bool // check each TCP checksum before merging the segment
	write  func(pieces [][]byte) error
	pieces [][]byte
	hdr    [vnetHdrLen + 60 + 60]byte
	zero   [vnetHdrLen]byte
}

// writeAll writes pkts (IP packets, in order) and returns how many of them
// the TUN refused.
func (c *coalescer) writeAll(pkts [][]byte) (failed int) {
	// The packet that ended a run starts the next one: its parse is kept
	// (have) rather than done again.
	var next tcpSeg
	var nextOK, have bool
	for i := 0; i < len(pkts); {
		n := 1
		var tf tcpSeg
		if c.vnet {
			if !have {
				next, nextOK = parseTCP(pkts[i])
			}
			tf = next
			n, next, nextOK, have = c.run(pkts[i:], tf, nextOK)
		}
		var err error
		if n == 1 {
			c.pieces = c.pieces[:0]
			if c.vnet {
				c.pieces = append(c.pieces, c.zero[:])
			}
			c.pieces = append(c.pieces, pkts[i])
			err = c.write(c.pieces)
		} else {
			err = c.writeRun(pkts[i:i+n], tf)
		}
		if err != nil {
			failed += n
		}
		i += n
	}
	return failed
}

// run returns how many packets from the start of pkts form one run; tf
// and ok are parseTCP's of pkts[0]. When it parsed the packet after the
// run, pkts[n], it returns that parse too (parsed).
func (c *coalescer) run(pkts [][]byte, tf tcpSeg, ok bool) (n int, tn tcpSeg, okn, parsed bool) {
	first := pkts[0]
	if !ok || len(pkts) < 2 || c.check && !validTCP(first, tf) {
		return 1, tn, false, false
	}
	n, total, tp := 1, len(first), tf
	for n < len(pkts) && n < maxGROSegs {
		q := pkts[n]
		tq, ok := parseTCP(q)
		if !ok || total+tq.plen > maxCoalesced || !follows(first, pkts[n-1], q, tf, tp, tq) || c.check && !validTCP(q, tq) {
			return n, tq, ok, true
		}
		total += tq.plen
		tp = tq
		n++
	}
	return n, tn, false, false
}

// writeRun writes a run of two or more segments as one TCP super-packet:
// the first segment's headers with the total length, the last segment's
// PSH, and the pseudo-header's sum in the checksum field for the kernel to
// complete (NEEDS_CSUM), then every segment's payload, by writev. t is
// parseTCP's of run[0].
func (c *coalescer) writeRun(run [][]byte, t tcpSeg) error {
	first := run[0]
	hl := t.ip + t.thl
	total := hl
	for _, q := range run {
		total += len(q) - hl
	}
	h := vnetHdr{flags: vnetNeedsCsum, gsoType: gsoTCPv4, hdrLen: uint16(hl), gsoSize: uint16(t.plen), csumStart: uint16(t.ip), csumOffset: 16}
	hdr := c.hdr[vnetHdrLen : vnetHdrLen+hl]
	copy(hdr, first[:hl])
	if t.ip == 20 {
		binary.BigEndian.PutUint16(hdr[2:], uint16(total))
		hdr[10], hdr[11] = 0, 0
		binary.BigEndian.PutUint16(hdr[10:], csum.Checksum(hdr[:20], 0))
	} else {
		h.gsoType = gsoTCPv6
		binary.BigEndian.PutUint16(hdr[4:], uint16(total-40))
	}
	h.encode(c.hdr[:])
	tcp := hdr[t.ip:]
	tcp[13] |= run[len(run)-1][t.ip+13] & tcpPSH
	// The pseudo-header's sum, folded and not complemented.
	binary.BigEndian.PutUint16(tcp[16:], ^csum.Finish(uint64(pseudoSum(hdr, t.ip == 20, protoTCP)+uint32(total-t.ip))))
	c.pieces = append(c.pieces[:0], c.hdr[:vnetHdrLen+hl])
	for _, q := range run {
		c.pieces = append(c.pieces, q[hl:])
	}
	return c.write(c.pieces)
}
