package ah

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestGopacketDecodes is a differential check of the wire format: gopacket's
// independent IPv4, IPv6 extension header and AH decoders must find the AH
// header Seal wrote, with its SPI, sequence number, next header and
// Authentication Data length.
func TestGopacketDecodes(t *testing.T) {
	for _, alg := range []Integrity{IntegHMACSHA196, IntegHMACSHA256128, IntegAES256GMAC} {
		for _, pc := range pktCases {
			for _, mode := range []Mode{Transport, Tunnel} {
				out, _ := pair(t, Config{Integrity: alg, Mode: mode, TunnelSrc: v6Src, TunnelDst: v6Dst})
				out.seq.SetLast(41)
				p := pc.pkt()
				sealed, err := out.Seal(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				first := layers.LayerTypeIPv4
				if sealed[0]>>4 == 6 {
					first = layers.LayerTypeIPv6
				}
				pkt := gopacket.NewPacket(sealed, first, gopacket.Default)
				l := pkt.Layer(layers.LayerTypeIPSecAH)
				if l == nil {
					t.Fatalf("%v %s %v: gopacket finds no AH: %v", alg, pc.name, mode, pkt)
				}
				ah := l.(*layers.IPSecAH)
				wantNH := layers.IPProtocolUDP
				if mode == Tunnel {
					wantNH = layers.IPProtocolIPv4
					if p[0]>>4 == 6 {
						wantNH = layers.IPProtocolIPv6
					}
				}
				v6 := sealed[0]>>4 == 6
				if ah.SPI != out.spi || ah.Seq != 42 || ah.NextHeader != wantNH || len(ah.AuthenticationData) != out.ahLen(v6)-ahFixed {
					t.Errorf("%v %s %v: gopacket AH %+v", alg, pc.name, mode, ah)
				}
				if mode == Transport && (len(sealed)-len(p) != out.ahLen(v6) || !bytes.HasSuffix(p, ah.Payload) || len(ah.Payload) < 33) {
					t.Errorf("%v %s: AH payload is not the original upper-layer data", alg, pc.name)
				}
				if mode == Tunnel && !bytes.Equal(ah.Payload, p) {
					t.Errorf("%v %s: AH payload is not the inner packet", alg, pc.name)
				}
			}
		}
	}
}
