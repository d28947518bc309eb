//go:build amd64 && !purego

package aesgcm

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"golang.org/x/sys/cpu"
)

var errOpen = errors.New("aesgcm: message authentication failed")

// useAsm: the assembly needs AVX-512 (F, VL and BW for the byte masks)
// with its VAES and VPCLMULQDQ forms; package cpu checks that the OS saves
// the registers too.
var useAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ

// ctrXOR XORs n bytes of src with the key stream of the counter blocks
// that ctr starts (four lanes, each a nonce and a block counter in host
// order) into dst, n > 0. rk holds the round keys of an AES with the
// given number of rounds.
//
//go:noescape
func ctrXOR(rk *[15][16]byte, rounds int, ctr *[4][16]byte, dst, src *byte, n int)

// ghashState is a GHASH sum not yet reduced: the low, high and middle
// carry-less products (see gfMul), four lanes each.
type ghashState [3][64]byte

// ghashAcc multiplies the blocks of the n bytes at data (the last
// zero-padded) by the powers from pow on, block i by pow[i], and adds the
// products to st, n > 0. pow points into the first half of a hashTable.
//
//go:noescape
func ghashAcc(st *ghashState, pow *[16]byte, data *byte, n int)

// ghashFinish reduces st into a GHASH value in the standard byte order
// and, when rounds is not zero, XORs it with the encryption of j0 under
// rk: the tag (SP 800-38D 7.1 step 6).
//
//go:noescape
func ghashFinish(st *ghashState, out *[16]byte, rk *[15][16]byte, rounds int, j0 *[16]byte)

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
// 7.1 step 3): the four lanes the assembly starts from hold the nonce
// and the block counters 2 to 5, each counter in host order so that the
// assembly can add to it (see ctrXOR).
func (g *gcm) counter(dst, src, nonce []byte) {
	if len(src) == 0 {
		return
	}
	var ctr [4][16]byte
	for i := range ctr {
		copy(ctr[i][:NonceSize], nonce)
		binary.LittleEndian.PutUint32(ctr[i][NonceSize:], uint32(2+i))
	}
	ctrXOR(&g.rk, g.rounds, &ctr, &dst[0], &src[0], len(src))
}

// tag computes the full tag over ad and ct (SP 800-38D 7.1 steps 4 to 6):
// GHASH of the padded AAD, the padded ciphertext and the lengths, then
// XORed with E(J0).
func (g *gcm) tag(tag *[TagSize]byte, nonce, ct, ad []byte) {
	var lens, j0 [16]byte
	binary.BigEndian.PutUint64(lens[:8], uint64(len(ad))*8)
	binary.BigEndian.PutUint64(lens[8:], uint64(len(ct))*8)
	copy(j0[:], nonce)
	j0[15] = 1
	g.ghash(tag, [3][]byte{ad, ct, lens[:]}, &j0)
}

// ghash is GHASH (SP 800-38D 6.4) of the segments, each zero-padded to
// whole blocks, into out, XORed with E(j0). The message goes in runs of
// up to hashPowers blocks: each block of a run is multiplied by the power
// of H it ends up with, Y = X1·H^m + X2·H^(m-1) + ... + Xm·H, and the
// run is reduced once; the GHASH value of the runs before enters the
// next run as one more block with its first block's power.
func (g *gcm) ghash(out *[16]byte, segs [3][]byte, j0 *[16]byte) {
	left := 0
	for _, s := range segs {
		left += (len(s) + 15) / 16
	}
	var st ghashState
	e := hashPowers - min(left, hashPowers) // the power table's entry for the next block
	for _, s := range segs {
		for len(s) > 0 {
			n := min(len(s), (hashPowers-e)*16)
			ghashAcc(&st, &g.htab[0][e], &s[0], n)
			blocks := (n + 15) / 16
			e, left, s = e+blocks, left-blocks, s[n:]
			if e == hashPowers && left > 0 {
				ghashFinish(&st, out, nil, 0, nil)
				st = ghashState{}
				e = hashPowers - min(left, hashPowers)
				ghashAcc(&st, &g.htab[0][e], &out[0], len(out))
			}
		}
	}
	ghashFinish(&st, out, &g.rk, g.rounds, j0)
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
