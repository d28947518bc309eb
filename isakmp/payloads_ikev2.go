package isakmp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the IKEv2 payloads of RFC 7296 section 3 (and RFC 7383
// for SKF) except SA (sa.go) and the traffic selectors (ts.go). Each type
// decodes from the body after the generic payload header. Byte-slice
// fields alias the decoded buffer. None is safe for concurrent mutation.

func knownV2(t PayloadType) bool {
	switch t {
	case PayloadSA, PayloadKE, PayloadIDi, PayloadIDr, PayloadCERT, PayloadCERTREQ,
		PayloadAUTH, PayloadNonce, PayloadNotify, PayloadDelete, PayloadVendorID,
		PayloadTSi, PayloadTSr, PayloadSK, PayloadCP, PayloadEAP, PayloadSKF:
		return true
	}
	return false
}

func newV2Payload(t PayloadType) Payload {
	switch t {
	case PayloadSA:
		return new(SA)
	case PayloadKE:
		return new(KE)
	case PayloadIDi, PayloadIDr:
		return new(ID)
	case PayloadCERT:
		return new(Cert)
	case PayloadCERTREQ:
		return new(CertReq)
	case PayloadAUTH:
		return new(Auth)
	case PayloadNonce:
		return new(Nonce)
	case PayloadNotify:
		return new(Notify)
	case PayloadDelete:
		return new(Delete)
	case PayloadVendorID:
		return new(VendorID)
	case PayloadTSi, PayloadTSr:
		return new(TS)
	case PayloadSK:
		return new(Encrypted)
	case PayloadSKF:
		return new(EncryptedFragment)
	case PayloadCP:
		return new(Config)
	case PayloadEAP:
		return new(EAP)
	}
	return nil
}

// KE is the Key Exchange payload (RFC 7296 3.4).
//
// A KE is not safe for concurrent mutation; reading it from several goroutines is safe.
type KE struct {
	Group KEGroup
	Data  []byte
}

// Type implements Payload.
func (*KE) Type() PayloadType { return PayloadKE }

func (k *KE) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var res uint16
	if !s.ReadUint16((*uint16)(&k.Group)) || !s.ReadUint16(&res) {
		return truncated("KE fields", 4, len(s))
	}
	k.Data = s
	return nil
}

func (k *KE) appendBody(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, uint16(k.Group))
	return append(append(b, 0, 0), k.Data...), nil
}

// ID is the Identification payload, IDi or IDr (RFC 7296 3.5).
//
// An ID is not safe for concurrent mutation; reading it from several goroutines is safe.
type ID struct {
	Responder bool // IDr rather than IDi
	IDType    IDType
	Data      []byte
}

// Type implements Payload.
func (id *ID) Type() PayloadType {
	if id.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

func (id *ID) decode(raw RawPayload) error {
	if len(raw.Body) < 4 {
		return truncated("ID fields", 4, len(raw.Body))
	}
	*id = ID{Responder: raw.Type == PayloadIDr, IDType: IDType(raw.Body[0]), Data: raw.Body[4:]}
	return nil
}

func (id *ID) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(id.IDType), 0, 0, 0), id.Data...), nil
}

// Cert is the Certificate payload (RFC 7296 3.6).
//
// A Cert is not safe for concurrent mutation; reading it from several goroutines is safe.
type Cert struct {
	Encoding CertEncoding
	Data     []byte
}

// Type implements Payload.
func (*Cert) Type() PayloadType { return PayloadCERT }

func (c *Cert) decode(raw RawPayload) error {
	if len(raw.Body) < 1 {
		return truncated("CERT encoding", 1, 0)
	}
	*c = Cert{Encoding: CertEncoding(raw.Body[0]), Data: raw.Body[1:]}
	return nil
}

func (c *Cert) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(c.Encoding)), c.Data...), nil
}

// CertReq is the Certificate Request payload (RFC 7296 3.7). For X.509
// encodings Data is a concatenation of 20-byte SHA-1 hashes of trusted CA
// public keys; the package keeps it opaque.
//
// A CertReq is not safe for concurrent mutation; reading it from several goroutines is safe.
type CertReq struct {
	Encoding CertEncoding
	Data     []byte
}

// Type implements Payload.
func (*CertReq) Type() PayloadType { return PayloadCERTREQ }

func (c *CertReq) decode(raw RawPayload) error {
	if len(raw.Body) < 1 {
		return truncated("CERTREQ encoding", 1, 0)
	}
	*c = CertReq{Encoding: CertEncoding(raw.Body[0]), Data: raw.Body[1:]}
	return nil
}

func (c *CertReq) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(c.Encoding)), c.Data...), nil
}

// Auth is the Authentication payload (RFC 7296 3.8).
//
// An Auth is not safe for concurrent mutation; reading it from several goroutines is safe.
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Type implements Payload.
func (*Auth) Type() PayloadType { return PayloadAUTH }

func (a *Auth) decode(raw RawPayload) error {
	if len(raw.Body) < 4 {
		return truncated("AUTH fields", 4, len(raw.Body))
	}
	*a = Auth{Method: AuthMethod(raw.Body[0]), Data: raw.Body[4:]}
	return nil
}

func (a *Auth) appendBody(b []byte) ([]byte, error) {
	return append(append(b, byte(a.Method), 0, 0, 0), a.Data...), nil
}

// Nonce is the Nonce payload, Ni or Nr (RFC 7296 3.9). The RFC's 16 to
// 256 byte bounds are a negotiation rule and are not enforced here.
//
// A Nonce is not safe for concurrent mutation; reading it from several goroutines is safe.
type Nonce struct {
	Data []byte
}

// Type implements Payload.
func (*Nonce) Type() PayloadType { return PayloadNonce }

func (n *Nonce) decode(raw RawPayload) error { n.Data = raw.Body; return nil }

func (n *Nonce) appendBody(b []byte) ([]byte, error) { return append(b, n.Data...), nil }

// Notify is the Notify payload (RFC 7296 3.10).
//
// A Notify is not safe for concurrent mutation; reading it from several goroutines is safe.
type Notify struct {
	Protocol   ProtocolID // 0 when the notification is not about an SA
	SPI        []byte     // empty, or the SA's SPI
	NotifyType NotifyType
	Data       []byte
}

// Type implements Payload.
func (*Notify) Type() PayloadType { return PayloadNotify }

func (n *Notify) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var spiSize uint8
	if !s.ReadUint8((*uint8)(&n.Protocol)) || !s.ReadUint8(&spiSize) || !s.ReadUint16((*uint16)(&n.NotifyType)) {
		return truncated("Notify fields", 4, len(s))
	}
	if !s.ReadBytes(&n.SPI, int(spiSize)) {
		return truncated("Notify SPI", int(spiSize), len(s))
	}
	n.Data = s
	return nil
}

func (n *Notify) appendBody(b []byte) ([]byte, error) {
	if len(n.SPI) > 0xff {
		return b, fmt.Errorf("%w: notify SPI of %d bytes", ErrInvalid, len(n.SPI))
	}
	b = append(b, byte(n.Protocol), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	return append(append(b, n.SPI...), n.Data...), nil
}

// Delete is the Delete payload (RFC 7296 3.11). SPIs holds the SPIs back to
// back, each SPISize bytes; deleting an IKE SA has Protocol IKE, SPISize 0
// and no SPIs.
//
// A Delete is not safe for concurrent mutation; reading it from several goroutines is safe.
type Delete struct {
	Protocol ProtocolID
	SPISize  uint8
	SPIs     []byte
}

// Type implements Payload.
func (*Delete) Type() PayloadType { return PayloadDelete }

// Len returns the number of SPIs.
func (d *Delete) Len() int {
	if d.SPISize == 0 {
		return 0
	}
	return len(d.SPIs) / int(d.SPISize)
}

// SPI returns the i'th SPI.
func (d *Delete) SPI(i int) []byte {
	n := int(d.SPISize)
	return d.SPIs[i*n : (i+1)*n : (i+1)*n]
}

func (d *Delete) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var num uint16
	if !s.ReadUint8((*uint8)(&d.Protocol)) || !s.ReadUint8(&d.SPISize) || !s.ReadUint16(&num) {
		return truncated("Delete fields", 4, len(s))
	}
	return decodeSPIList(&d.SPIs, d.SPISize, num, s)
}

// decodeSPIList checks that num SPIs of size each fill s exactly
// (RFC 7296 3.11, RFC 2408 3.15).
func decodeSPIList(dst *[]byte, size uint8, num uint16, s []byte) error {
	if size == 0 && num != 0 {
		return malformed("%d SPIs of size 0", num)
	}
	if want := int(size) * int(num); want != len(s) {
		return malformed("%d SPIs of %d bytes need %d bytes, have %d", num, size, want, len(s))
	}
	*dst = s
	return nil
}

func (d *Delete) appendBody(b []byte) ([]byte, error) {
	num, err := spiCount(d.SPISize, d.SPIs)
	if err != nil {
		return b, err
	}
	b = append(b, byte(d.Protocol), d.SPISize)
	b = binary.BigEndian.AppendUint16(b, num)
	return append(b, d.SPIs...), nil
}

func spiCount(size uint8, spis []byte) (uint16, error) {
	if size == 0 {
		if len(spis) != 0 {
			return 0, fmt.Errorf("%w: SPIs given with SPI size 0", ErrInvalid)
		}
		return 0, nil
	}
	if len(spis)%int(size) != 0 || len(spis)/int(size) > 0xffff {
		return 0, fmt.Errorf("%w: %d bytes of SPIs of size %d", ErrInvalid, len(spis), size)
	}
	return uint16(len(spis) / int(size)), nil
}

// VendorID is the Vendor ID payload (RFC 7296 3.12).
//
// A VendorID is not safe for concurrent mutation; reading it from several goroutines is safe.
type VendorID struct {
	Data []byte
}

// Type implements Payload.
func (*VendorID) Type() PayloadType { return PayloadVendorID }

func (v *VendorID) decode(raw RawPayload) error { v.Data = raw.Body; return nil }

func (v *VendorID) appendBody(b []byte) ([]byte, error) { return append(b, v.Data...), nil }

// Encrypted is the Encrypted and Authenticated payload, SK (RFC 7296
// 3.14). This package decrypts nothing: Data is the IV, the ciphertext
// (with padding and Pad Length inside it) and the ICV, as sent. Inner is the
// type of the first payload inside; the ike package decrypts Data and calls
// DecodePayloads(dst, MajorIKEv2, Inner, plaintext).
//
// An Encrypted is not safe for concurrent mutation; reading it from several goroutines is safe.
type Encrypted struct {
	Inner PayloadType
	Data  []byte
}

// Type implements Payload.
func (*Encrypted) Type() PayloadType { return PayloadSK }

func (e *Encrypted) decode(raw RawPayload) error {
	*e = Encrypted{Inner: raw.Next, Data: raw.Body}
	return nil
}

func (e *Encrypted) appendBody(b []byte) ([]byte, error) { return append(b, e.Data...), nil }

// EncryptedFragment is the Encrypted and Authenticated Fragment payload,
// SKF (RFC 7383 2.5). Inner is the first inner payload type in fragment 1
// and 0 in the others.
//
// An EncryptedFragment is not safe for concurrent mutation; reading it from several goroutines is safe.
type EncryptedFragment struct {
	Inner  PayloadType
	Number uint16 // 1-based fragment number
	Total  uint16 // number of fragments of the message
	Data   []byte // IV, ciphertext and ICV of this fragment
}

// Type implements Payload.
func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }

func (f *EncryptedFragment) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	f.Inner = raw.Next
	if !s.ReadUint16(&f.Number) || !s.ReadUint16(&f.Total) {
		return truncated("SKF fields", 4, len(s))
	}
	// RFC 7383 2.5: numbers start at 1 and never exceed Total Fragments.
	if f.Number == 0 || f.Number > f.Total {
		return malformed("fragment %d of %d", f.Number, f.Total)
	}
	f.Data = s
	return nil
}

func (f *EncryptedFragment) appendBody(b []byte) ([]byte, error) {
	if f.Number == 0 || f.Number > f.Total {
		return b, fmt.Errorf("%w: fragment %d of %d", ErrInvalid, f.Number, f.Total)
	}
	b = binary.BigEndian.AppendUint16(b, f.Number)
	b = binary.BigEndian.AppendUint16(b, f.Total)
	return append(b, f.Data...), nil
}

// Config is the Configuration payload, CP (RFC 7296 3.15).
//
// A Config is not safe for concurrent mutation; reading it from several goroutines is safe.
type Config struct {
	CfgType    CfgType
	Attributes []ConfigAttribute
}

// ConfigAttribute is one configuration attribute (RFC 7296 3.15.1): a
// 15-bit type and a variable-length value (empty in a request).
//
// A ConfigAttribute is not safe for concurrent mutation; reading it from several goroutines is safe.
type ConfigAttribute struct {
	Type  CfgAttr
	Value []byte
}

// Type implements Payload.
func (*Config) Type() PayloadType { return PayloadCP }

func (c *Config) decode(raw RawPayload) error {
	s := cryptobyte.String(raw.Body)
	var res [3]byte
	if !s.ReadUint8((*uint8)(&c.CfgType)) || !s.CopyBytes(res[:]) {
		return truncated("CP fields", 4, len(s))
	}
	attrs := c.Attributes[:0]
	for !s.Empty() {
		var t, n uint16
		if !s.ReadUint16(&t) || !s.ReadUint16(&n) {
			return truncated("configuration attribute header", 4, len(s))
		}
		var v []byte
		if !s.ReadBytes(&v, int(n)) {
			return truncated(fmt.Sprintf("configuration attribute %d", t&0x7fff), int(n), len(s))
		}
		// The first bit is reserved (RFC 7296 3.15.1).
		attrs = append(attrs, ConfigAttribute{Type: CfgAttr(t & 0x7fff), Value: v})
	}
	c.Attributes = attrs
	return nil
}

func (c *Config) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(c.CfgType), 0, 0, 0)
	for _, a := range c.Attributes {
		if a.Type > 0x7fff || len(a.Value) > 0xffff {
			return b, fmt.Errorf("%w: configuration attribute %d of %d bytes", ErrInvalid, a.Type, len(a.Value))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(a.Type))
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}

// EAP is the Extensible Authentication payload (RFC 7296 3.16): one EAP
// message (RFC 3748), kept opaque.
//
// An EAP is not safe for concurrent mutation; reading it from several goroutines is safe.
type EAP struct {
	Data []byte
}

// Type implements Payload.
func (*EAP) Type() PayloadType { return PayloadEAP }

func (e *EAP) decode(raw RawPayload) error { e.Data = raw.Body; return nil }

func (e *EAP) appendBody(b []byte) ([]byte, error) { return append(b, e.Data...), nil }
