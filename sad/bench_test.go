package sad

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

// fill installs n inbound ESP SA records with random distinct SPIs directly
// (without building n ESP transforms, which the lookup never touches) and
// returns their SPIs in random order and the heap bytes the records and the
// table took.
func fill(n int) (*DB, []uint32, float64) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	db := New(Config{})
	r := rand.New(rand.NewPCG(uint64(n), 1))
	spis := make([]uint32, 0, n)
	db.mu.Lock()
	for len(spis) < n {
		spi := r.Uint32()
		if spi < 256 || db.in.Load().get(inKey(ProtoESP, spi)) != nil {
			continue
		}
		s := &SA{tkey: inKey(ProtoESP, spi), db: db, dir: Inbound, proto: ProtoESP, spi: spi}
		s.state.Store(uint32(StateMature))
		db.insert(&db.in, s)
		spis = append(spis, spi)
	}
	db.mu.Unlock()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSA := float64(after.HeapAlloc-before.HeapAlloc-uint64(4*cap(spis))) / float64(n)
	r.Shuffle(len(spis), func(i, j int) { spis[i], spis[j] = spis[j], spis[i] })
	return db, spis, perSA
}

var sink *SA

// BenchmarkInbound measures DB.Inbound, the per-packet SPI lookup, over n
// installed SAs, for random SPIs among them. It reports the heap bytes each
// SA record costs in the database (record plus its share of the table,
// without the ESP/AH transform: see BenchmarkSAMemory). Its baseline in the
// same run is BenchmarkInboundMap: a plain Go map lookup of the same keys,
// with no concurrency safety at all.
func BenchmarkInbound(b *testing.B) {
	for _, n := range []int{1000, 100000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db, spis, perSA := fill(n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink = db.Inbound(ProtoESP, spis[i], hostB)
				i++
				if i == len(spis) {
					i = 0
				}
			}
			if sink == nil {
				b.Fatal("miss")
			}
			b.ReportMetric(perSA, "B/SA")
		})
	}
}

func BenchmarkInboundMap(b *testing.B) {
	for _, n := range []int{1000, 100000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db, spis, _ := fill(n)
			m := make(map[uint64]*SA, n)
			db.in.Load().each(func(s *SA) { m[s.tkey] = s })
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink = m[inKey(ProtoESP, spis[i])]
				i++
				if i == len(spis) {
					i = 0
				}
			}
			if sink == nil {
				b.Fatal("miss")
			}
		})
	}
}

// BenchmarkSAMemory reports the heap bytes of one installed SA, whole: the
// database record and table share plus the transform (an AES-GCM-16 ESP SA
// or an HMAC-SHA-256-128 AH SA, each with the default 1024-packet replay
// window). Each iteration builds and installs one SA.
func BenchmarkSAMemory(b *testing.B) {
	for _, kind := range []string{"esp-aes-gcm", "ah-hmac-sha256"} {
		b.Run(kind, func(b *testing.B) {
			db := New(Config{})
			keep := make([]*SA, 0, b.N)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := 0; i < b.N; i++ {
				spi := uint32(256 + i)
				var spec Spec
				if kind == "esp-aes-gcm" {
					s, err := esp.NewSA(esp.Config{Mode: esp.Transport, SPI: spi, Cipher: esp.CipherAESGCM16, CipherKey: key(20, 1)})
					if err != nil {
						b.Fatal(err)
					}
					spec.ESP = s
				} else {
					s, err := ah.NewSA(ah.Config{Mode: ah.Transport, SPI: spi, Integrity: ah.IntegHMACSHA256128, IntegrityKey: key(32, 1)})
					if err != nil {
						b.Fatal(err)
					}
					spec.AH = s
				}
				s, err := db.AddInbound(spec)
				if err != nil {
					b.Fatal(err)
				}
				keep = append(keep, s)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "B/SA")
			runtime.KeepAlive(keep)
		})
	}
}

// BenchmarkDatapath measures one outbound packet through the database
// (Outbound lookup, Seal with lifetime accounting) beside its baseline in
// the same run: the same transform's Seal called directly.
func BenchmarkDatapath(b *testing.B) {
	for _, kind := range []string{"esp", "ah", "ah+esp"} {
		for _, via := range []string{"direct", "sad"} {
			b.Run(kind+"/"+via, func(b *testing.B) {
				var specs [2]Spec
				for i := range specs {
					if kind != "ah" {
						s, err := esp.NewSA(esp.Config{Mode: esp.Transport, SPI: 0x1001, Cipher: esp.CipherAESGCM16, CipherKey: key(20, 1)})
						if err != nil {
							b.Fatal(err)
						}
						specs[i].ESP = s
					}
					if kind != "esp" {
						s, err := ah.NewSA(ah.Config{Mode: ah.Transport, SPI: 0x1002, Integrity: ah.IntegHMACSHA256128, IntegrityKey: key(32, 1)})
						if err != nil {
							b.Fatal(err)
						}
						specs[i].AH = s
					}
				}
				db := New(Config{})
				if _, err := db.AddOutbound(OutboundKey{Rule: 1}, Spec{ESP: specs[0].ESP, AH: specs[0].AH, Lifetime: &Lifetime{}}); err != nil {
					b.Fatal(err)
				}
				pkt := udpPacket(1372, 1) // 1400-byte IP packet
				buf := make([]byte, 0, 2048)
				mid := make([]byte, 0, 2048)
				d := specs[1]
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if via == "sad" {
						_, err = db.Outbound(OutboundKey{Rule: 1}).Seal(buf[:0], pkt)
					} else {
						switch kind {
						case "esp":
							_, err = d.ESP.Seal(buf[:0], pkt)
						case "ah":
							_, err = d.AH.Seal(buf[:0], pkt)
						default:
							var m []byte
							if m, err = d.ESP.Seal(mid[:0], pkt); err == nil {
								_, err = d.AH.Seal(buf[:0], m)
							}
						}
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
