package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// startCreateChild requests a new CHILD SA (RFC 7296 1.3.1):
//
//	HDR, SK {[N(USE_TRANSPORT_MODE),] SA, Ni, [KEi,] TSi, TSr}
//
// with req's Config (nil: the session's) and the triggering packet's
// selectors first in TSi and TSr (RFC 7296 2.9).
func (s *Session) startCreateChild(now time.Time, req *ChildRequest) error {
	cfg := s.cfg
	if req != nil && req.Config != nil {
		cfg = req.Config
	}
	r, err := s.newChildReq(cfg, false, nil, pfsGroup(cfg, nil), req)
	if err != nil {
		return err
	}
	return s.sendChildRequest(now, r)
}

// startRekeyChild rekeys a CHILD SA (RFC 7296 1.3.3):
//
//	HDR, SK {N(REKEY_SA), [N(USE_TRANSPORT_MODE),] SA, Ni, [KEi,] TSi, TSr}
//
// with a KE payload when the CHILD proposals ask for PFS.
func (s *Session) startRekeyChild(now time.Time, spi uint32) error {
	old := s.findChild(spi)
	if old == nil || old.rekeyed {
		return ErrNoChild
	}
	r, err := s.newChildReq(old.cfg, false, old, pfsGroup(old.cfg, old), nil)
	if err != nil {
		return err
	}
	return s.sendChildRequest(now, r)
}

func (s *Session) sendChildRequest(now time.Time, r *childReq) error {
	ps := r.payloads(r.cfg.ChildProposals, false)
	if r.old != nil {
		r.old.rekeying = true
	}
	err := s.sendRequest(now, s.sa, isakmp.ExchangeCreateChildSA, ps,
		func(now time.Time, _ *isakmp.Header, ps []isakmp.Payload, _ []byte) error {
			return s.onChildResponse(now, r, ps)
		})
	if err != nil && r.old != nil {
		r.old.rekeying = false
	}
	return err
}

// onChildResponse handles HDR, SK {SA, Nr, [KEr,] TSi, TSr}, or an
// INVALID_KE_PAYLOAD asking for another group (RFC 7296 1.3), or another
// error.
func (s *Session) onChildResponse(now time.Time, r *childReq, ps []isakmp.Payload) error {
	if r.old != nil {
		r.old.rekeying = false
	}
	if n := findNotify(ps, isakmp.NotifyInvalidKEPayload); n != nil && len(n.Data) == 2 && r.keRetries < maxKERetries {
		g := isakmp.KEGroup(binary.BigEndian.Uint16(n.Data))
		if offersGroup(r.cfg.ChildProposals, g) && (r.kx == nil || g != r.kx.group.id) {
			kx, err := dhGroupByID(g).generate(s.rand)
			if err != nil {
				return err
			}
			r.kx = kx
			r.keRetries++
			r.ni = s.random(nonceLen)
			return s.sendChildRequest(now, r)
		}
	}
	if n := findNotify(ps, isakmp.NotifyChildSANotFound); n != nil && r.old != nil {
		// RFC 7296 2.25: the peer no longer has the SA; drop ours.
		s.removeChild(r.old)
		old := r.old.sa
		s.emit(Event{Kind: EventChildDeleted, Child: &old})
		return NotifyError(n.NotifyType)
	}
	ch, err := s.finishChild(now, r, ps, false, nil, nil)
	if err != nil {
		if r.old != nil && s.findChild(r.old.sa.InboundSPI) == r.old {
			// Try again later (RFC 7296 2.25: TEMPORARY_FAILURE means wait),
			// with jitter so that two colliding peers drift apart.
			r.old.rekeyAt = s.retryAt(now)
		}
		s.emit(Event{Kind: EventChildFailed, Err: err})
		return err
	}
	c := ch.sa
	if r.old == nil {
		s.emit(Event{Kind: EventChildUp, Child: &c})
		return nil
	}
	old := r.old
	if old.collision != nil && s.findChild(old.collision.sa.InboundSPI) == old.collision {
		return s.resolveCollision(now, old, ch)
	}
	old.rekeyed = true
	o := old.sa
	s.emit(Event{Kind: EventChildRekeyed, Child: &c, Old: &o})
	// The initiator of a rekey deletes the old SA (RFC 7296 1.3.3).
	s.enqueue(task{kind: taskDeleteChild, spi: old.sa.InboundSPI})
	return nil
}

// resolveCollision applies RFC 7296 2.8.1 when both sides rekeyed the same
// CHILD SA: ours created mine, the peer's created theirs. The SA created
// with the lowest of the four nonces is redundant and is deleted by the
// side that created it; the other side also deletes the old SA.
func (s *Session) resolveCollision(now time.Time, old, mine *child) error {
	theirs := old.collision
	lowest := func(c *child) []byte {
		if bytes.Compare(c.ni, c.nr) < 0 {
			return c.ni
		}
		return c.nr
	}
	old.rekeyed = true
	c := mine.sa
	o := old.sa
	if bytes.Compare(lowest(mine), lowest(theirs)) < 0 {
		// Ours is redundant: delete it. The peer deletes the old SA.
		s.emit(Event{Kind: EventChildUp, Child: &c})
		s.enqueue(task{kind: taskDeleteChild, spi: mine.sa.InboundSPI})
		return nil
	}
	// Ours survives; the peer deletes its redundant SA, we delete the old.
	s.emit(Event{Kind: EventChildRekeyed, Child: &c, Old: &o})
	s.enqueue(task{kind: taskDeleteChild, spi: old.sa.InboundSPI})
	return nil
}

// startRekeyIKE rekeys the IKE SA (RFC 7296 1.3.2):
//
//	HDR, SK {SA, Ni, KEi}
//
// with the new initiator SPI in the proposals.
func (s *Session) startRekeyIKE(now time.Time) error {
	old := s.sa
	spi := s.newSPI()
	g := old.chosen.ke
	if !offersGroup(s.cfg.IKEProposals, g) {
		g = s.cfg.IKEProposals[0].KE[0]
	}
	kx, err := dhGroupByID(g).generate(s.rand)
	if err != nil {
		return err
	}
	ni := s.random(nonceLen)
	saPay := &isakmp.SA{}
	for i := range s.cfg.IKEProposals {
		saPay.Proposals = append(saPay.Proposals, s.cfg.IKEProposals[i].wireProposal(uint8(i+1), spi[:], true))
	}
	ps := []isakmp.Payload{saPay, &isakmp.Nonce{Data: ni}, &isakmp.KE{Group: g, Data: kx.public()}}
	err = s.sendRequest(now, old, isakmp.ExchangeCreateChildSA, ps,
		func(now time.Time, _ *isakmp.Header, ps []isakmp.Payload, _ []byte) error {
			if n := errorNotify(ps); n != nil {
				if s.pending != nil && s.sa == old {
					// The peer's rekey crossed ours and ours was refused:
					// the peer's new SA is the one (RFC 7296 2.8.2, 2.25).
					s.adoptPending(now)
					return nil
				}
				if s.sa == old {
					// TEMPORARY_FAILURE, NO_PROPOSAL_CHOSEN...: try later.
					old.rekeyAt = s.retryAt(now)
				}
				return NotifyError(n.NotifyType)
			}
			c, ok := checkAccepted(s.cfg.IKEProposals, find[*isakmp.SA](ps), true)
			nonce := find[*isakmp.Nonce](ps)
			ke := find[*isakmp.KE](ps)
			if !ok || len(c.spi) != 8 || nonce == nil || ke == nil || ke.Group != g || c.ke != g ||
				len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
				return fmt.Errorf("%w: bad IKE SA rekey response", ErrHandshake)
			}
			gir, err := kx.sharedSecret(ke.Data)
			if err != nil {
				return err
			}
			mine := &ikeSA{state: stateEstablished, initiator: true, spiI: spi, spiR: [8]byte(c.spi)}
			if err := s.deriveRekeyed(now, old, mine, c, gir, ni, nonce.Data); err != nil {
				return err
			}
			switch {
			case s.sa != old:
				// The peer's crossing rekey already won and the old SA is
				// gone: ours is redundant and we made it, so we delete it.
				s.retire(now, mine)
				return s.startDeleteRetired(now, mine)
			case s.pending != nil:
				// Both rekeys completed (RFC 7296 2.8.2): the new SA with
				// the lowest of the four nonces is redundant and is deleted
				// by the side that created it; the other side deletes the
				// old SA.
				theirs := s.pending
				if bytes.Compare(lowestNonce(mine), lowestNonce(theirs)) < 0 {
					s.adoptPending(now)
					s.retire(now, mine)
					return s.startDeleteRetired(now, mine)
				}
				s.pending = nil
				s.retire(now, theirs)
				s.makeCurrent(now, mine)
				return s.startDeleteRetired(now, old)
			default:
				s.makeCurrent(now, mine)
				return s.startDeleteRetired(now, old)
			}
		})
	if err == nil {
		old.req.ikeRekey = true
	}
	return err
}

func lowestNonce(sa *ikeSA) []byte {
	if bytes.Compare(sa.ni, sa.nr) < 0 {
		return sa.ni
	}
	return sa.nr
}

// deriveRekeyed gives n, made by rekeying old, its keys: SKEYSEED from
// old's SK_d with old's PRF (RFC 7296 2.18: the rekey exchange belongs to
// the old SA), the keys by prf+ with the new PRF. Message IDs start at
// zero.
func (s *Session) deriveRekeyed(now time.Time, old, n *ikeSA, c chosen, gir, ni, nr []byte) error {
	seed := rekeySKEYSEED(old.suite.prf, old.keys.d, gir, ni, nr)
	if err := s.installKeys(n, c, seed, ni, nr); err != nil {
		return err
	}
	n.ni, n.nr = bytes.Clone(ni), bytes.Clone(nr)
	if r := s.cfg.ikeRekey(); r > 0 {
		j, _ := randInt(s, int64(s.cfg.jitter(r)))
		n.rekeyAt = now.Add(r - time.Duration(j))
	}
	return nil
}

// makeCurrent switches to n; the current SA is retired until its Delete.
func (s *Session) makeCurrent(now time.Time, n *ikeSA) {
	s.retire(now, s.sa)
	s.sa = n
	s.emit(Event{Kind: EventIKERekeyed})
}

// adoptPending makes the SA of the peer's crossing rekey current.
func (s *Session) adoptPending(now time.Time) {
	n := s.pending
	s.pending = nil
	s.makeCurrent(now, n)
}

// respondCreateChildSA answers CREATE_CHILD_SA (RFC 7296 1.3): a new
// CHILD SA, a CHILD SA rekey (REKEY_SA) or an IKE SA rekey (an SA payload
// with protocol IKE).
func (s *Session) respondCreateChildSA(now time.Time, sa *ikeSA, ps []isakmp.Payload) ([]byte, error) {
	if sa != s.sa || sa.state != stateEstablished {
		// Nothing new on an IKE SA that is going away (RFC 7296 2.25).
		return s.encrypt(sa, isakmp.ExchangeCreateChildSA, sa.peerReqID, true,
			[]isakmp.Payload{notify(isakmp.NotifyTemporaryFailure, nil)})
	}
	if saPay := find[*isakmp.SA](ps); saPay != nil && len(saPay.Proposals) > 0 && saPay.Proposals[0].Protocol == isakmp.ProtocolIKE {
		return s.respondRekeyIKE(now, sa, ps, saPay)
	}
	var old *child
	if n := findNotify(ps, isakmp.NotifyRekeySA); n != nil {
		if len(n.SPI) != 4 {
			return s.encrypt(sa, isakmp.ExchangeCreateChildSA, sa.peerReqID, true,
				[]isakmp.Payload{notify(isakmp.NotifyInvalidSyntax, nil)})
		}
		old = s.findChildOut(binary.BigEndian.Uint32(n.SPI), n.Protocol)
		if old == nil || old.rekeyed {
			return s.encrypt(sa, isakmp.ExchangeCreateChildSA, sa.peerReqID, true,
				[]isakmp.Payload{&isakmp.Notify{Protocol: n.Protocol, SPI: n.SPI, NotifyType: isakmp.NotifyChildSANotFound}})
		}
		if s.deleting(old) {
			return s.encrypt(sa, isakmp.ExchangeCreateChildSA, sa.peerReqID, true,
				[]isakmp.Payload{notify(isakmp.NotifyTemporaryFailure, nil)})
		}
	}
	out, ch, err := s.answerChild(now, ps, false, nil, nil, old)
	resp, e := s.encrypt(sa, isakmp.ExchangeCreateChildSA, sa.peerReqID, true, out)
	if e != nil {
		return nil, e
	}
	switch {
	case err != nil:
		s.emit(Event{Kind: EventChildFailed, Err: err})
	case old == nil:
		c := ch.sa
		s.emit(Event{Kind: EventChildUp, Child: &c})
	case old.rekeying:
		// Both sides are rekeying this SA (RFC 7296 2.8.1): decide when
		// our own exchange completes.
		old.collision = ch
		c := ch.sa
		s.emit(Event{Kind: EventChildUp, Child: &c})
	default:
		old.rekeyed = true
		c, o := ch.sa, old.sa
		s.emit(Event{Kind: EventChildRekeyed, Child: &c, Old: &o})
	}
	return resp, err
}

// deleting reports whether a Delete of c is queued or outstanding.
func (s *Session) deleting(c *child) bool {
	for _, t := range s.queue {
		if t.kind == taskDeleteChild && t.spi == c.sa.InboundSPI {
			return true
		}
	}
	return c.deleting
}

// respondRekeyIKE answers an IKE SA rekey: HDR, SK {SA, Nr, KEr}.
func (s *Session) respondRekeyIKE(now time.Time, sa *ikeSA, ps []isakmp.Payload, saPay *isakmp.SA) ([]byte, error) {
	fail := func(t isakmp.NotifyType, data []byte) ([]byte, error) {
		return s.encrypt(sa, isakmp.ExchangeCreateChildSA, sa.peerReqID, true, []isakmp.Payload{notify(t, data)})
	}
	crossing := sa.req != nil && sa.req.ikeRekey
	if sa.req != nil && sa.req.exch == isakmp.ExchangeCreateChildSA && !crossing || s.pending != nil {
		// A CHILD SA exchange of ours is in flight: ask the peer to wait
		// (RFC 7296 2.25).
		return fail(isakmp.NotifyTemporaryFailure, nil)
	}
	ke := find[*isakmp.KE](ps)
	nonce := find[*isakmp.Nonce](ps)
	if ke == nil || nonce == nil || len(nonce.Data) < minNonceLen || len(nonce.Data) > maxNonceLen {
		return fail(isakmp.NotifyInvalidSyntax, nil)
	}
	c, ok := selectProposal(s.cfg.IKEProposals, saPay.Proposals, true, ke.Group)
	if !ok || len(c.spi) != 8 || [8]byte(c.spi) == ([8]byte{}) {
		return fail(isakmp.NotifyNoProposalChosen, nil)
	}
	if ke.Group != c.ke {
		return fail(isakmp.NotifyInvalidKEPayload, u16(uint16(c.ke)))
	}
	kx, err := dhGroupByID(c.ke).generate(s.rand)
	if err != nil {
		return nil, err
	}
	gir, err := kx.sharedSecret(ke.Data)
	if err != nil {
		return fail(isakmp.NotifyInvalidSyntax, nil)
	}
	spi := s.newSPI()
	nr := s.random(nonceLen)
	resp, err := s.encrypt(sa, isakmp.ExchangeCreateChildSA, sa.peerReqID, true, []isakmp.Payload{
		&isakmp.SA{Proposals: []isakmp.Proposal{c.wire(spi[:])}},
		&isakmp.Nonce{Data: nr},
		&isakmp.KE{Group: c.ke, Data: kx.public()},
	})
	if err != nil {
		return nil, err
	}
	n := &ikeSA{state: stateEstablished, initiator: false, spiI: [8]byte(c.spi), spiR: spi}
	if err := s.deriveRekeyed(now, sa, n, c, gir, nonce.Data, nr); err != nil {
		return nil, err
	}
	if crossing {
		// Our own rekey of this SA is in flight: decide when it completes
		// (RFC 7296 2.8.2).
		s.pending = n
	} else {
		s.makeCurrent(now, n)
	}
	return resp, nil
}

// retryAt is when to retry a rekey the peer refused: after a few
// retransmission timeouts, with up to as much again of random delay.
func (s *Session) retryAt(now time.Time) time.Time {
	base := 4 * s.cfg.retransmitTimeout()
	j, _ := randInt(s, int64(base))
	return now.Add(base + time.Duration(j))
}

// checkChild validates the parts of a Config that a CHILD SA uses (from a
// ChildRequest or GetConfigForRequest): its proposals and, with
// proposals, its selectors.
func (c *Config) checkChild() error {
	if len(c.ChildProposals) > 255 {
		return fmt.Errorf("%w: more than 255 CHILD proposals", errConfig)
	}
	for i := range c.ChildProposals {
		p := &c.ChildProposals[i]
		if p.Protocol != isakmp.ProtocolESP && p.Protocol != isakmp.ProtocolAH {
			return fmt.Errorf("%w: CHILD proposal %d has protocol %v", errConfig, i+1, p.Protocol)
		}
		if err := p.validate(); err != nil {
			return err
		}
		if p.Protocol != c.ChildProposals[0].Protocol {
			return fmt.Errorf("%w: CHILD proposals mix ESP and AH", errConfig)
		}
	}
	if len(c.ChildProposals) > 0 && (len(c.LocalTS) == 0 || len(c.RemoteTS) == 0) {
		return fmt.Errorf("%w: CHILD proposals need LocalTS and RemoteTS", errConfig)
	}
	return nil
}

// childMode is the mode a Config asks for: Transport, or Tunnel (also
// when Mode is zero, unset; RFC 7296 1.3.1's default).
func (c *Config) childMode() Mode {
	if c.Mode == Transport {
		return Transport
	}
	return Tunnel
}
