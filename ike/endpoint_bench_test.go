package ike

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// benchEndpoint is an Endpoint that is not bound, whose worker 0 holds
// one real established responder session and filler more sessions in its
// SPI table and timer heap, and the initiator's retransmitted liveness
// check for the real one: the datagram the benchmark feeds it.
type benchEndpoint struct {
	e   *Endpoint
	r   *reader
	w   *worker
	req []byte
}

func newBenchEndpoint(b *testing.B, filler int) *benchEndpoint {
	e, err := NewEndpoint(EndpointConfig{IKEAddr: netip.MustParseAddrPort("127.0.0.1:500"),
		NATTAddr: netip.MustParseAddrPort("127.0.0.1:4500"), Workers: 1, QueueLen: 16})
	if err != nil {
		b.Fatal(err)
	}
	w := e.workers[0]
	now := time.Now()
	for i := range filler {
		es := w.add(v2Session{&Session{sa: &ikeSA{}}}, addrI, false, false)
		var spi [8]byte
		binary.BigEndian.PutUint64(spi[:], uint64(i)+1<<60)
		es.spis = [][8]byte{spi}
		e.sessions.put(spi, es)
		w.timers.set(es, now.Add(time.Hour+time.Duration(i)*time.Millisecond))
	}
	p := establishWith(b, pskConfig(b, true, floodSuite, "aes128gcm16"), pskConfig(b, false, floodSuite, "aes128gcm16"))
	es := w.add(v2Session{p.r}, addrI, false, false)
	es.up = true
	w.flush(now, es)
	if err := p.i.startDPD(p.now); err != nil {
		b.Fatal(err)
	}
	req := p.i.Datagrams()[0]
	be := &benchEndpoint{e: e, r: &reader{e: e}, w: w, req: req}
	be.once() // the first time it is answered; then from the cache
	return be
}

// once dispatches the request as a reader would and processes it as the
// worker would, dropping what it would send.
func (be *benchEndpoint) once() {
	be.r.dispatch(time.Now(), be.req, addrI, false)
	be.w.process(<-be.w.in)
	clear(be.w.out[0])
	be.w.out[0] = be.w.out[0][:0]
}

// BenchmarkEndpointDatagram measures the endpoint's whole path for one
// datagram of an established IKE SA (reader dispatch by SPI, the worker,
// the session answering a retransmitted request from its cache, the
// flush that reschedules its timer), with 100,000 other IKE SAs in the
// SPI table and the timer heap. x-baseline is its time over the same
// with 100 others, timed alternately: the cost per datagram does not
// depend on the number of sessions when it stays near 1.
func BenchmarkEndpointDatagram(b *testing.B) {
	small, large := newBenchEndpoint(b, 100), newBenchEndpoint(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		large.once()
	}
	n := 2000
	ratios := make([]float64, 21)
	run := func(be *benchEndpoint) time.Duration {
		start := time.Now()
		for range n {
			be.once()
		}
		return time.Since(start)
	}
	for r := range ratios {
		var tl, ts time.Duration
		if r%2 == 0 {
			tl, ts = run(large), run(small)
		} else {
			ts, tl = run(small), run(large)
		}
		ratios[r] = float64(tl) / float64(ts)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-baseline")
}

// BenchmarkSendESPBatch sends 32 ESP packets of 1400 bytes to one peer
// with one SendESPBatch (sendmmsg); x-baseline is its time over 32
// SendESP calls, timed alternately.
func BenchmarkSendESPBatch(b *testing.B) {
	lo := netip.MustParseAddr("127.0.0.1")
	e, err := NewEndpoint(EndpointConfig{IKEAddr: netip.AddrPortFrom(lo, 0), NATTAddr: netip.AddrPortFrom(lo, 0)})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	pkts := make([][]byte, 32)
	for i := range pkts {
		pkts[i] = make([]byte, 1400)
		pkts[i][3] = 1
	}
	batch := func() {
		if _, err := e.SendESPBatch(to, pkts); err != nil {
			b.Fatal(err)
		}
	}
	single := func() {
		for _, p := range pkts {
			if err := e.SendESP(to, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(32 * 1400)
	b.ReportAllocs()
	for b.Loop() {
		batch()
	}
	ratios := make([]float64, 21)
	timed := func(f func()) time.Duration {
		start := time.Now()
		for range 20 {
			f()
		}
		return time.Since(start)
	}
	for r := range ratios {
		var tb, ts time.Duration
		if r%2 == 0 { // alternate which goes first
			tb, ts = timed(batch), timed(single)
		} else {
			ts, tb = timed(single), timed(batch)
		}
		ratios[r] = float64(tb) / float64(ts)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-baseline")
}
