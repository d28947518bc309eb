//go:build amd64 && !purego

package aesgcm

import "encoding/binary"

// expandKey writes the round keys of an AES key of 16, 24 or 32 bytes
// (FIPS 197 5.2, KeyExpansion) and returns the number of rounds. SubWord
// runs on the AES instruction (subWord), not on a table: no lookup
// indexed by key bytes, so no cache timing to read the key from.
func expandKey(rk *[15][16]byte, key []byte) int {
	nk := len(key) / 4
	rounds := nk + 6
	var w [60]uint32
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < 4*(rounds+1); i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon <<= 1
			if rcon&0x100 != 0 {
				rcon ^= 0x11b
			}
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	for i := range 4 * (rounds + 1) {
		binary.BigEndian.PutUint32(rk[i/4][4*(i%4):], w[i])
	}
	return rounds
}

// u128 is a GHASH field element in the assembly's form: the block read
// as a big-endian 128-bit number (a byte-swapped register), so that bit
// 127 is the coefficient of x^0 (SP 800-38D 6.3 numbers bits from the
// left).
type u128 struct{ hi, lo uint64 }

// poly is the reduction constant for that form: x^128 = x^7 + x^2 + x + 1
// reflected, with the low 1 that multiplying by x^-1 wraps into.
var poly = u128{hi: 0xc2 << 56, lo: 1}

// hashPowers is how many powers of H a key holds: GHASH multiplies the
// blocks of a run of up to that many by their own powers and reduces
// once, so only a run's first block waits for the run before (a
// 1400-byte packet is three runs). Each power costs 32 bytes per SA.
const hashPowers = 32

// hashTable holds the powers H^hashPowers ... H^1 times x^-1 (entry e
// of the first half holds the power hashPowers-e) and zeros after them,
// for the masked-off lanes of a tail, each in the assembly's register
// order (low quadword first). Entry e of the second half holds the XOR of
// the two quadwords of the same power, in both: Karatsuba's middle
// operand, so that a block takes three carry-less products, not four.
type hashTable [2][hashPowers + 4][16]byte

// hashKey fills htab for the hash key h = E(K, 0^128). A carry-less
// product of a and b·x^-1 read without the one-bit shift that reflected
// multiplication needs is a·b, so the assembly multiplies by these
// directly. The powers are made by the assembly itself, each the one
// before times H (TestHashKey checks them against a software model).
func hashKey(htab *hashTable, h *[16]byte) {
	*htab = hashTable{}
	htab.put(hashPowers-1, h)
	p := *h
	for e := hashPowers - 2; e >= 0; e-- {
		var y [16]byte
		ghashSeg(htab, &y, &p[0], len(p)) // p·H, one block by the last power
		for i := range p {
			p[i] = y[len(y)-1-i]
		}
		htab.put(e, &p)
	}
}

// put stores the field element b (a block in the standard byte order)
// times x^-1 at entry e, with its Karatsuba operand.
func (htab *hashTable) put(e int, b *[16]byte) {
	k := u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
	// Times x^-1: a left shift in the reflected form, folding the bit
	// that leaves (x^0 · x^-1) back with poly.
	// Without a branch on the key's bit.
	mask := -(k.hi >> 63)
	k = u128{hi: k.hi<<1 | k.lo>>63 ^ poly.hi&mask, lo: k.lo<<1 ^ poly.lo&mask}
	binary.LittleEndian.PutUint64(htab[0][e][:8], k.lo)
	binary.LittleEndian.PutUint64(htab[0][e][8:], k.hi)
	binary.LittleEndian.PutUint64(htab[1][e][:8], k.lo^k.hi)
	binary.LittleEndian.PutUint64(htab[1][e][8:], k.lo^k.hi)
}
