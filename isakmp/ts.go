package isakmp

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// Selector lengths (RFC 7296 3.13.1).
const (
	tsHeaderLen = 4
	tsIPv4Len   = 16
	tsIPv6Len   = 40
)

// TS is the Traffic Selector payload, TSi or TSr (RFC 7296 3.13).
//
// A TS is not safe for concurrent mutation; reading it from several goroutines is safe.
type TS struct {
	Responder bool // TSr rather than TSi
	Selectors []TrafficSelector
}

// TrafficSelector is one traffic selector (RFC 7296 3.13.1). For
// TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE the address and port fields
// are set; for other types (RFC 4595 Fibre Channel, RFC 9478 security
// labels) Data holds the bytes after the 4-byte selector header and
// IPProtocol holds the second byte.
//
// A TrafficSelector is not safe for concurrent mutation; reading it from several goroutines is safe.
type TrafficSelector struct {
	TSType     TSType
	IPProtocol uint8 // 0: any
	StartPort  uint16
	EndPort    uint16
	Start, End netip.Addr
	Data       []byte
}

// Type implements Payload.
func (ts *TS) Type() PayloadType {
	if ts.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

func (ts *TS) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var num uint8
	var res [3]byte
	if !s.ReadUint8(&num) || !s.CopyBytes(res[:]) {
		return truncated("TS fields", 4, len(s))
	}
	ts.Responder = raw.Type == PayloadTSr
	if int(num)*tsHeaderLen > len(s) {
		return malformed("%d traffic selectors cannot fit in %d bytes", num, len(s))
	}
	sel := ts.Selectors[:0]
	for i := 0; i < int(num); i++ {
		var t TrafficSelector
		var n uint16
		if !s.ReadUint8((*uint8)(&t.TSType)) || !s.ReadUint8(&t.IPProtocol) || !s.ReadUint16(&n) {
			return truncated("traffic selector header", 4, len(s))
		}
		if n < tsHeaderLen {
			return malformed("traffic selector %d: length %d", i+1, n)
		}
		var body cryptobyte.String
		if !s.ReadBytes((*[]byte)(&body), int(n)-tsHeaderLen) {
			return truncated(fmt.Sprintf("traffic selector %d", i+1), int(n)-tsHeaderLen, len(s))
		}
		switch t.TSType {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			want, alen := tsIPv4Len, 4
			if t.TSType == TSIPv6AddrRange {
				want, alen = tsIPv6Len, 16
			}
			if int(n) != want {
				return malformed("%v selector of length %d, want %d", t.TSType, n, want)
			}
			body.ReadUint16(&t.StartPort)
			body.ReadUint16(&t.EndPort)
			t.Start = addrFrom(body[:alen])
			t.End = addrFrom(body[alen:])
		default:
			t.Data = body
		}
		sel = append(sel, t)
	}
	if !s.Empty() {
		return malformed("%d bytes after %d traffic selectors", len(s), num)
	}
	ts.Selectors = sel
	return nil
}

func addrFrom(b []byte) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.AddrFrom16([16]byte(b))
}

func (ts *TS) appendBody(b []byte) ([]byte, error) {
	if len(ts.Selectors) > 0xff {
		return b, fmt.Errorf("%w: %d traffic selectors", ErrInvalid, len(ts.Selectors))
	}
	b = append(b, byte(len(ts.Selectors)), 0, 0, 0)
	for i := range ts.Selectors {
		t := &ts.Selectors[i]
		off := len(b)
		b = append(b, byte(t.TSType), t.IPProtocol, 0, 0)
		switch t.TSType {
		case TSIPv4AddrRange:
			if !t.Start.Is4() || !t.End.Is4() {
				return b, fmt.Errorf("%w: %v selector with addresses %v-%v", ErrInvalid, t.TSType, t.Start, t.End)
			}
			b = binary.BigEndian.AppendUint16(b, t.StartPort)
			b = binary.BigEndian.AppendUint16(b, t.EndPort)
			s, e := t.Start.As4(), t.End.As4()
			b = append(append(b, s[:]...), e[:]...)
		case TSIPv6AddrRange:
			if !t.Start.Is6() || !t.End.Is6() || t.Start.Zone() != "" || t.End.Zone() != "" {
				return b, fmt.Errorf("%w: %v selector with addresses %v-%v", ErrInvalid, t.TSType, t.Start, t.End)
			}
			b = binary.BigEndian.AppendUint16(b, t.StartPort)
			b = binary.BigEndian.AppendUint16(b, t.EndPort)
			s, e := t.Start.As16(), t.End.As16()
			b = append(append(b, s[:]...), e[:]...)
		default:
			b = append(b, t.Data...)
		}
		if err := putLen16(b, off, len(b)-off); err != nil {
			return b, err
		}
	}
	return b, nil
}

// AnyPort reports whether the selector covers all ports (RFC 7296
// 3.13.1: 0-65535).
func (t *TrafficSelector) AnyPort() bool { return t.StartPort == 0 && t.EndPort == 0xffff }
