package keylog_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/ipsecgo/ipsec/ike/keylog"
)

// A key log as ike.Config.KeyLogWriter writes it, converted into
// Wireshark's ESP SA table (the file esp_sa in a Wireshark profile).
func Example() {
	log := `IKEV2 SPII=0102030405060708 SPIR=1112131415161718 ENCR=20 SK_EI=000102030405060708090a0b0c0d0e0f10111213 SK_ER=202122232425262728292a2b2c2d2e2f30313233 INTEG=0 SK_AI= SK_AR=
ESP SPI=c0ffee01 SRC=192.0.2.1 DST=192.0.2.2 ENCR=20 KEY=000102030405060708090a0b0c0d0e0f10111213 INTEG=0 IKEY= ESN=0 ENCAP=0/0 MODE=tunnel
`
	l, err := keylog.Parse(strings.NewReader(log))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := keylog.WriteESPTable(os.Stdout, l); err != nil {
		fmt.Println(err)
	}
	// Output:
	// # This file holds IPsec secrets: whoever reads it can decrypt the traffic.
	// "IPv4","192.0.2.1","192.0.2.2","0xc0ffee01","AES-GCM with 16 octet ICV [RFC4106]","0x000102030405060708090a0b0c0d0e0f10111213","NULL","0x"
}
