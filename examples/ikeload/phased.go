package main

// The phased load: handshakes replayed in lockstep phases, so that the
// initiators' cryptography is done outside the measured time.
//
// On a 2-core machine the contended load (load.go) cannot show a
// responder using two cores: its initiators, in this process, spend
// about as much CPU on a handshake as the responder does (two X25519
// operations each side), so they take the second core. A phased round of
// n handshakes against one responder instead runs, stage by stage:
//
//  1. (not measured) n initiator ike.Sessions are made, each with an
//     identity of its own, spread over the sources; each has its
//     IKE_SA_INIT request ready.
//  2. (measured) the IKE_SA_INIT requests are answered. Queued (Linux,
//     the default): the responder process is held while every source
//     sends its requests, as many as the responder's socket buffer and
//     queues take (target.burst; more make several windows), then
//     released; the window runs from the release to the arrival of the
//     last response (the kernel's receive timestamp). Meanwhile the
//     sources only wait, waking as seldom as they can (udpSent), then
//     read the responses from sockets outside Go's network poller. In
//     flight (-phased-windowed): every source sends
//     its requests with batched writes and reads (sendmmsg, recvmmsg),
//     keeping up to twice its share of the load's window in flight while
//     the window has room, so that the window stays full to the end; a
//     response is only stored, as bytes, and the next request sent.
//     Requests without a response are sent again (counted as
//     retransmits) and given up after phasedTries sends.
//  3. (not measured) the responses are fed to the sessions, which make
//     their IKE_AUTH requests.
//  4. (measured) as 2, with the IKE_AUTH requests.
//  5. (not measured) the responses are fed in; every session must be
//     established: those that are not are counted as failed. Each
//     established IKE SA is deleted (RFC 7296 1.4.1).
//  6. (measured) as 2, with the INFORMATIONAL Delete requests.
//  7. (not measured) the responses are fed in; every session must be
//     closed.
//
// The rate is the handshakes established (and then closed by their
// Delete) over the sum of the three measured windows; the responder's CPU
// time (getrusage in its process), this process's, and the machine's idle
// and stolen time (/proc/stat) are read around each window, so the report
// gives the cores each used while measured. During the windows the
// initiators only make system calls and copy bytes; the garbage of their
// sessions is collected before each window.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

const (
	phasedRTO   = 2 * time.Second      // a request unanswered this long is sent again
	phasedTries = 5                    // sends of a request before it is given up
	phasedBuf   = 4096                 // receive buffer per datagram: IKE messages here are well under
	phasedBatch = 32                   // datagrams per recvmmsg
	phasedResp  = 1024                 // room for a response in the arena (larger ones are copied apart)
	queuedPoll  = 5 * time.Millisecond // how often a source of a queued window reads its responses
)

// phasedLoad is the set of initiator sources of the phased load, kept
// across rounds.
type phasedLoad struct {
	base ike.Config
	srcs []*phasedSource
	// window is the number of requests in flight in total, inflight how
	// many are. A source keeps up to perSource in flight, twice its
	// share, so that the requests of sources that finished early go to
	// those that have more left, and the window stays full to the end.
	window, perSource int
	inflight          atomic.Int64
	// windows, if set, gets a line for each measured window.
	windows io.Writer
}

// exchangeNames are the exchanges of a round's measured windows, in turn.
var exchangeNames = [...]string{"IKE_SA_INIT", "IKE_AUTH", "INFORMATIONAL"}

// phasedSource is one initiator address with its socket. Its state is
// used by one goroutine at a time.
type phasedSource struct {
	idx   int
	conn  datagramConn
	local netip.AddrPort
	inits []*phasedInit // this round's sessions
	rmsgs []ipv4.Message
	wmsgs []ipv4.Message
	// The state of the exchange in progress, one entry per request.
	reqs []*phasedInit
	sent []time.Time
	done []bool
	by   map[[8]byte]int // request index by initiator SPI
	// arena holds the responses, phasedResp bytes a request, so that
	// storing one allocates nothing in the window.
	arena []byte
}

// phasedInit is one initiator session of a round.
type phasedInit struct {
	s      *ike.Session
	spiI   [8]byte
	req    []byte // the request in flight (with the non-ESP marker on NAT-T)
	to     *net.UDPAddr
	msgID  uint32 // of req
	resp   []byte // its response, once stored
	tries  int
	natt   bool
	failed bool
}

// phasedStats are the counts of one exchange, and when its last
// response arrived.
type phasedStats struct {
	retransmits, lost uint64
	last              time.Time
}

// newPhasedLoad binds sources initiator sockets on 127.78.x.y, sharing
// window requests in flight. With queued, the sockets are for queued
// windows (rawSocket: outside Go's network poller).
func newPhasedLoad(sources, window int, queued bool) (*phasedLoad, error) {
	base, err := initiatorConfig()
	if err != nil {
		return nil, err
	}
	l := &phasedLoad{base: base, window: max(window, 1), perSource: max(1, 2*window/sources)}
	for i := range sources {
		a := netip.AddrFrom4([4]byte{127, 78, byte(i / 250), byte(i%250 + 1)})
		var c datagramConn
		if queued {
			c, err = listenRaw(a)
		} else {
			c, err = listenPolled(a)
		}
		if err != nil {
			l.close()
			return nil, fmt.Errorf("bind %v (is 127.0.0.0/8 loopback here?): %w", a, err)
		}
		s := &phasedSource{idx: i, conn: c, local: c.localAddr(), rmsgs: make([]ipv4.Message, phasedBatch), by: map[[8]byte]int{}}
		for j := range s.rmsgs {
			s.rmsgs[j].Buffers = [][]byte{make([]byte, phasedBuf)}
			s.rmsgs[j].OOB = make([]byte, timestampSpace)
		}
		l.srcs = append(l.srcs, s)
	}
	return l, nil
}

// datagramConn is a source's socket.
type datagramConn interface {
	localAddr() netip.AddrPort
	// writeAll sends every message.
	writeAll(ms []ipv4.Message) error
	// readBatch reads up to len(ms) datagrams, waiting up to wait for
	// the first if the socket waits at all; none read is not an error.
	readBatch(ms []ipv4.Message, wait time.Duration) (int, error)
	close()
}

// polledConn is a socket in Go's network poller, read and written with
// recvmmsg and sendmmsg; a read waits.
type polledConn struct {
	c  *net.UDPConn
	pc *ipv4.PacketConn
}

func listenPolled(a netip.Addr) (*polledConn, error) {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		return nil, err
	}
	setBuffers(c, 4<<20)
	enableTimestamps(c)
	return &polledConn{c: c, pc: ipv4.NewPacketConn(c)}, nil
}

func (p *polledConn) localAddr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }
func (p *polledConn) close()                    { p.c.Close() }

func (p *polledConn) writeAll(ms []ipv4.Message) error {
	for len(ms) > 0 {
		n, err := p.pc.WriteBatch(ms, 0)
		if err != nil {
			return err
		}
		ms = ms[n:]
	}
	return nil
}

func (p *polledConn) readBatch(ms []ipv4.Message, wait time.Duration) (int, error) {
	_ = p.c.SetReadDeadline(time.Now().Add(wait))
	k, err := p.pc.ReadBatch(ms, 0)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, nil
	}
	return k, err
}

func (l *phasedLoad) close() {
	for _, s := range l.srcs {
		s.conn.close()
	}
}

// each runs f for every source, concurrently, and returns the first
// error.
func (l *phasedLoad) each(f func(s *phasedSource) error) error {
	errs := make([]error, len(l.srcs))
	var wg sync.WaitGroup
	for i, s := range l.srcs {
		wg.Go(func() { errs[i] = f(s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// round runs one phased round of n handshakes, each deleted once up,
// against tgt, and returns its measurement.
func (l *phasedLoad) round(ctx context.Context, tgt *target, name string, n int) (phase, error) {
	p := phase{Name: name, Method: phased}
	// 1. The sessions and their IKE_SA_INIT requests.
	first := identities.Add(uint64(n)) - uint64(n)
	err := l.each(func(src *phasedSource) error {
		src.inits = src.inits[:0]
		now := time.Now()
		for i := src.idx; i < n; i += len(l.srcs) {
			cfg := l.base
			cfg.LocalID = auth.FQDN(fmt.Sprintf("p%d.load", first+uint64(i)+1))
			s, err := ike.NewInitiator(&cfg, src.local, tgt.ike, now)
			if err != nil {
				return err
			}
			spiI, _ := s.SPIs()
			in := &phasedInit{s: s, spiI: spiI}
			if !in.next(tgt) {
				return errors.New("initiator made no IKE_SA_INIT request")
			}
			src.inits = append(src.inits, in)
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	_, live, err := tgt.stats()
	if err != nil {
		return p, err
	}
	p.Live = live
	steps := []func(now time.Time, in *phasedInit) bool{
		// 3. IKE_SA_INIT responses in, IKE_AUTH requests out.
		func(now time.Time, in *phasedInit) bool {
			in.s.Receive(now, in.resp)
			in.s.Events()
			return in.next(tgt)
		},
		// 5. IKE_AUTH responses in: established, then deleted.
		func(now time.Time, in *phasedInit) bool {
			in.s.Receive(now, in.resp)
			in.s.Events()
			if !in.s.Established() {
				return false
			}
			in.s.Close(now)
			return in.next(tgt)
		},
		// 7. Delete responses in: closed.
		func(now time.Time, in *phasedInit) bool {
			in.s.Receive(now, in.resp)
			in.s.Events()
			return in.s.Closed()
		},
	}
	for k, step := range steps {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		st, err := l.measured(tgt, &p, exchangeNames[k])
		if err != nil {
			return p, err
		}
		p.Retransmits += st.retransmits
		err = l.each(func(src *phasedSource) error {
			now := time.Now()
			for _, in := range src.inits {
				if in.failed {
					continue
				}
				if in.resp == nil || !step(now, in) {
					in.failed = true
				}
			}
			return nil
		})
		if err != nil {
			return p, err
		}
	}
	for _, src := range l.srcs {
		for _, in := range src.inits {
			if in.failed {
				p.Failed++
			} else {
				p.Handshakes++
			}
		}
		clear(src.inits)
	}
	p.finish()
	return p, nil
}

// next takes the one request the session has to send now and readies it
// for sending, on the NAT-T port with the non-ESP marker once NAT was
// detected (RFC 7296 2.23). It reports whether there was one.
func (in *phasedInit) next(tgt *target) bool {
	ds := in.s.Datagrams()
	in.resp, in.tries = nil, 0
	if len(ds) != 1 || len(ds[0]) < isakmp.HeaderLen {
		return false
	}
	d := ds[0]
	in.msgID = uint32(d[20])<<24 | uint32(d[21])<<16 | uint32(d[22])<<8 | uint32(d[23])
	to := tgt.ike
	if in.s.UDPEncap() {
		if !in.natt {
			in.natt = true
			local, _ := in.s.Path()
			in.s.SetPath(local, tgt.natt)
		}
		to = tgt.natt
		d = append(append(make([]byte, 0, len(d)+4), nonESPMarker...), d...)
	}
	in.req, in.to = d, net.UDPAddrFromAddrPort(to)
	return true
}

// measured runs the measured windows of one exchange: every source
// exchanges its requests. It adds the windows' time, the responder's CPU
// and this process's CPU to p (CPUPerHS holds the responder's CPU seconds
// until round divides it).
func (l *phasedLoad) measured(tgt *target, p *phase, exchange string) (phasedStats, error) {
	// Not measured: the per-exchange state, and a collection, so that
	// the garbage of the sessions' cryptography is not collected in the
	// window.
	most := 0
	for _, src := range l.srcs {
		src.prepare()
		most = max(most, len(src.reqs))
	}
	runtime.GC()
	if tgt.hold == nil {
		return l.measure(tgt, p, exchange, 0, most)
	}
	// Queued windows: as many requests as the responder's socket and
	// queues take, a source's share each, queued while it is held.
	per := max(1, tgt.burst/len(l.srcs))
	var sum phasedStats
	for lo := 0; lo < most; lo += per {
		st, err := l.measure(tgt, p, exchange, lo, lo+per)
		if err != nil {
			return sum, err
		}
		sum.retransmits += st.retransmits
		sum.lost += st.lost
	}
	return sum, nil
}

// measure runs one measured window over the requests lo to hi of each
// source (fewer where a source has fewer). Without tgt.hold, the sources
// keep the load's window of requests in flight. Otherwise the responder
// is held while every source sends its requests at once, and the window
// is timed from its release until the last response arrived: the
// responder then works through a full queue, as a concentrator does
// whose initiators are elsewhere, and the initiators' sends (whose
// loopback delivery the kernel does in the sender's context) are not in
// the measured time.
func (l *phasedLoad) measure(tgt *target, p *phase, exchange string, lo, hi int) (phasedStats, error) {
	moved0, err := l.moved(tgt)
	if err != nil {
		return phasedStats{}, err
	}
	cpu0, _, err := tgt.stats()
	if err != nil {
		return phasedStats{}, err
	}
	queued := tgt.hold != nil
	requests := 0
	for _, src := range l.srcs {
		requests += max(0, min(hi, len(src.reqs))-lo)
	}
	var idle0, steal0, soft0, ic0, icWait float64
	var t0, waited time.Time
	if queued {
		release, err := tgt.hold()
		if err != nil {
			return phasedStats{}, fmt.Errorf("hold the responder: %w", err)
		}
		if err := l.each(func(src *phasedSource) error { return src.send(lo, hi) }); err != nil {
			release() //nolint:errcheck // reporting the send's error
			return phasedStats{}, err
		}
		sent0, known := udpSent()
		idle0, steal0, soft0 = machineTimes()
		ic0, t0 = cpuSeconds(), time.Now()
		if err := release(); err != nil {
			return phasedStats{}, err
		}
		if known {
			// Read once the responses are all sent (or after phasedRTO,
			// when the sources look for what is missing). Each wake costs
			// this process about 0.1 ms of CPU on the test VM, taken from
			// the responder's cores: the wait sleeps three quarters of the
			// window's expected length at once, then looks every
			// queuedPoll.
			want := sent0 + uint64(requests)
			time.Sleep(time.Duration(0.75 * tgt.perRequest[exchange] * float64(requests) * float64(time.Second)))
			for time.Since(t0) < phasedRTO {
				if n, ok := udpSent(); !ok || n >= want {
					break
				}
				time.Sleep(queuedPoll)
			}
		}
		icWait, waited = cpuSeconds(), time.Now()
	} else {
		idle0, steal0, soft0 = machineTimes()
		ic0, t0 = cpuSeconds(), time.Now()
	}
	stats := make([]phasedStats, len(l.srcs))
	err = l.each(func(src *phasedSource) error {
		var err error
		stats[src.idx], err = src.exchange(l, lo, hi, queued)
		return err
	})
	end, ic1 := time.Now(), cpuSeconds()
	idle1, steal1, soft1 := machineTimes()
	if err != nil {
		return phasedStats{}, err
	}
	cpu1, _, err := tgt.stats()
	if err != nil {
		return phasedStats{}, err
	}
	moved1, err := l.moved(tgt)
	if err != nil {
		return phasedStats{}, err
	}
	// The window ends when the last response arrived; the cores are
	// shares of the whole time measured (up to queuedPoll longer, while
	// the sources read the last responses).
	last := t0
	for _, s := range stats {
		if s.last.After(last) {
			last = s.last
		}
	}
	if !queued || last.After(end) {
		last = end
	}
	secs, span := last.Sub(t0).Seconds(), end.Sub(t0).Seconds()
	if queued && requests > 0 {
		if tgt.perRequest == nil {
			tgt.perRequest = make(map[string]float64)
		}
		tgt.perRequest[exchange] = secs / float64(requests)
	}
	p.Seconds += secs
	p.span += span
	p.RespCores += cpu1 - cpu0
	p.CPUPerHS += cpu1 - cpu0
	p.InitCores += ic1 - ic0
	p.IdleCores += idle1 - idle0
	p.StealCores += steal1 - steal0
	if l.windows != nil {
		how := "in flight"
		if queued {
			how = "queued"
		}
		others := float64(runtime.NumCPU()) - (cpu1-cpu0+ic1-ic0+idle1-idle0+steal1-steal0)/span
		waiting := ""
		if queued && waited.After(t0) {
			// While the responder worked, the sources only waited.
			waiting = fmt.Sprintf(" (%.3f while the responder worked)", (icWait-ic0)/waited.Sub(t0).Seconds())
		}
		moved := ""
		if tgt.moved != nil {
			moved = fmt.Sprintf(", %d IKE SAs moved between its workers", moved1-moved0)
		}
		fmt.Fprintf(l.windows, "window: %s %s %d requests (%s): %.1f ms, responder %.2f cores%s; over the %.1f ms measured: initiators %.2f cores%s, others %.2f, idle %.2f, softirq (any task) %.2f\n",
			p.Name, exchange, requests, how, secs*1e3, (cpu1-cpu0)/secs, moved, span*1e3, (ic1-ic0)/span, waiting, max(0, others), (idle1-idle0)/span, (soft1-soft0)/span)
	}
	var sum phasedStats
	for _, s := range stats {
		sum.retransmits += s.retransmits
		sum.lost += s.lost
	}
	return sum, nil
}

// moved reads the target's count of IKE SAs moved between its workers,
// for the window lines: 0 when they are not printed or the target does
// not count them. It is read outside the responder's CPU readings.
func (l *phasedLoad) moved(tgt *target) (uint64, error) {
	if l.windows == nil || tgt.moved == nil {
		return 0, nil
	}
	return tgt.moved()
}

// prepare readies the exchange of the source's sessions that are still
// going.
func (src *phasedSource) prepare() {
	src.reqs = src.reqs[:0]
	clear(src.by)
	for _, in := range src.inits {
		if !in.failed {
			src.by[in.spiI] = len(src.reqs)
			src.reqs = append(src.reqs, in)
		}
	}
	n := len(src.reqs)
	src.sent = slices.Grow(src.sent[:0], n)[:n]
	src.done = slices.Grow(src.done[:0], n)[:n]
	clear(src.done)
	if len(src.wmsgs) < n {
		src.wmsgs = make([]ipv4.Message, n)
	}
	if len(src.arena) < n*phasedResp {
		src.arena = make([]byte, n*phasedResp)
	}
}

// send sends the source's requests lo to hi at once (queued windows).
func (src *phasedSource) send(lo, hi int) error {
	lo, hi = min(lo, len(src.reqs)), min(hi, len(src.reqs))
	now := time.Now()
	out := src.wmsgs[:0]
	for i := lo; i < hi; i++ {
		out = src.add(out, i, now)
	}
	return src.conn.writeAll(out)
}

// exchange sends the source's requests lo to hi, keeping up to
// l.perSource in flight within the load's window, or, if sent, takes
// them as sent already; it stores each response. A request without a
// response after phasedRTO is sent again, up to phasedTries times; sent
// requests, which wait in the responder's queue, only once no response
// has come for phasedRTO.
func (src *phasedSource) exchange(l *phasedLoad, lo, hi int, sent bool) (phasedStats, error) {
	var st phasedStats
	n := min(hi, len(src.reqs))
	next := min(lo, n)
	left, inflight := n-next, 0
	if sent {
		next, inflight = n, left
		l.inflight.Add(int64(inflight))
	}
	defer func() { l.inflight.Add(int64(-inflight)) }()
	lastScan, lastResp := time.Now(), time.Now()
	for left > 0 {
		now := time.Now()
		out := src.wmsgs[:0]
		for inflight < l.perSource && next < n {
			if l.inflight.Add(1) > int64(l.window) {
				l.inflight.Add(-1)
				break
			}
			out = src.add(out, next, now)
			next++
			inflight++
		}
		if now.Sub(lastScan) >= phasedRTO/4 && (!sent || now.Sub(lastResp) >= phasedRTO) {
			lastScan = now
			for i := lo; i < next; i++ {
				if src.done[i] || now.Sub(src.sent[i]) < phasedRTO {
					continue
				}
				if src.reqs[i].tries >= phasedTries {
					src.done[i] = true
					left--
					inflight--
					l.inflight.Add(-1)
					st.lost++
					continue
				}
				out = src.add(out, i, now)
				st.retransmits++
			}
		}
		if err := src.conn.writeAll(out); err != nil {
			return st, err
		}
		if left == 0 {
			break
		}
		wait := phasedRTO / 4
		if inflight == 0 {
			// Nothing to wait for: the window is taken by the other
			// sources; look again soon.
			wait = time.Millisecond
		}
		k, err := src.conn.readBatch(src.rmsgs, wait)
		if err != nil {
			return st, err
		}
		for _, m := range src.rmsgs[:k] {
			at, ok := arrival(m.OOB[:m.NN])
			if !ok {
				at = time.Now()
			}
			b := m.Buffers[0][:m.N]
			if len(b) >= 4 && [4]byte(b) == [4]byte{} {
				b = b[4:] // the non-ESP marker (RFC 3948 2.2)
			}
			if len(b) < isakmp.HeaderLen || isakmp.Flags(b[19])&isakmp.FlagResponse == 0 {
				continue
			}
			i, ok := src.by[[8]byte(b[:8])]
			if !ok || i < lo || i >= n || src.done[i] {
				continue
			}
			in := src.reqs[i]
			if uint32(b[20])<<24|uint32(b[21])<<16|uint32(b[22])<<8|uint32(b[23]) != in.msgID {
				continue // a late answer to an earlier request
			}
			if len(b) <= phasedResp {
				in.resp = append(src.arena[i*phasedResp:i*phasedResp:(i+1)*phasedResp], b...)
			} else {
				in.resp = bytes.Clone(b)
			}
			src.done[i] = true
			left--
			inflight--
			l.inflight.Add(-1)
			lastResp = now
			if at.After(st.last) {
				st.last = at
			}
		}
		if sent && left > 0 {
			// Queued: read what has come every queuedPoll, in batches,
			// rather than wake for each response; the arrival times
			// say when the window ended.
			time.Sleep(queuedPoll)
		}
	}
	return st, nil
}

// add appends request i to out and notes when it was sent.
func (src *phasedSource) add(out []ipv4.Message, i int, now time.Time) []ipv4.Message {
	in := src.reqs[i]
	in.tries++
	src.sent[i] = now
	m := &src.wmsgs[len(out)]
	if cap(m.Buffers) == 0 {
		m.Buffers = make([][]byte, 1)
	}
	m.Buffers[0], m.Addr = in.req, in.to
	return out[:len(out)+1]
}

// alternate runs phased rounds of n handshakes against a and b in turns,
// rounds times, and returns each side's totals and the median over rounds
// of b's rate over a's. A probe, if not nil, runs after each of b's
// rounds.
func (l *phasedLoad) alternate(ctx context.Context, a, b *target, nameA, nameB string, rounds, n int, probe *ceiling) (pa, pb phase, ratio float64, err error) {
	return alternate(a, b, nameA, nameB, rounds, func(t *target, name string) (phase, error) {
		p, err := l.round(ctx, t, name, n)
		if err == nil && probe != nil && t == b {
			err = probe.probe()
		}
		return p, err
	})
}
