package ike

import (
	"net/netip"
	"slices"
	"time"
)

// session is what the Endpoint drives: a sans-I/O IKE state machine of
// either version. The IKEv2 Session satisfies it through v2Session; an
// IKEv1 session type satisfies it directly. All methods are called from
// one worker goroutine at a time.
type session interface {
	Receive(now time.Time, datagram []byte)
	Tick(now time.Time)
	Deadline() time.Time
	Datagrams() [][]byte
	Events() []Event
	Closed() bool
	Established() bool
	Path() (local, remote netip.AddrPort)
	SetPath(local, remote netip.AddrPort)
	UDPEncap() bool
	Stats() Stats
	// localSPIs are this side's SPIs of every IKE SA the session holds
	// (IKEv1: our cookie); the Endpoint finds the session by any of them.
	localSPIs() [][8]byte
	Close(now time.Time)
	CreateChildRequest(now time.Time, req ChildRequest) error
	RekeyChild(now time.Time, inboundSPI uint32) error
	DeleteChild(now time.Time, inboundSPI uint32) error
	RekeyIKE(now time.Time) error
	Info() IKESAInfo
}

// IKEv1 constructors, set by the IKEv1 session code (NewInitiatorV1 and
// AcceptV1 wrapped to return a session); nil while IKEv1 is not built in,
// in which case IKEv1 datagrams are dropped and counted and Initiate with
// a KeyExchangeIKEv1 Config fails.
var (
	newInitiatorV1Session func(cfg *Config, local, remote netip.AddrPort, now time.Time, req *ChildRequest) (session, error)
	acceptV1Session       func(cfg *Config, local, remote netip.AddrPort, now time.Time, datagram []byte) (session, error)
)

// v2Session adapts the IKEv2 Session to the endpoint's interface, with
// the hooks only IKEv2 has (INITIAL_CONTACT, when the initiator moves to
// NAT-T, retired IKE SAs).
type v2Session struct{ *Session }

// CreateChildRequest is the Session's own (its Config and trigger
// selectors are honoured, RFC 7296 2.9).

// Info describes the current IKE SA.
func (s v2Session) Info() IKESAInfo { return s.info() }

// localSPIs returns this side's SPIs of the current, pending and retired
// IKE SAs.
func (s *Session) localSPIs() [][8]byte {
	out := make([][8]byte, 0, 1+len(s.retired))
	add := func(sa *ikeSA) {
		spi := sa.spiR
		if sa.initiator {
			spi = sa.spiI
		}
		if spi != ([8]byte{}) {
			out = append(out, spi)
		}
	}
	add(s.sa)
	if s.pending != nil {
		add(s.pending)
	}
	for _, sa := range s.retired {
		add(sa)
	}
	return out
}

// initiatorMovesToNATT reports whether an IKEv2 initiator should now use
// port 4500: after IKE_SA_INIT found a NAT (RFC 7296 2.23).
func (s v2Session) initiatorMovesToNATT() bool {
	return s.sa.initiator && s.UDPEncap() && s.sa.state != stateInitSent && s.sa.state != stateClosed
}

// trimRetired forgets the oldest retired IKE SAs beyond max (a peer that
// rekeys without deleting would otherwise keep them for a whole
// retransmission schedule each) and returns how many it forgot.
func (s v2Session) trimRetired(max int) int {
	n := len(s.retired) - max
	if n <= 0 {
		return 0
	}
	// Oldest first; a retired SA with our Delete outstanding is as good
	// to drop as any: RFC 7296 2.18 lets it go once replaced.
	s.retired = slices.Delete(s.retired, 0, n)
	return n
}
