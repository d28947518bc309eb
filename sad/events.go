package sad

import (
	"net/netip"
	"strconv"
	"time"
)

// EventKind says what happened to an SA or a policy. It is a plain value,
// safe for concurrent use.
type EventKind uint8

// Event kinds.
const (
	// EventAcquire: a PROTECT rule has no outbound SA for a selector; IKE
	// should negotiate one (RFC 4301 section 5.1, the PF_KEY ACQUIRE of
	// RFC 2367). Sent once per OutboundKey, then at most once per
	// Config.AcquireInterval while the SA is still missing.
	EventAcquire EventKind = iota + 1
	// EventSoftExpire: a soft lifetime was reached; start a rekey.
	EventSoftExpire
	// EventHardExpire: a hard lifetime was reached (or the sequence
	// numbers ran out); the SA no longer protects traffic and is removed.
	EventHardExpire
	// EventLarvalExpire: an SPI reserved by AllocateSPI was not installed
	// in time and is released.
	EventLarvalExpire
	// EventRemoved: a retired SA's grace period ended and it was removed.
	EventRemoved
)

var eventNames = [...]string{"", "acquire", "soft-expire", "hard-expire", "larval-expire", "removed"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Reason says which limit caused an expiry. It is a plain value, safe for
// concurrent use.
type Reason uint8

// Reasons.
const (
	ReasonNone Reason = iota
	ReasonTime
	ReasonBytes
	ReasonPackets
	ReasonSeqExhausted // RFC 4303 section 3.3.3 / RFC 4302 section 3.3.2
)

var reasonNames = [...]string{"", "time", "bytes", "packets", "sequence-exhausted"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Flow is a packet's selector as the SAD sees it: the packet that
// triggered an acquire, for IKE's traffic selectors (RFC 7296 section 2.9:
// the first selector is the packet's), or a packet checked with SA.Allows.
// For ICMP and ICMPv6, SrcPort holds Type<<8 | Code and DstPort is 0. It
// is a plain value, safe for concurrent use.
type Flow struct {
	Src, Dst         netip.Addr
	Protocol         uint8
	SrcPort, DstPort uint16
	// Opaque says the ports could not be read (a fragment other than the
	// first: RFC 4301 section 4.4.1.1, OPAQUE).
	Opaque bool
}

// Event is one notification from the database. For an acquire, Key and
// Flow are set; otherwise Dir, Proto, SPI (and for outbound SAs Key)
// identify the SA. Events are values, safe for concurrent use once
// received.
type Event struct {
	Kind   EventKind
	Reason Reason
	Dir    Direction
	Proto  Proto
	SPI    uint32
	Key    OutboundKey
	Flow   Flow
	Time   time.Time
}
