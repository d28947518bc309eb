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
