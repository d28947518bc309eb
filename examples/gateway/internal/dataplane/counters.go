package dataplane

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Cause says why a packet did not leave the gateway. It is a plain value,
// safe for concurrent use.
type Cause uint8

// Causes. CauseNone means the packet went on.
const (
	CauseNone       Cause = iota
	CauseHeld             // kept by the driver while IKE negotiates (not lost)
	CauseNoSA             // no SA for the packet and nobody keeps it
	CauseBlocked          // a Block (DISCARD) rule
	CauseBypass           // a Permit (BYPASS) rule: the gateway has nowhere to send clear packets from its TUN
	CauseClear            // a clear packet arrived where policy requires protection
	CauseUnknownSPI       // inbound ESP for no installed SA
	CauseAuth             // the ICV did not verify
	CauseReplay           // the anti-replay window refused it
	CauseExpired          // the SA reached a lifetime or its sequence numbers ran out
	CauseSelector         // decrypted, but outside the selectors of the SA it came through
	CauseMalformed        // not a packet the path can parse
	CauseSend             // the UDP send failed
	CauseTUNWrite         // the TUN write failed
	CauseOther            // any other error of the crypto path
	CauseSocket           // inbound: dropped by the kernel, the data port's receive buffer full (counted where the kernel reports it)
	numCauses
)

var causeNames = [numCauses]string{"ok", "held", "no-sa", "blocked", "bypass", "clear", "unknown-spi",
	"auth", "replay", "expired", "selector", "malformed", "send", "tun-write", "other", "socket"}

func (c Cause) String() string {
	if c < numCauses {
		return causeNames[c]
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// Direction of a counter.
const (
	Outbound = 0 // TUN -> peer
	Inbound  = 1 // peer -> TUN
)

// counters are the plane's packet counters, updated once per batch.
type counters struct {
	packets [2]atomic.Uint64 // packets that went on
	bytes   [2]atomic.Uint64 // their bytes as read (outbound: inner, inbound: ESP)
	drops   [2][numCauses]atomic.Uint64
	batches [2]atomic.Uint64
}

// Stats is a snapshot of the plane's counters.
type Stats struct {
	Packets, Bytes, Batches [2]uint64
	// Drops counts the packets that did not go on, by direction and cause
	// (Drops[d][CauseNone] is always zero).
	Drops [2][numCauses]uint64
}

// Stats returns a snapshot of the counters.
func (p *Plane) Stats() Stats {
	var s Stats
	for d := range 2 {
		s.Packets[d] = p.c.packets[d].Load()
		s.Bytes[d] = p.c.bytes[d].Load()
		s.Batches[d] = p.c.batches[d].Load()
		for c := range numCauses {
			s.Drops[d][c] = p.c.drops[d][c].Load()
		}
	}
	return s
}

// Dropped returns the number of packets dropped in direction d for cause c.
func (s Stats) Dropped(d int, c Cause) uint64 { return s.Drops[d][c] }

// WriteTo writes the counters, one line per direction, naming only the
// causes that counted something.
func (s Stats) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for d, name := range [2]string{"outbound", "inbound"} {
		k, err := fmt.Fprintf(w, "%s: packets=%d bytes=%d batches=%d", name, s.Packets[d], s.Bytes[d], s.Batches[d])
		n += int64(k)
		if err != nil {
			return n, err
		}
		for c := Cause(1); c < numCauses; c++ {
			if v := s.Drops[d][c]; v != 0 {
				k, err = fmt.Fprintf(w, " %s=%d", c, v)
				n += int64(k)
				if err != nil {
					return n, err
				}
			}
		}
		k, err = fmt.Fprintln(w)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
