package ike

// The Endpoint's pipeline, stage by stage:
//
//  1. Readers: goroutines that read batches of datagrams (recvmmsg
//     through x/net's ReadBatch), one per worker on the IKE socket, each
//     on a descriptor of its own, and one on the NAT-T socket. On the NAT-T socket the reader drops
//     keepalives and hands UDP-encapsulated ESP to EndpointConfig.ESP,
//     unless an IKE datagram from the same address is still queued, in
//     which case the ESP packet queues behind it. For IKE it parses only
//     the fixed header and finds the owner: a known IKE SA by this
//     side's SPI in a sharded table (O(1)), a half-open responder SA by
//     (initiator SPI, source), or, for a new IKE_SA_INIT, the admission
//     checks below. Unprotected error replies (INVALID_IKE_SPI,
//     INVALID_MAJOR_VERSION) and COOKIE challenges are sent from here,
//     without state, within per-source rates, a batch per batch read.
//  2. Admission (reader, before any key exchange): a COOKIE (RFC 7296
//     2.6) once the global or per-source half-open count passes its
//     threshold, then the caps on IKE SAs, half-open SAs and half-open
//     SAs per source. A request that passes holds a reserved half-open
//     slot until its worker either creates the SA or refuses it.
//  3. Workers: one per core (EndpointConfig.Workers), each with bounded
//     input queues (datagrams for existing IKE SAs are preferred over
//     new IKE_SA_INITs), a command queue and a timer heap. New IKE SAs
//     from the IKE port wait in one queue that all workers serve, so
//     each goes to whichever worker is free. A session lives in one
//     worker at a time, so its messages, timers and events stay in
//     order, while key exchanges, AUTH and the encryption of different
//     IKE SAs run on all cores; a worker with a backlog hands half of
//     it, session by session, to a worker that waits with nothing to do
//     (share in endpoint_worker.go), so that neither idles while the
//     other still has a burst to work through. The session is
//     sans-I/O: the worker feeds it datagrams and the clock, reports its
//     events, and sends what it produced (batched with sendmmsg, on
//     descriptors of the sockets of its own).
//
// Nothing on these paths visits all sessions: the cost of a datagram or
// a timer does not depend on how many IKE SAs exist.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// Defaults of the endpoint. The half-open and cookie figures are
// strongSwan's (charon.cookie_threshold, cookie_threshold_ip,
// block_threshold, half_open_timeout).
const (
	// DefaultKeepalive is the NAT keepalive interval (RFC 3948 4: 20 s).
	DefaultKeepalive = 20 * time.Second
	// DefaultCookieThreshold is the number of half-open IKE SAs from
	// which every new IKE_SA_INIT must carry a COOKIE.
	DefaultCookieThreshold = 30
	// DefaultCookieThresholdPerSource is the number of half-open IKE SAs
	// from one address from which that address must return COOKIEs.
	DefaultCookieThresholdPerSource = 3
	// DefaultMaxHalfOpenPerSource caps the half-open IKE SAs of one
	// address.
	DefaultMaxHalfOpenPerSource = 5
	// DefaultMaxHalfOpen caps the half-open IKE SAs in total.
	DefaultMaxHalfOpen = 4096
	// DefaultMaxIKESAs caps the IKE SAs (half-open included).
	DefaultMaxIKESAs = 1 << 18
	// DefaultMaxRetiredIKESAs caps the IKE SAs a session keeps after
	// rekeys while their Delete is outstanding.
	DefaultMaxRetiredIKESAs = 2
	// DefaultHalfOpenTimeout is how long a responder waits for IKE_AUTH
	// after answering IKE_SA_INIT.
	DefaultHalfOpenTimeout = 30 * time.Second
	// DefaultQueueLen is the length of each worker's input queues.
	DefaultQueueLen = 1024
	// DefaultSocketBuffer is the socket receive and send buffer size
	// asked for.
	DefaultSocketBuffer = 4 << 20
	// DefaultCookieRate is the per-source rate of COOKIE challenges.
	DefaultCookieRate = 20
	// DefaultErrorSources is the number of sources whose error-reply
	// buckets are remembered.
	DefaultErrorSources = 4096

	cookieRotation = 2 * time.Minute

	natTPort    = 4500
	maxDatagram = 65535
	readBatch   = 16
)

// NAT-T framing on port 4500 (RFC 3948 2.2, 2.3).
var (
	nonESPMarker = []byte{0, 0, 0, 0}
	natKeepalive = []byte{0xff}
)

// EndpointConfig configures an Endpoint. It is a plain value that must not
// be changed after NewEndpoint; the Endpoint only reads it. Zero values
// mean the documented defaults; negative limits mean no limit.
type EndpointConfig struct {
	// IKEAddr and NATTAddr are the local UDP addresses for IKE (normally
	// port 500) and for NAT traversal (normally 4500). Use a specific IP
	// address: it feeds NAT detection.
	IKEAddr, NATTAddr netip.AddrPort
	// Responder, if set, answers IKE_SA_INIT requests (and IKEv1 first
	// messages, if its KeyExchange allows IKEv1) with this configuration,
	// or with what its GetConfigForRequest returns for each request;
	// without it the endpoint only initiates.
	Responder *Config
	// Events receives every session event, from the worker goroutine that
	// runs the session, before the datagrams of the same step are sent: a
	// CHILD SA installed here is in place when the peer learns of it.
	// Events of one IKE SA come in order; events of different IKE SAs may
	// come concurrently. It must not block for long, and must not call the
	// Endpoint's methods that wait for a worker (Initiate, the commands,
	// IKESAs, Shutdown, Close): the worker running it may be the one they wait
	// for. Hand such work to another goroutine.
	Events func(Event)
	// ESP receives ESP packets that arrived on the NAT-T socket
	// (UDP-encapsulated ESP, RFC 3948). Calls are serialized, never
	// concurrent; the packet is only valid during the call. A packet is
	// never delivered ahead of an IKE datagram from the same address that
	// arrived before it (so the CHILD SA it uses is installed).
	ESP func(from netip.AddrPort, packet []byte)
	// ESPBatch, if set, receives those packets instead of ESP, several
	// at a time: the ESP packets of one socket read (up to the first IKE
	// datagram among them), in the order they arrived, from[i] the
	// sender of packets[i]. The same rules hold: calls are serialized,
	// packets are only valid during the call (the callee may decrypt
	// them in place), and none is delivered ahead of an IKE datagram
	// from its address that arrived before it.
	ESPBatch func(from []netip.AddrPort, packets [][]byte)
	// PeerNATT returns where a peer whose IKE port is peer listens for
	// NAT-T; nil means peer's address with port 4500.
	PeerNATT func(peer netip.AddrPort) netip.AddrPort
	// Keepalive is the NAT keepalive interval for sessions behind a NAT;
	// zero means DefaultKeepalive, negative turns keepalives off.
	Keepalive time.Duration

	// Workers is the number of worker goroutines; zero means GOMAXPROCS.
	Workers int
	// QueueLen is the length of each worker's input queues (zero:
	// DefaultQueueLen). Datagrams that find a queue full are dropped and
	// counted in EndpointStats.QueueDrops.
	QueueLen int
	// ReadBuffer and WriteBuffer are the socket buffer sizes asked for
	// (SO_RCVBUF, SO_SNDBUF; as root SO_RCVBUFFORCE and SO_SNDBUFFORCE
	// pass the system maximum); zero means DefaultSocketBuffer, negative
	// leaves the system default. EndpointStats shows what the kernel
	// granted.
	ReadBuffer, WriteBuffer int

	// CookieThreshold and CookieThresholdPerSource are the half-open
	// counts, in total and from one address, from which IKE_SA_INIT
	// requests must return a COOKIE (RFC 7296 2.6); zero means
	// DefaultCookieThreshold and DefaultCookieThresholdPerSource,
	// negative never. The cookies are made with Responder.Cookies's
	// secret if it has a CookieJar (rotate it there), otherwise with the
	// endpoint's own, whose secret changes every two minutes.
	CookieThreshold, CookieThresholdPerSource int
	// MaxHalfOpenPerSource and MaxHalfOpen cap half-open IKE SAs (IKE_SA_INIT
	// answered, IKE_AUTH not yet done) from one address and in total;
	// MaxIKESAs caps all IKE SAs. Requests beyond them are dropped before
	// any key exchange. Zero means the Default values.
	MaxHalfOpenPerSource, MaxHalfOpen, MaxIKESAs int
	// MaxRetiredIKESAs caps the IKE SAs a session keeps after rekeys
	// until their Delete (zero: DefaultMaxRetiredIKESAs).
	MaxRetiredIKESAs int
	// HalfOpenTimeout is how long a half-open responder SA waits for
	// IKE_AUTH (zero: DefaultHalfOpenTimeout).
	HalfOpenTimeout time.Duration

	// CookieRate limits the COOKIE challenges sent to one source address,
	// per second with a burst of as many (zero: DefaultCookieRate,
	// negative: no limit), with a table of ErrorSources addresses as for
	// ErrorRate: a flood from a few addresses does not turn into as many
	// answers, and the readers stay ahead of it. Requests that return a
	// valid cookie are not limited.
	CookieRate float64

	// ErrorRate limits the unprotected error responses of RFC 7296 1.5
	// (INVALID_IKE_SPI for requests on unknown IKE SAs, INVALID_MAJOR_VERSION
	// for requests of a higher IKE version) per source address, per second
	// with a burst of as many; zero means DefaultErrorRate, negative sends
	// none. ErrorRateTotal limits them in total (zero: 100 times
	// ErrorRate). ErrorSources is how many source addresses are
	// remembered (zero: DefaultErrorSources); a new source beyond that
	// takes the place of one with the same hash.
	ErrorRate, ErrorRateTotal float64
	ErrorSources              int

	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// EndpointStats are an Endpoint's counters, a snapshot: a plain value,
// safe for concurrent reads.
type EndpointStats struct {
	// Received and Sent count IKE datagrams; ESPReceived and ESPSent
	// UDP-encapsulated ESP packets; Keepalives NAT keepalives sent.
	Received, Sent, ESPReceived, ESPSent, Keepalives uint64
	// Malformed counts datagrams whose ISAKMP header did not parse, or of
	// a version that cannot be handled; SendErrors failed writes.
	Malformed, SendErrors uint64
	// QueueDrops counts datagrams (and ESP packets held for order) lost
	// to full worker queues.
	QueueDrops uint64
	// SocketDrops counts datagrams the kernel dropped because the IKE or
	// NAT-T socket's receive buffer was full (SO_RXQ_OVFL, Linux; the
	// count comes with the next datagram read, so a drop shows once
	// traffic resumes). Zero elsewhere.
	SocketDrops uint64
	// UnknownSPI counts datagrams for IKE SAs this side does not have.
	UnknownSPI uint64

	// IKESAs and HalfOpen are the current IKE SAs (half-open included)
	// and half-open responder IKE SAs.
	IKESAs, HalfOpen int64
	// Initiated and Accepted count IKE SAs started by Initiate and by
	// answering a first message; Established counts those that completed
	// their handshake (both roles, both versions); Failed those that
	// closed before.
	Initiated, Accepted, Established, Failed uint64
	// Closed counts IKE SAs gone after being established.
	Closed uint64
	// Moved counts IKE SAs a worker with a backlog handed to an idle
	// worker (load sharing across cores).
	Moved uint64

	// The defences.
	// CookiesSent counts COOKIE challenges; CookiesAccepted requests
	// that returned a valid one; CookiesRefused requests with a wrong or
	// stale cookie (challenged again); CookiesLimited challenges not sent
	// because of CookieRate.
	CookiesSent, CookiesAccepted, CookiesRefused, CookiesLimited uint64
	// PerSourceRefused, HalfOpenRefused and IKESARefused count first
	// messages dropped by MaxHalfOpenPerSource, MaxHalfOpen and
	// MaxIKESAs; ConfigRefused those refused by GetConfigForRequest.
	PerSourceRefused, HalfOpenRefused, IKESARefused, ConfigRefused uint64
	// HalfOpenExpired counts half-open IKE SAs dropped after
	// HalfOpenTimeout.
	HalfOpenExpired uint64
	// ErrorReplies counts unprotected error responses sent;
	// ErrorRepliesLimited those not sent because of ErrorRate or
	// ErrorRateTotal.
	ErrorReplies, ErrorRepliesLimited uint64
	// RetiredTrimmed counts retired IKE SAs dropped by MaxRetiredIKESAs.
	RetiredTrimmed uint64
	// ChildSALimit counts CHILD SA requests answered NO_ADDITIONAL_SAS
	// (Config.MaxChildSAs); CertReqTrimmed IKE_SA_INIT responses whose
	// CERTREQ list was shortened against amplification.
	ChildSALimit, CertReqTrimmed uint64
	// IKEv1Dropped counts IKEv1 datagrams that no session took (IKEv1
	// not allowed or not built in).
	IKEv1Dropped uint64

	// ReadBuffer and WriteBuffer are the socket buffer sizes the kernel
	// granted (of the IKE socket; the NAT-T socket gets the same request).
	ReadBuffer, WriteBuffer int
}

// counters are the Endpoint's live counters, updated atomically.
type counters struct {
	received, sent, espReceived, espSent, keepalives             atomic.Uint64
	malformed, sendErrors, queueDrops, unknownSPI                atomic.Uint64
	initiated, accepted, established, failed, closed             atomic.Uint64
	cookiesSent, cookiesAccepted, cookiesRefused, cookiesLimited atomic.Uint64
	perSourceRefused, halfOpenRefused, ikeSARefused              atomic.Uint64
	configRefused, halfOpenExpired                               atomic.Uint64
	errorReplies, errorRepliesLimited, retiredTrimmed            atomic.Uint64
	childSALimit, certReqTrimmed, v1Dropped, moved               atomic.Uint64
	readBuffer, writeBuffer                                      atomic.Int64
	// sockDrops are the kernel's drop counts of the IKE and the NAT-T
	// socket, the largest reported (SO_RXQ_OVFL).
	sockDrops [2]atomic.Uint64
}

// Endpoint runs IKE sessions of both versions over UDP: it dispatches
// datagrams to sessions by SPI, runs their timers, moves them to the
// NAT-T port when NAT is detected (RFC 7296 2.23) with the non-ESP
// marker, sends NAT keepalives, and hands UDP-encapsulated ESP to the
// caller. Requests for IKE SAs it does not know, and requests of a higher
// IKE major version, get the unprotected INVALID_IKE_SPI and
// INVALID_MAJOR_VERSION answers of RFC 7296 1.5 within
// EndpointConfig.ErrorRate. It defends itself against floods of first
// messages with cookies and caps (see EndpointConfig). Its methods are
// safe for concurrent use.
type Endpoint struct {
	cfg               EndpointConfig
	lim               limits
	log               *slog.Logger
	ikeAddr, nattAddr netip.AddrPort

	// Set by Listen.
	ike, natt           *net.UDPConn
	ikeBatch, nattBatch *batchConn
	// ikeFDs and nattFDs are descriptors of the two sockets of each
	// worker's own (dups, where the platform has them; else the shared
	// ones): the workers send with them, and the IKE readers read ikeFDs.
	// One descriptor has one read lock and one write lock, which its users
	// take in turns, and a sendmmsg on loopback holds the write lock while
	// it delivers every datagram of the batch; with their own, the workers
	// and readers wait only for the socket, not for each other. dups are
	// the descriptors to close.
	ikeFDs, nattFDs []*batchConn
	dups            []*net.UDPConn

	workers []*worker
	// first holds the first messages (new IKE SAs) that arrived on the
	// IKE port and passed admission. Every worker serves it when its own
	// queue is empty, so that new IKE SAs go to whichever worker is free
	// and the workers work through a burst together.
	first    chan item
	sessions spiTable      // by this side's SPI
	halfOpen halfOpenTable // responder SAs before IKE_AUTH, by (SPIi, source)
	peers    peerTable     // established IKEv2 SAs by peer identity
	adm      admission
	replies  *replyLimiter
	cookieRL *replyLimiter // nil: no limit
	cookies  *CookieJar
	ownJar   bool // cookies is the endpoint's, rotated by Run
	order    espOrder
	espMu    sync.Mutex
	stats    counters
	rr       atomic.Uint32

	// v1Peers holds established IKEv1 sessions by their peer's address
	// (netip.AddrPort -> *epSession): a new phase 1 from there is the
	// peer's rekey of that session (peer_rekey_v1.go).
	v1Peers sync.Map

	mu        sync.Mutex // lifecycle
	listening bool
	running   bool
	closed    bool
	done      chan struct{} // closed by Close
	stopped   chan struct{} // closed when Run has returned
	closeOnce sync.Once
	stopping  atomic.Bool // the sockets are being closed
	// shuttingDown is set by Shutdown: an IKE SA handed between workers
	// while they close theirs is closed on arrival.
	shuttingDown atomic.Bool

	// holdIKE, if set, sees every IKE message before it is sent and may
	// keep it back (tests use it to make exchanges cross on the wire).
	holdIKE atomic.Pointer[func(msg []byte) bool]
}

// limits are EndpointConfig's limits with the defaults applied; a
// negative value means none.
type limits struct {
	cookieTotal, cookieSource       int64
	halfOpenSource, halfOpen, ikeSA int64
	retired                         int
	halfOpenTimeout, keepalive      time.Duration
	queueLen, workers               int
	readBuffer, writeBuffer         int
	errorRate, errorRateTotal       float64
	cookieRate                      float64
	errorSources                    int
}

func orDefault[T int | int64 | float64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

func (c *EndpointConfig) limits() (limits, error) {
	l := limits{
		cookieTotal:     int64(orDefault(c.CookieThreshold, DefaultCookieThreshold)),
		cookieSource:    int64(orDefault(c.CookieThresholdPerSource, DefaultCookieThresholdPerSource)),
		halfOpenSource:  int64(orDefault(c.MaxHalfOpenPerSource, DefaultMaxHalfOpenPerSource)),
		halfOpen:        int64(orDefault(c.MaxHalfOpen, DefaultMaxHalfOpen)),
		ikeSA:           int64(orDefault(c.MaxIKESAs, DefaultMaxIKESAs)),
		retired:         orDefault(c.MaxRetiredIKESAs, DefaultMaxRetiredIKESAs),
		halfOpenTimeout: orDefault(c.HalfOpenTimeout, DefaultHalfOpenTimeout),
		keepalive:       orDefault(c.Keepalive, DefaultKeepalive),
		queueLen:        orDefault(c.QueueLen, DefaultQueueLen),
		workers:         orDefault(c.Workers, runtime.GOMAXPROCS(0)),
		readBuffer:      orDefault(c.ReadBuffer, DefaultSocketBuffer),
		writeBuffer:     orDefault(c.WriteBuffer, DefaultSocketBuffer),
		errorRate:       orDefault(c.ErrorRate, DefaultErrorRate),
		cookieRate:      orDefault(c.CookieRate, DefaultCookieRate),
		errorSources:    orDefault(c.ErrorSources, DefaultErrorSources),
	}
	l.errorRateTotal = orDefault(c.ErrorRateTotal, 100*max(l.errorRate, 0))
	switch {
	case l.queueLen < 0 || l.workers < 0:
		return l, fmt.Errorf("%w: QueueLen and Workers must not be negative", errConfig)
	case l.errorSources < 0:
		return l, fmt.Errorf("%w: ErrorSources must not be negative", errConfig)
	case l.halfOpenTimeout < 0:
		return l, fmt.Errorf("%w: HalfOpenTimeout must not be negative", errConfig)
	}
	if l.retired < 0 {
		l.retired = 1 << 30
	}
	return l, nil
}

// NewEndpoint checks cfg and prepares an Endpoint; it binds nothing
// (see Listen).
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if !cfg.IKEAddr.IsValid() || !cfg.NATTAddr.IsValid() {
		return nil, fmt.Errorf("%w: IKEAddr and NATTAddr are required", errConfig)
	}
	lim, err := cfg.limits()
	if err != nil {
		return nil, err
	}
	if cfg.Responder != nil && cfg.Responder.GetConfigForRequest == nil {
		// With GetConfigForRequest the Config used is the one it returns,
		// checked when a session starts.
		if err := cfg.Responder.checkVersions(); err != nil {
			return nil, fmt.Errorf("ike: endpoint: Responder: %w", err)
		}
	}
	// The Responder's own CookieJar, if it has one, so that a cookie the
	// endpoint accepted also passes the session's check (RFC 7296 2.6).
	var jar *CookieJar
	if cfg.Responder != nil {
		jar = cfg.Responder.Cookies
	}
	own := jar == nil
	if own {
		var err error
		if jar, err = NewCookieJar(0, nil); err != nil {
			return nil, err
		}
	}
	e := &Endpoint{cfg: cfg, lim: lim, log: cfg.Logger, cookies: jar, ownJar: own,
		done: make(chan struct{}), stopped: make(chan struct{})}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.sessions.init()
	e.halfOpen.init()
	e.peers.init()
	e.adm.init(lim)
	e.order.init()
	e.replies = newReplyLimiter(lim.errorRate, lim.errorRateTotal, lim.errorSources)
	if lim.cookieRate > 0 {
		e.cookieRL = newReplyLimiter(lim.cookieRate, math.Inf(1), lim.errorSources)
	}
	for i := range lim.workers {
		e.workers = append(e.workers, newWorker(e, i))
	}
	e.first = make(chan item, lim.queueLen*lim.workers)
	return e, nil
}

// Listen binds the IKE and NAT-T sockets and sizes their buffers.
func (e *Endpoint) Listen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return net.ErrClosed
	case e.listening:
		return errors.New("ike: endpoint: already listening")
	}
	ike, err := listenUDP(e.cfg.IKEAddr)
	if err != nil {
		return fmt.Errorf("ike: endpoint: %w", err)
	}
	natt, err := listenUDP(e.cfg.NATTAddr)
	if err != nil {
		ike.Close()
		return fmt.Errorf("ike: endpoint: %w", err)
	}
	for _, c := range []*net.UDPConn{ike, natt} {
		rb, wb := setBuffers(c, e.lim.readBuffer, e.lim.writeBuffer)
		if c == ike {
			e.stats.readBuffer.Store(int64(rb))
			e.stats.writeBuffer.Store(int64(wb))
		}
	}
	e.ike, e.natt = ike, natt
	e.ikeBatch, e.nattBatch = newBatchConn(ike), newBatchConn(natt)
	// ESP in UDP (RFC 3948) shares the NAT-T port: let its runs leave and
	// arrive in trains.
	enableDrops(ike)
	enableDrops(natt)
	e.nattBatch.gso.Store(enableOffloads(natt))
	// The workers' own descriptors (their writes of IKE datagrams do not
	// segment; the NAT-T reader and SendESPBatch keep nattBatch).
	e.ikeFDs, e.nattFDs = nil, nil
	for range e.workers {
		e.ikeFDs = append(e.ikeFDs, e.dup(ike, e.ikeBatch))
		e.nattFDs = append(e.nattFDs, e.dup(natt, e.nattBatch))
	}
	e.ikeAddr = ike.LocalAddr().(*net.UDPAddr).AddrPort()
	e.nattAddr = natt.LocalAddr().(*net.UDPAddr).AddrPort()
	e.ikeAddr = netip.AddrPortFrom(e.ikeAddr.Addr().Unmap(), e.ikeAddr.Port())
	e.nattAddr = netip.AddrPortFrom(e.nattAddr.Addr().Unmap(), e.nattAddr.Port())
	e.listening = true
	return nil
}

// dup returns a batchConn on a descriptor of c's socket of its own, or
// shared if the platform cannot make one (net.FilePacketConn).
func (e *Endpoint) dup(c *net.UDPConn, shared *batchConn) *batchConn {
	f, err := c.File()
	if err != nil {
		return shared
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return shared
	}
	u, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return shared
	}
	e.dups = append(e.dups, u)
	return newBatchConn(u)
}

// Addrs returns the bound IKE and NAT-T addresses (useful with port 0);
// before Listen, the configured ones.
func (e *Endpoint) Addrs() (ike, natt netip.AddrPort) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.listening {
		return e.cfg.IKEAddr, e.cfg.NATTAddr
	}
	return e.ikeAddr, e.nattAddr
}

// Run serves until ctx is done or Close is called, then closes the
// sockets and stops. It calls Listen if that has not been done. It
// returns ctx.Err() when ctx ended it and nil after Close. Sessions are
// abandoned without Delete; Shutdown deletes them first.
func (e *Endpoint) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running || e.closed {
		e.mu.Unlock()
		if e.closed {
			return net.ErrClosed
		}
		return errors.New("ike: endpoint: already running")
	}
	e.mu.Unlock()
	if !e.isListening() {
		if err := e.Listen(); err != nil {
			return err
		}
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return net.ErrClosed
	}
	e.running = true
	e.mu.Unlock()
	defer close(e.stopped)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, w := range e.workers {
		wg.Go(func() { w.run(stop) })
	}
	var readers sync.WaitGroup
	// The IKE port gets a reader per worker: first messages, the target
	// of floods, arrive there, and the readers answer them with cookies.
	// The NAT-T port has one, which keeps ESP in order behind IKE (see
	// espOrder).
	for i := range len(e.workers) {
		readers.Go(func() { e.read(e.ike, e.ikeFDs[i], false) })
	}
	readers.Go(func() { e.read(e.natt, e.nattBatch, true) })

	// RFC 7296 2.6: the secret behind the cookies changes regularly (a
	// cookie stays good until the rotation after next).
	rotate := time.NewTicker(cookieRotation)
	defer rotate.Stop()
	var err error
wait:
	for {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-e.done:
			break wait
		case <-rotate.C:
			if e.ownJar {
				e.cookies.Rotate(nil)
			}
		}
	}
	e.closeSockets()
	readers.Wait()
	close(stop)
	wg.Wait()
	return err
}

func (e *Endpoint) isListening() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.listening
}

// Close stops the Endpoint: it closes the sockets, abandons the sessions
// without Delete, and waits until Run has returned.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	running := e.running
	e.closed = true
	e.mu.Unlock()
	e.closeOnce.Do(func() { close(e.done) })
	if running {
		<-e.stopped
	} else {
		e.closeSockets()
	}
	return nil
}

// Shutdown deletes every IKE SA (RFC 7296 1.4.1: an INFORMATIONAL with a
// Delete payload; half-open ones are dropped), waits until they are gone
// or ctx is done, then closes the Endpoint like Close.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	running := e.running && !e.closed
	e.mu.Unlock()
	if !running {
		return e.Close()
	}
	e.shuttingDown.Store(true)
	for _, w := range e.workers {
		w.post(ctx, func(now time.Time) {
			for _, es := range append([]*epSession(nil), w.list...) {
				es.s.Close(now)
				w.flush(now, es)
			}
		})
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var err error
wait:
	for e.adm.ikeSAs.Load() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-e.done:
			break wait
		case <-t.C:
		}
	}
	return errors.Join(err, e.Close())
}

func (e *Endpoint) closeSockets() {
	e.stopping.Store(true)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ike != nil {
		e.ike.Close()
		e.natt.Close()
		for _, c := range e.dups {
			c.Close()
		}
	}
}

// Stats returns a snapshot of the counters.
func (e *Endpoint) Stats() EndpointStats {
	c := &e.stats
	return EndpointStats{
		Received: c.received.Load(), Sent: c.sent.Load(), ESPReceived: c.espReceived.Load(),
		ESPSent: c.espSent.Load(), Keepalives: c.keepalives.Load(),
		Malformed: c.malformed.Load(), SendErrors: c.sendErrors.Load(), QueueDrops: c.queueDrops.Load(),
		SocketDrops: c.sockDrops[0].Load() + c.sockDrops[1].Load(),
		UnknownSPI:  c.unknownSPI.Load(),
		IKESAs:      e.adm.ikeSAs.Load(), HalfOpen: e.adm.halfOpen.Load(),
		Initiated: c.initiated.Load(), Accepted: c.accepted.Load(), Established: c.established.Load(),
		Failed: c.failed.Load(), Closed: c.closed.Load(), Moved: c.moved.Load(),
		CookiesSent: c.cookiesSent.Load(), CookiesAccepted: c.cookiesAccepted.Load(),
		CookiesRefused: c.cookiesRefused.Load(), CookiesLimited: c.cookiesLimited.Load(),
		PerSourceRefused: c.perSourceRefused.Load(), HalfOpenRefused: c.halfOpenRefused.Load(),
		IKESARefused: c.ikeSARefused.Load(), ConfigRefused: c.configRefused.Load(),
		HalfOpenExpired: c.halfOpenExpired.Load(),
		ErrorReplies:    c.errorReplies.Load(), ErrorRepliesLimited: c.errorRepliesLimited.Load(),
		RetiredTrimmed: c.retiredTrimmed.Load(), ChildSALimit: c.childSALimit.Load(),
		CertReqTrimmed: c.certReqTrimmed.Load(), IKEv1Dropped: c.v1Dropped.Load(),
		ReadBuffer: int(c.readBuffer.Load()), WriteBuffer: int(c.writeBuffer.Load()),
	}
}

// Initiate starts an IKE SA with cfg to the peer at remote (its IKE
// port): IKEv1 if cfg.KeyExchange is KeyExchangeIKEv1, IKEv2 otherwise.
// req, if not nil, describes the first CHILD SA: its Config's proposals,
// selectors, mode, lifetimes and Tag replace cfg's, and trigger selectors
// go first in TSi/TSr (RFC 7296 2.9). It returns the new IKE SA's
// initiator SPI, by which the other commands find it. Run must be
// running.
func (e *Endpoint) Initiate(ctx context.Context, cfg *Config, remote netip.AddrPort, req *ChildRequest) ([8]byte, error) {
	var spi [8]byte
	if cfg == nil {
		return spi, fmt.Errorf("%w: nil Config", errConfig)
	}
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	w := e.workers[int(e.rr.Add(1))%len(e.workers)]
	var ierr error
	err := w.post(ctx, func(now time.Time) {
		local, _ := e.Addrs()
		var s session
		if cfg.KeyExchange == KeyExchangeIKEv1 {
			if newInitiatorV1Session == nil {
				ierr = errors.New("ike: endpoint: IKEv1 is not built in")
				return
			}
			s, ierr = newInitiatorV1Session(cfg, local, remote, now, req)
		} else {
			c, err := childConfig(cfg, req)
			if err != nil {
				ierr = err
				return
			}
			var v2 *Session
			if v2, ierr = NewInitiator(c, local, remote, now); ierr == nil {
				s = v2Session{v2}
			}
		}
		if ierr != nil {
			return
		}
		es := w.add(s, remote, true, false)
		if spis := s.localSPIs(); len(spis) > 0 {
			spi = spis[0]
		}
		e.stats.initiated.Add(1)
		w.flush(now, es)
	})
	if err != nil {
		return spi, err
	}
	return spi, ierr
}

// childConfig applies req to an initiator's cfg for the CHILD SA of
// IKE_AUTH.
func childConfig(cfg *Config, req *ChildRequest) (*Config, error) {
	if req == nil || (req.Config == nil || req.Config == cfg) && req.TriggerLocal == nil && req.TriggerRemote == nil {
		return cfg, nil
	}
	c := *cfg
	if r := req.Config; r != nil {
		c.ChildProposals, c.LocalTS, c.RemoteTS, c.Mode = r.ChildProposals, r.LocalTS, r.RemoteTS, r.Mode
		c.ChildRekey, c.ChildLifetime, c.Tag = r.ChildRekey, r.ChildLifetime, r.Tag
	}
	// RFC 7296 2.9: the selectors of the packet that triggered the
	// request go first.
	if req.TriggerLocal != nil {
		c.LocalTS = append([]isakmp.TrafficSelector{*req.TriggerLocal}, c.LocalTS...)
	}
	if req.TriggerRemote != nil {
		c.RemoteTS = append([]isakmp.TrafficSelector{*req.TriggerRemote}, c.RemoteTS...)
	}
	if err := c.checkVersions(); err != nil {
		return nil, err
	}
	return &c, nil
}

var errNoSession = errors.New("ike: no IKE SA with that SPI")

// command runs f on the session whose IKE SA has this side's SPI spi, in
// its worker, and sends what it produced.
func (e *Endpoint) command(ctx context.Context, spi [8]byte, f func(now time.Time, s session) error) error {
	es := e.sessions.get(spi)
	if es == nil {
		return fmt.Errorf("%w %x", errNoSession, spi)
	}
	var ferr error
	err := e.inOwner(ctx, es, func(now time.Time, w *worker) {
		if es.closed {
			ferr = fmt.Errorf("%w %x", errNoSession, spi)
			return
		}
		ferr = f(now, es.s)
		w.flush(now, es)
	})
	if err != nil {
		return err
	}
	return ferr
}

// inOwner runs f in the goroutine of es's worker and waits for it,
// following the session if it moves to another worker meanwhile
// (handOff).
func (e *Endpoint) inOwner(ctx context.Context, es *epSession, f func(now time.Time, w *worker)) error {
	for {
		w := es.w.Load()
		moved := false
		err := w.post(ctx, func(now time.Time) {
			if es.w.Load() != w {
				moved = true
				return
			}
			f(now, w)
		})
		if err != nil || !moved {
			return err
		}
	}
}

// CreateChild asks the IKE SA with this side's SPI spi for one more
// CHILD SA (IKEv2 CREATE_CHILD_SA, RFC 7296 1.3.1; IKEv1 Quick Mode).
func (e *Endpoint) CreateChild(ctx context.Context, spi [8]byte, req ChildRequest) error {
	return e.command(ctx, spi, func(now time.Time, s session) error { return s.CreateChildRequest(now, req) })
}

// RekeyChild rekeys the CHILD SA with inbound SPI inboundSPI of the IKE
// SA spi (RFC 7296 1.3.3).
func (e *Endpoint) RekeyChild(ctx context.Context, spi [8]byte, inboundSPI uint32) error {
	return e.command(ctx, spi, func(now time.Time, s session) error { return s.RekeyChild(now, inboundSPI) })
}

// DeleteChild deletes the CHILD SA with inbound SPI inboundSPI of the
// IKE SA spi (RFC 7296 1.4.1).
func (e *Endpoint) DeleteChild(ctx context.Context, spi [8]byte, inboundSPI uint32) error {
	return e.command(ctx, spi, func(now time.Time, s session) error { return s.DeleteChild(now, inboundSPI) })
}

// RekeyIKE rekeys the IKE SA spi (RFC 7296 1.3.2).
func (e *Endpoint) RekeyIKE(ctx context.Context, spi [8]byte) error {
	return e.command(ctx, spi, func(now time.Time, s session) error { return s.RekeyIKE(now) })
}

// CloseIKE deletes the IKE SA spi and its CHILD SAs (RFC 7296 1.4.1);
// EventIKEDown reports when it is gone.
func (e *Endpoint) CloseIKE(ctx context.Context, spi [8]byte) error {
	return e.command(ctx, spi, func(now time.Time, s session) error { s.Close(now); return nil })
}

// Session runs f with the IKEv2 session whose IKE SA has this side's SPI
// spi (the initiator SPI for sessions this endpoint initiated, the
// responder SPI otherwise), in its worker goroutine, and sends whatever f
// made the session produce. It returns an error if there is no such
// IKEv2 session.
func (e *Endpoint) Session(ctx context.Context, spi [8]byte, f func(now time.Time, s *Session)) error {
	return e.command(ctx, spi, func(now time.Time, s session) error {
		v2, ok := s.(v2Session)
		if !ok {
			return fmt.Errorf("%w %x (not IKEv2)", errNoSession, spi)
		}
		f(now, v2.Session)
		return nil
	})
}

// IKESAs returns a snapshot of the IKE SAs (half-open ones included).
// It visits every worker and so every IKE SA: for monitoring, not for a
// hot path; an IKE SA that moves between workers meanwhile (load
// sharing) may be missing. Without Run it returns nil.
func (e *Endpoint) IKESAs() []IKESAInfo {
	e.mu.Lock()
	running := e.running && !e.closed
	e.mu.Unlock()
	if !running {
		return nil
	}
	var mu sync.Mutex
	var out []IKESAInfo
	for _, w := range e.workers {
		w.post(context.Background(), func(time.Time) {
			infos := make([]IKESAInfo, 0, len(w.list))
			for _, es := range w.list {
				infos = append(infos, es.s.Info())
			}
			mu.Lock()
			out = append(out, infos...)
			mu.Unlock()
		})
	}
	return out
}

// SendESP sends a bare ESP packet (SPI first) inside UDP from the NAT-T
// socket (RFC 3948 2.1).
func (e *Endpoint) SendESP(to netip.AddrPort, packet []byte) error {
	if e.natt == nil {
		return net.ErrClosed
	}
	if _, err := e.natt.WriteToUDPAddrPort(packet, to); err != nil {
		e.stats.sendErrors.Add(1)
		return err
	}
	e.stats.espSent.Add(1)
	return nil
}

// SendESPBatch sends ESP packets to one peer from the NAT-T socket, as
// SendESP does, with as few system calls as the platform allows
// (sendmmsg on Linux). It returns how many were sent.
func (e *Endpoint) SendESPBatch(to netip.AddrPort, packets [][]byte) (int, error) {
	if e.natt == nil {
		return 0, net.ErrClosed
	}
	n, err := e.nattBatch.writeTo(packets, to)
	e.stats.espSent.Add(uint64(n))
	if err != nil {
		e.stats.sendErrors.Add(1)
	}
	return n, err
}

// setHoldIKE installs the test hook that may keep IKE messages back.
func (e *Endpoint) setHoldIKE(f func(msg []byte) bool) { e.holdIKE.Store(&f) }
