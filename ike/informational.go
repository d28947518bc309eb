package ike

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// startDeleteChild deletes one of our CHILD SAs (RFC 7296 1.4.1):
//
//	HDR, SK {D(protocol, our inbound SPI)}
//
// The peer answers with the Delete of its own inbound SPI.
func (s *Session) startDeleteChild(now time.Time, spi uint32) error {
	c := s.findChild(spi)
	if c == nil {
		return ErrNoChild
	}
	d := &isakmp.Delete{Protocol: c.sa.Protocol, SPISize: 4, SPIs: be32(spi)}
	c.deleting = true
	return s.sendRequest(now, s.sa, isakmp.ExchangeInformational, []isakmp.Payload{d},
		func(now time.Time, _ *isakmp.Header, _ []isakmp.Payload, _ []byte) error {
			if s.findChild(spi) == c {
				s.removeChild(c)
				sa := c.sa
				s.emit(Event{Kind: EventChildDeleted, Child: &sa})
			}
			return nil
		})
}

// startDeleteIKE deletes the IKE SA and with it every CHILD SA (RFC 7296
// 1.4.1): HDR, SK {D(IKE)}.
func (s *Session) startDeleteIKE(now time.Time) error {
	sa := s.sa
	err := s.sendRequest(now, sa, isakmp.ExchangeInformational,
		[]isakmp.Payload{&isakmp.Delete{Protocol: isakmp.ProtocolIKE}},
		func(time.Time, *isakmp.Header, []isakmp.Payload, []byte) error {
			s.shutdown(nil)
			return nil
		})
	if err == nil {
		sa.state = stateDeleting
	}
	return err
}

// startDeleteRetired deletes an IKE SA that a rekey replaced (RFC 7296
// 1.3.2: the initiator of the rekey deletes the old IKE SA) or that a
// rekey collision made redundant (2.8.2).
func (s *Session) startDeleteRetired(now time.Time, old *ikeSA) error {
	if old.req != nil {
		// Our own request on it is still out (a crossed rekey); the SA
		// goes away when that ends or times out.
		return nil
	}
	err := s.sendRequest(now, old, isakmp.ExchangeInformational,
		[]isakmp.Payload{&isakmp.Delete{Protocol: isakmp.ProtocolIKE}},
		func(time.Time, *isakmp.Header, []isakmp.Payload, []byte) error {
			s.forget(old)
			return nil
		})
	if err == nil {
		old.state = stateDeleting
	}
	return err
}

// startDPD sends an empty INFORMATIONAL request, the liveness check of
// RFC 7296 2.4. No answer after the retransmissions makes the peer dead.
func (s *Session) startDPD(now time.Time) error {
	return s.sendRequest(now, s.sa, isakmp.ExchangeInformational, nil,
		func(time.Time, *isakmp.Header, []isakmp.Payload, []byte) error { return nil })
}

// respondInformational answers an INFORMATIONAL request (RFC 7296 1.4):
// Deletes of CHILD SAs are answered with the Deletes of our halves,
// a Delete of the IKE SA with an empty response after which the IKE SA is
// gone, and anything else (liveness checks, notifications) with an empty
// response.
func (s *Session) respondInformational(now time.Time, sa *ikeSA, ps []isakmp.Payload) ([]byte, error) {
	var out []isakmp.Payload
	deleteIKE := false
	for _, p := range ps {
		d, ok := p.(*isakmp.Delete)
		if !ok {
			continue
		}
		switch d.Protocol {
		case isakmp.ProtocolIKE:
			deleteIKE = true
		case isakmp.ProtocolESP, isakmp.ProtocolAH:
			if d.SPISize != 4 {
				continue
			}
			var ours []byte
			for i := 0; i < d.Len(); i++ {
				c := s.findChildOut(binary.BigEndian.Uint32(d.SPI(i)), d.Protocol)
				if c == nil {
					continue // RFC 7296 1.4.1: unknown SPIs are ignored
				}
				ours = append(ours, be32(c.sa.InboundSPI)...)
				s.removeChild(c)
				csa := c.sa
				s.emit(Event{Kind: EventChildDeleted, Child: &csa})
			}
			if len(ours) > 0 {
				out = append(out, &isakmp.Delete{Protocol: d.Protocol, SPISize: 4, SPIs: ours})
			}
		}
	}
	if deleteIKE {
		out = nil
	}
	// An authenticated INVALID_SYNTAX or AUTHENTICATION_FAILED means the
	// peer gave up on this IKE SA (RFC 7296 2.21.2, 3.10.1).
	var fatal error
	for _, n := range notifies(ps) {
		if n.NotifyType == isakmp.NotifyInvalidSyntax || n.NotifyType == isakmp.NotifyAuthenticationFailed {
			fatal = NotifyError(n.NotifyType)
			deleteIKE = true
		}
	}
	resp, err := s.encrypt(sa, isakmp.ExchangeInformational, sa.peerReqID, true, out)
	if err != nil {
		return nil, err
	}
	if deleteIKE {
		switch {
		case sa != s.sa:
			s.forget(sa)
		case s.pending != nil && fatal == nil:
			// The peer finished its rekey of this IKE SA before ours
			// crossed it, and deletes the old SA: its new one is ours too.
			// Our own rekey request dies with the old SA.
			sa.req = nil
			s.adoptPending(now)
			s.forget(sa)
		default:
			if fatal != nil && errors.Is(fatal, NotifyError(isakmp.NotifyAuthenticationFailed)) {
				s.emit(Event{Kind: EventAuthFailed, Err: fatal})
			}
			s.shutdown(fatal)
		}
	}
	return resp, nil
}
