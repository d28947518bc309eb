//go:build amd64 && !purego

package aesgcm

import (
	"crypto/aes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"regexp"
	"strconv"
	"testing"
	"unsafe"
)

// TestExpandKey checks SubWord and the last round key of the key
// expansion examples in FIPS 197 Appendix A.1 to A.3.
func TestExpandKey(t *testing.T) {
	// S-box values from FIPS 197 Figure 7: S(00) = 63, S(01) = 7c,
	// S(53) = ed, S(ff) = 16.
	if got := subWord(0x000153ff); got != 0x637ced16 {
		t.Errorf("subWord(000153ff) = %08x, want 637ced16", got)
	}
	for _, tc := range []struct {
		key, last string
		rounds    int
	}{
		{"2b7e151628aed2a6abf7158809cf4f3c", "d014f9a8c9ee2589e13f0cc8b6630ca6", 10},
		{"8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "e98ba06f448c773c8ecc720401002202", 12},
		{"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "fe4890d1e6188d0b046df344706c631e", 14},
	} {
		key, _ := hex.DecodeString(tc.key)
		var rk [15][16]byte
		if r := expandKey(&rk, key); r != tc.rounds {
			t.Errorf("%d-byte key: %d rounds, want %d", len(key), r, tc.rounds)
		}
		if got := hex.EncodeToString(rk[tc.rounds][:]); got != tc.last {
			t.Errorf("%d-byte key: last round key %s, want %s", len(key), got, tc.last)
		}
	}
}

// TestHashKey checks the table of powers that the assembly built against
// a model in software: schoolbook carry-less products and the same
// two-fold reduction, for a few hash keys.
func TestHashKey(t *testing.T) {
	for _, key := range []string{"00000000000000000000000000000000", "feffe9928665731c6d6a8f9467308308", "2b7e151628aed2a6abf7158809cf4f3c"} {
		k, _ := hex.DecodeString(key)
		b, err := aes.NewCipher(k)
		if err != nil {
			t.Fatal(err)
		}
		var h [16]byte
		b.Encrypt(h[:], h[:])
		var got hashTable
		hashKey(&got, &h)
		var want hashTable
		want.put(hashPowers-1, &h)
		one := u128{lo: binary.LittleEndian.Uint64(want[0][hashPowers-1][:8]), hi: binary.LittleEndian.Uint64(want[0][hashPowers-1][8:])}
		p := one
		for e := hashPowers - 2; e >= 0; e-- {
			p = gfMul(p, one)
			binary.LittleEndian.PutUint64(want[0][e][:8], p.lo)
			binary.LittleEndian.PutUint64(want[0][e][8:], p.hi)
			binary.LittleEndian.PutUint64(want[1][e][:8], p.lo^p.hi)
			binary.LittleEndian.PutUint64(want[1][e][8:], p.lo^p.hi)
		}
		if got != want {
			t.Errorf("key %s: the table differs from the software model", key)
		}
	}
}

// gfMul multiplies two elements in the x^-1-scaled form (a·x^-1 times
// b·x^-1 gives a·b·x^-1), the same steps as the assembly: a schoolbook
// carry-less product, then two folds of the low half by poly.
func gfMul(a, b u128) u128 {
	ll1, ll0 := clmul(a.lo, b.lo)
	hh1, hh0 := clmul(a.hi, b.hi)
	m1, m0 := clmul(a.lo, b.hi)
	n1, n0 := clmul(a.hi, b.lo)
	m1, m0 = m1^n1, m0^n0
	low := u128{hi: ll1 ^ m0, lo: ll0}
	high := u128{hi: hh1, lo: hh0 ^ m1}
	for range 2 {
		t1, t0 := clmul(poly.hi, low.lo)
		low = u128{hi: low.lo ^ t1, lo: low.hi ^ t0}
	}
	return u128{hi: low.hi ^ high.hi, lo: low.lo ^ high.lo}
}

// clmul is the 128-bit carry-less product of x and y.
func clmul(x, y uint64) (hi, lo uint64) {
	for i := range 64 {
		if y>>i&1 != 0 {
			lo ^= x << i
			if i > 0 {
				hi ^= x >> (64 - i)
			}
		}
	}
	return hi, lo
}

// TestAsmConstants checks that the assembly's table layout follows
// hashPowers: its powers and the offset of the Karatsuba half.
func TestAsmConstants(t *testing.T) {
	src, err := os.ReadFile("gcm_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"powers": hashPowers, "kar": int(unsafe.Sizeof(hashTable{}[0]))} {
		m := regexp.MustCompile(`(?m)^#define ` + name + ` (\d+)$`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("gcm_amd64.s defines no %s", name)
		}
		if got, _ := strconv.Atoi(string(m[1])); got != want {
			t.Errorf("gcm_amd64.s: %s is %d, want %d", name, got, want)
		}
	}
}
