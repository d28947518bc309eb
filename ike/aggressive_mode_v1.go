package ike

import (
	"fmt"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// Aggressive Mode (RFC 2409 5.4), pre-shared keys only, and only with
// Config.AggressiveMode on both sides: AM2 carries HASH_R in the clear
// next to everything it is computed from, so an eavesdropper (or anyone
// who sends an AM1) can test guesses of the pre-shared key offline.

// sendAM1 sends HDR, SA, KE, Ni, IDii, VID....
func (s *SessionV1) sendAM1(now time.Time, sa *isakmpSA) error {
	offer, err := v1Phase1Offer(s.cfg, sa.method)
	if err != nil {
		return err
	}
	// Aggressive Mode cannot negotiate the group: KE is sent with the
	// first message, so the offer keeps only the first group's transforms
	// (RFC 2409 5.4).
	first := offer.Proposals[0].Transforms
	group := s.cfg.IKEProposals[0].KE[0]
	var keep []isakmp.V1Transform
	for _, t := range first {
		if a, ok := t.Attr(uint16(isakmp.V1AttrGroupDesc)); ok && a.Value == uint16(group) {
			t.Number = uint8(len(keep) + 1)
			keep = append(keep, t)
		}
	}
	g := v1Group(group, s.cfg.AllowLegacyV1)
	if len(keep) == 0 || g == nil {
		return fmt.Errorf("%w: the first IKE proposal's group has no IKEv1 form", errConfig)
	}
	offer.Proposals[0].Transforms = keep
	sa.offer = offer
	if sa.saIb, err = payloadBody(offer); err != nil {
		return err
	}
	if sa.kx, err = g.generate(s.rand); err != nil {
		return err
	}
	sa.gxi, sa.ni = sa.kx.public(), s.random(nonceLenV1)
	ps := []isakmp.Payload{offer, &isakmp.V1KE{Data: sa.gxi}, &isakmp.V1Nonce{Data: sa.ni}, idPayloadV1(s.cfg.LocalID)}
	b, err := plainMessage(v1Header(sa, isakmp.ExchangeV1Aggressive, 0, false), append(ps, vendorIDsV1()...))
	if err != nil {
		return err
	}
	sa.exch = &v1Exchange{}
	sa.state = v1AMSent1
	s.arm(now, sa.exch, b, true)
	return nil
}

// respondAM1 answers HDR, SA, KE, Nr, IDir, HASH_R, VID..., [NAT-D,
// NAT-D].
func (s *SessionV1) respondAM1(now time.Time, sa *isakmpSA, m *isakmp.Message, b []byte, sum [32]byte) error {
	if !s.cfg.AggressiveMode || sa.method != isakmp.V1AuthPSK {
		return refuseV1(isakmp.V1NotifyNoProposalChosen, fmt.Errorf("%w: Aggressive Mode is not enabled", ErrNoProposalChosen))
	}
	saPay := find[*isakmp.V1SA](m.Payloads)
	idp := find[*isakmp.V1ID](m.Payloads)
	if saPay == nil || idp == nil {
		return refuseV1(isakmp.V1NotifyPayloadMalformed, fmt.Errorf("%w: AM1 without SA or ID", ErrHandshake))
	}
	x, reply, ok := selectPhase1(s.cfg, saPay, sa.method)
	if !ok {
		return refuseV1(isakmp.V1NotifyNoProposalChosen, ErrNoProposalChosen)
	}
	sa.x = x
	if s.cfg.GetConfigForRequest != nil {
		if err := s.reconfigure(idp); err != nil {
			return refuseV1(isakmp.V1NotifyAuthenticationFailed, err)
		}
	}
	gxi, ni, err := s.keyExchangeV1(sa, m.Payloads)
	if err != nil {
		return refuseV1(isakmp.V1NotifyInvalidKeyInformation, err)
	}
	sa.saIb = append([]byte(nil), rawBody(m, b, isakmp.PayloadV1SA)...)
	sa.peerIDb = append([]byte(nil), rawBody(m, b, isakmp.PayloadV1ID)...)
	sa.gxi, sa.ni, sa.gxr, sa.nr = gxi, ni, sa.kx.public(), s.random(nonceLenV1)
	s.noteVendorIDs(m.Payloads)
	if err := s.deriveV1(now, sa); err != nil {
		return refuseV1(isakmp.V1NotifyAuthenticationFailed, err)
	}
	proof, err := s.proofPayloadsV1(sa, false)
	if err != nil {
		return err
	}
	ps := append([]isakmp.Payload{reply, &isakmp.V1KE{Data: sa.gxr}, &isakmp.V1Nonce{Data: sa.nr}}, proof...)
	ps = append(ps, vendorIDsV1()...)
	ps = append(ps, s.natdPayloads(sa)...)
	out, err := plainMessage(v1Header(sa, isakmp.ExchangeV1Aggressive, 0, false), ps)
	if err != nil {
		return err
	}
	sa.exch.received(sum)
	sa.state = v1AMSent2
	s.arm(now, sa.exch, out, true)
	return nil
}

// receiveAggressive handles AM2 (initiator) and AM3 (responder).
func (s *SessionV1) receiveAggressive(now time.Time, sa *isakmpSA, m *isakmp.Message, _ []byte, sum [32]byte) error {
	if m.Header.MessageID != 0 || !sa.aggressive {
		return fmt.Errorf("%w: unexpected Aggressive Mode message", errBadMessage)
	}
	switch sa.state {
	case v1AMSent1:
		return s.receiveAM2(now, sa, m, sum)
	case v1AMSent2:
		return s.receiveAM3(now, sa, m, sum)
	}
	return fmt.Errorf("%w: Aggressive Mode message in state %v", errBadMessage, sa.state)
}

// receiveAM2 checks the responder's proof and sends HDR*, HASH_I,
// [NAT-D, NAT-D].
func (s *SessionV1) receiveAM2(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	if m.Header.ResponderSPI == ([8]byte{}) || m.Header.Flags&isakmp.FlagEncryption != 0 {
		return fmt.Errorf("%w: AM2 without responder cookie", ErrHandshake)
	}
	x, ok := checkPhase1Reply(s.cfg, sa.offer, find[*isakmp.V1SA](m.Payloads))
	if !ok || x.group.id != sa.kx.group.id {
		return fmt.Errorf("%w: the responder's SA payload is not one of ours", ErrHandshake)
	}
	sa.x = x
	sa.ckyR = m.Header.ResponderSPI
	gxr, nr, err := s.keyExchangeV1(sa, m.Payloads)
	if err != nil {
		return err
	}
	sa.gxr, sa.nr = gxr, nr
	s.noteVendorIDs(m.Payloads)
	s.detectNAT(sa, m.Payloads)
	if err := s.deriveV1(now, sa); err != nil {
		return err
	}
	if err := s.verifyProofV1(now, sa, m.Payloads, false); err != nil {
		return s.authFailed(err)
	}
	proof, err := s.proofPayloadsV1(sa, true)
	if err != nil {
		return err
	}
	ps := append([]isakmp.Payload{proof[len(proof)-1]}, s.natdPayloads(sa)...)
	out, err := s.sealPhase1(sa, isakmp.ExchangeV1Aggressive, ps)
	if err != nil {
		return err
	}
	sa.p1Last = sa.iv
	sa.exch.received(sum)
	s.arm(now, sa.exch, out, false)
	s.establish(now, sa)
	return nil
}

// receiveAM3 checks the initiator's HASH_I (encrypted, as strongSwan and
// Windows send it, or in the clear as RFC 2409 5.4 draws it).
func (s *SessionV1) receiveAM3(now time.Time, sa *isakmpSA, m *isakmp.Message, sum [32]byte) error {
	ps := m.Payloads
	if m.Header.Flags&isakmp.FlagEncryption != 0 {
		var next []byte
		var err error
		if ps, _, next, err = openMessage(sa, m, sa.iv); err != nil {
			return err
		}
		defer func() {
			if s.sa.state == v1Established {
				sa.iv, sa.p1Last = next, next
			}
		}()
	} else {
		sa.p1Last = sa.iv
	}
	// The peer's ID came in AM1; verifyProofV1 reads it from ps.
	idp := &isakmp.V1ID{}
	if len(sa.peerIDb) < 4 {
		return fmt.Errorf("%w: no initiator ID", ErrHandshake)
	}
	idp.IDType, idp.IPProtocol = isakmp.IDType(sa.peerIDb[0]), sa.peerIDb[1]
	idp.Port = uint16(sa.peerIDb[2])<<8 | uint16(sa.peerIDb[3])
	idp.Data = sa.peerIDb[4:]
	s.detectNAT(sa, ps)
	if err := s.verifyProofV1(now, sa, append([]isakmp.Payload{idp}, ps...), true); err != nil {
		return s.authFailed(err)
	}
	sa.exch.received(sum)
	sa.exch.lastOut = nil
	s.establish(now, sa)
	return nil
}
