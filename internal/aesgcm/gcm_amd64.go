//go:build amd64 && !purego

package aesgcm

import (
	"crypto/cipher"
	"crypto/fips140"
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"golang.org/x/sys/cpu"
)

var errOpen = errors.New("aesgcm: message authentication failed")

// useAsm: the assembly needs AVX-512 (F, VL and BW for the byte masks)
// with its VAES and VPCLMULQDQ forms; package cpu checks that the OS saves
// the registers too. In FIPS 140-3 mode (GODEBUG=fips140=on or only) AES-GCM
// stays inside Go's validated module.
var useAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ && !fips140.Enabled()

// ctrXOR XORs n bytes of src, n > 0, with the key stream of the counter
// blocks after J0 for nonce (the nonce and a 32-bit block counter from
// 2, SP 800-38D 6.5 and 7.1 step 3) into dst. rk holds the round keys of
// an AES with the given number of rounds.
//
//go:noescape
func ctrXOR(rk *[15][16]byte, rounds int, nonce *byte, dst, src *byte, n int)

// ghashSeg folds the n bytes at data, n > 0, the last block zero-padded,
// into the GHASH value y with the powers in htab (SP 800-38D 6.4). y is in
// the assembly's register order (the standard one byte-swapped).
//
//go:noescape
func ghashSeg(htab *hashTable, y *[16]byte, data *byte, n int)

// ghashBlock folds one block into y: Y = (Y + X)·H, X given as GHASH
// reads it (its bytes 0 to 7 big-endian in hi, 8 to 15 in lo).
//
//go:noescape
func ghashBlock(htab *hashTable, y *[16]byte, hi, lo uint64)

// ghashTag folds the lengths block into y and writes the tag for nonce:
// GHASH XORed with E(J0) (SP 800-38D 7.1 steps 5 and 6).
//
//go:noescape
func ghashTag(htab *hashTable, y *[16]byte, adBits, ctBits uint64, rk *[15][16]byte, rounds int, nonce *byte, tag *[16]byte)

// subWord applies the AES S-box to each byte of x (FIPS 197 5.2 SubWord)
// with AESENCLAST on x in every column, where ShiftRows moves nothing.
//
//go:noescape
func subWord(x uint32) uint32

// gcm is the vector implementation's key state; it is immutable once made.
type gcm struct {
	rk      [15][16]byte // the round keys (FIPS 197 5.2), unused ones zero
	rounds  int          // 10, 12 or 14
	htab    hashTable    // powers of H (see hashKey)
	tagSize int
}

func newGCM(b cipher.Block, key []byte, tagSize int) *gcm {
	g := &gcm{tagSize: tagSize}
	g.rounds = expandKey(&g.rk, key)
	var h [16]byte
	b.Encrypt(h[:], h[:])
	hashKey(&g.htab, &h)
	return g
}

func (g *gcm) NonceSize() int { return NonceSize }
func (g *gcm) Overhead() int  { return g.tagSize }

// Seal implements cipher.AEAD (SP 800-38D 7.1).
func (g *gcm) Seal(dst, nonce, plaintext, ad []byte) []byte {
	if len(nonce) != NonceSize {
		panic("aesgcm: incorrect nonce length given to GCM")
	}
	if uint64(len(plaintext)) > (1<<32-2)*16 {
		panic("aesgcm: message too large for GCM")
	}
	ret, out := grow(dst, len(plaintext)+g.tagSize)
	if inexactOverlap(out, plaintext) {
		panic("aesgcm: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, ad) {
		panic("aesgcm: invalid buffer overlap of output and additional data")
	}
	g.counter(out[:len(plaintext)], plaintext, nonce)
	var tag [TagSize]byte
	g.tag(&tag, nonce, out[:len(plaintext)], ad)
	copy(out[len(plaintext):], tag[:])
	return ret
}

// Open implements cipher.AEAD (SP 800-38D 7.2): the tag is checked
// before anything is decrypted, and on failure out is cleared.
func (g *gcm) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		panic("aesgcm: incorrect nonce length given to GCM")
	}
	if len(ciphertext) < g.tagSize || uint64(len(ciphertext)) > (1<<32-2)*16+uint64(g.tagSize) {
		return nil, errOpen
	}
	ct, sent := ciphertext[:len(ciphertext)-g.tagSize], ciphertext[len(ciphertext)-g.tagSize:]
	ret, out := grow(dst, len(ct))
	if inexactOverlap(out, ciphertext) {
		panic("aesgcm: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, ad) {
		panic("aesgcm: invalid buffer overlap of output and additional data")
	}
	var tag [TagSize]byte
	g.tag(&tag, nonce, ct, ad)
	if subtle.ConstantTimeCompare(tag[:g.tagSize], sent) != 1 {
		clear(out)
		return nil, errOpen
	}
	g.counter(out, ct, nonce)
	return ret, nil
}

// counter is GCTR from the counter block after J0 (SP 800-38D 6.5 and
// 7.1 step 3).
func (g *gcm) counter(dst, src, nonce []byte) {
	if len(src) > 0 {
		ctrXOR(&g.rk, g.rounds, &nonce[0], &dst[0], &src[0], len(src))
	}
}

// tag computes the full tag over ad and ct (SP 800-38D 7.1 steps 4 to 6):
// GHASH of the padded AAD, the padded ciphertext and the lengths, then
// XORed with E(J0).
func (g *gcm) tag(tag *[TagSize]byte, nonce, ct, ad []byte) {
	var y [16]byte
	switch {
	case len(ad) > 16:
		ghashSeg(&g.htab, &y, &ad[0], len(ad))
	case len(ad) > 0:
		// ESP's 8 or 12 bytes (RFC 4106 section 5), read 4 bytes at a
		// time: the SPI and sequence number were just stored that way,
		// and a wider load across two such stores waits for both.
		hi, lo := block(ad)
		ghashBlock(&g.htab, &y, hi, lo)
	}
	if len(ct) > 0 {
		ghashSeg(&g.htab, &y, &ct[0], len(ct))
	}
	ghashTag(&g.htab, &y, uint64(len(ad))*8, uint64(len(ct))*8, &g.rk, g.rounds, &nonce[0], tag)
}

// block reads b, at most 16 bytes, as one zero-padded GHASH block in
// two big-endian halves, 4 bytes at a time.
func block(b []byte) (hi, lo uint64) {
	var w [4]uint32
	i := 0
	for ; len(b) >= 4; i++ {
		w[i] = binary.BigEndian.Uint32(b)
		b = b[4:]
	}
	for j, c := range b {
		w[i] |= uint32(c) << (24 - 8*j)
	}
	return uint64(w[0])<<32 | uint64(w[1]), uint64(w[2])<<32 | uint64(w[3])
}

// grow extends in by n bytes, reusing its capacity when it can, and
// returns the whole slice and the n new bytes (crypto/cipher's rule).
func grow(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	return head, head[len(in):]
}
