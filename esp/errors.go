package esp

import (
	"errors"
	"fmt"
)

// Errors that callers branch on. Open wraps them with context; test with
// errors.Is.
var (
	// ErrReplay: the sequence number was seen before or is older than the
	// replay window (RFC 4303 section 3.4.3).
	ErrReplay = errors.New("esp: replayed packet")
	// ErrAuthFailed: the ICV did not verify (RFC 4303 section 3.4.4).
	ErrAuthFailed = errors.New("esp: integrity check failed")
	// ErrMalformed: the packet cannot be an ESP packet for this SA (too
	// short, bad padding, bad next header, an IP header that does not
	// parse).
	ErrMalformed = errors.New("esp: malformed packet")
	// ErrWrongSPI: the packet's SPI is not this SA's.
	ErrWrongSPI = errors.New("esp: packet SPI does not belong to this SA")
	// ErrDummy: a dummy packet (next header 59, RFC 4303 section 2.6) was
	// received and verified; drop it.
	ErrDummy = errors.New("esp: dummy packet")
	// ErrSeqExhausted: the outbound sequence number space is used up; the
	// SA must be rekeyed (RFC 4303 section 3.3.3).
	ErrSeqExhausted = errors.New("esp: sequence number space exhausted, rekey the SA")
)

// The datapath's errors with context, made once so that a dropped packet
// costs no allocation.
var (
	errNotIP       = fmt.Errorf("%w: not an IP packet", ErrMalformed)
	errFragment    = fmt.Errorf("%w: transport mode cannot protect a fragment", ErrMalformed)
	errOuterIP     = fmt.Errorf("%w: outer IP header", ErrMalformed)
	errUnwantedUDP = fmt.Errorf("%w: UDP where ESP was expected", ErrMalformed)
	errUDPNotESP   = fmt.Errorf("%w: UDP datagram is not ESP", ErrMalformed)
	errNotESP      = fmt.Errorf("%w: not ESP", ErrMalformed)
	errInner       = fmt.Errorf("%w: the inner packet is not the IP packet its next header announces", ErrMalformed)
)
