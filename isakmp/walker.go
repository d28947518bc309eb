package isakmp

import "encoding/binary"

// RawPayload is one payload of a chain as the walker sees it: the generic
// header decoded, the body not interpreted.
//
// A RawPayload is not safe for concurrent mutation; reading it from several goroutines is safe.
type RawPayload struct {
	Type PayloadType
	// Next is the Next Payload field of this payload's header. For SK and
	// SKF it is the type of the first payload inside the encrypted data
	// (RFC 7296 3.14, RFC 7383 2.5), not the next payload in this chain.
	Next PayloadType
	// Critical is the C bit (RFC 7296 3.2); always false in IKEv1, where
	// the octet is RESERVED.
	Critical bool
	// Body is the payload after its 4-byte generic header. It aliases the
	// walked buffer.
	Body []byte
}

// Walker steps through a chain of payloads (RFC 2408 3.2, RFC 7296 3.2).
// Before slicing it checks every Payload Length against the bytes left in
// its container, and it rejects payload types of the other IKE version.
// It stops after an SK or SKF payload, which RFC 7296 3.14 requires to be
// last and to reach the end of the message. Walker allocates nothing; it is
// not safe for concurrent use.
type Walker struct {
	major uint8
	next  PayloadType
	b     []byte
	off   int
	err   error
}

// NewWalker returns a walker over b, whose first payload has type first
// (the header's Next Payload, or an SK payload's inner type). major selects
// the payload rules: MajorIKEv1 or MajorIKEv2.
func NewWalker(major uint8, first PayloadType, b []byte) Walker {
	w := Walker{major: major, next: first, b: b}
	if major != MajorIKEv1 && major != MajorIKEv2 {
		w.err = ErrVersion
	}
	return w
}

// Next decodes the next payload header into p and reports whether there
// was one. It returns false at the end of the chain (Next Payload 0, or
// after SK/SKF) and on error; Err tells which.
func (w *Walker) Next(p *RawPayload) bool {
	if w.err != nil || w.next == PayloadNone {
		return false
	}
	rest := w.b[w.off:]
	t := w.next
	if len(rest) < GenericHeaderLen {
		w.err = truncated(t.String()+" payload header", GenericHeaderLen, len(rest))
		return false
	}
	n := int(binary.BigEndian.Uint16(rest[2:4]))
	if n < GenericHeaderLen {
		w.err = malformed("%v payload length %d below %d", t, n, GenericHeaderLen)
		return false
	}
	if n > len(rest) {
		w.err = truncated(t.String()+" payload", n, len(rest))
		return false
	}
	if err := checkPayloadVersion(w.major, t); err != nil {
		w.err = err
		return false
	}
	*p = RawPayload{
		Type:     t,
		Next:     PayloadType(rest[0]),
		Critical: w.major == MajorIKEv2 && rest[1]&0x80 != 0,
		Body:     rest[GenericHeaderLen:n:n],
	}
	w.off += n
	w.next = p.Next
	if w.major == MajorIKEv2 && (t == PayloadSK || t == PayloadSKF) {
		// RFC 7296 3.14: "the Encrypted payload, if present in a message,
		// MUST be the last payload in the message". Its Next Payload names
		// the first inner payload, so the chain ends here.
		if w.off != len(w.b) {
			w.err = malformed("%v payload followed by %d bytes", t, len(w.b)-w.off)
			return false
		}
		w.next = PayloadNone
	}
	return true
}

// Err returns the error that stopped the walk, or nil at a clean end.
func (w *Walker) Err() error { return w.err }

// Offset returns the number of bytes consumed so far. After a clean end,
// bytes past Offset are not part of the chain (for IKEv1, the padding of
// a decrypted body; for a datagram, trailing garbage).
func (w *Walker) Offset() int { return w.off }

// checkPayloadVersion rejects a payload type that belongs to the other IKE
// version: RFC 7296 3.2 keeps 1-32 for IKEv1; IKEv2's types start at 33.
func checkPayloadVersion(major uint8, t PayloadType) error {
	switch major {
	case MajorIKEv2:
		if t.IsIKEv1() {
			return wrongVersion(t, major)
		}
	case MajorIKEv1:
		if t >= payloadV2FirstKnown && t <= PayloadPS {
			return wrongVersion(t, major)
		}
	}
	return nil
}

func wrongVersion(t PayloadType, major uint8) error {
	return &wrongVersionError{t: t, major: major}
}

type wrongVersionError struct {
	t     PayloadType
	major uint8
}

func (e *wrongVersionError) Error() string {
	return ErrWrongVersionPayload.Error() + ": " + e.t.String() + " in an IKEv" + string('0'+rune(e.major)) + " message"
}

func (e *wrongVersionError) Unwrap() error { return ErrWrongVersionPayload }
