package ike

import (
	"slices"
	"time"
)

// Phase 1 rekeying in IKEv1 is a new Main Mode (or Aggressive Mode) with
// new cookies, run beside the current ISAKMP SA (make-before-break): the
// IPsec SAs do not depend on the ISAKMP SA that made them (RFC 2409 5.5
// keys them from SKEYID_d once), so they stay. When the new ISAKMP SA is
// established it becomes current, EventIKERekeyed reports its cookies, and
// the old one is deleted with a Delete notification.

// startRekeyISAKMP starts the new phase 1.
func (s *SessionV1) startRekeyISAKMP(now time.Time) error {
	if s.next != nil {
		return nil
	}
	sa := &isakmpSA{initiator: true, ckyI: s.newSPI(), method: s.sa.methods[0], methods: s.sa.methods, aggressive: s.sa.aggressive && s.sa.initiator}
	var err error
	if sa.aggressive {
		err = s.sendAM1(now, sa)
	} else {
		err = s.sendMM1(now, sa)
	}
	if err != nil {
		return err
	}
	s.next = sa
	sa.exch.onGiveUp = func(time.Time) { s.next = nil }
	return nil
}

// rekeyDeleteDelayV1 is how long the old ISAKMP SA stays undeleted after
// our phase 1 rekey.
const rekeyDeleteDelayV1 = time.Second

// switchISAKMP makes sa, a new established ISAKMP SA, the current one and
// deletes the old one.
func (s *SessionV1) switchISAKMP(now time.Time, sa *isakmpSA) {
	old := s.sa
	s.sa, s.next = sa, nil
	old.rekeyAt, old.expireAt = time.Time{}, time.Time{}
	old.until = now.Add(s.retransmitSchedule())
	s.retired = append(s.retired, old)
	if sa.initiator {
		// Our rekey: the responder moves its IPsec SAs to the new ISAKMP
		// SA only after its last message is out (strongSwan: "detected
		// reauth of existing IKE_SA, adopting 1 children"); a Delete for
		// the old SA that overtook that would take them with it. So the
		// Delete waits a moment (Tick sends it).
		old.until, old.deleteAtUntil = now.Add(rekeyDeleteDelayV1), true
	} else {
		s.sendDeleteISAKMP(now, old)
	}
	s.emit(Event{Kind: EventIKERekeyed})
}

// forgetISAKMP drops a retired or half-made ISAKMP SA.
func (s *SessionV1) forgetISAKMP(sa *isakmpSA) {
	s.retired = slices.DeleteFunc(s.retired, func(x *isakmpSA) bool { return x == sa })
	if s.next == sa {
		s.next = nil
	}
}
