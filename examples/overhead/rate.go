package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/internal/aesgcm"
)

// Rate is one suite's measured cost per packet on one core.
type Rate struct {
	Suite string
	Size  int
	// SealNs and OpenNs are CPU nanoseconds per packet (tunnel mode).
	SealNs, OpenNs float64
	// SealGbps and OpenGbps are the inner bits per second one core
	// protects or verifies at that cost.
	SealGbps, OpenGbps float64
	// XBaseline is the median ratio of Seal's time to the bare
	// cryptography of the same bytes (the x-baseline metric of package
	// esp's benchmarks), timed alternately in the same run.
	XBaseline float64
}

var (
	tunnelSrc = netip.MustParseAddr("192.0.2.1")
	tunnelDst = netip.MustParseAddr("192.0.2.2")
)

// ipv4UDP returns an IPv4/UDP packet of size bytes (at least 28).
func ipv4UDP(size int) []byte {
	p := make([]byte, max(size, 28))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, 17
	copy(p[12:], []byte{10, 1, 0, 1, 10, 2, 0, 1})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], 1000)
	binary.BigEndian.PutUint16(p[22:], 2000)
	binary.BigEndian.PutUint16(p[24:], uint16(len(p)-20))
	return p
}

// sealer makes an SA pair for suite s in layout l: Seal for outbound,
// Open for inbound (anti-replay off, so that a batch can be opened again
// and again).
type sealer struct {
	seal func(dst, pkt []byte) ([]byte, error)
	open func(pkt []byte) ([]byte, error)
}

func newSealer(s Suite, l Layout) (*sealer, error) {
	key := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + 1)
		}
		return b
	}
	if s.AH {
		cfg := ah.Config{SPI: 0x1000, Integrity: s.AHInt, IntegrityKey: key(s.AHInt.KeySize()),
			ReplayWindow: ah.ReplayOff, AllowLegacy: s.Legacy, Mode: ah.Transport}
		if l.Tunnel {
			cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst = ah.Tunnel, tunnelSrc, tunnelDst
		}
		out, err := ah.NewSA(cfg)
		if err != nil {
			return nil, err
		}
		in, err := ah.NewSA(cfg)
		if err != nil {
			return nil, err
		}
		return &sealer{seal: out.Seal, open: in.Open}, nil
	}
	if s.Bundle {
		e, err := newSealer(Suite{Cipher: s.Cipher, Integ: s.Integ, Legacy: s.Legacy, keyBits: s.keyBits, Name: s.Name}, l)
		if err != nil {
			return nil, err
		}
		a, err := newSealer(Suite{AH: true, AHInt: s.AHInt, Legacy: s.Legacy}, Layout{})
		if err != nil {
			return nil, err
		}
		tmp := make([]byte, 0, 65536)
		return &sealer{
			seal: func(dst, pkt []byte) ([]byte, error) {
				b, err := e.seal(tmp[:0], pkt)
				if err != nil {
					return dst, err
				}
				return a.seal(dst, b)
			},
			open: func(pkt []byte) ([]byte, error) {
				b, err := a.open(pkt)
				if err != nil {
					return nil, err
				}
				return e.open(b)
			},
		}, nil
	}
	cfg := esp.Config{SPI: 0x1000, Cipher: s.Cipher, CipherKey: key(s.keyLen()), Integrity: s.Integ,
		IntegrityKey: key(s.Integ.KeySize()), ReplayWindow: esp.ReplayOff, AllowLegacy: s.Legacy, Mode: esp.Transport}
	if l.Tunnel {
		cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst = esp.Tunnel, tunnelSrc, tunnelDst
	}
	if l.Encap {
		cfg.EncapSrcPort, cfg.EncapDstPort = 4500, 4500
	}
	out, err := esp.NewSA(cfg)
	if err != nil {
		return nil, err
	}
	in, err := esp.NewSA(cfg)
	if err != nil {
		return nil, err
	}
	return &sealer{seal: out.Seal, open: in.Open}, nil
}

// baseline returns the bare cryptography of suite s over n bytes: what
// any implementation must spend, whatever its packet handling.
func baseline(s Suite, n int) (func(), error) {
	buf := make([]byte, n+64)
	aad := make([]byte, 8)
	hmacOver := func(newHash func() hash.Hash, key []byte) func() {
		m := hmac.New(newHash, key)
		return func() { m.Reset(); m.Write(buf[:n]); m.Sum(aad[:0]) }
	}
	integ := map[esp.Integrity]func() hash.Hash{esp.IntegHMACMD596: md5.New, esp.IntegHMACSHA196: sha1.New,
		esp.IntegHMACSHA256128: sha256.New, esp.IntegHMACSHA384192: sha512.New384, esp.IntegHMACSHA512256: sha512.New}
	ahInteg := map[ah.Integrity]func() hash.Hash{ah.IntegHMACMD596: md5.New, ah.IntegHMACSHA196: sha1.New,
		ah.IntegHMACSHA256128: sha256.New, ah.IntegHMACSHA384192: sha512.New384, ah.IntegHMACSHA512256: sha512.New}
	key := make([]byte, 64)
	if s.Bundle {
		e, err := baseline(Suite{Cipher: s.Cipher, Integ: s.Integ, keyBits: s.keyBits, Name: s.Name}, n)
		if err != nil {
			return nil, err
		}
		a, err := baseline(Suite{AH: true, AHInt: s.AHInt, Name: s.Name}, n)
		if err != nil {
			return nil, err
		}
		return func() { e(); a() }, nil
	}
	if s.AH {
		if h, ok := ahInteg[s.AHInt]; ok {
			return hmacOver(h, key[:32]), nil
		}
		g, _ := aesgcm.New(key[:16], aesgcm.TagSize) // the AES-GCM that ah uses
		nonce := make([]byte, 12)
		return func() { g.Seal(buf[:0], nonce, nil, buf[:n]) }, nil
	}
	var mac func()
	if h, ok := integ[s.Integ]; ok {
		mac = hmacOver(h, key[:32])
	}
	klen := s.keyLen()
	switch s.Cipher {
	case esp.CipherAESGCM16, esp.CipherAESGCM12, esp.CipherAESGCM8, esp.CipherChaCha20Poly1305, esp.CipherNullAuthAESGMAC:
		var a cipher.AEAD
		var err error
		if s.Cipher == esp.CipherChaCha20Poly1305 {
			a, err = chacha20poly1305.New(key[:32])
		} else {
			a, err = aesgcm.New(key[:klen-4], aesgcm.TagSize) // the AES-GCM that esp uses
		}
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, 12)
		if s.Cipher == esp.CipherNullAuthAESGMAC {
			return func() { a.Seal(buf[:0], nonce, nil, buf[:n]) }, nil
		}
		return func() { a.Seal(buf[:0], nonce, buf[:n], aad) }, nil
	case esp.CipherAESCBC, esp.Cipher3DES:
		var b cipher.Block
		var err error
		if s.Cipher == esp.Cipher3DES {
			b, err = des.NewTripleDESCipher(key[:24])
		} else {
			b, err = aes.NewCipher(key[:klen])
		}
		if err != nil {
			return nil, err
		}
		bs := b.BlockSize()
		m := (n + bs - 1) / bs * bs
		iv := make([]byte, bs)
		return func() {
			cipher.NewCBCEncrypter(b, iv).CryptBlocks(buf[:m], buf[:m])
			mac()
		}, nil
	case esp.CipherAESCTR:
		b, err := aes.NewCipher(key[:klen-4])
		if err != nil {
			return nil, err
		}
		iv := make([]byte, 16)
		return func() {
			cipher.NewCTR(b, iv).XORKeyStream(buf[:n], buf[:n])
			mac()
		}, nil
	case esp.CipherNull:
		return mac, nil
	}
	return nil, fmt.Errorf("overhead: no baseline for %s", s.Name)
}

// Measure measures suite s on one core with packets of size bytes for
// about d of CPU time: tunnel-mode Seal and Open, and Seal against its
// baseline timed alternately (so that a busy machine slows both alike).
func Measure(s Suite, size int, d time.Duration) (Rate, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sl, err := newSealer(s, Layout{Tunnel: true})
	if err != nil {
		return Rate{}, err
	}
	pkt := ipv4UDP(size)
	out := make([]byte, 0, size+256)
	const batch = 16
	sealed := make([][]byte, batch)
	for i := range sealed {
		b, err := sl.seal(nil, pkt)
		if err != nil {
			return Rate{}, err
		}
		sealed[i] = b
	}
	work := make([]byte, len(sealed[0]))
	var sealErr, openErr error
	seal := func() {
		if _, err := sl.seal(out[:0], pkt); err != nil {
			sealErr = err
		}
	}
	i := 0
	open := func() {
		copy(work, sealed[i%batch])
		i++
		if _, err := sl.open(work); err != nil {
			openErr = err
		}
	}
	base, err := baseline(s, size)
	if err != nil {
		return Rate{}, err
	}
	const rounds = 11
	slice := d / (3 * rounds)
	var sealNs, openNs, ratios []float64
	for r := range rounds {
		var tSeal, tBase float64
		if r%2 == 0 { // alternate which goes first
			tSeal, tBase = perOp(seal, slice), perOp(base, slice)
		} else {
			tBase, tSeal = perOp(base, slice), perOp(seal, slice)
		}
		sealNs = append(sealNs, tSeal)
		ratios = append(ratios, tSeal/tBase)
		openNs = append(openNs, perOp(open, slice))
	}
	if sealErr != nil || openErr != nil {
		return Rate{}, fmt.Errorf("overhead: %s: seal %v, open %v", s.Name, sealErr, openErr)
	}
	r := Rate{Suite: s.Name, Size: size, SealNs: median(sealNs), OpenNs: median(openNs), XBaseline: median(ratios)}
	r.SealGbps = float64(size*8) / r.SealNs
	r.OpenGbps = float64(size*8) / r.OpenNs
	return r, nil
}

// perOp runs f for about d of this thread's CPU time and returns the CPU
// nanoseconds per call.
func perOp(f func(), d time.Duration) float64 {
	start := threadCPU()
	n := 0
	for {
		for range 32 {
			f()
		}
		n += 32
		if el := threadCPU() - start; el >= d {
			return float64(el) / float64(n)
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
