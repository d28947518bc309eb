package ike

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// IKEv1 phase 1: Main Mode (RFC 2409 5, six messages) and Aggressive Mode
// (RFC 2409 5.4, three messages, pre-shared keys only):
//
//	MM1  HDR, SA, VID...                      ->
//	MM2                                       <- HDR, SA, VID...
//	MM3  HDR, KE, Ni, [CR,] [NAT-D, NAT-D]    ->
//	MM4                                       <- HDR, KE, Nr, [CR,] [NAT-D, NAT-D]
//	MM5  HDR*, IDii, [CERT,] HASH_I|SIG_I, [N(INITIAL-CONTACT)] ->
//	MM6                                       <- HDR*, IDir, [CERT,] HASH_R|SIG_R
//
//	AM1  HDR, SA, KE, Ni, IDii, VID...        ->
//	AM2                                       <- HDR, SA, KE, Nr, IDir, HASH_R, VID..., [NAT-D, NAT-D]
//	AM3  HDR*, HASH_I, [NAT-D, NAT-D]         ->

const (
	nonceLenV1    = 32  // RFC 2409 5: 8 to 256 octets
	minNonceLenV1 = 8   // RFC 2409 5
	maxNonceLenV1 = 256 // RFC 2409 5
)

// NewInitiatorV1 starts an IKEv1 ISAKMP SA with the peer at remote: Main
// Mode (Aggressive Mode if cfg.AggressiveMode), then a Quick Mode for req,
// or for cfg's CHILD SA when req is nil and cfg has CHILD proposals.
// local and remote are the addresses the datagrams use (NAT-D, RFC 3947).
func NewInitiatorV1(cfg *Config, local, remote netip.AddrPort, now time.Time, req *ChildRequest) (*SessionV1, error) {
	s, err := newSessionV1(cfg, local, remote)
	if err != nil {
		return nil, err
	}
	methods, _ := localMethodsV1(cfg)
	method := methods[0]
	if cfg.AggressiveMode && (method != isakmp.V1AuthPSK || len(methods) > 1) {
		return nil, fmt.Errorf("%w: Aggressive Mode is for pre-shared keys only", errConfig)
	}
	s.sa = &isakmpSA{initiator: true, ckyI: s.newSPI(), method: method, methods: methods, aggressive: cfg.AggressiveMode}
	switch {
	case req != nil:
		s.pendingChild = append(s.pendingChild, req)
	case len(cfg.ChildProposals) > 0:
		s.pendingChild = append(s.pendingChild, &ChildRequest{})
	}
	if s.sa.aggressive {
		err = s.sendAM1(now, s.sa)
	} else {
		err = s.sendMM1(now, s.sa)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// AcceptV1 creates the responder session for an IKEv1 Main Mode or
// Aggressive Mode first message. If cfg.GetConfigForRequest is set, it
// chooses the Config by the addresses (ConfigRequest.Version IKEv1). A
// message that opens no ISAKMP SA is an error; a proposal we cannot
// accept gives a closed session whose Datagrams hold the
// NO-PROPOSAL-CHOSEN notification.
func AcceptV1(cfg *Config, local, remote netip.AddrPort, now time.Time, datagram []byte) (*SessionV1, error) {
	b := append([]byte(nil), datagram...)
	var m isakmp.Message
	if err := m.Decode(b); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadMessage, err)
	}
	h := &m.Header
	if h.Major() != isakmp.MajorIKEv1 || h.ResponderSPI != ([8]byte{}) || h.MessageID != 0 ||
		h.InitiatorSPI == ([8]byte{}) || h.Flags&isakmp.FlagEncryption != 0 ||
		(h.Exchange != isakmp.ExchangeV1MainMode && h.Exchange != isakmp.ExchangeV1Aggressive) {
		return nil, fmt.Errorf("%w: not the first message of an IKEv1 phase 1", errBadMessage)
	}
	if cfg.GetConfigForRequest != nil {
		c, err := cfg.GetConfigForRequest(&ConfigRequest{Version: IKEv1, Local: local, Remote: remote})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoProposalChosen, err)
		}
		if c != nil {
			cfg = c
		}
	}
	if !cfg.KeyExchange.Allows(IKEv1) {
		return nil, fmt.Errorf("%w: IKEv1 not allowed by the configuration", ErrNoProposalChosen)
	}
	s, err := newSessionV1(cfg, local, remote)
	if err != nil {
		return nil, err
	}
	methods, _ := localMethodsV1(cfg)
	s.sa = &isakmpSA{ckyI: h.InitiatorSPI, ckyR: s.newSPI(), method: methods[0], methods: methods,
		aggressive: h.Exchange == isakmp.ExchangeV1Aggressive, exch: &v1Exchange{}}
	s.stats.Received++
	s.halfOpenUntil = now.Add(s.retransmitSchedule())
	sum := sha256.Sum256(b)
	if s.sa.aggressive {
		err = s.respondAM1(now, s.sa, &m, b, sum)
	} else {
		err = s.respondMM1(now, s.sa, &m, b, sum)
	}
	var refused *v1Refusal
	switch {
	case errors.As(err, &refused):
		s.sendPlainNotify(s.sa, refused.t)
		s.shutdown(err)
	case err != nil:
		return nil, err
	}
	return s, nil
}

// v1Refusal is an error answered with an unencrypted notification (only
// before keys exist, RFC 2408 4.8).
type v1Refusal struct {
	t   isakmp.V1NotifyType
	err error
}

func (r *v1Refusal) Error() string { return r.err.Error() }
func (r *v1Refusal) Unwrap() error { return r.err }

func refuseV1(t isakmp.V1NotifyType, err error) error { return &v1Refusal{t: t, err: err} }

// sendPlainNotify sends an unprotected informational exchange with one
// notification (RFC 2408 4.8), as answer to a phase 1 message we refuse.
func (s *SessionV1) sendPlainNotify(sa *isakmpSA, t isakmp.V1NotifyType) {
	h := v1Header(sa, isakmp.ExchangeV1Informational, 0, false)
	b, err := plainMessage(h, []isakmp.Payload{&isakmp.V1Notify{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtocolIKE,
		SPI: append(sa.ckyI[:], sa.ckyR[:]...), NotifyType: t}})
	if err == nil {
		s.send(b)
	}
}

// rawBody returns the body of the first payload of type t in a message
// (the "_b" of RFC 2409 5), aliasing b.
func rawBody(m *isakmp.Message, b []byte, t isakmp.PayloadType) []byte {
	w := isakmp.NewWalker(isakmp.MajorIKEv1, m.Header.NextPayload, b[isakmp.HeaderLen:])
	var raw isakmp.RawPayload
	for w.Next(&raw) {
		if raw.Type == t {
			return raw.Body
		}
	}
	return nil
}

// sendMM1 sends HDR, SA, VID... (RFC 2409 5).
func (s *SessionV1) sendMM1(now time.Time, sa *isakmpSA) error {
	offer, err := v1Phase1Offer(s.cfg, sa.methods)
	if err != nil {
		return err
	}
	sa.offer = offer
	if sa.saIb, err = payloadBody(offer); err != nil {
		return err
	}
	b, err := plainMessage(v1Header(sa, isakmp.ExchangeV1MainMode, 0, false),
		append([]isakmp.Payload{offer}, s.vendorIDs()...))
	if err != nil {
		return err
	}
	sa.exch = &v1Exchange{}
	sa.state = v1MMSent1
	s.arm(now, sa.exch, b, true)
	return nil
}

// respondMM1 chooses a transform and answers HDR, SA, VID... (RFC 2409 5).
func (s *SessionV1) respondMM1(now time.Time, sa *isakmpSA, m *isakmp.Message, b []byte, sum [32]byte) error {
	saPay := find[*isakmp.V1SA](m.Payloads)
	if saPay == nil {
		return refuseV1(isakmp.V1NotifyPayloadMalformed, fmt.Errorf("%w: MM1 without SA", ErrHandshake))
	}
	s.noteVendorIDs(m.Payloads)
	x, reply, ok := selectPhase1(s.cfg, saPay, sa.methods, s.peerGSS)
	if !ok {
		return refuseV1(isakmp.V1NotifyNoProposalChosen, ErrNoProposalChosen)
	}
	sa.x, sa.method = x, x.method
	sa.saIb = append([]byte(nil), rawBody(m, b, isakmp.PayloadV1SA)...)
	out, err := plainMessage(v1Header(sa, isakmp.ExchangeV1MainMode, 0, false),
		append([]isakmp.Payload{reply}, s.vendorIDs()...))
	if err != nil {
		return err
	}
	sa.exch.received(sum)
	sa.state = v1MMSent2
	s.arm(now, sa.exch, out, false)
	return nil
}

// receiveMainMode dispatches a Main Mode message by the SA's state.
func (s *SessionV1) receiveMainMode(now time.Time, sa *isakmpSA, m *isakmp.Message, b []byte, sum [32]byte) error {
	if m.Header.MessageID != 0 || sa.aggressive {
		return fmt.Errorf("%w: Main Mode message ID %d", errBadMessage, m.Header.MessageID)
	}
	switch sa.state {
	case v1MMSent1:
		return s.receiveMM2(now, sa, m, sum)
	case v1MMSent2:
		return s.receiveMM3(now, sa, m, sum)
	case v1MMSent3:
		return s.receiveMM4(now, sa, m, sum)
	case v1MMSent4:
		return s.receiveMM5(now, sa, m, sum)
	case v1MMSent5:
		return s.receiveMM6(now, sa, m, sum)
	}
	return fmt.Errorf("%w: Main Mode message in state %v", errBadMessage, sa.state)
}

// receiveMM2 takes the responder's choice and sends HDR, KE, Ni, [CR,]
// [NAT-D, NAT-D].
func (s *SessionV1) receiveMM2(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	if m.Header.ResponderSPI == ([8]byte{}) || m.Header.Flags&isakmp.FlagEncryption != 0 {
		return fmt.Errorf("%w: MM2 without responder cookie", ErrHandshake)
	}
	x, ok := checkPhase1Reply(s.cfg, sa.offer, find[*isakmp.V1SA](m.Payloads))
	if !ok {
		return fmt.Errorf("%w: the responder's SA payload is not one of ours", ErrHandshake)
	}
	kx, err := x.group.generate(s.rand)
	if err != nil {
		return err
	}
	sa.x, sa.kx, sa.gxi, sa.method = x, kx, kx.public(), x.method
	sa.ckyR = m.Header.ResponderSPI
	sa.ni = s.random(nonceLenV1)
	s.noteVendorIDs(m.Payloads)
	return s.sendMMKeyExchange(now, sa, sa.gxi, sa.ni, nil, sum, v1MMSent3, true)
}

// sendMMKeyExchange sends Main Mode's third (initiator) or fourth
// (responder) message, HDR, KE, Nonce, [CR,] [NAT-D, NAT-D] (RFC 2409 5,
// RFC 3947 3.2), with the GSS-API token for that method (peer is the
// message it answers, nil for the first token), and moves sa to next.
// request says whether the message is ours to retransmit.
func (s *SessionV1) sendMMKeyExchange(now time.Time, sa *isakmpSA, ke, nonce []byte, peer []isakmp.Payload, sum [32]byte, next v1State, request bool) error {
	ps := []isakmp.Payload{&isakmp.V1KE{Data: ke}, &isakmp.V1Nonce{Data: nonce}}
	ps = append(ps, s.certReqsV1(sa)...)
	ps = append(ps, s.natdPayloads(sa)...)
	if sa.method == isakmp.V1AuthGSSKerberos {
		tok, err := s.gssStep(now, sa, peer)
		if err != nil {
			return s.authFailed(err)
		}
		ps = append(ps, tok...)
	}
	out, err := plainMessage(v1Header(sa, isakmp.ExchangeV1MainMode, 0, false), ps)
	if err != nil {
		return err
	}
	s.lastRecv = now
	sa.exch.received(sum)
	sa.state = next
	s.arm(now, sa.exch, out, request)
	return nil
}

// keyExchangeV1 reads the peer's KE and Nonce and computes g^xy.
func (s *SessionV1) keyExchangeV1(sa *isakmpSA, ps []isakmp.Payload) (peerKE, peerNonce []byte, err error) {
	ke, nonce := find[*isakmp.V1KE](ps), find[*isakmp.V1Nonce](ps)
	if ke == nil || nonce == nil || len(nonce.Data) < minNonceLenV1 || len(nonce.Data) > maxNonceLenV1 {
		return nil, nil, fmt.Errorf("%w: KE or Nonce missing or malformed", ErrHandshake)
	}
	if sa.kx == nil {
		if sa.kx, err = sa.x.group.generate(s.rand); err != nil {
			return nil, nil, err
		}
	}
	if sa.gxy, err = sa.kx.sharedSecret(ke.Data); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return append([]byte(nil), ke.Data...), append([]byte(nil), nonce.Data...), nil
}

// deriveV1 computes SKEYID and its descendants and the first phase 1 IV
// (RFC 2409 5, Appendix B).
func (s *SessionV1) deriveV1(now time.Time, sa *isakmpSA) error {
	skeyid, err := skeyidV1(sa, s.pskV1(now, sa))
	if err != nil {
		return err
	}
	sa.keys = v1DeriveKeys(sa.x.hash, skeyid, sa.gxy, sa.ckyI, sa.ckyR, sa.x.cipher.keyLen(sa.x.keyBits))
	logIKEv1SAKeys(s.cfg.KeyLogWriter, sa.ckyI, sa.ckyR, uint16(sa.x.cipher.id), sa.keys.enc)
	block, err := sa.x.cipher.newCBC(sa.keys.enc)
	if err != nil {
		return err
	}
	sa.cbc = &v1CBC{block: block}
	sa.iv = v1Phase1IV(sa.x.hash, sa.gxi, sa.gxr, block.BlockSize())
	return nil
}

// receiveMM3 answers HDR, KE, Nr, [CR,] [NAT-D, NAT-D] and derives the
// keys.
func (s *SessionV1) receiveMM3(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	if m.Header.Flags&isakmp.FlagEncryption != 0 {
		return fmt.Errorf("%w: encrypted MM3", ErrHandshake)
	}
	gxi, ni, err := s.keyExchangeV1(sa, m.Payloads)
	if err != nil {
		return err
	}
	sa.gxi, sa.ni, sa.gxr, sa.nr = gxi, ni, sa.kx.public(), s.random(nonceLenV1)
	s.detectNAT(sa, m.Payloads)
	if err := s.deriveV1(now, sa); err != nil {
		return err
	}
	return s.sendMMKeyExchange(now, sa, sa.gxr, sa.nr, m.Payloads, sum, v1MMSent4, false)
}

// receiveMM4 derives the keys and sends HDR*, IDii, [CERT,] HASH_I|SIG_I,
// [N(INITIAL-CONTACT)].
func (s *SessionV1) receiveMM4(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	if m.Header.Flags&isakmp.FlagEncryption != 0 {
		return fmt.Errorf("%w: encrypted MM4", ErrHandshake)
	}
	gxr, nr, err := s.keyExchangeV1(sa, m.Payloads)
	if err != nil {
		return err
	}
	sa.gxr, sa.nr = gxr, nr
	s.detectNAT(sa, m.Payloads)
	if err := s.deriveV1(now, sa); err != nil {
		return err
	}
	if sa.method == isakmp.V1AuthGSSKerberos {
		tok, err := s.gssStep(now, sa, m.Payloads)
		if err != nil {
			return s.authFailed(err)
		}
		if tok != nil {
			// The mechanism needs another round trip (draft section
			// 3.2): HDR*, GSS until the context is established.
			return s.sendGSSRound(now, sa, sum, tok)
		}
	}
	ps, err := s.proofPayloadsV1(sa, true)
	if err != nil {
		return err
	}
	if s.cfg.InitialContact {
		ps = append(ps, &isakmp.V1Notify{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtocolIKE,
			SPI: append(sa.ckyI[:], sa.ckyR[:]...), NotifyType: isakmp.V1NotifyInitialContact})
	}
	out, err := s.sealPhase1(sa, isakmp.ExchangeV1MainMode, ps)
	if err != nil {
		return err
	}
	s.lastRecv = now
	sa.exch.received(sum)
	sa.state = v1MMSent5
	s.arm(now, sa.exch, out, true)
	return nil
}

// sealPhase1 encrypts a phase 1 message with the phase 1 IV chain.
func (s *SessionV1) sealPhase1(sa *isakmpSA, exch isakmp.ExchangeType, ps []isakmp.Payload) ([]byte, error) {
	plain, err := isakmp.AppendPayloads(nil, isakmp.MajorIKEv1, ps)
	if err != nil {
		return nil, err
	}
	out, next, err := sealMessage(sa, v1Header(sa, exch, 0, false), ps[0].Type(), plain, sa.iv, 0)
	if err != nil {
		return nil, err
	}
	sa.iv = next
	return out, nil
}

// authFailed reports a failed phase 1 authentication and ends the session.
func (s *SessionV1) authFailed(err error) error {
	s.emit(Event{Kind: EventAuthFailed, Err: err})
	s.shutdown(err)
	return err
}

// receiveMM5 checks the initiator's proof and answers HDR*, IDir, [CERT,]
// HASH_R|SIG_R; the ISAKMP SA is then established.
func (s *SessionV1) receiveMM5(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	ps, _, next, err := openMessage(sa, m, sa.iv)
	if err != nil {
		if sa.method == isakmp.V1AuthPSK && errors.Is(err, errBadMessage) {
			// IKEv1 encryption has no integrity check (RFC 2409 5.3):
			// keys from another pre-shared key decrypt MM5 to garbage.
			return fmt.Errorf("%w (MM5 from %v does not decrypt to payloads: do the pre-shared keys differ?)", err, s.remote)
		}
		return err
	}
	if sa.method == isakmp.V1AuthGSSKerberos && find[*isakmp.V1ID](ps) == nil {
		return s.answerGSSRound(now, sa, sum, ps, next)
	}
	if idp := find[*isakmp.V1ID](ps); idp != nil && s.cfg.GetConfigForRequest != nil {
		if err := s.reconfigure(idp); err != nil {
			return s.authFailed(err)
		}
	}
	if err := s.verifyProofV1(now, sa, ps, true); err != nil {
		return s.phase1Failed(sa, err)
	}
	sa.iv = next
	s.initialContact = hasNotifyV1(ps, isakmp.V1NotifyInitialContact)
	out, err := s.proofPayloadsV1(sa, false)
	if err != nil {
		return err
	}
	msg, err := s.sealPhase1(sa, isakmp.ExchangeV1MainMode, out)
	if err != nil {
		return err
	}
	sa.p1Last = sa.iv
	sa.exch.received(sum)
	s.arm(now, sa.exch, msg, false)
	s.establish(now, sa)
	return nil
}

// reconfigure asks GetConfigForRequest again now that the peer's identity
// is known (ConfigRequest.PeerID). The new Config may change how the peer
// is authenticated, not the keys already agreed.
func (s *SessionV1) reconfigure(idp *isakmp.V1ID) error {
	c, err := s.cfg.GetConfigForRequest(&ConfigRequest{Version: IKEv1, Local: s.local, Remote: s.remote,
		PeerID: idFromV1(idp)})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuthenticationFailed, err)
	}
	if c != nil {
		if ms, err := localMethodsV1(c); err != nil || !slices.Contains(ms, s.sa.method) {
			return fmt.Errorf("%w: the Config for this peer uses another method", ErrAuthenticationFailed)
		}
		s.cfg = c
	}
	return nil
}

// receiveMM6 checks the responder's proof; the ISAKMP SA is established.
func (s *SessionV1) receiveMM6(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	ps, _, next, err := openMessage(sa, m, sa.iv)
	if err != nil {
		return err
	}
	if sa.method == isakmp.V1AuthGSSKerberos && find[*isakmp.V1ID](ps) == nil {
		return s.continueGSSRound(now, sa, sum, ps, next)
	}
	if err := s.verifyProofV1(now, sa, ps, false); err != nil {
		return s.authFailed(err)
	}
	sa.iv, sa.p1Last = next, next
	sa.exch.received(sum)
	sa.exch.lastOut = nil
	s.establish(now, sa)
	return nil
}

// establish completes phase 1: timers, the event and, after a phase 1
// rekey, the switch to the new ISAKMP SA.
func (s *SessionV1) establish(now time.Time, sa *isakmpSA) {
	sa.state = v1Established
	sa.establishedAt = now
	s.lastRecv = now
	s.halfOpenUntil = time.Time{}
	life := s.cfg.ikeLifetimeV1()
	if sa.x.life > 0 {
		life = min(life, sa.x.life)
	}
	sa.expireAt = now.Add(life)
	if r := s.cfg.ikeRekey(); sa.initiator && r > 0 {
		sa.rekeyAt = now.Add(min(r, life*9/10))
	}
	sa.kx = nil
	if sa == s.next {
		if !sa.initiator && s.initialContact {
			// A peer that rekeys with INITIAL-CONTACT has lost its
			// state (RFC 2407 4.6.3.3): its IPsec SAs are gone.
			for _, c := range s.children {
				cs := c.sa
				s.emit(Event{Kind: EventChildDeleted, Child: &cs})
			}
			s.children = nil
		}
		s.switchISAKMP(now, sa)
		return
	}
	s.emit(Event{Kind: EventIKEUp})
}

func hasNotifyV1(ps []isakmp.Payload, t isakmp.V1NotifyType) bool {
	for _, p := range ps {
		if n, ok := p.(*isakmp.V1Notify); ok && n.NotifyType == t {
			return true
		}
	}
	return false
}
