package isakmp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Attribute is a data attribute of an IKEv2 transform (RFC 7296 3.3.5) or
// an IKEv1 transform or attribute payload (RFC 2408 3.3). The first bit of
// the type field (AF) selects the form: TV with a 2-byte value in Value,
// or TLV with a variable-length value in Data. Attribute is a plain value.
//
// An Attribute is not safe for concurrent mutation; reading it from several goroutines is safe.
type Attribute struct {
	Type uint16 // the 15-bit attribute type, without the AF bit
	TV   bool   // AF=1: fixed two-byte value in Value
	// Value is the value of a TV attribute.
	Value uint16
	// Data is the value of a TLV attribute; it aliases the decoded buffer.
	Data []byte
}

// attrAF is the Attribute Format bit (RFC 2408 3.3, RFC 7296 3.3.5).
const attrAF = 0x8000

// TVAttr returns a TV-form attribute.
func TVAttr(typ uint16, v uint16) Attribute { return Attribute{Type: typ, TV: true, Value: v} }

// TLVAttr returns a TLV-form attribute.
func TLVAttr(typ uint16, data []byte) Attribute { return Attribute{Type: typ, Data: data} }

// Uint returns the attribute's value as an integer: Value for TV, or the
// big-endian value of Data for TLV when it is at most 8 bytes (IKEv1 life
// durations are sent either way, RFC 2407 4.5). ok is false otherwise.
func (a *Attribute) Uint() (v uint64, ok bool) {
	if a.TV {
		return uint64(a.Value), true
	}
	if len(a.Data) > 8 {
		return 0, false
	}
	for _, c := range a.Data {
		v = v<<8 | uint64(c)
	}
	return v, true
}

func (a *Attribute) append(b []byte) ([]byte, error) {
	if a.Type&attrAF != 0 {
		return b, fmt.Errorf("%w: attribute type %d has the AF bit set", ErrInvalid, a.Type)
	}
	if a.TV {
		b = binary.BigEndian.AppendUint16(b, a.Type|attrAF)
		return binary.BigEndian.AppendUint16(b, a.Value), nil
	}
	if len(a.Data) > 0xffff {
		return b, fmt.Errorf("%w: attribute %d value of %d bytes", ErrTooLarge, a.Type, len(a.Data))
	}
	b = binary.BigEndian.AppendUint16(b, a.Type)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Data)))
	return append(b, a.Data...), nil
}

// decodeAttributes parses attributes until s is empty, appending to
// dst[:0]. A TLV length that overruns s is an error.
func decodeAttributes(dst []Attribute, s cryptobyte.String) ([]Attribute, error) {
	dst = dst[:0]
	for !s.Empty() {
		var t, v uint16
		if !s.ReadUint16(&t) || !s.ReadUint16(&v) {
			return dst, truncated("attribute header", 4, len(s))
		}
		if t&attrAF != 0 {
			dst = append(dst, Attribute{Type: t &^ attrAF, TV: true, Value: v})
			continue
		}
		var data []byte
		if !s.ReadBytes(&data, int(v)) {
			return dst, truncated(fmt.Sprintf("attribute %d value", t), int(v), len(s))
		}
		dst = append(dst, Attribute{Type: t, Data: data})
	}
	return dst, nil
}

func appendAttributes(b []byte, attrs []Attribute) ([]byte, error) {
	var err error
	for i := range attrs {
		if b, err = attrs[i].append(b); err != nil {
			return b, err
		}
	}
	return b, nil
}
