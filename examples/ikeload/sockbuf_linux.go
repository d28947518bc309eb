package main

import (
	"net"
	"syscall"
	"time"
	"unsafe"
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

// enableTimestamps has the kernel stamp each datagram the socket receives
// with its arrival time (SO_TIMESTAMPNS), which arrival reads from a
// message's control data: a queued window ends when its last response
// arrived, not when a source that reads lazily got to it.
func enableTimestamps(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
}

// timestampSpace is the control data room for one timestamp.
var timestampSpace = syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{})))

// arrival returns the time stamped in oob (the control data of a message
// received with enableTimestamps), if there is one.
func arrival(oob []byte) (time.Time, bool) {
	cms, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, cm := range cms {
		if cm.Header.Level == syscall.SOL_SOCKET && cm.Header.Type == syscall.SCM_TIMESTAMPNS &&
			len(cm.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			var ts syscall.Timespec
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), cm.Data)
			return time.Unix(ts.Unix()), true
		}
	}
	return time.Time{}, false
}
