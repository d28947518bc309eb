package ike

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// Defaults of the endpoint.
const (
	// DefaultKeepalive is the NAT keepalive interval (RFC 3948 4: 20 s).
	DefaultKeepalive = 20 * time.Second
	natTPort         = 4500
	maxDatagram      = 65535
)

// NAT-T framing on port 4500 (RFC 3948 2.2, 2.3).
var (
	nonESPMarker = []byte{0, 0, 0, 0}
	natKeepalive = []byte{0xff}
)

// EndpointConfig configures an Endpoint. It is a plain value that must not
// be changed after NewEndpoint; the Endpoint only reads it.
type EndpointConfig struct {
	// IKEAddr and NATTAddr are the local UDP addresses for IKE (normally
	// port 500) and for NAT traversal (normally 4500). Use a specific IP
	// address: it feeds NAT detection.
	IKEAddr, NATTAddr netip.AddrPort
	// Responder, if set, answers IKE_SA_INIT requests with this
	// configuration; without it the endpoint only initiates.
	Responder *Config
	// Events receives every session event, from the endpoint's goroutine,
	// before the datagrams of the same step are sent: a CHILD SA installed
	// here is in place when the peer learns of it. It must not block for
	// long.
	Events func(Event)
	// ESP receives ESP packets that arrived on the NAT-T socket
	// (UDP-encapsulated ESP, RFC 3948), one at a time from the goroutine
	// that reads that socket (not the one that calls Events); the packet
	// is only valid during the call.
	ESP func(from netip.AddrPort, packet []byte)
	// Keepalive is the NAT keepalive interval for sessions behind a NAT;
	// zero means DefaultKeepalive, negative turns keepalives off.
	Keepalive time.Duration
	// ErrorRate limits the unprotected error responses of RFC 7296 1.5
	// (INVALID_IKE_SPI for requests on unknown IKE SAs, INVALID_MAJOR_VERSION
	// for requests of a higher IKE version), per second with a burst of as
	// many; zero means DefaultErrorRate, negative sends none.
	ErrorRate float64
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Endpoint runs IKE sessions over UDP: it dispatches datagrams to sessions
// by SPI, runs their timers, moves them to the NAT-T port when NAT is
// detected (RFC 7296 2.23) with the non-ESP marker, sends NAT keepalives,
// and hands UDP-encapsulated ESP to the caller. Requests for IKE SAs it
// does not know, and requests of a higher IKE major version, get the
// unprotected INVALID_IKE_SPI and INVALID_MAJOR_VERSION answers of RFC
// 7296 1.5 within EndpointConfig.ErrorRate. Its methods are safe for
// concurrent use; sessions live in the goroutine of Run.
type Endpoint struct {
	cfg      EndpointConfig
	log      *slog.Logger
	ike      *net.UDPConn
	natt     *net.UDPConn
	ikeAddr  netip.AddrPort
	nattAddr netip.AddrPort

	in   chan datagram
	cmds chan func(now time.Time)

	// Owned by the Run goroutine.
	sessions map[[8]byte]*epSession // by this side's SPI
	halfOpen map[halfOpenKey]*epSession
	errLimit *rateLimit
	closeMu  sync.Once

	// holdIKE, if set, sees every IKE message before it is sent and may
	// keep it back (tests use it to make exchanges cross on the wire).
	holdIKE func(msg []byte) bool
}

type datagram struct {
	b    []byte
	from netip.AddrPort
	natt bool
}

type halfOpenKey struct {
	spiI   [8]byte
	remote netip.AddrPort
}

// epSession is a session with the endpoint's bookkeeping.
type epSession struct {
	s          *Session
	natt       bool             // IKE moved to the NAT-T socket
	remoteNATT netip.AddrPort   // where the peer listens for NAT-T
	spis       map[[8]byte]bool // this side's SPIs registered for it
	lastSent   time.Time
}

// NewEndpoint binds the two sockets.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	e := &Endpoint{cfg: cfg, log: cfg.Logger, in: make(chan datagram, 64), cmds: make(chan func(time.Time)),
		sessions: map[[8]byte]*epSession{}, halfOpen: map[halfOpenKey]*epSession{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.ErrorRate > 0:
		e.errLimit = newRateLimit(cfg.ErrorRate)
	case cfg.ErrorRate < 0:
		e.errLimit = newRateLimit(0)
	default:
		e.errLimit = newRateLimit(DefaultErrorRate)
	}
	var err error
	if e.ike, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.IKEAddr)); err != nil {
		return nil, fmt.Errorf("ike: endpoint: %w", err)
	}
	if e.natt, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.NATTAddr)); err != nil {
		e.ike.Close()
		return nil, fmt.Errorf("ike: endpoint: %w", err)
	}
	e.ikeAddr = e.ike.LocalAddr().(*net.UDPAddr).AddrPort()
	e.nattAddr = e.natt.LocalAddr().(*net.UDPAddr).AddrPort()
	return e, nil
}

// Addrs returns the bound IKE and NAT-T addresses (useful with port 0).
func (e *Endpoint) Addrs() (ike, natt netip.AddrPort) { return e.ikeAddr, e.nattAddr }

// Run serves until ctx is done, then closes the sockets and returns
// ctx.Err(). Sessions are abandoned without Delete; call Close on them
// first for an orderly shutdown.
func (e *Endpoint) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	readCtx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		e.closeSockets()
		wg.Wait()
	}()
	for _, c := range []struct {
		conn *net.UDPConn
		natt bool
	}{{e.ike, false}, {e.natt, true}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.read(readCtx, c.conn, c.natt)
		}()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		e.tick(now)
		wait := time.Hour
		if d := e.deadline(); !d.IsZero() {
			wait = max(time.Until(d), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d := <-e.in:
			e.handle(time.Now(), d)
		case f := <-e.cmds:
			f(time.Now())
		case <-timer.C:
		}
	}
}

func (e *Endpoint) closeSockets() {
	e.closeMu.Do(func() {
		e.ike.Close()
		e.natt.Close()
	})
}

func (e *Endpoint) read(ctx context.Context, c *net.UDPConn, natt bool) {
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			e.log.Debug("ike: endpoint read", "err", err)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if natt {
			switch {
			case n == 1 && buf[0] == 0xff:
				continue // NAT keepalive (RFC 3948 2.3)
			case n >= 4 && [4]byte(buf[:4]) != [4]byte{}:
				// UDP-encapsulated ESP: the first 4 bytes are the SPI.
				if e.cfg.ESP != nil {
					e.cfg.ESP(from, buf[:n])
				}
				continue
			case n < 4+isakmp.HeaderLen:
				continue
			}
		}
		b := make([]byte, n)
		copy(b, buf[:n])
		select {
		case e.in <- datagram{b: b, from: from, natt: natt}:
		case <-ctx.Done():
			return
		}
	}
}

// do runs f in the Run goroutine.
func (e *Endpoint) do(ctx context.Context, f func(now time.Time)) error {
	done := make(chan struct{})
	select {
	case e.cmds <- func(now time.Time) { f(now); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Initiate starts an IKE SA with cfg to the peer at remote (its IKE port);
// remoteNATT is its NAT-T address, or invalid for remote's address with
// port 4500. It returns the new IKE SA's initiator SPI. Run must be
// running.
func (e *Endpoint) Initiate(ctx context.Context, cfg *Config, remote, remoteNATT netip.AddrPort) ([8]byte, error) {
	var spi [8]byte
	var ierr error
	err := e.do(ctx, func(now time.Time) {
		s, err := NewInitiator(cfg, e.ikeAddr, remote, now)
		if err != nil {
			ierr = err
			return
		}
		es := &epSession{s: s, remoteNATT: remoteNATT, spis: map[[8]byte]bool{}}
		if !remoteNATT.IsValid() {
			es.remoteNATT = netip.AddrPortFrom(remote.Addr(), natTPort)
		}
		spi = s.sa.spiI
		e.register(es)
		e.flush(now, es)
	})
	if err != nil {
		return spi, err
	}
	return spi, ierr
}

// Session runs f with the session whose IKE SA has this side's SPI spi
// (the initiator SPI for sessions this endpoint initiated, the responder
// SPI otherwise), in the Run goroutine, and sends whatever f made the
// session produce. It returns an error if there is no such session.
func (e *Endpoint) Session(ctx context.Context, spi [8]byte, f func(now time.Time, s *Session)) error {
	found := false
	err := e.do(ctx, func(now time.Time) {
		es := e.sessions[spi]
		if es == nil {
			return
		}
		found = true
		f(now, es.s)
		e.flush(now, es)
	})
	if err == nil && !found {
		err = fmt.Errorf("ike: no session with SPI %x", spi)
	}
	return err
}

// SendESP sends a bare ESP packet (SPI first) inside UDP from the NAT-T
// socket (RFC 3948 2.1).
func (e *Endpoint) SendESP(to netip.AddrPort, packet []byte) error {
	_, err := e.natt.WriteToUDPAddrPort(packet, to)
	return err
}

func (e *Endpoint) register(es *epSession) {
	for _, spi := range es.s.localSPIs() {
		if !es.spis[spi] {
			es.spis[spi] = true
			e.sessions[spi] = es
		}
	}
}

func (e *Endpoint) unregister(es *epSession) {
	for spi := range es.spis {
		if e.sessions[spi] == es {
			delete(e.sessions, spi)
		}
	}
	for k, v := range e.halfOpen {
		if v == es {
			delete(e.halfOpen, k)
		}
	}
}

// handle dispatches one IKE datagram (RFC 7296 2.2: by SPI; an
// IKE_SA_INIT request without responder SPI by initiator SPI and source
// address, so that its retransmissions reach the same half-open SA).
func (e *Endpoint) handle(now time.Time, d datagram) {
	b := d.b
	if d.natt {
		b = b[4:] // the non-ESP marker
	}
	var h isakmp.Header
	if err := h.Parse(b); err != nil {
		return
	}
	if h.Major() != isakmp.MajorIKEv2 {
		if h.Major() > isakmp.MajorIKEv2 {
			// RFC 7296 2.5: dropped, and a request answered.
			e.answerUnprotected(now, d, &h, isakmp.NotifyInvalidMajorVersion)
		}
		return
	}
	initiatorSent := h.Flags&isakmp.FlagInitiator != 0
	var es *epSession
	switch {
	case initiatorSent && h.ResponderSPI == [8]byte{} && h.Exchange == isakmp.ExchangeIKESAInit:
		if h.Flags&isakmp.FlagResponse != 0 {
			return
		}
		key := halfOpenKey{h.InitiatorSPI, d.from}
		if es = e.halfOpen[key]; es == nil {
			e.accept(now, d, b, key)
			return
		}
	case initiatorSent:
		es = e.sessions[h.ResponderSPI]
	default:
		es = e.sessions[h.InitiatorSPI]
	}
	if es == nil {
		// RFC 7296 1.5, 2.21.4: a request for an IKE SA we do not know
		// (perhaps lost in a restart) may be answered, unprotected, with
		// INVALID_IKE_SPI; responses are never answered.
		e.answerUnprotected(now, d, &h, isakmp.NotifyInvalidIKESPI)
		return
	}
	oldLocal, oldRemote := es.s.Path()
	oldNATT := es.natt
	moved := d.natt && (!es.natt || oldRemote != d.from)
	if moved {
		// The peer moved to NAT-T, or its NAT mapping changed. The session
		// sees the new path while it processes the message (a CHILD SA
		// made now takes its ports), but the move only stands if the
		// message authenticates (RFC 7296 2.23).
		es.natt = true
		es.s.SetPath(e.nattAddr, d.from)
	}
	before := es.s.Stats()
	es.s.Receive(now, b)
	if after := es.s.Stats(); moved && (after.Dropped != before.Dropped || after.IntegrityFailures != before.IntegrityFailures ||
		after.CachedResponses != before.CachedResponses) {
		// Not authenticated, or a replay of an old request: stay put.
		es.natt = oldNATT
		es.s.SetPath(oldLocal, oldRemote)
	}
	e.flush(now, es)
}

// answerUnprotected sends the one-way error response of RFC 7296 1.5 for
// the request with header h back where it came from (on port 4500 with
// the non-ESP marker), within Config.ErrorRate. Responses get nothing.
func (e *Endpoint) answerUnprotected(now time.Time, d datagram, h *isakmp.Header, t isakmp.NotifyType) {
	resp := oneWayResponse(h, t)
	if resp == nil {
		return
	}
	if !e.errLimit.allow(now) {
		e.log.Debug("ike: endpoint: error response rate-limited", "from", d.from, "notify", t)
		return
	}
	var err error
	if d.natt {
		_, err = e.natt.WriteToUDPAddrPort(append(append(make([]byte, 0, 4+len(resp)), nonESPMarker...), resp...), d.from)
	} else {
		_, err = e.ike.WriteToUDPAddrPort(resp, d.from)
	}
	if err != nil {
		e.log.Debug("ike: endpoint: send", "to", d.from, "err", err)
	}
}

func (e *Endpoint) accept(now time.Time, d datagram, b []byte, key halfOpenKey) {
	cfg := e.cfg.Responder
	if cfg == nil {
		return
	}
	local := e.ikeAddr
	if d.natt {
		local = e.nattAddr
	}
	s, err := Accept(cfg, local, d.from, now, b)
	if err != nil {
		e.log.Debug("ike: endpoint: refused", "from", d.from, "err", err)
		return
	}
	es := &epSession{s: s, natt: d.natt, remoteNATT: netip.AddrPortFrom(d.from.Addr(), natTPort), spis: map[[8]byte]bool{}}
	if d.natt {
		es.remoteNATT = d.from
	}
	if !s.Closed() {
		e.register(es)
		e.halfOpen[key] = es
	}
	e.flush(now, es)
}

// flush reports the session's events, sends what it produced, moves it to
// NAT-T when NAT was detected, and forgets it when it is closed.
func (e *Endpoint) flush(now time.Time, es *epSession) {
	s := es.s
	if !es.natt && s.sa.initiator && s.UDPEncap() && s.sa.state != stateInitSent && s.sa.state != stateClosed {
		// RFC 7296 2.23: after IKE_SA_INIT, the initiator moves to 4500;
		// the responder follows when a request arrives there.
		es.natt = true
		s.SetPath(e.nattAddr, es.remoteNATT)
	}
	// Events first: the caller installs a new CHILD SA (or retires an old
	// one) before the message that lets the peer use it, or tells it the
	// old one is gone, leaves this host (RFC 7296 2.8: the responder's
	// inbound SA must be ready when its CREATE_CHILD_SA response arrives).
	for _, ev := range s.Events() {
		if e.cfg.Events != nil {
			e.cfg.Events(ev)
		}
	}
	_, remote := s.Path()
	for _, d := range s.Datagrams() {
		if e.holdIKE != nil && e.holdIKE(d) {
			continue
		}
		var err error
		if es.natt {
			_, err = e.natt.WriteToUDPAddrPort(append(append(make([]byte, 0, 4+len(d)), nonESPMarker...), d...), remote)
		} else {
			_, err = e.ike.WriteToUDPAddrPort(d, remote)
		}
		if err != nil {
			e.log.Debug("ike: endpoint: send", "to", remote, "err", err)
		}
		es.lastSent = now
	}
	if s.Established() {
		for k, v := range e.halfOpen {
			if v == es {
				delete(e.halfOpen, k)
			}
		}
		if s.initialContact {
			s.initialContact = false
			e.replaceOlder(now, es)
		}
	}
	if s.Closed() {
		e.unregister(es)
		return
	}
	e.register(es)
}

// replaceOlder closes, without Delete, every other session whose peer has
// the identity that es's peer just authenticated with INITIAL_CONTACT
// (RFC 7296 2.4: the peer has lost the state of those SAs).
func (e *Endpoint) replaceOlder(now time.Time, es *epSession) {
	var old []*epSession
	e.each(func(o *epSession) {
		if o != es && o.s.Established() && o.s.peerID.Equal(es.s.peerID) {
			old = append(old, o)
		}
	})
	for _, o := range old {
		o.s.shutdown(errReplaced)
		e.flush(now, o)
	}
}

func (e *Endpoint) keepaliveInterval() time.Duration {
	switch {
	case e.cfg.Keepalive > 0:
		return e.cfg.Keepalive
	case e.cfg.Keepalive < 0:
		return 0
	}
	return DefaultKeepalive
}

// each calls f once for every live session.
func (e *Endpoint) each(f func(es *epSession)) {
	seen := map[*epSession]bool{}
	for _, es := range e.sessions {
		if !seen[es] {
			seen[es] = true
			f(es)
		}
	}
}

func (e *Endpoint) deadline() time.Time {
	var d time.Time
	e.each(func(es *epSession) {
		t := es.s.Deadline()
		if k := e.keepaliveDue(es); !k.IsZero() && (t.IsZero() || k.Before(t)) {
			t = k
		}
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	})
	return d
}

// keepaliveDue is when a session behind a NAT must send a keepalive
// (RFC 3948 2.3: only the side behind the NAT sends them).
func (e *Endpoint) keepaliveDue(es *epSession) time.Time {
	iv := e.keepaliveInterval()
	if iv == 0 || !es.natt || !es.s.localNAT || !es.s.Established() {
		return time.Time{}
	}
	return es.lastSent.Add(iv)
}

func (e *Endpoint) tick(now time.Time) {
	var due []*epSession
	e.each(func(es *epSession) {
		if d := es.s.Deadline(); !d.IsZero() && !now.Before(d) {
			due = append(due, es)
		}
		if k := e.keepaliveDue(es); !k.IsZero() && !now.Before(k) {
			_, remote := es.s.Path()
			e.natt.WriteToUDPAddrPort(natKeepalive, remote)
			es.lastSent = now
		}
	})
	for _, es := range due {
		es.s.Tick(now)
		e.flush(now, es)
	}
}

// localSPIs returns this side's SPIs of the current and the old IKE SA.
func (s *Session) localSPIs() [][8]byte {
	var out [][8]byte
	for _, sa := range s.allSAs() {
		spi := sa.spiR
		if sa.initiator {
			spi = sa.spiI
		}
		if spi != ([8]byte{}) {
			out = append(out, spi)
		}
	}
	return out
}
