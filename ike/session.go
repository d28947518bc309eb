package ike

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// saState is the life cycle of an IKE SA.
type saState uint8

const (
	stateInitSent    saState = iota + 1 // initiator: IKE_SA_INIT request sent
	stateAuthSent                       // initiator: IKE_AUTH request sent
	stateInitDone                       // responder: IKE_SA_INIT answered, waiting for IKE_AUTH
	stateEstablished                    // authenticated
	stateDeleting                       // our Delete of this IKE SA is outstanding
	stateClosed
)

var stateNames = map[saState]string{
	stateInitSent: "init-sent", stateAuthSent: "auth-sent", stateInitDone: "init-done",
	stateEstablished: "established", stateDeleting: "deleting", stateClosed: "closed",
}

func (s saState) String() string { return stateNames[s] }

var (
	errBadMessage = errors.New("ike: malformed message")
	errReplaced   = errors.New("ike: replaced by a new IKE SA with INITIAL_CONTACT")
)

// request is our outstanding request (window size 1, RFC 7296 2.3).
type request struct {
	id      uint32
	msg     []byte
	exch    isakmp.ExchangeType
	sent    time.Time
	timeout time.Time
	tries   int // retransmissions so far
	// onResponse handles the decrypted response payloads.
	onResponse responseFunc
	// ikeRekey marks our request to rekey the IKE SA.
	ikeRekey bool
}

// responseFunc handles the payloads of a response (decrypted, except in
// IKE_SA_INIT); raw is the whole message as received.
type responseFunc func(now time.Time, h *isakmp.Header, ps []isakmp.Payload, raw []byte) error

// ikeSA is the per-IKE-SA state: SPIs, keys and the message ID windows.
type ikeSA struct {
	state     saState
	initiator bool // original initiator of this IKE SA
	spiI      [8]byte
	spiR      [8]byte
	suite     ikeSuite
	chosen    chosen
	keys      ikeSAKeys
	tx, rx    *skCrypter

	nextReqID uint32   // our next request's message ID
	req       *request // outstanding request
	peerReqID uint32   // next request ID expected from the peer
	lastResp  []byte   // response to request peerReqID-1
	lastReq   [32]byte // hash of that request, to recognise retransmissions

	rekeyAt time.Time // zero: never
	// ni and nr are the nonces of the CREATE_CHILD_SA that made this SA
	// by rekeying (RFC 7296 2.8.2 compares them); until is when a retired
	// SA is forgotten even if its Delete never comes.
	ni, nr []byte
	until  time.Time
}

func (sa *ikeSA) matches(h *isakmp.Header) bool {
	if h.InitiatorSPI != sa.spiI {
		return false
	}
	if h.ResponderSPI == sa.spiR {
		return true
	}
	// The IKE_SA_INIT response carries the responder's SPI for the first
	// time; a retransmitted IKE_SA_INIT request still has zero.
	var zero [8]byte
	return h.Exchange == isakmp.ExchangeIKESAInit &&
		(sa.state == stateInitSent && h.Flags&isakmp.FlagResponse != 0 || h.ResponderSPI == zero)
}

func (sa *ikeSA) info() IKESAInfo {
	return IKESAInfo{SPIi: sa.spiI, SPIr: sa.spiR, Initiator: sa.initiator,
		Encr: sa.chosen.encr, Integ: sa.chosen.integ, PRF: sa.chosen.prf, KE: sa.chosen.ke}
}

// prf adapts the IKE SA's PRF to package auth.
func (sa *ikeSA) authPRF() auth.PRF {
	p := sa.suite.prf
	return func(key, data []byte) []byte { return p.sum(key, data) }
}

// Session is one IKEv2 peer relationship: an IKE SA (and, while it is being
// rekeyed, its predecessor) with its CHILD SAs. It is sans-I/O: feed it
// datagrams with Receive and the clock with Tick, and collect Datagrams and
// Events. It is not safe for concurrent use.
type Session struct {
	cfg *Config
	// hook is the responder's Config.GetConfigForRequest, kept from the
	// Config given to Accept while s.cfg changes to the Configs it picks.
	hook func(*ConfigRequest) (*Config, error)
	sessionBase
	local  netip.AddrPort
	remote netip.AddrPort
	sa     *ikeSA // current IKE SA
	// retired are IKE SAs replaced by a rekey (or redundant after a
	// rekey collision) that wait for their Delete exchange.
	retired []*ikeSA
	// pending is the IKE SA made by answering the peer's rekey while our
	// own rekey of the same IKE SA was in flight (RFC 7296 2.8.2); which
	// one survives is decided when ours completes.
	pending   *ikeSA
	handshake *handshake
	queue     []task
	lastRecv  time.Time
	dpdAt     time.Time
	peerID    auth.Identity
	claimedID auth.Identity // the peer's ID payload, before authentication
	localNAT  bool
	remoteNAT bool
	// halfOpenUntil is when a responder that has answered IKE_SA_INIT
	// gives up waiting for IKE_AUTH.
	halfOpenUntil time.Time
	halfOpen      *CookieJar // counts this SA as half-open; nil when not counted
	// unsupportedCritical is set by decrypt for a request carrying an
	// unknown critical payload.
	unsupportedCritical *isakmp.CriticalPayloadError
	// initialContact is set when the peer's IKE_AUTH carried
	// INITIAL_CONTACT (RFC 7296 2.4); the Endpoint then drops older IKE
	// SAs with the same peer identity.
	initialContact bool
	// invalidSyntax is set by decrypt for an authenticated request whose
	// inner payloads do not parse.
	invalidSyntax bool

	events []Event
	closed bool
}

// task is a queued request of ours, started when no other request is
// outstanding (RFC 7296 2.3, window size 1).
type task struct {
	kind taskKind
	spi  uint32        // the CHILD SA concerned, by inbound SPI
	req  *ChildRequest // taskCreateChild: what to ask for, or nil
}

type taskKind uint8

const (
	taskRekeyChild taskKind = iota + 1
	taskDeleteChild
	taskRekeyIKE
	taskDeleteIKE
	taskCreateChild
)

func newSession(cfg *Config, local, remote netip.AddrPort) (*Session, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, sessionBase: newSessionBase(cfg), local: local, remote: remote}
	return s, nil
}

// Datagrams returns the datagrams to send to the peer since the last call,
// in order, and forgets them.
func (s *Session) Datagrams() [][]byte { return s.takeDatagrams() }

// Events returns the events since the last call and forgets them.
func (s *Session) Events() []Event {
	ev := s.events
	s.events = nil
	return ev
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats { return s.stats }

// Closed reports whether the session is finished: the caller may drop it.
func (s *Session) Closed() bool { return s.closed }

// SPIs returns the current IKE SA's SPIs, by which the caller dispatches
// datagrams to the session (and, while an IKE SA rekey completes, the old
// SPIs stay valid too: see EventIKERekeyed).
func (s *Session) SPIs() (spiI, spiR [8]byte) { return s.sa.spiI, s.sa.spiR }

// UDPEncap reports whether NAT detection (or Config.ForceUDPEncap) calls
// for UDP port 4500 with the non-ESP marker for IKE and UDP-encapsulated
// ESP (RFC 7296 2.23, RFC 3948). The caller (or Endpoint) moves the
// session with SetPath.
func (s *Session) UDPEncap() bool { return s.localNAT || s.remoteNAT }

// SetPath changes the addresses the session is reached on: after moving
// to port 4500 (RFC 7296 2.23), or when an authenticated message arrives
// from a new NAT mapping. CHILD SAs made afterwards use them as tunnel
// endpoints and UDP encapsulation ports.
func (s *Session) SetPath(local, remote netip.AddrPort) {
	s.local, s.remote = local, remote
}

// Path returns the addresses the session uses.
func (s *Session) Path() (local, remote netip.AddrPort) { return s.local, s.remote }

// Established reports whether the current IKE SA is authenticated.
func (s *Session) Established() bool { return !s.closed && s.sa.state == stateEstablished }

// ChildSAs returns the established CHILD SAs.
func (s *Session) ChildSAs() []ChildSA {
	var out []ChildSA
	for _, c := range s.children {
		out = append(out, c.sa)
	}
	return out
}

func (s *Session) emit(ev Event) {
	if ev.IKE.SPIi == ([8]byte{}) {
		ev.IKE = s.info()
	}
	s.log.Debug("ike event", "kind", ev.Kind, "err", ev.Err)
	s.events = append(s.events, ev)
}

func (s *Session) info() IKESAInfo {
	i := s.sa.info()
	i.LocalID = s.cfg.LocalID
	i.RemoteID = s.peerID
	i.PeerClaimedID = s.claimedID
	i.LocalAddr, i.RemoteAddr = s.local, s.remote
	i.LocalNAT, i.RemoteNAT = s.localNAT, s.remoteNAT
	return i
}

// Receive processes one IKE datagram (without any non-ESP marker) received
// at now. Anything that is not a valid message for this session is dropped
// and counted; nothing is returned to the sender for unauthenticated
// garbage (RFC 7296 2.21).
func (s *Session) Receive(now time.Time, datagram []byte) {
	if s.closed {
		return
	}
	s.stats.Received++
	b := bytes.Clone(datagram) // decrypted in place; the caller keeps its buffer
	var m isakmp.Message
	if err := m.Decode(b); err != nil || m.Header.Major() != isakmp.MajorIKEv2 {
		s.drop("undecodable message", err)
		return
	}
	h := &m.Header
	sa := s.findSA(h)
	if sa == nil {
		s.drop("unknown SPIs", nil)
		return
	}
	// The I flag says who sent it (RFC 7296 3.1): never ourselves.
	if (h.Flags&isakmp.FlagInitiator != 0) == sa.initiator {
		s.drop("wrong initiator flag", nil)
		return
	}
	if h.Flags&isakmp.FlagResponse != 0 {
		s.receiveResponse(now, sa, &m, b)
	} else {
		s.receiveRequest(now, sa, &m, b)
	}
	s.kick(now)
}

// findSA returns the IKE SA a message belongs to: the current one, a
// pending one (RFC 7296 2.8.2) or a retired one.
func (s *Session) findSA(h *isakmp.Header) *ikeSA {
	for _, sa := range s.allSAs() {
		if sa.matches(h) {
			return sa
		}
	}
	return nil
}

// allSAs returns the current, pending and retired IKE SAs.
func (s *Session) allSAs() []*ikeSA {
	out := []*ikeSA{s.sa}
	if s.pending != nil {
		out = append(out, s.pending)
	}
	return append(out, s.retired...)
}

// retire keeps sa until its Delete exchange completes (or, without one,
// for a retransmission schedule).
func (s *Session) retire(now time.Time, sa *ikeSA) {
	sa.rekeyAt = time.Time{}
	sa.until = now.Add(s.retransmitSchedule())
	s.retired = append(s.retired, sa)
}

func (s *Session) forget(sa *ikeSA) {
	s.retired = slices.DeleteFunc(s.retired, func(x *ikeSA) bool { return x == sa })
	if s.pending == sa {
		s.pending = nil
	}
}

func (s *Session) drop(why string, err error) {
	s.stats.Dropped++
	s.log.Debug("ike: dropped message", "why", why, "err", err)
}

// receiveResponse matches a response to our outstanding request (RFC 7296
// 2.2) and hands it over.
func (s *Session) receiveResponse(now time.Time, sa *ikeSA, m *isakmp.Message, b []byte) {
	r := sa.req
	if r == nil || m.Header.MessageID != r.id || m.Header.Exchange != r.exch {
		s.drop("unexpected response", nil)
		return
	}
	ps := m.Payloads
	if r.exch != isakmp.ExchangeIKESAInit {
		var ok bool
		if ps, ok = s.decrypt(sa, m, b); !ok {
			return
		}
	}
	s.lastRecv = now
	sa.req = nil
	if err := r.onResponse(now, &m.Header, ps, b); err != nil {
		s.log.Debug("ike: response handling failed", "exchange", r.exch, "err", err)
	}
}

// receiveRequest handles a peer request: a new one in order, or a
// retransmission answered from the cache (RFC 7296 2.1, 2.2).
func (s *Session) receiveRequest(now time.Time, sa *ikeSA, m *isakmp.Message, b []byte) {
	id := m.Header.MessageID
	hash := sha256.Sum256(b)
	switch {
	case id == sa.peerReqID-1 && sa.lastResp != nil && sa.peerReqID != 0:
		if hash == sa.lastReq {
			s.send(bytes.Clone(sa.lastResp))
			s.stats.CachedResponses++
		} else {
			s.drop("old message ID", nil)
		}
		return
	case id != sa.peerReqID:
		s.drop("message ID out of window", nil)
		return
	}
	var resp []byte
	var err error
	s.unsupportedCritical, s.invalidSyntax = nil, false
	defer func() { s.unsupportedCritical, s.invalidSyntax = nil, false }()
	switch m.Header.Exchange {
	case isakmp.ExchangeIKEAuth:
		if sa.state != stateInitDone {
			s.drop("IKE_AUTH in state "+sa.state.String(), nil)
			return
		}
		ps, ok := s.decrypt(sa, m, b)
		if !ok {
			resp, err = s.answerCritical(sa, m.Header.Exchange)
			break
		}
		resp, err = s.respondIKEAuth(now, sa, ps)
	case isakmp.ExchangeCreateChildSA, isakmp.ExchangeInformational:
		if sa.state != stateEstablished && sa.state != stateDeleting {
			s.drop(m.Header.Exchange.String()+" before IKE_AUTH", nil)
			return
		}
		ps, ok := s.decrypt(sa, m, b)
		if !ok {
			resp, err = s.answerCritical(sa, m.Header.Exchange)
			break
		}
		if m.Header.Exchange == isakmp.ExchangeCreateChildSA {
			resp, err = s.respondCreateChildSA(now, sa, ps)
		} else {
			resp, err = s.respondInformational(now, sa, ps)
		}
	default:
		s.drop("unexpected request "+m.Header.Exchange.String(), nil)
		return
	}
	if err != nil {
		s.log.Debug("ike: request handling failed", "exchange", m.Header.Exchange, "err", err)
	}
	if resp == nil {
		return
	}
	s.lastRecv = now
	sa.peerReqID = id + 1
	sa.lastResp = resp
	sa.lastReq = hash
	s.send(bytes.Clone(resp))
}

// answerCritical builds the UNSUPPORTED_CRITICAL_PAYLOAD or INVALID_SYNTAX
// response for an authenticated request that decrypt refused for that
// reason; nil for anything else (which is dropped silently).
func (s *Session) answerCritical(sa *ikeSA, exch isakmp.ExchangeType) ([]byte, error) {
	if s.invalidSyntax {
		return s.encrypt(sa, exch, sa.peerReqID, true, []isakmp.Payload{notify(isakmp.NotifyInvalidSyntax, nil)})
	}
	cpe := s.unsupportedCritical
	if cpe == nil {
		return nil, nil
	}
	return s.encrypt(sa, exch, sa.peerReqID, true,
		[]isakmp.Payload{notify(isakmp.NotifyUnsupportedCriticalPayload, []byte{byte(cpe.Type)})})
}

// decrypt verifies and decrypts the Encrypted payload, which must be the
// last payload (RFC 7296 3.14), and decodes the inner payloads. Failures
// are dropped silently and counted (RFC 7296 2.21.1).
func (s *Session) decrypt(sa *ikeSA, m *isakmp.Message, b []byte) ([]isakmp.Payload, bool) {
	if sa.rx == nil || len(m.Payloads) == 0 {
		s.drop("no keys or no payloads", nil)
		return nil, false
	}
	sk, ok := m.Payloads[len(m.Payloads)-1].(*isakmp.Encrypted)
	if !ok {
		s.drop("no Encrypted payload", nil)
		return nil, false
	}
	inner, err := sa.rx.open(b, len(b)-len(sk.Data))
	if err != nil {
		if errors.Is(err, errIntegrity) {
			s.stats.IntegrityFailures++
			s.log.Debug("ike: integrity check failed")
		} else {
			s.drop("bad Encrypted payload", err)
		}
		return nil, false
	}
	ps, n, err := isakmp.DecodePayloads(nil, isakmp.MajorIKEv2, sk.Inner, inner)
	var cpe *isakmp.CriticalPayloadError
	if errors.As(err, &cpe) && m.Header.Flags&isakmp.FlagResponse == 0 {
		// An authenticated request with a critical payload we do not
		// understand is answered with UNSUPPORTED_CRITICAL_PAYLOAD and the
		// payload type (RFC 7296 2.5).
		s.unsupportedCritical = cpe
		return nil, false
	}
	if err != nil || n != len(inner) {
		s.drop("malformed inner payloads", err)
		if m.Header.Flags&isakmp.FlagResponse == 0 {
			// Authenticated but unparseable: answer INVALID_SYNTAX (RFC
			// 7296 3.10.1) rather than leave the peer retransmitting.
			s.invalidSyntax = true
		}
		return nil, false
	}
	return ps, true
}

// encrypt builds a protected message: the IKE header and one Encrypted
// payload holding inner (RFC 7296 3.14).
func (s *Session) encrypt(sa *ikeSA, exch isakmp.ExchangeType, id uint32, response bool, inner []isakmp.Payload) ([]byte, error) {
	plain, err := isakmp.AppendPayloads(nil, isakmp.MajorIKEv2, inner)
	if err != nil {
		return nil, err
	}
	first := isakmp.PayloadNone
	if len(inner) > 0 {
		first = inner[0].Type()
	}
	n := sa.tx.sealedLen(len(plain))
	m := isakmp.Message{Header: s.header(sa, exch, id, response),
		Payloads: []isakmp.Payload{&isakmp.Encrypted{Inner: first, Data: make([]byte, n)}}}
	b, err := m.Append(make([]byte, 0, isakmp.HeaderLen+isakmp.GenericHeaderLen+n))
	if err != nil {
		return nil, err
	}
	return sa.tx.seal(b[:len(b)-n], plain)
}

func (s *Session) header(sa *ikeSA, exch isakmp.ExchangeType, id uint32, response bool) isakmp.Header {
	h := isakmp.Header{InitiatorSPI: sa.spiI, ResponderSPI: sa.spiR, Version: isakmp.VersionIKEv2,
		Exchange: exch, MessageID: id}
	if sa.initiator {
		h.Flags |= isakmp.FlagInitiator
	}
	if response {
		h.Flags |= isakmp.FlagResponse
	}
	return h
}

// sendRequest sends a new request on sa and arms its retransmission.
func (s *Session) sendRequest(now time.Time, sa *ikeSA, exch isakmp.ExchangeType, inner []isakmp.Payload,
	onResponse responseFunc) error {
	if sa.req != nil {
		return errors.New("ike: a request is already outstanding")
	}
	id := sa.nextReqID
	b, err := s.encrypt(sa, exch, id, false, inner)
	if err != nil {
		return err
	}
	sa.nextReqID++
	s.arm(now, sa, &request{id: id, msg: b, exch: exch, onResponse: onResponse})
	return nil
}

func (s *Session) arm(now time.Time, sa *ikeSA, r *request) {
	r.sent = now
	r.timeout = now.Add(s.cfg.retransmitTimeout())
	sa.req = r
	s.send(bytes.Clone(r.msg))
}

// Deadline returns when Tick must next be called; the zero time if no
// timer is running.
func (s *Session) Deadline() time.Time {
	if s.closed {
		return time.Time{}
	}
	var d time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	for _, sa := range s.allSAs() {
		if sa.req != nil {
			earlier(sa.req.timeout)
		} else if sa != s.sa && sa != s.pending {
			earlier(sa.until)
		}
	}
	if s.sa.state == stateInitDone {
		earlier(s.halfOpenUntil)
	}
	if s.sa.state == stateEstablished {
		earlier(s.dpdAt)
		earlier(s.sa.rekeyAt)
		s.childTimers(earlier)
	}
	return d
}

// Tick runs the timers due at now: retransmissions (RFC 7296 2.1, with
// exponential back-off), liveness checks (2.4) and rekeying (2.8).
func (s *Session) Tick(now time.Time) {
	if s.closed {
		return
	}
	for _, sa := range s.allSAs() {
		if sa.req == nil || now.Before(sa.req.timeout) {
			continue
		}
		r := sa.req
		if r.tries >= s.cfg.retransmitTries() {
			s.log.Debug("ike: peer does not answer", "exchange", r.exch, "tries", r.tries)
			if sa != s.sa {
				// A retired IKE SA's Delete went unanswered; it is gone anyway.
				s.forget(sa)
				continue
			}
			err := fmt.Errorf("ike: no response to %v after %d retransmissions", r.exch, r.tries)
			s.emit(Event{Kind: EventPeerDead, Err: err})
			s.shutdown(err)
			return
		}
		r.tries++
		// Timeout n is base^n times the first (strongSwan's back-off).
		wait := time.Duration(float64(s.cfg.retransmitTimeout()) * math.Pow(s.cfg.retransmitBase(), float64(r.tries)))
		r.timeout = now.Add(wait)
		s.stats.Retransmits++
		s.send(bytes.Clone(r.msg))
	}
	for _, sa := range slices.Clone(s.retired) {
		if sa.req == nil && !now.Before(sa.until) {
			s.forget(sa) // its Delete never came (RFC 7296 2.18: it is deleted)
		}
	}
	if s.sa.state == stateInitDone && !s.halfOpenUntil.IsZero() && !now.Before(s.halfOpenUntil) {
		s.shutdown(fmt.Errorf("%w: no IKE_AUTH request", ErrHandshake))
		return
	}
	if s.sa.state != stateEstablished {
		return
	}
	// Every timer that is due is cleared here, so that Deadline moves on.
	for _, c := range s.children {
		if !c.expireAt.IsZero() && !now.Before(c.expireAt) {
			// Hard lifetime: delete, whatever else was planned.
			c.expireAt, c.rekeyAt = time.Time{}, time.Time{}
			s.enqueue(task{kind: taskDeleteChild, spi: c.sa.InboundSPI})
			continue
		}
		if !c.rekeyAt.IsZero() && !now.Before(c.rekeyAt) {
			c.rekeyAt = time.Time{}
			if !c.rekeyed {
				s.enqueue(task{kind: taskRekeyChild, spi: c.sa.InboundSPI})
			}
		}
	}
	if !s.sa.rekeyAt.IsZero() && !now.Before(s.sa.rekeyAt) {
		s.sa.rekeyAt = time.Time{}
		s.enqueue(task{kind: taskRekeyIKE})
	}
	if !s.dpdAt.IsZero() && !now.Before(s.dpdAt) {
		s.dpdAt = time.Time{} // kick starts the check if the peer is still silent
	}
	s.kick(now)
}

func (s *Session) enqueue(t task) {
	for _, q := range s.queue {
		if q == t {
			return
		}
	}
	s.queue = append(s.queue, t)
}

// kick starts the next queued request if none is outstanding.
func (s *Session) kick(now time.Time) {
	if s.closed {
		return
	}
	for len(s.queue) > 0 && s.sa.req == nil && s.sa.state == stateEstablished {
		t := s.queue[0]
		s.queue = s.queue[1:]
		var err error
		switch t.kind {
		case taskRekeyChild:
			err = s.startRekeyChild(now, t.spi)
		case taskDeleteChild:
			err = s.startDeleteChild(now, t.spi)
		case taskRekeyIKE:
			err = s.startRekeyIKE(now)
		case taskDeleteIKE:
			err = s.startDeleteIKE(now)
		case taskCreateChild:
			err = s.startCreateChild(now, t.req)
		}
		if err != nil {
			s.log.Debug("ike: could not start request", "task", t.kind, "err", err)
		}
	}
	if s.sa.state == stateEstablished && s.cfg.DPDInterval > 0 && s.sa.req == nil && len(s.queue) == 0 {
		// The liveness check is due an interval after the peer was last
		// heard from (RFC 7296 2.4); an outstanding request checks
		// liveness by itself.
		s.dpdAt = s.lastRecv.Add(s.cfg.DPDInterval)
		if !s.dpdAt.After(now) {
			s.dpdAt = time.Time{}
			if err := s.startDPD(now); err != nil {
				s.log.Debug("ike: could not start liveness check", "err", err)
			}
		}
	}
}

// RekeyChild starts rekeying the CHILD SA with the given inbound SPI
// (RFC 7296 1.3.3), with a new key exchange if the CHILD proposals name
// one (PFS).
func (s *Session) RekeyChild(now time.Time, inboundSPI uint32) error {
	if s.closed {
		return ErrClosed
	}
	if s.findChild(inboundSPI) == nil {
		return ErrNoChild
	}
	s.enqueue(task{kind: taskRekeyChild, spi: inboundSPI})
	s.kick(now)
	return nil
}

// CreateChild negotiates an additional CHILD SA with the configured
// proposals and traffic selectors (RFC 7296 1.3.1), with a key exchange if
// the CHILD proposals name one.
func (s *Session) CreateChild(now time.Time) error {
	if s.closed {
		return ErrClosed
	}
	if len(s.cfg.ChildProposals) == 0 {
		return ErrNoChild
	}
	s.queue = append(s.queue, task{kind: taskCreateChild})
	s.kick(now)
	return nil
}

// CreateChildRequest negotiates an additional CHILD SA as req asks (RFC
// 7296 1.3.1): with req.Config's proposals, selectors, mode, lifetimes and
// Tag (nil: the session's Config), and the selectors of the packet that
// triggered it first in TSi and TSr (RFC 7296 2.9).
func (s *Session) CreateChildRequest(now time.Time, req ChildRequest) error {
	if s.closed {
		return ErrClosed
	}
	cfg := s.cfg
	if req.Config != nil {
		if err := req.Config.checkChild(); err != nil {
			return err
		}
		cfg = req.Config
	}
	if len(cfg.ChildProposals) == 0 {
		return ErrNoChild
	}
	s.queue = append(s.queue, task{kind: taskCreateChild, req: &req})
	s.kick(now)
	return nil
}

// DeleteChild deletes the CHILD SA with the given inbound SPI (RFC 7296
// 1.4.1).
func (s *Session) DeleteChild(now time.Time, inboundSPI uint32) error {
	if s.closed {
		return ErrClosed
	}
	if s.findChild(inboundSPI) == nil {
		return ErrNoChild
	}
	s.enqueue(task{kind: taskDeleteChild, spi: inboundSPI})
	s.kick(now)
	return nil
}

// RekeyIKE starts rekeying the IKE SA (RFC 7296 1.3.2).
func (s *Session) RekeyIKE(now time.Time) error {
	if s.closed {
		return ErrClosed
	}
	if s.sa.state != stateEstablished {
		return ErrNotEstablished
	}
	s.enqueue(task{kind: taskRekeyIKE})
	s.kick(now)
	return nil
}

// Close deletes the IKE SA and its CHILD SAs (RFC 7296 1.4.1). The
// session closes when the peer answers or the request times out; before
// IKE_AUTH completes it closes at once.
func (s *Session) Close(now time.Time) {
	if s.closed {
		return
	}
	if s.sa.state != stateEstablished {
		s.shutdown(ErrClosed)
		return
	}
	s.queue = nil
	s.enqueue(task{kind: taskDeleteIKE})
	s.kick(now)
}

// shutdown ends the session: every CHILD SA is reported deleted, then the
// IKE SA, with err as the reason (nil for an orderly delete).
func (s *Session) shutdown(err error) {
	if s.closed {
		return
	}
	for _, c := range s.children {
		sa := c.sa
		s.emit(Event{Kind: EventChildDeleted, Child: &sa})
	}
	s.children = nil
	s.leaveHalfOpen()
	s.emit(Event{Kind: EventIKEDown, Err: err})
	s.sa.state = stateClosed
	s.sa.req = nil
	s.retired, s.pending = nil, nil
	s.queue = nil
	s.closed = true
}

// notifies returns the Notify payloads of ps.
func notifies(ps []isakmp.Payload) []*isakmp.Notify {
	var out []*isakmp.Notify
	for _, p := range ps {
		if n, ok := p.(*isakmp.Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

func findNotify(ps []isakmp.Payload, t isakmp.NotifyType) *isakmp.Notify {
	for _, n := range notifies(ps) {
		if n.NotifyType == t {
			return n
		}
	}
	return nil
}

// errorNotify returns the first error notification (types below 16384,
// RFC 7296 3.10.1) in ps.
func errorNotify(ps []isakmp.Payload) *isakmp.Notify {
	for _, n := range notifies(ps) {
		if n.NotifyType < 16384 {
			return n
		}
	}
	return nil
}

func find[T isakmp.Payload](ps []isakmp.Payload) T {
	for _, p := range ps {
		if v, ok := p.(T); ok {
			return v
		}
	}
	var zero T
	return zero
}

// findTS returns the TSi (responder false) or TSr payload.
func findTS(ps []isakmp.Payload, responder bool) *isakmp.TS {
	for _, p := range ps {
		if t, ok := p.(*isakmp.TS); ok && t.Responder == responder {
			return t
		}
	}
	return nil
}

func findID(ps []isakmp.Payload, responder bool) *isakmp.ID {
	for _, p := range ps {
		if t, ok := p.(*isakmp.ID); ok && t.Responder == responder {
			return t
		}
	}
	return nil
}

func notify(t isakmp.NotifyType, data []byte) *isakmp.Notify {
	return &isakmp.Notify{NotifyType: t, Data: data}
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
