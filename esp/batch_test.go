package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"unsafe"
)

// seqOf returns the low 32 bits of the sequence number of a sealed IPv4
// packet without UDP encapsulation (tunnel or transport mode, 20-byte
// outer header).
func seqOf(p []byte) uint32 { return binary.BigEndian.Uint32(p[24:28]) }

// TestSealBatchDifferential: SealBatch is Seal packet by packet (the
// reference), for every suite, both modes, IPv4 and IPv6, ESN, TFC padding
// and UDP encapsulation: the peer opens every packet to what went in, with
// the sequence numbers Seal would have used, and where the cipher has no
// random IV the bytes are the same.
func TestSealBatchDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i, s := range suites {
		for _, mode := range []Mode{Tunnel, Transport} {
			for _, v6 := range []bool{false, true} {
				cfg := suiteConfig(i)
				cfg.Mode = mode
				a, b := v4a, v4b
				if v6 {
					a, b = v6a, v6b
				}
				if mode == Tunnel {
					cfg.TunnelSrc, cfg.TunnelDst = a, b
					cfg.TFCPadTo = r.IntN(2) * 200
				}
				cfg.ESN = r.IntN(2) == 0
				if r.IntN(2) == 0 {
					cfg.EncapSrcPort, cfg.EncapDstPort = 4500, 4500
				}
				batch, _ := pair(t, cfg)
				single, in := pair(t, cfg)
				for round := range 5 {
					pkts := make([][]byte, r.IntN(20))
					for j := range pkts {
						if v6 {
							pkts[j] = ipv6Packet(a, b, r.IntN(1500))
						} else {
							pkts[j] = ipv4Packet(a, b, r.IntN(1500))
						}
					}
					out := make([][]byte, len(pkts))
					n, err := batch.SealBatch(out, pkts)
					if n != len(pkts) || err != nil {
						t.Fatalf("%s %v: SealBatch sealed %d of %d: %v", s.name, mode, n, len(pkts), err)
					}
					for j, p := range pkts {
						want, err := single.Seal(nil, p)
						if err != nil {
							t.Fatal(err)
						}
						if len(want) != len(out[j]) {
							t.Fatalf("%s %v round %d packet %d: %d bytes, Seal made %d", s.name, mode, round, j, len(out[j]), len(want))
						}
						if cfg.Cipher != CipherAESCBC && cfg.Cipher != Cipher3DES && !bytes.Equal(want, out[j]) {
							t.Fatalf("%s %v round %d packet %d differs from Seal's", s.name, mode, round, j)
						}
						got, err := in.Open(out[j])
						if err != nil || !bytes.Equal(got, p) {
							t.Fatalf("%s %v round %d packet %d: opened to %x, %v", s.name, mode, round, j, got, err)
						}
					}
				}
				if bs, ss := batch.Stats(), single.Stats(); bs != ss {
					t.Fatalf("%s %v: batch stats %+v, Seal's %+v", s.name, mode, bs, ss)
				}
				if batch.NextSeq() != single.NextSeq() {
					t.Fatalf("%s: next sequence number %d, Seal's %d", s.name, batch.NextSeq(), single.NextSeq())
				}
			}
		}
	}
}

// TestSealBatchConcurrentSeq: batches and single Seals from several
// goroutines on one SA use every sequence number exactly once, each batch
// a consecutive run, and the receiver's replay window accepts them all once.
func TestSealBatchConcurrentSeq(t *testing.T) {
	cfg := suiteConfig(0)
	cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst, cfg.ReplayWindow = Tunnel, v4a, v4b, 65536
	out, in := pair(t, cfg)
	const workers, rounds = 4, 200
	var mu sync.Mutex
	var sealed [][]byte
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := ipv4Packet(v4a, v4b, 64)
			var mine [][]byte
			for i := range rounds {
				if (i+w)%5 == 0 {
					b, err := out.Seal(nil, p)
					if err != nil {
						t.Error(err)
						return
					}
					mine = append(mine, b)
					continue
				}
				k := 1 + (i*7+w)%33
				pkts, bufs := make([][]byte, k), make([][]byte, k)
				for j := range pkts {
					pkts[j] = p
				}
				n, err := out.SealBatch(bufs, pkts)
				if n != k || err != nil {
					t.Errorf("sealed %d of %d: %v", n, k, err)
					return
				}
				for j := 1; j < k; j++ {
					if seqOf(bufs[j]) != seqOf(bufs[j-1])+1 {
						t.Errorf("batch not consecutive: %d after %d", seqOf(bufs[j]), seqOf(bufs[j-1]))
					}
				}
				mine = append(mine, bufs...)
			}
			mu.Lock()
			sealed = append(sealed, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	seqs := make([]uint32, len(sealed))
	for i, b := range sealed {
		seqs[i] = seqOf(b)
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint32(i+1) {
			t.Fatalf("sequence numbers not 1..%d without gaps or repeats: position %d holds %d", len(seqs), i, s)
		}
	}
	for _, b := range sealed {
		if _, err := in.Open(slices.Clone(b)); err != nil {
			t.Fatalf("open: %v", err)
		}
	}
	for _, b := range sealed[:10] {
		if _, err := in.Open(b); !errors.Is(err, ErrReplay) {
			t.Fatalf("replayed packet: %v, want ErrReplay", err)
		}
	}
	if st := out.Stats(); st.Packets != uint64(len(sealed)) || st.Bytes != uint64(len(sealed))*(20+8+64) {
		t.Fatalf("stats %+v for %d packets", st, len(sealed))
	}
}

// TestSealBatchRefusals: a packet that is not IP stops the batch before it
// and uses no sequence number; a batch that runs into the end of the
// sequence number space is cut there and the SA stays exhausted (RFC 4303
// section 3.3.3).
func TestSealBatchRefusals(t *testing.T) {
	cfg := suiteConfig(0)
	cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst = Tunnel, v4a, v4b
	out, in := pair(t, cfg)
	p := ipv4Packet(v4a, v4b, 10)
	pkts := [][]byte{p, p, {0x45, 0}, p}
	bufs := make([][]byte, len(pkts))
	n, err := out.SealBatch(bufs, pkts)
	if n != 2 || !errors.Is(err, errNotIP) {
		t.Fatalf("sealed %d: %v; want 2 and the not-IP error", n, err)
	}
	if out.NextSeq() != 3 {
		t.Fatalf("next sequence number %d after 2 packets", out.NextSeq())
	}
	if _, err := out.SealBatch(make([][]byte, 1), pkts); err == nil {
		t.Fatal("SealBatch with too few output buffers succeeded")
	}
	for _, b := range bufs[:n] {
		if _, err := in.Open(b); err != nil {
			t.Fatal(err)
		}
	}

	out.seq.SetLast(math.MaxUint32 - 3)
	pkts = [][]byte{p, p, p, p, p}
	bufs = make([][]byte, len(pkts))
	n, err = out.SealBatch(bufs, pkts)
	if n != 3 || !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("sealed %d: %v; want the 3 numbers left and ErrSeqExhausted", n, err)
	}
	if seqOf(bufs[2]) != math.MaxUint32 {
		t.Fatalf("last packet carries %d", seqOf(bufs[2]))
	}
	if n, err := out.SealBatch(bufs, pkts); n != 0 || !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("after exhaustion: %d, %v", n, err)
	}
	if _, err := out.Seal(nil, p); !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("Seal after exhaustion: %v", err)
	}
	if st := out.Stats(); st.Packets != 5 {
		t.Fatalf("stats %+v, want 5 packets", st)
	}
}

// TestSealBatchNoAllocs: with room in every buffer, a batch allocates
// nothing.
func TestSealBatchNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool allocate")
	}
	for _, idx := range []int{0, 8, 10} {
		cfg := suiteConfig(idx)
		cfg.Mode, cfg.TunnelSrc, cfg.TunnelDst = Tunnel, v4a, v4b
		out, _ := pair(t, cfg)
		pkts := make([][]byte, 16)
		bufs := make([][]byte, 16)
		for i := range pkts {
			pkts[i] = ipv4Packet(v4a, v4b, 1000)
			bufs[i] = make([]byte, 0, 1200)
		}
		out.SealBatch(bufs, pkts) // warm the pool
		if a := testing.AllocsPerRun(100, func() {
			for i := range bufs {
				bufs[i] = bufs[i][:0]
			}
			if _, err := out.SealBatch(bufs, pkts); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Fatalf("%s: %v allocations per batch", suites[idx].name, a)
		}
	}
}

// TestHotCountersShareALine: the sequence number and the traffic meter's
// pending word, which every sealed batch writes, lie in one cache line
// (64 bytes) that the SA's other fields do not use, for every SA however
// the allocator placed it.
func TestHotCountersShareALine(t *testing.T) {
	if unsafe.Sizeof(hotCounters{}) != hotSize {
		t.Fatalf("hotCounters is %d bytes, want %d", unsafe.Sizeof(hotCounters{}), hotSize)
	}
	const line = 64
	for i := range 64 {
		sa, _ := pair(t, benchConfig(0, Tunnel))
		seq := uintptr(unsafe.Pointer(&sa.seq))
		pending := uintptr(unsafe.Pointer(&sa.traffic))
		base, end := uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(sa))+unsafe.Sizeof(*sa)
		if seq/line != (pending+7)/line {
			t.Fatalf("SA %d: sequence number at %#x and meter at %#x are in different cache lines", i, seq, pending)
		}
		if seq/line >= base/line && seq/line < (end+line-1)/line {
			t.Fatalf("SA %d: the counters' line %#x is shared with the SA at [%#x, %#x)", i, seq/line*line, base, end)
		}
	}
}
