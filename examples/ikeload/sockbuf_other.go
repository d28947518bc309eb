//go:build !linux

package main

import (
	"net"
	"time"
)

// setBuffers asks for socket buffers of n bytes each way.
func setBuffers(c *net.UDPConn, n int) {
	_ = c.SetReadBuffer(n)
	_ = c.SetWriteBuffer(n)
}

// enableTimestamps does nothing here: arrival times are taken when read.
func enableTimestamps(*net.UDPConn) {}

const timestampSpace = 0

// arrival finds no timestamp here.
func arrival([]byte) (time.Time, bool) { return time.Time{}, false }
