package ah

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
)

var allAlgs = []Integrity{
	IntegHMACMD596, IntegHMACSHA196, IntegAESXCBC96,
	IntegAES128GMAC, IntegAES192GMAC, IntegAES256GMAC,
	IntegHMACSHA256128, IntegHMACSHA384192, IntegHMACSHA512256,
}

func testKey(alg Integrity) []byte {
	k := make([]byte, alg.KeySize())
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

// pair returns an outbound and an inbound SA with the same parameters.
func pair(t testing.TB, cfg Config) (*SA, *SA) {
	t.Helper()
	if cfg.SPI == 0 {
		cfg.SPI = 0x1000
	}
	if cfg.IntegrityKey == nil {
		cfg.IntegrityKey = testKey(cfg.Integrity)
	}
	cfg.AllowLegacy = true
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

type pktCase struct {
	name string
	pkt  func() []byte
}

var pktCases = []pktCase{
	{"v4", func() []byte { return ipv4Packet(nil, payload(100)) }},
	{"v4opts", func() []byte {
		return ipv4Packet(append(append([]byte{}, optRouterAlert...), optTimestamp...), payload(33))
	}},
	{"v6", func() []byte { return ipv6Packet(nil, nil, payload(100)) }},
	{"v6ext", func() []byte { ty, e := v6Exts(); return ipv6Packet(ty, e, payload(57)) }},
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range allAlgs {
		for _, mode := range []Mode{Transport, Tunnel} {
			for _, esn := range []bool{false, true} {
				for _, pc := range pktCases {
					for _, outer := range []string{"4", "6"} {
						if mode == Transport && outer == "6" {
							continue
						}
						name := fmt.Sprintf("%v/%v/esn=%v/%s/outer%s", alg, mode, esn, pc.name, outer)
						t.Run(name, func(t *testing.T) {
							cfg := Config{Integrity: alg, Mode: mode, ESN: esn}
							if mode == Tunnel {
								cfg.TunnelSrc, cfg.TunnelDst = v4Src, v4Dst
								if outer == "6" {
									cfg.TunnelSrc, cfg.TunnelDst = v6Src, v6Dst
								}
							}
							out, in := pair(t, cfg)
							if esn {
								out.seq.SetLast(math.MaxUint32 - 2) // cross the 2^32 boundary
								in.window.Accept(math.MaxUint32 - 3)
							}
							for i := 0; i < 4; i++ {
								p := pc.pkt()
								orig := bytes.Clone(p)
								sealed, err := out.Seal(make([]byte, 3, 8), p)
								if err != nil {
									t.Fatal(err)
								}
								if !bytes.Equal(p, orig) {
									t.Fatal("Seal modified its input")
								}
								sealed = sealed[3:]
								checkAHLayout(t, sealed, out)
								got, err := in.Open(sealed)
								if err != nil {
									t.Fatalf("packet %d: %v", i, err)
								}
								if !bytes.Equal(got, orig) {
									t.Fatalf("packet %d: got\n%x\nwant\n%x", i, got, orig)
								}
							}
							if s := in.Stats(); s.Packets != 4 || s.AuthFailures+s.ReplayDrops+s.Malformed != 0 {
								t.Fatalf("stats %+v", s)
							}
						})
					}
				}
			}
		}
	}
}

// checkAHLayout checks the AH header of a sealed packet independently of
// the code that wrote it: alignment (RFC 4302 2.6), SPI, and the IPv4
// header checksum.
func checkAHLayout(t *testing.T, p []byte, sa *SA) {
	t.Helper()
	var off int
	if p[0]>>4 == 4 {
		off = int(p[0]&0xf) * 4
		if ipv4Checksum(p[:off]) != 0 {
			t.Fatal("bad IPv4 header checksum")
		}
		if int(binary.BigEndian.Uint16(p[2:4])) != len(p) {
			t.Fatal("bad IPv4 total length")
		}
	} else {
		if int(binary.BigEndian.Uint16(p[4:6]))+40 != len(p) {
			t.Fatal("bad IPv6 payload length")
		}
		off = 40
		for nh := p[6]; nh != protoAH; {
			l := (int(p[off+1]) + 1) * 8
			nh = p[off]
			off += l
		}
	}
	ahLen := (int(p[off+1]) + 2) * 4
	align := 4
	if p[0]>>4 == 6 {
		align = 8
	}
	if ahLen%align != 0 || ahLen < ahFixed+sa.auth.p.icvLen+sa.auth.p.ivLen {
		t.Fatalf("AH length %d", ahLen)
	}
	if binary.BigEndian.Uint32(p[off+4:]) != sa.spi {
		t.Fatal("SPI")
	}
}

func TestReplayAndErrors(t *testing.T) {
	out, in := pair(t, Config{Mode: Transport, Integrity: IntegHMACSHA256128})
	sealed, err := out.Seal(nil, ipv4Packet(nil, payload(20)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Open(bytes.Clone(sealed)); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Open(bytes.Clone(sealed)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed packet: %v", err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	binary.BigEndian.PutUint32(bad[28:32], 7) // new sequence number, so the ICV decides
	if _, err := in.Open(bad); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("corrupt packet: %v", err)
	}
	other, _ := pair(t, Config{Mode: Transport, SPI: 0x2000, Integrity: IntegHMACSHA256128})
	if _, err := other.Open(bytes.Clone(sealed)); !errors.Is(err, ErrWrongSPI) {
		t.Fatalf("wrong SPI: %v", err)
	}
	if _, err := in.Open(sealed[:30]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	s := in.Stats()
	if s.Packets != 1 || s.ReplayDrops != 1 || s.AuthFailures != 1 || s.Malformed != 1 {
		t.Fatalf("stats %+v", s)
	}
	// A packet that is not AH, and a fragment.
	if _, err := in.Open(ipv4Packet(nil, payload(40))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("not AH: %v", err)
	}
	frag := bytes.Clone(sealed)
	frag[6] |= 0x20
	if _, err := in.Open(frag); !errors.Is(err, ErrMalformed) {
		t.Fatalf("fragment: %v", err)
	}
}

func TestSeqExhausted(t *testing.T) {
	for _, esn := range []bool{false, true} {
		out, _ := pair(t, Config{Mode: Transport, Integrity: IntegHMACSHA196, ESN: esn})
		limit := uint64(math.MaxUint32)
		if esn {
			limit = math.MaxUint64
		}
		out.seq.SetLast(limit - 1)
		if _, err := out.Seal(nil, ipv4Packet(nil, payload(8))); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := out.Seal(nil, ipv4Packet(nil, payload(8))); !errors.Is(err, ErrSeqExhausted) {
				t.Fatalf("esn=%v: %v", esn, err)
			}
		}
	}
}

func TestNewSAErrors(t *testing.T) {
	good := Config{Mode: Transport, SPI: 300, Integrity: IntegHMACSHA196, IntegrityKey: testKey(IntegHMACSHA196)}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"reserved SPI", func(c *Config) { c.SPI = 255 }},
		{"unknown alg", func(c *Config) { c.Integrity = 99 }},
		{"short key", func(c *Config) { c.IntegrityKey = c.IntegrityKey[:19] }},
		{"legacy", func(c *Config) { c.Integrity, c.IntegrityKey = IntegHMACMD596, testKey(IntegHMACMD596) }},
		{"tunnel without endpoints", func(c *Config) { c.Mode = Tunnel }},
		{"tunnel mixed families", func(c *Config) { c.Mode, c.TunnelSrc, c.TunnelDst = Tunnel, v4Src, v6Dst }},
		{"bad mode", func(c *Config) { c.Mode = 7 }},
		{"bad window", func(c *Config) { c.ReplayWindow = 5 }},
	} {
		c := good
		tc.mod(&c)
		if _, err := NewSA(c); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := NewSA(good); err != nil {
		t.Fatal(err)
	}
}

func TestUnsupportedSourceRoute(t *testing.T) {
	out, _ := pair(t, Config{Mode: Transport, Integrity: IntegHMACSHA196})
	lsrr := []byte{131, 7, 4, 192, 0, 2, 9}
	if _, err := out.Seal(nil, ipv4Packet(lsrr, payload(8))); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("LSRR: %v", err)
	}
	ty, e := v6Exts()
	e[2][3] = 1 // segments left
	if _, err := out.Seal(nil, ipv6Packet(ty, e, payload(8))); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("routing header: %v", err)
	}
}

// TestConcurrent seals from several goroutines at once and checks that every
// packet opens: sequence numbers are unique and the worker pool is safe.
func TestConcurrent(t *testing.T) {
	out, in := pair(t, Config{Mode: Transport, Integrity: IntegAES128GMAC, ReplayWindow: 4096})
	const g, n = 4, 200
	var mu sync.Mutex
	var all [][]byte
	var wg sync.WaitGroup
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine [][]byte
			for range n {
				s, err := out.Seal(nil, ipv6Packet(nil, nil, payload(64)))
				if err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, s)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var wg2 sync.WaitGroup
	for i := range g {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for j := i; j < len(all); j += g {
				if _, err := in.Open(all[j]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg2.Wait()
	if s := in.Stats(); s.Packets != g*n {
		t.Fatalf("stats %+v", s)
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; run without -race")
	}
	for _, alg := range allAlgs {
		out, in := pair(t, Config{Mode: Transport, Integrity: alg, ESN: true, ReplayWindow: ReplayOff})
		pkt := ipv4Packet(nil, payload(200))
		buf := make([]byte, 0, 512)
		sealed, _ := out.Seal(buf, pkt)
		work := make([]byte, len(sealed))
		n := testing.AllocsPerRun(100, func() {
			s, err := out.Seal(buf[:0], pkt)
			if err != nil {
				t.Fatal(err)
			}
			copy(work, s)
			if _, err := in.Open(work); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%v: %v allocations per Seal+Open", alg, n)
		}
	}
}

// TestTunnelOuterHeader checks the outer header tunnel mode builds (RFC 4301
// 5.1.2.1): DSCP/ECN and DF copied from the inner header, protocol AH, the
// configured endpoints.
func TestTunnelOuterHeader(t *testing.T) {
	out, _ := pair(t, Config{Integrity: IntegHMACSHA196, Mode: Tunnel, TunnelSrc: v4Dst, TunnelDst: v4Src})
	inner := ipv4Packet(nil, payload(10)) // TOS 0xb8, DF set
	s, err := out.Seal(nil, inner)
	if err != nil {
		t.Fatal(err)
	}
	if s[0] != 0x45 || s[1] != 0xb8 || s[6] != 0x40 || s[8] != tunnelHopLimit || s[9] != protoAH ||
		!bytes.Equal(s[12:16], v4Dst.AsSlice()) || !bytes.Equal(s[16:20], v4Src.AsSlice()) || s[20] != protoIPv4 {
		t.Fatalf("outer header %x", s[:24])
	}
	out6, _ := pair(t, Config{Integrity: IntegHMACSHA196, Mode: Tunnel, TunnelSrc: v6Src, TunnelDst: v6Dst})
	s, err = out6.Seal(nil, ipv6Packet(nil, nil, payload(10))) // traffic class 0x2e
	if err != nil {
		t.Fatal(err)
	}
	if s[0] != 0x62 || s[1]&0xf0 != 0xe0 || s[6] != protoAH || s[40] != protoIPv6 || !bytes.Equal(s[8:24], v6Src.AsSlice()) {
		t.Fatalf("outer header %x", s[:48])
	}
}
