package ah_test

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/ipsecgo/ipsec/ah"
)

func Example() {
	key := bytes.Repeat([]byte{0x42}, ah.IntegHMACSHA256128.KeySize())
	cfg := ah.Config{Mode: ah.Transport, SPI: 0x1001, Integrity: ah.IntegHMACSHA256128, IntegrityKey: key}
	out, _ := ah.NewSA(cfg)
	in, _ := ah.NewSA(cfg)

	// An IPv4 packet: 20-byte header (protocol 17) and 8 bytes of payload.
	pkt := make([]byte, 28)
	pkt[0], pkt[8], pkt[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(pkt[2:], 28)
	copy(pkt[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})

	sealed, _ := out.Seal(nil, pkt)
	fmt.Println("sealed:", len(sealed), "bytes, protocol", sealed[9])
	inner, err := in.Open(sealed)
	fmt.Println("opened:", len(inner), "bytes, protocol", inner[9], err)
	_, err = in.Open(sealed[:0:0])
	fmt.Println(err)
	// Output:
	// sealed: 56 bytes, protocol 51
	// opened: 28 bytes, protocol 17 <nil>
	// ah: malformed packet: empty packet
}
