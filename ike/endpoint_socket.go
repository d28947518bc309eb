package ike

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// listenUDP binds addr: an IPv4 socket for an IPv4 address (so that
// batched writes take IPv4 destinations), the dual-stack default
// otherwise.
func listenUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	network := "udp"
	if addr.Addr().Is4() {
		network = "udp4"
	}
	return net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
}

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
				if force == 0 || syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, force, n) != nil {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, plain, n)
				}
			}
			v, _ := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, plain)
			return v
		}
		gotRead = set(soRcvbufForce, syscall.SO_RCVBUF, read)
		gotWrite = set(soSndbufForce, syscall.SO_SNDBUF, write)
	})
	return gotRead, gotWrite
}

// batchConn reads and writes batches of datagrams with recvmmsg and
// sendmmsg (x/net's ReadBatch and WriteBatch) where the platform has
// them. Writes are batched only on IPv4 sockets, whose destinations are
// all IPv4; a dual-stack socket writes one datagram at a time.
type batchConn struct {
	c  *net.UDPConn
	p4 *ipv4.PacketConn
	p6 *ipv6.PacketConn
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{c: c}
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		b.p4 = ipv4.NewPacketConn(c)
	} else {
		b.p6 = ipv6.NewPacketConn(c)
	}
	return b
}

// readBatch reads up to len(ms) datagrams into the messages' buffers.
func (b *batchConn) readBatch(ms []ipv4.Message) (int, error) {
	if b.p4 != nil {
		return b.p4.ReadBatch(ms, 0)
	}
	return b.p6.ReadBatch(ms, 0)
}

// write sends datagrams to their destinations, batched where possible,
// and returns how many were sent.
func (b *batchConn) write(out []outDatagram) (int, error) {
	if b.p4 == nil || len(out) == 1 {
		for i, d := range out {
			if _, err := b.c.WriteToUDPAddrPort(d.b, d.to); err != nil {
				return i, err
			}
		}
		return len(out), nil
	}
	ms := make([]ipv4.Message, len(out))
	for i := range out {
		ms[i].Buffers = [][]byte{out[i].b}
		ms[i].Addr = net.UDPAddrFromAddrPort(out[i].to)
	}
	return writeAll(b.p4, ms)
}

// writeTo sends packets to one destination, batched where possible.
func (b *batchConn) writeTo(packets [][]byte, to netip.AddrPort) (int, error) {
	if b.p4 == nil || len(packets) == 1 {
		for i, p := range packets {
			if _, err := b.c.WriteToUDPAddrPort(p, to); err != nil {
				return i, err
			}
		}
		return len(packets), nil
	}
	addr := net.UDPAddrFromAddrPort(to)
	ms := make([]ipv4.Message, len(packets))
	bufs := make([][]byte, len(packets))
	for i, p := range packets {
		bufs[i] = p
		ms[i].Buffers = bufs[i : i+1]
		ms[i].Addr = addr
	}
	return writeAll(b.p4, ms)
}

// writeAll calls WriteBatch until every message is sent or it fails.
func writeAll(p *ipv4.PacketConn, ms []ipv4.Message) (int, error) {
	sent := 0
	for sent < len(ms) {
		n, err := p.WriteBatch(ms[sent:], 0)
		sent += n
		if err != nil {
			return sent, err
		}
		if n == 0 {
			break
		}
	}
	return sent, nil
}

// outDatagram is a datagram a worker has yet to send.
type outDatagram struct {
	b  []byte
	to netip.AddrPort
}
