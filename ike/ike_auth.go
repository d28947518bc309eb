package ike

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

var errAuth = errors.New("ike: authentication failed")

// restOfID returns the ID payload body after the generic header: ID Type,
// RESERVED and the identification data, which is what the AUTH payload's
// MACedIDFor[I|R] covers (RFC 7296 2.15).
func restOfID(id *isakmp.ID) ([]byte, error) {
	b, err := isakmp.AppendPayloads(nil, isakmp.MajorIKEv2, []isakmp.Payload{id})
	if err != nil {
		return nil, err
	}
	return b[isakmp.GenericHeaderLen:], nil
}

// signedOctets builds InitiatorSignedOctets or ResponderSignedOctets
// (RFC 7296 2.15):
//
//	RealMessage | Nonce(peer) | prf(SK_p, RestOfIDPayload)
func signedOctets(sa *ikeSA, realMessage, peerNonce []byte, id *isakmp.ID, initiatorSide bool) ([]byte, error) {
	rest, err := restOfID(id)
	if err != nil {
		return nil, err
	}
	key := sa.keys.pr
	if initiatorSide {
		key = sa.keys.pi
	}
	mac := sa.suite.prf.sum(key, rest)
	out := make([]byte, 0, len(realMessage)+len(peerNonce)+len(mac))
	return append(append(append(out, realMessage...), peerNonce...), mac...), nil
}

func localIDPayload(id auth.Identity, responder bool) *isakmp.ID {
	return &isakmp.ID{Responder: responder, IDType: isakmp.IDType(id.Type), Data: id.Data}
}

// authPayloads returns this side's ID, CERT and AUTH payloads.
func (s *Session) authPayloads(sa *ikeSA, responder bool) ([]isakmp.Payload, error) {
	hs := s.handshake
	id := localIDPayload(s.cfg.LocalID, responder)
	var octets []byte
	var err error
	if responder {
		octets, err = signedOctets(sa, hs.initResp, hs.ni, id, false)
	} else {
		octets, err = signedOctets(sa, hs.initReq, hs.nr, id, true)
	}
	if err != nil {
		return nil, err
	}
	a, err := s.authenticator()
	if err != nil {
		return nil, err
	}
	data, err := a.AuthData(sa.authPRF(), octets)
	if err != nil {
		return nil, err
	}
	ps := []isakmp.Payload{id}
	for _, c := range s.cfg.Certificates {
		ps = append(ps, &isakmp.Cert{Encoding: isakmp.CertX509Sig, Data: c})
	}
	if cr := s.certReq(); cr != nil && !responder {
		ps = append(ps, cr) // RFC 7296 1.2: IDi, [CERT,] [CERTREQ,] [IDr,] AUTH
	}
	if !responder && s.cfg.RemoteID.Type != 0 {
		ps = append(ps, localIDPayload(s.cfg.RemoteID, true))
	}
	ps = append(ps, &isakmp.Auth{Method: isakmp.AuthMethod(a.Method()), Data: data})
	return ps, nil
}

// authenticator returns what signs this side's AUTH payload: Config.Auth,
// or a signer for Config.SignatureKey that, for RFC 7427 signatures
// without a configured hash, uses the hash chosen from the peer's
// SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4).
func (s *Session) authenticator() (auth.Authenticator, error) {
	c := s.cfg
	if c.SignatureKey == nil {
		return c.Auth, nil
	}
	opts := c.SignatureOptions
	method14 := opts.Method == 0 || opts.Method == auth.MethodDigitalSignature
	if hs := s.handshake; method14 && opts.Hash == 0 && hs.peerHashes != nil {
		h, err := auth.ChooseHash(c.SignatureKey.Public(), hs.peerHashes)
		if err != nil {
			s.log.Debug("ike: no common signature hash, using the default", "peer", hs.peerHashes, "err", err)
		} else {
			opts.Hash = h
		}
	}
	return auth.NewSignatureAuthenticator(c.SignatureKey, opts)
}

// peerSignatureHashes records the peer's SIGNATURE_HASH_ALGORITHMS
// notification from its IKE_SA_INIT message (RFC 7427 section 4); a
// malformed one counts as absent.
func (s *Session) peerSignatureHashes(ps []isakmp.Payload) {
	n := findNotify(ps, isakmp.NotifySignatureHashAlgorithms)
	if n == nil {
		return
	}
	hs, err := auth.ParseSignatureHashAlgorithms(n.Data)
	if err != nil {
		s.log.Debug("ike: ignoring malformed SIGNATURE_HASH_ALGORITHMS", "err", err)
		return
	}
	s.handshake.peerHashes = hs
}

// verifyPeer checks the peer's ID and AUTH payloads (RFC 7296 2.15): the
// identity must be the configured RemoteID if one is set, PeerAuth must
// know it, and the AUTH data must verify over the peer's signed octets.
func (s *Session) verifyPeer(now time.Time, sa *ikeSA, ps []isakmp.Payload, peerIsResponder bool) (err error) {
	hs := s.handshake
	idp := findID(ps, peerIsResponder)
	ap := find[*isakmp.Auth](ps)
	if idp == nil || ap == nil {
		return fmt.Errorf("%w: ID or AUTH payload missing", errAuth)
	}
	id := auth.Identity{Type: auth.IDType(idp.IDType), Data: bytes.Clone(idp.Data)}
	if err := id.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errAuth, err)
	}
	s.claimedID = id
	// Every failure below names the peer's address and claimed identity.
	defer func() {
		if err != nil && s.peerID.Type == 0 {
			err = fmt.Errorf("%w (peer %v claiming %v)", err, s.remote, id)
		}
	}()
	if s.cfg.RemoteID.Type != 0 && !s.cfg.RemoteID.Equal(id) {
		return fmt.Errorf("%w: peer is %v, expected %v", errAuth, id, s.cfg.RemoteID)
	}
	var certs [][]byte
	for _, p := range ps {
		if c, ok := p.(*isakmp.Cert); ok && c.Encoding == isakmp.CertX509Sig {
			certs = append(certs, bytes.Clone(c.Data))
		}
	}
	pa, err := s.cfg.PeerAuth(id, certs, now)
	if err != nil {
		return fmt.Errorf("%w: %v", errAuth, err)
	}
	var octets []byte
	if peerIsResponder {
		octets, err = signedOctets(sa, hs.initResp, hs.ni, idp, false)
	} else {
		octets, err = signedOctets(sa, hs.initReq, hs.nr, idp, true)
	}
	if err != nil {
		return err
	}
	if err := pa.VerifyAuthData(auth.Method(ap.Method), ap.Data, sa.authPRF(), octets); err != nil {
		return fmt.Errorf("%w: %v", errAuth, err)
	}
	s.peerID = id
	return nil
}

// sendAuth sends the IKE_AUTH request (RFC 7296 1.2):
//
//	HDR, SK {IDi, [CERT,] [IDr,] AUTH, [N(INITIAL_CONTACT),]
//	    [N(USE_TRANSPORT_MODE),] SAi2, TSi, TSr}
func (s *Session) sendAuth(now time.Time) error {
	sa, hs := s.sa, s.handshake
	ps, err := s.authPayloads(sa, false)
	if err != nil {
		return err
	}
	if s.cfg.InitialContact {
		ps = append(ps, notify(isakmp.NotifyInitialContact, nil))
	}
	if len(s.cfg.ChildProposals) > 0 {
		if hs.child, err = s.newChildReq(true, nil, isakmp.GroupNone); err != nil {
			return err
		}
		ps = append(ps, hs.child.payloads(s.cfg.ChildProposals, true)...)
	}
	return s.sendRequest(now, sa, isakmp.ExchangeIKEAuth, ps, s.onAuthResponse)
}

// onAuthResponse handles HDR, SK {IDr, [CERT,] AUTH, [SAr2, TSi, TSr]}.
func (s *Session) onAuthResponse(now time.Time, _ *isakmp.Header, ps []isakmp.Payload, _ []byte) error {
	sa, hs := s.sa, s.handshake
	if n := findNotify(ps, isakmp.NotifyAuthenticationFailed); n != nil {
		err := fmt.Errorf("%w: the responder sent AUTHENTICATION_FAILED", errAuth)
		s.emit(Event{Kind: EventAuthFailed, Err: err})
		s.shutdown(err)
		return err
	}
	if findID(ps, true) == nil || find[*isakmp.Auth](ps) == nil {
		var err error = fmt.Errorf("%w: IKE_AUTH response without IDr or AUTH", errAuth)
		if n := errorNotify(ps); n != nil {
			err = NotifyError(n.NotifyType)
		}
		s.shutdown(err)
		return err
	}
	if err := s.verifyPeer(now, sa, ps, true); err != nil {
		s.emit(Event{Kind: EventAuthFailed, Err: err})
		s.sendAuthFailed(sa)
		s.shutdown(err)
		return err
	}
	s.establish(now)
	if hs.child != nil {
		ch, err := s.finishChild(now, hs.child, ps, true, hs.ni, hs.nr)
		if err != nil {
			s.emit(Event{Kind: EventChildFailed, Err: err})
		} else {
			c := ch.sa
			s.emit(Event{Kind: EventChildUp, Child: &c})
		}
	}
	s.handshake = nil
	return nil
}

// sendAuthFailed tells the responder that its AUTH payload (or
// certificate) did not verify: an INFORMATIONAL request carrying
// N(AUTHENTICATION_FAILED), protected by the new IKE SA (RFC 7296 2.21.2:
// an error found by the initiator goes into a separate INFORMATIONAL
// exchange). The IKE SA is deleted at once, so the request is sent once
// and neither retransmitted nor waited for; a peer that misses it lets
// its half-open SA time out.
func (s *Session) sendAuthFailed(sa *ikeSA) {
	b, err := s.encrypt(sa, isakmp.ExchangeInformational, sa.nextReqID, false,
		[]isakmp.Payload{notify(isakmp.NotifyAuthenticationFailed, nil)})
	if err != nil {
		s.log.Debug("ike: cannot send AUTHENTICATION_FAILED", "err", err)
		return
	}
	sa.nextReqID++
	s.send(b)
}

// establish marks the IKE SA authenticated and arms its timers.
func (s *Session) establish(now time.Time) {
	sa := s.sa
	sa.state = stateEstablished
	s.leaveHalfOpen()
	if r := s.cfg.ikeRekey(); r > 0 {
		j, _ := randInt(s, int64(s.cfg.jitter(r)))
		sa.rekeyAt = now.Add(r - time.Duration(j))
	}
	s.emit(Event{Kind: EventIKEUp})
}

// respondIKEAuth answers IKE_AUTH (RFC 7296 1.2):
//
//	HDR, SK {IDr, [CERT,] AUTH, [N(USE_TRANSPORT_MODE),] SAr2, TSi, TSr}
//
// or HDR, SK {N(AUTHENTICATION_FAILED)} when the initiator does not
// authenticate (RFC 7296 2.21.2). A CHILD SA that cannot be created is
// answered with its error notification while the IKE SA comes up.
func (s *Session) respondIKEAuth(now time.Time, sa *ikeSA, ps []isakmp.Payload) ([]byte, error) {
	hs := s.handshake
	if err := s.verifyPeer(now, sa, ps, false); err != nil {
		resp, e := s.encrypt(sa, isakmp.ExchangeIKEAuth, sa.peerReqID, true,
			[]isakmp.Payload{notify(isakmp.NotifyAuthenticationFailed, nil)})
		s.emit(Event{Kind: EventAuthFailed, Err: err})
		s.shutdown(err)
		if e != nil {
			return nil, e
		}
		return resp, err
	}
	out, err := s.authPayloads(sa, true)
	if err != nil {
		return nil, err
	}
	s.initialContact = findNotify(ps, isakmp.NotifyInitialContact) != nil
	s.establish(now)
	var ch *child
	var childErr error
	if find[*isakmp.SA](ps) != nil {
		var cps []isakmp.Payload
		cps, ch, childErr = s.answerChild(now, ps, true, hs.ni, hs.nr, nil)
		out = append(out, cps...)
	}
	resp, err := s.encrypt(sa, isakmp.ExchangeIKEAuth, sa.peerReqID, true, out)
	if err != nil {
		return nil, err
	}
	switch {
	case ch != nil:
		c := ch.sa
		s.emit(Event{Kind: EventChildUp, Child: &c})
	case childErr != nil:
		s.emit(Event{Kind: EventChildFailed, Err: childErr})
	}
	s.handshake = nil
	return resp, nil
}
