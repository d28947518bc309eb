package aesgcm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
)

// reference is crypto/cipher's GCM, the model the fast one is held to.
func reference(t testing.TB, key []byte, tagSize int) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCMWithTagSize(b, tagSize)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestWycheproof runs the Wycheproof AES-GCM vectors with a 96-bit IV
// (testdata/aes_gcm_test.json, C2SP/wycheproof testvectors_v1) through New.
func TestWycheproof(t *testing.T) {
	raw, err := os.ReadFile("testdata/aes_gcm_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		TestGroups []struct {
			IVSize, KeySize, TagSize int
			Tests                    []struct {
				TcID                               int
				Key, IV, AAD, Msg, CT, Tag, Result string
			}
		}
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	n := 0
	for _, g := range f.TestGroups {
		if g.IVSize != 96 || g.TagSize/8 < MinTagSize {
			continue
		}
		for _, tc := range g.Tests {
			a, err := New(h(tc.Key), g.TagSize/8)
			if err != nil {
				t.Fatalf("tc %d: %v", tc.TcID, err)
			}
			msg, ct, aad := h(tc.Msg), append(h(tc.CT), h(tc.Tag)...), h(tc.AAD)
			pt, err := a.Open(nil, h(tc.IV), ct, aad)
			if tc.Result == "invalid" {
				if err == nil {
					t.Errorf("tc %d: Open accepted an invalid message", tc.TcID)
				}
				continue
			}
			if err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("tc %d: Open = %x, %v; want %x", tc.TcID, pt, err, msg)
			}
			if got := a.Seal(nil, h(tc.IV), msg, aad); !bytes.Equal(got, ct) {
				t.Errorf("tc %d: Seal = %x, want %x", tc.TcID, got, ct)
			}
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d vectors ran", n)
	}
	t.Logf("%d vectors, fast implementation: %v", n, Fast())
}

// TestDifferential holds New's AEAD to crypto/cipher's on random keys,
// nonces, tag sizes and AAD, at every length to 2 KiB (so across every
// loop boundary of the assembly: 16, 64 and 256 bytes, and runs of 32
// blocks) and a few longer, in place and not, and checks that a flipped
// bit anywhere fails Open and clears the output.
func TestDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var lengths []int
	for n := range 2100 { // every length to 2 KiB: 0 to 131 blocks, every tail, 1 to 5 runs
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 4096+17, 65535, 1<<20+5)
	for i, n := range lengths {
		key := make([]byte, []int{16, 24, 32}[i%3])
		fill(rng, key)
		tagSize := MinTagSize + i%(TagSize-MinTagSize+1)
		a, err := New(key, tagSize)
		if err != nil {
			t.Fatal(err)
		}
		ref := reference(t, key, tagSize)
		nonce, pt, ad := make([]byte, NonceSize), make([]byte, n), make([]byte, []int{0, 8, 12, 20, 300}[i%5])
		fill(rng, nonce)
		fill(rng, pt)
		fill(rng, ad)
		want := ref.Seal(nil, nonce, pt, ad)
		got := a.Seal([]byte("prefix"), nonce, pt, ad)
		if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
			t.Fatalf("len %d key %d tag %d: Seal differs from crypto/cipher", n, len(key), tagSize)
		}
		// In place, as ESP seals and opens.
		buf := make([]byte, n, n+TagSize)
		copy(buf, pt)
		if sealed := a.Seal(buf[:0], nonce, buf, ad); !bytes.Equal(sealed, want) {
			t.Fatalf("len %d: in-place Seal differs", n)
		}
		opened, err := a.Open(buf[:0], nonce, buf[:n+tagSize], ad)
		if err != nil || !bytes.Equal(opened, pt) {
			t.Fatalf("len %d: in-place Open = %v", n, err)
		}
		// A flipped bit in ciphertext, tag or AAD.
		bad := bytes.Clone(want)
		bit := rng.IntN(8 * (len(bad) + len(ad)))
		badAD := bytes.Clone(ad)
		if bit < 8*len(bad) {
			bad[bit/8] ^= 1 << (bit % 8)
		} else {
			badAD[bit/8-len(bad)] ^= 1 << (bit % 8)
		}
		out := make([]byte, n)
		fill(rng, out)
		if _, err := a.Open(out[:0], nonce, bad, badAD); err == nil {
			t.Fatalf("len %d: Open accepted a flipped bit %d", n, bit)
		}
		if !bytes.Equal(out, make([]byte, n)) {
			t.Fatalf("len %d: a failed Open left output behind", n)
		}
	}
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(make([]byte, 15), 16); err == nil {
		t.Error("New took a 15-byte key")
	}
	for _, n := range []int{11, 17} {
		if _, err := New(make([]byte, 16), n); err == nil {
			t.Errorf("New took a %d-byte tag", n)
		}
	}
	a, err := New(make([]byte, 16), 16)
	if err != nil {
		t.Fatal(err)
	}
	if a.NonceSize() != NonceSize || a.Overhead() != 16 {
		t.Errorf("NonceSize, Overhead = %d, %d", a.NonceSize(), a.Overhead())
	}
	if _, err := a.Open(nil, make([]byte, NonceSize), make([]byte, 15), nil); err == nil {
		t.Error("Open took a message shorter than the tag")
	}
}

// FuzzOpen feeds arbitrary messages, keys and AAD to Open and checks it
// agrees with crypto/cipher, and that Seal does.
func FuzzOpen(f *testing.F) {
	f.Add(make([]byte, 16), make([]byte, 12), []byte{}, make([]byte, 40))
	f.Add(make([]byte, 32), make([]byte, 12), make([]byte, 8), make([]byte, 300))
	f.Fuzz(func(t *testing.T, key, nonce, ad, msg []byte) {
		if len(key) != 16 && len(key) != 24 && len(key) != 32 || len(nonce) != NonceSize {
			return
		}
		a, err := New(key, TagSize)
		if err != nil {
			t.Fatal(err)
		}
		ref := reference(t, key, TagSize)
		got, err := a.Open(nil, nonce, msg, ad)
		want, werr := ref.Open(nil, nonce, msg, ad)
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("Open = %x, %v; crypto/cipher %x, %v", got, err, want, werr)
		}
		if !bytes.Equal(a.Seal(nil, nonce, msg, ad), ref.Seal(nil, nonce, msg, ad)) {
			t.Fatal("Seal differs from crypto/cipher")
		}
	})
}

// BenchmarkSeal and BenchmarkOpen seal and open an ESP-sized packet (1400
// bytes, 8 bytes of AAD) with New's AEAD and, as the baseline in the
// same run, crypto/cipher's GCM.
func BenchmarkSeal(b *testing.B) { benchAEAD(b, false) }
func BenchmarkOpen(b *testing.B) { benchAEAD(b, true) }

func benchAEAD(b *testing.B, open bool) {
	key := make([]byte, 16)
	fast, err := New(key, TagSize)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a    cipher.AEAD
	}{{"crypto-cipher", reference(b, key, TagSize)}, {"aesgcm", fast}} {
		b.Run(c.name, func(b *testing.B) {
			nonce, ad := make([]byte, NonceSize), make([]byte, 8)
			buf := make([]byte, 1400, 1400+TagSize)
			sealed := c.a.Seal(nil, nonce, buf, ad)
			b.SetBytes(1400)
			for b.Loop() {
				if open {
					copy(buf[:cap(buf)], sealed)
					if _, err := c.a.Open(buf[:0], nonce, buf[:cap(buf)], ad); err != nil {
						b.Fatal(err)
					}
				} else {
					c.a.Seal(buf[:0], nonce, buf, ad)
				}
			}
		})
	}
}
