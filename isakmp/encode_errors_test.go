package isakmp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// TestEncodeErrors: values the wire cannot carry are refused with an
// error, and the buffer is returned unchanged.
func TestEncodeErrors(t *testing.T) {
	big := make([]byte, 0x10000)
	tests := []struct {
		name string
		p    Payload
		want error
	}{
		{"payload over 64 KiB", &Nonce{Data: big}, ErrTooLarge},
		{"TLV attribute over 64 KiB", &SA{Proposals: []Proposal{{Transforms: []Transform{{Attributes: []Attribute{TLVAttr(1, big)}}}}}}, ErrTooLarge},
		{"attribute type with AF bit", &SA{Proposals: []Proposal{{Transforms: []Transform{{Attributes: []Attribute{TVAttr(0x800e, 1)}}}}}}, ErrInvalid},
		{"SPI of 256 bytes", &SA{Proposals: []Proposal{{SPI: make([]byte, 256)}}}, ErrInvalid},
		{"notify SPI of 256 bytes", &Notify{SPI: make([]byte, 256)}, ErrInvalid},
		{"delete SPIs not a multiple", &Delete{SPISize: 4, SPIs: make([]byte, 6)}, ErrInvalid},
		{"delete SPIs with size 0", &Delete{SPIs: make([]byte, 4)}, ErrInvalid},
		{"fragment 0", &EncryptedFragment{Number: 0, Total: 1}, ErrInvalid},
		{"config attribute type over 15 bits", &Config{Attributes: []ConfigAttribute{{Type: 0x8000}}}, ErrInvalid},
		{"256 traffic selectors", &TS{Selectors: make([]TrafficSelector, 256)}, ErrInvalid},
		{"IPv6 selector with zone", &TS{Selectors: []TrafficSelector{{TSType: TSIPv6AddrRange, Start: netip.MustParseAddr("fe80::1%eth0"), End: netip.MustParseAddr("fe80::2")}}}, ErrInvalid},
	}
	for _, tc := range tests {
		prefix := []byte{1, 2, 3}
		out, err := AppendPayloads(bytes.Clone(prefix), MajorIKEv2, []Payload{tc.p})
		if !errors.Is(err, tc.want) || !bytes.Equal(out, prefix) {
			t.Errorf("%s: %v (buffer %x), want %v and the buffer unchanged", tc.name, err, out, tc.want)
		}
	}
	v1 := []struct {
		name string
		p    Payload
	}{
		{"NAT-OA without address", &V1NATOA{}},
		{"labeled-domain situation", &V1SA{DOI: DOIIPsec, Situation: SitSecrecy}},
		{"V1 delete SPIs not a multiple", &V1Delete{SPISize: 16, SPIs: make([]byte, 8)}},
		{"V1 notify SPI of 256 bytes", &V1Notify{SPI: make([]byte, 256)}},
	}
	for _, tc := range v1 {
		if _, err := AppendPayloads(nil, MajorIKEv1, []Payload{tc.p}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	m := Message{Header: Header{Version: 0x30}}
	if _, err := m.Append(nil); !errors.Is(err, ErrVersion) {
		t.Errorf("version 3: %v", err)
	}
	if _, err := AppendPayloads(nil, MajorIKEv1, []Payload{&Nonce{}}); !errors.Is(err, ErrWrongVersionPayload) || !strings.Contains(err.Error(), "Nonce in an IKEv1 message") {
		t.Errorf("IKEv2 payload in IKEv1: %v", err)
	}
}

func TestAttributeUint(t *testing.T) {
	for _, tc := range []struct {
		a    Attribute
		want uint64
		ok   bool
	}{
		{TVAttr(1, 0xabcd), 0xabcd, true},
		{TLVAttr(2, []byte{0, 1, 0x51, 0x80}), 86400, true},
		{TLVAttr(2, []byte{1, 2, 3, 4, 5, 6, 7, 8}), 0x0102030405060708, true},
		{TLVAttr(2, make([]byte, 9)), 0, false},
		{TLVAttr(2, nil), 0, true},
	} {
		if v, ok := tc.a.Uint(); v != tc.want || ok != tc.ok {
			t.Errorf("%+v.Uint() = %d, %v; want %d, %v", tc.a, v, ok, tc.want, tc.ok)
		}
	}
}

func TestDeleteSPIs(t *testing.T) {
	d := &V1Delete{DOI: DOIIPsec, Protocol: ProtocolESP, SPISize: 4, SPIs: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	if d.Len() != 2 || !bytes.Equal(d.SPI(1), []byte{5, 6, 7, 8}) {
		t.Errorf("V1Delete %d %x", d.Len(), d.SPI(1))
	}
	if (&V1Delete{}).Len() != 0 || (&Delete{}).Len() != 0 {
		t.Error("Len with SPI size 0")
	}
	// The captured IKEv1 deletes: one ESP SPI and one ISAKMP SA, whose SPI
	// is the two cookies (RFC 2408 3.15).
	msgs, _ := decodeGolden(t, "ikev1")
	var esp, isakmpSA bool
	for _, g := range msgs {
		for _, p := range g.inner {
			if d, ok := p.(*V1Delete); ok {
				esp = esp || (d.Protocol == ProtocolESP && d.Len() == 1 && len(d.SPI(0)) == 4)
				cookies := append(g.m.Header.InitiatorSPI[:], g.m.Header.ResponderSPI[:]...)
				isakmpSA = isakmpSA || (d.Protocol == ProtocolIKE && d.Len() == 1 && bytes.Equal(d.SPI(0), cookies))
			}
		}
	}
	if !esp || !isakmpSA {
		t.Errorf("captured deletes: ESP %v, ISAKMP SA %v", esp, isakmpSA)
	}
}

func TestV1Strings(t *testing.T) {
	for _, tc := range []struct {
		s    fmt.Stringer
		want string
	}{
		{DOIIPsec, "IPSEC"}, {SitIdentityOnly, "SIT_IDENTITY_ONLY"}, {V1AHSHA2_256, "AH_SHA2_256"},
		{V1AttrGroupDesc, "GROUP_DESCRIPTION"}, {V1EncrAESCBC, "AES_CBC"}, {V1HashSHA2256, "SHA2_256"},
		{V1AuthPSK, "PRE_SHARED_KEY"}, {V1AuthXAUTHInitPSK, "XAUTH_INIT_PSK"}, {V1LifeSeconds, "SECONDS"},
		{V1IPsecEncapMode, "ENCAPSULATION_MODE"}, {V1EncapUDPTunnel, "UDP_ENCAPSULATED_TUNNEL"},
		{V1AuthAlgHMACSHA256, "HMAC_SHA2_256"}, {V1NotifyInitialContact, "INITIAL-CONTACT"},
		{V1Attr(99), "V1Attr(99)"}, {DOI(7), "DOI(7)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
	if err := (&CriticalPayloadError{Type: 200}).Error(); err != "isakmp: unsupported critical payload type 200" {
		t.Error(err)
	}
}
