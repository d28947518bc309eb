package sad

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/internal/meter"
)

// Proto is the IPsec protocol of an SA, by its IP protocol number. It is a
// plain value, safe for concurrent use.
type Proto uint8

// Protocols.
const (
	ProtoESP Proto = 50
	ProtoAH  Proto = 51
)

func (p Proto) String() string {
	switch p {
	case ProtoESP:
		return "esp"
	case ProtoAH:
		return "ah"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// Direction is inbound or outbound. It is a plain value, safe for concurrent
// use.
type Direction uint8

// Directions.
const (
	Inbound Direction = iota + 1
	Outbound
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "in"
	case Outbound:
		return "out"
	}
	return "dir(" + strconv.Itoa(int(d)) + ")"
}

// OutboundKey names what an outbound SA serves: a policy rule and one of its
// traffic selectors, as numbered by the caller (for example the spd rule's
// index and the index of the selector the packet matched). It is a plain
// value, safe for concurrent use.
type OutboundKey struct {
	Rule     uint32
	Selector uint32
}

func (k OutboundKey) u64() uint64 { return uint64(k.Rule)<<32 | uint64(k.Selector) }

// State is where an SA is in its life. Transitions only go forward:
// larval -> mature -> rekeying -> retired -> dead, skipping states as
// events dictate. State is a plain value, safe for concurrent use.
type State uint32

// States.
const (
	// StateLarval: an SPI reserved for an SA that IKE is still negotiating.
	// Lookups do not return it.
	StateLarval State = iota + 1
	// StateMature: installed and in use.
	StateMature
	// StateRekeying: a soft lifetime was reached; still fully usable.
	StateRekeying
	// StateRetired: replaced by a newer SA. An outbound SA no longer gets
	// new lookups but finishes packets already handed to it; an inbound SA
	// keeps accepting packets until its grace period ends.
	StateRetired
	// StateDead: hard-expired or deleted. Seal and Open refuse it.
	StateDead
)

var stateNames = [...]string{"", "larval", "mature", "rekeying", "retired", "dead"}

func (s State) String() string {
	if int(s) < len(stateNames) && s != 0 {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Errors of the SA wrapper. The transforms' own errors (esp.ErrReplay,
// ah.ErrAuthFailed, ...) are returned unchanged.
var (
	// ErrExpired: the SA is dead (hard lifetime reached, or deleted).
	ErrExpired = errors.New("sad: SA expired")
	// ErrExists: an SA with that SPI (or outbound key) is already live.
	ErrExists = errors.New("sad: SA already exists")
	// ErrNotFound: no such SA.
	ErrNotFound = errors.New("sad: no such SA")
)

// SA is one entry of the database: an ESP SA, an AH SA, or both (the
// Windows "AH+ESP" security method, an SA bundle in RFC 4301 terms), with
// its lifetime, state and counters. Seal and Open apply the transforms and
// enforce the lifetime. SA is safe for concurrent use.
type SA struct {
	// Read by every lookup: keep together at the start of the struct.
	tkey  uint64 // the table key
	state atomic.Uint32
	dst   netip.Addr // inbound: required destination, if valid

	esp *esp.SA
	ah  *ah.SA

	traffic meter.Meter // packets and bytes, for the lifetimes

	db    *DB
	dir   Direction
	proto Proto
	spi   uint32
	key   OutboundKey
	life  Lifetime // with jitter applied to the soft limits
	added time.Time
	gen   uint64 // distinguishes reinstalls of one key in the timer heap

	rule              string
	localTS, remoteTS []TrafficSelector
}

// Rule returns the identity of the policy rule the SA serves (Spec.Rule).
func (s *SA) Rule() string { return s.rule }

// LocalTS returns the SA's local traffic selectors (Spec.LocalTS); the
// caller must not modify them.
func (s *SA) LocalTS() []TrafficSelector { return s.localTS }

// RemoteTS returns the SA's remote traffic selectors (Spec.RemoteTS); the
// caller must not modify them.
func (s *SA) RemoteTS() []TrafficSelector { return s.remoteTS }

// SPI returns the SA's SPI (for a bundle, AH's: the outer header's).
func (s *SA) SPI() uint32 { return s.spi }

// Proto returns ESP or AH (AH for a bundle).
func (s *SA) Proto() Proto { return s.proto }

// Direction returns Inbound or Outbound.
func (s *SA) Direction() Direction { return s.dir }

// Key returns the outbound key the SA serves (zero for inbound SAs).
func (s *SA) Key() OutboundKey { return s.key }

// State returns the SA's current state.
func (s *SA) State() State { return State(s.state.Load()) }

// ESP returns the ESP transform, or nil.
func (s *SA) ESP() *esp.SA { return s.esp }

// AH returns the AH transform, or nil.
func (s *SA) AH() *ah.SA { return s.ah }

// Seal protects an outbound IP packet, appending the result to dst: ESP,
// AH, or for a bundle ESP first and then AH over it (RFC 4301 section 4.3,
// combining SAs: AH in transport mode over the ESP packet, as in RFC 2401's
// transport adjacency). It counts the packet against the SA's lifetime.
func (s *SA) Seal(dst, pkt []byte) ([]byte, error) {
	if s.State() == StateDead {
		return dst, ErrExpired
	}
	var err error
	switch {
	case s.esp != nil && s.ah != nil:
		bp := s.db.bufs.Get().(*[]byte)
		var mid []byte
		mid, err = s.esp.Seal((*bp)[:0], pkt)
		if err == nil {
			dst, err = s.ah.Seal(dst, mid)
		}
		*bp = mid[:0]
		s.db.bufs.Put(bp)
	case s.esp != nil:
		dst, err = s.esp.Seal(dst, pkt)
	default:
		dst, err = s.ah.Seal(dst, pkt)
	}
	if err != nil {
		if errors.Is(err, esp.ErrSeqExhausted) || errors.Is(err, ah.ErrSeqExhausted) {
			s.db.hardExpire(s, ReasonSeqExhausted)
		}
		return dst, err
	}
	s.account(len(pkt))
	return dst, nil
}

// Open verifies and removes the protection of an inbound packet in place
// and returns the inner IP packet (for a bundle, AH first, then ESP).
func (s *SA) Open(pkt []byte) ([]byte, error) {
	st := s.State()
	if st == StateDead || st == StateLarval {
		return nil, ErrExpired
	}
	var out []byte
	var err error
	switch {
	case s.esp != nil && s.ah != nil:
		out, err = s.ah.Open(pkt)
		if err == nil {
			out, err = s.esp.Open(out)
		}
	case s.esp != nil:
		out, err = s.esp.Open(pkt)
	default:
		out, err = s.ah.Open(pkt)
	}
	if err != nil {
		return nil, err
	}
	s.account(len(out))
	return out, nil
}

// account counts one packet of n bytes and applies the byte and packet
// lifetimes. The packet that reaches a hard limit is the last one.
func (s *SA) account(n int) {
	l := &s.life
	if l.HardPackets|l.HardBytes|l.SoftPackets|l.SoftBytes == 0 {
		// No count limit to check: count without reading the totals.
		s.traffic.Add(n)
		return
	}
	p, b := s.traffic.AddLoad(n)
	switch {
	case l.HardPackets != 0 && p >= l.HardPackets:
		s.db.hardExpire(s, ReasonPackets)
	case l.HardBytes != 0 && b >= l.HardBytes:
		s.db.hardExpire(s, ReasonBytes)
	case l.SoftPackets != 0 && p >= l.SoftPackets:
		s.db.softExpire(s, ReasonPackets)
	case l.SoftBytes != 0 && b >= l.SoftBytes:
		s.db.softExpire(s, ReasonBytes)
	}
}

// advance moves the state forward to to, if the SA is in one of from.
func (s *SA) advance(to State, from ...State) bool {
	for {
		cur := s.state.Load()
		ok := false
		for _, f := range from {
			if State(cur) == f {
				ok = true
			}
		}
		if !ok {
			return false
		}
		if s.state.CompareAndSwap(cur, uint32(to)) {
			return true
		}
	}
}

func (s *SA) String() string {
	r := ""
	if s.rule != "" {
		r = fmt.Sprintf(" rule %q", s.rule)
	}
	if s.dir == Outbound {
		return fmt.Sprintf("out %v spi=0x%08x rule=%d sel=%d%s", s.proto, s.spi, s.key.Rule, s.key.Selector, r)
	}
	return fmt.Sprintf("in %v spi=0x%08x%s", s.proto, s.spi, r)
}
