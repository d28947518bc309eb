package csum

import (
	"math/rand/v2"
	"testing"
)

// checksumRef is RFC 1071 over 16-bit words, the reference for Checksum.
func checksumRef(b []byte, initial uint32) uint16 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
func TestChecksumDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		b := make([]byte, r.IntN(70))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if r.IntN(8) == 0 {
			for j := range b {
				b[j] = 0xff
			}
		}
		init := r.Uint32() >> r.IntN(32)
		if got, want := Checksum(b, init), checksumRef(b, init); got != want {
			t.Fatalf("Checksum(%x, %d) = %#x, reference %#x", b, init, got, want)
		}
	}
}
