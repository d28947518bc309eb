package ike

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/ipsecgo/ipsec/internal/udpgso"
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

// batchConn reads and writes batches of datagrams with recvmmsg and
// sendmmsg (x/net's ReadBatch and WriteBatch) where the platform has
// them. Writes are batched only on IPv4 sockets, whose destinations are
// all IPv4; a dual-stack socket writes one datagram at a time.
type batchConn struct {
	c  *net.UDPConn
	p4 *ipv4.PacketConn
	p6 *ipv6.PacketConn
	// gso: runs of equal-sized packets to one destination go in one send
	// (UDP_SEGMENT), until the kernel refuses it.
	gso atomic.Bool
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
// and returns how many were sent. scratch is the caller's, reused from
// call to call so that a batch allocates nothing.
func (b *batchConn) write(out []outDatagram, scratch *writeScratch) (int, error) {
	if b.p4 == nil || len(out) == 1 {
		for i, d := range out {
			if _, err := b.c.WriteToUDPAddrPort(d.b, d.to); err != nil {
				return i, err
			}
		}
		return len(out), nil
	}
	return writeAll(b.p4, scratch.messages(out))
}

// writeScratch is the reusable state of a batched write: the messages,
// their one-buffer lists and their addresses. Not safe for concurrent
// use: each reader and worker has its own.
type writeScratch struct {
	out   []outDatagram // SendESPBatch's list
	ms    []ipv4.Message
	bufs  [][]byte
	addrs []net.UDPAddr
	ips   [][4]byte
}

func (w *writeScratch) messages(out []outDatagram) []ipv4.Message {
	if len(w.ms) < len(out) {
		n := max(len(out), 2*len(w.ms))
		w.ms, w.bufs = make([]ipv4.Message, n), make([][]byte, n)
		w.addrs, w.ips = make([]net.UDPAddr, n), make([][4]byte, n)
		for i := range w.ms {
			w.ms[i].Buffers = w.bufs[i : i+1 : i+1]
			w.addrs[i].IP = w.ips[i][:]
			w.ms[i].Addr = &w.addrs[i]
		}
	}
	for i, d := range out {
		w.bufs[i] = d.b
		w.ips[i] = d.to.Addr().Unmap().As4()
		w.addrs[i].Port = int(d.to.Port())
	}
	return w.ms[:len(out)]
}

// clear drops the references to sent datagrams.
func (w *writeScratch) clear(n int) { clear(w.bufs[:min(n, len(w.bufs))]) }

// writeTo sends packets to one destination, batched where possible.
func (b *batchConn) writeTo(packets [][]byte, to netip.AddrPort) (int, error) {
	if b.gso.Load() && len(packets) > 1 {
		return b.writeSegments(packets, to)
	}
	if b.p4 == nil || len(packets) == 1 {
		for i, p := range packets {
			if _, err := b.c.WriteToUDPAddrPort(p, to); err != nil {
				return i, err
			}
		}
		return len(packets), nil
	}
	sc := scratchPool.Get().(*writeScratch)
	out := sc.out[:0]
	for _, p := range packets {
		out = append(out, outDatagram{b: p, to: to})
	}
	n, err := writeAll(b.p4, sc.messages(out))
	clear(out)
	sc.out = out[:0]
	sc.clear(len(out))
	scratchPool.Put(sc)
	return n, err
}

// writeSegments sends packets to one destination as runs of equal-sized
// datagrams (the last of a run may be shorter), one UDP_SEGMENT send per
// run: from where the packets are when they lie back to back in memory (as
// the sealed runs of examples/gateway do), else from a copy.
func (b *batchConn) writeSegments(packets [][]byte, to netip.AddrPort) (int, error) {
	var oob [udpgso.OOBLen]byte
	var buf []byte
	sent := 0
	for sent < len(packets) {
		first := packets[sent]
		seg, total, j := len(first), len(first), sent+1
		adjacent := true
		for j < len(packets) && j-sent < udpgso.MaxSegments && seg > 0 {
			p := packets[j]
			if len(p) == 0 || len(p) > seg || total+len(p) > udpgso.MaxBytes {
				break
			}
			adjacent = adjacent && unsafe.Pointer(unsafe.SliceData(p)) == unsafe.Add(unsafe.Pointer(unsafe.SliceData(first)), total) && cap(first) >= total+len(p)
			total += len(p)
			j++
			if len(p) < seg {
				break // only the last may be shorter
			}
		}
		var err error
		switch {
		case j-sent == 1:
			_, err = b.c.WriteToUDPAddrPort(first, to)
		case adjacent:
			_, _, err = b.c.WriteMsgUDPAddrPort(first[:total], udpgso.SegmentOOB(oob[:], seg), to)
		default:
			buf = buf[:0]
			for _, p := range packets[sent:j] {
				buf = append(buf, p...)
			}
			_, _, err = b.c.WriteMsgUDPAddrPort(buf, udpgso.SegmentOOB(oob[:], seg), to)
		}
		if errors.Is(err, syscall.EIO) && j-sent > 1 {
			// The route's device cannot offload the checksums: send
			// one datagram at a time from now on.
			b.gso.Store(false)
			n, err := b.writeTo(packets[sent:], to)
			return sent + n, err
		}
		if err != nil {
			return sent, err
		}
		sent = j
	}
	return sent, nil
}

// scratchPool holds writeScratch values for SendESPBatch, whose callers
// are any goroutines.
var scratchPool = sync.Pool{New: func() any { return new(writeScratch) }}

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
