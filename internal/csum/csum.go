package csum

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial.
//
// It adds 64-bit words with end-around carry and folds the sum to 16 bits
// at the end (RFC 1071 section 2(B) and 4.1: the sum does not depend on
// the word size as long as carries are added back in). The words are read
// in the machine's little-endian order, which swaps the bytes of every
// 16-bit word; the one's complement sum of swapped words is the swapped
// sum (RFC 1071 section 2(B), byte order independence), so initial goes in
// swapped and the result comes out swapped back. Reading without the byte
// swaps, eight words to a round, is about a quarter faster than the
// big-endian loop it replaced (BenchmarkChecksum).
func Checksum(b []byte, initial uint32) uint16 {
	i := initial>>16 + initial&0xffff
	i = i>>16 + i&0xffff
	sum, carry := uint64(bits.ReverseBytes16(uint16(i))), uint64(0)
	for len(b) >= 64 {
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b), carry)
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b[8:]), carry)
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b[16:]), carry)
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b[24:]), carry)
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b[32:]), carry)
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b[40:]), carry)
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b[48:]), carry)
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b[56:]), carry)
		b = b[64:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.LittleEndian.Uint64(b), carry)
		b = b[8:]
	}
	// Fold to 32 bits (at most 34 bits with the carry) before the tail.
	s := sum>>32 + sum&0xffffffff + carry
	if len(b) >= 4 {
		s += uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	// The last 0 to 3 bytes are a zero-padded 32-bit word, read the
	// same way: an even offset is a low byte.
	switch len(b) {
	case 3:
		s += uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
	case 2:
		s += uint64(b[0]) | uint64(b[1])<<8
	case 1:
		s += uint64(b[0])
	}
	// Finish complements; complementing and swapping commute.
	return bits.ReverseBytes16(Finish(s))
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
