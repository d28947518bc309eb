package esp_test

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/ipsecgo/ipsec/esp"
)

// Two ends of a tunnel-mode SA: one seals, the other opens.
func Example() {
	key := bytes.Repeat([]byte{0x42}, 36) // AES-256 key and 4-byte salt, normally from IKE
	cfg := esp.Config{
		SPI:       0x1001,
		Cipher:    esp.CipherAESGCM16,
		CipherKey: key,
		Mode:      esp.Tunnel,
		TunnelSrc: netip.MustParseAddr("198.51.100.1"),
		TunnelDst: netip.MustParseAddr("203.0.113.1"),
	}
	out, err := esp.NewSA(cfg)
	if err != nil {
		panic(err)
	}
	in, _ := esp.NewSA(cfg)

	// A minimal IPv4 packet: 20-byte header, protocol 253 (experimental).
	inner := []byte{0x45, 0, 0, 24, 0, 0, 0, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 'p', 'i', 'n', 'g'}

	wire, err := out.Seal(nil, inner)
	if err != nil {
		panic(err)
	}
	replay := bytes.Clone(wire) // Open works in place: keep a copy to replay
	got, err := in.Open(wire)
	if err != nil {
		panic(err)
	}
	fmt.Printf("delivered %q, %d bytes on the wire for %d inside\n", got[20:], len(wire), len(inner))
	_, err = in.Open(replay) // the same packet again
	fmt.Println(err)
	// Output:
	// delivered "ping", 80 bytes on the wire for 24 inside
	// esp: replayed packet
}
