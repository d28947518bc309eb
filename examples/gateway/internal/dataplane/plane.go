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

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"
)

// Buffer layout.
const (
	// slot is the room for one packet read from the TUN or sealed for the
	// wire; the TUN's MTU must leave room for the headers ESP adds.
	slot = 2048
	// MaxMTU is the largest TUN MTU the plane takes.
	MaxMTU = slot - tunOffset - 256
	// tunOffset is where packets start in TUN buffers: the tun package
	// writes its virtio-net header in front of the packet.
	tunOffset = 16
	// Headroom is the room in front of an inbound ESP packet that
	// Crypto.Inbound may use. There is none: ESP lands at the start of the
	// buffer, so that in tunnel mode with an 8-byte IV (AES-GCM, RFC 4106;
	// ChaCha20-Poly1305, RFC 7634) the inner packet, opened in place,
	// starts 16 bytes in (SPI, sequence number, IV), which is tunOffset:
	// the TUN write then needs no move.
	Headroom = 0
	// bigBuf is the size of inbound buffers: UDP GRO delivers up to 64 KiB
	// at once, and TUN GRO coalesces into the first packet's buffer.
	bigBuf = Headroom + 65536
	// queueDepth is the number of batches in flight per direction.
	queueDepth = 4
)

// Dest is where a sealed packet goes: the peer's address and whether it
// leaves through the plane's own UDP socket or through the IKE endpoint's
// NAT-T socket (RFC 3948 port 4500, shared with IKE).
type Dest struct {
	Addr     netip.AddrPort
	Endpoint bool
}

// Crypto is the per-packet work, done by the root package's driver. Both
// methods are called from several workers at once and must be safe for
// concurrent use.
type Crypto interface {
	// Outbound decides and protects pkt, an IP packet read from the TUN.
	// On CauseNone it returns the UDP payload to send (bare ESP),
	// appended to out, which has room for len(pkt)+256 bytes, and its
	// destination; otherwise the reason the packet goes no further.
	Outbound(out, pkt []byte) ([]byte, Dest, Cause)
	// Inbound opens the ESP packet buf[off:end], received from `from`
	// (through the endpoint when viaEndpoint), in place; buf[:off] is
	// headroom it may use. On CauseNone it returns the inner IP packet,
	// somewhere inside buf.
	Inbound(from netip.AddrPort, viaEndpoint bool, buf []byte, off, end int) ([]byte, Cause)
}

// Config configures a Plane.
type Config struct {
	TUN    tun.Device
	Bind   conn.Bind // opened by the Plane on Port
	Port   uint16
	Crypto Crypto
	// SendEndpoint sends sealed packets whose Dest says Endpoint (for
	// example through ike.Endpoint.SendESP). Nil drops them as CauseSend.
	SendEndpoint func(to netip.AddrPort, pkts [][]byte) error
	// Workers is the number of crypto goroutines; zero means
	// runtime.NumCPU().
	Workers int
	Logger  *slog.Logger
}

// Plane is the running data path. Its methods are safe for concurrent use.
type Plane struct {
	cfg  Config
	log  *slog.Logger
	c    counters
	port uint16

	outOrder, inOrder chan *batch
	work              chan *batch

	outPool, inPool *batchPool
	eps             sync.Map // netip.AddrPort -> conn.Endpoint

	wg        sync.WaitGroup // readers
	workersWG sync.WaitGroup
	writersWG sync.WaitGroup
	injectMu  sync.RWMutex // InboundFromEndpoint holds it shared, Close exclusively
	epMu      sync.Mutex
	epPending *batch        // packets from the endpoint not queued yet
	epWake    chan struct{} // the first packet of epPending wakes flushEndpoint
	closeOnce sync.Once
	closing   chan struct{}
}

// batch is a group of packets read at once, processed by one worker and
// written at once. mu is held from creation until the worker is done, so
// the writer waits on it in queue order (wireguard-go's element lock).
type batch struct {
	mu      sync.Mutex
	dir     int
	n       int
	bufs    [][]byte // inputs: outbound packets at tunOffset, inbound buffers with ESP at Headroom
	sizes   []int
	outs    [][]byte // outbound: sealed packets; inbound: buffers with the inner packet at tunOffset
	dests   []Dest
	from    []conn.Endpoint
	viaEP   bool
	causes  []Cause
	backing []byte   // outbound: the sealed packets' slots
	views   [][]byte // inbound: bufs[i][Headroom:], where UDP payloads land
}

// New opens the UDP port and starts the pipeline. The TUN must be open.
func New(cfg Config) (*Plane, error) {
	if cfg.TUN == nil || cfg.Bind == nil || cfg.Crypto == nil {
		return nil, errors.New("dataplane: TUN, Bind and Crypto are required")
	}
	if mtu, err := cfg.TUN.MTU(); err == nil && mtu > MaxMTU {
		return nil, fmt.Errorf("dataplane: TUN MTU %d above %d", mtu, MaxMTU)
	}
	p := &Plane{cfg: cfg, log: cfg.Logger, closing: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cfg.Workers <= 0 {
		p.cfg.Workers = runtime.NumCPU()
	}
	fns, port, err := cfg.Bind.Open(cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("dataplane: udp port %d: %w", cfg.Port, err)
	}
	p.port = port
	tb, bb := cfg.TUN.BatchSize(), cfg.Bind.BatchSize()
	p.outPool = newBatchPool(func() *batch { return newOutBatch(tb, bb) })
	p.inPool = newBatchPool(func() *batch { return newInBatch(bb) })
	p.outOrder = make(chan *batch, queueDepth)
	p.inOrder = make(chan *batch, queueDepth)
	p.work = make(chan *batch, 2*queueDepth)
	for range p.cfg.Workers {
		p.workersWG.Add(1)
		go p.worker()
	}
	p.writersWG.Add(2)
	go p.writeUDP()
	go p.writeTUN()
	p.epWake = make(chan struct{}, 1)
	p.wg.Add(2)
	go p.readTUN()
	go p.flushEndpoint()
	for _, fn := range fns {
		p.wg.Add(1)
		go p.readUDP(fn)
	}
	return p, nil
}

// Port returns the bound UDP port.
func (p *Plane) Port() uint16 { return p.port }

// batchPool keeps batches for reuse. Unlike a sync.Pool it keeps them
// across garbage collections: an inbound batch is 8 MiB of buffers, and
// allocating it again means zeroing it again.
type batchPool struct {
	free  chan *batch
	alloc func() *batch
}

func newBatchPool(alloc func() *batch) *batchPool {
	// Enough for every batch that can be in flight: the ordered queue,
	// one per worker and writer, and the readers'.
	return &batchPool{free: make(chan *batch, 2*queueDepth+2*runtime.NumCPU()+4), alloc: alloc}
}

func (bp *batchPool) get() *batch {
	select {
	case b := <-bp.free:
		return b
	default:
		return bp.alloc()
	}
}

func (bp *batchPool) put(b *batch) {
	select {
	case bp.free <- b:
	default:
	}
}

func newOutBatch(tunBatch, udpBatch int) *batch {
	n := max(tunBatch, 1)
	b := &batch{dir: Outbound, bufs: make([][]byte, n), sizes: make([]int, n), outs: make([][]byte, n),
		dests: make([]Dest, n), causes: make([]Cause, n), backing: make([]byte, n*slot)}
	in := make([]byte, n*slot)
	for i := range b.bufs {
		b.bufs[i] = in[i*slot : (i+1)*slot : (i+1)*slot]
	}
	return b
}

func newInBatch(udpBatch int) *batch {
	n := max(udpBatch, 1)
	b := &batch{dir: Inbound, bufs: make([][]byte, n), sizes: make([]int, n), outs: make([][]byte, n),
		from: make([]conn.Endpoint, n), causes: make([]Cause, n)}
	b.views = make([][]byte, n)
	for i := range b.bufs {
		b.bufs[i] = make([]byte, bigBuf)
		b.views[i] = b.bufs[i][Headroom:]
	}
	return b
}

// readTUN is stage 1 outbound.
func (p *Plane) readTUN() {
	defer p.wg.Done()
	for {
		b := p.outPool.get()
		n, err := p.cfg.TUN.Read(b.bufs, b.sizes, tunOffset)
		if err != nil {
			p.outPool.put(b)
			if errors.Is(err, os.ErrClosed) || p.closed() {
				return
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				p.c.drops[Outbound][CauseMalformed].Add(1)
				continue
			}
			p.log.Warn("dataplane: tun read", "err", err)
			continue
		}
		if n == 0 {
			p.outPool.put(b)
			continue
		}
		b.n = n
		if !p.enqueue(b, p.outOrder) {
			return
		}
	}
}

// readUDP is stage 1 inbound, one per socket (IPv4, IPv6).
func (p *Plane) readUDP(fn conn.ReceiveFunc) {
	defer p.wg.Done()
	for {
		b := p.inPool.get()
		n, err := fn(b.views, b.sizes, b.from)
		if err != nil {
			p.inPool.put(b)
			if errors.Is(err, net.ErrClosed) || p.closed() {
				return
			}
			p.log.Warn("dataplane: udp read", "err", err)
			continue
		}
		b.n, b.viaEP = n, false
		if !p.enqueue(b, p.inOrder) {
			return
		}
	}
}

// InboundFromEndpoint queues one ESP packet that arrived through the IKE
// endpoint's NAT-T socket; pkt is copied. The endpoint hands packets over
// one at a time, so they are gathered into a batch that a flusher
// goroutine queues once it gets to run: under load, many packets share a
// batch (and a TUN write); when idle, a packet waits only for a goroutine
// wake-up.
func (p *Plane) InboundFromEndpoint(from netip.AddrPort, pkt []byte) {
	p.injectMu.RLock()
	defer p.injectMu.RUnlock()
	if p.closed() {
		return
	}
	if len(pkt) > bigBuf-Headroom {
		p.c.drops[Inbound][CauseMalformed].Add(1)
		return
	}
	p.epMu.Lock()
	b := p.epPending
	if b == nil {
		b = p.inPool.get()
		b.n, b.viaEP = 0, true
		p.epPending = b
	}
	i := b.n
	b.sizes[i] = copy(b.bufs[i][Headroom:], pkt)
	b.from[i] = &conn.StdNetEndpoint{AddrPort: from}
	b.n++
	full := b.n == len(b.bufs)
	if full {
		p.epPending = nil
	}
	p.epMu.Unlock()
	switch {
	case full:
		p.enqueue(b, p.inOrder)
	case i == 0:
		select {
		case p.epWake <- struct{}{}:
		default:
		}
	}
}

// flushEndpoint queues the batch InboundFromEndpoint is gathering.
func (p *Plane) flushEndpoint() {
	defer p.wg.Done()
	for {
		select {
		case <-p.epWake:
		case <-p.closing:
			return
		}
		runtime.Gosched() // let the endpoint add what it has
		p.epMu.Lock()
		b := p.epPending
		p.epPending = nil
		p.epMu.Unlock()
		if b != nil && !p.enqueue(b, p.inOrder) {
			return
		}
	}
}

// enqueue puts b on its ordered queue and the work queue, locked until a
// worker is done with it. It reports false when the plane is closing.
func (p *Plane) enqueue(b *batch, order chan *batch) bool {
	b.mu.Lock()
	select {
	case order <- b:
	case <-p.closing:
		b.mu.Unlock()
		return false
	}
	select {
	case p.work <- b:
		return true
	case <-p.closing:
		b.n = 0
		b.mu.Unlock()
		return false
	}
}

func (p *Plane) closed() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// worker is stage 2: the crypto of whole batches.
func (p *Plane) worker() {
	defer p.workersWG.Done()
	for b := range p.work {
		if b.dir == Outbound {
			p.seal(b)
		} else {
			p.open(b)
		}
		b.mu.Unlock()
	}
}

func (p *Plane) seal(b *batch) {
	for i := range b.n {
		pkt := b.bufs[i][tunOffset : tunOffset+b.sizes[i]]
		start := i * slot
		out := b.backing[start : start : (i+1)*slot]
		res, dest, c := p.cfg.Crypto.Outbound(out, pkt)
		b.causes[i], b.dests[i] = c, dest
		if c != CauseNone {
			b.outs[i] = nil
			continue
		}
		// The sealed packet stays in its slot, with capacity to the end of
		// the backing array so that the UDP GSO coalescing in conn appends
		// the following packets of a run where they already are (see
		// coalesceMessages: each append writes no further than the end of
		// the slot of the packet it appends).
		off := offsetIn(b.backing[start:(i+1)*slot], res)
		if off < 0 {
			if len(res) > slot {
				b.causes[i] = CauseOther
				continue
			}
			copy(b.backing[start:], res)
			off = 0
		}
		b.outs[i] = b.backing[start+off : start+off+len(res) : len(b.backing)]
	}
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

// addrOf returns the address an endpoint stands for.
func addrOf(ep conn.Endpoint) netip.AddrPort {
	var ap netip.AddrPort
	if se, ok := ep.(*conn.StdNetEndpoint); ok {
		ap = se.AddrPort
	} else {
		ap, _ = netip.ParseAddrPort(ep.DstToString())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (p *Plane) open(b *batch) {
	for i := range b.n {
		if b.sizes[i] == 0 {
			b.causes[i] = CauseMalformed
			continue
		}
		from := addrOf(b.from[i])
		buf := b.bufs[i]
		inner, c := p.cfg.Crypto.Inbound(from, b.viaEP, buf, Headroom, Headroom+b.sizes[i])
		b.causes[i] = c
		if c != CauseNone {
			continue
		}
		if len(inner) > len(buf)-tunOffset {
			b.causes[i] = CauseMalformed
			continue
		}
		n := len(inner)
		if offsetIn(buf, inner) != tunOffset {
			copy(buf[tunOffset:], inner) // memmove to the TUN offset
		}
		b.outs[i] = buf[:tunOffset+n]
	}
}

// writeUDP is stage 3 outbound.
func (p *Plane) writeUDP() {
	defer p.writersWG.Done()
	maxRun := p.cfg.Bind.BatchSize()
	run := make([][]byte, 0, maxRun)
	var drops [numCauses]uint64
	for b := range p.outOrder {
		b.mu.Lock()
		var sent, bytes uint64
		clear(drops[:])
		for i := 0; i < b.n; {
			if c := b.causes[i]; c != CauseNone {
				drops[c]++
				i++
				continue
			}
			d := b.dests[i]
			run = run[:0]
			j := i
			for ; j < b.n && len(run) < maxRun; j++ {
				if b.causes[j] != CauseNone {
					drops[b.causes[j]]++
					continue
				}
				if b.dests[j] != d {
					break
				}
				run = append(run, b.outs[j])
				bytes += uint64(b.sizes[j])
			}
			i = j
			if err := p.send(d, run); err != nil {
				drops[CauseSend] += uint64(len(run))
				p.log.Debug("dataplane: send", "to", d.Addr, "err", err)
				continue
			}
			sent += uint64(len(run))
		}
		p.account(Outbound, sent, bytes, &drops)
		b.mu.Unlock()
		p.outPool.put(b)
	}
}

func (p *Plane) send(d Dest, run [][]byte) error {
	if d.Endpoint {
		if p.cfg.SendEndpoint == nil {
			return errors.New("dataplane: no endpoint path")
		}
		return p.cfg.SendEndpoint(d.Addr, run)
	}
	ep, ok := p.eps.Load(d.Addr)
	if !ok {
		e, err := p.cfg.Bind.ParseEndpoint(d.Addr.String())
		if err != nil {
			return err
		}
		ep, _ = p.eps.LoadOrStore(d.Addr, e)
	}
	return p.cfg.Bind.Send(run, ep.(conn.Endpoint))
}

// Send sends one sealed packet outside the pipeline (for example one the
// driver held while IKE negotiated) and counts it.
func (p *Plane) Send(d Dest, pkt []byte) {
	if err := p.send(d, [][]byte{pkt}); err != nil {
		p.c.drops[Outbound][CauseSend].Add(1)
		return
	}
	p.c.packets[Outbound].Add(1)
	p.c.bytes[Outbound].Add(uint64(len(pkt)))
}

// writeTUN is stage 3 inbound.
func (p *Plane) writeTUN() {
	defer p.writersWG.Done()
	var drops [numCauses]uint64
	var bufs [][]byte
	for b := range p.inOrder {
		b.mu.Lock()
		clear(drops[:])
		bufs = bufs[:0]
		var bytes uint64
		for i := range b.n {
			if c := b.causes[i]; c != CauseNone {
				drops[c]++
				continue
			}
			bufs = append(bufs, b.outs[i])
			bytes += uint64(b.sizes[i])
		}
		sent := uint64(len(bufs))
		if len(bufs) > 0 {
			if _, err := p.cfg.TUN.Write(bufs, tunOffset); err != nil && !p.closed() {
				// The tun package joins the errors of the packets that
				// failed; count the batch once per packet we cannot tell
				// apart.
				p.log.Debug("dataplane: tun write", "err", err)
				drops[CauseTUNWrite] += sent
				sent = 0
			}
		}
		p.account(Inbound, sent, bytes, &drops)
		b.mu.Unlock()
		p.inPool.put(b)
	}
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

// Close stops the pipeline: it closes the TUN and the UDP sockets, lets
// the batches in flight finish, and waits for every goroutine.
func (p *Plane) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.closing)
		err = errors.Join(p.cfg.TUN.Close(), p.cfg.Bind.Close())
		p.wg.Wait()
		p.injectMu.Lock()
		close(p.work)
		p.injectMu.Unlock()
		p.workersWG.Wait()
		close(p.outOrder)
		close(p.inOrder)
		p.writersWG.Wait()
	})
	return err
}
