package csum

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checksumRef is RFC 1071 over 16-bit words, the reference for Checksum.
func checksumRef(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
func TestChecksumDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		n := r.IntN(70)
		if i%10 == 0 {
			n = r.IntN(1600) // the unrolled loop
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if r.IntN(8) == 0 {
			for j := range b {
				b[j] = 0xff
			}
		}
		init := r.Uint32() >> r.IntN(33)
		if got, want := Checksum(b, init), checksumRef(b, init); got != want {
			t.Fatalf("Checksum(%x, %d) = %#x, reference %#x", b, init, got, want)
		}
	}
}

// BenchmarkChecksum compares Checksum with its baseline in the same run, the
// 16-bit reference loop, on an IPv4 header and on a full-size packet.
func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 1400} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		b.Run(fmt.Sprintf("fast/%d", n), func(b *testing.B) {
			for b.Loop() {
				sink = Checksum(buf, 0)
			}
		})
		b.Run(fmt.Sprintf("reference/%d", n), func(b *testing.B) {
			for b.Loop() {
				sink = checksumRef(buf, 0)
			}
		})
	}
}

var sink uint16

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 20}, uint32(0))
	f.Add(make([]byte, 67), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, init uint32) {
		if got, want := Checksum(b, init), checksumRef(b, init); got != want {
			t.Fatalf("Checksum(%x, %d) = %#x, reference %#x", b, init, got, want)
		}
	})
}
