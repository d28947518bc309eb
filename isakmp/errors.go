package isakmp

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoders wrap them with the payload and the numbers
// that disagree; test with errors.Is.
var (
	// ErrTruncated: the bytes end before a length or a fixed field says
	// they should.
	ErrTruncated = errors.New("isakmp: truncated")
	// ErrMalformed: the fields of a message contradict each other (a length
	// below its minimum, a count the bytes cannot hold, a wrong
	// last-substructure marker, bytes left over inside a container).
	ErrMalformed = errors.New("isakmp: malformed")
	// ErrVersion: the header's major version is neither 1 nor 2.
	ErrVersion = errors.New("isakmp: unsupported major version")
	// ErrWrongVersionPayload: an IKEv1 payload type in an IKEv2 message or
	// the reverse (RFC 7296 3.2; the class of CVE-2015-3991).
	ErrWrongVersionPayload = errors.New("isakmp: payload type of the other IKE version")
	// ErrTooLarge: an encoded payload or substructure would not fit its
	// 16-bit length field.
	ErrTooLarge = errors.New("isakmp: too large to encode")
	// ErrInvalid: a value given to an encoder cannot be represented on the
	// wire (an SPI of a size the field cannot hold, an encrypted payload
	// that is not last, an attribute in a form its type does not allow).
	ErrInvalid = errors.New("isakmp: invalid value")
)

// CriticalPayloadError reports an IKEv2 payload of a type this package does
// not understand whose critical bit is set. RFC 7296 2.5 requires that the
// whole message be rejected and, for a request, answered with
// UNSUPPORTED_CRITICAL_PAYLOAD carrying Type as its one-octet data.
//
// A CriticalPayloadError is not safe for concurrent mutation; reading it from several goroutines is safe.
type CriticalPayloadError struct {
	Type PayloadType
}

func (e *CriticalPayloadError) Error() string {
	return fmt.Sprintf("isakmp: unsupported critical payload type %d", uint8(e.Type))
}

// Notify returns the notify type the receiver sends back (RFC 7296 2.5).
func (e *CriticalPayloadError) Notify() NotifyType { return NotifyUnsupportedCriticalPayload }

func truncated(what string, need, have int) error {
	return fmt.Errorf("%w: %s needs %d bytes, %d left", ErrTruncated, what, need, have)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
