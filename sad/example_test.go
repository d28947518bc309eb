package sad_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/sad"
)

// A responder reserves an SPI, installs the negotiated SA pair, and
// processes a packet; then a soft lifetime asks for a rekey.
func Example() {
	db := sad.New(sad.Config{Jitter: -1})
	key := bytes.Repeat([]byte{7}, 20)

	spi, _ := db.AllocateSPI(sad.ProtoESP)
	in, _ := esp.NewSA(esp.Config{Mode: esp.Transport, SPI: spi, Cipher: esp.CipherAESGCM16, CipherKey: key})
	if _, err := db.AddInbound(sad.Spec{ESP: in}); err != nil {
		panic(err)
	}
	// The peer's inbound SA, our outbound one, for rule 1 selector 0.
	out, _ := esp.NewSA(esp.Config{Mode: esp.Transport, SPI: spi, Cipher: esp.CipherAESGCM16, CipherKey: key})
	life := &sad.Lifetime{SoftPackets: 1, HardTime: time.Hour}
	if _, err := db.AddOutbound(sad.OutboundKey{Rule: 1}, sad.Spec{ESP: out, Lifetime: life}); err != nil {
		panic(err)
	}

	pkt := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, 0, 1, 0, 2, 0, 8, 0, 0}
	sealed, _ := db.Outbound(sad.OutboundKey{Rule: 1}).Seal(nil, pkt)
	inner, err := db.Inbound(sad.ProtoESP, spi, netip.AddrFrom4([4]byte{192, 0, 2, 2})).Open(sealed)
	fmt.Println(len(inner), bytes.Equal(inner[20:], pkt[20:]), err)
	ev := <-db.Events()
	fmt.Println(ev.Kind, ev.Reason, ev.Dir)
	// Output:
	// 28 true <nil>
	// soft-expire packets out
}
