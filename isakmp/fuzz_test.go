package isakmp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzDecode is the fuzz target for the message parser. It is seeded with
// the strongSwan captures in testdata, a hand-built IKE_SA_INIT, random
// valid IKEv1 and IKEv2 messages, and malformed variants. Whatever the
// input, Decode must not panic; when it succeeds, the message must encode,
// decode again to the same value, and re-encode to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(unhex(f, handInitRequest))
	for _, m := range goldenMessages(f) {
		f.Add(m)
		if len(m) > HeaderLen+2 {
			f.Add(m[:len(m)-1])
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 40 {
		var m *Message
		if i%2 == 0 {
			m = randV1Message(r)
		} else {
			m = randV2Message(r)
		}
		b, err := m.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(rawV2(PayloadType(200), 0, []byte{1}))
	f.Add(rawV2(PayloadSA, 0, []byte{0, 0, 0, 7, 1, 1, 0, 0}))
	prime := unhex(f, handInitRequest)
	if g := goldenMessages(f); len(g) > 3 {
		prime = g[3]
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Decoding into a Message that held another message must give
		// the same result as decoding into a fresh one.
		var reused Message
		if err := reused.Decode(prime); err != nil {
			t.Fatal(err)
		}
		reusedErr := reused.Decode(b)
		var m Message
		if err := m.Decode(b); err != nil {
			if reusedErr == nil {
				t.Fatalf("fresh decode failed (%v), reused decode succeeded", err)
			}
			return
		}
		if reusedErr != nil || describe(&reused) != describe(&m) {
			t.Fatalf("reused decode differs: %v\n%s\n%s", reusedErr, describe(&reused), describe(&m))
		}
		out, err := m.Append(nil)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		var m2 Message
		if err := m2.Decode(out); err != nil {
			t.Fatalf("re-encoded message does not decode: %v\nin  %x\nout %x", err, b, out)
		}
		if describe(&m) != describe(&m2) {
			// Header.Length and NextPayload are recomputed on encode.
			m.Header.Length, m.Header.NextPayload = m2.Header.Length, m2.Header.NextPayload
			if describe(&m) != describe(&m2) {
				t.Fatalf("round trip changed the message:\n%s\n%s", describe(&m), describe(&m2))
			}
		}
		out2, err := m2.Append(nil)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding not stable: %v", err)
		}
	})
}

// FuzzWalker is the differential fuzz target for the raw walker: it must
// agree with the reference model of walker_test.go on every input.
func FuzzWalker(f *testing.F) {
	f.Add(uint8(2), uint8(PayloadSA), unhex(f, handInitRequest)[HeaderLen:])
	f.Add(uint8(1), uint8(PayloadV1SA), []byte{0, 0, 0, 4})
	for _, m := range goldenMessages(f) {
		f.Add(m[17]>>4, m[16], m[HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, major, first uint8, b []byte) {
		compareWalk(t, major, PayloadType(first), b)
	})
}

// FuzzParseProposal: proposal strings never panic the parser, and what
// parses prints back to a string that parses to the same transforms.
func FuzzParseProposal(f *testing.F) {
	for _, s := range []string{"aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048", "aes256gcm16-x25519",
		"aes128-sha256", "aes128gmac", "sha256-esn", "-", "", "aes128--sha1", "ke1_mlkem768-aes128-sha1-x25519"} {
		for proto := ProtocolIKE; proto <= ProtocolESP; proto++ {
			f.Add(uint8(proto), s)
		}
	}
	f.Fuzz(func(t *testing.T, proto uint8, s string) {
		p, err := ParseProposal(s, ProtocolID(proto))
		if err == nil {
			out, err := FormatProposal(&p)
			if err != nil {
				t.Fatalf("FormatProposal(ParseProposal(%q)): %v", s, err)
			}
			p2, err := ParseProposal(out, ProtocolID(proto))
			if err != nil {
				t.Fatalf("ParseProposal(%q) printed from %q: %v", out, s, err)
			}
			if len(p2.Transforms) != len(p.Transforms) {
				t.Fatalf("%q -> %q changed the transforms", s, out)
			}
		}
		if v1, err := ParseV1Proposal(s, ProtocolID(proto), V1ProposalOptions{}); err == nil {
			if _, err := FormatV1Proposal(&v1); err != nil {
				t.Fatalf("FormatV1Proposal(ParseV1Proposal(%q)): %v", s, err)
			}
		}
	})
}
