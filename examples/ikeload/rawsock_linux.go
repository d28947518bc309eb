package main

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// rawSocket is a UDP socket outside Go's network poller, read without
// waiting. The sources of queued windows use it: a socket in the poller
// wakes the poller's thread for each response that arrives while no
// goroutine waits on it (edge-triggered epoll), which in a queued window,
// where the responses come back to back, cost this process a quarter of
// a core taken from the responder.
type rawSocket struct {
	fd    int
	local netip.AddrPort
}

func listenRaw(a netip.Addr) (*rawSocket, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	s := &rawSocket{fd: fd}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: a.As4()}); err != nil {
		s.close()
		return nil, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		s.close()
		return nil, err
	}
	s.local = netip.AddrPortFrom(a, uint16(sa.(*syscall.SockaddrInet4).Port))
	for _, o := range []int{syscall.SO_RCVBUF, syscall.SO_SNDBUF, syscall.SO_RCVBUFFORCE, syscall.SO_SNDBUFFORCE} {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, o, 4<<20)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	return s, nil
}

func (s *rawSocket) localAddr() netip.AddrPort { return s.local }
func (s *rawSocket) close()                    { syscall.Close(s.fd) }

// writeAll sends the messages one by one (queued windows send before the
// measured time), waiting briefly while the send buffer is full.
func (s *rawSocket) writeAll(ms []ipv4.Message) error {
	for i := range ms {
		to, ok := ms[i].Addr.(*net.UDPAddr)
		if !ok {
			return errors.New("rawSocket: not a UDP address")
		}
		sa := &syscall.SockaddrInet4{Port: to.Port}
		copy(sa.Addr[:], to.IP.To4())
		for {
			err := syscall.Sendto(s.fd, ms[i].Buffers[0], 0, sa)
			if err == syscall.EAGAIN || err == syscall.EINTR {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			if err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// readBatch reads what has arrived, up to len(ms) datagrams; it does not
// wait.
func (s *rawSocket) readBatch(ms []ipv4.Message, _ time.Duration) (int, error) {
	for i := range ms {
		m := &ms[i]
		n, oobn, _, from, err := syscall.Recvmsg(s.fd, m.Buffers[0], m.OOB[:cap(m.OOB)], syscall.MSG_DONTWAIT)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			return i, nil // what has arrived so far
		}
		if err != nil {
			return i, err
		}
		m.N, m.NN = n, oobn
		if sa, ok := from.(*syscall.SockaddrInet4); ok {
			m.Addr = &net.UDPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
		}
	}
	return len(ms), nil
}
