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
	// Reads: ReadFrames's arguments, for readOne, under rmu.
	rmu    sync.Mutex
	rd     batchRead
	rbufs  [][]byte
	rsizes []int
	// Writes: the iovecs, writev's error and writev itself as a func
	// bound once, under mu.
	mu     sync.Mutex
	iov    []unix.Iovec
	werr   error
	writev func(fd uintptr) bool
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
	t := &tunFile{dev: dev, rc: rc, vnet: flags&unix.IFF_VNET_HDR != 0}
	t.rd.init(rc, t.readOne)
	t.writev = t.writevOnce
	return t, nil
}

func (t *tunFile) VNetHdr() bool { return t.vnet }
func (t *tunFile) Close() error  { return t.dev.Close() }

func (t *tunFile) ReadFrames(bufs [][]byte, sizes []int) (int, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	t.rbufs, t.rsizes = bufs, sizes
	n, err := t.rd.readMany(len(bufs))
	t.rbufs, t.rsizes = nil, nil
	return n, err
}

func (t *tunFile) readOne(fd, i int) error {
	m, err := unix.Read(fd, t.rbufs[i])
	t.rsizes[i] = m
	return err
}

// batchRead reads a batch from a non-blocking file descriptor on Go's
// poller: it waits until the descriptor is readable, then calls read for
// i = 0, 1, ... while it succeeds, up to n times (one read that waits,
// then those that do not). Its state lives in the struct and the poller's
// callback is a method value bound once, so that a batch allocates
// nothing (a closure per call escapes to the heap). Not safe for
// concurrent use.
type batchRead struct {
	rc     syscall.RawConn
	read   func(fd, i int) error
	n, got int
	err    error
	step   func(fd uintptr) bool // b.readReady
}

func (b *batchRead) init(rc syscall.RawConn, read func(fd, i int) error) {
	b.rc, b.read = rc, read
	b.step = b.readReady
}

// readMany reads up to n and returns how many it read.
func (b *batchRead) readMany(n int) (int, error) {
	b.n, b.got, b.err = n, 0, nil
	err := b.rc.Read(b.step)
	if b.got > 0 {
		return b.got, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, b.err
}

func (b *batchRead) readReady(fd uintptr) bool {
	for b.got < b.n {
		err := b.read(int(fd), b.got)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return b.got > 0 // wait for the first, not for more
		case err != nil:
			b.err = err
			return true
		}
		b.got++
	}
	return true
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
	t.werr = nil
	err := t.rc.Write(t.writev)
	clear(t.iov) // the caller's buffers
	if err != nil {
		return err
	}
	return t.werr
}

// writevOnce writes t.iov (under t.mu); false asks the poller to wait.
func (t *tunFile) writevOnce(fd uintptr) bool {
	_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&t.iov[0])), uintptr(len(t.iov)))
	switch e {
	case 0:
	case unix.EAGAIN:
		return false
	default:
		t.werr = e
	}
	return true
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
	// Reads: ReadMsgs's arguments, for readOne, under rmu.
	rmu           sync.Mutex
	rd            batchRead
	rbufs         [][]byte
	rsizes, rsegs []int
	rfrom         []netip.AddrPort
	oob           [64]byte
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
	s.rd.init(rc, s.readOne)
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
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.rbufs, s.rsizes, s.rsegs, s.rfrom = bufs, sizes, segs, from
	n, err := s.rd.readMany(len(bufs))
	s.rbufs, s.rsizes, s.rsegs, s.rfrom = nil, nil, nil, nil
	return n, err
}

func (s *udpSock) readOne(fd, i int) error {
	m, oobn, _, sa, err := unix.Recvmsg(fd, s.rbufs[i], s.oob[:], 0)
	if err == nil {
		seg, drops, ok := udpgso.Parse(s.oob[:oobn])
		s.rsizes[i], s.rsegs[i], s.rfrom[i] = m, seg, addrPortOf(sa)
		if ok && uint64(drops) > s.drops.Load() {
			s.drops.Store(uint64(drops)) // one reader: no race to lose
		}
	}
	return err
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
