package isakmp_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipsecgo/ipsec/isakmp"
)

// Build an IKE_SA_INIT request from a proposal string, encode it, and
// decode it again.
func Example() {
	prop, err := isakmp.ParseProposal("aes256gcm16-prfsha256-x25519", isakmp.ProtocolIKE)
	if err != nil {
		panic(err)
	}
	prop.Number = 1
	req := isakmp.Message{
		Header: isakmp.Header{
			InitiatorSPI: [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
			Version:      isakmp.VersionIKEv2,
			Exchange:     isakmp.ExchangeIKESAInit,
			Flags:        isakmp.FlagInitiator,
		},
		Payloads: []isakmp.Payload{
			&isakmp.SA{Proposals: []isakmp.Proposal{prop}},
			&isakmp.KE{Group: isakmp.GroupCurve25519, Data: make([]byte, 32)},
			&isakmp.Nonce{Data: make([]byte, 32)},
		},
	}
	b, err := req.Append(nil)
	if err != nil {
		panic(err)
	}
	var m isakmp.Message
	if err := m.Decode(b); err != nil {
		panic(err)
	}
	fmt.Println(len(b), m.Header.Exchange, m.Header.Flags)
	for _, p := range m.Payloads {
		switch p := p.(type) {
		case *isakmp.SA:
			s, _ := isakmp.FormatProposal(&p.Proposals[0])
			fmt.Println(p.Type(), s)
		case *isakmp.KE:
			fmt.Println(p.Type(), p.Group)
		default:
			fmt.Println(p.Type())
		}
	}
	// Output:
	// 144 IKE_SA_INIT I
	// SA aes256gcm16-prfsha256-x25519
	// KE CURVE_25519
	// Nonce
}

// The inner payloads of an SK payload are encoded on their own with
// AppendPayloads, encrypted by the caller, and carried as opaque bytes.
func ExampleAppendPayloads() {
	inner := []isakmp.Payload{
		&isakmp.ID{IDType: isakmp.IDFQDN, Data: []byte("gw.example")},
		&isakmp.TS{Selectors: []isakmp.TrafficSelector{{
			TSType: isakmp.TSIPv4AddrRange, EndPort: 0xffff,
			Start: netip.MustParseAddr("10.0.0.0"), End: netip.MustParseAddr("10.0.0.255"),
		}}},
	}
	plain, err := isakmp.AppendPayloads(nil, isakmp.MajorIKEv2, inner)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes, first inner payload %v\n", len(plain), inner[0].Type())
	// ... encrypt plain into ciphertext (the ike package's job) ...
	sk := &isakmp.Encrypted{Inner: inner[0].Type(), Data: plain}
	back, n, err := isakmp.DecodePayloads(nil, isakmp.MajorIKEv2, sk.Inner, sk.Data)
	fmt.Println(len(back), n == len(plain), err)
	// Output:
	// 42 bytes, first inner payload IDi
	// 2 true <nil>
}

// Malformed input is an error, never a panic; a critical payload of an
// unknown type is reported with its type (RFC 7296 2.5).
func ExampleCriticalPayloadError() {
	msg := []byte{
		1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, // SPIs
		200, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 33, // next payload 200, IKEv2, IKE_SA_INIT
		0, 0x80, 0, 5, 0xaa, // critical unknown payload
	}
	var m isakmp.Message
	err := m.Decode(msg)
	var ce *isakmp.CriticalPayloadError
	if errors.As(err, &ce) {
		fmt.Println(ce.Type, ce.Notify())
	}
	// Output: PayloadType(200) UNSUPPORTED_CRITICAL_PAYLOAD
}
