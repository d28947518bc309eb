package ike

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// IKEv1 informational exchanges (RFC 2408 4.8, RFC 2409 5.7): one message
// each, with its own message ID and its own IV (hash of the last phase 1
// CBC block and the message ID), protected by
//
//	HASH(1) = prf(SKEYID_a, M-ID | N/D)
//
// They carry notifications (errors, CONNECTED, INITIAL-CONTACT, DPD's
// R-U-THERE and R-U-THERE-ACK of RFC 3706) and Delete payloads. Nothing
// answers them except DPD.

// sendInfoV1 sends a protected informational exchange carrying ps; it
// returns its exchange (for DPD's retransmissions).
func (s *SessionV1) sendInfoV1(now time.Time, sa *isakmpSA, ps []isakmp.Payload) (*v1Exchange, error) {
	if sa.cbc == nil || sa.p1Last == nil {
		return nil, ErrNotEstablished
	}
	mid := s.newMessageID()
	ex := &v1Exchange{mid: mid, iv: v1Phase2IV(sa.x.hash, sa.p1Last, mid, sa.cbc.block.BlockSize())}
	msg, err := s.sealProtected(sa, isakmp.ExchangeV1Informational, ex, 0, ps, func(r []byte) []byte {
		return hashV1(sa, mid32(mid), r)
	})
	if err != nil {
		return nil, err
	}
	s.send(msg)
	ex.lastOut = msg
	return ex, nil
}

// sendNotifyV1 sends one notification in a protected informational
// exchange.
func (s *SessionV1) sendNotifyV1(now time.Time, sa *isakmpSA, t isakmp.V1NotifyType, proto isakmp.ProtocolID, spi, data []byte) {
	n := &isakmp.V1Notify{DOI: isakmp.DOIIPsec, Protocol: proto, SPI: spi, NotifyType: t, Data: data}
	if _, err := s.sendInfoV1(now, sa, []isakmp.Payload{n}); err != nil {
		s.log.Debug("ike: v1 notification not sent", "type", t, "err", err)
	}
}

// deleteChild sends the Delete of a CHILD SA (its inbound SPI, as the
// peer knows it: RFC 2408 3.15), forgets it and reports it.
func (s *SessionV1) deleteChild(now time.Time, c *child) {
	if s.sa.state == v1Established {
		d := &isakmp.V1Delete{DOI: isakmp.DOIIPsec, Protocol: c.sa.Protocol, SPISize: 4, SPIs: be32(c.sa.InboundSPI)}
		if _, err := s.sendInfoV1(now, s.sa, []isakmp.Payload{d}); err != nil {
			s.log.Debug("ike: v1 delete not sent", "err", err)
		}
	}
	s.removeChild(c)
	sa := c.sa
	s.emit(Event{Kind: EventChildDeleted, Child: &sa})
}

// sendDeleteISAKMP deletes an ISAKMP SA: protocol ISAKMP, both cookies as
// the SPI (RFC 2408 3.15).
func (s *SessionV1) sendDeleteISAKMP(now time.Time, sa *isakmpSA) {
	d := &isakmp.V1Delete{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtocolIKE, SPISize: 16,
		SPIs: append(sa.ckyI[:], sa.ckyR[:]...)}
	if _, err := s.sendInfoV1(now, sa, []isakmp.Payload{d}); err != nil {
		s.log.Debug("ike: v1 ISAKMP delete not sent", "err", err)
	}
}

// startDPD sends R-U-THERE with the next sequence number (RFC 3706 5) and
// retransmits it until R-U-THERE-ACK or the retransmissions run out.
func (s *SessionV1) startDPD(now time.Time) {
	sa := s.sa
	if s.dpdSeq == 0 {
		s.dpdSeq = binary.BigEndian.Uint32(s.random(4)) & 0x7fffffff // RFC 3706 7: a random start
	}
	s.dpdSeq++
	n := &isakmp.V1Notify{DOI: isakmp.DOIIPsec, Protocol: isakmp.ProtocolIKE, SPI: append(sa.ckyI[:], sa.ckyR[:]...),
		NotifyType: isakmp.V1NotifyRUThere, Data: be32(s.dpdSeq)}
	ex, err := s.sendInfoV1(now, sa, []isakmp.Payload{n})
	if err != nil {
		s.log.Debug("ike: v1 DPD not sent", "err", err)
		return
	}
	s.stats.Sent-- // arm counts it
	s.out = s.out[:len(s.out)-1]
	s.exchs[ex.mid] = ex
	s.dpdExch = ex
	s.arm(now, ex, ex.lastOut, true)
}

// receiveInformational handles an informational exchange: protected ones
// on an established ISAKMP SA, and unprotected error notifications
// answering our first message.
func (s *SessionV1) receiveInformational(now time.Time, sa *isakmpSA, m *isakmp.Message) error {
	mid := m.Header.MessageID
	if m.Header.Flags&isakmp.FlagEncryption == 0 {
		// RFC 2408 4.8 allows unprotected notifications before keys exist;
		// only an error answering our MM1/AM1 is believed.
		if !sa.initiator || (sa.state != v1MMSent1 && sa.state != v1AMSent1) {
			return fmt.Errorf("%w: unprotected informational", errBadMessage)
		}
		if n := errorNotifyV1(m.Payloads); n != nil {
			err := fmt.Errorf("%w: %w", ErrNoProposalChosen, NotifyError(isakmp.NotifyType(n.NotifyType)))
			s.shutdown(err)
			return nil
		}
		return fmt.Errorf("%w: unprotected informational without error", errBadMessage)
	}
	if sa.p1Last == nil || mid == 0 {
		return fmt.Errorf("%w: informational before phase 1 completed", errBadMessage)
	}
	iv := v1Phase2IV(sa.x.hash, sa.p1Last, mid, sa.cbc.block.BlockSize())
	ps, h, rest, _, err := openProtected(sa, m, iv)
	if err != nil {
		return err
	}
	if !hmac.Equal(h, hashV1(sa, mid32(mid), rest)) {
		s.stats.IntegrityFailures++
		return fmt.Errorf("%w: informational HASH(1) does not verify", errBadMessage)
	}
	s.lastRecv = now
	return s.handleInformational(now, sa, ps)
}

// handleInformational acts on the authenticated payloads of an
// informational exchange. It is the post-decryption half of
// receiveInformational (the fuzz target feeds it directly).
func (s *SessionV1) handleInformational(now time.Time, sa *isakmpSA, ps []isakmp.Payload) error {
	for _, p := range ps {
		switch p := p.(type) {
		case *isakmp.V1Notify:
			s.handleNotifyV1(now, sa, p)
		case *isakmp.V1Delete:
			s.handleDeleteV1(now, sa, p)
			if s.closed {
				return nil
			}
		}
	}
	return nil
}

func (s *SessionV1) handleNotifyV1(now time.Time, sa *isakmpSA, n *isakmp.V1Notify) {
	switch n.NotifyType {
	case isakmp.V1NotifyRUThere:
		if len(n.Data) == 4 {
			s.sendNotifyV1(now, sa, isakmp.V1NotifyRUThereAck, isakmp.ProtocolIKE,
				append(sa.ckyI[:], sa.ckyR[:]...), n.Data)
		}
	case isakmp.V1NotifyRUThereAck:
		if ex := s.dpdExch; ex != nil && len(n.Data) == 4 && binary.BigEndian.Uint32(n.Data) == s.dpdSeq {
			delete(s.exchs, ex.mid)
			s.dpdExch = nil
		}
	case isakmp.V1NotifyConnected:
		// The responder confirms a Quick Mode it set the commit bit on
		// (RFC 2408 3.1): the SPI is its inbound one, our outbound.
		for _, ex := range s.exchs {
			q := ex.qm
			if q != nil && q.initiator && q.commit && q.ch != nil && len(n.SPI) == 4 &&
				binary.BigEndian.Uint32(n.SPI) == q.peerSPI {
				ex.waiting, ex.onGiveUp = false, nil
				c := q.ch
				q.ch = nil
				s.installBundleV1(now, q, c)
				return
			}
		}
	case isakmp.V1NotifyInitialContact:
		s.initialContact = true
	default:
		if n.NotifyType < 8192 {
			// An error about one of our Quick Modes: find it by the SPI
			// it names, if any, else fail every one that is waiting.
			var retry []*quickMode
			for mid, ex := range s.exchs {
				q := ex.qm
				if q == nil || !q.initiator || q.nr != nil {
					continue
				}
				if len(n.SPI) == 4 && binary.BigEndian.Uint32(n.SPI) != q.spi {
					continue
				}
				delete(s.exchs, mid)
				if n.NotifyType == isakmp.V1NotifyInvalidIDInformation && q.req != nil && !q.narrowed && q.old == nil {
					retry = append(retry, q)
					continue
				}
				s.quickModeFailed(q, fmt.Errorf("%w: %w", ErrChildSA, NotifyError(isakmp.NotifyType(n.NotifyType))))
			}
			// The peer refused the configured selectors: ask again for
			// the trigger packet's flow (ChildRequest).
			for _, q := range retry {
				if err := s.startQuickModeFor(now, q.req, nil, true); err != nil {
					s.quickModeFailed(q, fmt.Errorf("%w: %w", ErrChildSA, err))
				}
			}
		}
	}
}

// handleDeleteV1 removes what a Delete payload names (RFC 2408 3.15):
// CHILD SAs by the peer's inbound SPI (our outbound), or the ISAKMP SA by
// its cookies.
func (s *SessionV1) handleDeleteV1(now time.Time, sa *isakmpSA, d *isakmp.V1Delete) {
	switch d.Protocol {
	case isakmp.ProtocolIKE:
		for i := 0; i < d.Len(); i++ {
			spi := d.SPI(i)
			if len(spi) != 16 || !bytes.Equal(spi[:8], sa.ckyI[:]) || !bytes.Equal(spi[8:], sa.ckyR[:]) {
				continue
			}
			if sa == s.sa {
				s.isakmpDeleted()
				return
			}
			s.forgetISAKMP(sa)
		}
	case isakmp.ProtocolESP, isakmp.ProtocolAH:
		if d.SPISize != 4 {
			return
		}
		for i := 0; i < d.Len(); i++ {
			c := s.findChildOut(binary.BigEndian.Uint32(d.SPI(i)), d.Protocol)
			if c == nil {
				continue
			}
			s.removeChild(c)
			cs := c.sa
			s.emit(Event{Kind: EventChildDeleted, Child: &cs})
		}
	}
}

// isakmpDeleted handles the peer's Delete of the current ISAKMP SA. IPsec
// SAs do not depend on the ISAKMP SA that made them (RFC 2408 4.8 deletes
// what it names, nothing more): the peer deleted ours without its CHILD
// SAs when it replaced the ISAKMP SA by a new Main Mode, which the
// endpoint serves as a new session. The session then keeps its CHILD SAs
// (orphaned: no more rekeys or deletes can be sent for them) until they
// expire, and ends with the last. Without CHILD SAs it ends at once.
func (s *SessionV1) isakmpDeleted() {
	if len(s.children) == 0 {
		s.shutdown(nil)
		return
	}
	s.orphaned = true
	s.sa.state = v1Closed
	s.exchs = map[uint32]*v1Exchange{}
	s.pendingChild, s.dpdExch, s.dpdAt = nil, nil, time.Time{}
}
