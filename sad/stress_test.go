package sad

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ah"
)

// TestStress runs lookups and Seal calls from several goroutines while a
// writer adds, replaces, retires and deletes SAs and ticks the clock (run
// with -race). Every SA a lookup returns must be the one for the key asked,
// and SAs that are never touched must always be found.
func TestStress(t *testing.T) {
	clk := newFakeClock()
	db := New(Config{Clock: clk, EventQueue: 16})
	newAH := func(spi uint32) *ah.SA {
		s, err := ah.NewSA(ah.Config{Mode: ah.Transport, SPI: spi, Integrity: ah.IntegHMACSHA196, IntegrityKey: key(20, 3), ReplayWindow: ah.ReplayOff})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const stable = 500
	for spi := uint32(1000); spi < 1000+stable; spi++ {
		if _, err := db.AddInbound(Spec{AH: newAH(spi)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.AddOutbound(OutboundKey{Rule: 99}, Spec{AH: newAH(999), Lifetime: &Lifetime{}}); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var lookups atomic.Uint64
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			pkt := udpPacket(64, 1)
			buf := make([]byte, 0, 256)
			for !stop.Load() {
				spi := 1000 + uint32(r.IntN(stable))
				if s := db.Inbound(ProtoAH, spi, hostB); s == nil || s.SPI() != spi {
					t.Errorf("stable SPI %d: %v", spi, s)
					return
				}
				spi = 5000 + uint32(r.IntN(2000))
				if s := db.Inbound(ProtoAH, spi, hostB); s != nil && s.SPI() != spi {
					t.Errorf("SPI %d returned %v", spi, s)
					return
				}
				k := OutboundKey{Rule: uint32(r.IntN(8))}
				if s := db.Outbound(k); s != nil {
					if s.Key() != k {
						t.Errorf("key %v returned %v", k, s)
						return
					}
					s.Seal(buf[:0], pkt) //nolint:errcheck // may be deleted meanwhile
				}
				if s := db.Outbound(OutboundKey{Rule: 99}); s == nil {
					t.Error("stable outbound SA missing")
					return
				} else if _, err := s.Seal(buf[:0], pkt); err != nil {
					t.Error(err)
					return
				}
				lookups.Add(1)
			}
		}()
	}
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 20000 {
		spi := 5000 + uint32(r.IntN(2000))
		switch r.IntN(6) {
		case 0, 1:
			db.AddInbound(Spec{AH: newAH(spi), Lifetime: &Lifetime{HardTime: time.Duration(1+r.IntN(10)) * time.Second}}) //nolint:errcheck // duplicates expected
		case 2:
			db.DeleteInbound(ProtoAH, spi) //nolint:errcheck // may be absent
		case 3:
			db.RetireInbound(ProtoAH, spi, time.Second) //nolint:errcheck // may be absent
		case 4:
			k := OutboundKey{Rule: uint32(r.IntN(8))}
			if r.IntN(2) == 0 {
				db.AddOutbound(k, Spec{AH: newAH(spi)}) //nolint:errcheck // cannot fail here
			} else {
				db.DeleteOutbound(k) //nolint:errcheck // may be absent
			}
		case 5:
			db.Tick(clk.Advance(100 * time.Millisecond))
			drain(db)
			if i%64 == 0 {
				db.Dump()
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d lookup rounds ran beside 20000 updates", lookups.Load())
}
