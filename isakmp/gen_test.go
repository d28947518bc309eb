package isakmp

import (
	"math/rand/v2"
	"net/netip"
)

// Generators of valid random payloads and messages for the property tests.
// They produce only what the RFCs allow a sender to produce (RESERVED
// fields zero), so every generated message must round-trip byte-exactly.

func randBytes(r *rand.Rand, max int) []byte {
	b := make([]byte, r.IntN(max+1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randFixed(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randAttrs(r *rand.Rand) []Attribute {
	var as []Attribute
	for range r.IntN(3) {
		if r.IntN(2) == 0 {
			as = append(as, TVAttr(uint16(r.IntN(0x8000)), uint16(r.Uint32())))
		} else {
			as = append(as, TLVAttr(uint16(r.IntN(0x8000)), randBytes(r, 12)))
		}
	}
	return as
}

func randSA(r *rand.Rand) *SA {
	sa := &SA{}
	for i := range 1 + r.IntN(3) {
		p := Proposal{Number: uint8(i + 1), Protocol: ProtocolID(1 + r.IntN(3))}
		p.SPI = randBytes(r, 8)
		for range r.IntN(5) {
			p.Transforms = append(p.Transforms, Transform{
				Type: TransformType(1 + r.IntN(5)), ID: uint16(r.IntN(40)), Attributes: randAttrs(r),
			})
		}
		sa.Proposals = append(sa.Proposals, p)
	}
	return sa
}

func randAddr(r *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		var a [16]byte
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
}

func randTS(r *rand.Rand, resp bool) *TS {
	ts := &TS{Responder: resp}
	for range r.IntN(4) {
		t := TrafficSelector{IPProtocol: uint8(r.IntN(256)), StartPort: uint16(r.Uint32()), EndPort: uint16(r.Uint32())}
		switch r.IntN(3) {
		case 0:
			t.TSType = TSIPv4AddrRange
			t.Start, t.End = randAddr(r, false), randAddr(r, false)
		case 1:
			t.TSType = TSIPv6AddrRange
			t.Start, t.End = randAddr(r, true), randAddr(r, true)
		default:
			t = TrafficSelector{TSType: TSSecLabel, IPProtocol: uint8(r.IntN(256)), Data: randBytes(r, 10)}
		}
		ts.Selectors = append(ts.Selectors, t)
	}
	return ts
}

// randV2Payload returns a random IKEv2 payload other than SK/SKF.
func randV2Payload(r *rand.Rand) Payload {
	switch r.IntN(16) {
	case 0:
		return randSA(r)
	case 1:
		return &KE{Group: KEGroup(r.IntN(40)), Data: randBytes(r, 64)}
	case 2:
		return &ID{Responder: r.IntN(2) == 0, IDType: IDType(1 + r.IntN(12)), Data: randBytes(r, 20)}
	case 3:
		return &Cert{Encoding: CertEncoding(r.IntN(16)), Data: randBytes(r, 40)}
	case 4:
		return &CertReq{Encoding: CertEncoding(r.IntN(16)), Data: randBytes(r, 40)}
	case 5:
		return &Auth{Method: AuthMethod(r.IntN(15)), Data: randBytes(r, 40)}
	case 6:
		return &Nonce{Data: randBytes(r, 64)}
	case 7:
		n := &Notify{NotifyType: NotifyType(r.Uint32()), Data: randBytes(r, 20)}
		if r.IntN(2) == 0 {
			n.Protocol, n.SPI = ProtocolESP, randBytes(r, 8)
		}
		return n
	case 8:
		d := &Delete{Protocol: ProtocolID(1 + r.IntN(3))}
		if d.Protocol != ProtocolIKE {
			d.SPISize = 4
			d.SPIs = randFixed(r, 4*r.IntN(4))
		}
		return d
	case 9:
		return &VendorID{Data: randBytes(r, 20)}
	case 10:
		return randTS(r, r.IntN(2) == 0)
	case 11:
		c := &Config{CfgType: CfgType(1 + r.IntN(4))}
		for range r.IntN(4) {
			c.Attributes = append(c.Attributes, ConfigAttribute{Type: CfgAttr(r.IntN(0x8000)), Value: randBytes(r, 16)})
		}
		return c
	case 12:
		return &EAP{Data: randBytes(r, 30)}
	case 13:
		// Private-use type, not critical: kept as Unknown.
		return &Unknown{PayloadType: PayloadType(128 + r.IntN(128)), Body: randBytes(r, 20)}
	case 14:
		return randTS(r, false)
	default:
		return &Nonce{Data: randBytes(r, 32)}
	}
}

func randV2Message(r *rand.Rand) *Message {
	m := &Message{Header: Header{
		Version:   VersionIKEv2,
		Exchange:  ExchangeType(34 + r.IntN(4)),
		Flags:     Flags(r.IntN(4)) << 3,
		MessageID: r.Uint32(),
	}}
	copy(m.Header.InitiatorSPI[:], randFixed(r, 8))
	if r.IntN(2) == 0 {
		copy(m.Header.ResponderSPI[:], randFixed(r, 8))
	}
	for range r.IntN(7) {
		m.Payloads = append(m.Payloads, randV2Payload(r))
	}
	switch r.IntN(4) {
	case 0:
		m.Payloads = append(m.Payloads, &Encrypted{Inner: PayloadIDi, Data: randBytes(r, 80)})
	case 1:
		total := uint16(1 + r.IntN(5))
		m.Payloads = append(m.Payloads, &EncryptedFragment{Inner: PayloadIDi, Number: 1 + uint16(r.IntN(int(total))), Total: total, Data: randBytes(r, 80)})
	}
	return m
}

func randV1SA(r *rand.Rand) *V1SA {
	sa := &V1SA{DOI: DOIIPsec, Situation: SitIdentityOnly}
	for i := range 1 + r.IntN(3) {
		p := V1Proposal{Number: uint8(1 + i/2), Protocol: ProtocolID(1 + r.IntN(4)), SPI: randBytes(r, 4)}
		for j := range r.IntN(4) {
			p.Transforms = append(p.Transforms, V1Transform{Number: uint8(j + 1), ID: uint8(r.IntN(20)), Attributes: randAttrs(r)})
		}
		sa.Proposals = append(sa.Proposals, p)
	}
	return sa
}

// randV1Payload returns a random IKEv1 payload.
func randV1Payload(r *rand.Rand) Payload {
	switch r.IntN(17) {
	case 0:
		return randV1SA(r)
	case 1:
		return &V1KE{Data: randBytes(r, 64)}
	case 2:
		return &V1ID{IDType: IDType(1 + r.IntN(11)), IPProtocol: uint8(r.IntN(256)), Port: uint16(r.Uint32()), Data: randBytes(r, 16)}
	case 3:
		return &V1Cert{Encoding: CertEncoding(r.IntN(16)), Data: randBytes(r, 40)}
	case 4:
		return &V1CertReq{Encoding: CertEncoding(r.IntN(16)), CA: randBytes(r, 40)}
	case 5:
		return &V1Hash{Data: randBytes(r, 32)}
	case 6:
		return &V1Sig{Data: randBytes(r, 64)}
	case 7:
		return &V1Nonce{Data: randBytes(r, 32)}
	case 8:
		n := &V1Notify{DOI: DOIIPsec, Protocol: ProtocolIKE, NotifyType: V1NotifyType(r.Uint32()), Data: randBytes(r, 8)}
		if r.IntN(2) == 0 {
			n.SPI = randFixed(r, 16)
		}
		return n
	case 9:
		d := &V1Delete{DOI: DOIIPsec, Protocol: ProtocolESP, SPISize: 4, SPIs: randFixed(r, 4*r.IntN(4))}
		if r.IntN(2) == 0 {
			d.Protocol, d.SPISize, d.SPIs = ProtocolIKE, 16, randFixed(r, 16)
		}
		return d
	case 10:
		return &V1VendorID{Data: randBytes(r, 16)}
	case 11:
		return &V1NATD{Draft: r.IntN(2) == 0, Hash: randBytes(r, 32)}
	case 12:
		return &V1NATOA{Draft: r.IntN(2) == 0, Addr: randAddr(r, r.IntN(2) == 0)}
	case 13:
		return &V1Attributes{CfgType: CfgType(1 + r.IntN(4)), Identifier: uint16(r.Uint32()), Attributes: randAttrs(r)}
	case 14:
		return &Unknown{PayloadType: PayloadType(15 + r.IntN(5)), Body: randBytes(r, 16)}
	case 15:
		return &V1GSS{Token: append([]byte{0x60}, randBytes(r, 40)...)}
	default:
		return &V1Hash{Data: randBytes(r, 20)}
	}
}

func randV1Message(r *rand.Rand) *Message {
	m := &Message{Header: Header{
		Version:   VersionIKEv1,
		Exchange:  []ExchangeType{ExchangeV1MainMode, ExchangeV1Aggressive, ExchangeV1QuickMode, ExchangeV1Informational}[r.IntN(4)],
		MessageID: r.Uint32(),
	}}
	copy(m.Header.InitiatorSPI[:], randFixed(r, 8))
	copy(m.Header.ResponderSPI[:], randFixed(r, 8))
	if r.IntN(4) == 0 {
		m.Header.Flags = FlagEncryption
		m.Header.NextPayload = PayloadV1Hash
		m.Ciphertext = randFixed(r, 16*(1+r.IntN(4)))
		return m
	}
	for range r.IntN(7) {
		m.Payloads = append(m.Payloads, randV1Payload(r))
	}
	return m
}
