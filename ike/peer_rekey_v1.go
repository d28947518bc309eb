package ike

import (
	"crypto/sha256"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// A phase 1 rekey started by the peer. strongSwan rekeys an IKEv1 ISAKMP
// SA by reauthenticating: a new Main Mode (or Aggressive Mode) with new
// cookies to the same peer, after which it moves its IPsec SAs to the new
// ISAKMP SA and deletes the old one. The IPsec SAs do not depend on the
// ISAKMP SA that negotiated them (RFC 2409 5.5), so an established session
// answers such a first message itself, as the responder of its next
// ISAKMP SA (make-before-break, as its own rekeys in rekey_v1.go): when
// the new SA is established it becomes current and EventIKERekeyed
// reports it; the CHILD SAs stay. The Endpoint routes a first message
// from the address and port of an established IKEv1 session's peer here.

// acceptRekeyV1 starts the responder side of the peer's new phase 1 if m
// is the first message of one and the session can take it. It reports
// whether m was taken.
func (s *SessionV1) acceptRekeyV1(now time.Time, m *isakmp.Message, b []byte) bool {
	h := &m.Header
	if s.sa.state != v1Established || s.next != nil || h.ResponderSPI != ([8]byte{}) || h.MessageID != 0 ||
		h.InitiatorSPI == ([8]byte{}) || h.Flags&isakmp.FlagEncryption != 0 ||
		(h.Exchange != isakmp.ExchangeV1MainMode && h.Exchange != isakmp.ExchangeV1Aggressive) {
		return false
	}
	// This side's methods, as AcceptV1 takes them (the Kerberos method
	// included): respondMM1/respondAM1 choose among them.
	methods, err := localMethodsV1(s.cfg)
	if err != nil {
		return false
	}
	sa := &isakmpSA{ckyI: h.InitiatorSPI, ckyR: s.newSPI(), method: methods[0], methods: methods,
		aggressive: h.Exchange == isakmp.ExchangeV1Aggressive, exch: &v1Exchange{}}
	sum := sha256.Sum256(b)
	if sa.aggressive {
		err = s.respondAM1(now, sa, m, b, sum)
	} else {
		err = s.respondMM1(now, sa, m, b, sum)
	}
	if err != nil {
		// Refused (no acceptable proposal, say): the current SA is not
		// affected, and the peer retries or gives up.
		s.drop("phase 1 rekey refused", err)
		return true
	}
	// Our messages in it are answers, never retransmitted: if the peer
	// abandons it, it is forgotten at until (expirePeerRekey).
	sa.until = now.Add(s.retransmitSchedule())
	s.next = sa
	return true
}

// expirePeerRekey forgets the peer's phase 1 rekey if it did not complete
// in time, so that it does not block ours.
func (s *SessionV1) expirePeerRekey(now time.Time) {
	if n := s.next; n != nil && !n.initiator && n.state != v1Established && !n.until.IsZero() && !now.Before(n.until) {
		s.next = nil
	}
}

// phase1Failed handles a failed authentication of sa: for the next ISAKMP
// SA (a rekey) only that SA is dropped; otherwise the session ends.
func (s *SessionV1) phase1Failed(sa *isakmpSA, err error) error {
	if sa != s.sa && s.sa.state == v1Established && sa == s.next {
		s.forgetISAKMP(sa)
		return err
	}
	return s.authFailed(err)
}
