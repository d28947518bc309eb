package auth

import (
	"crypto/x509/pkix"
	"errors"
	"net/netip"
	"testing"
)

func TestIdentityString(t *testing.T) {
	dn, err := DN(pkix.Name{CommonName: "gw", Organization: []string{"Example"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   Identity
		want string
	}{
		{FQDN("gw.example"), "ID_FQDN:gw.example"},
		{RFC822("a@b.example"), "ID_RFC822_ADDR:a@b.example"},
		{IP(netip.MustParseAddr("192.0.2.1")), "ID_IPV4_ADDR:192.0.2.1"},
		{IP(netip.MustParseAddr("2001:db8::1")), "ID_IPV6_ADDR:2001:db8::1"},
		{dn, "ID_DER_ASN1_DN:CN=gw,O=Example"},
		{KeyID([]byte{0xab}), "ID_KEY_ID:ab"},
		{Identity{Type: 200, Data: []byte{1}}, "ID_TYPE(200):01"},
		{Identity{Type: IDIPv4Addr, Data: []byte{1}}, "ID_IPV4_ADDR:01"},
		{FQDN("bad\x00name"), `ID_FQDN:bad\x00name`},
	}
	for _, tc := range tests {
		if got := tc.id.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if MethodDigitalSignature.String() != "DIGITAL_SIGNATURE" || Method(99).String() != "AUTH_METHOD(99)" {
		t.Error("Method.String")
	}
}

func TestIdentityValidate(t *testing.T) {
	tests := []struct {
		id Identity
		ok bool
	}{
		{IP(netip.MustParseAddr("192.0.2.1")), true},
		{Identity{Type: IDIPv4Addr, Data: make([]byte, 5)}, false},
		{Identity{Type: IDIPv6Addr, Data: make([]byte, 4)}, false},
		{Identity{Type: IDDERASN1DN, Data: []byte{0x30, 0x00}}, true},
		{Identity{Type: IDDERASN1DN, Data: []byte{0x30, 0x00, 0x00}}, false},
		{Identity{Type: IDDERASN1DN, Data: []byte{0x31}}, false},
		{Identity{Type: IDFQDN}, false},
	}
	for _, tc := range tests {
		err := tc.id.Validate()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("Validate(%v) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
	if !FQDN("A.example").Equal(FQDN("a.EXAMPLE")) || FQDN("a").Equal(RFC822("a")) {
		t.Error("Equal")
	}
}

// FuzzIdentity feeds arbitrary ID payload bodies (type octet + data) to the
// functions that take a peer's identity.
func FuzzIdentity(f *testing.F) {
	f.Add(byte(IDIPv4Addr), []byte{192, 0, 2, 1})
	f.Add(byte(IDIPv6Addr), make([]byte, 16))
	f.Add(byte(IDFQDN), []byte("gw.example"))
	f.Add(byte(IDDERASN1DN), []byte{0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 'g', 'w'})
	f.Add(byte(IDDERASN1DN), []byte{0x30, 0x80})
	f.Add(byte(IDIPv4Addr), []byte{1})
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		id := Identity{Type: IDType(typ), Data: data}
		_ = id.String()
		if err := id.Validate(); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Validate error not ErrMalformed: %v", err)
		}
		_, _ = id.Addr()
		if !id.Equal(id) {
			t.Fatal("identity not equal to itself")
		}
	})
}
