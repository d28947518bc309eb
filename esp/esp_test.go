package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/ipsecgo/ipsec/internal/csum"
	"github.com/ipsecgo/ipsec/internal/ippkt"
)

// suites lists every supported cipher/integrity pairing with its key sizes.
var suites = []struct {
	name   string
	cipher Cipher
	ckey   int
	integ  Integrity
	legacy bool
}{
	{"aes128gcm16", CipherAESGCM16, 20, IntegNone, false},
	{"aes192gcm16", CipherAESGCM16, 28, IntegNone, false},
	{"aes256gcm16", CipherAESGCM16, 36, IntegNone, false},
	{"aes128gcm12", CipherAESGCM12, 20, IntegNone, false},
	{"aes256gcm8", CipherAESGCM8, 36, IntegNone, false},
	{"aes128gcm8", CipherAESGCM8, 20, IntegNone, false},
	{"aes128gmac", CipherNullAuthAESGMAC, 20, IntegNone, false},
	{"aes256gmac", CipherNullAuthAESGMAC, 36, IntegNone, false},
	{"chacha20poly1305", CipherChaCha20Poly1305, 36, IntegNone, false},
	{"aes128-sha1", CipherAESCBC, 16, IntegHMACSHA196, false},
	{"aes128-sha256", CipherAESCBC, 16, IntegHMACSHA256128, false},
	{"aes192-sha384", CipherAESCBC, 24, IntegHMACSHA384192, false},
	{"aes256-sha512", CipherAESCBC, 32, IntegHMACSHA512256, false},
	{"aes128ctr-sha256", CipherAESCTR, 20, IntegHMACSHA256128, false},
	{"aes256ctr-sha1", CipherAESCTR, 36, IntegHMACSHA196, false},
	{"null-sha256", CipherNull, 0, IntegHMACSHA256128, false},
	{"3des-sha1", Cipher3DES, 24, IntegHMACSHA196, true},
	{"aes128-md5", CipherAESCBC, 16, IntegHMACMD596, true},
}

func key(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

var (
	v4a, v4b = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	v6a, v6b = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
)

// pair returns an outbound and an inbound SA with the same parameters.
func pair(t testing.TB, cfg Config) (*SA, *SA) {
	t.Helper()
	out, err := NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out, in
}

func suiteConfig(i int) Config {
	s := suites[i]
	return Config{Mode: Transport, SPI: 0x1000 + uint32(i), Cipher: s.cipher, CipherKey: key(s.ckey, 1),
		Integrity: s.integ, IntegrityKey: key(s.integ.KeySize(), 9), AllowLegacy: s.legacy}
}

// ipv4Packet builds an IPv4 packet with a UDP payload of n bytes.
func ipv4Packet(src, dst netip.Addr, n int) []byte {
	p := make([]byte, 20+8+n)
	p[0], p[1] = 0x45, 0x2e // DSCP 11, ECN 2
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], 0x1234)
	p[6] = 0x40 // DF
	p[8], p[9] = 61, protoUDP
	copy(p[12:], src.AsSlice())
	copy(p[16:], dst.AsSlice())
	binary.BigEndian.PutUint16(p[10:], csum.Checksum(p[:20], 0))
	u := p[20:]
	binary.BigEndian.PutUint16(u[0:], 1234)
	binary.BigEndian.PutUint16(u[2:], 5678)
	binary.BigEndian.PutUint16(u[4:], uint16(8+n))
	for i := range n {
		u[8+i] = byte(i)
	}
	binary.BigEndian.PutUint16(u[6:], csum.Checksum(u, pseudoHeaderSum(src, dst, protoUDP, len(u))))
	return p
}

// ipv6Packet builds an IPv6 packet with the given extension headers (each a
// (type, length-in-8-byte-units-minus-one) pair) and a UDP payload.
func ipv6Packet(src, dst netip.Addr, n int, exts ...uint8) []byte {
	p := make([]byte, 40)
	binary.BigEndian.PutUint32(p, 6<<28|0x2e<<20|0x12345)
	p[7] = 61
	copy(p[8:], src.AsSlice())
	copy(p[24:], dst.AsSlice())
	nhOff := 6
	for _, e := range exts {
		p[nhOff] = e
		nhOff = len(p)
		if e == protoFragment {
			p = append(p, 0, 0, 0, 0, 0, 0, 0, 1)
		} else {
			p = append(p, 0, 0, 1, 4, 0, 0, 0, 0) // PadN option
		}
	}
	p[nhOff] = protoUDP
	u := make([]byte, 8+n)
	binary.BigEndian.PutUint16(u[0:], 1234)
	binary.BigEndian.PutUint16(u[2:], 5678)
	binary.BigEndian.PutUint16(u[4:], uint16(8+n))
	for i := range n {
		u[8+i] = byte(i)
	}
	binary.BigEndian.PutUint16(u[6:], csum.Checksum(u, pseudoHeaderSum(src, dst, protoUDP, len(u))))
	p = append(p, u...)
	binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
	return p
}

// TestRoundTrip seals and opens packets through every suite, both modes,
// IPv4 and IPv6 inner and outer, with and without ESN and UDP encapsulation,
// and checks that what comes out is exactly what went in.
func TestRoundTrip(t *testing.T) {
	type fam struct {
		name     string
		inner    func(n int) []byte
		src, dst netip.Addr
	}
	fams := []fam{
		{"v4", func(n int) []byte { return ipv4Packet(v4a, v4b, n) }, v4a, v4b},
		{"v6", func(n int) []byte { return ipv6Packet(v6a, v6b, n) }, v6a, v6b},
		{"v6ext", func(n int) []byte {
			return ipv6Packet(v6a, v6b, n, protoHopByHop, protoDstOpts, protoRouting, protoDstOpts)
		}, v6a, v6b},
	}
	for i, s := range suites {
		for _, mode := range []Mode{Transport, Tunnel} {
			for _, f := range fams {
				for _, outer := range []fam{fams[0], fams[1]} {
					if mode == Transport && outer.name != f.name[:2] {
						continue
					}
					for _, esn := range []bool{false, true} {
						for _, encap := range []bool{false, true} {
							name := fmt.Sprintf("%s/%v/%s-in-%s/esn=%v/udp=%v", s.name, mode, f.name, outer.name, esn, encap)
							t.Run(name, func(t *testing.T) {
								cfg := suiteConfig(i)
								cfg.Mode, cfg.ESN = mode, esn
								if mode == Tunnel {
									cfg.TunnelSrc, cfg.TunnelDst = outer.src, outer.dst
								}
								if encap {
									cfg.EncapSrcPort, cfg.EncapDstPort = 4500, 4500
								}
								roundTrip(t, cfg, f.inner)
							})
						}
					}
				}
			}
		}
	}
}

func roundTrip(t *testing.T, cfg Config, mk func(int) []byte) {
	out, in := pair(t, cfg)
	if cfg.ESN {
		// Start just below 2^32 so the high-order bits change mid-test.
		out.seq.SetLast(math.MaxUint32 - 3)
		in.window.Accept(math.MaxUint32 - 3)
	}
	var buf []byte
	for n := 0; n < 40; n += 7 {
		pkt := mk(n)
		var err error
		buf, err = out.Seal(buf[:0], pkt)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseIP(buf, false); !ok {
			t.Fatalf("sealed packet does not parse as IP: %x", buf)
		}
		if cfg.Mode == Tunnel {
			if (buf[0]>>4 == 4) != cfg.TunnelDst.Is4() {
				t.Fatalf("outer header family wrong")
			}
			if tosOf(buf) != tosOf(pkt) {
				t.Fatalf("DSCP/ECN not copied: outer %#x inner %#x", tosOf(buf), tosOf(pkt))
			}
		}
		if buf[0]>>4 == 4 && csum.Checksum(buf[:int(buf[0]&0xf)*4], 0) != 0 {
			t.Fatalf("bad IPv4 header checksum")
		}
		got, err := in.Open(bytes.Clone(buf))
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if !bytes.Equal(got, pkt) {
			t.Fatalf("size %d:\n got %x\nwant %x", n, got, pkt)
		}
		if _, err := in.Open(bytes.Clone(buf)); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
	}
	if st := in.Stats(); st.Packets != 6 || st.ReplayDrops != 6 || st.AuthFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func tosOf(p []byte) uint8 {
	if p[0]>>4 == 4 {
		return p[1]
	}
	return uint8(binary.BigEndian.Uint16(p) >> 4)
}

// TestGCM8IsTruncatedGCM16 checks that the 8-byte ICV is the leftmost 8
// bytes of the 16-byte GCM tag (RFC 4106 section 6), on the same key, salt,
// sequence number and payload.
func TestGCM8IsTruncatedGCM16(t *testing.T) {
	k := key(20, 3)
	a, err := NewSA(Config{Mode: Transport, SPI: 999, Cipher: CipherAESGCM8, CipherKey: k})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSA(Config{Mode: Transport, SPI: 999, Cipher: CipherAESGCM16, CipherKey: k})
	if err != nil {
		t.Fatal(err)
	}
	p := ipv4Packet(v4a, v4b, 33)
	x, _ := a.SealESP(nil, p, 4)
	y, _ := b.SealESP(nil, p, 4)
	if !bytes.Equal(x, y[:len(y)-8]) {
		t.Fatalf("gcm8 %x\ngcm16 %x", x, y)
	}
}

// TestTransportIPv6Placement checks where ESP goes among IPv6 extension
// headers (RFC 4303 section 3.1.1): after hop-by-hop and routing, and after
// a destination options header only when a routing header follows it.
func TestTransportIPv6Placement(t *testing.T) {
	cfg := suiteConfig(0)
	out, _ := pair(t, cfg)
	pkt := ipv6Packet(v6a, v6b, 10, protoHopByHop, protoDstOpts, protoRouting, protoDstOpts)
	sealed, err := out.Seal(nil, pkt)
	if err != nil {
		t.Fatal(err)
	}
	// HBH, DstOpts, Routing stay in front (3 x 8 bytes); ESP follows the
	// routing header, the final DstOpts is encrypted.
	if sealed[40+16] != protoESP {
		t.Fatalf("routing header's next header is %d, want ESP", sealed[40+16])
	}
	if got := binary.BigEndian.Uint32(sealed[40+24:]); got != cfg.SPI {
		t.Fatalf("SPI at %d is %#x", 40+24, got)
	}
}

// TestOpenRejects covers the packets Open must drop, each with its error and
// its counter.
func TestOpenRejects(t *testing.T) {
	cfg := suiteConfig(1) // aes192gcm16
	cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst = Tunnel, v4a, v4b
	cbc := suiteConfig(10) // aes128-sha256
	cbc.Mode, cbc.TunnelSrc, cbc.TunnelDst = Tunnel, v4a, v4b
	inner := ipv4Packet(v4b, v4a, 50)
	tests := []struct {
		name    string
		cfg     Config
		mangle  func(out *SA, sealed []byte) []byte
		want    error
		counter func(Stats) uint64
	}{
		{"tampered ICV", cfg, func(_ *SA, p []byte) []byte { p[len(p)-1] ^= 1; return p }, ErrAuthFailed, func(s Stats) uint64 { return s.AuthFailures }},
		{"tampered ciphertext", cbc, func(_ *SA, p []byte) []byte { p[40] ^= 0x10; return p }, ErrAuthFailed, func(s Stats) uint64 { return s.AuthFailures }},
		{"tampered seq", cbc, func(_ *SA, p []byte) []byte { p[27] ^= 2; return p }, ErrAuthFailed, func(s Stats) uint64 { return s.AuthFailures }},
		{"wrong SPI", cfg, func(_ *SA, p []byte) []byte { p[23] ^= 1; return p }, ErrWrongSPI, func(s Stats) uint64 { return s.Malformed }},
		{"truncated", cfg, func(_ *SA, p []byte) []byte { return p[:20+8+8+1] }, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"truncated to header", cfg, func(_ *SA, p []byte) []byte { return p[:10] }, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"cbc not block aligned", cbc, func(_ *SA, p []byte) []byte { return p[:len(p)-1] }, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"bad padding", cfg, func(out *SA, _ []byte) []byte {
			return craft(out, v4a, v4b, func(pt []byte) { pt[len(pt)-3] ^= 0x40 })
		}, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"pad length too long", cfg, func(out *SA, _ []byte) []byte {
			return craft(out, v4a, v4b, func(pt []byte) { pt[len(pt)-2] = 250 })
		}, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"bad next header", cfg, func(out *SA, _ []byte) []byte {
			return craft(out, v4a, v4b, func(pt []byte) { pt[len(pt)-1] = protoTCP })
		}, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"inner IPv6 labelled IPv4", cfg, func(out *SA, _ []byte) []byte {
			return craft(out, v4a, v4b, func(pt []byte) { pt[0] = 0x60 })
		}, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"dummy", cfg, func(out *SA, _ []byte) []byte {
			return craft(out, v4a, v4b, func(pt []byte) { pt[len(pt)-1] = protoNoNext })
		}, ErrDummy, func(s Stats) uint64 { return s.Dummy }},
		{"not ESP", cfg, func(_ *SA, p []byte) []byte { p[9] = protoTCP; fixV4(p); return p }, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
		{"bad outer length", cfg, func(_ *SA, p []byte) []byte { p[2] = 0xff; return p }, ErrMalformed, func(s Stats) uint64 { return s.Malformed }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, in := pair(t, tt.cfg)
			sealed, err := out.Seal(nil, inner)
			if err != nil {
				t.Fatal(err)
			}
			bad := tt.mangle(out, sealed)
			if _, err := in.Open(bad); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if n := tt.counter(in.Stats()); n != 1 {
				t.Fatalf("counter is %d, want 1 (%+v)", n, in.Stats())
			}
			if st := in.Stats(); st.Packets != 0 {
				t.Fatalf("dropped packet counted as delivered: %+v", st)
			}
		})
	}
}

// craft seals a tunnel-mode packet whose plaintext (payload and trailer) is
// changed by mangle before encryption, so the ICV is valid over bad
// contents.
func craft(sa *SA, src, dst netip.Addr, mangle func(pt []byte)) []byte {
	inner := ipv4Packet(v4b, v4a, 51)
	seq, _ := sa.nextSeq()
	b := make([]byte, sa.t.overhead(len(inner))+len(inner))
	binary.BigEndian.PutUint32(b, sa.spi)
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
	pt := b[hdrLen+sa.t.ivLen : len(b)-sa.t.icvLen]
	n := copy(pt, inner)
	for i := range pt[n : len(pt)-2] {
		pt[n+i] = byte(i + 1)
	}
	pt[len(pt)-2], pt[len(pt)-1] = byte(len(pt)-2-n), protoIPv4
	mangle(pt)
	sa.t.seal(b, 0, seq)
	outer := ipv4Packet(src, dst, 0)[:20]
	outer[9] = protoESP
	p := append(outer, b...)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	fixV4(p)
	return p
}

func fixV4(p []byte) {
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], csum.Checksum(p[:20], 0))
}

// TestAuthBeforeReplayUpdate checks that a forged packet with a fresh
// sequence number does not move the window (RFC 4303 section 3.4.3): the
// genuine packet with that number still opens afterwards.
func TestAuthBeforeReplayUpdate(t *testing.T) {
	cfg := suiteConfig(0)
	cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst = Tunnel, v4a, v4b
	out, in := pair(t, cfg)
	sealed, _ := out.Seal(nil, ipv4Packet(v4a, v4b, 10))
	forged := bytes.Clone(sealed)
	forged[len(forged)-2] ^= 0xff
	if _, err := in.Open(forged); !errors.Is(err, ErrAuthFailed) {
		t.Fatal(err)
	}
	if _, err := in.Open(sealed); err != nil {
		t.Fatalf("genuine packet rejected after a forgery: %v", err)
	}
}

// TestSeqExhausted: a 32-bit SA refuses to send packet 2^32 (RFC 4303
// section 3.3.3) and keeps refusing; nothing wraps.
func TestSeqExhausted(t *testing.T) {
	cfg := suiteConfig(0)
	out, _ := pair(t, cfg)
	out.seq.SetLast(math.MaxUint32 - 1)
	p := ipv4Packet(v4a, v4b, 1)
	if _, err := out.Seal(nil, p); err != nil {
		t.Fatalf("last sequence number refused: %v", err)
	}
	for range 3 {
		if _, err := out.Seal(nil, p); !errors.Is(err, ErrSeqExhausted) {
			t.Fatalf("got %v, want ErrSeqExhausted", err)
		}
		if _, err := out.SealESP(nil, p, 4); !errors.Is(err, ErrSeqExhausted) {
			t.Fatalf("got %v, want ErrSeqExhausted", err)
		}
	}
	// The counter was moved forward by hand: one packet was sealed.
	if st := out.Stats(); st.Packets != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTFCPadding: tunnel-mode TFC padding makes every packet the same size,
// and the receiver strips it using the inner header.
func TestTFCPadding(t *testing.T) {
	cfg := suiteConfig(8)
	cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst, cfg.TFCPadTo = Tunnel, v4a, v4b, 300
	out, in := pair(t, cfg)
	var sizes []int
	for _, n := range []int{0, 17, 100, 271} {
		pkt := ipv4Packet(v4a, v4b, n)
		sealed, err := out.Seal(nil, pkt)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(sealed))
		got, err := in.Open(sealed)
		if err != nil || !bytes.Equal(got, pkt) {
			t.Fatalf("size %d: %v", n, err)
		}
	}
	for _, s := range sizes {
		if s != sizes[0] {
			t.Fatalf("sizes differ: %v", sizes)
		}
	}
	if _, err := NewSA(Config{Mode: Transport, SPI: 300, Cipher: CipherAESGCM16, CipherKey: key(20, 0), TFCPadTo: 100}); err == nil {
		t.Fatal("TFC padding accepted in transport mode")
	}
}

// TestTransportFragmentRefused: transport mode never protects fragments.
func TestTransportFragmentRefused(t *testing.T) {
	out, _ := pair(t, suiteConfig(0))
	p := ipv4Packet(v4a, v4b, 10)
	p[6] |= 0x20 // MF
	fixV4(p)
	if _, err := out.Seal(nil, p); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	if _, err := out.Seal(nil, ipv6Packet(v6a, v6b, 10, protoFragment)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}

// TestTransportNATChecksum: with UDP encapsulation in transport mode, the
// receiver recomputes the inner UDP checksum over the addresses the packet
// arrives with (RFC 3948 section 3.1.2), as a NAT rewrote the outer ones.
func TestTransportNATChecksum(t *testing.T) {
	cfg := suiteConfig(0)
	cfg.EncapSrcPort, cfg.EncapDstPort = 4500, 4500
	out, in := pair(t, cfg)
	sealed, _ := out.Seal(nil, ipv4Packet(v4a, v4b, 20))
	natted := netip.MustParseAddr("198.51.100.7")
	copy(sealed[12:16], natted.AsSlice()) // the NAT rewrites the source
	fixV4(sealed)
	got, err := in.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	u := got[20:]
	if csum.Checksum(u, pseudoHeaderSum(natted, v4b, protoUDP, len(u))) != 0 {
		t.Fatalf("inner UDP checksum not fixed")
	}
}

func TestNewSARejects(t *testing.T) {
	good := Config{Mode: Transport, SPI: 0x1234, Cipher: CipherAESGCM16, CipherKey: key(20, 0)}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"reserved SPI", func(c *Config) { c.SPI = 255 }},
		{"short key", func(c *Config) { c.CipherKey = key(16, 0) }},
		{"AEAD with integrity", func(c *Config) { c.Integrity, c.IntegrityKey = IntegHMACSHA196, key(20, 0) }},
		{"CBC without integrity", func(c *Config) { c.Cipher, c.CipherKey = CipherAESCBC, key(16, 0) }},
		{"legacy not allowed", func(c *Config) {
			c.Cipher, c.CipherKey, c.Integrity, c.IntegrityKey = Cipher3DES, key(24, 0), IntegHMACSHA196, key(20, 0)
		}},
		{"md5 not allowed", func(c *Config) {
			c.Cipher, c.CipherKey, c.Integrity, c.IntegrityKey = CipherAESCBC, key(16, 0), IntegHMACMD596, key(16, 0)
		}},
		{"wrong integrity key", func(c *Config) {
			c.Cipher, c.CipherKey, c.Integrity, c.IntegrityKey = CipherAESCBC, key(16, 0), IntegHMACSHA256128, key(20, 0)
		}},
		{"unknown cipher", func(c *Config) { c.Cipher = 99 }},
		{"tunnel without endpoints", func(c *Config) { c.Mode = Tunnel }},
		{"tunnel mixed families", func(c *Config) { c.Mode, c.TunnelSrc, c.TunnelDst = Tunnel, v4a, v6b }},
		{"window too small", func(c *Config) { c.ReplayWindow = 16 }},
		{"one encap port", func(c *Config) { c.EncapSrcPort = 4500 }},
	}
	for _, tt := range tests {
		c := good
		tt.mod(&c)
		if _, err := NewSA(c); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if _, err := NewSA(good); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSealOpen: one SA sealing from many goroutines hands out
// each sequence number once; one SA opening them concurrently delivers each
// packet exactly once, including duplicates offered twice.
func TestConcurrentSealOpen(t *testing.T) {
	cfg := suiteConfig(0)
	cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst, cfg.ReplayWindow = Tunnel, v4a, v4b, 65536
	out, in := pair(t, cfg)
	const workers, each = 8, 500
	sealed := make([][]byte, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := ipv4Packet(v4a, v4b, 64)
			for i := range each {
				b, err := out.Seal(nil, p)
				if err != nil {
					t.Error(err)
					return
				}
				sealed[w*each+i] = b
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, b := range sealed {
		s := binary.BigEndian.Uint32(b[24:])
		if seen[s] {
			t.Fatalf("sequence number %d used twice", s)
		}
		seen[s] = true
	}
	var mu sync.Mutex
	delivered := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w % 2; i < len(sealed); i += 2 { // every packet offered by 4 workers
				if _, err := in.Open(bytes.Clone(sealed[i])); err == nil {
					mu.Lock()
					delivered++
					mu.Unlock()
				} else if !errors.Is(err, ErrReplay) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if delivered != len(sealed) {
		t.Fatalf("delivered %d of %d", delivered, len(sealed))
	}
	// Every packet was offered four times: one delivery, three replays.
	if st := in.Stats(); st.Packets != uint64(len(sealed)) || st.ReplayDrops != uint64(3*len(sealed)) || st.Bytes != uint64(len(sealed)*(64+28)) {
		t.Fatalf("inbound stats %+v", st)
	}
	if st := out.Stats(); st.Packets != uint64(len(sealed)) || st.Bytes != uint64(len(sealed)*(64+28)) {
		t.Fatalf("outbound stats %+v", st)
	}
}

func TestClassify(t *testing.T) {
	ike := make([]byte, 4+28)
	ike[4] = 1
	tests := []struct {
		b    []byte
		want Kind
	}{
		{[]byte{0xff}, KindKeepalive},
		{[]byte{0xfe}, KindInvalid},
		{nil, KindInvalid},
		{[]byte{0, 0, 0, 0}, KindInvalid},
		{ike, KindIKE},
		{ike[:20], KindInvalid},
		{[]byte{0, 0, 1, 0, 0, 0, 0, 1}, KindESP},
		{[]byte{0, 0, 1, 0, 0, 0}, KindInvalid},
	}
	for _, tt := range tests {
		if got := Classify(tt.b); got != tt.want {
			t.Errorf("Classify(%x) = %v, want %v", tt.b, got, tt.want)
		}
	}
}

// TestSealNoAllocs: steady-state Seal and Open allocate nothing.
func TestSealNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	for _, mode := range []Mode{Tunnel, Transport} {
		for _, i := range []int{0, 4, 6, 8, 10, 13} {
			testNoAllocs(t, i, mode)
		}
	}
}

func testNoAllocs(t *testing.T, i int, mode Mode) {
	cfg := suiteConfig(i)
	cfg.Mode = mode // and the default replay window
	if mode == Tunnel {
		cfg.TunnelSrc, cfg.TunnelDst = v4a, v4b
	}
	out, in := pair(t, cfg)
	p := ipv4Packet(v4a, v4b, 1000)
	buf := make([]byte, 0, 2048)
	work := make([]byte, 2048)
	n := testing.AllocsPerRun(200, func() {
		b, _ := out.Seal(buf[:0], p)
		w := work[:len(b)]
		copy(w, b)
		if _, err := in.Open(w); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%s/%v: %v allocs per Seal+Open", suites[i].name, mode, n)
	}
}

// TestHeaderRewriteDifferential checks the two ways the IPv4 header
// checksum is rewritten against a full recomputation (RFC 1071) over the
// written header, for random headers with options: writeHeader, which works
// it out from the old header's words, and updateHeader, which updates a
// right checksum for the changed words (RFC 1624).
func TestHeaderRewriteDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 200000 {
		ihl := 5 + r.IntN(11)
		src := make([]byte, ihl*4)
		for j := range src {
			src[j] = byte(r.Uint32())
		}
		if i%7 == 0 {
			clear(src) // mostly zero words: the sum's edge cases
		}
		src[0] = 0x40 | byte(ihl)
		length := ihl*4 + r.IntN(65536-ihl*4)
		proto := uint8(r.Uint32())
		ip := ipPacket{ippkt.Header{HdrLen: ihl * 4, NhOff: ipv4Proto, Total: length}}

		want := bytes.Clone(src)
		binary.BigEndian.PutUint16(want[2:], uint16(length))
		want[ipv4Proto] = proto
		want[ipv4Csum], want[ipv4Csum+1] = 0, 0
		binary.BigEndian.PutUint16(want[ipv4Csum:], csum.Checksum(want, 0))

		got := make([]byte, len(src))
		ip.writeHeader(got, src, proto, length)
		if !bytes.Equal(got, want) {
			t.Fatalf("writeHeader(%x, length %d, proto %d):\n got %x\nwant %x", src, length, proto, got, want)
		}
		// updateHeader needs a right checksum to start from.
		src[ipv4Csum], src[ipv4Csum+1] = 0, 0
		binary.BigEndian.PutUint16(src[ipv4Csum:], csum.Checksum(src, 0))
		ip.updateHeader(got, src, proto, length)
		if !bytes.Equal(got, want) {
			t.Fatalf("updateHeader(%x, length %d, proto %d):\n got %x\nwant %x", src, length, proto, got, want)
		}
	}
}
