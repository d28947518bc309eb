package ike

import (
	"github.com/ipsecgo/ipsec/isakmp"

	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// skSuites are the IKE SA protection suites exercised by the tests.
func skSuites() []*ikeSuite {
	var out []*ikeSuite
	for _, bits := range []int{128, 192, 256} {
		for _, id := range []isakmp.EncrID{isakmp.EncrAESGCM16, isakmp.EncrAESGCM12} {
			out = append(out, &ikeSuite{encr: encrByID(id), encrBits: bits, prf: prfByID(isakmp.PRFHMACSHA2_256)})
		}
		for _, ig := range integAlgs {
			out = append(out, &ikeSuite{encr: encrByID(isakmp.EncrAESCBC), encrBits: bits, integ: ig, prf: prfByID(isakmp.PRFHMACSHA2_256)})
		}
	}
	out = append(out, &ikeSuite{encr: encrByID(isakmp.EncrChaCha20Poly1305), prf: prfByID(isakmp.PRFHMACSHA2_256)})
	return out
}

func suiteName(s *ikeSuite) string {
	n := fmt.Sprintf("%s-%d", s.encr.name, s.encrBits)
	if s.integ != nil {
		n += "-" + s.integ.name
	}
	return n
}

// fakeMessage builds an IKE header (28 bytes) and an Encrypted payload
// generic header (4 bytes) with final lengths for innerLen bytes of inner
// payloads, the way the session does through package isakmp.
func fakeMessage(c *skCrypter, innerLen int) []byte {
	body := c.sealedLen(innerLen)
	msg := make([]byte, 28, 28+4+body)
	rand.Read(msg[:16]) // SPIs
	msg[16] = 46        // next payload: SK
	msg[17] = 0x20      // version 2.0
	msg[18] = 35        // IKE_AUTH
	msg[19] = 0x08      // initiator
	binary.BigEndian.PutUint32(msg[24:], uint32(28+4+body))
	msg = append(msg, 35, 0, 0, 0) // next payload IDi
	binary.BigEndian.PutUint16(msg[30:], uint16(4+body))
	return msg
}

// TestSKChaCha20Poly1305RFC7634 checks the IKEv2 example of RFC 7634
// (Appendix B), from testdata/rfc7634_chacha20poly1305.json (transcribed
// from strongSwan's chacha20poly1305.c, chacha20poly1305_4): the AAD is the
// IKE header and the Encrypted payload header, the plaintext is the inner
// payloads followed by a zero Pad Length.
func TestSKChaCha20Poly1305RFC7634(t *testing.T) {
	var v map[string]any
	for _, x := range loadVectors(t, "rfc7634_chacha20poly1305.json") {
		if x["id"] == "rfc7634-ikev2" {
			v = x
		}
	}
	if v == nil {
		t.Fatal("vector rfc7634-ikev2 missing")
	}
	s := &ikeSuite{encr: encrByID(isakmp.EncrChaCha20Poly1305), prf: prfByID(isakmp.PRFHMACSHA2_256)}
	keymat := append(vhex(t, v, "key"), vhex(t, v, "salt")...)
	aad, iv, pt := vhex(t, v, "aad"), vhex(t, v, "iv"), vhex(t, v, "plaintext")
	wire := append(append(append(append([]byte{}, aad...), iv...), vhex(t, v, "ciphertext")...), vhex(t, v, "tag")...)

	rx, err := newSKCrypter(s, keymat, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := rx.open(append([]byte{}, wire...), len(aad))
	if err != nil {
		t.Fatal(err)
	}
	if want := pt[:len(pt)-1]; !bytes.Equal(inner, want) || pt[len(pt)-1] != 0 {
		t.Fatalf("inner %x, want %x (plaintext %x)", inner, want, pt)
	}

	tx, _ := newSKCrypter(s, keymat, nil, nil)
	tx.ivCtr = binary.BigEndian.Uint64(iv)
	if tx.sealedLen(len(inner)) != len(wire)-len(aad) {
		t.Fatalf("sealedLen %d, want %d", tx.sealedLen(len(inner)), len(wire)-len(aad))
	}
	got, err := tx.seal(append([]byte{}, aad...), inner)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wire) {
		t.Fatalf("seal:\n got %x\nwant %x", got, wire)
	}
}

// TestSKRoundTrip seals and opens with every suite and inner lengths
// around the block size, and checks the layout against an independent
// computation: for AEADs the AEAD itself with nonce = salt | IV and the
// headers as AAD (RFC 5282 5.1), for CBC an HMAC over everything before the
// checksum and a CBC decryption with the IV in front (RFC 7296 3.14).
func TestSKRoundTrip(t *testing.T) {
	for _, s := range skSuites() {
		t.Run(suiteName(s), func(t *testing.T) {
			ek := make([]byte, s.encr.keyMaterialLen(s.encrBits))
			rand.Read(ek)
			var ik []byte
			if s.integ != nil {
				ik = make([]byte, s.integ.keyLen)
				rand.Read(ik)
			}
			tx, err := newSKCrypter(s, ek, ik, nil)
			if err != nil {
				t.Fatal(err)
			}
			rx, _ := newSKCrypter(s, ek, ik, nil)
			for _, n := range []int{0, 1, 14, 15, 16, 17, 31, 32, 100} {
				inner := make([]byte, n)
				rand.Read(inner)
				hdr := fakeMessage(tx, n)
				msg, err := tx.seal(append([]byte{}, hdr...), inner)
				if err != nil {
					t.Fatal(err)
				}
				if len(msg) != len(hdr)+tx.sealedLen(n) {
					t.Fatalf("n=%d: sealed %d bytes, sealedLen says %d", n, len(msg)-len(hdr), tx.sealedLen(n))
				}
				if !bytes.Equal(msg[:len(hdr)], hdr) {
					t.Fatal("seal changed the headers")
				}
				checkLayout(t, s, ek, ik, msg, len(hdr), inner)
				got, err := rx.open(append([]byte{}, msg...), len(hdr))
				if err != nil {
					t.Fatalf("n=%d: %v", n, err)
				}
				if !bytes.Equal(got, inner) {
					t.Fatalf("n=%d: round trip differs", n)
				}
			}
		})
	}
}

func checkLayout(t *testing.T, s *ikeSuite, ek, ik, msg []byte, off int, inner []byte) {
	t.Helper()
	key, salt := ek[:len(ek)-s.encr.saltLen], ek[len(ek)-s.encr.saltLen:]
	body := msg[off:]
	var pt []byte
	if s.encr.aead {
		var a cipher.AEAD
		if s.encr.id == isakmp.EncrChaCha20Poly1305 {
			ref, _ := newSKCrypter(s, ek, nil, nil)
			a = ref.aead
		} else {
			b, _ := aes.NewCipher(key)
			a, _ = cipher.NewGCMWithTagSize(b, s.encr.icvLen)
		}
		nonce := append(append([]byte{}, salt...), body[:8]...)
		var err error
		pt, err = a.Open(nil, nonce, body[8:], msg[:off])
		if err != nil {
			t.Fatalf("independent AEAD open: %v", err)
		}
	} else {
		h := s.integ.newMAC(ik)
		icv := len(msg) - s.integ.icvLen
		h.Write(msg[:icv])
		if !bytes.Equal(h.Sum(nil)[:s.integ.icvLen], msg[icv:]) {
			t.Fatal("checksum is not the MAC of the preceding bytes")
		}
		b, _ := aes.NewCipher(key)
		ct := body[16 : len(body)-s.integ.icvLen]
		if len(ct)%16 != 0 {
			t.Fatal("ciphertext not block aligned")
		}
		pt = make([]byte, len(ct))
		cipher.NewCBCDecrypter(b, body[:16]).CryptBlocks(pt, ct)
	}
	padLen := int(pt[len(pt)-1])
	if padLen != len(pt)-1-len(inner) || !bytes.Equal(pt[:len(inner)], inner) {
		t.Fatalf("plaintext layout wrong: pad %d, len %d, inner %d", padLen, len(pt), len(inner))
	}
	if s.encr.aead && padLen != 0 {
		t.Fatalf("AEAD padding %d, want 0", padLen)
	}
}

// TestSKTamper: flipping any bit of the message (header, IV, ciphertext,
// checksum) makes open fail with errIntegrity; truncations fail without
// panicking.
func TestSKTamper(t *testing.T) {
	for _, s := range skSuites() {
		t.Run(suiteName(s), func(t *testing.T) {
			ek := make([]byte, s.encr.keyMaterialLen(s.encrBits))
			rand.Read(ek)
			var ik []byte
			if s.integ != nil {
				ik = make([]byte, s.integ.keyLen)
				rand.Read(ik)
			}
			tx, _ := newSKCrypter(s, ek, ik, nil)
			rxp, _ := newSKCrypter(s, ek, ik, nil)
			inner := []byte("inner payloads go here")
			hdr := fakeMessage(tx, len(inner))
			msg, _ := tx.seal(append([]byte{}, hdr...), inner)
			for i := range msg {
				m := append([]byte{}, msg...)
				m[i] ^= 0x40
				if _, err := rxp.open(m, len(hdr)); !errors.Is(err, errIntegrity) {
					t.Fatalf("byte %d flipped: err %v", i, err)
				}
			}
			for l := 0; l < len(msg); l++ {
				if _, err := rxp.open(append([]byte{}, msg[:l]...), len(hdr)); err == nil {
					t.Fatalf("truncated to %d accepted", l)
				}
			}
			if _, err := rxp.open(append([]byte{}, msg...), len(msg)+1); err == nil {
				t.Fatal("offset past the end accepted")
			}
		})
	}
}

// FuzzSKOpen feeds arbitrary messages to open for an AEAD and a CBC suite
// (with fixed keys, so valid seeds reach the padding check).
func FuzzSKOpen(f *testing.F) {
	suites := []*ikeSuite{
		{encr: encrByID(isakmp.EncrAESGCM16), encrBits: 128, prf: prfByID(isakmp.PRFHMACSHA2_256)},
		{encr: encrByID(isakmp.EncrAESCBC), encrBits: 128, integ: integByID(isakmp.IntegHMACSHA2_256_128), prf: prfByID(isakmp.PRFHMACSHA2_256)},
		{encr: encrByID(isakmp.EncrChaCha20Poly1305), prf: prfByID(isakmp.PRFHMACSHA2_256)},
	}
	crypters := make([]*skCrypter, len(suites))
	for i, s := range suites {
		ek := bytes.Repeat([]byte{byte(i + 1)}, s.encr.keyMaterialLen(s.encrBits))
		var ik []byte
		if s.integ != nil {
			ik = bytes.Repeat([]byte{0x55}, s.integ.keyLen)
		}
		c, err := newSKCrypter(s, ek, ik, nil)
		if err != nil {
			f.Fatal(err)
		}
		crypters[i] = c
		for _, n := range []int{0, 5, 40} {
			hdr := fakeMessage(c, n)
			msg, _ := c.seal(append([]byte{}, hdr...), make([]byte, n))
			f.Add(uint8(i), uint16(len(hdr)), msg)
			f.Add(uint8(i), uint16(len(hdr)), msg[:len(msg)-1])
		}
	}
	f.Add(uint8(0), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, suite uint8, off uint16, msg []byte) {
		c := crypters[int(suite)%len(crypters)]
		inner, err := c.open(msg, int(off))
		if err == nil && len(inner) > len(msg) {
			t.Fatal("inner longer than message")
		}
	})
}
