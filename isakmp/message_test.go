package isakmp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handInitRequest is an IKE_SA_INIT request laid out by hand from the
// figures of RFC 7296 3.1-3.10 (not produced by this package's encoder):
// SA{ENCR_AES_CBC/256, PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128,
// CURVE_25519}, KE(31), Nonce, N(NAT_DETECTION_SOURCE_IP).
const handInitRequest = `
0102030405060708 0000000000000000 21 20 22 08 00000000 000000b4
22 00 0030
   00 00 002c 01 01 00 04
      03 00 000c 01 00 000c 800e0100
      03 00 0008 02 00 0005
      03 00 0008 03 00 000c
      00 00 0008 04 00 001f
28 00 0028 001f 0000
   1111111111111111111111111111111111111111111111111111111111111111
29 00 0024
   2222222222222222222222222222222222222222222222222222222222222222
00 00 001c 00 00 4004 3333333333333333333333333333333333333333
`

func TestDecodeHandBuiltInit(t *testing.T) {
	b := unhex(t, handInitRequest)
	var m Message
	if err := m.Decode(b); err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.Major() != 2 || h.Minor() != 0 || h.Exchange != ExchangeIKESAInit || h.Flags != FlagInitiator ||
		h.MessageID != 0 || h.Length != 180 || h.InitiatorSPI != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("header %+v", h)
	}
	if len(m.Payloads) != 4 {
		t.Fatalf("%d payloads", len(m.Payloads))
	}
	sa := m.Payloads[0].(*SA)
	if len(sa.Proposals) != 1 {
		t.Fatalf("proposals %+v", sa.Proposals)
	}
	p := sa.Proposals[0]
	if p.Number != 1 || p.Protocol != ProtocolIKE || len(p.SPI) != 0 || len(p.Transforms) != 4 {
		t.Fatalf("proposal %+v", p)
	}
	if kl, ok := p.Transforms[0].KeyLength(); !ok || kl != 256 || p.Transforms[0].ID != uint16(EncrAESCBC) {
		t.Errorf("transform 1 %+v", p.Transforms[0])
	}
	want := []Transform{{Type: TransformPRF, ID: 5}, {Type: TransformINTEG, ID: 12}, {Type: TransformKE, ID: 31}}
	for i, w := range want {
		if g := p.Transforms[i+1]; g.Type != w.Type || g.ID != w.ID || len(g.Attributes) != 0 {
			t.Errorf("transform %d = %+v, want %+v", i+2, g, w)
		}
	}
	ke := m.Payloads[1].(*KE)
	if ke.Group != GroupCurve25519 || !bytes.Equal(ke.Data, bytes.Repeat([]byte{0x11}, 32)) {
		t.Errorf("KE %+v", ke)
	}
	if n := m.Payloads[2].(*Nonce); !bytes.Equal(n.Data, bytes.Repeat([]byte{0x22}, 32)) {
		t.Errorf("nonce %x", n.Data)
	}
	nt := m.Payloads[3].(*Notify)
	if nt.NotifyType != NotifyNATDetectionSourceIP || nt.Protocol != 0 || len(nt.SPI) != 0 || len(nt.Data) != 20 {
		t.Errorf("notify %+v", nt)
	}
	out, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", out, b)
	}
}

// rawV2 builds an IKEv2 message with one payload of type pt and the given
// body, all lengths consistent, by hand.
func rawV2(pt PayloadType, next PayloadType, body []byte) []byte {
	b := make([]byte, HeaderLen, HeaderLen+4+len(body))
	b[16], b[17], b[18] = byte(pt), VersionIKEv2, byte(ExchangeIKEAuth)
	b = append(b, byte(next), 0, 0, 0)
	binary.BigEndian.PutUint16(b[HeaderLen+2:], uint16(4+len(body)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	return b
}

// TestMalformedV2 feeds bodies whose internal lengths and counts disagree,
// for every IKEv2 payload type with fixed fields.
func TestMalformedV2(t *testing.T) {
	tests := []struct {
		name string
		pt   PayloadType
		body string
		want error
	}{
		{"SA short proposal header", PayloadSA, "00", ErrTruncated},
		{"SA proposal length below 8", PayloadSA, "00000007 01010000", ErrMalformed},
		{"SA proposal overruns payload", PayloadSA, "0000000c 01010000", ErrTruncated},
		{"SA bad last substruc", PayloadSA, "01000008 01010000", ErrMalformed},
		{"SA last=0 with more", PayloadSA, "00000008 01010000 00000008 02010000", ErrMalformed},
		{"SA last=2 at end", PayloadSA, "02000008 01010000", ErrMalformed},
		{"SA SPI overruns proposal", PayloadSA, "0000000a 01030400 aabb", ErrTruncated},
		{"SA transform count too high", PayloadSA, "00000010 01010002 00000008 0100000c", ErrMalformed},
		{"SA transform count too low", PayloadSA, "00000018 01010001 03000008 0100000c 00000008 02000005", ErrMalformed},
		{"SA transform length below 8", PayloadSA, "00000010 01010001 00000007 0100000c", ErrMalformed},
		{"SA transform overruns proposal", PayloadSA, "00000010 01010001 0000000c 0100000c", ErrTruncated},
		{"SA transform last marker", PayloadSA, "00000010 01010001 03000008 0100000c", ErrMalformed},
		{"SA attribute header cut", PayloadSA, "00000012 01010001 0000000a 0100000c 800e", ErrTruncated},
		{"SA TLV attribute overruns", PayloadSA, "00000014 01010001 0000000c 0100000c 000e0004", ErrTruncated},
		{"KE short", PayloadKE, "001f00", ErrTruncated},
		{"IDi short", PayloadIDi, "010000", ErrTruncated},
		{"IDr short", PayloadIDr, "", ErrTruncated},
		{"CERT empty", PayloadCERT, "", ErrTruncated},
		{"CERTREQ empty", PayloadCERTREQ, "", ErrTruncated},
		{"AUTH short", PayloadAUTH, "020000", ErrTruncated},
		{"Notify short", PayloadNotify, "000040", ErrTruncated},
		{"Notify SPI overruns", PayloadNotify, "03044004 aabb", ErrTruncated},
		{"Delete short", PayloadDelete, "0304", ErrTruncated},
		{"Delete count too high", PayloadDelete, "03040002 aabbccdd", ErrMalformed},
		{"Delete count too low", PayloadDelete, "03040001 aabbccdd ee", ErrMalformed},
		{"Delete size 0 count 1", PayloadDelete, "01000001", ErrMalformed},
		{"TSi short", PayloadTSi, "01", ErrTruncated},
		{"TSi count too high", PayloadTSi, "02000000 07000010 0000ffff 0a000000 0a0000ff", ErrTruncated},
		{"TSi count cannot fit", PayloadTSi, "05000000 07000010 0000ffff 0a000000 0a0000ff", ErrMalformed},
		{"TSi count too low", PayloadTSi, "01000000 07000010 0000ffff 0a000000 0a0000ff 07000010 0000ffff 0a000000 0a0000ff", ErrMalformed},
		{"TSr selector length 3", PayloadTSr, "01000000 07000003 0000ffff 0a000000 0a0000ff", ErrMalformed},
		{"TSr IPv4 length 20", PayloadTSr, "01000000 07000014 0000ffff 0a000000 0a0000ff 00000000", ErrMalformed},
		{"TSr IPv6 length 16", PayloadTSr, "01000000 08000010 0000ffff 0a000000 0a0000ff", ErrMalformed},
		{"TSr selector overruns", PayloadTSr, "01000000 07000018 0000ffff 0a000000 0a0000ff", ErrTruncated},
		{"SKF short", PayloadSKF, "0001", ErrTruncated},
		{"SKF number 0", PayloadSKF, "00000002 aa", ErrMalformed},
		{"SKF number above total", PayloadSKF, "00030002 aa", ErrMalformed},
		{"CP short", PayloadCP, "01", ErrTruncated},
		{"CP attribute header cut", PayloadCP, "01000000 0001", ErrTruncated},
		{"CP attribute overruns", PayloadCP, "01000000 00010004 0a00", ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := rawV2(tc.pt, 0, unhex(t, tc.body))
			var m Message
			err := m.Decode(b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestGenericLengthV2 corrupts the generic Payload Length of every payload
// of valid messages: below 4, one short (leaving a trailing byte or
// cutting a field), one long (overrunning the message).
func TestGenericLengthV2(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		m := randV2Message(r)
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		corruptEveryLength(t, b, len(m.Payloads))
	}
}

// corruptEveryLength sets the generic Payload Length of each of the n
// payloads of message b to 0, 3, one less and one more than its value;
// every variant must fail to decode.
func corruptEveryLength(t *testing.T, b []byte, n int) {
	t.Helper()
	off := HeaderLen
	for j := 0; j < n; j++ {
		plen := int(binary.BigEndian.Uint16(b[off+2:]))
		for _, bad := range []int{0, 3, plen - 1, plen + 1} {
			if bad == plen || (bad == plen-1 && plen == 4) {
				continue
			}
			c := bytes.Clone(b)
			binary.BigEndian.PutUint16(c[off+2:], uint16(bad))
			var d Message
			if err := d.Decode(c); err == nil {
				t.Fatalf("payload %d (type %d) length %d->%d decoded\n%x", j, b[16], plen, bad, c)
			}
		}
		off += plen
	}
}

// TestNoPrefixParses checks that no proper prefix of a valid message
// decodes, neither as it is nor with its header length set to the prefix
// length (a datagram cut inside the payload chain).
func TestNoPrefixParses(t *testing.T) {
	msgs := [][]byte{unhex(t, handInitRequest)}
	r := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		m := randV2Message(r)
		if len(m.Payloads) == 0 {
			continue
		}
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	msgs = append(msgs, goldenMessages(t)...)
	for i, b := range msgs {
		for n := 0; n < len(b); n++ {
			var m Message
			if err := m.Decode(b[:n]); err == nil {
				t.Fatalf("message %d: prefix of %d/%d bytes decoded", i, n, len(b))
			}
			if n < HeaderLen || isV1Encrypted(b) {
				continue
			}
			c := bytes.Clone(b[:n])
			binary.BigEndian.PutUint32(c[24:], uint32(n))
			if err := m.Decode(c); err == nil {
				t.Fatalf("message %d: prefix of %d/%d bytes with patched length decoded: %v", i, n, len(b), m.Payloads)
			}
		}
	}
}

func isV1Encrypted(b []byte) bool {
	return len(b) >= HeaderLen && b[17]>>4 == MajorIKEv1 && Flags(b[19])&FlagEncryption != 0
}

// describe renders a message for comparison: nil and empty slices print
// alike, which is the equivalence a round trip preserves.
func describe(m *Message) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%+v|%x|", m.Header, m.Ciphertext)
	for _, p := range m.Payloads {
		fmt.Fprintf(&sb, "%T%+v;", p, p)
	}
	return sb.String()
}

// TestRandomRoundTrip is the property test: a random valid message encodes,
// decodes to an equal message, and re-encodes to the same bytes. Decoding
// into a reused Message gives the same result as into a fresh one.
func TestRandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var reused Message
	for i := 0; i < 2000; i++ {
		var m *Message
		if i%3 == 2 {
			m = randV1Message(r)
		} else {
			m = randV2Message(r)
		}
		b, err := m.Append(nil)
		if err != nil {
			t.Fatalf("%d: Append: %v", i, err)
		}
		m.Header.Length = uint32(len(b))
		m.Header.NextPayload = PayloadType(b[16])
		want := describe(m)
		var fresh Message
		if err := fresh.Decode(b); err != nil {
			t.Fatalf("%d: Decode: %v\n%x", i, err, b)
		}
		if got := describe(&fresh); got != want {
			t.Fatalf("%d: decoded\n%s\nwant\n%s", i, got, want)
		}
		if err := reused.Decode(b); err != nil {
			t.Fatalf("%d: reused Decode: %v", i, err)
		}
		if got := describe(&reused); got != want {
			t.Fatalf("%d: reused decode\n%s\nwant\n%s", i, got, want)
		}
		out, err := fresh.Append(nil)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("%d: re-encode %v\n%x\nwant\n%x", i, err, out, b)
		}
	}
}

func TestCriticalUnknownPayload(t *testing.T) {
	b := rawV2(PayloadType(200), 0, []byte{1, 2, 3})
	b[HeaderLen+1] = 0x80
	var m Message
	err := m.Decode(b)
	var ce *CriticalPayloadError
	if !errors.As(err, &ce) || ce.Type != 200 || ce.Notify() != NotifyUnsupportedCriticalPayload {
		t.Fatalf("Decode = %v, want CriticalPayloadError{200}", err)
	}
	// Not critical: skipped (kept as Unknown) and re-encoded as is.
	b[HeaderLen+1] = 0
	if err := m.Decode(b); err != nil {
		t.Fatal(err)
	}
	if u, ok := m.Payloads[0].(*Unknown); !ok || u.PayloadType != 200 || !bytes.Equal(u.Body, []byte{1, 2, 3}) {
		t.Fatalf("payload %+v", m.Payloads[0])
	}
	// Critical bit on a known payload type is ignored (RFC 7296 2.5).
	k := rawV2(PayloadNonce, 0, []byte{9, 9})
	k[HeaderLen+1] = 0x80
	if err := m.Decode(k); err != nil {
		t.Fatal(err)
	}
}

// TestWrongVersionPayloads: IKEv1 payload types in IKEv2 messages and IKEv2
// types in IKEv1 messages are rejected (RFC 7296 3.2; CVE-2015-3991).
func TestWrongVersionPayloads(t *testing.T) {
	for pt := PayloadType(1); pt <= 32; pt++ {
		b := rawV2(pt, 0, make([]byte, 16))
		var m Message
		if err := m.Decode(b); !errors.Is(err, ErrWrongVersionPayload) {
			t.Errorf("IKEv2 message with %v: %v", pt, err)
		}
	}
	for pt := PayloadSA; pt <= PayloadPS; pt++ {
		b := rawV2(pt, 0, make([]byte, 16))
		b[17] = VersionIKEv1
		var m Message
		if err := m.Decode(b); !errors.Is(err, ErrWrongVersionPayload) {
			t.Errorf("IKEv1 message with %v: %v", pt, err)
		}
	}
	// Nested: the wrong type as the second payload.
	b := rawV2(PayloadNonce, PayloadV1Hash, []byte{1, 2})
	b = append(b, 0, 0, 0, 4)
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	var m Message
	if err := m.Decode(b); !errors.Is(err, ErrWrongVersionPayload) {
		t.Errorf("second payload HASH_V1: %v", err)
	}
	// The encoder refuses too.
	m = Message{Header: Header{Version: VersionIKEv2}, Payloads: []Payload{&V1Hash{Data: []byte{1}}}}
	if _, err := m.Append(nil); !errors.Is(err, ErrWrongVersionPayload) {
		t.Errorf("Append IKEv1 payload in IKEv2: %v", err)
	}
}

func TestHeaderChecks(t *testing.T) {
	b := unhex(t, handInitRequest)
	var m Message
	c := bytes.Clone(b)
	c[17] = 0x30
	if err := m.Decode(c); !errors.Is(err, ErrVersion) || m.Header.Major() != 3 {
		t.Errorf("version 3: %v, header %+v", err, m.Header)
	}
	c = bytes.Clone(b)
	binary.BigEndian.PutUint32(c[24:], 27)
	if err := m.Decode(c); !errors.Is(err, ErrMalformed) {
		t.Errorf("length 27: %v", err)
	}
	if err := m.Decode(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
	// SK not last.
	sk := rawV2(PayloadSK, PayloadIDi, []byte{1, 2, 3, 4})
	sk = append(sk, 0, 0, 0, 4)
	binary.BigEndian.PutUint32(sk[24:], uint32(len(sk)))
	if err := m.Decode(sk); !errors.Is(err, ErrMalformed) {
		t.Errorf("SK followed by bytes: %v", err)
	}
	m = Message{Header: Header{Version: VersionIKEv2}, Payloads: []Payload{&Encrypted{}, &Nonce{}}}
	if _, err := m.Append(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append SK not last: %v", err)
	}
	if n, err := MessageLength(b); err != nil || n != len(b) {
		t.Errorf("MessageLength = %d, %v", n, err)
	}
}

func TestTrafficSelectorValues(t *testing.T) {
	ts := &TS{Selectors: []TrafficSelector{
		{TSType: TSIPv4AddrRange, IPProtocol: 17, StartPort: 500, EndPort: 500,
			Start: netip.MustParseAddr("10.1.0.0"), End: netip.MustParseAddr("10.1.255.255")},
		{TSType: TSIPv6AddrRange, EndPort: 0xffff,
			Start: netip.MustParseAddr("fd00::"), End: netip.MustParseAddr("fd00::ffff")},
	}}
	b, err := AppendPayloads(nil, MajorIKEv2, []Payload{ts})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `00 00 0040 02000000
		07 11 0010 01f4 01f4 0a010000 0a01ffff
		08 00 0028 0000 ffff fd000000000000000000000000000000 fd00000000000000000000000000ffff`)
	if !bytes.Equal(b, want) {
		t.Fatalf("got  %x\nwant %x", b, want)
	}
	ps, n, err := DecodePayloads(nil, MajorIKEv2, PayloadTSi, b)
	if err != nil || n != len(b) {
		t.Fatal(n, err)
	}
	got := ps[0].(*TS)
	if !got.Selectors[1].AnyPort() || got.Selectors[0].Start != ts.Selectors[0].Start || got.Selectors[1].End != ts.Selectors[1].End {
		t.Fatalf("%+v", got)
	}
	bad := &TS{Selectors: []TrafficSelector{{TSType: TSIPv4AddrRange, Start: netip.MustParseAddr("::1"), End: netip.MustParseAddr("::1")}}}
	if _, err := AppendPayloads(nil, MajorIKEv2, []Payload{bad}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("IPv6 addresses in an IPv4 selector: %v", err)
	}
}

func TestDecodeAllocs(t *testing.T) {
	b := unhex(t, handInitRequest)
	var m Message
	if err := m.Decode(b); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if err := m.Decode(b); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("Decode into a reused Message allocates %v times", n)
	}
	out := make([]byte, 0, 512)
	n = testing.AllocsPerRun(100, func() {
		if _, err := m.Append(out[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("Append into a large enough buffer allocates %v times", n)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		s    fmt.Stringer
		want string
	}{
		{ExchangeIKESAInit, "IKE_SA_INIT"}, {ExchangeV1QuickMode, "QUICK_MODE"},
		{PayloadSK, "SK"}, {PayloadV1NATD, "NAT-D_V1"}, {PayloadType(99), "PayloadType(99)"},
		{GroupCurve25519, "CURVE_25519"}, {GroupMLKEM768, "ML_KEM_768"},
		{EncrAESGCM16, "ENCR_AES_GCM_16"}, {PRFHMACSHA2_256, "PRF_HMAC_SHA2_256"},
		{IntegHMACSHA2_256_128, "AUTH_HMAC_SHA2_256_128"}, {ESNYes, "EXT_SEQ"},
		{NotifyNATDetectionSourceIP, "NAT_DETECTION_SOURCE_IP"}, {NotifyType(3), "NotifyType(3)"},
		{V1NotifyRUThere, "R-U-THERE"}, {IDRFC822Addr, "ID_RFC822_ADDR"},
		{AuthSharedKeyMIC, "SHARED_KEY_MIC"}, {CertX509Sig, "X509_SIGNATURE"},
		{TransformKE, "KE"}, {FlagInitiator | FlagResponse, "I|R"}, {Flags(0), "0"},
		{ProtocolESP, "ESP"}, {TSIPv6AddrRange, "TS_IPV6_ADDR_RANGE"}, {CfgReply, "CFG_REPLY"},
		{CfgInternalIP4Address, "INTERNAL_IP4_ADDRESS"}, {AttrKeyLength, "KEY_LENGTH"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
	if !NotifyTSUnacceptable.IsError() || NotifyCookie.IsError() {
		t.Error("IsError")
	}
	if !EncrAESGCM16.IsAEAD() || EncrAESCBC.IsAEAD() {
		t.Error("IsAEAD")
	}
}

func BenchmarkDecode(b *testing.B) {
	msg := unhex(b, handInitRequest)
	// Baseline: walking the generic headers only.
	b.Run("walk-baseline", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			w := NewWalker(MajorIKEv2, PayloadSA, msg[HeaderLen:])
			var p RawPayload
			for w.Next(&p) {
			}
		}
	})
	b.Run("decode-reused", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		var m Message
		for b.Loop() {
			if err := m.Decode(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse-alloc", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, err := Parse(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		var m Message
		if err := m.Decode(msg); err != nil {
			b.Fatal(err)
		}
		out := make([]byte, 0, 512)
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			out, _ = m.Append(out[:0])
		}
	})
}

func TestAppendV1EncryptedFlag(t *testing.T) {
	m := Message{Header: Header{Version: VersionIKEv1, Flags: FlagEncryption}, Payloads: []Payload{&V1Hash{Data: []byte{1}}}}
	if _, err := m.Append(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("E flag with clear payloads: %v", err)
	}
	m = Message{Header: Header{Version: VersionIKEv1, Flags: FlagEncryption, NextPayload: PayloadV1Hash}, Ciphertext: make([]byte, 16)}
	b, err := m.Append(nil)
	if err != nil || len(b) != HeaderLen+16 || PayloadType(b[16]) != PayloadV1Hash {
		t.Fatalf("%x %v", b, err)
	}
}

// BenchmarkDecodeCaptured decodes every strongSwan message of testdata in
// turn. Baseline: walking the generic payload headers only.
func BenchmarkDecodeCaptured(b *testing.B) {
	msgs := goldenMessages(b)
	total := 0
	for _, m := range msgs {
		total += len(m)
	}
	b.Run("walk-baseline", func(b *testing.B) {
		b.SetBytes(int64(total))
		var p RawPayload
		for b.Loop() {
			for _, m := range msgs {
				w := NewWalker(m[17]>>4, PayloadType(m[16]), m[HeaderLen:])
				if isV1Encrypted(m) {
					continue
				}
				for w.Next(&p) {
				}
			}
		}
	})
	b.Run("decode-reused", func(b *testing.B) {
		b.SetBytes(int64(total))
		ms := make([]Message, len(msgs))
		for b.Loop() {
			for i, m := range msgs {
				if err := ms[i].Decode(m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("decode-append", func(b *testing.B) {
		b.SetBytes(int64(total))
		ms := make([]Message, len(msgs))
		out := make([]byte, 0, 4096)
		for b.Loop() {
			for i, m := range msgs {
				if err := ms[i].Decode(m); err != nil {
					b.Fatal(err)
				}
				out, _ = ms[i].Append(out[:0])
			}
		}
	})
}
