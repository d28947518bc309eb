package esp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/ipsecgo/ipsec/internal/meter"
	"github.com/ipsecgo/ipsec/internal/replay"
	"github.com/ipsecgo/ipsec/internal/seqno"
)

// Mode is the IPsec mode of an SA (RFC 4301 section 4.1). Its values are
// the Encapsulation Mode numbers of RFC 2407 section 4.5, as in ah, ike
// and isakmp; zero is not a mode, and Config.Mode must be set.
type Mode uint8

const (
	// Tunnel mode protects a whole inner IP packet inside a new outer
	// header (RFC 4303 section 3.1.2).
	Tunnel Mode = 1
	// Transport mode protects the payload of the IP packet and keeps its
	// header (RFC 4303 section 3.1.1).
	Transport Mode = 2
)

func (m Mode) String() string {
	switch m {
	case Transport:
		return "transport"
	case Tunnel:
		return "tunnel"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// IP protocol numbers ESP deals in.
const (
	protoIPv4     = 4
	protoTCP      = 6
	protoUDP      = 17
	protoIPv6     = 41
	protoESP      = 50
	protoNoNext   = 59 // RFC 4303 section 2.6: dummy packet
	protoICMPv6   = 58
	protoHopByHop = 0
	protoRouting  = 43
	protoFragment = 44
	protoDstOpts  = 60
)

// ReplayOff, as Config.ReplayWindow, turns anti-replay off. RFC 4303 section
// 3.4.3 lets a receiver do so, but it should be a deliberate choice.
const ReplayOff = -1

// Config describes one unidirectional SA. Keys are copied by NewSA.
type Config struct {
	// SPI identifies the SA (RFC 4303 section 2.1). Values 1 to 255 are
	// reserved by IANA and 0 is for local use; both are refused.
	SPI uint32

	Cipher Cipher
	// CipherKey is the encryption key followed by the salt or nonce that
	// the cipher takes from the keying material (see Cipher.KeySizes).
	CipherKey []byte

	Integrity    Integrity // IntegNone for AEAD ciphers
	IntegrityKey []byte

	Mode Mode
	// TunnelSrc and TunnelDst are the outer addresses that Seal writes in
	// tunnel mode; both IPv4 or both IPv6.
	TunnelSrc, TunnelDst netip.Addr

	// ESN turns on 64-bit Extended Sequence Numbers (RFC 4304).
	ESN bool

	// ReplayWindow is the anti-replay window in packets: 0 means the
	// default (1024), ReplayOff turns it off, otherwise 32 to 1048576.
	ReplayWindow int

	// TFCPadTo pads tunnel-mode inner packets with zeros up to this many
	// bytes before encryption (RFC 4303 section 2.4 TFC padding); 0 is off.
	TFCPadTo int

	// EncapSrcPort and EncapDstPort, when non-zero, put ESP inside UDP
	// (RFC 3948), usually both 4500 (or the ports NAT-T discovered).
	EncapSrcPort, EncapDstPort uint16

	// AllowLegacy permits 3DES-CBC and HMAC-MD5-96, for peers of the
	// Windows Server 2003 era. Neither should be used otherwise.
	AllowLegacy bool
}

// Stats are an SA's counters. Packets and Bytes count successfully sealed or
// opened packets and their inner packet bytes; the others count packets
// dropped by Open.
type Stats struct {
	Packets      uint64
	Bytes        uint64
	ReplayDrops  uint64
	AuthFailures uint64
	Malformed    uint64
	Dummy        uint64 // verified dummy packets (next header 59)
}

// SA is one ESP security association: the keys, the outbound sequence
// counter, the anti-replay window and the counters. An SA is used in one
// direction: Seal for outbound, Open for inbound. SA is safe for concurrent
// use.
type SA struct {
	spi      uint32
	spiBytes [4]byte
	mode     Mode
	outer    outerTemplate // tunnel mode
	tfcPadTo int
	sport    uint16
	dport    uint16
	udpLen   int // udpHdr with UDP encapsulation, else 0
	t        *transform
	window   *replay.Window

	// The counters every packet writes, in an object of their own (see
	// hotCounters), so that the fields above, which every packet reads,
	// are not invalidated on the other cores.
	*hotCounters
	_ [64]byte // the drop counters below are written on failures only

	replayDrop atomic.Uint64
	authFail   atomic.Uint64
	malformed  atomic.Uint64
	dummy      atomic.Uint64
}

// hotCounters are the counters every packet writes: the sequence number
// (Seal) and the traffic meter (Seal and Open). They are an object of
// their own of exactly 128 bytes, a size class whose objects are 128-byte
// aligned, so that the sequence number and the meter's pending word lie
// in one cache line that nothing else uses: a packet or a batch sealed on
// one SA from several cores moves that one line, not two. (Inside SA they
// straddled two lines where the SA's size class put them.)
type hotCounters struct {
	seq     seqno.Counter
	traffic meter.Meter // packets sealed or opened, and their bytes
	_       [hotSize - unsafe.Sizeof(seqno.Counter{}) - unsafe.Sizeof(meter.Meter{})]byte
}

// hotSize is the size of hotCounters: a size class of the Go allocator
// that is a power of two, so its objects are aligned to it.
const hotSize = 128

// NewSA validates cfg and builds an SA.
func NewSA(cfg Config) (*SA, error) {
	if cfg.SPI < 256 {
		return nil, fmt.Errorf("esp: SPI %d is reserved (RFC 4303 section 2.1)", cfg.SPI)
	}
	return newSA(cfg)
}

// newSA is NewSA without the SPI range check, which public test vectors
// (draft-mcgrew-gcm-test-01 uses SPI 0) do not respect.
func newSA(cfg Config) (*SA, error) {
	if err := checkSuite(cfg.Cipher, cfg.Integrity, cfg.AllowLegacy); err != nil {
		return nil, err
	}
	switch cfg.Mode {
	case Transport:
		if cfg.TFCPadTo != 0 {
			return nil, errors.New("esp: TFC padding needs tunnel mode, where the inner header gives the length")
		}
	case Tunnel:
		if !cfg.TunnelSrc.IsValid() || !cfg.TunnelDst.IsValid() || cfg.TunnelSrc.Is4() != cfg.TunnelDst.Is4() {
			return nil, errors.New("esp: tunnel endpoints must both be set and of one address family")
		}
	case 0:
		return nil, errors.New("esp: Config.Mode not set (Tunnel or Transport)")
	default:
		return nil, fmt.Errorf("esp: unknown mode %v", cfg.Mode)
	}
	if cfg.TFCPadTo < 0 || cfg.TFCPadTo > 65535 {
		return nil, errors.New("esp: TFCPadTo must be between 0 and 65535")
	}
	if (cfg.EncapSrcPort == 0) != (cfg.EncapDstPort == 0) {
		return nil, errors.New("esp: set both UDP encapsulation ports or neither")
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
		return nil, fmt.Errorf("esp: %w", err)
	}
	t, err := newTransform(cfg.Cipher, cfg.CipherKey, cfg.Integrity, cfg.IntegrityKey, cfg.ESN)
	if err != nil {
		return nil, err
	}
	sa := &SA{
		spi: cfg.SPI, mode: cfg.Mode,
		tfcPadTo: cfg.TFCPadTo, sport: cfg.EncapSrcPort, dport: cfg.EncapDstPort,
		t: t, window: w, hotCounters: new(hotCounters),
	}
	sa.seq.Init(cfg.ESN)
	binary.BigEndian.PutUint32(sa.spiBytes[:], cfg.SPI)
	if sa.sport != 0 {
		sa.udpLen = udpHdr
	}
	if cfg.Mode == Tunnel {
		sa.outer = newOuterTemplate(cfg.TunnelSrc, cfg.TunnelDst)
	}
	return sa, nil
}

// SPI returns the SA's Security Parameters Index.
func (sa *SA) SPI() uint32 { return sa.spi }

// Mode returns the SA's mode.
func (sa *SA) Mode() Mode { return sa.mode }

// Overhead returns how many bytes SealESP adds to a payload of n bytes: ESP
// header, IV, padding, trailer and ICV (not counting TFC padding or the
// outer headers of tunnel mode and UDP encapsulation).
func (sa *SA) Overhead(n int) int {
	return sa.t.overhead(n)
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
		Dummy:        sa.dummy.Load(),
	}
}

// NextSeq returns the sequence number the next sealed packet will carry.
func (sa *SA) NextSeq() uint64 { return sa.seq.Peek() }

// nextSeq takes the next outbound sequence number, refusing to wrap (RFC
// 4303 section 3.3.3).
func (sa *SA) nextSeq() (uint64, error) {
	seq, ok := sa.seq.Next()
	if !ok {
		return 0, ErrSeqExhausted
	}
	return seq, nil
}

// SealESP appends to dst the ESP packet (SPI through ICV, RFC 4303 section
// 2) that protects payload, whose protocol is nextHeader (4 or 41 for a
// tunnelled IP packet, or the transport protocol in transport mode). This is
// what goes into an IP packet with protocol 50 or, under NAT-T, into a UDP
// datagram to port 4500.
func (sa *SA) SealESP(dst, payload []byte, nextHeader uint8) ([]byte, error) {
	seq, err := sa.nextSeq()
	if err != nil {
		return dst, err
	}
	dst, _ = sa.appendESP(dst, 0, payload, 0, nextHeader, seq)
	sa.traffic.Add(len(payload))
	return dst, nil
}

// appendESP appends to dst espOff bytes of room for headers and the ESP
// packet (RFC 4303 section 2) that protects payload, followed by tfc bytes of
// TFC padding (section 2.4), with sequence number seq. It returns dst and
// the appended part, whose header room is left to the caller.
func (sa *SA) appendESP(dst []byte, espOff int, payload []byte, tfc int, nextHeader uint8, seq uint64) ([]byte, []byte) {
	t := sa.t
	n := len(payload) + tfc
	total := espOff + t.overhead(n) + n
	start := len(dst)
	dst = slices.Grow(dst, total)[:start+total]
	out := dst[start:]
	b := out[espOff:]
	binary.BigEndian.PutUint64(b, uint64(sa.spi)<<32|seq&0xffffffff)
	off := hdrLen + t.ivLen
	if len(payload) > 0 && &b[off] == &payload[0] {
		off += len(payload) // the caller laid the payload out in place
	} else {
		off += copy(b[off:], payload)
	}
	clear(b[off : off+tfc])
	off += tfc
	end := len(b) - t.icvLen - trailerLen
	for i := range b[off:end] { // padding 1, 2, 3, ... (section 2.4)
		b[off+i] = byte(i + 1)
	}
	b[end] = byte(end - off)
	b[end+1] = nextHeader
	// The header room is not written yet: the transform may use it as
	// scratch.
	t.seal(out, espOff, seq)
	return dst, out
}

// OpenESP verifies and decrypts an ESP packet (SPI through ICV) in place. It
// returns the payload, which aliases esp, and its next header. Errors wrap
// ErrWrongSPI, ErrMalformed, ErrReplay, ErrAuthFailed or ErrDummy; every
// dropped packet is counted.
func (sa *SA) OpenESP(esp []byte) (payload []byte, nextHeader uint8, err error) {
	payload, nextHeader, err = sa.openESP(esp, 0)
	if err == nil {
		sa.traffic.Add(len(payload))
	}
	return payload, nextHeader, err
}

// openESP opens the ESP packet at pkt[off:] in place; the off bytes in front
// are free scratch for the transform (see transform.seal).
func (sa *SA) openESP(pkt []byte, off int) ([]byte, uint8, error) {
	t := sa.t
	b := pkt[off:]
	minLen := hdrLen + t.ivLen + trailerLen + t.icvLen
	if len(b) < minLen || (len(b)-hdrLen-t.ivLen-t.icvLen)&(t.align-1) != 0 {
		sa.malformed.Add(1)
		return nil, 0, ErrMalformed
	}
	if [4]byte(b[:4]) != sa.spiBytes {
		sa.malformed.Add(1)
		return nil, 0, ErrWrongSPI
	}
	low := binary.BigEndian.Uint32(b[4:8])
	seq := uint64(low)
	if sa.t.esn {
		seq = sa.window.InferSeq(low) // RFC 4303 Appendix A2.2
	}
	// RFC 4303 section 3.4.3: a cheap replay check before the ICV, and the
	// window update only after it verifies.
	if !sa.window.Check(seq) {
		sa.replayDrop.Add(1)
		return nil, 0, ErrReplay
	}
	pt, ok := t.open(pkt, off, seq)
	if !ok {
		sa.authFail.Add(1)
		return nil, 0, ErrAuthFailed
	}
	if !sa.window.Accept(seq) {
		sa.replayDrop.Add(1)
		return nil, 0, ErrReplay
	}
	padLen := int(pt[len(pt)-2])
	nh := pt[len(pt)-1]
	if padLen+trailerLen > len(pt) {
		sa.malformed.Add(1)
		return nil, 0, ErrMalformed
	}
	n := len(pt) - trailerLen - padLen
	// RFC 4303 section 2.4: the receiver should check default padding.
	for i, p := range pt[n : n+padLen] {
		if p != byte(i+1) {
			sa.malformed.Add(1)
			return nil, 0, ErrMalformed
		}
	}
	if nh == protoNoNext {
		sa.dummy.Add(1)
		return nil, nh, ErrDummy
	}
	return pt[:n], nh, nil
}
