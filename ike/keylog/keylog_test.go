package keylog

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func sampleLog() *Log {
	return &Log{
		IKEv2: []IKEv2SA{{SPIi: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, SPIr: [8]byte{8, 7, 6, 5, 4, 3, 2, 1}, Encr: 12,
			SKei: bytes.Repeat([]byte{1}, 16), SKer: bytes.Repeat([]byte{2}, 16), Integ: 12,
			SKai: bytes.Repeat([]byte{3}, 32), SKar: bytes.Repeat([]byte{4}, 32)},
			{SPIi: [8]byte{9}, SPIr: [8]byte{10}, Encr: 20, SKei: bytes.Repeat([]byte{5}, 36), SKer: bytes.Repeat([]byte{6}, 36), SKai: []byte{}, SKar: []byte{}}},
		IKEv1: []IKEv1SA{{CookieI: [8]byte{1}, CookieR: [8]byte{2}, Encr: 7, Key: bytes.Repeat([]byte{7}, 32)}},
		Child: []ChildSA{
			{Protocol: ProtocolESP, SPI: 0xc0ffee01, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
				Encr: 20, Key: bytes.Repeat([]byte{8}, 20), Integ: 0, IKey: []byte{}, ESN: true, EncapSrcPort: 4500, EncapDstPort: 4500, Tunnel: true},
			{Protocol: ProtocolESP, SPI: 0x1000, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"),
				Encr: 12, Key: bytes.Repeat([]byte{9}, 32), Integ: 14, IKey: bytes.Repeat([]byte{10}, 64)},
			{Protocol: ProtocolAH, SPI: 0x2000, Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("192.0.2.1"),
				Integ: 12, IKey: bytes.Repeat([]byte{11}, 32), Tunnel: true},
		},
	}
}

func format(l *Log) []byte {
	var b []byte
	for i := range l.IKEv2 {
		b = AppendIKEv2(b, &l.IKEv2[i])
	}
	for i := range l.IKEv1 {
		b = AppendIKEv1(b, &l.IKEv1[i])
	}
	for i := range l.Child {
		b = AppendChild(b, &l.Child[i])
	}
	return b
}

// TestRoundTrip: every line parses back into what was written, with
// comments, blank lines and unknown labels and fields skipped.
func TestRoundTrip(t *testing.T) {
	l := sampleLog()
	text := "# comment\n\nFUTURE X=1\n" + strings.Replace(string(format(l)), "MODE=tunnel", "MODE=tunnel NEW=field", 1)
	got, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, l) {
		t.Fatalf("got %+v\nwant %+v\ntext:\n%s", got, l, text)
	}
}

// TestParseErrors: a known line with a bad or missing field is an error
// naming the line.
func TestParseErrors(t *testing.T) {
	good := string(format(sampleLog()))
	for _, bad := range []string{
		"IKEV2 SPII=01 SPIR=0102030405060708 ENCR=12 SK_EI= SK_ER= INTEG=0 SK_AI= SK_AR=",
		"IKEV2 SPII=0102030405060708 SPIR=0102030405060708 ENCR=x SK_EI= SK_ER= INTEG=0 SK_AI= SK_AR=",
		"ESP SPI=0000100 SRC=192.0.2.1 DST=192.0.2.2 ENCR=12 KEY=00 INTEG=2 IKEY=00 ESN=0 ENCAP=0/0 MODE=tunnel",
		"ESP SPI=00001000 SRC=nowhere DST=192.0.2.2 ENCR=12 KEY=00 INTEG=2 IKEY=00 ESN=0 ENCAP=0/0 MODE=tunnel",
		"ESP SPI=00001000 SRC=192.0.2.1 DST=192.0.2.2 ENCR=12 KEY=0g INTEG=2 IKEY=00 ESN=0 ENCAP=0/0 MODE=tunnel",
		"ESP SPI=00001000 SRC=192.0.2.1 DST=192.0.2.2 ENCR=12 KEY=00 INTEG=2 IKEY=00 ESN=0 ENCAP=4500/0 MODE=tunnel",
		"ESP SPI=00001000 SRC=192.0.2.1 DST=192.0.2.2 KEY=00 INTEG=2 IKEY=00 ESN=0 ENCAP=0/0 MODE=tunnel",
		"IKEV1 CKYI=0102030405060708 novalue",
		"IKEV2 " + strings.Repeat("X", maxLine),
	} {
		_, err := Parse(strings.NewReader(good + bad + "\n"))
		if err == nil {
			t.Errorf("no error for %q", bad)
			continue
		}
		if !strings.Contains(err.Error(), "line 7") && !strings.Contains(err.Error(), "token too long") {
			t.Errorf("error %q does not name line 7", err)
		}
		if !strings.Contains(err.Error(), "token too long") && !errors.Is(err, ErrSyntax) {
			t.Errorf("error %q does not wrap ErrSyntax", err)
		}
	}
}

// TestWiresharkTables: the records carry Wireshark's own algorithm names
// (checked against tshark by the ike TestKeyLogTshark* tests), the ESP
// table parses back, and what Wireshark cannot decrypt is a comment.
func TestWiresharkTables(t *testing.T) {
	l := sampleLog()
	l.Child = append(l.Child, ChildSA{Protocol: ProtocolESP, SPI: 0x3000, Encr: 28, Key: make([]byte, 36)})
	var ike, esp bytes.Buffer
	if err := WriteIKEv2Table(&ike, l); err != nil {
		t.Fatal(err)
	}
	if err := WriteESPTable(&esp, l); err != nil {
		t.Fatal(err)
	}
	wantIKE := tableHeader +
		"0102030405060708,0807060504030201,01010101010101010101010101010101,02020202020202020202020202020202," +
		`"AES-CBC-128 [RFC3602]",` + strings.Repeat("03", 32) + "," + strings.Repeat("04", 32) + `,"HMAC_SHA2_256_128 [RFC4868]"` + "\n" +
		"0900000000000000,0a00000000000000," + strings.Repeat("05", 36) + "," + strings.Repeat("06", 36) +
		`,"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"` + "\n"
	if ike.String() != wantIKE {
		t.Errorf("IKEv2 table:\n%s\nwant:\n%s", ike.String(), wantIKE)
	}
	if !strings.Contains(esp.String(), `"IPv4","192.0.2.1","192.0.2.2","0xc0ffee01","AES-GCM with 16 octet ICV [RFC4106]","0x`+strings.Repeat("08", 20)+`","NULL","0x"`) ||
		!strings.Contains(esp.String(), `"IPv6","2001:db8::1","2001:db8::2","0x00001000","AES-CBC [RFC3602]"`) ||
		!strings.Contains(esp.String(), "# skipped: keylog: Wireshark 4.0 cannot decrypt ESP cipher 28") {
		t.Errorf("ESP table:\n%s", esp.String())
	}
	back, err := ParseESPTable(&esp)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Child) != 2 || back.Child[0].SPI != 0xc0ffee01 || !bytes.Equal(back.Child[1].IKey, l.Child[1].IKey) ||
		back.Child[1].Integ != 14 || back.Child[1].Src != l.Child[1].Src {
		t.Fatalf("parsed back %+v", back.Child)
	}
	// A record as Wireshark writes it, with a wildcard protocol.
	w, err := ParseESPTable(strings.NewReader(`"Any","*","*","0x00000101","NULL","","HMAC-SHA-1-96 [RFC2404]","0x0102"` + "\n"))
	if err != nil || len(w.Child) != 1 || w.Child[0].Src.IsValid() || w.Child[0].Encr != 11 || w.Child[0].Integ != 2 {
		t.Fatalf("wildcard record: %+v %v", w, err)
	}
	for _, bad := range []string{`"IPv4","1.2.3.4"`, `"IPv4","1.2.3.4","1.2.3.5","0xzz","NULL","","NULL",""`,
		`"IPv4","1.2.3.4","1.2.3.5","0x1000","ROT13","","NULL",""`, `"IPv4,"1.2.3.4"`} {
		if _, err := ParseESPTable(strings.NewReader(bad + "\n")); err == nil {
			t.Errorf("no error for %s", bad)
		}
	}
}

// TestParseStrongSwan reads the IKE keys from a charon log at ike = 4
// (isakmp/testdata/ikev2.log, a real capture's log): each "Sk_* secret"
// dump, with the algorithms of the selected proposal.
func TestParseStrongSwan(t *testing.T) {
	f, err := os.Open("testdata/strongswan_ikev2.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The excerpt has no proposal line; the capture's README says
	// aes256gcm16-prfsha256-x25519.
	l, err := ParseStrongSwan(io.MultiReader(strings.NewReader(
		"Nov 27 01:47:16 12[CFG] selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519\n"), f))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.IKEv2) < 2 {
		t.Fatalf("%d IKE SAs", len(l.IKEv2))
	}
	first := l.IKEv2[0]
	wantEi := "3e0ff168d59629e7a2df7d81319975ac7ad8c7704d1e97aac482299f6be04a159a9234bc"
	if got := hexString(first.SKei); got != wantEi || len(first.SKer) != 36 || first.Encr != 20 || first.Integ != 0 {
		t.Fatalf("first IKE SA %+v (SK_ei %s)", first, got)
	}
	// A synthetic CHILD SA in strongSwan's words (chd = 4).
	child := `Nov 27 01:47:16 12[CFG] selected proposal: ESP:AES_CBC_128/HMAC_SHA2_256_128/EXT_SEQ
Nov 27 01:47:16 12[CHD] encryption initiator key => 16 bytes @ 0x1
Nov 27 01:47:16 12[CHD]    0: 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F  ................
Nov 27 01:47:16 12[CHD] encryption responder key => 16 bytes @ 0x2
Nov 27 01:47:16 12[CHD]    0: 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F  ................
Nov 27 01:47:16 12[CHD] integrity initiator key => 32 bytes @ 0x3
Nov 27 01:47:16 12[CHD]    0: 20 21 22 23 24 25 26 27 28 29 2A 2B 2C 2D 2E 2F   !"#$%&'()*+,-./
Nov 27 01:47:16 12[CHD]   16: 30 31 32 33 34 35 36 37 38 39 3A 3B 3C 3D 3E 3F  0123456789:;<=>?
Nov 27 01:47:16 12[CHD] integrity responder key => 32 bytes @ 0x4
Nov 27 01:47:16 12[CHD]    0: 40 41 42 43 44 45 46 47 48 49 4A 4B 4C 4D 4E 4F  @ABCDEFGHIJKLMNO
Nov 27 01:47:16 12[CHD]   16: 50 51 52 53 54 55 56 57 58 59 5A 5B 5C 5D 5E 5F  PQRSTUVWXYZ[\]^_
Nov 27 01:47:16 12[IKE] CHILD_SA net{1} established with SPIs c1a2b3c4_i c5d6e7f8_o and TS 10.1.0.0/16 === 10.2.0.0/16
`
	l, err = ParseStrongSwan(strings.NewReader(child))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Child) != 4 || l.Child[0].SPI != 0xc1a2b3c4 || l.Child[2].SPI != 0xc5d6e7f8 ||
		l.Child[0].Encr != 12 || l.Child[0].Integ != 12 || !l.Child[0].ESN ||
		hexString(l.Child[0].Key) != "000102030405060708090a0b0c0d0e0f" || hexString(l.Child[1].Key) != "101112131415161718191a1b1c1d1e1f" ||
		hexString(l.Child[2].IKey)[:4] != "4041" {
		t.Fatalf("CHILD SA candidates %+v", l.Child)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// FuzzParse: no input makes the three readers panic, and what Parse
// accepts formats back into lines that parse to the same log.
func FuzzParse(f *testing.F) {
	f.Add(format(sampleLog()))
	f.Add([]byte(`"IPv4","1.2.3.4","1.2.3.5","0x1000","NULL","","HMAC-SHA-1-96 [RFC2404]","0x00"`))
	f.Add([]byte("12[IKE] Sk_ei secret => 4 bytes @ 0x1\n12[IKE]    0: 01 02 03 04\n"))
	f.Add([]byte("ESP SPI=1 SRC= DST="))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseStrongSwan(bytes.NewReader(b))
		_, _ = ParseESPTable(bytes.NewReader(b))
		l, err := Parse(bytes.NewReader(b))
		if err != nil {
			return
		}
		again, err := Parse(bytes.NewReader(format(l)))
		if err != nil || !reflect.DeepEqual(again, l) {
			t.Fatalf("reformatted log differs: %v\n%+v\n%+v", err, l, again)
		}
	})
}
