package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestUDPReadMsgs sends datagrams to the plane's socket on loopback and
// reads them back in batches: each in order, whole, from its sender, and
// a batch never larger than the buffers given.
func TestUDPReadMsgs(t *testing.T) {
	u, err := ListenUDP(0)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(u.Port())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sent [][]byte
	for i := range 7 {
		p := bytes.Repeat([]byte{byte(i + 1)}, 100+i)
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}
	me := c.LocalAddr().(*net.UDPAddr).AddrPort()
	me = netip.AddrPortFrom(me.Addr().Unmap(), me.Port())
	bufs := [][]byte{make([]byte, 2048), make([]byte, 2048), make([]byte, 2048)}
	sizes, segs, from := make([]int, 3), make([]int, 3), make([]netip.AddrPort, 3)
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < len(sent) && time.Now().Before(deadline) {
		n, err := u.ReadMsgs(bufs, sizes, segs, from)
		if err != nil {
			t.Fatal(err)
		}
		if n < 1 || n > len(bufs) {
			t.Fatalf("batch of %d", n)
		}
		for i := range n {
			if segs[i] != 0 || from[i] != me {
				t.Fatalf("message %d: seg %d from %v, want 0 from %v", len(got), segs[i], from[i], me)
			}
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("%d datagrams read, %d sent", len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("datagram %d differs", i)
		}
	}
}
