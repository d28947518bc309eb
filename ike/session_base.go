package ike

import (
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// sessionBase is the plumbing that IKEv2's Session and IKEv1's SessionV1
// share, embedded in both: the logger, the random source, the datagrams
// waiting to be sent, the counters and the CHILD SAs. What differs between
// the versions stays in session.go and session_v1.go.
type sessionBase struct {
	log      *slog.Logger
	rand     io.Reader
	children []*child
	out      [][]byte
	stats    Stats
}

// newSessionBase takes the logger and random source from cfg, with the
// defaults: discard the log, crypto/rand.
func newSessionBase(cfg *Config) sessionBase {
	b := sessionBase{log: cfg.Logger, rand: cfg.Rand}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.rand == nil {
		b.rand = rand.Reader
	}
	return b
}

// send queues a datagram for Datagrams.
func (s *sessionBase) send(b []byte) {
	s.out = append(s.out, b)
	s.stats.Sent++
}

// takeDatagrams returns the queued datagrams, in order, and forgets them.
func (s *sessionBase) takeDatagrams() [][]byte {
	out := s.out
	s.out = nil
	return out
}

func (s *sessionBase) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		// A failing random source leaves nothing safe to do.
		panic("ike: random source failed: " + err.Error())
	}
	return b
}

// newSPI returns a random, non-zero 8-byte value: an IKEv2 IKE SA SPI
// (RFC 7296 2.6) or an IKEv1 cookie (RFC 2408 2.5.3), which must not be
// zero.
func (s *sessionBase) newSPI() [8]byte {
	for {
		var spi [8]byte
		copy(spi[:], s.random(8))
		if spi != [8]byte{} {
			return spi
		}
	}
}

// findChild returns the CHILD SA with this inbound SPI, or nil.
func (s *sessionBase) findChild(inbound uint32) *child {
	for _, c := range s.children {
		if c.sa.InboundSPI == inbound {
			return c
		}
	}
	return nil
}

// findChildOut returns the CHILD SA of this protocol with this outbound
// SPI, or nil.
func (s *sessionBase) findChildOut(outbound uint32, proto isakmp.ProtocolID) *child {
	for _, c := range s.children {
		if c.sa.OutboundSPI == outbound && c.sa.Protocol == proto {
			return c
		}
	}
	return nil
}

// childTimers gives earlier (a Deadline's running minimum) each CHILD SA's
// timers: its rekey time and its expiry.
func (s *sessionBase) childTimers(earlier func(time.Time)) {
	for _, c := range s.children {
		if !c.rekeyed {
			// A rekeyed SA only waits for its Delete (or expiry).
			earlier(c.rekeyAt)
		}
		earlier(c.expireAt)
	}
}
