package ah

import (
	"fmt"
	"testing"
)

var benchAlgs = []Integrity{IntegHMACSHA196, IntegHMACSHA256128, IntegHMACSHA512256, IntegAESXCBC96, IntegAES128GMAC}
var benchSizes = []int{64, 512, 1500}

// BenchmarkAHSign measures Seal (transport mode, IPv4) of an IP packet of
// the given total size. BenchmarkBareMAC, in the same run, is its baseline:
// the algorithm's MAC alone over the same number of bytes (the sealed
// packet), so the ratio is the cost of AH's header processing.
func BenchmarkAHSign(b *testing.B) {
	for _, alg := range benchAlgs {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%v/%d", alg, size), func(b *testing.B) {
				out, _ := pair(b, Config{Mode: Transport, Integrity: alg, ESN: true})
				pkt := ipv4Packet(nil, payload(size-20))
				dst := make([]byte, 0, size+64)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := out.Seal(dst[:0], pkt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkBareMAC(b *testing.B) {
	for _, alg := range benchAlgs {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%v/%d", alg, size), func(b *testing.B) {
				out, _ := pair(b, Config{Mode: Transport, Integrity: alg})
				data := payload(size + out.ahLen4)
				iv := make([]byte, 8)
				w := out.auth.newWorker()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					out.auth.compute(w, data, nil, iv)
				}
			})
		}
	}
}

// BenchmarkAHVerify measures Open of a sealed IPv4 transport-mode packet
// (with anti-replay off, so that one packet can be opened repeatedly; the
// copy back into the work buffer is included).
func BenchmarkAHVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%v/%d", alg, size), func(b *testing.B) {
				out, in := pair(b, Config{Mode: Transport, Integrity: alg, ReplayWindow: ReplayOff})
				sealed, err := out.Seal(nil, ipv4Packet(nil, payload(size-20)))
				if err != nil {
					b.Fatal(err)
				}
				work := make([]byte, len(sealed))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					copy(work, sealed)
					if _, err := in.Open(work); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
