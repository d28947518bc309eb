package isakmp

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the IKEv1 payloads: RFC 2408 section 3 with the IPsec
// DOI contents of RFC 2407 4.6, NAT-D and NAT-OA of RFC 3947, and the
// attribute payload of draft-ietf-ipsec-isakmp-mode-cfg. Byte-slice fields
// alias the decoded buffer. None is safe for concurrent mutation.

func knownV1(t PayloadType) bool {
	switch t {
	case PayloadV1SA, PayloadV1KE, PayloadV1ID, PayloadV1CERT, PayloadV1CR, PayloadV1Hash,
		PayloadV1Sig, PayloadV1Nonce, PayloadV1Notify, PayloadV1Delete, PayloadV1VendorID,
		PayloadV1Attribute, PayloadV1NATD, PayloadV1NATOA, PayloadV1NATDDraft, PayloadV1NATOADraft,
		PayloadV1GSS:
		return true
	}
	// Proposal and Transform only appear inside an SA payload; at the top
	// level they are kept as Unknown, like the GDOI payloads 15-19.
	return false
}

func newV1Payload(t PayloadType) Payload {
	switch t {
	case PayloadV1SA:
		return new(V1SA)
	case PayloadV1KE:
		return new(V1KE)
	case PayloadV1ID:
		return new(V1ID)
	case PayloadV1CERT:
		return new(V1Cert)
	case PayloadV1CR:
		return new(V1CertReq)
	case PayloadV1Hash:
		return new(V1Hash)
	case PayloadV1Sig:
		return new(V1Sig)
	case PayloadV1Nonce:
		return new(V1Nonce)
	case PayloadV1Notify:
		return new(V1Notify)
	case PayloadV1Delete:
		return new(V1Delete)
	case PayloadV1VendorID:
		return new(V1VendorID)
	case PayloadV1Attribute:
		return new(V1Attributes)
	case PayloadV1NATD, PayloadV1NATDDraft:
		return new(V1NATD)
	case PayloadV1NATOA, PayloadV1NATOADraft:
		return new(V1NATOA)
	case PayloadV1GSS:
		return new(V1GSS)
	}
	return nil
}

// V1SA is the IKEv1 Security Association payload (RFC 2408 3.4) with its
// proposal and transform payloads (3.5, 3.6). The Situation is 4 bytes
// (RFC 2407 4.2); the IPsec DOI's labeled-domain situations (SIT_SECRECY,
// SIT_INTEGRITY), which append variable fields, are rejected.
//
// A V1SA is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1SA struct {
	DOI       DOI
	Situation Situation
	Proposals []V1Proposal
}

// V1Proposal is an IKEv1 proposal payload (RFC 2408 3.5). Proposals with
// the same Number form one bundle (RFC 2408 4.2: logical AND).
//
// A V1Proposal is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Proposal struct {
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte
	Transforms []V1Transform
}

// V1Transform is an IKEv1 transform payload (RFC 2408 3.6). ID is a
// transform ID of the proposal's protocol: V1TransformKeyIKE for ISAKMP,
// V1AH* for AH, an EncrID value for ESP (RFC 2407 4.4).
//
// A V1Transform is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Transform struct {
	Number     uint8
	ID         uint8
	Attributes []Attribute
}

// Attr returns the first attribute of the given type.
func (t *V1Transform) Attr(typ uint16) (*Attribute, bool) {
	for i := range t.Attributes {
		if t.Attributes[i].Type == typ {
			return &t.Attributes[i], true
		}
	}
	return nil, false
}

// Type implements Payload.
func (*V1SA) Type() PayloadType { return PayloadV1SA }

func (sa *V1SA) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	if !s.ReadUint32((*uint32)(&sa.DOI)) || !s.ReadUint32((*uint32)(&sa.Situation)) {
		return truncated("SA DOI and situation", 8, len(s))
	}
	if sa.DOI == DOIIPsec && sa.Situation&(SitSecrecy|SitIntegrity) != 0 {
		return malformed("labeled-domain situation %#x not supported (RFC 2407 4.2)", uint32(sa.Situation))
	}
	props := sa.Proposals[:cap(sa.Proposals)]
	n := 0
	for !s.Empty() {
		var next, res uint8
		var plen uint16
		if !s.ReadUint8(&next) || !s.ReadUint8(&res) || !s.ReadUint16(&plen) {
			return truncated("proposal header", 4, len(s))
		}
		if plen < 8 {
			return malformed("proposal %d: length %d below 8", n+1, plen)
		}
		var body cryptobyte.String
		if !s.ReadBytes((*[]byte)(&body), int(plen)-4) {
			return truncated(fmt.Sprintf("proposal %d", n+1), int(plen)-4, len(s))
		}
		// RFC 2408 3.5: Next Payload is 0 on the last proposal and
		// Proposal (2) otherwise.
		if next != 0 && next != uint8(PayloadV1Proposal) || (next == 0) != s.Empty() {
			return malformed("proposal %d: next payload %d with %d bytes after it", n+1, next, len(s))
		}
		if n == len(props) {
			props = append(props, V1Proposal{})
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

func (p *V1Proposal) decode(s cryptobyte.String) error {
	var spiSize, num uint8
	if !s.ReadUint8(&p.Number) || !s.ReadUint8((*uint8)(&p.Protocol)) || !s.ReadUint8(&spiSize) || !s.ReadUint8(&num) {
		return truncated("proposal fields", 4, len(s))
	}
	if !s.ReadBytes(&p.SPI, int(spiSize)) {
		return truncated("proposal SPI", int(spiSize), len(s))
	}
	if int(num)*8 > len(s) {
		return malformed("%d transforms cannot fit in %d bytes", num, len(s))
	}
	ts := p.Transforms[:cap(p.Transforms)]
	if len(ts) < int(num) {
		ts = append(ts, make([]V1Transform, int(num)-len(ts))...)
	}
	for i := 0; i < int(num); i++ {
		var next, res uint8
		var tlen uint16
		if !s.ReadUint8(&next) || !s.ReadUint8(&res) || !s.ReadUint16(&tlen) {
			return truncated("transform header", 4, len(s))
		}
		want := uint8(PayloadV1Transform)
		if i == int(num)-1 {
			want = 0
		}
		if next != want {
			return malformed("transform %d of %d: next payload %d", i+1, num, next)
		}
		if tlen < 8 {
			return malformed("transform %d: length %d below 8", i+1, tlen)
		}
		var body cryptobyte.String
		if !s.ReadBytes((*[]byte)(&body), int(tlen)-4) {
			return truncated(fmt.Sprintf("transform %d", i+1), int(tlen)-4, len(s))
		}
		t := &ts[i]
		var res2 uint16
		if !body.ReadUint8(&t.Number) || !body.ReadUint8(&t.ID) || !body.ReadUint16(&res2) {
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

func (sa *V1SA) appendBody(b []byte) ([]byte, error) {
	if sa.DOI == DOIIPsec && sa.Situation&(SitSecrecy|SitIntegrity) != 0 {
		return b, fmt.Errorf("%w: labeled-domain situation %#x", ErrInvalid, uint32(sa.Situation))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(sa.DOI))
	b = binary.BigEndian.AppendUint32(b, uint32(sa.Situation))
	var err error
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		next := byte(PayloadV1Proposal)
		if i == len(sa.Proposals)-1 {
			next = 0
		}
		if len(p.SPI) > 0xff || len(p.Transforms) > 0xff {
			return b, fmt.Errorf("%w: proposal %d: SPI of %d bytes, %d transforms", ErrInvalid, i+1, len(p.SPI), len(p.Transforms))
		}
		off := len(b)
		b = append(b, next, 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
		b = append(b, p.SPI...)
		for j := range p.Transforms {
			t := &p.Transforms[j]
			tnext := byte(PayloadV1Transform)
			if j == len(p.Transforms)-1 {
				tnext = 0
			}
			toff := len(b)
			b = append(b, tnext, 0, 0, 0, t.Number, t.ID, 0, 0)
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

// V1KE is the IKEv1 Key Exchange payload (RFC 2408 3.7). The group is
// negotiated in the SA, not carried here.
//
// A V1KE is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1KE struct{ Data []byte }

// Type implements Payload.
func (*V1KE) Type() PayloadType                     { return PayloadV1KE }
func (k *V1KE) decode(raw RawPayload) error         { k.Data = raw.Body; return nil }
func (k *V1KE) appendBody(b []byte) ([]byte, error) { return append(b, k.Data...), nil }

// V1ID is the IKEv1 Identification payload with the IPsec DOI's protocol
// and port fields (RFC 2408 3.8, RFC 2407 4.6.2).
//
// A V1ID is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1ID struct {
	IDType     IDType
	IPProtocol uint8 // 0: ignored (RFC 2407 4.6.2)
	Port       uint16
	Data       []byte
}

// Type implements Payload.
func (*V1ID) Type() PayloadType { return PayloadV1ID }

func (id *V1ID) decode(raw RawPayload) error {
	if len(raw.Body) < 4 {
		return truncated("ID fields", 4, len(raw.Body))
	}
	b := raw.Body
	*id = V1ID{IDType: IDType(b[0]), IPProtocol: b[1], Port: binary.BigEndian.Uint16(b[2:4]), Data: b[4:]}
	return nil
}

func (id *V1ID) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(id.IDType), id.IPProtocol)
	b = binary.BigEndian.AppendUint16(b, id.Port)
	return append(b, id.Data...), nil
}

// AddrRange returns the addresses an IPsec DOI address identity covers
// (RFC 2407 4.6.2.2-4.6.2.8): one address, a subnet (address and
// contiguous mask) or a range. ok is false for other ID types and for
// data of the wrong length, a non-contiguous mask, or a range whose start
// is above its end.
func (id *V1ID) AddrRange() (start, end netip.Addr, ok bool) {
	n := 4
	switch id.IDType {
	case IDIPv6Addr, IDIPv6AddrSubnet, IDIPv6AddrRange:
		n = 16
	case IDIPv4Addr, IDIPv4AddrSubnet, IDIPv4AddrRange:
	default:
		return start, end, false
	}
	d := id.Data
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		if len(d) != n {
			return start, end, false
		}
		a := addrFrom(d)
		return a, a, true
	}
	if len(d) != 2*n {
		return start, end, false
	}
	start, end = addrFrom(d[:n]), addrFrom(d[n:])
	if id.IDType == IDIPv4AddrRange || id.IDType == IDIPv6AddrRange {
		return start, end, start.Compare(end) <= 0
	}
	bits, ok := maskBits(d[n:])
	if !ok {
		return netip.Addr{}, netip.Addr{}, false
	}
	lo := netip.PrefixFrom(start, bits).Masked().Addr()
	hi := lo.AsSlice()
	for i := range hi {
		hi[i] |= ^d[n+i]
	}
	return lo, addrFrom(hi), true
}

// maskBits returns the prefix length of a contiguous netmask.
func maskBits(m []byte) (int, bool) {
	bits := 0
	for i, c := range m {
		if c == 0xff {
			bits += 8
			continue
		}
		for c&0x80 != 0 {
			bits++
			c <<= 1
		}
		if c != 0 {
			return 0, false
		}
		for _, r := range m[i+1:] {
			if r != 0 {
				return 0, false
			}
		}
		return bits, true
	}
	return bits, true
}

// V1Cert is the IKEv1 Certificate payload (RFC 2408 3.9).
//
// A V1Cert is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Cert struct {
	Encoding CertEncoding
	Data     []byte
}

// Type implements Payload.
func (*V1Cert) Type() PayloadType { return PayloadV1CERT }

func (c *V1Cert) decode(raw RawPayload) error {
	if len(raw.Body) < 1 {
		return truncated("CERT encoding", 1, 0)
	}
	*c = V1Cert{Encoding: CertEncoding(raw.Body[0]), Data: raw.Body[1:]}
	return nil
}

func (c *V1Cert) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(c.Encoding)), c.Data...), nil
}

// V1CertReq is the IKEv1 Certificate Request payload (RFC 2408 3.10):
// a certificate type and an optional DER distinguished name of a CA.
//
// A V1CertReq is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1CertReq struct {
	Encoding CertEncoding
	CA       []byte
}

// Type implements Payload.
func (*V1CertReq) Type() PayloadType { return PayloadV1CR }

func (c *V1CertReq) decode(raw RawPayload) error {
	if len(raw.Body) < 1 {
		return truncated("CR certificate type", 1, 0)
	}
	*c = V1CertReq{Encoding: CertEncoding(raw.Body[0]), CA: raw.Body[1:]}
	return nil
}

func (c *V1CertReq) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(c.Encoding)), c.CA...), nil
}

// V1Hash is the IKEv1 Hash payload (RFC 2408 3.11).
//
// A V1Hash is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Hash struct{ Data []byte }

// Type implements Payload.
func (*V1Hash) Type() PayloadType                     { return PayloadV1Hash }
func (h *V1Hash) decode(raw RawPayload) error         { h.Data = raw.Body; return nil }
func (h *V1Hash) appendBody(b []byte) ([]byte, error) { return append(b, h.Data...), nil }

// V1Sig is the IKEv1 Signature payload (RFC 2408 3.12).
//
// A V1Sig is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Sig struct{ Data []byte }

// Type implements Payload.
func (*V1Sig) Type() PayloadType                     { return PayloadV1Sig }
func (s *V1Sig) decode(raw RawPayload) error         { s.Data = raw.Body; return nil }
func (s *V1Sig) appendBody(b []byte) ([]byte, error) { return append(b, s.Data...), nil }

// V1Nonce is the IKEv1 Nonce payload (RFC 2408 3.13).
//
// A V1Nonce is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Nonce struct{ Data []byte }

// Type implements Payload.
func (*V1Nonce) Type() PayloadType                     { return PayloadV1Nonce }
func (n *V1Nonce) decode(raw RawPayload) error         { n.Data = raw.Body; return nil }
func (n *V1Nonce) appendBody(b []byte) ([]byte, error) { return append(b, n.Data...), nil }

// V1VendorID is the IKEv1 Vendor ID payload (RFC 2408 3.16).
//
// A V1VendorID is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1VendorID struct{ Data []byte }

// Type implements Payload.
func (*V1VendorID) Type() PayloadType                     { return PayloadV1VendorID }
func (v *V1VendorID) decode(raw RawPayload) error         { v.Data = raw.Body; return nil }
func (v *V1VendorID) appendBody(b []byte) ([]byte, error) { return append(b, v.Data...), nil }

// V1GSS is the GSS-API token payload of the GSS-API authentication method
// for IKE (draft-ietf-ipsec-isakmp-gss-auth-07 section 3.3, the payload
// type 129 that Windows 2000, XP and Server 2003 use for Kerberos): one
// GSS-API context token, opaque to ISAKMP. The draft lets a token be split
// over several payloads; Token is one payload's share.
//
// A V1GSS is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1GSS struct{ Token []byte }

// Type implements Payload.
func (*V1GSS) Type() PayloadType { return PayloadV1GSS }
func (g *V1GSS) decode(raw RawPayload) error {
	if len(raw.Body) == 0 {
		return fmt.Errorf("%w: empty GSS token payload", ErrMalformed)
	}
	g.Token = raw.Body
	return nil
}
func (g *V1GSS) appendBody(b []byte) ([]byte, error) { return append(b, g.Token...), nil }

// V1Notify is the IKEv1 Notification payload (RFC 2408 3.14). DPD's
// R-U-THERE and R-U-THERE-ACK carry the ISAKMP cookies as SPI and a 4-byte
// sequence number as Data (RFC 3706 5).
//
// A V1Notify is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Notify struct {
	DOI        DOI
	Protocol   ProtocolID
	SPI        []byte
	NotifyType V1NotifyType
	Data       []byte
}

// Type implements Payload.
func (*V1Notify) Type() PayloadType { return PayloadV1Notify }

func (n *V1Notify) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var spiSize uint8
	if !s.ReadUint32((*uint32)(&n.DOI)) || !s.ReadUint8((*uint8)(&n.Protocol)) ||
		!s.ReadUint8(&spiSize) || !s.ReadUint16((*uint16)(&n.NotifyType)) {
		return truncated("Notification fields", 8, len(s))
	}
	if !s.ReadBytes(&n.SPI, int(spiSize)) {
		return truncated("Notification SPI", int(spiSize), len(s))
	}
	n.Data = s
	return nil
}

func (n *V1Notify) appendBody(b []byte) ([]byte, error) {
	if len(n.SPI) > 0xff {
		return b, fmt.Errorf("%w: notification SPI of %d bytes", ErrInvalid, len(n.SPI))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n.DOI))
	b = append(b, byte(n.Protocol), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	return append(append(b, n.SPI...), n.Data...), nil
}

// V1Delete is the IKEv1 Delete payload (RFC 2408 3.15). SPIs holds the
// SPIs back to back, SPISize bytes each (16 for an ISAKMP SA: both
// cookies).
//
// A V1Delete is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Delete struct {
	DOI      DOI
	Protocol ProtocolID
	SPISize  uint8
	SPIs     []byte
}

// Type implements Payload.
func (*V1Delete) Type() PayloadType { return PayloadV1Delete }

// Len returns the number of SPIs.
func (d *V1Delete) Len() int {
	if d.SPISize == 0 {
		return 0
	}
	return len(d.SPIs) / int(d.SPISize)
}

// SPI returns the i'th SPI.
func (d *V1Delete) SPI(i int) []byte {
	n := int(d.SPISize)
	return d.SPIs[i*n : (i+1)*n : (i+1)*n]
}

func (d *V1Delete) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var num uint16
	if !s.ReadUint32((*uint32)(&d.DOI)) || !s.ReadUint8((*uint8)(&d.Protocol)) ||
		!s.ReadUint8(&d.SPISize) || !s.ReadUint16(&num) {
		return truncated("Delete fields", 8, len(s))
	}
	return decodeSPIList(&d.SPIs, d.SPISize, num, s)
}

func (d *V1Delete) appendBody(b []byte) ([]byte, error) {
	num, err := spiCount(d.SPISize, d.SPIs)
	if err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint32(b, uint32(d.DOI))
	b = append(b, byte(d.Protocol), d.SPISize)
	b = binary.BigEndian.AppendUint16(b, num)
	return append(b, d.SPIs...), nil
}

// V1NATD is the NAT Discovery payload (RFC 3947 3.2): a hash of an
// address and port. Draft marks the pre-RFC type 130.
//
// A V1NATD is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1NATD struct {
	Draft bool
	Hash  []byte
}

// Type implements Payload.
func (n *V1NATD) Type() PayloadType {
	if n.Draft {
		return PayloadV1NATDDraft
	}
	return PayloadV1NATD
}

func (n *V1NATD) decode(raw RawPayload) error {
	*n = V1NATD{Draft: raw.Type == PayloadV1NATDDraft, Hash: raw.Body}
	return nil
}

func (n *V1NATD) appendBody(b []byte) ([]byte, error) { return append(b, n.Hash...), nil }

// V1NATOA is the NAT Original Address payload (RFC 3947 5.1): an
// ID_IPV4_ADDR or ID_IPV6_ADDR. Draft marks the pre-RFC type 131.
//
// A V1NATOA is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1NATOA struct {
	Draft bool
	Addr  netip.Addr
}

// Type implements Payload.
func (n *V1NATOA) Type() PayloadType {
	if n.Draft {
		return PayloadV1NATOADraft
	}
	return PayloadV1NATOA
}

func (n *V1NATOA) decode(raw RawPayload) error {
	b := raw.Body
	if len(b) < 4 {
		return truncated("NAT-OA fields", 4, len(b))
	}
	n.Draft = raw.Type == PayloadV1NATOADraft
	switch IDType(b[0]) {
	case IDIPv4Addr:
		if len(b) != 8 {
			return malformed("NAT-OA ID_IPV4_ADDR of %d bytes", len(b)-4)
		}
	case IDIPv6Addr:
		if len(b) != 20 {
			return malformed("NAT-OA ID_IPV6_ADDR of %d bytes", len(b)-4)
		}
	default:
		return malformed("NAT-OA ID type %v (RFC 3947 5.1 allows IPv4 and IPv6 addresses)", IDType(b[0]))
	}
	n.Addr = addrFrom(b[4:])
	return nil
}

func (n *V1NATOA) appendBody(b []byte) ([]byte, error) {
	switch {
	case n.Addr.Is4():
		a := n.Addr.As4()
		return append(append(b, byte(IDIPv4Addr), 0, 0, 0), a[:]...), nil
	case n.Addr.Is6() && n.Addr.Zone() == "":
		a := n.Addr.As16()
		return append(append(b, byte(IDIPv6Addr), 0, 0, 0), a[:]...), nil
	}
	return b, fmt.Errorf("%w: NAT-OA address %v", ErrInvalid, n.Addr)
}

// V1Attributes is the IKEv1 attribute payload of Mode Config and XAUTH
// (draft-ietf-ipsec-isakmp-mode-cfg-05 3.2): a type, an identifier that
// pairs replies with requests, and data attributes in the RFC 2408 3.3
// format.
//
// A V1Attributes is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1Attributes struct {
	CfgType    CfgType
	Identifier uint16
	Attributes []Attribute
}

// Type implements Payload.
func (*V1Attributes) Type() PayloadType { return PayloadV1Attribute }

func (a *V1Attributes) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var res uint8
	if !s.ReadUint8((*uint8)(&a.CfgType)) || !s.ReadUint8(&res) || !s.ReadUint16(&a.Identifier) {
		return truncated("attribute payload fields", 4, len(s))
	}
	var err error
	a.Attributes, err = decodeAttributes(a.Attributes, s)
	return err
}

func (a *V1Attributes) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(a.CfgType), 0)
	b = binary.BigEndian.AppendUint16(b, a.Identifier)
	return appendAttributes(b, a.Attributes)
}
