//go:build !linux

package main

import "net"

// setBuffers asks for socket buffers of n bytes each way.
func setBuffers(c *net.UDPConn, n int) {
	_ = c.SetReadBuffer(n)
	_ = c.SetWriteBuffer(n)
}
