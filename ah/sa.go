package ah

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ipsecgo/ipsec/internal/meter"
	"github.com/ipsecgo/ipsec/internal/replay"
	"github.com/ipsecgo/ipsec/internal/seqno"
)

// ReplayOff, as Config.ReplayWindow, turns anti-replay off (RFC 4302 section
// 3.4.3 lets a receiver do so). It has the same value as esp.ReplayOff.
const ReplayOff = -1

// Config describes one unidirectional AH SA. The key is copied by NewSA.
// NewSA only reads a Config, so one may be shared by goroutines that do not
// modify it.
type Config struct {
	// SPI identifies the SA (RFC 4302 section 2.4). Values 0 to 255 are
	// reserved and refused.
	SPI uint32

	Integrity Integrity
	// IntegrityKey is the MAC key; for AES-GMAC it is the AES key followed
	// by the 4-byte salt (RFC 4543 section 6). See Integrity.KeySize.
	IntegrityKey []byte

	Mode Mode
	// TunnelSrc and TunnelDst are the outer addresses that Seal writes in
	// tunnel mode; both IPv4 or both IPv6.
	TunnelSrc, TunnelDst netip.Addr

	// ESN turns on 64-bit Extended Sequence Numbers (RFC 4302 section
	// 2.5.1): only the low 32 bits are sent, the high 32 bits enter the
	// ICV.
	ESN bool

	// ReplayWindow is the anti-replay window in packets: 0 means the
	// default (1024), ReplayOff turns it off, otherwise 32 to 1048576.
	ReplayWindow int

	// AllowLegacy permits HMAC-MD5-96, for peers of the Windows Server
	// 2003 era. It should not be used otherwise.
	AllowLegacy bool
}

// Stats are an SA's counters. Packets and Bytes count successfully sealed or
// opened packets and their inner packet bytes (the packet given to Seal, the
// packet returned by Open); the others count packets dropped by Open. Stats
// is a snapshot value, safe for concurrent use.
type Stats struct {
	Packets      uint64
	Bytes        uint64
	ReplayDrops  uint64
	AuthFailures uint64
	Malformed    uint64
}

// SA is one AH security association: the key, the outbound sequence
// counter, the anti-replay window and the counters. An SA is used in one
// direction: Seal for outbound, Open for inbound. SA is safe for concurrent
// use.
type SA struct {
	spi      uint32
	mode     Mode
	src, dst netip.Addr
	esn      bool
	auth     *authenticator
	window   *replay.Window
	ahLen4   int // AH length in IPv4 (multiple of 4 bytes)
	ahLen6   int // AH length in IPv6 (multiple of 8 bytes)
	workers  sync.Pool

	// The counters every packet writes, on cache lines of their own so
	// that the fields above, which every packet reads, are not invalidated
	// on the other cores.
	_          [64]byte
	seq        seqno.Counter
	ipID       atomic.Uint32
	traffic    meter.Meter // packets signed or verified, and their bytes
	_          [64]byte
	replayDrop atomic.Uint64
	authFail   atomic.Uint64
	malformed  atomic.Uint64
}

// NewSA validates cfg and builds an SA.
func NewSA(cfg Config) (*SA, error) {
	if cfg.SPI < 256 {
		return nil, fmt.Errorf("ah: SPI %d is reserved (RFC 4302 section 2.4)", cfg.SPI)
	}
	p, ok := algParams(cfg.Integrity)
	if !ok {
		return nil, fmt.Errorf("ah: unsupported integrity algorithm %v", cfg.Integrity)
	}
	if p.legacy && !cfg.AllowLegacy {
		return nil, fmt.Errorf("ah: %v is a legacy algorithm; set Config.AllowLegacy to use it", cfg.Integrity)
	}
	switch cfg.Mode {
	case Transport:
	case Tunnel:
		if !cfg.TunnelSrc.IsValid() || !cfg.TunnelDst.IsValid() || cfg.TunnelSrc.Is4() != cfg.TunnelDst.Is4() {
			return nil, errors.New("ah: tunnel endpoints must both be set and of one address family")
		}
	case 0:
		return nil, errors.New("ah: Config.Mode not set (Tunnel or Transport)")
	default:
		return nil, fmt.Errorf("ah: unknown mode %v", cfg.Mode)
	}
	size := cfg.ReplayWindow
	switch size {
	case 0:
		size = replay.DefaultSize
	case ReplayOff:
		size = 0
	}
	w, err := replay.New(size)
	if err != nil {
		return nil, fmt.Errorf("ah: %w", err)
	}
	a, err := newAuthenticator(cfg.Integrity, cfg.IntegrityKey)
	if err != nil {
		return nil, err
	}
	// RFC 4302 section 2.6: AH is a multiple of 32 bits in IPv4 and of 64
	// bits in IPv6, padding the Authentication Data field (RFC 4543
	// errata 3643 for GMAC).
	n := ahFixed + p.ivLen + p.icvLen
	sa := &SA{
		spi: cfg.SPI, mode: cfg.Mode, src: cfg.TunnelSrc.Unmap(), dst: cfg.TunnelDst.Unmap(),
		esn: cfg.ESN, auth: a, window: w,
		ahLen4: (n + 3) &^ 3, ahLen6: (n + 7) &^ 7,
	}
	sa.seq.Init(cfg.ESN)
	sa.workers.New = func() any { return a.newWorker() }
	return sa, nil
}

// SPI returns the SA's Security Parameters Index.
func (sa *SA) SPI() uint32 { return sa.spi }

// Mode returns the SA's mode.
func (sa *SA) Mode() Mode { return sa.mode }

// Integrity returns the SA's integrity algorithm.
func (sa *SA) Integrity() Integrity { return sa.auth.alg }

// Overhead returns how many bytes Seal adds to an IP packet of the given
// version: the AH header in transport mode, the outer header and AH in
// tunnel mode (where the outer version is the tunnel endpoints').
func (sa *SA) Overhead(ipv6 bool) int {
	if sa.mode == Tunnel {
		if sa.src.Is6() {
			return ipv6Header + sa.ahLen6
		}
		return ipv4MinHeader + sa.ahLen4
	}
	return sa.ahLen(ipv6)
}

// outer6 reports whether a sealed packet whose inner version is v6 is IPv6.
func (sa *SA) outer6(v6 bool) bool {
	if sa.mode == Tunnel {
		return sa.src.Is6()
	}
	return v6
}

// Stats returns a snapshot of the SA's counters.
func (sa *SA) Stats() Stats {
	packets, bytes := sa.traffic.Load()
	return Stats{
		Packets:      packets,
		Bytes:        bytes,
		ReplayDrops:  sa.replayDrop.Load(),
		AuthFailures: sa.authFail.Load(),
		Malformed:    sa.malformed.Load(),
	}
}

// NextSeq returns the sequence number the next sealed packet will carry.
func (sa *SA) NextSeq() uint64 { return sa.seq.Peek() }

// nextSeq takes the next outbound sequence number, refusing to wrap (RFC
// 4302 section 3.3.2).
func (sa *SA) nextSeq() (uint64, error) {
	seq, ok := sa.seq.Next()
	if !ok {
		return 0, ErrSeqExhausted
	}
	return seq, nil
}

func (sa *SA) ahLen(v6 bool) int {
	if v6 {
		return sa.ahLen6
	}
	return sa.ahLen4
}

// Seal appends to dst the AH-protected form of the IP packet ipPacket
// (RFC 4302 section 3.3). In transport mode AH is inserted after the IP
// header (and, in IPv6, after the extension headers that precede it); in
// tunnel mode the packet is put behind a new outer header and AH. dst and
// ipPacket must not overlap. Seal does not allocate when dst has room.
func (sa *SA) Seal(dst, ipPacket []byte) ([]byte, error) {
	var info ipInfo
	var err error
	if sa.mode == Tunnel {
		info, err = parseInner(ipPacket)
	} else {
		info, err = parseIP(ipPacket, false)
	}
	if err != nil {
		return dst, err
	}
	inner := ipPacket[:info.end]
	if n := len(inner) + sa.Overhead(info.v6); n > 0xffff+ipv6Header || (n > 0xffff && !sa.outer6(info.v6)) {
		return dst, malformed("packet too long for AH")
	}
	seq, err := sa.nextSeq()
	if err != nil {
		return dst, err
	}
	start := len(dst)
	var out []byte
	if sa.mode == Tunnel {
		dst, out, info = sa.tunnelHeader(dst, inner, &info)
	} else {
		ahLen := sa.ahLen(info.v6)
		dst = slices.Grow(dst, len(inner)+ahLen)[:start+len(inner)+ahLen]
		out = dst[start:]
		copy(out, inner[:info.off])
		copy(out[info.off+ahLen:], inner[info.off:])
		if info.v6 {
			binary.BigEndian.PutUint16(out[4:6], uint16(len(out)-ipv6Header))
		} else {
			binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
		}
	}
	ahLen := sa.ahLen(info.v6)
	h := out[info.off : info.off+ahLen]
	h[0] = info.proto
	h[1] = byte(ahLen/4 - 2) // RFC 4302 section 2.2
	h[2], h[3] = 0, 0
	binary.BigEndian.PutUint32(h[4:8], sa.spi)
	binary.BigEndian.PutUint32(h[8:12], uint32(seq))
	clear(h[ahFixed:])
	if sa.auth.p.ivLen > 0 {
		// RFC 4543 section 3.1: the IV must be unique for the key; the
		// 64-bit sequence number is.
		binary.BigEndian.PutUint64(h[ahFixed:], seq)
	}
	out[info.nhOff] = protoAH

	w := sa.workers.Get().(*worker)
	mac := sa.icv(w, out, &info, ahLen, seq)
	copy(h[ahFixed+sa.auth.p.ivLen:], mac[:sa.auth.p.icvLen])
	sa.workers.Put(w)
	if !info.v6 {
		setIPv4Checksum(out[:info.off])
	}
	sa.traffic.Add(len(inner))
	return dst, nil
}

// tunnelHeader appends the outer IP header and room for AH and the inner
// packet, copies the inner packet and returns the layout of the new packet
// (RFC 4302 section 3.1.2, RFC 4301 section 5.1.2).
func (sa *SA) tunnelHeader(dst, inner []byte, in *ipInfo) ([]byte, []byte, ipInfo) {
	start := len(dst)
	// RFC 4301 5.1.2.1: DSCP is copied from the inner header; ECN is
	// copied as in RFC 6040's normal mode; DF is copied from an inner IPv4
	// header (as esp does).
	var tos, flags byte
	proto := uint8(protoIPv4)
	if in.v6 {
		tos = inner[0]<<4 | inner[1]>>4
		proto = protoIPv6
	} else {
		tos = inner[1]
		flags = inner[6] & 0x40
	}
	if sa.src.Is4() {
		ahLen := sa.ahLen4
		n := ipv4MinHeader + ahLen + len(inner)
		dst = slices.Grow(dst, n)[:start+n]
		out := dst[start:]
		o := out[:ipv4MinHeader]
		o[0] = 0x45
		o[1] = tos
		binary.BigEndian.PutUint16(o[2:4], uint16(n))
		binary.BigEndian.PutUint16(o[4:6], uint16(sa.ipID.Add(1)))
		o[6], o[7] = flags, 0
		o[8] = tunnelHopLimit
		o[9] = protoAH
		s, d := sa.src.As4(), sa.dst.As4()
		copy(o[12:16], s[:])
		copy(o[16:20], d[:])
		copy(out[ipv4MinHeader+ahLen:], inner)
		return dst, out, ipInfo{end: n, nhOff: 9, off: ipv4MinHeader, proto: proto}
	}
	ahLen := sa.ahLen6
	n := ipv6Header + ahLen + len(inner)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	o := out[:ipv6Header]
	binary.BigEndian.PutUint32(o[0:4], 6<<28|uint32(tos)<<20)
	binary.BigEndian.PutUint16(o[4:6], uint16(n-ipv6Header))
	o[6] = protoAH
	o[7] = tunnelHopLimit
	s, d := sa.src.As16(), sa.dst.As16()
	copy(o[8:24], s[:])
	copy(o[24:40], d[:])
	copy(out[ipv6Header+ahLen:], inner)
	return dst, out, ipInfo{v6: true, end: n, nhOff: 6, off: ipv6Header, proto: proto}
}

// icv computes the full MAC over pkt as RFC 4302 section 3.3.3 defines it:
// mutable IP fields zeroed, the AH Authentication Data zeroed (except the
// GMAC IV, an input of the algorithm, RFC 4543 section 4), the payload, and
// for ESN the high-order sequence bits appended. pkt is modified during the
// computation and restored before icv returns; the result aliases w.
func (sa *SA) icv(w *worker, pkt []byte, info *ipInfo, ahLen int, seq uint64) []byte {
	hdrEnd := info.off + ahLen
	w.save = append(w.save[:0], pkt[:hdrEnd]...)
	zeroMutable(pkt, info)
	clear(pkt[info.off+ahFixed+sa.auth.p.ivLen : hdrEnd])
	var tail []byte
	if sa.esn {
		binary.BigEndian.PutUint32(w.seqHi[:], uint32(seq>>32))
		tail = w.seqHi[:]
	}
	mac := sa.auth.compute(w, pkt, tail, pkt[info.off+ahFixed:info.off+ahFixed+sa.auth.p.ivLen])
	copy(pkt, w.save)
	return mac
}

// Open verifies the AH packet in place and returns the IP packet it
// protects, aliasing packet: in transport mode the packet with AH removed,
// in tunnel mode the inner packet (RFC 4302 section 3.4). The ICV is checked
// before the replay window is updated (RFC 4302 section 3.4.3). Open does
// not allocate.
func (sa *SA) Open(packet []byte) ([]byte, error) {
	out, err := sa.open(packet)
	if err != nil {
		switch {
		case errors.Is(err, ErrReplay):
			sa.replayDrop.Add(1)
		case errors.Is(err, ErrAuthFailed):
			sa.authFail.Add(1)
		default:
			sa.malformed.Add(1)
		}
		return nil, err
	}
	sa.traffic.Add(len(out))
	return out, nil
}

func (sa *SA) open(packet []byte) ([]byte, error) {
	info, err := parseIP(packet, true)
	if err != nil {
		return nil, err
	}
	pkt := packet[:info.end]
	off := info.off
	if off+ahFixed > len(pkt) {
		return nil, malformed("short AH header")
	}
	h := pkt[off:]
	ahLen := (int(h[1]) + 2) * 4
	// Accept the length with either alignment: some senders pad to 64 bits
	// in IPv4 as well.
	if ahLen != sa.ahLen4 && ahLen != sa.ahLen6 {
		return nil, malformed("AH length does not match the SA's algorithm")
	}
	if off+ahLen > len(pkt) {
		return nil, malformed("AH header overruns the packet")
	}
	if binary.BigEndian.Uint32(h[4:8]) != sa.spi {
		return nil, ErrWrongSPI
	}
	next := h[0]
	if sa.mode == Tunnel && next != protoIPv4 && next != protoIPv6 {
		return nil, malformed("tunnel-mode AH does not carry an IP packet")
	}
	low := binary.BigEndian.Uint32(h[8:12])
	seq := uint64(low)
	if sa.esn {
		seq = sa.window.InferSeq(low) // RFC 4303 Appendix A, as RFC 4302 2.5.1 asks
	}
	if !sa.window.Check(seq) {
		return nil, ErrReplay
	}
	w := sa.workers.Get().(*worker)
	mac := sa.icv(w, pkt, &info, ahLen, seq)
	icvOff := off + ahFixed + sa.auth.p.ivLen
	ok := subtle.ConstantTimeCompare(mac[:sa.auth.p.icvLen], pkt[icvOff:icvOff+sa.auth.p.icvLen]) == 1
	sa.workers.Put(w)
	if !ok {
		return nil, ErrAuthFailed
	}
	if !sa.window.Accept(seq) {
		return nil, ErrReplay
	}
	if sa.mode == Tunnel {
		inner := pkt[off+ahLen:]
		if len(inner) == 0 || (next == protoIPv4) != (inner[0]>>4 == 4) {
			return nil, malformed("inner packet version does not match AH next header")
		}
		return inner, nil
	}
	// Transport: remove AH by moving the headers before it forward.
	pkt[info.nhOff] = next
	copy(pkt[ahLen:], pkt[:off])
	out := pkt[ahLen:]
	if info.v6 {
		binary.BigEndian.PutUint16(out[4:6], uint16(len(out)-ipv6Header))
	} else {
		binary.BigEndian.PutUint16(out[2:4], uint16(len(out)))
		setIPv4Checksum(out[:off])
	}
	return out, nil
}
