package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ipsecgo/ipsec/internal/aesgcm"
)

// The benchmarks in this file compare ESP with its bare cryptography in one
// run: BenchmarkSeal and BenchmarkOpen against BenchmarkAEAD and
// BenchmarkAEADOpen, on the same suite and payload size. Report ratios
// (benchstat, or divide ns/op), not absolute times.

var benchSuites = []struct {
	name string
	idx  int // into suites
}{
	{"aes128gcm16", 0},
	{"aes256gcm16", 2},
	{"chacha20poly1305", 8},
	{"aes128-sha256", 10},
}

var benchSizes = []int{64, 1400, 8192}

// benchConfig is the config of suite idx in mode, between v4a and v4b.
func benchConfig(idx int, mode Mode) Config {
	cfg := suiteConfig(idx)
	if mode == Tunnel {
		cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst = Tunnel, v4a, v4b
	}
	return cfg
}

// BenchmarkSeal: tunnel-mode Seal of an IPv4 packet of size bytes, into a
// reused buffer.
func BenchmarkSeal(b *testing.B) { benchSeal(b, Tunnel) }

// BenchmarkSealTransport: transport-mode Seal of an IPv4 packet whose
// payload, what ESP protects, is size bytes.
func BenchmarkSealTransport(b *testing.B) { benchSeal(b, Transport) }

// benchPacket is an IPv4 packet whose ESP payload in mode is size bytes: the
// whole packet in tunnel mode, what follows the IPv4 header in transport
// mode (ipv4Packet adds a 20-byte IPv4 and an 8-byte UDP header).
func benchPacket(size int, mode Mode) []byte {
	if mode == Tunnel {
		return ipv4Packet(v4a, v4b, size-28)
	}
	return ipv4Packet(v4a, v4b, size-8)
}

func benchSeal(b *testing.B, mode Mode) {
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			b.Run(s.name+"/"+strconv.Itoa(size), func(b *testing.B) {
				sa, _ := pair(b, benchConfig(s.idx, mode))
				pkt := benchPacket(size, mode)
				buf := make([]byte, 0, size+128)
				seal := func() {
					if _, err := sa.Seal(buf[:0], pkt); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					seal()
				}
				bl, bbuf := newBaseline(s.idx), make([]byte, size+64)
				reportRatio(b, seal, func() { bl.seal(bbuf, size) })
			})
		}
	}
}

// reportRatio times the benchmarked operation op and its baseline base
// alternately, in rounds of about a millisecond each, and reports the
// median ratio of their times as the metric x-baseline. It is the
// comparison of BenchmarkSeal with BenchmarkAEAD (or of BenchmarkOpen with
// BenchmarkAEADOpen) made in one stretch of time, so that the machine's
// drift between two benchmarks run seconds apart does not enter it. The
// benchmark's own ns/op is measured before, by b.Loop, and is not changed.
func reportRatio(b *testing.B, op, base func()) {
	n := max(10, int(time.Millisecond/max(1, b.Elapsed()/time.Duration(b.N))))
	ratios := make([]float64, 21)
	run := func(f func()) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	for r := range ratios {
		var tOp, tBase time.Duration
		if r%2 == 0 { // alternate which goes first
			tOp, tBase = run(op), run(base)
		} else {
			tBase, tOp = run(base), run(op)
		}
		ratios[r] = float64(tOp) / float64(tBase)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-baseline")
}

// BenchmarkSealParallel: one SA sealing from all cores, packet by packet
// with Seal and in batches of 32 with SealBatch. Compare ns/op with -cpu 1
// and -cpu 2 (or GOMAXPROCS) to see how one SA scales; BenchmarkSealScaling
// makes that comparison in one stretch of time.
func BenchmarkSealParallel(b *testing.B) {
	for _, s := range benchSuites[:1] {
		for _, batch := range []int{1, sealBatch} {
			sa, _ := pair(b, benchConfig(s.idx, Tunnel))
			b.Run(scalingName(batch)+"/"+s.name+"/1400", func(b *testing.B) {
				b.SetBytes(1400)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					seal := newBenchSealer(b, sa, batch, 1400)
					for pb.Next() {
						seal(1)
					}
				})
			})
		}
	}
}

// padded is a count on a cache line of its own.
type padded struct {
	n int
	_ [120]byte
}

// sealBatch is the batch size of the SealBatch benchmarks.
const sealBatch = 32

func scalingName(batch int) string {
	if batch == 1 {
		return "seal"
	}
	return "batch" + strconv.Itoa(batch)
}

// newBenchSealer returns a function that seals n packets of size bytes on
// sa, with Seal when batch is 1, else with SealBatch in batches of batch
// (a call with n under batch seals a short batch when its share is due).
// Each sealer has buffers of its own: one per goroutine.
func newBenchSealer(b *testing.B, sa *SA, batch, size int) func(n int) {
	pkt := ipv4Packet(v4a, v4b, size-28)
	if batch == 1 {
		buf := make([]byte, 0, 1600)
		return func(n int) {
			for range n {
				if _, err := sa.Seal(buf[:0], pkt); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	pkts, bufs := make([][]byte, batch), make([][]byte, batch)
	for i := range pkts {
		pkts[i], bufs[i] = pkt, make([]byte, 0, 1600)
	}
	// The packets asked for and not sealed yet. The count is kept in a
	// local during a call: a captured variable written per batch would be
	// a tiny heap object, likely in the same cache line as the other
	// sealer's, which the two goroutines would then pass back and forth.
	pending := new(padded)
	return func(n int) {
		p := pending.n + n
		for p >= batch {
			for i := range bufs {
				bufs[i] = bufs[i][:0]
			}
			if _, err := sa.SealBatch(bufs, pkts); err != nil {
				b.Fatal(err)
			}
			p -= batch
		}
		pending.n = p
	}
}

// BenchmarkSealScaling: two goroutines sealing on ONE SA, against one
// goroutine on the same SA, timed alternately in rounds of a few
// milliseconds (as reportRatio does) so that both see the same machine.
// The metric x-1core is the throughput of two goroutines divided by that
// of one: 2.0 is perfect scaling. The same rounds also time two goroutines
// on two SAs, which share nothing: x-2sas is their throughput over one
// goroutine's, the most this machine gives two cores sealing, against
// which x-1core is to be read. ns/packet is with two goroutines on one SA
// (an op is 2*32 packets).
// The sub-benchmarks seal packet by packet (seal) or in batches (batch32).
// It needs GOMAXPROCS >= 2 and two idle cores to mean anything.
func BenchmarkSealScaling(b *testing.B) {
	for _, s := range benchSuites[:1] {
		for _, size := range []int{64, 1400} {
			for _, batch := range []int{1, sealBatch} {
				b.Run(scalingName(batch)+"/"+s.name+"/"+strconv.Itoa(size), func(b *testing.B) {
					if runtime.GOMAXPROCS(0) < 2 {
						b.Skip("needs GOMAXPROCS >= 2")
					}
					sa, _ := pair(b, benchConfig(s.idx, Tunnel))
					sa2, _ := pair(b, benchConfig(s.idx, Tunnel))
					sealers := []func(int){newBenchSealer(b, sa, batch, size), newBenchSealer(b, sa, batch, size)}
					apart := []func(int){sealers[0], newBenchSealer(b, sa2, batch, size)} // on two SAs
					// run seals n packets with each of seal, each in a
					// goroutine of its own, and returns how long it took:
					// one goroutine and two pay the same for starting
					// and waiting.
					run := func(n int, seal ...func(int)) time.Duration {
						start := time.Now()
						var wg sync.WaitGroup
						for _, f := range seal {
							wg.Go(func() { f(n) })
						}
						wg.Wait()
						return time.Since(start)
					}
					for b.Loop() {
						run(sealBatch, sealers...) // 2*sealBatch packets
					}
					b.ReportMetric(float64(b.Elapsed())/float64(2*sealBatch*b.N), "ns/packet")
					perRound := 4096 * 1400 / size // packets per goroutine: a few ms
					ratios, ceiling := make([]float64, 21), make([]float64, 21)
					for r := range ratios {
						var t [3]time.Duration
						for i := range 3 {
							switch k := (r + i) % 3; k { // which goes first rotates
							case 0:
								t[k] = run(perRound, sealers[0])
							case 1:
								t[k] = run(perRound, sealers...)
							case 2:
								t[k] = run(perRound, apart...)
							}
						}
						ratios[r] = 2 * float64(t[0]) / float64(t[1])
						ceiling[r] = 2 * float64(t[0]) / float64(t[2])
					}
					slices.Sort(ratios)
					slices.Sort(ceiling)
					b.ReportMetric(ratios[len(ratios)/2], "x-1core")
					b.ReportMetric(ceiling[len(ceiling)/2], "x-2sas")
				})
			}
		}
	}
}

// BenchmarkOpen: tunnel-mode Open with the replay window on. Each iteration
// copies a fresh sealed packet into the work buffer (Open works in place);
// the baseline BenchmarkAEADOpen copies too. The batch of distinct packets
// is small enough to stay in the L1 cache (16 of 1.4 KB), like the
// baseline's single packet; the receiver's window is reset between batches
// (one slot to clear: well under a nanosecond per packet).
func BenchmarkOpen(b *testing.B) { benchOpen(b, Tunnel) }

// BenchmarkOpenTransport: BenchmarkOpen in transport mode, with size bytes
// of ESP payload as in BenchmarkSealTransport.
func BenchmarkOpenTransport(b *testing.B) { benchOpen(b, Transport) }

func benchOpen(b *testing.B, mode Mode) {
	const batch = 16
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			b.Run(s.name+"/"+strconv.Itoa(size), func(b *testing.B) {
				cfg := benchConfig(s.idx, mode)
				out, _ := pair(b, cfg)
				pkt := benchPacket(size, mode)
				sealed := make([][]byte, batch)
				for i := range sealed {
					sealed[i], _ = out.Seal(nil, pkt)
				}
				work := make([]byte, len(sealed[0]))
				in, _ := NewSA(cfg)
				i := 0
				open := func() {
					if i == batch {
						in.window.Reset() // the same packets are fresh again
						i = 0
					}
					copy(work, sealed[i])
					i++
					if _, err := in.Open(work); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					open()
				}
				bl := newBaseline(s.idx)
				bsealed := append([]byte(nil), bl.seal(make([]byte, size+64), size)...)
				bwork, tmp := make([]byte, len(bsealed)), make([]byte, 64)
				reportRatio(b, open, func() {
					copy(bwork, bsealed)
					bl.open(bwork, tmp)
				})
			})
		}
	}
}

// baseline is the bare cryptography of one suite on one payload.
type baseline struct {
	aead  cipher.AEAD
	cbc   ivBlockMode
	dec   ivBlockMode
	mac   hash.Hash
	nonce []byte
	aad   []byte
	iv    []byte
}

func newBaseline(idx int) *baseline {
	cfg := suiteConfig(idx)
	bl := &baseline{nonce: make([]byte, 12), aad: make([]byte, 8), iv: make([]byte, 16)}
	switch cfg.Cipher {
	case CipherAESGCM16:
		bl.aead, _ = aesgcm.New(cfg.CipherKey[:len(cfg.CipherKey)-4], aesgcm.TagSize) // the AES-GCM that esp uses
	case CipherChaCha20Poly1305:
		bl.aead, _ = chacha20poly1305.New(cfg.CipherKey[:32])
	case CipherAESCBC:
		blk, _ := aes.NewCipher(cfg.CipherKey)
		bl.cbc = cipher.NewCBCEncrypter(blk, bl.iv).(ivBlockMode)
		bl.dec = cipher.NewCBCDecrypter(blk, bl.iv).(ivBlockMode)
		bl.mac = hmac.New(sha256.New, cfg.IntegrityKey)
	}
	return bl
}

// seal encrypts and authenticates p in place (p has room for the tag) and
// returns the result.
func (bl *baseline) seal(p []byte, n int) []byte {
	if bl.aead != nil {
		return bl.aead.Seal(p[:0], bl.nonce, p[:n], bl.aad)
	}
	n = (n + 15) &^ 15 // CBC needs whole blocks
	bl.cbc.SetIV(bl.iv)
	bl.cbc.CryptBlocks(p[:n], p[:n])
	bl.mac.Reset()
	bl.mac.Write(bl.iv)
	bl.mac.Write(p[:n])
	return bl.mac.Sum(p[:n])[:n+16]
}

func (bl *baseline) open(p []byte, tmp []byte) {
	if bl.aead != nil {
		if _, err := bl.aead.Open(p[:0], bl.nonce, p, bl.aad); err != nil {
			panic(err)
		}
		return
	}
	n := len(p) - 16
	bl.mac.Reset()
	bl.mac.Write(bl.iv)
	bl.mac.Write(p[:n])
	if !hmac.Equal(bl.mac.Sum(tmp[:0])[:16], p[n:]) {
		panic("mac")
	}
	bl.dec.SetIV(bl.iv)
	bl.dec.CryptBlocks(p[:n], p[:n])
}

// BenchmarkAEAD is the baseline for BenchmarkSeal: the AEAD's Seal alone, or
// AES-CBC plus HMAC-SHA-256 alone, over the same payload size.
func BenchmarkAEAD(b *testing.B) {
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			b.Run(s.name+"/"+strconv.Itoa(size), func(b *testing.B) {
				bl := newBaseline(s.idx)
				buf := make([]byte, size+64)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					bl.seal(buf, size)
				}
			})
		}
	}
}

// BenchmarkAEADOpen is the baseline for BenchmarkOpen: copy a sealed payload
// into the work buffer and open it with the bare AEAD (or HMAC then CBC).
func BenchmarkAEADOpen(b *testing.B) {
	for _, s := range benchSuites {
		for _, size := range benchSizes {
			b.Run(s.name+"/"+strconv.Itoa(size), func(b *testing.B) {
				bl := newBaseline(s.idx)
				sealed := append([]byte(nil), bl.seal(make([]byte, size+64), size)...)
				work := make([]byte, len(sealed))
				tmp := make([]byte, 64)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					copy(work, sealed)
					bl.open(work, tmp)
				}
			})
		}
	}
}
