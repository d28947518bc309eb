package dataplane

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// The plane is tested against a plain reference model: every packet that
// the fake crypto lets through leaves, transformed, in the order it came
// in; every other packet is counted under its cause. The fakes below
// deliver random batch sizes, the fake crypto takes a random time per
// packet (so the workers finish batches out of order), and the fake
// bind coalesces each Send the way conn's UDP GSO path does (appending
// into the first buffer's spare capacity), which checks the slot layout.

// fakeTUN hands out the packets of in, in batches of random size, and
// records what is written. It has no virtio-net header.
type fakeTUN struct {
	mu      sync.Mutex
	in      [][]byte
	rng     *rand.Rand
	written [][]byte
	closed  chan struct{}
	once    sync.Once
}

func (f *fakeTUN) ReadFrames(bufs [][]byte, sizes []int) (int, error) {
	f.mu.Lock()
	if len(f.in) == 0 {
		f.mu.Unlock()
		<-f.closed
		return 0, os.ErrClosed
	}
	n := min(1+f.rng.IntN(len(bufs)), len(f.in))
	for i := range n {
		sizes[i] = copy(bufs[i], f.in[i])
	}
	f.in = f.in[n:]
	f.mu.Unlock()
	return n, nil
}

func (f *fakeTUN) WriteFrame(pieces [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.written = append(f.written, bytes.Join(pieces, nil))
	return nil
}
func (f *fakeTUN) VNetHdr() bool { return false }
func (f *fakeTUN) Close() error  { f.once.Do(func() { close(f.closed) }); return nil }

// fakeUDP receives the datagrams of in (from 192.0.2.9:4501) in batches
// of random size, runs of equal-sized ones sometimes as one GRO train,
// and records what is sent, per destination, splitting GSO sends.
type fakeUDP struct {
	mu     sync.Mutex
	in     [][]byte
	rng    *rand.Rand
	sent   []sentPacket
	closed chan struct{}
	once   sync.Once
}

type sentPacket struct {
	to  string
	pkt []byte
}

func (f *fakeUDP) ReadMsgs(bufs [][]byte, sizes, segs []int, from []netip.AddrPort) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.in) == 0 {
		f.mu.Unlock()
		<-f.closed
		f.mu.Lock()
		return 0, net.ErrClosed
	}
	n := min(1+f.rng.IntN(len(bufs)), len(f.in))
	for i := range n {
		from[i] = netip.MustParseAddrPort("192.0.2.9:4501")
		sizes[i], segs[i] = copy(bufs[i], f.in[0]), 0
		first := len(f.in[0])
		f.in = f.in[1:]
		// A GRO train: more datagrams of the first's size, the last
		// possibly shorter.
		for first > 0 && f.rng.IntN(2) == 0 && len(f.in) > 0 && len(f.in[0]) > 0 && len(f.in[0]) <= first && sizes[i]+len(f.in[0]) <= len(bufs[i]) {
			segs[i] = first
			short := len(f.in[0]) < first
			sizes[i] += copy(bufs[i][sizes[i]:], f.in[0])
			f.in = f.in[1:]
			if short {
				break
			}
		}
		if len(f.in) == 0 {
			return i + 1, nil
		}
	}
	return n, nil
}

func (f *fakeUDP) WriteSegs(to netip.AddrPort, buf []byte, seg int) error {
	if seg == 0 {
		seg = len(buf)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(buf) > 0 {
		d := buf[:min(seg, len(buf))]
		f.sent = append(f.sent, sentPacket{to.String(), bytes.Clone(d)})
		buf = buf[len(d):]
	}
	return nil
}
func (f *fakeUDP) MaxSegs() int    { return 64 }
func (f *fakeUDP) Dropped() uint64 { return 0 }
func (f *fakeUDP) Port() uint16    { return 4501 }
func (f *fakeUDP) Close() error    { f.once.Do(func() { close(f.closed) }); return nil }

// fakeCrypto: byte 0 of a packet is the cause to return (0 to pass),
// byte 1 picks the destination; "sealing" prefixes 'E' and reverses
// nothing else; "opening" removes it.
type fakeCrypto struct{}

var peers = []Dest{
	{Addr: netip.MustParseAddrPort("192.0.2.1:4501")},
	{Addr: netip.MustParseAddrPort("192.0.2.2:4501")},
	{Addr: netip.MustParseAddrPort("192.0.2.3:4500"), Endpoint: true},
}

func work() {
	// A random amount of work, so that the workers overtake each other.
	n := rand.IntN(2000)
	x := 0
	for i := range n {
		x += i
	}
	_ = x
}

func (fakeCrypto) Outbound(out, pkt []byte) ([]byte, Dest, Cause) {
	work()
	if c := Cause(pkt[0]); c != CauseNone {
		return nil, Dest{}, c
	}
	if pkt[2]%8 == 0 {
		// Sealed elsewhere, not in place.
		out = nil
	}
	out = append(out, 'E')
	return append(out, pkt...), peers[int(pkt[1])%len(peers)], CauseNone
}

func (fakeCrypto) Inbound(from netip.AddrPort, viaEndpoint bool, buf []byte, off, end int) ([]byte, Cause) {
	work()
	pkt := buf[off:end]
	if len(pkt) < 2 || pkt[0] != 'E' {
		return nil, CauseMalformed
	}
	if c := Cause(pkt[1]); c != CauseNone {
		return nil, c
	}
	return pkt[1:], CauseNone
}

// packets makes n packets of random sizes, about one in ten with a drop
// cause in byte 0, each numbered.
func packets(rng *rand.Rand, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		p := make([]byte, 20+rng.IntN(MaxMTU-20))
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		p[0] = 0
		if rng.IntN(10) == 0 {
			p[0] = byte(1 + rng.IntN(int(numCauses)-1))
		}
		p[1] = byte(rng.IntN(4)) // mostly runs to the same peer, sometimes not
		if p[1] == 3 {
			p[1] = 0
		}
		copy(p[2:], fmt.Sprintf("%08d", i))
		out[i] = p
	}
	return out
}

func TestPlaneMatchesModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			out := packets(rng, 3000)
			in := packets(rng, 3000)
			for _, p := range in {
				p[0], p[1] = 'E', p[0] // the cause moves to byte 1
			}
			// A malformed datagram, and one that is empty.
			in = append(in, []byte{'X', 0, 1, 2}, []byte{})
			// Packets that arrive through the IKE endpoint instead,
			// numbered apart.
			viaEndpoint := packets(rng, 1000)
			for i, p := range viaEndpoint {
				p[0], p[1] = 'E', p[0]
				copy(p[2:], fmt.Sprintf("P%07d", i))
			}
			ft := &fakeTUN{in: cloneAll(out), rng: rand.New(rand.NewPCG(seed, 2)), closed: make(chan struct{})}
			fb := &fakeUDP{in: cloneAll(in), rng: rand.New(rand.NewPCG(seed, 3)), closed: make(chan struct{})}
			var viaEP sync.Mutex
			var epSent []sentPacket
			p, err := New(Config{TUN: ft, UDP: fb, Crypto: fakeCrypto{}, Workers: 3,
				SendEndpoint: func(to netip.AddrPort, pkts [][]byte) error {
					viaEP.Lock()
					defer viaEP.Unlock()
					for _, b := range pkts {
						epSent = append(epSent, sentPacket{to.String(), bytes.Clone(b)})
					}
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				// In batches of random size, as the endpoint reads them.
				src := netip.MustParseAddrPort("192.0.2.9:4500")
				r := rand.New(rand.NewPCG(seed, 4))
				for rest := viaEndpoint; len(rest) > 0; {
					n := min(1+r.IntN(20), len(rest))
					from := make([]netip.AddrPort, n)
					for i := range from {
						from[i] = src
					}
					p.InboundESPBatch(from, cloneAll(rest[:n]))
					rest = rest[n:]
				}
			}()
			// The reference model.
			var wantOut []sentPacket
			var wantDrops [2][numCauses]uint64
			for _, b := range out {
				if c := Cause(b[0]); c != CauseNone {
					wantDrops[Outbound][c]++
					continue
				}
				d := peers[int(b[1])%len(peers)]
				wantOut = append(wantOut, sentPacket{d.Addr.String(), append([]byte{'E'}, b...)})
			}
			var wantIn, wantEP [][]byte
			for _, b := range viaEndpoint {
				if b[1] != 0 {
					wantDrops[Inbound][Cause(b[1])]++
				} else {
					wantEP = append(wantEP, b[1:])
				}
			}
			for _, b := range in {
				switch {
				case len(b) == 0:
					wantDrops[Inbound][CauseMalformed]++
				case b[0] != 'E':
					wantDrops[Inbound][CauseMalformed]++
				case b[1] != 0:
					wantDrops[Inbound][Cause(b[1])]++
				default:
					wantIn = append(wantIn, b[1:])
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				s := p.Stats()
				done := s.Drops == wantDrops && s.Packets[Outbound] == uint64(len(wantOut)) && s.Packets[Inbound] == uint64(len(wantIn)+len(wantEP))
				if done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("stats %+v, want drops %v, %d out, %d in", s, wantDrops, len(wantOut), len(wantIn)+len(wantEP))
				}
				time.Sleep(5 * time.Millisecond)
			}
			p.Close()
			// Sends through the bind and through the endpoint interleave
			// in time; each peer's packets are in order either way.
			got := map[string][][]byte{}
			for _, s := range append(fb.sent, epSent...) {
				got[s.to] = append(got[s.to], s.pkt)
			}
			want := map[string][][]byte{}
			for _, s := range wantOut {
				want[s.to] = append(want[s.to], s.pkt)
			}
			for to, w := range want {
				if !equalAll(got[to], w) {
					t.Errorf("to %s: %d packets, want %d, or out of order", to, len(got[to]), len(w))
				}
			}
			// Each source's packets reach the TUN in order.
			var gotIn, gotEP [][]byte
			for _, b := range ft.written {
				if b[1] == 'P' {
					gotEP = append(gotEP, b)
				} else {
					gotIn = append(gotIn, b)
				}
			}
			if !equalAll(gotIn, wantIn) {
				t.Errorf("TUN: %d packets from the socket written, want %d, or out of order", len(gotIn), len(wantIn))
			}
			if !equalAll(gotEP, wantEP) {
				t.Errorf("TUN: %d packets from the endpoint written, want %d, or out of order", len(gotEP), len(wantEP))
			}
		})
	}
}

func cloneAll(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, b := range in {
		out[i] = bytes.Clone(b)
	}
	return out
}

func equalAll(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestOffsetIn(t *testing.T) {
	s := make([]byte, 100)
	for _, c := range []struct {
		sub  []byte
		want int
	}{
		{s[10:20], 10}, {s[0:100], 0}, {s[99:100], 99}, {s[:0], -1},
		{make([]byte, 5), -1}, {s[95:100:100], 95},
	} {
		if got := offsetIn(s[:100], c.sub); got != c.want {
			t.Errorf("offsetIn(.., [%d:%d]) = %d, want %d", cap(s)-cap(c.sub), cap(s)-cap(c.sub)+len(c.sub), got, c.want)
		}
	}
	// A sub-slice that runs past the end of s is not inside it.
	if got := offsetIn(s[:50], s[40:60]); got != -1 {
		t.Errorf("overhanging sub-slice: %d, want -1", got)
	}
}

func TestStatsWriteTo(t *testing.T) {
	var s Stats
	s.Packets = [2]uint64{3, 4}
	s.Drops[Inbound][CauseReplay] = 2
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := "outbound: packets=3 bytes=0 batches=0\ninbound: packets=4 bytes=0 batches=0 replay=2\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
