package ah

import "errors"

// Errors that callers branch on, the same set esp has. Open and Seal wrap
// them with context; test with errors.Is.
var (
	// ErrReplay: the sequence number was seen before or is older than the
	// replay window (RFC 4302 section 3.4.3).
	ErrReplay = errors.New("ah: replayed packet")
	// ErrAuthFailed: the ICV did not verify (RFC 4302 section 3.4.4).
	ErrAuthFailed = errors.New("ah: integrity check failed")
	// ErrMalformed: the packet cannot be an AH packet for this SA (too
	// short, lengths that do not add up, no AH header, a fragment).
	ErrMalformed = errors.New("ah: malformed packet")
	// ErrWrongSPI: the packet's SPI is not this SA's.
	ErrWrongSPI = errors.New("ah: packet SPI does not belong to this SA")
	// ErrSeqExhausted: the outbound sequence number space is used up; the
	// SA must be rekeyed (RFC 4302 section 3.3.2).
	ErrSeqExhausted = errors.New("ah: sequence number space exhausted, rekey the SA")
	// ErrUnsupported: Seal was given a packet whose ICV would have to be
	// computed over a predicted final form (an IPv4 source route option or
	// an IPv6 routing header with segments left), which this package does
	// not implement.
	ErrUnsupported = errors.New("ah: source-routed packets cannot be sealed")
)

// malformed is ErrMalformed with the reason. Call sites pass constants, so
// building one does not allocate on the datapath.
type malformed string

func (m malformed) Error() string        { return ErrMalformed.Error() + ": " + string(m) }
func (m malformed) Is(target error) bool { return target == ErrMalformed }
