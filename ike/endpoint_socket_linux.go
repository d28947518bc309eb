package ike

import (
	"encoding/binary"
	"net"
	"syscall"
	"unsafe"
)

// setBuffers asks for socket buffers of read and write bytes (negative:
// leave them), first with SO_RCVBUFFORCE/SO_SNDBUFFORCE, which pass the
// system maximum (net.core.rmem_max) for a process with CAP_NET_ADMIN,
// then with the plain options, and returns what the kernel granted.
func setBuffers(c *net.UDPConn, read, write int) (gotRead, gotWrite int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0
	}
	rc.Control(func(fd uintptr) {
		set := func(force, plain, n int) int {
			if n > 0 {
				// Linux doubles the value for bookkeeping; ask for n.
				if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, force, n) != nil {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, plain, n)
				}
			}
			v, _ := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, plain)
			return v
		}
		gotRead = set(syscall.SO_RCVBUFFORCE, syscall.SO_RCVBUF, read)
		gotWrite = set(syscall.SO_SNDBUFFORCE, syscall.SO_SNDBUF, write)
	})
	return gotRead, gotWrite
}

// Linux's UDP segmentation offloads (include/uapi/linux/udp.h).
const (
	udpSegment = 103 // UDP_SEGMENT: one send carries a run of datagrams
	udpGRO     = 104 // UDP_GRO: one receive returns a train of them
)

// enableOffloads turns on UDP GRO for c and reports whether the kernel
// takes UDP_SEGMENT sends (Linux 4.18) and gives GRO trains (5.0).
func enableOffloads(c *net.UDPConn) (gso, gro bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	rc.Control(func(fd uintptr) {
		_, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_UDP, udpSegment)
		gso = err == nil
		gro = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_UDP, udpGRO, 1) == nil
	})
	return gso, gro
}

// segmentOOB writes to b (at least 24 bytes) the control message that
// makes one send a run of datagrams of seg bytes, and returns it.
func segmentOOB(b []byte, seg int) []byte {
	n := syscall.CmsgSpace(2)
	clear(b[:n])
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = syscall.IPPROTO_UDP, udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[syscall.CmsgLen(0):], uint16(seg))
	return b[:n]
}

// groSize returns the datagram size of a GRO train from a received
// message's control data, or 0 for a single datagram.
func groSize(oob []byte) int {
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
