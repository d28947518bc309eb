package ike

import (
	"github.com/ipsecgo/ipsec/isakmp"

	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// wycheproofECDH is the shape of the Wycheproof XDH and ECDH (ecpoint)
// files in testdata/wycheproof, copied unchanged from C2SP/wycheproof
// testvectors_v1 at commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166
// (Apache-2.0, testdata/wycheproof/LICENSE).
type wycheproofECDH struct {
	TestGroups []struct {
		Curve string `json:"curve"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Public  string   `json:"public"`
			Private string   `json:"private"`
			Shared  string   `json:"shared"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func loadWycheproof(t *testing.T, name string) wycheproofECDH {
	b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		t.Fatal(err)
	}
	var w wycheproofECDH
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestX25519Wycheproof runs every Wycheproof X25519 vector through the
// IKEv2 Curve25519 group. Valid vectors must agree; vectors whose shared
// secret is all zero must be rejected (RFC 8031 2.3); the other
// "acceptable" ones (twist points, non-canonical encodings) must agree if
// accepted.
func TestX25519Wycheproof(t *testing.T) {
	g := dhGroupByID(isakmp.GroupCurve25519)
	w := loadWycheproof(t, "x25519_test.json")
	n := 0
	for _, tg := range w.TestGroups {
		for _, tc := range tg.Tests {
			priv, err := g.curve.NewPrivateKey(mustHex(tc.Private))
			if err != nil {
				t.Fatalf("tc %d: private key: %v", tc.TcID, err)
			}
			k := &keyExchange{group: g}
			k.setECDH(priv)
			got, err := k.sharedSecret(mustHex(tc.Public))
			zero := slices.Contains(tc.Flags, "ZeroSharedSecret")
			switch {
			case zero && err == nil:
				t.Errorf("tc %d (%s): all-zero shared secret accepted", tc.TcID, tc.Comment)
			case zero:
			case tc.Result == "invalid" && err == nil:
				t.Errorf("tc %d (%s): invalid vector accepted", tc.TcID, tc.Comment)
			case tc.Result == "valid" && err != nil:
				t.Errorf("tc %d (%s): %v", tc.TcID, tc.Comment, err)
			case err == nil && !bytes.Equal(got, mustHex(tc.Shared)):
				t.Errorf("tc %d (%s): shared %x want %s", tc.TcID, tc.Comment, got, tc.Shared)
			}
			n++
		}
	}
	if n != 518 {
		t.Fatalf("ran %d vectors, the file has 518", n)
	}
}

// TestECPWycheproof runs the Wycheproof ECDH ecpoint vectors for P-256 and
// P-384 through groups 19 and 20. IKEv2 carries x | y without the SEC1
// prefix (RFC 5903 7), so a vector whose public value is an uncompressed
// point is fed without its 0x04; any other encoding (compressed, malformed)
// cannot be expressed in IKEv2 and must be rejected by the length check.
// Invalid vectors (points not on the curve: invalid-curve attacks) must be
// rejected (RFC 6989 2.3); valid ones must give the x coordinate.
func TestECPWycheproof(t *testing.T) {
	for _, c := range []struct {
		file  string
		group isakmp.KEGroup
		tests int
	}{
		{"ecdh_secp256r1_ecpoint_test.json", isakmp.GroupECP256, 355},
		{"ecdh_secp384r1_ecpoint_test.json", isakmp.GroupECP384, 790},
	} {
		g := dhGroupByID(c.group)
		coord := g.pubLen / 2
		w := loadWycheproof(t, c.file)
		n := 0
		for _, tg := range w.TestGroups {
			for _, tc := range tg.Tests {
				n++
				// Wycheproof private keys are big-endian integers, possibly
				// with a leading zero or shorter than the field.
				d := new(big.Int).SetBytes(mustHex(tc.Private))
				if d.BitLen() > coord*8 {
					t.Fatalf("tc %d: private key too long", tc.TcID)
				}
				priv, err := g.curve.NewPrivateKey(d.FillBytes(make([]byte, coord)))
				if err != nil {
					t.Fatalf("tc %d: private key: %v", tc.TcID, err)
				}
				k := &keyExchange{group: g}
				k.setECDH(priv)
				pub := mustHex(tc.Public)
				uncompressed := len(pub) == 1+g.pubLen && pub[0] == 4
				if uncompressed {
					pub = pub[1:]
				}
				got, err := k.sharedSecret(pub)
				switch {
				case tc.Result == "valid" && !uncompressed:
					t.Fatalf("tc %d: valid vector not in uncompressed form", tc.TcID)
				case tc.Result == "valid" && err != nil:
					t.Errorf("tc %d (%s): %v", tc.TcID, tc.Comment, err)
				case tc.Result == "valid" && !bytes.Equal(got, mustHex(tc.Shared)):
					t.Errorf("tc %d (%s): shared %x want %s", tc.TcID, tc.Comment, got, tc.Shared)
				case tc.Result == "invalid" && err == nil:
					t.Errorf("tc %d (%s): invalid vector accepted", tc.TcID, tc.Comment)
				case tc.Result == "acceptable" && uncompressed:
					t.Fatalf("tc %d: unexpected acceptable uncompressed vector", tc.TcID)
				case tc.Result == "acceptable" && err == nil:
					t.Errorf("tc %d (%s): compressed point accepted", tc.TcID, tc.Comment)
				}
			}
		}
		if n != c.tests {
			t.Fatalf("%s: ran %d vectors, want %d", c.file, n, c.tests)
		}
	}
}

// TestMODPPrimes re-checks the built-in RFC 3526 primes: the length, the
// 64 one bits at each end that the defining formula
// p = 2^N - 2^(N-64) - 1 + 2^64 * ( [2^(N-130) pi] + c ) produces, and
// that p and (p-1)/2 are prime (the groups are safe-prime groups).
func TestMODPPrimes(t *testing.T) {
	ones := new(big.Int).SetUint64(^uint64(0))
	for _, c := range []struct {
		id   isakmp.KEGroup
		bits int
	}{{isakmp.GroupMODP2048, 2048}, {isakmp.GroupMODP3072, 3072}, {isakmp.GroupMODP4096, 4096}} {
		g := dhGroupByID(c.id)
		p := g.p
		if p.BitLen() != c.bits || g.pubLen != c.bits/8 {
			t.Fatalf("group %d: %d bits", c.id, p.BitLen())
		}
		low := new(big.Int).And(p, ones)
		high := new(big.Int).Rsh(p, uint(c.bits-64))
		if low.Cmp(ones) != 0 || high.Cmp(ones) != 0 {
			t.Errorf("group %d: top or bottom 64 bits are not all ones", c.id)
		}
		q := new(big.Int).Rsh(p, 1)
		if !p.ProbablyPrime(8) || !q.ProbablyPrime(8) {
			t.Errorf("group %d: not a safe prime", c.id)
		}
	}
	// The first 64 bits after the leading ones are those of pi in the
	// formula: 0xC90FDAA22168C234 is pi * 2^62, the same for all three.
	for _, id := range []isakmp.KEGroup{isakmp.GroupMODP2048, isakmp.GroupMODP3072, isakmp.GroupMODP4096} {
		p := dhGroupByID(id).p
		mid := new(big.Int).Rsh(p, uint(p.BitLen()-128))
		if got := mid.Uint64(); got != 0xC90FDAA22168C234 {
			t.Errorf("group %d: pi bits %x", id, got)
		}
	}
}

// TestKeyExchangeAgreement runs both sides of every group and checks that
// they agree and that the values have the lengths RFC 7296 3.4 requires.
func TestKeyExchangeAgreement(t *testing.T) {
	for _, g := range dhGroups {
		t.Run(g.name, func(t *testing.T) {
			a, err := g.generate(nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := g.generate(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.public()) != g.pubLen || len(b.public()) != g.pubLen {
				t.Fatalf("public lengths %d, %d, want %d", len(a.public()), len(b.public()), g.pubLen)
			}
			s1, err := a.sharedSecret(b.public())
			if err != nil {
				t.Fatal(err)
			}
			s2, err := b.sharedSecret(a.public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s1, s2) {
				t.Fatal("shared secrets differ")
			}
			want := g.pubLen
			if g.kind == dhECP {
				want = g.pubLen / 2
			}
			if len(s1) != want {
				t.Fatalf("shared secret length %d, want %d", len(s1), want)
			}
		})
	}
}

// TestMODPRejects checks the RFC 6989 2.1 range check and the RFC 7296 3.4
// length rule: 0, 1, p-1, p and values of the wrong length are refused.
func TestMODPRejects(t *testing.T) {
	for _, id := range []isakmp.KEGroup{isakmp.GroupMODP2048, isakmp.GroupMODP3072, isakmp.GroupMODP4096} {
		g := dhGroupByID(id)
		k, err := g.generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		enc := func(v *big.Int) []byte { return v.FillBytes(make([]byte, g.pubLen)) }
		pm1 := new(big.Int).Sub(g.p, big.NewInt(1))
		bad := map[string][]byte{
			"zero":  enc(big.NewInt(0)),
			"one":   enc(big.NewInt(1)),
			"p-1":   enc(pm1),
			"p":     enc(g.p),
			"short": enc(big.NewInt(2))[1:],
			"long":  append([]byte{0}, enc(big.NewInt(2))...),
			"empty": nil,
			"max":   bytes.Repeat([]byte{0xff}, g.pubLen),
		}
		for name, v := range bad {
			if _, err := k.sharedSecret(v); err == nil {
				t.Errorf("group %d: %s accepted", id, name)
			}
		}
		if _, err := k.sharedSecret(enc(big.NewInt(2))); err != nil {
			t.Errorf("group %d: 2 rejected: %v", id, err)
		}
		if _, err := k.sharedSecret(enc(new(big.Int).Sub(g.p, big.NewInt(2)))); err != nil {
			t.Errorf("group %d: p-2 rejected: %v", id, err)
		}
	}
}

// TestECPRejects: points off the curve, the point at infinity's encodings
// and wrong lengths are refused for 19, 20, 21 and 31.
func TestECPRejects(t *testing.T) {
	for _, g := range dhGroups {
		if g.kind == dhMODP {
			continue
		}
		k, err := g.generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		good := append([]byte(nil), k.public()...)
		cases := map[string][]byte{
			"empty": nil,
			"short": good[:len(good)-1],
			"long":  append(append([]byte(nil), good...), 0),
			"zero":  make([]byte, g.pubLen),
		}
		if g.kind == dhECP {
			off := append([]byte(nil), good...)
			off[len(off)-1] ^= 1 // y changed: not on the curve
			cases["off-curve"] = off
			cases["sec1-prefixed"] = append([]byte{4}, good[:len(good)-1]...)
		}
		for name, v := range cases {
			if _, err := k.sharedSecret(v); err == nil {
				t.Errorf("%s: %s accepted", g.name, name)
			}
		}
	}
}

// FuzzKeyExchange feeds arbitrary peer values to every group: no panics,
// and anything accepted has the right length.
func FuzzKeyExchange(f *testing.F) {
	kx := map[isakmp.KEGroup]*keyExchange{}
	for _, g := range dhGroups {
		k, err := g.generate(nil)
		if err != nil {
			f.Fatal(err)
		}
		kx[g.id] = k
		f.Add(uint8(g.id), k.public())
		f.Add(uint8(g.id), make([]byte, g.pubLen))
		f.Add(uint8(g.id), k.public()[1:])
	}
	f.Add(uint8(isakmp.GroupECP256), mustHex(hex.EncodeToString(bytes.Repeat([]byte{0xff}, 64))))
	f.Fuzz(func(t *testing.T, id uint8, peer []byte) {
		k := kx[isakmp.KEGroup(id)]
		if k == nil {
			return
		}
		s, err := k.sharedSecret(peer)
		if err == nil && len(peer) != k.group.pubLen {
			t.Fatalf("accepted %d bytes", len(peer))
		}
		if err == nil && len(s) == 0 {
			t.Fatal("empty secret")
		}
	})
}
