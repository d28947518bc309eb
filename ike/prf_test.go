package ike

import (
	"github.com/ipsecgo/ipsec/isakmp"

	"bytes"
	"crypto/rand"
	"testing"
)

// TestPRFKnownAnswers checks each PRF against the RFC vectors in testdata:
// RFC 2202 3 (HMAC-SHA1), RFC 4868 2.7.1 PRF-1..6 (HMAC-SHA2-256/384/512),
// RFC 4434 (AES-XCBC-PRF-128 with 16-, 10- and 18-byte keys) and RFC 3566 4
// (AES-XCBC-MAC, the same function with a 16-byte key).
func TestPRFKnownAnswers(t *testing.T) {
	byHash := map[string]*prfAlg{
		"sha1": prfByID(isakmp.PRFHMACSHA1), "sha256": prfByID(isakmp.PRFHMACSHA2_256),
		"sha384": prfByID(isakmp.PRFHMACSHA2_384), "sha512": prfByID(isakmp.PRFHMACSHA2_512),
	}
	n := 0
	for _, file := range []string{"rfc2202_hmac_sha1.json", "rfc4868_hmac_sha2_ipsec.json"} {
		for _, v := range loadVectors(t, file) {
			p := byHash[v["hash"].(string)]
			if p == nil {
				t.Fatalf("%v: unknown hash", v["id"])
			}
			got := p.sum(vhex(t, v, "key"), vhex(t, v, "data"))
			if want := vhex(t, v, "mac"); !bytes.Equal(got, want) {
				t.Errorf("%v: got %x want %x", v["id"], got, want)
			}
			n++
		}
	}
	xcbc := prfByID(isakmp.PRFAES128XCBC)
	for _, v := range loadVectors(t, "rfc4434_aes_xcbc_prf_128.json") {
		got := xcbc.sum(vhex(t, v, "key"), vhex(t, v, "message"))
		if want := vhex(t, v, "prf_output"); !bytes.Equal(got, want) {
			t.Errorf("%v: got %x want %x", v["id"], got, want)
		}
		n++
	}
	integ := integByID(isakmp.IntegAESXCBC96)
	for _, v := range loadVectors(t, "rfc3566_aes_xcbc_mac_96.json") {
		got := xcbc.sum(vhex(t, v, "key"), vhex(t, v, "message"))
		if want := vhex(t, v, "mac"); !bytes.Equal(got, want) {
			t.Errorf("%v: got %x want %x", v["id"], got, want)
		}
		h := integ.newMAC(vhex(t, v, "key"))
		h.Write(vhex(t, v, "message"))
		if got, want := h.Sum(nil)[:integ.icvLen], vhex(t, v, "mac_96"); !bytes.Equal(got, want) {
			t.Errorf("%v: AUTH_AES_XCBC_96 got %x want %x", v["id"], got, want)
		}
		n++
	}
	if n < 40 {
		t.Fatalf("only %d vectors checked", n)
	}
}

// TestPRFPlusKnownAnswers checks prf+ (RFC 7296 2.13) against strongSwan's
// kdf_prf_plus.c vectors (six from NIST CAVP SP 800-135 IKEv2, one derived
// from RFC 4868), testdata/ikev2_prfplus.json.
func TestPRFPlusKnownAnswers(t *testing.T) {
	byName := map[string]*prfAlg{
		"hmac-sha256": prfByID(isakmp.PRFHMACSHA2_256), "hmac-sha384": prfByID(isakmp.PRFHMACSHA2_384),
		"hmac-sha512": prfByID(isakmp.PRFHMACSHA2_512),
	}
	for _, v := range loadVectors(t, "ikev2_prfplus.json") {
		p := byName[v["prf"].(string)]
		want := vhex(t, v, "output")
		got, err := p.prfPlus(vhex(t, v, "key"), vhex(t, v, "seed"), len(want))
		if err != nil {
			t.Fatalf("%v: %v", v["id"], err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v:\n got %x\nwant %x", v["id"], got, want)
		}
		// Every shorter output is a prefix (prf+ is a stream).
		short, _ := p.prfPlus(vhex(t, v, "key"), vhex(t, v, "seed"), len(want)/3)
		if !bytes.Equal(short, want[:len(want)/3]) {
			t.Errorf("%v: short output is not a prefix", v["id"])
		}
	}
}

// TestPRFPlusReference compares prf+ with a literal transcription of the
// RFC 7296 2.13 definition, for every PRF and lengths around block
// boundaries, and checks the 255-block limit.
func TestPRFPlusReference(t *testing.T) {
	ref := func(p *prfAlg, k, s []byte, n int) []byte {
		var out, prev []byte
		for i := 1; len(out) < n; i++ {
			in := append(append(append([]byte{}, prev...), s...), byte(i))
			prev = p.sum(k, in)
			out = append(out, prev...)
		}
		return out[:n]
	}
	key := make([]byte, 37)
	seed := make([]byte, 53)
	rand.Read(key)
	rand.Read(seed)
	for _, p := range prfAlgs {
		for _, n := range []int{0, 1, p.size - 1, p.size, p.size + 1, 7*p.size + 3, 255 * p.size} {
			got, err := p.prfPlus(key, seed, n)
			if err != nil {
				t.Fatalf("%s n=%d: %v", p.name, n, err)
			}
			if want := ref(p, key, seed, n); !bytes.Equal(got, want) {
				t.Fatalf("%s n=%d: differs from the reference", p.name, n)
			}
		}
		if _, err := p.prfPlus(key, seed, 255*p.size+1); err == nil {
			t.Errorf("%s: prf+ beyond 255 blocks accepted", p.name)
		}
	}
}

// TestXCBCStreaming checks that writing in pieces gives the one-shot MAC,
// and that Sum does not disturb the state.
func TestXCBCStreaming(t *testing.T) {
	msg := make([]byte, 100)
	rand.Read(msg)
	key := make([]byte, 16)
	rand.Read(key)
	for l := 0; l <= len(msg); l++ {
		one := newXCBCPRF(key)
		one.Write(msg[:l])
		want := one.Sum(nil)
		for _, step := range []int{1, 5, 16, 17} {
			h := newXCBCPRF(key)
			for i := 0; i < l; i += step {
				h.Write(msg[i:min(i+step, l)])
				h.Sum(nil)
			}
			if got := h.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("len %d step %d: %x != %x", l, step, got, want)
			}
			h.Reset()
			h.Write(msg[:l])
			if got := h.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("len %d: after Reset %x != %x", l, got, want)
			}
		}
	}
}
