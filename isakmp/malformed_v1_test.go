package isakmp

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// rawV1 builds an IKEv1 message with one payload of type pt and the given
// body, all lengths consistent, by hand.
func rawV1(pt PayloadType, body []byte) []byte {
	b := rawV2(pt, 0, body)
	b[17], b[18] = VersionIKEv1, byte(ExchangeV1MainMode)
	return b
}

// TestMalformedV1 feeds bodies whose internal lengths and counts disagree,
// for every IKEv1 payload type with fixed fields (RFC 2408 3.4-3.15,
// RFC 2407 4.6, RFC 3947 5.1, mode-cfg 3.2).
func TestMalformedV1(t *testing.T) {
	const sa = "00000001 00000001 " // DOI IPsec, SIT_IDENTITY_ONLY
	tests := []struct {
		name string
		pt   PayloadType
		body string
		want error
	}{
		{"SA short DOI", PayloadV1SA, "000000", ErrTruncated},
		{"SA short situation", PayloadV1SA, "00000001 0000", ErrTruncated},
		{"SA labeled-domain situation", PayloadV1SA, "00000001 00000002", ErrMalformed},
		{"SA proposal header cut", PayloadV1SA, sa + "0000", ErrTruncated},
		{"SA proposal length below 8", PayloadV1SA, sa + "00000007 01010000", ErrMalformed},
		{"SA proposal overruns", PayloadV1SA, sa + "0000000c 01010000", ErrTruncated},
		{"SA proposal next 3", PayloadV1SA, sa + "03000008 01010000", ErrMalformed},
		{"SA last proposal says more", PayloadV1SA, sa + "02000008 01010000", ErrMalformed},
		{"SA proposal next 0 with more", PayloadV1SA, sa + "00000008 01010000 00000008 01010000", ErrMalformed},
		{"SA SPI overruns", PayloadV1SA, sa + "0000000a 01030400 aabb", ErrTruncated},
		{"SA transform count cannot fit", PayloadV1SA, sa + "00000010 01010002 00000008 01010000", ErrMalformed},
		{"SA transform count too low", PayloadV1SA, sa + "00000018 01010001 03000008 01010000 00000008 02010000", ErrMalformed},
		{"SA transform length below 8", PayloadV1SA, sa + "00000010 01010001 00000007 01010000", ErrMalformed},
		{"SA transform overruns", PayloadV1SA, sa + "00000010 01010001 0000000c 01010000", ErrTruncated},
		{"SA transform next payload", PayloadV1SA, sa + "00000010 01010001 03000008 01010000", ErrMalformed},
		{"SA attribute cut", PayloadV1SA, sa + "00000012 01010001 0000000a 01010000 8001", ErrTruncated},
		{"SA TLV attribute overruns", PayloadV1SA, sa + "00000014 01010001 0000000c 01010000 000c0004", ErrTruncated},
		{"ID short", PayloadV1ID, "011100", ErrTruncated},
		{"CERT empty", PayloadV1CERT, "", ErrTruncated},
		{"GSS token empty", PayloadV1GSS, "", ErrMalformed},
		{"CR empty", PayloadV1CR, "", ErrTruncated},
		{"Notification short", PayloadV1Notify, "00000001 0110", ErrTruncated},
		{"Notification SPI overruns", PayloadV1Notify, "00000001 01108d28 aabbccdd", ErrTruncated},
		{"Delete short", PayloadV1Delete, "00000001 0310", ErrTruncated},
		{"Delete count too high", PayloadV1Delete, "00000001 03040002 aabbccdd", ErrMalformed},
		{"Delete count too low", PayloadV1Delete, "00000001 03040001 aabbccdd ee", ErrMalformed},
		{"Delete size 0 count 1", PayloadV1Delete, "00000001 01000001", ErrMalformed},
		{"NAT-OA short", PayloadV1NATOA, "010000", ErrTruncated},
		{"NAT-OA IPv4 of 5 bytes", PayloadV1NATOA, "01000000 0a000001 00", ErrMalformed},
		{"NAT-OA IPv6 of 4 bytes", PayloadV1NATOADraft, "05000000 0a000001", ErrMalformed},
		{"NAT-OA FQDN", PayloadV1NATOA, "02000000 61626364", ErrMalformed},
		{"attribute payload short", PayloadV1Attribute, "0100", ErrTruncated},
		{"attribute payload attribute overruns", PayloadV1Attribute, "01000001 40890004 00", ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			if err := m.Decode(rawV1(tc.pt, unhex(t, tc.body))); !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestGenericLengthV1 corrupts the generic Payload Length of every payload
// of random valid IKEv1 messages.
func TestGenericLengthV1(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 200; i++ {
		m := randV1Message(r)
		if m.Ciphertext != nil {
			continue
		}
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		corruptEveryLength(t, b, len(m.Payloads))
	}
}

func TestV1IDAddrRange(t *testing.T) {
	tests := []struct {
		typ        IDType
		data       string
		start, end string // empty: not ok
	}{
		{IDIPv4Addr, "0a000001", "10.0.0.1", "10.0.0.1"},
		{IDIPv4AddrSubnet, "0a6100ff ffffff00", "10.97.0.0", "10.97.0.255"},
		{IDIPv4AddrSubnet, "0a000000 ff000000", "10.0.0.0", "10.255.255.255"},
		{IDIPv4AddrSubnet, "0a000000 ff00ff00", "", ""}, // non-contiguous mask
		{IDIPv4AddrRange, "0a000005 0a000009", "10.0.0.5", "10.0.0.9"},
		{IDIPv4AddrRange, "0a000009 0a000005", "", ""},
		{IDIPv6AddrSubnet, "fd000000000000000000000000000001 ffffffffffffffff0000000000000000", "fd00::", "fd00::ffff:ffff:ffff:ffff"},
		{IDIPv6Addr, "0a000001", "", ""},
		{IDFQDN, "6162", "", ""},
	}
	for _, tc := range tests {
		id := V1ID{IDType: tc.typ, Data: unhex(t, tc.data)}
		s, e, ok := id.AddrRange()
		if tc.start == "" {
			if ok {
				t.Errorf("%v %s: got %v-%v, want not ok", tc.typ, tc.data, s, e)
			}
			continue
		}
		if !ok || s.String() != tc.start || e.String() != tc.end {
			t.Errorf("%v %s: got %v-%v %v, want %s-%s", tc.typ, tc.data, s, e, ok, tc.start, tc.end)
		}
	}
}
