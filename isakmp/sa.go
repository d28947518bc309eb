package isakmp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Substructure markers and sizes of the IKEv2 SA payload (RFC 7296 3.3.1,
// 3.3.2).
const (
	lastSubstrucLast      = 0
	lastSubstrucProposal  = 2
	lastSubstrucTransform = 3
	proposalHeaderLen     = 8
	transformHeaderLen    = 8
)

// SA is the IKEv2 Security Association payload: a list of proposals
// (RFC 7296 3.3). Not safe for concurrent mutation.
type SA struct {
	Proposals []Proposal
}

// Proposal is one proposal substructure (RFC 7296 3.3.1).
//
// A Proposal is not safe for concurrent mutation; reading it from several goroutines is safe.
type Proposal struct {
	Number   uint8
	Protocol ProtocolID
	// SPI is empty for an IKE SA proposal in IKE_SA_INIT, 8 bytes when
	// rekeying an IKE SA, 4 bytes for AH and ESP. It aliases the input.
	SPI        []byte
	Transforms []Transform
}

// Transform is one transform substructure (RFC 7296 3.3.2).
//
// A Transform is not safe for concurrent mutation; reading it from several goroutines is safe.
type Transform struct {
	Type       TransformType
	ID         uint16
	Attributes []Attribute
}

// KeyLength returns the Key Length attribute in bits (RFC 7296 3.3.5).
func (t *Transform) KeyLength() (uint16, bool) {
	for i := range t.Attributes {
		if a := &t.Attributes[i]; a.Type == uint16(AttrKeyLength) && a.TV {
			return a.Value, true
		}
	}
	return 0, false
}

// Type implements Payload.
func (*SA) Type() PayloadType { return PayloadSA }

func (sa *SA) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	props := sa.Proposals[:cap(sa.Proposals)]
	n := 0
	for !s.Empty() {
		var last, reserved uint8
		var plen uint16
		if !s.ReadUint8(&last) || !s.ReadUint8(&reserved) || !s.ReadUint16(&plen) {
			return truncated("proposal header", 4, len(s))
		}
		if last != lastSubstrucLast && last != lastSubstrucProposal {
			return malformed("proposal %d: last substructure %d", n+1, last)
		}
		if int(plen) < proposalHeaderLen {
			return malformed("proposal %d: length %d below %d", n+1, plen, proposalHeaderLen)
		}
		var body cryptobyte.String
		if !s.ReadBytes((*[]byte)(&body), int(plen)-4) {
			return truncated(fmt.Sprintf("proposal %d", n+1), int(plen)-4, len(s))
		}
		if (last == lastSubstrucLast) != s.Empty() {
			return malformed("proposal %d: last substructure %d with %d bytes after it", n+1, last, len(s))
		}
		if n == len(props) {
			props = append(props, Proposal{})
			props = props[:cap(props)]
		}
		if err := props[n].decode(body); err != nil {
			return fmt.Errorf("proposal %d: %w", n+1, err)
		}
		n++
	}
	sa.Proposals = props[:n]
	return nil
}

func (p *Proposal) decode(s cryptobyte.String) error {
	var spiSize, num uint8
	if !s.ReadUint8(&p.Number) || !s.ReadUint8((*uint8)(&p.Protocol)) ||
		!s.ReadUint8(&spiSize) || !s.ReadUint8(&num) {
		return truncated("proposal fields", 4, len(s))
	}
	if !s.ReadBytes(&p.SPI, int(spiSize)) {
		return truncated("proposal SPI", int(spiSize), len(s))
	}
	if int(num)*transformHeaderLen > len(s) {
		return malformed("%d transforms cannot fit in %d bytes", num, len(s))
	}
	ts := p.Transforms[:cap(p.Transforms)]
	if len(ts) < int(num) {
		ts = append(ts, make([]Transform, int(num)-len(ts))...)
	}
	for i := 0; i < int(num); i++ {
		var last, reserved uint8
		var tlen uint16
		if !s.ReadUint8(&last) || !s.ReadUint8(&reserved) || !s.ReadUint16(&tlen) {
			return truncated("transform header", 4, len(s))
		}
		want := uint8(lastSubstrucTransform)
		if i == int(num)-1 {
			want = lastSubstrucLast
		}
		if last != want {
			return malformed("transform %d of %d: last substructure %d", i+1, num, last)
		}
		if int(tlen) < transformHeaderLen {
			return malformed("transform %d: length %d below %d", i+1, tlen, transformHeaderLen)
		}
		var body cryptobyte.String
		if !s.ReadBytes((*[]byte)(&body), int(tlen)-4) {
			return truncated(fmt.Sprintf("transform %d", i+1), int(tlen)-4, len(s))
		}
		t := &ts[i]
		var res2 uint8
		if !body.ReadUint8((*uint8)(&t.Type)) || !body.ReadUint8(&res2) || !body.ReadUint16(&t.ID) {
			return truncated("transform fields", 4, len(body))
		}
		var err error
		if t.Attributes, err = decodeAttributes(t.Attributes, body); err != nil {
			return fmt.Errorf("transform %d: %w", i+1, err)
		}
	}
	if !s.Empty() {
		return malformed("%d bytes after %d transforms", len(s), num)
	}
	p.Transforms = ts[:num]
	return nil
}

func (sa *SA) appendBody(b []byte) ([]byte, error) {
	var err error
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		last := byte(lastSubstrucProposal)
		if i == len(sa.Proposals)-1 {
			last = lastSubstrucLast
		}
		if len(p.SPI) > 0xff || len(p.Transforms) > 0xff {
			return b, fmt.Errorf("%w: proposal %d: SPI of %d bytes, %d transforms", ErrInvalid, i+1, len(p.SPI), len(p.Transforms))
		}
		off := len(b)
		b = append(b, last, 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j := range p.Transforms {
			t := &p.Transforms[j]
			tlast := byte(lastSubstrucTransform)
			if j == len(p.Transforms)-1 {
				tlast = lastSubstrucLast
			}
			toff := len(b)
			b = append(b, tlast, 0, 0, 0, byte(t.Type), 0)
			b = binary.BigEndian.AppendUint16(b, t.ID)
			if b, err = appendAttributes(b, t.Attributes); err != nil {
				return b, err
			}
			if err = putLen16(b, toff, len(b)-toff); err != nil {
				return b, err
			}
		}
		if err = putLen16(b, off, len(b)-off); err != nil {
			return b, err
		}
	}
	return b, nil
}
