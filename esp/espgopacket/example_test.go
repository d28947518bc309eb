package espgopacket_test

import (
	"fmt"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/esp/espgopacket"
)

// Decrypting a tunnel-mode ESP packet in a gopacket DecodingLayerParser.
func Example() {
	cfg := esp.Config{SPI: 0x1234, Cipher: esp.CipherAESGCM16, CipherKey: make([]byte, 20), Mode: esp.Tunnel,
		TunnelSrc: netip.MustParseAddr("192.0.2.1"), TunnelDst: netip.MustParseAddr("192.0.2.2")}
	sender, _ := esp.NewSA(cfg)
	receiver, _ := esp.NewSA(cfg)

	// An inner IPv4/UDP packet, sealed as the sender's peer would.
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{10, 1, 0, 1}, DstIP: []byte{10, 2, 0, 1}}
	udp := &layers.UDP{SrcPort: 1234, DstPort: 40000}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	_ = gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, udp, gopacket.Payload("hello"))
	packet, _ := sender.Seal(nil, buf.Bytes())

	d := espgopacket.NewDecrypter(receiver)
	var ipv4 layers.IPv4
	var u layers.UDP
	var payload gopacket.Payload
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &ipv4, d.NewLayer(), &u, &payload)
	var decoded []gopacket.LayerType
	if err := parser.DecodeLayers(packet, &decoded); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(decoded, ipv4.SrcIP, uint16(u.DstPort), string(payload))
	// Output: [IPv4 IPSecESP IPv4 UDP Payload] 10.1.0.1 40000 hello
}
