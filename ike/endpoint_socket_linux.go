package ike

import (
	"net"
	"syscall"

	"github.com/ipsecgo/ipsec/internal/udpgso"
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

// enableOffloads turns on UDP GRO for c and reports whether the kernel
// takes UDP_SEGMENT sends.
func enableOffloads(c *net.UDPConn) (gso bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	rc.Control(func(fd uintptr) { gso = udpgso.Enable(fd) })
	return gso
}

// enableDrops asks the kernel for c's drop count with every datagram
// (SO_RXQ_OVFL).
func enableDrops(c *net.UDPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { udpgso.EnableDrops(fd) })
	}
}
