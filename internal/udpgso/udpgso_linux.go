package udpgso

import (
	"encoding/binary"
	"syscall"
	"unsafe"
)

// Linux's UDP socket options (include/uapi/linux/udp.h).
const (
	udpSegment = 103 // UDP_SEGMENT
	udpGRO     = 104 // UDP_GRO
)

// Enable turns on UDP GRO for the socket fd and reports whether the
// kernel takes UDP_SEGMENT sends and gives GRO trains.
func Enable(fd uintptr) (gso, gro bool) {
	_, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_UDP, udpSegment)
	gso = err == nil
	gro = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_UDP, udpGRO, 1) == nil
	return gso, gro
}

// OOBLen is the room SegmentOOB needs.
const OOBLen = 24

// SegmentOOB writes to b (at least OOBLen bytes) the control message that
// makes one send a run of datagrams of seg bytes, and returns it.
func SegmentOOB(b []byte, seg int) []byte {
	n := syscall.CmsgSpace(2)
	clear(b[:n])
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = syscall.IPPROTO_UDP, udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[syscall.CmsgLen(0):], uint16(seg))
	return b[:n]
}

// GROSize returns the datagram size of a GRO train from a received
// message's control data, or 0 for a single datagram.
func GROSize(oob []byte) int {
	if len(oob) == 0 {
		return 0
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.IPPROTO_UDP && m.Header.Type == udpGRO && len(m.Data) >= 4 {
			return int(int32(binary.NativeEndian.Uint32(m.Data)))
		}
	}
	return 0
}
