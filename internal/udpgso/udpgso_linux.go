package udpgso

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux's UDP socket options (include/uapi/linux/udp.h).
const (
	udpSegment = 103 // UDP_SEGMENT
	udpGRO     = 104 // UDP_GRO
)

// Enable turns on UDP GRO for the socket fd where the kernel has it (a
// read then reports its trains through Parse) and reports whether the
// kernel takes UDP_SEGMENT sends.
func Enable(fd uintptr) (gso bool) {
	_, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_UDP, udpSegment)
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_UDP, udpGRO, 1) // without it, Parse reports no trains
	return err == nil
}

// soRxqOvfl is SO_RXQ_OVFL (include/uapi/asm-generic/socket.h).
const soRxqOvfl = 40

// EnableDrops asks the kernel to report, with every datagram read from
// the socket fd, how many it has dropped so far because the socket's
// receive buffer was full (SO_RXQ_OVFL, Linux 2.6.33).
func EnableDrops(fd uintptr) bool {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soRxqOvfl, 1) == nil
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
	seg, _, _ := Parse(oob)
	return seg
}

// Parse reads a received message's control data: the datagram size of a
// GRO train (0 for a single datagram) and, with EnableDrops, the count of
// datagrams the socket has dropped so far (ok false without one).
func Parse(oob []byte) (seg int, drops uint32, ok bool) {
	if len(oob) == 0 {
		return 0, 0, false
	}
	// One message at a time, in place: syscall.ParseSocketControlMessage
	// allocates a slice of them for every datagram read. As there, bytes
	// too short for a header at the end are ignored, and a malformed
	// message spoils the lot.
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0, 0, false
		}
		switch {
		case h.Level == syscall.IPPROTO_UDP && h.Type == udpGRO && len(data) >= 4:
			seg = int(int32(binary.NativeEndian.Uint32(data)))
		case h.Level == syscall.SOL_SOCKET && h.Type == soRxqOvfl && len(data) >= 4:
			drops, ok = binary.NativeEndian.Uint32(data), true
		}
		oob = rest
	}
	return seg, drops, ok
}
