package ipsec_test

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

// A CHILD SA as ike reports it in EventChildUp (here written out by hand,
// with made-up keys), turned into the two ESP SAs of this side.
func ExampleESPConfigs() {
	child := &ike.ChildSA{
		Protocol: isakmp.ProtocolESP, Mode: ike.Tunnel,
		InboundSPI: 0xc0010001, OutboundSPI: 0xc0020002,
		Encr:          ike.Encr{ID: isakmp.EncrAESGCM16, KeyBits: 256},
		InboundEncKey: bytes.Repeat([]byte{1}, 36), OutboundEncKey: bytes.Repeat([]byte{2}, 36),
		LocalAddr: netip.MustParseAddr("192.0.2.1"), RemoteAddr: netip.MustParseAddr("198.51.100.1"),
		EncapLocalPort: 4500, EncapRemotePort: 4500,
	}
	in, out, err := ipsec.ESPConfigs(child)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range []esp.Config{in, out} {
		sa, err := esp.NewSA(c)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("SPI 0x%08x %v %v %v -> %v, UDP %d -> %d\n", sa.SPI(), c.Cipher, sa.Mode(),
			c.TunnelSrc, c.TunnelDst, c.EncapSrcPort, c.EncapDstPort)
	}
	// Output:
	// SPI 0xc0010001 aes-gcm-16 tunnel 198.51.100.1 -> 192.0.2.1, UDP 4500 -> 4500
	// SPI 0xc0020002 aes-gcm-16 tunnel 192.0.2.1 -> 198.51.100.1, UDP 4500 -> 4500
}

// An Installer is fed every event of an IKE endpoint: CHILD SAs appear in
// the SAD, rekeys move traffic to the new SA once the old one is deleted,
// and deleted SAs are retired.
func ExampleInstaller() {
	db := sad.New(sad.Config{})
	x := ipsec.NewInstaller(db, ipsec.InstallerConfig{})
	rule := sad.OutboundKey{Rule: 1}
	_, err := ike.NewEndpoint(ike.EndpointConfig{
		IKEAddr:  netip.MustParseAddrPort("127.0.0.1:0"),
		NATTAddr: netip.MustParseAddrPort("127.0.0.1:0"),
		Events: func(ev ike.Event) {
			if err := x.Handle(ev, rule); err != nil {
				fmt.Println(err)
			}
		},
		ESP: func(from netip.AddrPort, pkt []byte) {
			// Look the SA up with db.Inbound and open the packet.
		},
	})
	if err != nil {
		fmt.Println(err)
	}
	// go ep.Run(ctx); ep.Initiate(ctx, cfg, peer, nil); then seal with
	// db.Outbound(rule, flow).Seal. See examples/quickstart.
}
