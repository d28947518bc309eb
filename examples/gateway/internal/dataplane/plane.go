package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ipsecgo/ipsec/internal/udpgso"
)

// TUN is the TUN device as the plane uses it: a stream of frames, each an
// IP packet behind a virtio-net header when VNetHdr says so (OpenTUN on
// Linux).
type TUN interface {
	// ReadFrames waits for a frame, then reads into bufs as many more
	// as are ready without waiting; sizes[i] gets frame i's length.
	ReadFrames(bufs [][]byte, sizes []int) (int, error)
	// WriteFrame writes one frame, the concatenation of pieces.
	WriteFrame(pieces [][]byte) error
	// VNetHdr reports whether frames carry a virtio-net header.
	VNetHdr() bool
	Close() error
}

// UDP is the plane's UDP socket (ListenUDP on Linux).
type UDP interface {
	// ReadMsgs waits for a message, then reads into bufs as many more as
	// are ready without waiting. Message i holds sizes[i] bytes from
	// from[i]: one datagram when segs[i] is 0, else a train of datagrams
	// of segs[i] bytes each, the last possibly shorter (UDP GRO).
	ReadMsgs(bufs [][]byte, sizes, segs []int, from []netip.AddrPort) (int, error)
	// WriteSegs sends buf to `to` as datagrams of seg bytes each, the
	// last possibly shorter (UDP GSO); one datagram when seg is 0.
	WriteSegs(to netip.AddrPort, buf []byte, seg int) error
	// MaxSegs is the most datagrams one WriteSegs sends at once.
	MaxSegs() int
	// Dropped is how many datagrams the kernel has dropped so far because
	// the socket's receive buffer was full, as far as it has said (0 where
	// it does not).
	Dropped() uint64
	Port() uint16
	Close() error
}

// Dest is where a sealed packet goes: the peer's address and whether it
// leaves through the plane's own UDP socket or through the IKE endpoint's
// NAT-T socket (RFC 3948 port 4500, shared with IKE).
type Dest struct {
	Addr     netip.AddrPort
	Endpoint bool
}

// Crypto is the per-packet work, done by the root package's driver. Both
// methods are called from several goroutines at once and must be safe
// for concurrent use.
type Crypto interface {
	// Outbound decides and protects pkt, an IP packet read from the TUN.
	// On CauseNone it returns the UDP payload to send (bare ESP) and its
	// destination; otherwise the reason the packet goes no further. out
	// has length 0 and pkt lies at out[:cap(out)][ESPFront:]: a sealer
	// that appends the ESP packet to out seals in place, and the plane
	// sends it from where it is. A result elsewhere is sent too.
	Outbound(out, pkt []byte) ([]byte, Dest, Cause)
	// Inbound opens the ESP packet buf[off:end], received from `from`
	// (through the endpoint when viaEndpoint), in place. On CauseNone
	// it returns the inner IP packet, somewhere inside buf.
	Inbound(from netip.AddrPort, viaEndpoint bool, buf []byte, off, end int) ([]byte, Cause)
}

// Layout.
const (
	// ESPFront is where an outbound packet lies behind the start of its
	// out buffer: the ESP header and an 8-byte IV (AES-GCM, RFC 4106;
	// ChaCha20-Poly1305, RFC 7634), which then seal in place.
	ESPFront = 16
	// sealRoom bounds what sealing adds to a packet: the header and IV
	// in front, padding, trailer and ICV behind (RFC 4303 section 2).
	sealRoom = 128
	// MaxMTU is the largest TUN MTU the plane takes.
	MaxMTU = 9000
	// frameBuf holds one TUN frame: a virtio-net header and up to 64 KiB.
	frameBuf = vnetHdrLen + 65535
	// msgBuf holds one UDP message: a GRO train of up to 64 KiB.
	msgBuf = 65536
	// readFrames and readMsgs are the most frames and messages one read
	// batch takes.
	readFrames = 16
	readMsgs   = 8
	// splitMin is the fewest packets worth sharing with a helper.
	splitMin = 8
)

// Config configures a Plane.
type Config struct {
	TUN    TUN
	UDP    UDP
	Crypto Crypto
	// SendEndpoint sends sealed packets whose Dest says Endpoint (for
	// example through ike.Endpoint.SendESPBatch). Nil drops them as
	// CauseSend.
	SendEndpoint func(to netip.AddrPort, pkts [][]byte) error
	// Workers is the number of goroutines that share the crypto of a
	// large batch, the reading goroutine included; one means the reading
	// goroutine alone. Zero means one fewer than the CPUs (at least
	// one): each direction has a reading goroutine, so under traffic both
	// ways two cores are busy without helpers, and on two cores handing
	// half a batch to a helper costs more in wake-ups than it saves
	// (measured with examples/gateway/bench/run.sh: 4.1 CPU s/GB with
	// one, 4.7-5.9 with two).
	Workers int
	Logger  *slog.Logger
}

// Plane is the running data path. Its methods are safe for concurrent use.
type Plane struct {
	cfg Config
	log *slog.Logger
	c   counters

	jobs chan *job // crypto shared with the helpers

	wg        sync.WaitGroup // loops
	helpersWG sync.WaitGroup
	injectMu  sync.RWMutex // InboundESPBatch holds it shared, Close exclusively
	ep        *inBatch     // InboundESPBatch's, under the caller's serialization
	closeOnce sync.Once
	closing   chan struct{}
}

// New starts the plane on an open TUN and UDP socket.
func New(cfg Config) (*Plane, error) {
	if cfg.TUN == nil || cfg.UDP == nil || cfg.Crypto == nil {
		return nil, errors.New("dataplane: TUN, UDP and Crypto are required")
	}
	p := &Plane{cfg: cfg, log: cfg.Logger, closing: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cfg.Workers <= 0 {
		p.cfg.Workers = max(1, runtime.NumCPU()-1)
	}
	p.jobs = make(chan *job, 4)
	for range p.cfg.Workers - 1 {
		p.helpersWG.Add(1)
		go p.helper()
	}
	p.wg.Add(2)
	go p.readTUN()
	go p.readUDP()
	return p, nil
}

// Port returns the bound UDP port.
func (p *Plane) Port() uint16 { return p.cfg.UDP.Port() }

func (p *Plane) closed() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// A job is half of a batch's crypto, done by a helper while the reading
// goroutine does the other half.
type job struct {
	out    *outBatch
	in     *inBatch
	lo, hi int
	pos, l int // outbound: where packet lo goes, and the stride
	done   sync.WaitGroup
}

func (p *Plane) helper() {
	defer p.helpersWG.Done()
	for j := range p.jobs {
		if j.out != nil {
			p.sealRange(j.out, j.lo, j.hi, j.pos, j.l)
		} else {
			p.openRange(j.in, j.lo, j.hi)
		}
		j.done.Done()
	}
}

// share gives the upper half of job j's range [lo, hi) to a helper when
// one is free, and returns where the half it kept ends (hi when it kept
// everything). The caller does [lo, mid) and, when mid < hi, waits on
// j.done.
func (p *Plane) share(j *job) (mid int) {
	if p.cfg.Workers < 2 || j.hi-j.lo < splitMin {
		return j.hi
	}
	mid = (j.lo + j.hi) / 2
	lo, pos := j.lo, j.pos
	j.pos += (mid - j.lo) * j.l
	j.lo = mid
	j.done.Add(1)
	select {
	case p.jobs <- j:
		return mid
	default:
		j.done.Done()
		j.lo, j.pos = lo, pos
		return j.hi
	}
}

// ---- Outbound: TUN -> peer -------------------------------------------

// outBatch is what one TUN read brings, cut into packets and sealed in
// region: the packets of a frame lie back to back, each where it will be
// sent from, so that a run to one peer leaves in one UDP GSO send.
type outBatch struct {
	frames [][]byte
	sizes  []int
	f      frame // the frame being cut
	fseg   int   // index in segs of the frame's first segment
	region []byte
	segs   []segOut
	run    [][]byte // scratch for SendEndpoint
	j      job
}

// segOut is one outbound packet.
type segOut struct {
	off, n int    // the sealed packet: region[off:off+n]
	stray  []byte // or here, when the sealer did not seal in place
	dest   Dest
	inner  int // its length before sealing
	cause  Cause
}

func (p *Plane) readTUN() {
	defer p.wg.Done()
	ob := &outBatch{frames: make([][]byte, readFrames), sizes: make([]int, readFrames), region: make([]byte, 1<<20)}
	for i := range ob.frames {
		ob.frames[i] = make([]byte, frameBuf)
	}
	vnet := p.cfg.TUN.VNetHdr()
	for {
		n, err := p.cfg.TUN.ReadFrames(ob.frames, ob.sizes)
		if err != nil {
			if errors.Is(err, os.ErrClosed) || p.closed() {
				return
			}
			p.log.Warn("dataplane: tun read", "err", err)
			continue
		}
		ob.segs = ob.segs[:0]
		cur := 0
		for i := range n {
			f, ok := parseFrame(ob.frames[i][:ob.sizes[i]], vnet)
			if !ok {
				ob.segs = append(ob.segs, segOut{cause: CauseMalformed})
				continue
			}
			cur = p.sealFrame(ob, f, cur)
		}
		p.sendOut(ob)
	}
}

// sealFrame cuts frame f into packets and seals them in ob.region from
// cur on; it returns where the next frame goes. The packets before the
// first one that seals in place go one by one at cur, each with room for
// the largest; once one has, its length is the stride of the rest, whose
// crypto a helper may share.
func (p *Plane) sealFrame(ob *outBatch, f frame, cur int) int {
	room := f.maxSeg() + sealRoom
	if need := cur + f.n*room; need > len(ob.region) {
		ob.region = append(ob.region, make([]byte, need-len(ob.region))...)
	}
	ob.f, ob.fseg = f, len(ob.segs)
	ob.segs = append(ob.segs, make([]segOut, f.n)...)
	i := 0
	stride := 0
	for i < f.n && stride == 0 {
		s := &ob.segs[ob.fseg+i]
		p.sealOne(ob, i, s, cur, cur+room)
		i++
		if s.cause == CauseNone && s.stray == nil {
			stride = s.n
			cur += s.n
		}
	}
	if i == f.n {
		return cur
	}
	j := &ob.j
	j.out, j.in, j.lo, j.hi, j.pos, j.l = ob, nil, i, f.n, cur, stride
	mid := p.share(j)
	p.sealRange(ob, i, mid, cur, stride)
	if mid < f.n {
		j.done.Wait()
	}
	return cur + (f.n-i)*stride
}

// sealRange seals segments [lo, hi) of the current frame, segment lo at
// pos and each next one stride bytes further.
func (p *Plane) sealRange(ob *outBatch, lo, hi, pos, stride int) {
	for i := lo; i < hi; i++ {
		p.sealOne(ob, i, &ob.segs[ob.fseg+i], pos, pos+stride)
		pos += stride
	}
}

// sealOne cuts segment i of the current frame to region[pos+ESPFront:]
// and seals it into region[pos:end].
func (p *Plane) sealOne(ob *outBatch, i int, s *segOut, pos, end int) {
	f := &ob.f
	n := f.segment(i, ob.region[pos+ESPFront:])
	res, dest, c := p.cfg.Crypto.Outbound(ob.region[pos:pos:end], ob.region[pos+ESPFront:pos+ESPFront+n])
	*s = segOut{inner: n, dest: dest, cause: c}
	if c != CauseNone {
		return
	}
	if offsetIn(ob.region[pos:end], res) == 0 {
		s.off, s.n = pos, len(res)
	} else {
		s.stray = res
	}
}

// sendOut sends the batch's sealed packets, runs to one peer at a time.
func (p *Plane) sendOut(ob *outBatch) {
	var drops [numCauses]uint64
	var sent, bytes uint64
	maxSegs := p.cfg.UDP.MaxSegs()
	segs := ob.segs
	for i := 0; i < len(segs); {
		s := segs[i]
		if s.cause != CauseNone {
			drops[s.cause]++
			i++
			continue
		}
		j, start, end := i+1, s.off, s.off+s.n
		if s.stray == nil {
			for j < len(segs) && j-i < maxSegs {
				t := segs[j]
				if t.cause != CauseNone || t.stray != nil || t.dest != s.dest || t.off != end || t.n > s.n || end-start+t.n > udpgso.MaxBytes {
					break
				}
				end += t.n
				j++
				if t.n < s.n {
					break // only the last may be shorter
				}
			}
		}
		var err error
		switch {
		case s.dest.Endpoint:
			ob.run = ob.run[:0]
			if s.stray != nil {
				ob.run = append(ob.run, s.stray)
			}
			for k := i; s.stray == nil && k < j; k++ {
				ob.run = append(ob.run, ob.region[segs[k].off:segs[k].off+segs[k].n])
			}
			err = p.sendEndpoint(s.dest.Addr, ob.run)
		case s.stray != nil:
			err = p.cfg.UDP.WriteSegs(s.dest.Addr, s.stray, 0)
		default:
			err = p.cfg.UDP.WriteSegs(s.dest.Addr, ob.region[start:end], s.n)
		}
		if err != nil {
			drops[CauseSend] += uint64(j - i)
			p.log.Debug("dataplane: send", "to", s.dest.Addr, "err", err)
		} else {
			sent += uint64(j - i)
			for k := i; k < j; k++ {
				bytes += uint64(segs[k].inner)
			}
		}
		i = j
	}
	p.account(Outbound, sent, bytes, &drops)
}

func (p *Plane) sendEndpoint(to netip.AddrPort, pkts [][]byte) error {
	if p.cfg.SendEndpoint == nil {
		return errors.New("dataplane: no endpoint path")
	}
	return p.cfg.SendEndpoint(to, pkts)
}

// Send sends one sealed packet outside the pipeline (for example one the
// driver held while IKE negotiated) and counts it.
func (p *Plane) Send(d Dest, pkt []byte) {
	var err error
	if d.Endpoint {
		err = p.sendEndpoint(d.Addr, [][]byte{pkt})
	} else {
		err = p.cfg.UDP.WriteSegs(d.Addr, pkt, 0)
	}
	if err != nil {
		p.c.drops[Outbound][CauseSend].Add(1)
		return
	}
	p.c.packets[Outbound].Add(1)
	p.c.bytes[Outbound].Add(uint64(len(pkt)))
}

// offsetIn returns the offset of sub inside s, or -1 if sub does not lie
// within s.
func offsetIn(s, sub []byte) int {
	if len(sub) == 0 || len(s) == 0 {
		return -1
	}
	d := uintptr(unsafe.Pointer(&sub[0])) - uintptr(unsafe.Pointer(&s[0]))
	if d >= uintptr(len(s)) || int(d)+len(sub) > len(s) {
		return -1
	}
	return int(d)
}

// ---- Inbound: peer -> TUN --------------------------------------------

// inBatch is what one UDP read (or the endpoint) brings: messages, each
// one datagram or a GRO train of them, opened in place.
type inBatch struct {
	bufs  [][]byte
	sizes []int
	segs  []int
	from  []netip.AddrPort
	n     int
	viaEP bool
	dg    []dgram
	inner [][]byte
	gro   coalescer
	j     job
}

// dgram is one ESP datagram of a batch, and what opening it gave.
type dgram struct {
	msg, off, end int
	inner         []byte
	cause         Cause
}

func (p *Plane) newInBatch(n, size int) *inBatch {
	b := &inBatch{bufs: make([][]byte, n), sizes: make([]int, n), segs: make([]int, n), from: make([]netip.AddrPort, n)}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, size)
	}
	b.gro = coalescer{vnet: p.cfg.TUN.VNetHdr(), write: p.cfg.TUN.WriteFrame}
	return b
}

func (p *Plane) readUDP() {
	defer p.wg.Done()
	b := p.newInBatch(readMsgs, msgBuf)
	var kernelDrops uint64 // the socket's count, as counted already
	for {
		n, err := p.cfg.UDP.ReadMsgs(b.bufs, b.sizes, b.segs, b.from)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.closed() {
				return
			}
			p.log.Warn("dataplane: udp read", "err", err)
			continue
		}
		b.n, b.viaEP = n, false
		if d := p.cfg.UDP.Dropped(); d > kernelDrops {
			p.c.drops[Inbound][CauseSocket].Add(d - kernelDrops)
			kernelDrops = d
		}
		p.inbound(b)
	}
}

// inbound opens a batch's datagrams and writes their inner packets to
// the TUN, in the order they came.
func (p *Plane) inbound(b *inBatch) {
	var drops [numCauses]uint64
	b.dg = b.dg[:0]
	for m := range b.n {
		size, seg := b.sizes[m], b.segs[m]
		if size == 0 {
			drops[CauseMalformed]++
			continue
		}
		if seg <= 0 {
			seg = size
		}
		for off := 0; off < size; off += seg {
			b.dg = append(b.dg, dgram{msg: m, off: off, end: min(off+seg, size)})
		}
	}
	j := &b.j
	j.out, j.in, j.lo, j.hi, j.pos, j.l = nil, b, 0, len(b.dg), 0, 0
	mid := p.share(j)
	p.openRange(b, 0, mid)
	if mid < len(b.dg) {
		j.done.Wait()
	}
	b.inner = b.inner[:0]
	var bytes uint64
	for _, d := range b.dg {
		if d.cause != CauseNone {
			drops[d.cause]++
			continue
		}
		b.inner = append(b.inner, d.inner)
		bytes += uint64(d.end - d.off)
	}
	sent := uint64(len(b.inner))
	if failed := b.gro.writeAll(b.inner); failed > 0 && !p.closed() {
		drops[CauseTUNWrite] += uint64(failed)
		sent -= uint64(failed)
	}
	p.account(Inbound, sent, bytes, &drops)
}

func (p *Plane) openRange(b *inBatch, lo, hi int) {
	for i := lo; i < hi; i++ {
		d := &b.dg[i]
		buf := b.bufs[d.msg]
		inner, c := p.cfg.Crypto.Inbound(b.from[d.msg], b.viaEP, buf, d.off, d.end)
		if c == CauseNone && offsetIn(buf, inner) < 0 {
			c = CauseMalformed
		}
		d.inner, d.cause = inner, c
	}
}

// InboundESPBatch opens ESP packets that arrived through the IKE
// endpoint's NAT-T socket (RFC 3948; ike.EndpointConfig.ESPBatch, which
// serializes its calls) where they are, in the caller's buffers, and
// writes their inner packets to the TUN before it returns.
func (p *Plane) InboundESPBatch(from []netip.AddrPort, pkts [][]byte) {
	p.injectMu.RLock()
	defer p.injectMu.RUnlock()
	if p.closed() || len(pkts) == 0 {
		return
	}
	b := p.ep
	if b == nil {
		b = &inBatch{gro: coalescer{vnet: p.cfg.TUN.VNetHdr(), write: p.cfg.TUN.WriteFrame}}
		p.ep = b
	}
	n := len(pkts)
	b.bufs = append(b.bufs[:0], pkts...)
	b.from = append(b.from[:0], from[:n]...)
	b.sizes, b.segs = b.sizes[:0], b.segs[:0]
	for _, pkt := range pkts {
		b.sizes = append(b.sizes, len(pkt))
		b.segs = append(b.segs, 0)
	}
	b.n, b.viaEP = n, true
	p.inbound(b)
	clear(b.bufs) // the caller's buffers
}

func (p *Plane) account(dir int, sent, bytes uint64, drops *[numCauses]uint64) {
	p.c.batches[dir].Add(1)
	if sent != 0 {
		p.c.packets[dir].Add(sent)
		p.c.bytes[dir].Add(bytes)
	}
	for c, v := range drops {
		if v != 0 {
			p.c.drops[dir][c].Add(v)
		}
	}
}

// Close stops the plane: it closes the TUN and the UDP socket and waits
// for every goroutine.
func (p *Plane) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.closing)
		err = errors.Join(p.cfg.TUN.Close(), p.cfg.UDP.Close())
		p.injectMu.Lock() // waits for the InboundESPBatch calls in flight
		//lint:ignore SA2001 the lock is the wait
		p.injectMu.Unlock()
		p.wg.Wait()
		close(p.jobs)
		p.helpersWG.Wait()
	})
	if err != nil {
		return fmt.Errorf("dataplane: close: %w", err)
	}
	return nil
}
