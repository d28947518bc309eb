package ike

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"testing"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// TestKDFVectorsV1 checks the IKEv1 key derivation against NIST CAVP SP
// 800-135 IKEv1 sample vectors, signature (DSA) and pre-shared key modes,
// for SHA-1 and SHA-2, and the Appendix B expansions against NSS's
// vectors (source in testdata/ikev1_kdf_cavp.json).
func TestKDFVectorsV1(t *testing.T) {
	raw, err := os.ReadFile("testdata/ikev1_kdf_cavp.json")
	if err != nil {
		t.Fatal(err)
	}
	type expand struct {
		Key, Seed string
		Out       []string
	}
	var doc struct {
		Vectors map[string]struct {
			Sig   struct{ Gxy, Ni, Nr, Skeyid string }
			Chain struct {
				Skeyid, Gxy string
				CkyI        string `json:"cky_i"`
				CkyR        string `json:"cky_r"`
				SkeyidD     string `json:"skeyid_d"`
				SkeyidA     string `json:"skeyid_a"`
				SkeyidE     string `json:"skeyid_e"`
			}
			PSK   struct{ PSK, Ni, Nr, Skeyid string }
			AppB  expand
			Quick expand
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	hashes := map[string]*v1HashAlg{"sha1": v1HashByID(isakmp.V1HashSHA1), "sha256": v1HashByID(isakmp.V1HashSHA2256),
		"sha384": v1HashByID(isakmp.V1HashSHA2384), "sha512": v1HashByID(isakmp.V1HashSHA2512)}
	if len(doc.Vectors) != len(hashes) {
		t.Fatalf("%d vector sets", len(doc.Vectors))
	}
	x := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cky := func(s string) (c [8]byte) {
		copy(c[:], x(s))
		return c
	}
	eq := func(name string, got []byte, want string) {
		t.Helper()
		if !bytes.Equal(got, x(want)) {
			t.Errorf("%s:\n got %x\nwant %s", name, got, want)
		}
	}
	for name, v := range doc.Vectors {
		h := hashes[name]
		if h == nil {
			t.Fatalf("unknown hash %q", name)
		}
		if v.Sig.Skeyid == "" || v.Chain.SkeyidE == "" || v.Chain.CkyI == "" || v.PSK.Skeyid == "" ||
			len(v.AppB.Out) != 3 || len(v.Quick.Out) != 3 || v.Quick.Seed == "" {
			t.Fatalf("%s: incomplete vector set", name)
		}
		eq(name+" SKEYID (signature)", v1SKEYIDSig(h, x(v.Sig.Ni), x(v.Sig.Nr), x(v.Sig.Gxy)), v.Sig.Skeyid)
		k := v1DeriveKeys(h, x(v.Chain.Skeyid), x(v.Chain.Gxy), cky(v.Chain.CkyI), cky(v.Chain.CkyR), 16)
		eq(name+" SKEYID_d", k.d, v.Chain.SkeyidD)
		eq(name+" SKEYID_a", k.a, v.Chain.SkeyidA)
		eq(name+" SKEYID_e", k.e, v.Chain.SkeyidE)
		eq(name+" cipher key", k.enc, v.Chain.SkeyidE[:32])
		psk, err := auth.NewPSK(x(v.PSK.PSK), auth.PSKOptions{AllowShort: true})
		if err != nil {
			t.Fatal(err)
		}
		eq(name+" SKEYID (pre-shared key)", v1SKEYIDPSK(h, psk, x(v.PSK.Ni), x(v.PSK.Nr)), v.PSK.Skeyid)
		for _, out := range v.AppB.Out {
			eq(name+" Appendix B", v1ExpandKey(h, x(v.AppB.Key), len(out)/2), out)
		}
		for _, out := range v.Quick.Out {
			eq(name+" Appendix B with seed", v1ExpandSeeded(h, x(v.Quick.Key), x(v.Quick.Seed), len(out)/2), out)
		}
	}
}

// TestMODP1024PrimeV1 checks the legacy Oakley group 2 prime: a safe prime whose
// top and bottom 64 bits are ones and whose middle shares the digits of pi
// with the RFC 3526 primes (RFC 2409 6.2 and RFC 3526 share the formula).
func TestMODP1024PrimeV1(t *testing.T) {
	p := modp1024.p
	if p.BitLen() != 1024 || !p.ProbablyPrime(20) {
		t.Fatal("not a 1024-bit prime")
	}
	q := new(big.Int).Rsh(p, 1)
	if !q.ProbablyPrime(20) {
		t.Fatal("not a safe prime")
	}
	// 2^1024 - 2^960 - 1 + 2^64 * (...): the top 64 bits and the bottom
	// 64 bits are all ones.
	b := p.Bytes()
	for i := 0; i < 8; i++ {
		if b[i] != 0xff || b[len(b)-1-i] != 0xff {
			t.Fatal("top or bottom 64 bits are not all ones")
		}
	}
	// [2^894 pi] is the prefix of [2^1918 pi]: compare with MODP-2048.
	m2048 := dhGroupByID(isakmp.GroupMODP2048).p.Bytes()
	if !bytes.Equal(b[8:8+100], m2048[8:8+100]) {
		t.Fatal("the pi digits differ from RFC 3526's")
	}
}
