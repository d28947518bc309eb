package espgopacket

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/isakmp/gopacketlayer"
)

var (
	outerSrc = netip.MustParseAddr("192.0.2.1")
	outerDst = netip.MustParseAddr("192.0.2.2")
)

// pair returns a sealing and an opening SA with the same keys.
func pair(t testing.TB, cfg esp.Config) (seal, open *esp.SA) {
	t.Helper()
	cfg.TunnelSrc, cfg.TunnelDst = outerSrc, outerDst
	s, err := esp.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := esp.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

func innerUDP(t testing.TB, payload string) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: []byte{10, 1, 0, 1}, DstIP: []byte{10, 2, 0, 1}}
	udp := &layers.UDP{SrcPort: 1234, DstPort: 5678}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var suites = []esp.Config{
	{SPI: 0x1001, Cipher: esp.CipherAESGCM16, CipherKey: bytes.Repeat([]byte{1}, 20), Mode: esp.Tunnel},
	{SPI: 0x1002, Cipher: esp.CipherAESCBC, CipherKey: bytes.Repeat([]byte{2}, 32), Integrity: esp.IntegHMACSHA256128,
		IntegrityKey: bytes.Repeat([]byte{3}, 32), Mode: esp.Tunnel, ESN: true},
	{SPI: 0x1003, Cipher: esp.CipherChaCha20Poly1305, CipherKey: bytes.Repeat([]byte{4}, 36), Mode: esp.Tunnel,
		EncapSrcPort: 4500, EncapDstPort: 4500},
}

// TestDecodingLayerParser: tunnel-mode packets, bare and inside UDP 4500,
// decode through the ESP layer into gopacket's IPv4 and UDP layers with
// the inner packet's fields; the outer packet is left unchanged.
func TestDecodingLayerParser(t *testing.T) {
	for _, cfg := range suites {
		t.Run(cfg.Cipher.String(), func(t *testing.T) {
			seal, open := pair(t, cfg)
			d := NewDecrypter(open)
			var ip layers.IPv4
			var udp layers.UDP
			var encap gopacketlayer.UDPEncap
			var payload gopacket.Payload
			parser := gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &ip, d.NewLayer(), &udp, &encap, &payload)
			for i := range 3 {
				want := "inner datagram " + string(rune('a'+i))
				pkt, err := seal.Seal(nil, innerUDP(t, want))
				if err != nil {
					t.Fatal(err)
				}
				orig := bytes.Clone(pkt)
				var decoded []gopacket.LayerType
				if err := parser.DecodeLayers(pkt, &decoded); err != nil {
					t.Fatalf("decode: %v (layers %v)", err, decoded)
				}
				// DecodingLayerParser lists the class a layer decoded, IPSecESP.
				wantLayers := []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeIPSecESP, layers.LayerTypeIPv4, layers.LayerTypeUDP, gopacket.LayerTypePayload}
				if cfg.EncapSrcPort != 0 {
					wantLayers = append([]gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeUDP, gopacketlayer.LayerTypeUDPEncap}, wantLayers[1:]...)
				}
				if len(decoded) != len(wantLayers) {
					t.Fatalf("layers %v, want %v", decoded, wantLayers)
				}
				for k := range decoded {
					if decoded[k] != wantLayers[k] {
						t.Fatalf("layers %v, want %v", decoded, wantLayers)
					}
				}
				if !ip.SrcIP.Equal([]byte{10, 1, 0, 1}) || udp.DstPort != 5678 || string(payload) != want {
					t.Fatalf("inner packet %v %v %q", ip.SrcIP, udp.DstPort, payload)
				}
				if !bytes.Equal(pkt, orig) {
					t.Fatal("the captured packet was modified")
				}
			}
			if st := open.Stats(); st.Packets != 3 {
				t.Fatalf("SA stats %+v", st)
			}
		})
	}
}

// TestDecoder: gopacket.NewPacket from the ESP header gives a layer per
// header.
func TestDecoder(t *testing.T) {
	seal, open := pair(t, suites[1])
	b, err := seal.SealESP(nil, innerUDP(t, "via NewPacket"), 4)
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(b, NewDecrypter(open).Decoder(), gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatal(el.Error())
	}
	e, ok := p.Layer(LayerTypeESPDecrypted).(*ESP)
	if !ok || e.SPI != 0x1002 || e.Seq != 1 || e.NextHeader != layers.IPProtocolIPv4 {
		t.Fatalf("ESP layer %+v", p.Layer(LayerTypeESPDecrypted))
	}
	if app := p.ApplicationLayer(); app == nil || string(app.Payload()) != "via NewPacket" {
		t.Fatalf("application layer %v", p.Layers())
	}
}

// TestErrors: unknown SPIs, truncation, a flipped bit and a replay are
// errors that callers can tell apart, and are counted by the SA.
func TestErrors(t *testing.T) {
	seal, open := pair(t, suites[0])
	d := NewDecrypter(open)
	e := d.NewLayer()
	b, err := seal.SealESP(nil, innerUDP(t, "x"), 4)
	if err != nil {
		t.Fatal(err)
	}
	df := gopacket.NilDecodeFeedback
	if err := e.DecodeFromBytes(b[:7], df); !errors.Is(err, esp.ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	other := bytes.Clone(b)
	other[3] ^= 1
	if err := e.DecodeFromBytes(other, df); !errors.Is(err, ErrUnknownSPI) {
		t.Errorf("unknown SPI: %v", err)
	}
	flipped := bytes.Clone(b)
	flipped[len(flipped)-1] ^= 1
	if err := e.DecodeFromBytes(flipped, df); !errors.Is(err, esp.ErrAuthFailed) {
		t.Errorf("flipped ICV bit: %v", err)
	}
	if err := e.DecodeFromBytes(b, df); err != nil {
		t.Fatal(err)
	}
	if err := e.DecodeFromBytes(b, df); !errors.Is(err, esp.ErrReplay) {
		t.Errorf("replay: %v", err)
	}
	if st := open.Stats(); st.AuthFailures != 1 || st.ReplayDrops != 1 || st.Packets != 1 {
		t.Errorf("stats %+v", st)
	}
	if d.SA(0x1001) != open || d.SA(0x1002) != nil {
		t.Error("Decrypter.SA lookup")
	}
}

// FuzzDecodeFromBytes: no input panics the layer, and a packet that
// decrypts has a payload inside the layer's buffer.
func FuzzDecodeFromBytes(f *testing.F) {
	seal, _ := pair(f, suites[1])
	for _, s := range []string{"", "a", "inner datagram"} {
		b, err := seal.SealESP(nil, innerUDP(f, s), 4)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0, 0, 0x10, 0x02, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, open := pair(t, suites[1])
		e := NewDecrypter(open).NewLayer()
		orig := bytes.Clone(b)
		err := e.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		if !bytes.Equal(b, orig) {
			t.Fatal("input modified")
		}
		if err == nil && len(e.Payload) > len(b) {
			t.Fatal("payload longer than the packet")
		}
	})
}
