//go:build linux

package udpgso

import (
	"bytes"
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

// parseRef is Parse as it was, on syscall.ParseSocketControlMessage: the
// reference for the in-place walk.
func parseRef(oob []byte) (seg int, drops uint32, ok bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == syscall.IPPROTO_UDP && m.Header.Type == udpGRO && len(m.Data) >= 4:
			seg = int(int32(binary.NativeEndian.Uint32(m.Data)))
		case m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == soRxqOvfl && len(m.Data) >= 4:
			drops, ok = binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return seg, drops, ok
}

// TestParseMatchesReference: on valid control data with the messages in
// either order, on every prefix of it, and on it with a header length
// corrupted, Parse answers as the syscall package's parser does, and
// allocates nothing.
func TestParseMatchesReference(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("UDP offloads are Linux's")
	}
	msg := func(level, typ int32, v uint32) []byte {
		b := make([]byte, syscall.CmsgSpace(4))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(syscall.CmsgLen(4))
		binary.NativeEndian.PutUint32(b[syscall.CmsgLen(0):], v)
		return b
	}
	gro, ovfl, other := msg(syscall.IPPROTO_UDP, udpGRO, 1400), msg(syscall.SOL_SOCKET, soRxqOvfl, 9), msg(syscall.SOL_SOCKET, 99, 5)
	cases := [][]byte{
		append(append([]byte{}, gro...), ovfl...),
		append(append([]byte{}, ovfl...), gro...),
		append(append(append([]byte{}, other...), gro...), ovfl...),
	}
	for _, c := range cases {
		for n := 0; n <= len(c); n++ {
			b := bytes.Clone(c[:n])
			check := func(b []byte) {
				s, d, ok := Parse(b)
				rs, rd, rok := parseRef(b)
				if s != rs || d != rd || ok != rok {
					t.Fatalf("Parse(%x) = %d, %d, %v; reference %d, %d, %v", b, s, d, ok, rs, rd, rok)
				}
			}
			check(b)
			for _, l := range []uint64{0, 1, uint64(len(b)) + 1, 1 << 40} {
				if len(b) >= syscall.SizeofCmsghdr {
					bad := bytes.Clone(b)
					(*syscall.Cmsghdr)(unsafe.Pointer(&bad[0])).SetLen(int(l))
					check(bad)
				}
			}
		}
	}
	if a := testing.AllocsPerRun(100, func() { Parse(cases[0]) }); a != 0 {
		t.Fatalf("Parse allocates %v times", a)
	}
}
