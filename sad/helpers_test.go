package sad

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func key(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// espPair returns two ESP SAs (sender, receiver) with the same AES-GCM key.
func espPair(t testing.TB, spi uint32) (*esp.SA, *esp.SA) {
	t.Helper()
	cfg := esp.Config{Mode: esp.Transport, SPI: spi, Cipher: esp.CipherAESGCM16, CipherKey: key(20, byte(spi))}
	a, err := esp.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := esp.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// ahPair returns two AH SAs (sender, receiver) with the same key.
func ahPair(t testing.TB, spi uint32, window int) (*ah.SA, *ah.SA) {
	t.Helper()
	cfg := ah.Config{Mode: ah.Transport, SPI: spi, Integrity: ah.IntegHMACSHA256128, IntegrityKey: key(32, byte(spi)), ReplayWindow: window}
	a, err := ah.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ah.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

var (
	hostA = netip.MustParseAddr("192.0.2.1")
	hostB = netip.MustParseAddr("192.0.2.2")
)

// udpPacket builds an IPv4/UDP packet from A to B with n payload bytes and a
// counter in the first 8 payload bytes.
func udpPacket(n int, counter uint64) []byte {
	p := make([]byte, 28+n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = 17
	a, b := hostA.As4(), hostB.As4()
	copy(p[12:], a[:])
	copy(p[16:], b[:])
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(p[i])<<8 | uint32(p[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(s))
	binary.BigEndian.PutUint16(p[20:], 1000)
	binary.BigEndian.PutUint16(p[22:], 2000)
	binary.BigEndian.PutUint16(p[24:], uint16(8+n))
	if n >= 8 {
		binary.BigEndian.PutUint64(p[28:], counter)
	}
	return p
}

// outerSPI returns the protocol and SPI of a sealed IPv4 packet: what a
// receiver looks up in its SAD.
func outerSPI(p []byte) (Proto, uint32) {
	ihl := int(p[0]&0xf) * 4
	if Proto(p[9]) == ProtoAH {
		return ProtoAH, binary.BigEndian.Uint32(p[ihl+4:]) // RFC 4302 section 2
	}
	return Proto(p[9]), binary.BigEndian.Uint32(p[ihl:]) // RFC 4303 section 2
}

// drain returns the events queued so far.
func drain(db *DB) []Event {
	var out []Event
	for {
		select {
		case e := <-db.Events():
			out = append(out, e)
		default:
			return out
		}
	}
}
