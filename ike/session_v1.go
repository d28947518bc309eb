package ike

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// This file holds the IKEv1 session (RFC 2409 over RFC 2408): its state,
// the receive path, retransmission and timers. Main and Aggressive Mode
// are in main_mode_v1.go, Quick Mode in quick_mode_v1.go, informational
// exchanges (notifications, deletes, DPD) in informational_v1.go.
//
// IKEv1 has no request/response flag: every exchange is a sequence of
// messages, each answering the one before. A session therefore keeps, per
// exchange (message ID), the last message it received and the one it sent
// in reply: a retransmission of the former is answered with the latter from
// the cache, and a message this side sent that expects a reply is
// retransmitted with back-off until the reply comes (RFC 2408 5, RFC 2409
// 5: the "retransmission timer" every implementation runs).

// v1State is the life cycle of an ISAKMP SA.
type v1State uint8

const (
	v1MMSent1 v1State = iota + 1 // initiator: MM1 sent
	v1MMSent3                    // initiator: MM3 sent
	v1MMSent5                    // initiator: MM5 sent
	v1MMSent2                    // responder: MM2 sent
	v1MMSent4                    // responder: MM4 sent
	v1AMSent1                    // initiator: AM1 sent
	v1AMSent2                    // responder: AM2 sent
	v1Established
	v1Closed
)

var v1StateNames = map[v1State]string{
	v1MMSent1: "mm-sent-1", v1MMSent3: "mm-sent-3", v1MMSent5: "mm-sent-5", v1MMSent2: "mm-sent-2",
	v1MMSent4: "mm-sent-4", v1AMSent1: "am-sent-1", v1AMSent2: "am-sent-2",
	v1Established: "established", v1Closed: "closed",
}

func (s v1State) String() string { return v1StateNames[s] }

// isakmpSA is one IKEv1 ISAKMP SA (phase 1).
type isakmpSA struct {
	state      v1State
	initiator  bool
	aggressive bool
	ckyI, ckyR [8]byte
	method     isakmp.V1AuthMethod   // the method in use (the chosen transform's)
	methods    []isakmp.V1AuthMethod // this side's methods, in order of preference
	gss        *gssState             // Kerberos method: the GSS-API context
	x          v1Phase1
	offer      *isakmp.V1SA // initiator: the SA payload sent
	saIb       []byte       // body of the initiator's SA payload (HASH_I/R)
	kx         *keyExchange
	gxi, gxr   []byte
	ni, nr     []byte
	gxy        []byte
	keys       v1Keys
	cbc        *v1CBC
	iv         []byte      // phase 1 CBC chain
	p1Last     []byte      // last CBC block of phase 1: seeds phase 2 IVs
	peerIDb    []byte      // body of the peer's ID payload (Aggressive Mode)
	exch       *v1Exchange // phase 1 (message ID 0)

	establishedAt, rekeyAt, expireAt time.Time
	until                            time.Time // retired: forgotten then
	// deleteAtUntil: retired by our own rekey, its Delete is sent at
	// until (rekey_v1.go).
	deleteAtUntil bool
}

// v1Exchange is the retransmission state of one exchange.
type v1Exchange struct {
	mid     uint32
	iv      []byte   // CBC chain of a phase 2 or informational exchange
	lastIn  [32]byte // SHA-256 of the last message received
	haveIn  bool
	lastOut []byte // the message sent after it
	waiting bool   // lastOut expects an answer: retransmit on timeout
	timeout time.Time
	tries   int
	until   time.Time // forgotten then (kept to answer retransmissions)
	qm      *quickMode
	// onGiveUp runs when waiting runs out of retransmissions; nil: the
	// peer is dead.
	onGiveUp func(now time.Time)
}

// SessionV1 is one IKEv1 peer relationship: an ISAKMP SA (and, while it is
// being replaced, its predecessor) with its IPsec SAs (CHILD SAs), as a
// sans-I/O state machine like Session: feed it datagrams with Receive and
// the clock with Tick, collect Datagrams and Events. Its Events and ChildSA
// values mean what Session's do. It is not safe for concurrent use.
type SessionV1 struct {
	cfg *Config
	sessionBase
	local  netip.AddrPort
	remote netip.AddrPort

	sa       *isakmpSA
	next     *isakmpSA // a new phase 1 replacing sa (rekey), until established
	retired  []*isakmpSA
	exchs    map[uint32]*v1Exchange // phase 2 and informational, by message ID
	childCfg map[*child]*Config     // the Config each CHILD SA was made with
	// sibling pairs the AH and ESP CHILD SAs of one AH+ESP bundle.
	sibling map[*child]*child
	// pendingChild are CHILD SA requests waiting for phase 1 or a free
	// Quick Mode slot.
	pendingChild []*ChildRequest

	peerID auth.Identity
	// claimedID is the identity in the peer's ID payload, authenticated
	// or not (IKESAInfo.PeerClaimedID).
	claimedID auth.Identity
	peerDPD   bool // the peer sent the DPD vendor ID (RFC 3706 2)
	peerMS    bool // the peer is a Windows IKE (Microsoft vendor ID)
	peerGSS   bool // the peer announced the GSS-API method (vendor ID)
	// NAT-T (RFC 3947): natt is the negotiated flavour, none/RFC/draft.
	natt      nattVersion
	localNAT  bool
	remoteNAT bool

	dpdSeq   uint32
	dpdAt    time.Time
	dpdExch  *v1Exchange
	lastRecv time.Time

	initialContact bool
	halfOpenUntil  time.Time
	// orphaned: the peer deleted the ISAKMP SA; the CHILD SAs live on
	// until they expire (see isakmpDeleted).
	orphaned bool

	events []Event
	closed bool
}

func newSessionV1(cfg *Config, local, remote netip.AddrPort) (*SessionV1, error) {
	if err := cfg.checkV1(); err != nil {
		return nil, err
	}
	s := &SessionV1{cfg: cfg, sessionBase: newSessionBase(cfg), local: local, remote: remote,
		exchs: make(map[uint32]*v1Exchange), childCfg: make(map[*child]*Config),
		sibling: make(map[*child]*child)}
	return s, nil
}

// checkV1 validates a Config for IKEv1. It is Config.check with IKEv1's
// algorithm tables (legacy algorithms with AllowLegacyV1) in place of
// IKEv2's.
func (c *Config) checkV1() error {
	if _, err := localMethodsV1(c); err != nil {
		return err
	}
	if err := c.LocalID.Validate(); err != nil {
		return fmt.Errorf("%w: LocalID: %v", errConfig, err)
	}
	if len(c.IKEProposals) == 0 {
		return fmt.Errorf("%w: IKE proposals are required", errConfig)
	}
	if _, err := v1Phase1Offer(c, []isakmp.V1AuthMethod{isakmp.V1AuthPSK}); err != nil {
		return err
	}
	if len(c.ChildProposals) > 0 {
		if len(c.LocalTS) == 0 || len(c.RemoteTS) == 0 {
			return fmt.Errorf("%w: CHILD proposals need LocalTS and RemoteTS", errConfig)
		}
		if _, err := v1Phase2Offer(c, 256, 257, c.childMode(), false, false, isakmp.GroupNone); err != nil {
			return err
		}
	}
	if c.RetransmitBase != 0 && c.RetransmitBase < 1 {
		return fmt.Errorf("%w: RetransmitBase below 1", errConfig)
	}
	return nil
}

// Datagrams returns the datagrams to send since the last call and forgets
// them.
func (s *SessionV1) Datagrams() [][]byte { return s.takeDatagrams() }

// Events returns the events since the last call and forgets them.
func (s *SessionV1) Events() []Event {
	ev := s.events
	s.events = nil
	return ev
}

// Stats returns the session's counters.
func (s *SessionV1) Stats() Stats { return s.stats }

// Closed reports whether the session is finished.
func (s *SessionV1) Closed() bool { return s.closed }

// Established reports whether the current ISAKMP SA is authenticated.
func (s *SessionV1) Established() bool { return !s.closed && s.sa.state == v1Established }

// UDPEncap reports whether NAT-T calls for UDP port 4500 with the non-ESP
// marker and UDP-encapsulated ESP (RFC 3947 4, RFC 3948): a NAT was
// detected (or faked with Config.ForceUDPEncap) and both sides announced
// NAT-T. The caller (or Endpoint) moves the session with SetPath.
func (s *SessionV1) UDPEncap() bool { return s.natt != nattNone && (s.localNAT || s.remoteNAT) }

// SetPath changes the addresses the session is reached on (after the move
// to port 4500, RFC 3947 4, or a new NAT mapping).
func (s *SessionV1) SetPath(local, remote netip.AddrPort) { s.local, s.remote = local, remote }

// Path returns the addresses the session uses.
func (s *SessionV1) Path() (local, remote netip.AddrPort) { return s.local, s.remote }

// ChildSAs returns the established CHILD SAs.
func (s *SessionV1) ChildSAs() []ChildSA {
	var out []ChildSA
	for _, c := range s.children {
		out = append(out, c.sa)
	}
	return out
}

// InitialContact reports whether the peer's phase 1 carried INITIAL-CONTACT
// (RFC 2407 4.6.3.3): older ISAKMP SAs with the same identity are stale.
func (s *SessionV1) InitialContact() bool { return s.initialContact }

// localSPIs returns the cookies of this side of every ISAKMP SA the
// session holds, by which an endpoint finds it.
func (s *SessionV1) localSPIs() [][8]byte {
	var out [][8]byte
	for _, sa := range s.allSAs() {
		if sa.initiator {
			out = append(out, sa.ckyI)
		} else {
			out = append(out, sa.ckyR)
		}
	}
	return out
}

// Info describes the current ISAKMP SA.
func (s *SessionV1) Info() IKESAInfo {
	sa := s.sa
	i := IKESAInfo{SPIi: sa.ckyI, SPIr: sa.ckyR, Initiator: sa.initiator,
		LocalID: s.cfg.LocalID, RemoteID: s.peerID, LocalNAT: s.localNAT, RemoteNAT: s.remoteNAT,
		PeerClaimedID: s.claimedID, LocalAddr: s.local, RemoteAddr: s.remote}
	if sa.x.cipher != nil {
		i.Encr = Encr{ID: sa.x.cipher.encr, KeyBits: sa.x.keyBits}
		if sa.x.cipher.keyBits == nil {
			i.Encr.KeyBits = 0
		}
		i.Integ = sa.x.hash.integ
		i.PRF = v1PRFID(sa.x.hash)
		i.KE = sa.x.group.id
	}
	return i
}

// v1PRFID names IKEv1's implicit prf, HMAC of the hash, with IKEv2's
// number for it (for IKESAInfo); PRF_HMAC_MD5 for MD5.
func v1PRFID(h *v1HashAlg) isakmp.PRFID {
	switch h.id {
	case isakmp.V1HashMD5:
		return isakmp.PRFHMACMD5
	case isakmp.V1HashSHA1:
		return isakmp.PRFHMACSHA1
	case isakmp.V1HashSHA2256:
		return isakmp.PRFHMACSHA2_256
	case isakmp.V1HashSHA2384:
		return isakmp.PRFHMACSHA2_384
	}
	return isakmp.PRFHMACSHA2_512
}

func (s *SessionV1) emit(ev Event) {
	if ev.IKE.SPIi == ([8]byte{}) {
		ev.IKE = s.Info()
	}
	s.log.Debug("ike: v1 event", "kind", ev.Kind, "err", ev.Err)
	s.events = append(s.events, ev)
}

func (s *SessionV1) newMessageID() uint32 {
	for {
		id := binary.BigEndian.Uint32(s.random(4))
		if _, used := s.exchs[id]; id != 0 && !used {
			return id
		}
	}
}

func (s *SessionV1) allSAs() []*isakmpSA {
	out := []*isakmpSA{s.sa}
	if s.next != nil {
		out = append(out, s.next)
	}
	return append(out, s.retired...)
}

func (s *SessionV1) drop(why string, err error) {
	s.stats.Dropped++
	s.log.Debug("ike: v1 dropped message", "why", why, "err", err)
}

// findSA returns the ISAKMP SA of a message by its cookies.
func (s *SessionV1) findSA(h *isakmp.Header) *isakmpSA {
	for _, sa := range s.allSAs() {
		if h.InitiatorSPI != sa.ckyI {
			continue
		}
		if h.ResponderSPI == sa.ckyR {
			return sa
		}
		// The responder's cookie arrives with MM2/AM2; a retransmitted
		// MM1/AM1 still has none.
		if sa.initiator && (sa.state == v1MMSent1 || sa.state == v1AMSent1) && sa.ckyR == ([8]byte{}) ||
			!sa.initiator && h.ResponderSPI == ([8]byte{}) && h.MessageID == 0 {
			return sa
		}
	}
	return nil
}

// Receive processes one IKEv1 datagram (without any non-ESP marker)
// received at now. Anything that is not a valid message for this session
// is dropped and counted.
func (s *SessionV1) Receive(now time.Time, datagram []byte) {
	if s.closed {
		return
	}
	s.stats.Received++
	b := bytes.Clone(datagram)
	var m isakmp.Message
	if err := m.Decode(b); err != nil || m.Header.Major() != isakmp.MajorIKEv1 {
		s.drop("undecodable message", err)
		return
	}
	h := &m.Header
	sa := s.findSA(h)
	if sa == nil {
		if s.acceptRekeyV1(now, &m, b) {
			s.kick(now)
			return
		}
		s.drop("unknown cookies", nil)
		return
	}
	sum := sha256.Sum256(b)
	if ex := s.exchangeOf(sa, h.MessageID); ex != nil && ex.haveIn && ex.lastIn == sum {
		// A retransmission: answer from the cache (RFC 2408 5).
		if ex.lastOut != nil {
			s.stats.CachedResponses++
			s.send(bytes.Clone(ex.lastOut))
		}
		return
	}
	var err error
	switch h.Exchange {
	case isakmp.ExchangeV1MainMode:
		err = s.receiveMainMode(now, sa, &m, b, sum)
	case isakmp.ExchangeV1Aggressive:
		err = s.receiveAggressive(now, sa, &m, b, sum)
	case isakmp.ExchangeV1QuickMode:
		err = s.receiveQuickMode(now, sa, &m, sum)
	case isakmp.ExchangeV1Informational:
		err = s.receiveInformational(now, sa, &m)
	default:
		err = fmt.Errorf("unsupported exchange %v", h.Exchange)
	}
	if err != nil {
		s.drop("message refused", err)
	}
	s.kick(now)
}

func (s *SessionV1) exchangeOf(sa *isakmpSA, mid uint32) *v1Exchange {
	if mid == 0 {
		return sa.exch
	}
	if sa != s.sa {
		return nil
	}
	return s.exchs[mid]
}

// header returns the header of a message of sa.
func v1Header(sa *isakmpSA, exch isakmp.ExchangeType, mid uint32, encrypted bool) isakmp.Header {
	h := isakmp.Header{InitiatorSPI: sa.ckyI, ResponderSPI: sa.ckyR, Version: isakmp.VersionIKEv1,
		Exchange: exch, MessageID: mid}
	if encrypted {
		h.Flags |= isakmp.FlagEncryption
	}
	return h
}

// plainMessage encodes an unencrypted message.
func plainMessage(h isakmp.Header, ps []isakmp.Payload) ([]byte, error) {
	m := isakmp.Message{Header: h, Payloads: ps}
	return m.Append(nil)
}

// sealMessage encrypts the payload chain plain (first payload type first)
// under h with iv (RFC 2408 3.1, RFC 2409 5.3) and returns the message and
// the next IV of the chain.
func sealMessage(sa *isakmpSA, h isakmp.Header, first isakmp.PayloadType, plain, iv []byte, flags isakmp.Flags) ([]byte, []byte, error) {
	ct, next := sa.cbc.seal(iv, plain)
	h.NextPayload = first
	h.Flags |= isakmp.FlagEncryption | flags
	m := isakmp.Message{Header: h, Ciphertext: ct}
	b, err := m.Append(make([]byte, 0, isakmp.HeaderLen+len(ct)))
	return b, next, err
}

// openMessage decrypts an encrypted message with iv and decodes its
// payloads. It returns the payloads, the plaintext of the chain (without
// padding) and the next IV. Nothing is committed: the caller moves the IV
// chain only once the message has authenticated (a HASH payload or the
// phase 1 proof), so that garbage cannot break it.
func openMessage(sa *isakmpSA, m *isakmp.Message, iv []byte) ([]isakmp.Payload, []byte, []byte, error) {
	if m.Header.Flags&isakmp.FlagEncryption == 0 || sa.cbc == nil {
		return nil, nil, nil, fmt.Errorf("%w: expected an encrypted message", errBadMessage)
	}
	plain, next, err := sa.cbc.open(iv, m.Ciphertext)
	if err != nil {
		return nil, nil, nil, err
	}
	ps, n, err := isakmp.DecodePayloads(nil, isakmp.MajorIKEv1, m.Header.NextPayload, plain)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", errBadMessage, err)
	}
	return ps, plain[:n], next, nil
}

// arm records msg as this side's reply in ex (to answer retransmissions of
// what came before), sends it and, if it expects an answer, starts its
// retransmission timer.
func (s *SessionV1) arm(now time.Time, ex *v1Exchange, msg []byte, waiting bool) {
	ex.lastOut = msg
	ex.waiting = waiting
	ex.tries = 0
	ex.timeout = now.Add(s.cfg.retransmitTimeout())
	ex.until = now.Add(s.retransmitSchedule())
	s.send(bytes.Clone(msg))
}

// received records the message that moved ex on.
func (ex *v1Exchange) received(sum [32]byte) {
	ex.lastIn, ex.haveIn = sum, true
	ex.waiting = false
}

// retransmitSchedule is how long a full retransmission schedule lasts.
func (s *SessionV1) retransmitSchedule() time.Duration {
	d := time.Duration(0)
	for i := 0; i <= s.cfg.retransmitTries(); i++ {
		d += time.Duration(float64(s.cfg.retransmitTimeout()) * math.Pow(s.cfg.retransmitBase(), float64(i)))
	}
	return d
}

// Deadline returns when Tick must next be called; the zero time if no
// timer runs.
func (s *SessionV1) Deadline() time.Time {
	if s.closed {
		return time.Time{}
	}
	var d time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	exch := func(ex *v1Exchange) {
		if ex == nil {
			return
		}
		if ex.waiting {
			earlier(ex.timeout)
		} else {
			earlier(ex.until)
		}
	}
	for _, sa := range s.allSAs() {
		if sa.state != v1Established {
			exch(sa.exch)
		}
		if sa != s.sa {
			earlier(sa.until)
		}
	}
	for _, ex := range s.exchs {
		exch(ex)
	}
	if s.orphaned {
		for _, c := range s.children {
			earlier(c.expireAt)
		}
		return d
	}
	if s.sa.state != v1Established {
		earlier(s.halfOpenUntil)
		return d
	}
	earlier(s.dpdAt)
	earlier(s.sa.rekeyAt)
	earlier(s.sa.expireAt)
	s.childTimers(earlier)
	return d
}

// Tick runs the timers due at now: retransmissions with exponential
// back-off, DPD (RFC 3706) and rekeying of CHILD SAs (new Quick Mode) and
// of the ISAKMP SA (new Main Mode).
func (s *SessionV1) Tick(now time.Time) {
	if s.closed {
		return
	}
	for _, sa := range s.allSAs() {
		if sa.state != v1Established && !s.tickExchange(now, sa.exch, sa == s.sa) {
			return
		}
	}
	for _, mid := range s.sortedMIDs() {
		ex := s.exchs[mid]
		if !ex.waiting && !ex.until.IsZero() && !now.Before(ex.until) {
			delete(s.exchs, mid)
			continue
		}
		if !s.tickExchange(now, ex, true) {
			return
		}
	}
	s.expirePeerRekey(now)
	for _, sa := range slices.Clone(s.retired) {
		if !now.Before(sa.until) {
			if sa.deleteAtUntil {
				sa.deleteAtUntil = false
				sa.until = now.Add(s.retransmitSchedule())
				s.sendDeleteISAKMP(now, sa)
				continue
			}
			s.retired = slices.DeleteFunc(s.retired, func(x *isakmpSA) bool { return x == sa })
		}
	}
	if s.orphaned {
		for _, c := range slices.Clone(s.children) {
			if !now.Before(c.expireAt) {
				s.removeChild(c)
				cs := c.sa
				s.emit(Event{Kind: EventChildDeleted, Child: &cs})
			}
		}
		if len(s.children) == 0 {
			s.shutdown(nil)
		}
		return
	}
	if s.sa.state != v1Established {
		if !s.halfOpenUntil.IsZero() && !now.Before(s.halfOpenUntil) {
			s.shutdown(fmt.Errorf("%w: phase 1 did not complete", ErrHandshake))
		}
		return
	}
	if !s.sa.expireAt.IsZero() && !now.Before(s.sa.expireAt) {
		// The ISAKMP SA's hard lifetime: without a successor the session
		// ends (its CHILD SAs could not be rekeyed or deleted anyway).
		s.sa.expireAt = time.Time{}
		s.Close(now)
		return
	}
	if !s.sa.rekeyAt.IsZero() && !now.Before(s.sa.rekeyAt) {
		s.sa.rekeyAt = time.Time{}
		if err := s.startRekeyISAKMP(now); err != nil {
			s.log.Debug("ike: v1 phase 1 rekey failed to start", "err", err)
		}
	}
	for _, c := range slices.Clone(s.children) {
		if !c.expireAt.IsZero() && !now.Before(c.expireAt) {
			c.expireAt, c.rekeyAt = time.Time{}, time.Time{}
			s.deleteChild(now, c)
			continue
		}
		if !c.rekeyAt.IsZero() && !now.Before(c.rekeyAt) {
			c.rekeyAt = time.Time{}
			if !c.rekeyed && !c.rekeying {
				if err := s.startQuickMode(now, nil, c); err != nil {
					s.log.Debug("ike: v1 CHILD SA rekey failed to start", "err", err)
				}
			}
		}
	}
	if !s.dpdAt.IsZero() && !now.Before(s.dpdAt) {
		s.dpdAt = time.Time{}
	}
	s.kick(now)
}

func (s *SessionV1) sortedMIDs() []uint32 {
	mids := make([]uint32, 0, len(s.exchs))
	for mid := range s.exchs {
		mids = append(mids, mid)
	}
	slices.Sort(mids)
	return mids
}

// tickExchange retransmits ex's last message if its timer ran out. It
// returns false if the session was closed.
func (s *SessionV1) tickExchange(now time.Time, ex *v1Exchange, current bool) bool {
	if ex == nil || !ex.waiting || now.Before(ex.timeout) {
		return true
	}
	if ex.tries >= s.cfg.retransmitTries() {
		ex.waiting = false
		if ex.onGiveUp != nil {
			ex.onGiveUp(now)
			return !s.closed
		}
		if !current {
			return true
		}
		err := fmt.Errorf("ike: no answer from the IKEv1 peer after %d retransmissions", ex.tries)
		s.emit(Event{Kind: EventPeerDead, Err: err})
		s.shutdown(err)
		return false
	}
	ex.tries++
	wait := time.Duration(float64(s.cfg.retransmitTimeout()) * math.Pow(s.cfg.retransmitBase(), float64(ex.tries)))
	ex.timeout = now.Add(wait)
	ex.until = now.Add(wait)
	s.stats.Retransmits++
	s.send(bytes.Clone(ex.lastOut))
	return true
}

// kick starts queued CHILD SA requests and the liveness check.
func (s *SessionV1) kick(now time.Time) {
	if s.closed || s.sa.state != v1Established {
		return
	}
	for len(s.pendingChild) > 0 {
		r := s.pendingChild[0]
		s.pendingChild = s.pendingChild[1:]
		if err := s.startQuickMode(now, r, nil); err != nil {
			s.emit(Event{Kind: EventChildFailed, Err: err})
		}
	}
	if s.cfg.DPDInterval > 0 && s.peerDPD && s.dpdExch == nil {
		s.dpdAt = s.lastRecv.Add(s.cfg.DPDInterval)
		if !s.dpdAt.After(now) {
			s.dpdAt = time.Time{}
			s.startDPD(now)
		}
	}
}

// CreateChildRequest negotiates one more CHILD SA with a Quick Mode (RFC
// 2409 5.5) on the established ISAKMP SA, with req.Config's proposals and
// selectors (the session's Config if nil). Before phase 1 completes the
// request waits for it.
func (s *SessionV1) CreateChildRequest(now time.Time, req ChildRequest) error {
	if s.closed {
		return ErrClosed
	}
	cfg := req.Config
	if cfg == nil {
		cfg = s.cfg
	}
	if len(cfg.ChildProposals) == 0 {
		return ErrNoChild
	}
	s.pendingChild = append(s.pendingChild, &req)
	s.kick(now)
	return nil
}

// RekeyChild starts a new Quick Mode for the CHILD SA with the given
// inbound SPI; the old SA is deleted once the new one is up.
func (s *SessionV1) RekeyChild(now time.Time, inboundSPI uint32) error {
	if s.closed {
		return ErrClosed
	}
	if s.sa.state != v1Established {
		return ErrNotEstablished
	}
	c := s.findChild(inboundSPI)
	if c == nil {
		return ErrNoChild
	}
	return s.startQuickMode(now, nil, c)
}

// DeleteChild deletes the CHILD SA with the given inbound SPI: a Delete
// notification (RFC 2408 3.15, 4.8) and, IKEv1 deletes being unanswered,
// EventChildDeleted at once.
func (s *SessionV1) DeleteChild(now time.Time, inboundSPI uint32) error {
	if s.closed {
		return ErrClosed
	}
	c := s.findChild(inboundSPI)
	if c == nil {
		return ErrNoChild
	}
	// An AH+ESP bundle goes as a whole, ESP part first.
	if o := s.sibling[c]; o != nil {
		if c.sa.Protocol == isakmp.ProtocolAH {
			c, o = o, c
		}
		s.deleteChild(now, c)
		s.deleteChild(now, o)
		return nil
	}
	s.deleteChild(now, c)
	return nil
}

// RekeyIKE replaces the ISAKMP SA with a new Main Mode; the CHILD SAs
// stay (IKEv1 IPsec SAs do not depend on the ISAKMP SA that made them).
func (s *SessionV1) RekeyIKE(now time.Time) error {
	if s.closed {
		return ErrClosed
	}
	if s.sa.state != v1Established {
		return ErrNotEstablished
	}
	return s.startRekeyISAKMP(now)
}

// Close deletes every CHILD SA and the ISAKMP SA with Delete
// notifications and closes the session at once (IKEv1 deletes are not
// acknowledged).
func (s *SessionV1) Close(now time.Time) {
	if s.closed {
		return
	}
	if s.sa.state == v1Established {
		for _, c := range slices.Clone(s.children) {
			s.deleteChild(now, c)
		}
		s.sendDeleteISAKMP(now, s.sa)
	}
	s.shutdown(nil)
}

func (s *SessionV1) removeChild(c *child) {
	s.children = slices.DeleteFunc(s.children, func(x *child) bool { return x == c })
	delete(s.childCfg, c)
	if o := s.sibling[c]; o != nil {
		delete(s.sibling, o)
	}
	delete(s.sibling, c)
}

// shutdown ends the session: every CHILD SA reported deleted, then the
// ISAKMP SA, with err as the reason (nil for an orderly close).
func (s *SessionV1) shutdown(err error) {
	if s.closed {
		return
	}
	for _, c := range s.children {
		sa := c.sa
		s.emit(Event{Kind: EventChildDeleted, Child: &sa})
	}
	s.children = nil
	s.emit(Event{Kind: EventIKEDown, Err: err})
	s.sa.state = v1Closed
	s.retired, s.next = nil, nil
	s.exchs = map[uint32]*v1Exchange{}
	s.pendingChild = nil
	s.closed = true
}
