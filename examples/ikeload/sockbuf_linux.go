package main

import (
	"net"
	"syscall"
)

// setBuffers asks for socket buffers of n bytes each way: with
// SO_RCVBUFFORCE and SO_SNDBUFFORCE where allowed (root), which pass the
// system maximum (net.core.rmem_max, often 208 KB, which a source's share
// of the phased window of responses can overflow), else with the plain
// options.
func setBuffers(c *net.UDPConn, n int) {
	_ = c.SetReadBuffer(n)
	_ = c.SetWriteBuffer(n)
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, n)
	})
}
