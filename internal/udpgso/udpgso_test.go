//go:build linux

package udpgso

import (
	"encoding/binary"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestOOBRoundTrip: the UDP_SEGMENT control message parses back as one
// message of level UDP carrying the size, and a UDP_GRO message built the
// same way gives its size to GROSize.
func TestOOBRoundTrip(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("UDP offloads are Linux's")
	}
	var b [OOBLen]byte
	oob := SegmentOOB(b[:], 1466)
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 || msgs[0].Header.Level != syscall.IPPROTO_UDP || msgs[0].Header.Type != udpSegment ||
		binary.NativeEndian.Uint16(msgs[0].Data) != 1466 {
		t.Fatalf("UDP_SEGMENT message %x: %v %+v", oob, err, msgs)
	}
	gro := make([]byte, syscall.CmsgSpace(4))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&gro[0]))
	h.Level, h.Type = syscall.IPPROTO_UDP, udpGRO
	h.SetLen(syscall.CmsgLen(4))
	binary.NativeEndian.PutUint32(gro[syscall.CmsgLen(0):], 1400)
	if n := GROSize(gro); n != 1400 {
		t.Fatalf("GROSize = %d, want 1400", n)
	}
	if n := GROSize(nil); n != 0 {
		t.Fatalf("GROSize(nil) = %d", n)
	}
	// A drop count beside it.
	ovfl := make([]byte, syscall.CmsgSpace(4))
	h = (*syscall.Cmsghdr)(unsafe.Pointer(&ovfl[0]))
	h.Level, h.Type = syscall.SOL_SOCKET, soRxqOvfl
	h.SetLen(syscall.CmsgLen(4))
	binary.NativeEndian.PutUint32(ovfl[syscall.CmsgLen(0):], 7)
	if seg, drops, ok := Parse(append(gro, ovfl...)); seg != 1400 || drops != 7 || !ok {
		t.Fatalf("Parse = %d, %d, %v; want 1400, 7, true", seg, drops, ok)
	}
}

// TestDropsReported: a socket that cannot keep up reports, with the next
// datagram it reads, how many the kernel dropped.
func TestDropsReported(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rc, _ := rx.SyscallConn()
	var ok bool
	rc.Control(func(fd uintptr) {
		ok = EnableDrops(fd)
		syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) // the kernel's minimum
	})
	if !ok {
		t.Fatal("SO_RXQ_OVFL refused")
	}
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for range 200 {
		tx.Write(make([]byte, 1000))
	}
	// The count comes with the datagrams queued after a drop (the kernel
	// notes it in each as it is queued): read them all, then send one
	// more.
	buf, oob := make([]byte, 2000), make([]byte, 64)
	var most uint32
	read := func() {
		for {
			rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, oobn, _, _, err := rx.ReadMsgUDP(buf, oob)
			if err != nil {
				return
			}
			if _, drops, ok := Parse(oob[:oobn]); ok {
				most = max(most, drops)
			}
		}
	}
	read()
	tx.Write(make([]byte, 1000))
	read()
	if most == 0 {
		t.Fatal("no drop count reported after 200 datagrams into a 4 KB buffer")
	}
	t.Logf("the kernel reported %d datagrams dropped", most)
}

// FuzzGROSize: any control data gives a size or 0, without panicking.
func FuzzGROSize(f *testing.F) {
	var b [OOBLen]byte
	f.Add(SegmentOOB(b[:], 1400))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) { _ = GROSize(oob) })
}
