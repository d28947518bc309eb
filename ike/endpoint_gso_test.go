package ike

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestWriteSegments: runs of packets sent with UDP GSO (where the kernel
// has it) arrive as the datagrams they were, in order: equal-sized runs
// lying back to back in memory (sent from where they are), runs scattered
// in memory (copied), a shorter packet ending a run, larger ones starting
// the next, and runs longer than one send takes.
func TestWriteSegments(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	setBuffers(rx, 8<<20, -1)
	bc := newBatchConn(tx)
	gso := enableOffloads(tx)
	bc.gso.Store(gso)
	t.Logf("UDP GSO: %v", gso)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()

	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	var pkts [][]byte
	mk := func(n int) []byte {
		b := make([]byte, n)
		copy(b, fmt.Sprintf("%06d", len(want)))
		for i := 6; i < n; i++ {
			b[i] = byte(rng.Uint32())
		}
		want = append(want, b)
		return b
	}
	// Back to back in one array: 100 packets of 1000 bytes, a 300-byte
	// one, then 10 of 1200.
	region := make([]byte, 0, 200*1200)
	for range 100 {
		p := mk(1000)
		region = append(region, p...)
		pkts = append(pkts, region[len(region)-1000:len(region):cap(region)])
	}
	for _, n := range append([]int{300}, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200) {
		p := mk(n)
		region = append(region, p...)
		pkts = append(pkts, region[len(region)-n:len(region):cap(region)])
	}
	// Scattered: 30 packets of 700 in arrays of their own, and singles.
	for range 30 {
		pkts = append(pkts, mk(700))
	}
	pkts = append(pkts, mk(64), mk(1400), mk(64))
	n, err := bc.writeTo(pkts, to)
	if err != nil || n != len(pkts) {
		t.Fatalf("writeTo: %d of %d, %v", n, len(pkts), err)
	}
	buf := make([]byte, 65536)
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, w := range want {
		m, _, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:m], w) {
			t.Fatalf("datagram %d: %d bytes %q, want %d bytes %q", i, m, buf[:min(m, 6)], len(w), w[:6])
		}
	}
}

// TestEndpointSocketDrops: datagrams the kernel drops because the IKE
// socket's receive buffer is full are counted (SocketDrops) once traffic
// resumes, where the platform reports them (Linux's SO_RXQ_OVFL).
func TestEndpointSocketDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's drop count is Linux's")
	}
	e, err := NewEndpoint(EndpointConfig{IKEAddr: netip.MustParseAddrPort("127.0.0.1:0"),
		NATTAddr: netip.MustParseAddrPort("127.0.0.1:0"), ReadBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ikeAddr, _ := e.Addrs()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(ikeAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Nothing reads before Run: most of these are dropped.
	for range 300 {
		c.Write(make([]byte, 1000))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	waitFor(t, "the drop count", func() bool {
		c.Write(make([]byte, 1000)) // the count comes with the next datagram
		return e.Stats().SocketDrops > 0
	})
	t.Logf("SocketDrops %d", e.Stats().SocketDrops)
}
