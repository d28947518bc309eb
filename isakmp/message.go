package isakmp

import (
	"encoding/binary"
	"fmt"
)

// Payload is one decoded payload. The concrete types are the IKEv2
// payloads of payloads_ikev2.go (*SA, *KE, *ID, ...), the IKEv1 payloads
// of payloads_ikev1.go (*V1SA, *V1ID, ...) and *Unknown. Byte-slice fields
// of a decoded payload alias the decoded buffer. Payload values are not
// safe for concurrent mutation.
type Payload interface {
	// Type is the payload type written in the previous Next Payload field.
	Type() PayloadType
	decode(raw RawPayload) error
	appendBody(b []byte) ([]byte, error)
}

// Message is a whole ISAKMP message: the header and its payloads.
// Decode fills it in place and reuses the Payloads slice and the payload
// values it already holds when their types match, so a long-lived Message
// decodes without allocating in steady state. A Message is not safe for
// concurrent use.
type Message struct {
	Header Header
	// Payloads of the message in wire order. In IKEv2 an SK or SKF payload
	// is last and holds the still-encrypted inner chain.
	Payloads []Payload
	// Ciphertext is set instead of Payloads for an IKEv1 message with the
	// E flag (RFC 2408 3.1, 5.3): everything after the header, encrypted.
	// Header.NextPayload then names the first payload inside it. After
	// decryption, DecodePayloads parses the plaintext (and reports where
	// the padding starts).
	Ciphertext []byte
}

// Decode parses a whole message from b, which must hold exactly one
// message (a UDP datagram after any non-ESP marker). The result aliases b.
// Decode checks the header length against len(b), every payload length
// against its container and every count against the bytes present.
// It rejects a major version other than 1 or 2 with ErrVersion (the header
// is still decoded, for the INVALID_MAJOR_VERSION answer of RFC 7296 2.5),
// payloads of the other IKE version with ErrWrongVersionPayload, and an
// unknown IKEv2 payload with the critical bit set with a
// *CriticalPayloadError. Unknown payloads without the critical bit are kept
// as *Unknown so that re-encoding is byte-exact. After an error the
// Message holds the payloads decoded before it and must not be used.
func (m *Message) Decode(b []byte) error {
	m.Ciphertext = nil
	if err := m.Header.Parse(b); err != nil {
		m.Payloads = m.Payloads[:0]
		return err
	}
	if uint64(m.Header.Length) != uint64(len(b)) {
		m.Payloads = m.Payloads[:0]
		return malformed("header length %d, message is %d bytes", m.Header.Length, len(b))
	}
	major := m.Header.Major()
	if major != MajorIKEv1 && major != MajorIKEv2 {
		m.Payloads = m.Payloads[:0]
		return fmt.Errorf("%w %d", ErrVersion, major)
	}
	body := b[HeaderLen:]
	if major == MajorIKEv1 && m.Header.Flags&FlagEncryption != 0 {
		m.Payloads = m.Payloads[:0]
		m.Ciphertext = body
		return nil
	}
	ps, n, err := DecodePayloads(m.Payloads, major, m.Header.NextPayload, body)
	m.Payloads = ps
	if err != nil {
		return err
	}
	if n != len(body) {
		return malformed("%d bytes after the last payload", len(body)-n)
	}
	return nil
}

// Parse is the allocating convenience around Decode: the returned message
// does not alias b.
func Parse(b []byte) (*Message, error) {
	m := new(Message)
	if err := m.Decode(append([]byte(nil), b...)); err != nil {
		return nil, err
	}
	return m, nil
}

// Append appends the encoded message to b. Header.NextPayload and
// Header.Length are computed (except that NextPayload is taken as is for an
// IKEv1 message carrying Ciphertext); the other header fields are written
// as they are.
func (m *Message) Append(b []byte) ([]byte, error) {
	start := len(b)
	h := m.Header
	major := h.Major()
	if major != MajorIKEv1 && major != MajorIKEv2 {
		return b, fmt.Errorf("%w %d", ErrVersion, major)
	}
	if m.Ciphertext != nil {
		if major != MajorIKEv1 || len(m.Payloads) != 0 {
			return b, fmt.Errorf("%w: Ciphertext needs an IKEv1 message without Payloads", ErrInvalid)
		}
	} else {
		if major == MajorIKEv1 && h.Flags&FlagEncryption != 0 {
			return b, fmt.Errorf("%w: IKEv1 E flag set: the encrypted chain goes in Ciphertext (RFC 2408 3.1)", ErrInvalid)
		}
		h.NextPayload = PayloadNone
		if len(m.Payloads) > 0 {
			h.NextPayload = m.Payloads[0].Type()
		}
	}
	b = h.Append(b)
	var err error
	if m.Ciphertext != nil {
		b = append(b, m.Ciphertext...)
	} else if b, err = AppendPayloads(b, major, m.Payloads); err != nil {
		return b[:start], err
	}
	n := len(b) - start
	if uint64(n) > 0xffffffff {
		return b[:start], fmt.Errorf("%w: message of %d bytes", ErrTooLarge, n)
	}
	binary.BigEndian.PutUint32(b[start+24:], uint32(n))
	return b, nil
}

// DecodePayloads decodes the payload chain in b whose first payload has type
// first, appending to dst[:0] and reusing the payload values in dst where
// the types match. It returns the payloads and the number of bytes the
// chain used: for IKEv2 a valid chain ends exactly at len(b); in a
// decrypted IKEv1 body the bytes after n are padding (RFC 2408 3.5... 5.3).
// Results alias b.
func DecodePayloads(dst []Payload, major uint8, first PayloadType, b []byte) ([]Payload, int, error) {
	old := dst[:cap(dst)]
	dst = dst[:0]
	w := NewWalker(major, first, b)
	var raw RawPayload
	for w.Next(&raw) {
		var prev Payload
		if len(dst) < len(old) {
			prev = old[len(dst)]
		}
		p, err := payloadFor(prev, major, &raw)
		if err != nil {
			return dst, w.Offset(), err
		}
		if err := p.decode(raw); err != nil {
			return dst, w.Offset(), fmt.Errorf("%v payload: %w", raw.Type, err)
		}
		dst = append(dst, p)
	}
	return dst, w.Offset(), w.Err()
}

// AppendPayloads appends the chain of payloads to b with their generic
// headers: each Next Payload field names the type of the payload after it,
// except that SK and SKF carry their inner type and must be last. major is
// the IKE version of the message, whose payload rules are enforced.
func AppendPayloads(b []byte, major uint8, ps []Payload) ([]byte, error) {
	start := len(b)
	for i, p := range ps {
		t := p.Type()
		if err := checkPayloadVersion(major, t); err != nil {
			return b[:start], err
		}
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		var flags byte
		switch p := p.(type) {
		case *Encrypted:
			if i+1 < len(ps) {
				return b[:start], fmt.Errorf("%w: SK payload must be last (RFC 7296 3.14)", ErrInvalid)
			}
			next = p.Inner
		case *EncryptedFragment:
			if i+1 < len(ps) {
				return b[:start], fmt.Errorf("%w: SKF payload must be last (RFC 7383 2.5)", ErrInvalid)
			}
			next = p.Inner
		case *Unknown:
			if p.Critical && major == MajorIKEv2 {
				flags = 0x80
			}
		}
		off := len(b)
		b = append(b, byte(next), flags, 0, 0)
		var err error
		if b, err = p.appendBody(b); err != nil {
			return b[:start], fmt.Errorf("%v payload: %w", t, err)
		}
		if err := putLen16(b, off, len(b)-off); err != nil {
			return b[:start], fmt.Errorf("%v payload: %w", t, err)
		}
	}
	return b, nil
}

// putLen16 back-patches the 16-bit length at b[off+2:] (the position of
// the length in generic headers, proposals, transforms and selectors).
func putLen16(b []byte, off, n int) error {
	if n > MaxPayloadLen {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	binary.BigEndian.PutUint16(b[off+2:], uint16(n))
	return nil
}

// payloadFor returns the value to decode raw into: prev when it has the
// right concrete type, a new value otherwise, or the error for an unknown
// critical IKEv2 payload (RFC 7296 2.5).
func payloadFor(prev Payload, major uint8, raw *RawPayload) (Payload, error) {
	known := isKnown(major, raw.Type)
	if !known && raw.Critical {
		return nil, &CriticalPayloadError{Type: raw.Type}
	}
	if prev != nil && prev.Type() == raw.Type {
		if _, unk := prev.(*Unknown); unk == !known {
			return prev, nil
		}
	}
	if !known {
		return new(Unknown), nil
	}
	if major == MajorIKEv1 {
		return newV1Payload(raw.Type), nil
	}
	return newV2Payload(raw.Type), nil
}

func isKnown(major uint8, t PayloadType) bool {
	if major == MajorIKEv1 {
		return knownV1(t)
	}
	return knownV2(t)
}

// Unknown is a payload of a type this package does not interpret, kept as
// bytes: an IKEv2 payload without the critical bit (RFC 7296 2.5: skipped)
// or an unassigned or private-use IKEv1 payload. It is not safe for
// concurrent mutation.
type Unknown struct {
	PayloadType PayloadType
	Critical    bool
	Body        []byte // aliases the decoded buffer
}

// Type implements Payload.
func (u *Unknown) Type() PayloadType { return u.PayloadType }

func (u *Unknown) decode(raw RawPayload) error {
	*u = Unknown{PayloadType: raw.Type, Critical: raw.Critical, Body: raw.Body}
	return nil
}

func (u *Unknown) appendBody(b []byte) ([]byte, error) { return append(b, u.Body...), nil }
