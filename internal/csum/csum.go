package csum

import "encoding/binary"

// Checksum returns the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial.
func Checksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	// The tail (0 to 3 bytes) is a final, zero-padded 32-bit word.
	var tail [4]byte
	copy(tail[:], b)
	sum += uint64(binary.BigEndian.Uint32(tail[:]))
	// Fold the 32-bit words into 16 bits (RFC 1071 section 4.1: the sum
	// is independent of word size as long as carries are folded back).
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
