//go:build amd64 && !purego

package aesgcm

import (
	"encoding/hex"
	"testing"
)

// TestExpandKey checks the S-box and the last round key of the key
// expansion examples in FIPS 197 Appendix A.1 to A.3.
func TestExpandKey(t *testing.T) {
	for in, want := range map[byte]byte{0x00: 0x63, 0x01: 0x7c, 0x53: 0xed, 0xff: 0x16} {
		if sbox[in] != want {
			t.Errorf("sbox[%#x] = %#x, want %#x", in, sbox[in], want)
		}
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
