package ike

import (
	"github.com/ipsecgo/ipsec/isakmp"

	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// TestDeriveIKESAKeysCAVP derives the seven IKE SA keys from the NIST CAVP
// SP 800-135 IKEv2 "DKM" vectors of testdata/ikev2_prfplus.json (key =
// SKEYSEED, seed = Ni | Nr | SPIi | SPIr, 32 bytes: 8-byte nonces as in
// CAVP) and checks that SK_d | SK_ai | ... | SK_pr is the published
// keying material, in the order of RFC 7296 2.14. The suite (AES-CBC-128
// with the PRF's own HMAC for integrity) is chosen so that the 132 published
// bytes cover SK_d, SK_ai, SK_ar and part of SK_ei.
func TestDeriveIKESAKeysCAVP(t *testing.T) {
	type pair struct {
		prf   isakmp.PRFID
		integ isakmp.IntegID
	}
	pairs := map[string]pair{
		"prf-plus-sha256-1": {isakmp.PRFHMACSHA2_256, isakmp.IntegHMACSHA2_256_128},
		"prf-plus-sha384-1": {isakmp.PRFHMACSHA2_384, isakmp.IntegHMACSHA2_384_192},
		"prf-plus-sha512-1": {isakmp.PRFHMACSHA2_512, isakmp.IntegHMACSHA2_512_256},
	}
	n := 0
	for _, v := range loadVectors(t, "ikev2_prfplus.json") {
		ids, ok := pairs[v["id"].(string)]
		if !ok {
			continue
		}
		n++
		seed := vhex(t, v, "seed")
		if len(seed) != 32 {
			t.Fatalf("%v: seed %d bytes", v["id"], len(seed))
		}
		var spii, spir [8]byte
		copy(spii[:], seed[16:24])
		copy(spir[:], seed[24:32])
		s := &ikeSuite{encr: encrByID(isakmp.EncrAESCBC), encrBits: 128, integ: integByID(ids.integ), prf: prfByID(ids.prf)}
		k, err := deriveIKESAKeys(s, vhex(t, v, "key"), seed[:8], seed[8:16], spii, spir)
		if err != nil {
			t.Fatal(err)
		}
		var all []byte
		for _, b := range [][]byte{k.d, k.ai, k.ar, k.ei, k.er, k.pi, k.pr} {
			all = append(all, b...)
		}
		want := vhex(t, v, "output")
		if !bytes.Equal(all[:len(want)], want) {
			t.Errorf("%v: keys are not the published DKM", v["id"])
		}
		pl, il := s.prf.keyLen, s.integ.keyLen
		if len(k.d) != pl || len(k.ai) != il || len(k.ar) != il || len(k.ei) != 16 || len(k.er) != 16 || len(k.pi) != pl || len(k.pr) != pl {
			t.Errorf("%v: key lengths %d %d %d %d %d %d %d", v["id"], len(k.d), len(k.ai), len(k.ar), len(k.ei), len(k.er), len(k.pi), len(k.pr))
		}
		full, _ := s.prf.prfPlus(vhex(t, v, "key"), seed, len(all))
		if !bytes.Equal(all, full) {
			t.Errorf("%v: keys are not prf+ in order", v["id"])
		}
	}
	if n != 3 {
		t.Fatalf("checked %d vectors", n)
	}
}

// TestChildKeymatCAVP checks KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)
// (RFC 7296 2.17) against the CAVP "DKM(Child SA D-H)" vectors: key =
// SK_d, seed = g^ir | Ni | Nr (256 + 2 x 136 bytes).
func TestChildKeymatCAVP(t *testing.T) {
	ids := map[string]isakmp.PRFID{"prf-plus-sha256-2": isakmp.PRFHMACSHA2_256, "prf-plus-sha384-2": isakmp.PRFHMACSHA2_384, "prf-plus-sha512-2": isakmp.PRFHMACSHA2_512}
	n := 0
	for _, v := range loadVectors(t, "ikev2_prfplus.json") {
		id, ok := ids[v["id"].(string)]
		if !ok {
			continue
		}
		n++
		seed, want := vhex(t, v, "seed"), vhex(t, v, "output")
		gir, ni, nr := seed[:256], seed[256:392], seed[392:]
		got, err := childKeymat(prfByID(id), vhex(t, v, "key"), gir, ni, nr, len(want))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v: KEYMAT differs", v["id"])
		}
	}
	if n != 3 {
		t.Fatalf("checked %d vectors", n)
	}
}

// TestSKEYSEED checks SKEYSEED = prf(Ni | Nr, g^ir) and the rekey form
// prf(SK_d, g^ir | Ni | Nr) against crypto/hmac directly, and the RFC 7296
// 2.14 rule that AES-XCBC-PRF-128 keys on the first 64 bits of each nonce.
func TestSKEYSEED(t *testing.T) {
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	gir := bytes.Repeat([]byte{3}, 256)
	h := hmac.New(sha256.New, append(append([]byte{}, ni...), nr...))
	h.Write(gir)
	p := prfByID(isakmp.PRFHMACSHA2_256)
	if got := skeyseed(p, ni, nr, gir); !bytes.Equal(got, h.Sum(nil)) {
		t.Error("SKEYSEED differs from HMAC(Ni|Nr, g^ir)")
	}
	skd := bytes.Repeat([]byte{4}, 32)
	h = hmac.New(sha256.New, skd)
	h.Write(gir)
	h.Write(ni)
	h.Write(nr)
	if got := rekeySKEYSEED(p, skd, gir, ni, nr); !bytes.Equal(got, h.Sum(nil)) {
		t.Error("rekey SKEYSEED differs from HMAC(SK_d, g^ir|Ni|Nr)")
	}
	x := prfByID(isakmp.PRFAES128XCBC)
	want := x.sum(append(append([]byte{}, ni[:8]...), nr[:8]...), gir)
	if got := skeyseed(x, ni, nr, gir); !bytes.Equal(got, want) {
		t.Error("XCBC SKEYSEED does not use 64 bits of each nonce")
	}
	ni2 := append(append([]byte{}, ni[:8]...), bytes.Repeat([]byte{9}, 24)...)
	if !bytes.Equal(skeyseed(x, ni2, nr, gir), want) {
		t.Error("XCBC SKEYSEED depends on nonce bits past 64")
	}
}

// TestDeriveIKESAKeysLengths: every suite gets keys of the lengths its
// transforms need (AEAD: no SK_a, key plus 4-byte salt).
func TestDeriveIKESAKeysLengths(t *testing.T) {
	for _, s := range skSuites() {
		for _, p := range prfAlgs {
			s.prf = p
			k, err := deriveIKESAKeys(s, make([]byte, p.size), make([]byte, 32), make([]byte, 32), [8]byte{1}, [8]byte{2})
			if err != nil {
				t.Fatal(err)
			}
			al := 0
			if s.integ != nil {
				al = s.integ.keyLen
			}
			el := s.encr.keyMaterialLen(s.encrBits)
			if len(k.d) != p.keyLen || len(k.pi) != p.keyLen || len(k.pr) != p.keyLen ||
				len(k.ai) != al || len(k.ar) != al || len(k.ei) != el || len(k.er) != el {
				t.Fatalf("%s/%s: wrong key lengths", suiteName(s), p.name)
			}
			if _, err := newSKCrypter(s, k.ei, k.ai, nil); err != nil {
				t.Fatalf("%s/%s: %v", suiteName(s), p.name, err)
			}
		}
	}
}
