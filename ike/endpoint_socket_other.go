//go:build !linux

package ike

import "net"

// setBuffers asks for socket buffers of read and write bytes (negative:
// leave them). Only Linux reports what was granted (and has the FORCE
// options); elsewhere the result is what was asked for.
func setBuffers(c *net.UDPConn, read, write int) (gotRead, gotWrite int) {
	if read > 0 && c.SetReadBuffer(read) == nil {
		gotRead = read
	}
	if write > 0 && c.SetWriteBuffer(write) == nil {
		gotWrite = write
	}
	return gotRead, gotWrite
}

// enableOffloads: UDP GSO and GRO are Linux's.
func enableOffloads(*net.UDPConn) (gso bool) { return false }

// enableDrops: the drop count is Linux's.
func enableDrops(*net.UDPConn) {}
