package csum

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial.
//
// It adds 64-bit big-endian words with end-around carry and folds the sum to
// 16 bits at the end (RFC 1071 section 2(B) and 4.1: the sum does not depend
// on the word size as long as carries are added back in).
func Checksum(b []byte, initial uint32) uint16 {
	sum, carry := uint64(initial), uint64(0)
	for len(b) >= 32 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[8:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[16:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	// Fold to 32 bits (at most 34 bits with the carry) before the tail.
	s := sum>>32 + sum&0xffffffff + carry
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	// The last 0 to 3 bytes are a zero-padded 32-bit word.
	switch len(b) {
	case 3:
		s += uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8
	case 2:
		s += uint64(b[0])<<24 | uint64(b[1])<<16
	case 1:
		s += uint64(b[0]) << 24
	}
	return Finish(s)
}

// Finish folds a partial sum of 16-bit words, with the carries not yet
// added back, to 16 bits and returns its complement: the checksum (RFC 1071
// section 4.1).
func Finish(sum uint64) uint16 {
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return ^uint16(sum)
}

// CopyChecksum copies src to dst, which must be at least as long, and
// returns Checksum(src, initial): one pass over the data instead of two.
//
// It loads and stores little-endian words (no byte swaps) and swaps the
// folded sum at the end: RFC 1071 section 2(B), the sum in swapped byte
// order is the byte-swapped sum.
func CopyChecksum(dst, src []byte, initial uint32) uint16 {
	d := dst[:len(src)]
	s := src
	var sum, carry uint64
	for len(s) >= 32 {
		w0 := binary.LittleEndian.Uint64(s)
		w1 := binary.LittleEndian.Uint64(s[8:])
		w2 := binary.LittleEndian.Uint64(s[16:])
		w3 := binary.LittleEndian.Uint64(s[24:])
		binary.LittleEndian.PutUint64(d, w0)
		binary.LittleEndian.PutUint64(d[8:], w1)
		binary.LittleEndian.PutUint64(d[16:], w2)
		binary.LittleEndian.PutUint64(d[24:], w3)
		sum, carry = bits.Add64(sum, w0, carry)
		sum, carry = bits.Add64(sum, w1, carry)
		sum, carry = bits.Add64(sum, w2, carry)
		sum, carry = bits.Add64(sum, w3, carry)
		s, d = s[32:], d[32:]
	}
	for len(s) >= 8 {
		w := binary.LittleEndian.Uint64(s)
		binary.LittleEndian.PutUint64(d, w)
		sum, carry = bits.Add64(sum, w, carry)
		s, d = s[8:], d[8:]
	}
	x := sum>>32 + sum&0xffffffff + carry
	copy(d, s)
	for len(s) >= 2 {
		x += uint64(s[0]) | uint64(s[1])<<8
		s = s[2:]
	}
	if len(s) == 1 {
		x += uint64(s[0]) // the high byte of a zero-padded word, swapped
	}
	for x > 0xffff {
		x = x>>16 + x&0xffff
	}
	return Finish(uint64(bits.ReverseBytes16(uint16(x))) + uint64(initial))
}
