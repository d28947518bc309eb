// Package espgopacket decrypts ESP in gopacket pipelines: a
// gopacket.DecodingLayer that opens ESP packets (RFC 4303) with a given set
// of inbound SAs from package esp and hands the inner packet to gopacket's
// own layers (IPv4 or IPv6 in tunnel mode, the transport protocol in
// transport mode). Package esp itself does not import gopacket; this
// package is the bridge.
//
// In a gopacket.DecodingLayerParser the layer takes the place of
// gopacket's layers.IPSecESP (it decodes layers.LayerTypeIPSecESP):
//
//	d := espgopacket.NewDecrypter(inboundSAs...)
//	var ip layers.IPv4
//	var udp layers.UDP
//	var payload gopacket.Payload
//	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &ip, d.NewLayer(), &udp, &payload)
//	err := parser.DecodeLayers(packet, &decoded)
//
// decoded is then IPv4, IPSecESP, IPv4, UDP, Payload for a tunnel-mode
// packet (the parser lists the layer class it decoded; the layer itself
// reports LayerTypeESPDecrypted): as usual with DecodingLayerParser, the one IPv4 value holds the
// last (inner) header. gopacket.NewPacket(esp, d.Decoder(),
// gopacket.Default) decodes from the ESP header with a layer per header.
//
// Every packet is verified (ICV, then the anti-replay window) before it
// is decrypted, as esp.SA.OpenESP does; a failure is an error of
// DecodeFromBytes wrapping esp.ErrAuthFailed, esp.ErrReplay or
// esp.ErrMalformed, or ErrUnknownSPI.
//
// References:
//   - RFC 4303 2, 3.4: the ESP packet and inbound processing.
//   - RFC 3948 2.2: ESP inside UDP (isakmp/gopacketlayer's UDPEncap
//     layer hands ESP on port 4500 to layers.LayerTypeIPSecESP).
package espgopacket
