package ike

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// handshake is the state of IKE_SA_INIT and IKE_AUTH, dropped once the
// IKE SA is established.
type handshake struct {
	ni, nr    []byte
	kx        *keyExchange
	initReq   []byte // RealMessage1 (RFC 7296 2.15)
	initResp  []byte // RealMessage2
	cookie    []byte
	keRetries int
	cookieTry int
	child     *childReq // initiator: the CHILD SA requested in IKE_AUTH
	// req is the initiator's request for that CHILD SA (its Config and
	// the triggering packet), or nil for the session's Config.
	req *ChildRequest
	// peerHashes is the peer's SIGNATURE_HASH_ALGORITHMS list (RFC 7427
	// section 4); nil if it sent none.
	peerHashes []auth.HashAlgorithm
}

const (
	maxKERetries     = 2  // INVALID_KE_PAYLOAD answers followed (RFC 7296 1.2)
	maxCookieRetries = 2  // COOKIE challenges followed (RFC 7296 2.6)
	maxCookieLen     = 64 // RFC 7296 2.6: 1 to 64 octets
)

var ()

// NewInitiator starts an IKE SA with the peer at remote: it queues the
// IKE_SA_INIT request (RFC 7296 1.2) and, once that is answered, IKE_AUTH
// with the first CHILD SA. local and remote are the addresses the
// datagrams use; they feed NAT detection (RFC 7296 2.23) and become the
// CHILD SA's tunnel endpoints.
func NewInitiator(cfg *Config, local, remote netip.AddrPort, now time.Time) (*Session, error) {
	return newInitiator(cfg, local, remote, now, nil)
}

// newInitiator is NewInitiator with a request for the first CHILD SA
// (negotiated in IKE_AUTH): req.Config, if set, supplies its proposals,
// selectors, mode, lifetimes and Tag, and the triggering packet's
// selectors go first (RFC 7296 2.9). req may be nil.
func newInitiator(cfg *Config, local, remote netip.AddrPort, now time.Time, req *ChildRequest) (*Session, error) {
	if req != nil && req.Config != nil {
		if err := req.Config.checkChild(); err != nil {
			return nil, err
		}
	}
	s, err := newSession(cfg, local, remote)
	if err != nil {
		return nil, err
	}
	s.sa = &ikeSA{state: stateInitSent, initiator: true, spiI: s.newSPI()}
	g := dhGroupByID(cfg.IKEProposals[0].KE[0])
	hs := &handshake{ni: s.random(nonceLen), req: req}
	// CHILD SAs the peer asks for later (CREATE_CHILD_SA) consult the
	// hook as a responder's do.
	s.hook = cfg.GetConfigForRequest
	if hs.kx, err = g.generate(s.rand); err != nil {
		return nil, err
	}
	s.handshake = hs
	s.lastRecv = now
	if err := s.sendInit(now); err != nil {
		return nil, err
	}
	return s, nil
}

// sendInit sends (or sends again, after a COOKIE or INVALID_KE_PAYLOAD
// answer) the IKE_SA_INIT request:
//
//	HDR, [N(COOKIE),] SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP),
//	N(NAT_DETECTION_DESTINATION_IP)
func (s *Session) sendInit(now time.Time) error {
	hs, sa := s.handshake, s.sa
	sa.spiR = [8]byte{}
	var ps []isakmp.Payload
	if hs.cookie != nil {
		ps = append(ps, notify(isakmp.NotifyCookie, hs.cookie))
	}
	saPay := &isakmp.SA{}
	for i := range s.cfg.IKEProposals {
		saPay.Proposals = append(saPay.Proposals, s.cfg.IKEProposals[i].wireProposal(uint8(i+1), nil, true))
	}
	ps = append(ps, saPay,
		&isakmp.KE{Group: hs.kx.group.id, Data: hs.kx.public()},
		&isakmp.Nonce{Data: hs.ni},
		notify(isakmp.NotifyNATDetectionSourceIP, s.natSourceHash()),
		notify(isakmp.NotifyNATDetectionDestinationIP, natHash(sa.spiI, sa.spiR, s.remote)),
		sigHashNotify())
	m := isakmp.Message{Header: s.header(sa, isakmp.ExchangeIKESAInit, 0, false), Payloads: ps}
	b, err := m.Append(nil)
	if err != nil {
		return err
	}
	hs.initReq = b
	sa.nextReqID = 1
	s.arm(now, sa, &request{id: 0, msg: b, exch: isakmp.ExchangeIKESAInit, onResponse: s.onInitResponse})
	return nil
}

// certReq is the CERTREQ payload for Config.CertRequestCAs, or nil.
func (s *Session) certReq() *isakmp.CertReq {
	if len(s.cfg.CertRequestCAs) == 0 {
		return nil
	}
	return &isakmp.CertReq{Encoding: isakmp.CertX509Sig, Data: auth.AppendCertReqData(nil, s.cfg.CertRequestCAs)}
}

// maxInitAmplification bounds an IKE_SA_INIT response against its
// unauthenticated request: a CERTREQ list that would make the response
// more than this many times the request's size is shortened, so that a
// spoofed request cannot make the responder a strong amplifier.
const maxInitAmplification = 2

// certReqWithin is the CERTREQ payload for Config.CertRequestCAs cut to
// at most budget bytes (a whole number of CA hashes, RFC 7296 3.7), or
// nil if none fits.
func (s *Session) certReqWithin(budget int) *isakmp.CertReq {
	cas := s.cfg.CertRequestCAs
	if len(cas) == 0 {
		return nil
	}
	n := min(len(cas), (budget-isakmp.GenericHeaderLen-1)/sha1.Size)
	if n < len(cas) {
		s.stats.CertReqTrimmed++
	}
	if n <= 0 {
		return nil
	}
	return &isakmp.CertReq{Encoding: isakmp.CertX509Sig, Data: auth.AppendCertReqData(nil, cas[:n])}
}

// sigHashNotify is the SIGNATURE_HASH_ALGORITHMS notification (RFC 7427
// 4): the hashes package auth verifies in RFC 7427 signatures.
func sigHashNotify() *isakmp.Notify {
	return notify(isakmp.NotifySignatureHashAlgorithms,
		auth.AppendSignatureHashAlgorithms(nil, auth.SupportedHashAlgorithms(false)))
}

// natHash is the NAT detection hash SHA-1(SPIi | SPIr | IP | Port) of
// RFC 7296 2.23.
func natHash(spiI, spiR [8]byte, ap netip.AddrPort) []byte {
	h := sha1.New()
	h.Write(spiI[:])
	h.Write(spiR[:])
	h.Write(ap.Addr().Unmap().AsSlice())
	h.Write(binary.BigEndian.AppendUint16(nil, ap.Port()))
	return h.Sum(nil)
}

// natSourceHash is this side's NAT_DETECTION_SOURCE_IP data: the real
// hash, or a random one with ForceUDPEncap so that the peer sees a NAT.
func (s *Session) natSourceHash() []byte {
	if s.cfg.ForceUDPEncap {
		return s.random(sha1.Size)
	}
	return natHash(s.sa.spiI, s.sa.spiR, s.local)
}

// detectNAT compares the peer's NAT detection notifications with what
// this side sees (RFC 7296 2.23). The hashes cover the SPIs as they stand
// in the message's header (the responder SPI is zero in the request).
// Without the notifications, no NAT is assumed.
func (s *Session) detectNAT(h *isakmp.Header, ps []isakmp.Payload) {
	var src, dst bool
	srcMatch, dstMatch := false, false
	for _, n := range notifies(ps) {
		switch n.NotifyType {
		case isakmp.NotifyNATDetectionSourceIP:
			src = true
			if bytes.Equal(n.Data, natHash(h.InitiatorSPI, h.ResponderSPI, s.remote)) {
				srcMatch = true
			}
		case isakmp.NotifyNATDetectionDestinationIP:
			dst = true
			dstMatch = bytes.Equal(n.Data, natHash(h.InitiatorSPI, h.ResponderSPI, s.local))
		}
	}
	s.remoteNAT = src && !srcMatch
	s.localNAT = dst && !dstMatch || s.cfg.ForceUDPEncap
}

// onInitResponse handles the IKE_SA_INIT response (RFC 7296 1.2):
//
//	HDR, SAr1, KEr, Nr, [CERTREQ,] N(NAT_DETECTION_*)
//
// or a COOKIE (2.6) or INVALID_KE_PAYLOAD (1.2) answer, which restart the
// exchange, or an error.
func (s *Session) onInitResponse(now time.Time, h *isakmp.Header, ps []isakmp.Payload, raw []byte) error {
	hs, sa := s.handshake, s.sa
	if n := findNotify(ps, isakmp.NotifyCookie); n != nil {
		if hs.cookie != nil && bytes.Equal(n.Data, hs.cookie) {
			// The same cookie again: an answer to a retransmission of
			// the request without it. Send the request with the cookie
			// again rather than count a new challenge.
			return s.sendInit(now)
		}
		if len(n.Data) == 0 || len(n.Data) > maxCookieLen || hs.cookieTry >= maxCookieRetries {
			return s.failInit(fmt.Errorf("%w: unusable COOKIE", ErrHandshake))
		}
		hs.cookieTry++
		hs.cookie = bytes.Clone(n.Data)
		return s.sendInit(now)
	}
	if n := findNotify(ps, isakmp.NotifyInvalidKEPayload); n != nil {
		if len(n.Data) != 2 {
			return s.failInit(fmt.Errorf("%w: malformed INVALID_KE_PAYLOAD", ErrHandshake))
		}
		g := isakmp.KEGroup(binary.BigEndian.Uint16(n.Data))
		if hs.keRetries >= maxKERetries || g == hs.kx.group.id || !offersGroup(s.cfg.IKEProposals, g) {
			return s.failInit(fmt.Errorf("%w: responder asks for %v, which was not offered", ErrHandshake, g))
		}
		hs.keRetries++
		kx, err := dhGroupByID(g).generate(s.rand)
		if err != nil {
			return s.failInit(err)
		}
		s.log.Debug("ike: INVALID_KE_PAYLOAD, retrying", "group", g)
		hs.kx = kx
		return s.sendInit(now)
	}
	if n := errorNotify(ps); n != nil {
		return s.failInit(NotifyError(n.NotifyType))
	}
	if h.ResponderSPI == ([8]byte{}) {
		return s.failInit(fmt.Errorf("%w: zero responder SPI", ErrHandshake))
	}
	c, ok := checkAccepted(s.cfg.IKEProposals, find[*isakmp.SA](ps), true)
	if !ok {
		return s.failInit(fmt.Errorf("%w: the responder's SA payload is not one of ours", ErrHandshake))
	}
	ke := find[*isakmp.KE](ps)
	nonce := find[*isakmp.Nonce](ps)
	if ke == nil || nonce == nil || ke.Group != c.ke || c.ke != hs.kx.group.id {
		return s.failInit(fmt.Errorf("%w: missing or mismatched KE or Nonce", ErrHandshake))
	}
	if len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
		return s.failInit(fmt.Errorf("%w: nonce of %d bytes", ErrHandshake, len(nonce.Data)))
	}
	gir, err := hs.kx.sharedSecret(ke.Data)
	if err != nil {
		return s.failInit(err)
	}
	sa.spiR = h.ResponderSPI
	hs.nr = bytes.Clone(nonce.Data)
	hs.initResp = bytes.Clone(raw)
	s.detectNAT(h, ps)
	s.peerSignatureHashes(ps)
	if err := s.installKeys(sa, c, skeyseed(prfByID(c.prf), hs.ni, hs.nr, gir), hs.ni, hs.nr); err != nil {
		return s.failInit(err)
	}
	sa.state = stateAuthSent
	if err := s.sendAuth(now); err != nil {
		return s.failInit(err)
	}
	return nil
}

func (s *Session) failInit(err error) error {
	s.shutdown(err)
	return err
}

func offersGroup(props []Proposal, g isakmp.KEGroup) bool {
	for i := range props {
		if slices.Contains(props[i].KE, g) {
			return true
		}
	}
	return false
}

// installKeys derives the IKE SA's keys from SKEYSEED (RFC 7296 2.14) for
// the chosen transforms and sets up both directions of SK protection.
func (s *Session) installKeys(sa *ikeSA, c chosen, seed, ni, nr []byte) error {
	suite := ikeSuite{encr: ikeEncr(c.encr), encrBits: c.encr.KeyBits, prf: prfByID(c.prf)}
	if suite.encr == nil || suite.prf == nil {
		return ErrNoProposalChosen
	}
	if c.integ != isakmp.IntegNone {
		if suite.integ = integByID(c.integ); suite.integ == nil {
			return ErrNoProposalChosen
		}
	}
	keys, err := deriveIKESAKeys(&suite, seed, ni, nr, sa.spiI, sa.spiR)
	if err != nil {
		return err
	}
	i2r, err := newSKCrypter(&suite, keys.ei, keys.ai, s.rand)
	if err != nil {
		return err
	}
	r2i, err := newSKCrypter(&suite, keys.er, keys.ar, s.rand)
	if err != nil {
		return err
	}
	sa.suite, sa.chosen, sa.keys = suite, c, keys
	s.logIKESAKeys(sa)
	if sa.initiator {
		sa.tx, sa.rx = i2r, r2i
	} else {
		sa.tx, sa.rx = r2i, i2r
	}
	return nil
}

// Accept handles an IKE_SA_INIT request (RFC 7296 1.2) received on local
// from remote. It returns a responder session that has queued its
// response. If the request is answered without keeping state (no
// acceptable proposal, INVALID_KE_PAYLOAD, or INVALID_MAJOR_VERSION for
// a request of a higher IKE major version, RFC 7296 2.5), the session is
// already Closed but still holds the answer in Datagrams. Anything that is not an
// IKE_SA_INIT request returns an error and should be dropped.
func Accept(cfg *Config, local, remote netip.AddrPort, now time.Time, datagram []byte) (*Session, error) {
	s, err := newSession(cfg, local, remote)
	if err != nil {
		return nil, err
	}
	b := bytes.Clone(datagram)
	var m isakmp.Message
	if err := m.Header.Parse(b); err == nil && m.Header.Major() > isakmp.MajorIKEv2 {
		// RFC 7296 2.5: drop it, and answer a request with
		// INVALID_MAJOR_VERSION (1.5), keeping no state.
		resp := oneWayResponse(&m.Header, isakmp.NotifyInvalidMajorVersion)
		if resp == nil {
			return nil, fmt.Errorf("%w: a response of IKE version %d", errBadMessage, m.Header.Major())
		}
		s.stats.Received++
		s.stats.Dropped++
		s.sa = &ikeSA{state: stateClosed, spiI: m.Header.InitiatorSPI}
		s.send(resp)
		s.closed = true
		return s, nil
	}
	decodeErr := m.Decode(b)
	var cpe *isakmp.CriticalPayloadError
	if decodeErr != nil && !errors.As(decodeErr, &cpe) {
		return nil, fmt.Errorf("%w: %v", errBadMessage, decodeErr)
	}
	h := &m.Header
	if h.Major() != isakmp.MajorIKEv2 || h.Exchange != isakmp.ExchangeIKESAInit || h.MessageID != 0 ||
		h.Flags&(isakmp.FlagInitiator|isakmp.FlagResponse) != isakmp.FlagInitiator ||
		h.ResponderSPI != ([8]byte{}) || h.InitiatorSPI == ([8]byte{}) {
		return nil, fmt.Errorf("%w: not an IKE_SA_INIT request", errBadMessage)
	}
	s.stats.Received++
	s.lastRecv = now
	s.sa = &ikeSA{state: stateInitDone, spiI: h.InitiatorSPI}
	// The Endpoint consults GetConfigForRequest on the first message
	// (with the addresses only); the session asks it again at IKE_AUTH
	// and for each CHILD SA.
	s.hook = cfg.GetConfigForRequest
	if cpe != nil {
		// RFC 7296 2.5: refuse with UNSUPPORTED_CRITICAL_PAYLOAD.
		s.refuseInit(isakmp.NotifyUnsupportedCriticalPayload, []byte{byte(cpe.Type)}, decodeErr)
		return s, nil
	}
	if err := s.respondInit(now, &m, b); err != nil {
		s.log.Debug("ike: IKE_SA_INIT refused", "err", err)
	}
	return s, nil
}

// respondInit answers IKE_SA_INIT:
//
//	HDR, SAr1, KEr, Nr, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)
//
// choosing the first of our proposals that the initiator offered (RFC 7296
// 2.7) and, if its KE payload is for another group, asking for the right
// one with INVALID_KE_PAYLOAD.
func (s *Session) respondInit(now time.Time, m *isakmp.Message, raw []byte) error {
	ps := m.Payloads
	sa := s.sa
	saPay := find[*isakmp.SA](ps)
	ke := find[*isakmp.KE](ps)
	nonce := find[*isakmp.Nonce](ps)
	if saPay == nil || ke == nil || nonce == nil {
		s.stats.Dropped++
		return s.refuseInit(isakmp.NotifyInvalidSyntax, nil, fmt.Errorf("%w: SA, KE or Nonce missing", ErrHandshake))
	}
	if j := s.cfg.Cookies; j != nil && j.needed() {
		// RFC 7296 2.6: under load, only an initiator that returns our
		// cookie gets state.
		n := findNotify(ps, isakmp.NotifyCookie)
		if n == nil || !j.check(n.Data, nonce.Data, s.remote.Addr(), sa.spiI) {
			return s.refuseInit(isakmp.NotifyCookie, j.make(nonce.Data, s.remote.Addr(), sa.spiI),
				fmt.Errorf("%w: cookie required", ErrHandshake))
		}
	}
	c, ok := selectProposal(s.cfg.IKEProposals, saPay.Proposals, true, ke.Group)
	if !ok {
		return s.refuseInit(isakmp.NotifyNoProposalChosen, nil, ErrNoProposalChosen)
	}
	if ke.Group != c.ke {
		return s.refuseInit(isakmp.NotifyInvalidKEPayload, u16(uint16(c.ke)),
			fmt.Errorf("%w: KE payload for %v, %v chosen", ErrHandshake, ke.Group, c.ke))
	}
	if len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
		return s.refuseInit(isakmp.NotifyInvalidSyntax, nil, fmt.Errorf("%w: nonce of %d bytes", ErrHandshake, len(nonce.Data)))
	}
	kx, err := dhGroupByID(c.ke).generate(s.rand)
	if err != nil {
		return s.failInit(err)
	}
	gir, err := kx.sharedSecret(ke.Data)
	if err != nil {
		// RFC 6989: an invalid public value fails the exchange.
		return s.refuseInit(isakmp.NotifyInvalidSyntax, nil, err)
	}
	hs := &handshake{ni: bytes.Clone(nonce.Data), nr: s.random(nonceLen), kx: kx, initReq: bytes.Clone(raw)}
	s.handshake = hs
	s.detectNAT(&m.Header, ps)
	s.peerSignatureHashes(ps)
	sa.spiR = s.newSPI()
	if err := s.installKeys(sa, c, skeyseed(prfByID(c.prf), hs.ni, hs.nr, gir), hs.ni, hs.nr); err != nil {
		return s.failInit(err)
	}
	out := []isakmp.Payload{
		&isakmp.SA{Proposals: []isakmp.Proposal{c.wire(nil)}},
		&isakmp.KE{Group: c.ke, Data: kx.public()},
		&isakmp.Nonce{Data: hs.nr},
		notify(isakmp.NotifyNATDetectionSourceIP, s.natSourceHash()),
		notify(isakmp.NotifyNATDetectionDestinationIP, natHash(sa.spiI, sa.spiR, s.remote)),
		sigHashNotify(),
	}
	resp := isakmp.Message{Header: s.header(sa, isakmp.ExchangeIKESAInit, 0, true), Payloads: out}
	b, err := resp.Append(nil)
	if err != nil {
		return s.failInit(err)
	}
	if cr := s.certReqWithin(maxInitAmplification*len(raw) - len(b)); cr != nil {
		resp.Payloads = append(out, cr)
		if b, err = resp.Append(nil); err != nil {
			return s.failInit(err)
		}
	}
	hs.initResp = b
	sa.peerReqID = 1
	sa.lastResp = b
	sa.lastReq = sha256.Sum256(raw)
	s.send(bytes.Clone(b))
	s.armAuthTimeout(now)
	if j := s.cfg.Cookies; j != nil {
		j.halfOpen.Add(1)
		s.halfOpen = j
	}
	return nil
}

// leaveHalfOpen ends the half-open period of a responder SA for the
// cookie threshold.
func (s *Session) leaveHalfOpen() {
	if s.halfOpen != nil {
		s.halfOpen.halfOpen.Add(-1)
		s.halfOpen = nil
	}
}

// refuseInit answers an IKE_SA_INIT request with a single notification
// and keeps no state (RFC 7296 2.6, 2.7).
func (s *Session) refuseInit(t isakmp.NotifyType, data []byte, err error) error {
	sa := s.sa
	h := s.header(sa, isakmp.ExchangeIKESAInit, 0, true)
	h.ResponderSPI = [8]byte{}
	m := isakmp.Message{Header: h, Payloads: []isakmp.Payload{notify(t, data)}}
	if b, e := m.Append(nil); e == nil {
		s.send(b)
	}
	s.closed = true
	sa.state = stateClosed
	return err
}

// armAuthTimeout gives a half-open responder SA the lifetime of a full
// initiator retransmission schedule: if IKE_AUTH does not arrive by then,
// the SA is dropped.
func (s *Session) armAuthTimeout(now time.Time) {
	s.halfOpenUntil = now.Add(s.retransmitSchedule())
}

// retransmitSchedule is how long a request is retransmitted before the
// peer counts as dead.
func (s *Session) retransmitSchedule() time.Duration {
	total := time.Duration(0)
	t := float64(s.cfg.retransmitTimeout())
	for i := 0; i <= s.cfg.retransmitTries(); i++ {
		total += time.Duration(t)
		t *= s.cfg.retransmitBase()
	}
	return total
}
