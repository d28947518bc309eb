package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/ipsecgo/ipsec/internal/udpgso"
)

// tunFile is a Linux TUN device read and written as frames through its
// file descriptor (non-blocking, on Go's poller).
type tunFile struct {
	dev  tun.Device
	rc   syscall.RawConn
	vnet bool
	mu   sync.Mutex // iov
	iov  []unix.Iovec
}

// OpenTUN takes over the frames of a TUN device that
// golang.zx2c4.com/wireguard/tun created (with its offloads, when the
// kernel has them): the plane reads and writes its file descriptor
// directly, so that it can cut TSO super-packets into packets where they
// will be sealed, and write merged segments by writev without copying
// them. Closing the returned TUN closes dev.
func OpenTUN(dev tun.Device) (TUN, error) {
	f := dev.File()
	if f == nil {
		return nil, errors.New("dataplane: the TUN device has no file")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var flags uint16
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ifr, err := unix.NewIfreq("")
		if err != nil {
			ierr = err
			return
		}
		if ierr = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr); ierr == nil {
			flags = ifr.Uint16()
		}
	}); err != nil {
		return nil, err
	}
	if ierr != nil {
		return nil, fmt.Errorf("dataplane: TUNGETIFF: %w", ierr)
	}
	return &tunFile{dev: dev, rc: rc, vnet: flags&unix.IFF_VNET_HDR != 0}, nil
}

func (t *tunFile) VNetHdr() bool { return t.vnet }
func (t *tunFile) Close() error  { return t.dev.Close() }

func (t *tunFile) ReadFrames(bufs [][]byte, sizes []int) (int, error) {
	return readMany(t.rc, len(bufs), func(fd int, i int) error {
		m, err := unix.Read(fd, bufs[i])
		sizes[i] = m
		return err
	})
}

// readMany waits until fd is readable, then calls read for i = 0, 1, ...
// while it succeeds, up to n times, and returns how many did: one read
// that waits, then those that do not.
func readMany(rc syscall.RawConn, n int, read func(fd, i int) error) (int, error) {
	got := 0
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		for got < n {
			err := read(int(fd), got)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return got > 0 // wait for the first, not for more
			case err != nil:
				rerr = err
				return true
			}
			got++
		}
		return true
	})
	if got > 0 {
		return got, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, rerr
}

func (t *tunFile) WriteFrame(pieces [][]byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.iov = t.iov[:0]
	for _, p := range pieces {
		if len(p) > 0 {
			v := unix.Iovec{Base: &p[0]}
			v.SetLen(len(p))
			t.iov = append(t.iov, v)
		}
	}
	if len(t.iov) == 0 {
		return nil
	}
	var werr error
	err := t.rc.Write(func(fd uintptr) bool {
		_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&t.iov[0])), uintptr(len(t.iov)))
		switch e {
		case 0:
		case unix.EAGAIN:
			return false
		default:
			werr = e
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}

// udpSock is the plane's UDP socket with UDP GSO (UDP_SEGMENT) and GRO
// (UDP_GRO) where the kernel has them: one sendmsg carries a run of
// equal-sized datagrams, one recvmsg returns a train of them.
type udpSock struct {
	c    *net.UDPConn
	rc   syscall.RawConn
	port uint16
	v4   bool // an IPv4-only socket (no IPv6 on this host)
	gso  bool
	// drops is the kernel's count of datagrams dropped for a full receive
	// buffer, the largest it has reported (SO_RXQ_OVFL).
	drops atomic.Uint64
}

// socketBuffer is the size of the UDP socket's buffers: about 30 ms at
// 2 Gbit/s. Forced above the system's limits when running as root.
const socketBuffer = 7 << 20

// ListenUDP opens the plane's UDP port (0: any) on every address, IPv4
// and IPv6.
func ListenUDP(port uint16) (UDP, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	s := &udpSock{c: c, rc: rc, port: uint16(c.LocalAddr().(*net.UDPAddr).Port)}
	if err := rc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], socketBuffer) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], socketBuffer)
			}
		}
		s.gso = udpgso.Enable(fd)
		udpgso.EnableDrops(fd)
		sa, _ := unix.Getsockname(int(fd))
		_, s.v4 = sa.(*unix.SockaddrInet4)
	}); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func (s *udpSock) Port() uint16    { return s.port }
func (s *udpSock) Dropped() uint64 { return s.drops.Load() }
func (s *udpSock) Close() error    { return s.c.Close() }

func (s *udpSock) MaxSegs() int {
	if s.gso {
		return udpgso.MaxSegments
	}
	return 1
}

func (s *udpSock) ReadMsgs(bufs [][]byte, sizes, segs []int, from []netip.AddrPort) (int, error) {
	var oob [64]byte
	return readMany(s.rc, len(bufs), func(fd, i int) error {
		m, oobn, _, sa, err := unix.Recvmsg(fd, bufs[i], oob[:], 0)
		if err == nil {
			seg, drops, ok := udpgso.Parse(oob[:oobn])
			sizes[i], segs[i], from[i] = m, seg, addrPortOf(sa)
			if ok && uint64(drops) > s.drops.Load() {
				s.drops.Store(uint64(drops)) // one reader: no race to lose
			}
		}
		return err
	})
}

func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

func (s *udpSock) WriteSegs(to netip.AddrPort, buf []byte, seg int) error {
	var sa unix.Sockaddr
	if s.v4 {
		if !to.Addr().Unmap().Is4() {
			return errors.New("dataplane: IPv6 destination on an IPv4-only socket")
		}
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().Unmap().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	}
	if seg <= 0 || seg >= len(buf) {
		return s.sendmsg(sa, buf, nil)
	}
	if s.gso {
		var oob [udpgso.OOBLen]byte
		err := s.sendmsg(sa, buf, udpgso.SegmentOOB(oob[:], seg))
		if !errors.Is(err, unix.EIO) {
			return err
		}
		// EIO: the route's device cannot offload the checksums; send
		// the datagrams one by one from now on.
		s.gso = false
	}
	for len(buf) > 0 {
		d := buf[:min(seg, len(buf))]
		if err := s.sendmsg(sa, d, nil); err != nil {
			return err
		}
		buf = buf[len(d):]
	}
	return nil
}

func (s *udpSock) sendmsg(sa unix.Sockaddr, buf, oob []byte) error {
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		_, err := unix.SendmsgN(int(fd), buf, oob, sa, 0)
		if err == unix.EAGAIN {
			return false
		}
		serr = err
		return true
	})
	if err != nil {
		return err
	}
	return serr
}
