//go:build linux

package udpgso

import (
	"encoding/binary"
	"runtime"
	"syscall"
	"testing"
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
}

// FuzzGROSize: any control data gives a size or 0, without panicking.
func FuzzGROSize(f *testing.F) {
	var b [OOBLen]byte
	f.Add(SegmentOOB(b[:], 1400))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) { _ = GROSize(oob) })
}
