package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The handshake every initiator makes, and the responder accepts.
const (
	ikeProposal   = "aes128gcm16-prfsha256-x25519"
	childProposal = "aes128gcm16"
	responderID   = "responder.load"
)

var (
	secret = []byte("ikeload pre-shared key, loopback only")
	// The CHILD SA's traffic selectors: initiator side, responder side.
	netI = netip.MustParsePrefix("10.1.0.0/16")
	netR = netip.MustParsePrefix("10.2.0.0/16")
)

// target is the responder under load.
type target struct {
	ike, natt netip.AddrPort
	// stats returns the responder's CPU seconds so far and its IKE SAs.
	stats func() (cpu float64, live int64, err error)
	// moved, if set, returns how many IKE SAs the responder's workers
	// have handed to each other so far (ike.EndpointStats.Moved).
	moved func() (uint64, error)
	// hold, if set, stops the responder until release is called; burst
	// is how many requests its socket and queues take while it is held.
	// The phased load then queues each window's requests first (queued
	// windows).
	hold  func() (release func() error, err error)
	burst int
	// perRequest is, for each exchange, the seconds per request of the
	// target's last queued window: the next window's wait sleeps most of
	// its expected length in one go.
	perRequest map[string]float64
}

// Modes of the initiators.
const (
	modeIdle  = iota // start nothing; finish what is in flight
	modeChurn        // start handshakes, delete each IKE SA once it is up
	modeKeep         // start handshakes (up to keepLeft), keep the IKE SAs
)

// load drives the initiators: one goroutine and one UDP socket per source
// address, each with its share of the handshakes in flight.
type load struct {
	o    options
	cur  atomic.Pointer[target] // where new handshakes go
	base ike.Config
	srcs []*source
	stop chan struct{}
	wg   sync.WaitGroup
	mode atomic.Int32

	keepLeft    atomic.Int64 // modeKeep: handshakes still to start
	inflight    atomic.Int64
	established atomic.Uint64
	kept        atomic.Int64
	failed      atomic.Uint64
	retransmits atomic.Uint64
}

// source is one initiator address.
type source struct {
	idx    int
	conn   *net.UDPConn
	local  netip.AddrPort
	window int
	active map[[8]byte]*initSession // by SPIi; only the source's goroutine touches it
}

type initSession struct {
	s    *ike.Session
	tgt  *target
	up   bool
	keep bool
	natt bool
}

// initiatorConfig is the configuration all initiators share but their
// identity.
func initiatorConfig() (ike.Config, error) {
	psk, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		return ike.Config{}, err
	}
	ikeProps, err := ike.ParseProposals(ikeProposal, isakmp.ProtocolIKE)
	if err != nil {
		return ike.Config{}, err
	}
	childProps, err := ike.ParseProposals(childProposal, isakmp.ProtocolESP)
	if err != nil {
		return ike.Config{}, err
	}
	return ike.Config{
		RemoteID:     auth.FQDN(responderID),
		Auth:         psk,
		PeerAuth:     func(auth.Identity, [][]byte, time.Time) (auth.PeerAuthenticator, error) { return psk, nil },
		IKEProposals: ikeProps, ChildProposals: childProps,
		LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netI)},
		RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netR)},
		// The initiators never rekey, probe or keep alive: they forget
		// their SAs once up.
		IKERekey: -1, ChildRekey: 24 * time.Hour,
		RetransmitTimeout: time.Second, RetransmitTries: 4,
	}, nil
}

func newLoad(o options) (*load, error) {
	base, err := initiatorConfig()
	if err != nil {
		return nil, err
	}
	l := &load{o: o, base: base, stop: make(chan struct{})}
	for i := range o.sources {
		a := netip.AddrFrom4([4]byte{127, 77, byte(i / 250), byte(i%250 + 1)})
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			l.close()
			return nil, fmt.Errorf("bind %v (is 127.0.0.0/8 loopback here?): %w", a, err)
		}
		_ = c.SetReadBuffer(1 << 20)
		_ = c.SetWriteBuffer(1 << 20)
		w := o.window / o.sources
		if i < o.window%o.sources {
			w++
		}
		s := &source{idx: i, conn: c, local: c.LocalAddr().(*net.UDPAddr).AddrPort(), window: max(w, 1),
			active: map[[8]byte]*initSession{}}
		l.srcs = append(l.srcs, s)
	}
	for _, s := range l.srcs {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.runSource(s)
		}()
	}
	return l, nil
}

func (l *load) close() {
	close(l.stop)
	for _, s := range l.srcs {
		s.conn.Close()
	}
	l.wg.Wait()
}

// take reports whether a source may start a handshake now, and whether
// its IKE SA is to be kept.
func (l *load) take() (ok, keep bool) {
	switch l.mode.Load() {
	case modeChurn:
		return true, false
	case modeKeep:
		if l.keepLeft.Add(-1) >= 0 {
			return true, true
		}
		l.keepLeft.Add(1)
	}
	return false, false
}

var nonESPMarker = []byte{0, 0, 0, 0} // RFC 3948 section 2.2

// identities counts the initiator identities handed out in this process,
// so that no two IKE SAs of a run share one, across loads too.
var identities atomic.Uint64

func (l *load) runSource(src *source) {
	buf := make([]byte, 1<<16)
	lastTick := time.Now()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		now := time.Now()
		for len(src.active) < src.window {
			ok, keep := l.take()
			if !ok {
				break
			}
			l.start(src, now, keep)
		}
		if now.Sub(lastTick) > 20*time.Millisecond {
			l.tick(src, now)
			lastTick = now
		}
		_ = src.conn.SetReadDeadline(now.Add(10 * time.Millisecond))
		n, _, err := src.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		b := buf[:n]
		if len(b) >= 4 && [4]byte(b) == [4]byte{} {
			// The non-ESP marker of the NAT-T port (RFC 3948 section
			// 2.2): an IKE header never starts with a zero SPIi.
			b = b[4:]
		}
		if len(b) < isakmp.HeaderLen {
			continue
		}
		is := src.active[[8]byte(b[:8])]
		if is == nil {
			continue
		}
		is.s.Receive(time.Now(), b)
		l.after(src, is, time.Now())
	}
}

// start begins a handshake from src with an identity of its own.
func (l *load) start(src *source, now time.Time, keep bool) {
	cfg := l.base
	cfg.LocalID = auth.FQDN(fmt.Sprintf("i%d-%d.load", src.idx, identities.Add(1)))
	tgt := l.cur.Load()
	s, err := ike.NewInitiator(&cfg, src.local, tgt.ike, now)
	if err != nil {
		l.failed.Add(1)
		if keep {
			l.keepLeft.Add(1)
		}
		return
	}
	spiI, _ := s.SPIs()
	is := &initSession{s: s, tgt: tgt, keep: keep}
	src.active[spiI] = is
	l.inflight.Add(1)
	l.after(src, is, now)
}

// after sends what the session has to send and acts on its state: an IKE
// SA that is up is counted, then deleted (churn) or forgotten (keep).
func (l *load) after(src *source, is *initSession, now time.Time) {
	is.s.Events()
	if !is.up && is.s.Established() {
		is.up = true
		l.established.Add(1)
		if is.keep {
			l.kept.Add(1)
			l.forget(src, is)
			return
		}
		is.s.Close(now) // Delete (RFC 7296 1.4.1)
	}
	l.send(src, is, is.s.Datagrams())
	if is.s.Closed() {
		if !is.up {
			l.failed.Add(1)
			if is.keep {
				l.keepLeft.Add(1)
			}
		}
		l.forget(src, is)
	}
}

// send sends datagrams of is, on the NAT-T port with the non-ESP marker
// once NAT was detected.
func (l *load) send(src *source, is *initSession, ds [][]byte) {
	for _, d := range ds {
		to := is.tgt.ike
		if is.s.UDPEncap() {
			if !is.natt {
				is.natt = true
				is.s.SetPath(src.local, is.tgt.natt) // RFC 7296 2.23: IKE moves to 4500
			}
			to = is.tgt.natt
			d = append(append(make([]byte, 0, len(d)+4), nonESPMarker...), d...)
		}
		_, _ = src.conn.WriteToUDPAddrPort(d, to)
	}
}

func (l *load) forget(src *source, is *initSession) {
	spiI, _ := is.s.SPIs()
	if src.active[spiI] == is {
		delete(src.active, spiI)
		l.inflight.Add(-1)
	}
}

// tick runs the sessions' timers (retransmissions).
func (l *load) tick(src *source, now time.Time) {
	for _, is := range src.active {
		if d := is.s.Deadline(); !d.IsZero() && !now.Before(d) {
			is.s.Tick(now)
			ds := is.s.Datagrams() // retransmissions
			l.retransmits.Add(uint64(len(ds)))
			l.send(src, is, ds)
			l.after(src, is, now)
		}
	}
}

// idle stops new handshakes and waits for those in flight to finish.
func (l *load) idle(ctx context.Context) error {
	l.mode.Store(modeIdle)
	deadline := time.Now().Add(30 * time.Second)
	for l.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d handshakes still in flight after 30 s", l.inflight.Load())
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// measureChurn measures handshakes with immediate deletes over o.measure,
// after a short warm-up.
func (l *load) measureChurn(ctx context.Context, tgt *target, name string) (phase, error) {
	l.cur.Store(tgt)
	l.mode.Store(modeChurn)
	if err := sleep(ctx, min(l.o.measure/4, time.Second)); err != nil {
		return phase{}, err
	}
	return l.churnStretch(ctx, tgt, name, l.o.measure)
}

// churnStretch measures the handshakes with immediate deletes that the
// initiators, already busy with tgt, complete in d.
func (l *load) churnStretch(ctx context.Context, tgt *target, name string, d time.Duration) (phase, error) {
	cpu0, live0, err := tgt.stats()
	if err != nil {
		return phase{}, err
	}
	ic0, e0, f0, r0, t0 := cpuSeconds(), l.established.Load(), l.failed.Load(), l.retransmits.Load(), time.Now()
	if err := sleep(ctx, d); err != nil {
		return phase{}, err
	}
	cpu1, _, err := tgt.stats()
	if err != nil {
		return phase{}, err
	}
	ic1, e1, f1, r1, secs := cpuSeconds(), l.established.Load(), l.failed.Load(), l.retransmits.Load(), time.Since(t0).Seconds()
	if err := l.idle(ctx); err != nil {
		return phase{}, err
	}
	p := phase{Name: name, Method: contended, Live: live0, Handshakes: e1 - e0, Seconds: secs, Failed: f1 - f0, Retransmits: r1 - r0,
		RespCores: (cpu1 - cpu0) / secs, InitCores: (ic1 - ic0) / secs}
	p.Rate = float64(p.Handshakes) / secs
	if p.Handshakes > 0 {
		p.CPUPerHS = (cpu1 - cpu0) / float64(p.Handshakes)
	}
	return p, nil
}

// fill makes IKE SAs and keeps them until the responder has n, and
// returns the rate at which it did.
func (l *load) fill(ctx context.Context, tgt *target, n int64) (float64, error) {
	l.cur.Store(tgt)
	_, live, err := tgt.stats()
	if err != nil {
		return 0, err
	}
	need := n - live
	if need <= 0 {
		return 0, nil
	}
	k0, t0 := l.kept.Load(), time.Now()
	l.keepLeft.Store(need)
	l.mode.Store(modeKeep)
	last, progress := k0, time.Now()
	for l.kept.Load()-k0 < need {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return 0, err
		}
		if k := l.kept.Load(); k != last {
			last, progress = k, time.Now()
		} else if time.Since(progress) > 30*time.Second {
			return 0, fmt.Errorf("no IKE SA established for 30 s while filling to %d (%d kept)", n, k-k0)
		}
	}
	rate := float64(l.kept.Load()-k0) / time.Since(t0).Seconds()
	return rate, l.idle(ctx)
}

func mustAddrPort(s string) netip.AddrPort {
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}
	}
	return a
}

// alternate measures handshakes with immediate deletes against a and b in
// turns of d each (which goes first alternates), rounds times, with the
// contended load.
func (l *load) alternate(ctx context.Context, a, b *target, nameA, nameB string, rounds int, d time.Duration) (pa, pb phase, ratio float64, err error) {
	return alternate(a, b, nameA, nameB, rounds, func(t *target, name string) (phase, error) {
		l.cur.Store(t)
		l.mode.Store(modeChurn)
		if err := sleep(ctx, d/5); err != nil { // the window fills
			return phase{}, err
		}
		return l.churnStretch(ctx, t, name, d)
	})
}

// alternate measures a and b in turns (which goes first alternates),
// rounds times, so that both see the same machine: the drift of a shared
// machine between two stretches measured minutes apart does not enter
// their ratio. It returns each side's totals and the median over rounds
// of b's rate over a's.
func alternate(a, b *target, nameA, nameB string, rounds int, measure func(t *target, name string) (phase, error)) (pa, pb phase, ratio float64, err error) {
	ratios := make([]float64, 0, rounds)
	add := func(sum *phase, p phase) {
		live := sum.Live
		if sum.Name == "" {
			live = p.Live
		}
		*sum = phase{Name: p.Name, Method: p.Method, Live: live, Handshakes: sum.Handshakes + p.Handshakes, Seconds: sum.Seconds + p.Seconds,
			Failed: sum.Failed + p.Failed, Retransmits: sum.Retransmits + p.Retransmits,
			RespCores: sum.RespCores + p.RespCores*p.Seconds, InitCores: sum.InitCores + p.InitCores*p.Seconds,
			IdleCores: sum.IdleCores + p.IdleCores*p.Seconds, StealCores: sum.StealCores + p.StealCores*p.Seconds,
			CPUPerHS: sum.CPUPerHS + p.CPUPerHS*float64(p.Handshakes)} // sums; divided below
	}
	for r := range rounds {
		var ra, rb phase
		order := []*target{a, b}
		if r%2 == 1 {
			order = []*target{b, a}
		}
		for _, t := range order {
			name := nameA
			if t == b {
				name = nameB
			}
			p, err := measure(t, name)
			if err != nil {
				return pa, pb, 0, err
			}
			if t == a {
				ra = p
				add(&pa, p)
			} else {
				rb = p
				add(&pb, p)
			}
		}
		if ra.Rate > 0 {
			ratios = append(ratios, rb.Rate/ra.Rate)
		}
	}
	pa.finish()
	pb.finish()
	if len(ratios) > 0 {
		slices.Sort(ratios)
		ratio = ratios[len(ratios)/2]
	}
	return pa, pb, ratio, nil
}

// finish turns the totals of a phase into its rate, cores and CPU per
// handshake.
func (p *phase) finish() {
	if p.Seconds > 0 {
		p.Rate = float64(p.Handshakes) / p.Seconds
		// The responder's cores over the windows, in which it did all its
		// work; the others over all the time measured.
		p.RespCores /= p.Seconds
		span := p.span
		if span <= 0 {
			span = p.Seconds
		}
		p.InitCores /= span
		p.IdleCores /= span
		p.StealCores /= span
	}
	if p.Handshakes > 0 {
		p.CPUPerHS /= float64(p.Handshakes)
	}
}
