// Package gopacketlayer decodes ISAKMP/IKE messages in gopacket pipelines:
// importing it registers a layer for UDP port 500 (ISAKMP) and one for
// UDP port 4500 (RFC 3948 UDP encapsulation), which tells IKE behind the
// four-byte non-ESP marker from ESP and from NAT keepalives.
//
// The layers wrap isakmp.Message; nothing is decrypted. Both layers
// implement gopacket.DecodingLayer for allocation-free parsing with
// gopacket.DecodingLayerParser.
//
//	packet := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
//	if l := packet.Layer(gopacketlayer.LayerTypeISAKMP); l != nil {
//		m := &l.(*gopacketlayer.ISAKMP).Message
//		fmt.Println(m.Header.Exchange, len(m.Payloads))
//	}
//
// References:
//   - RFC 2408 3.1 and RFC 7296 3.1: the ISAKMP header.
//   - RFC 3948 2.2: the non-ESP marker; 2.3: the one-octet NAT keepalive;
//     RFC 7296 2.23 and RFC 3947 4: IKE on port 4500.
//   - RFC 4303 2: ESP, whose SPI is never zero.
package gopacketlayer
