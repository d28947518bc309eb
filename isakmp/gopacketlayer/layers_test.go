package gopacketlayer

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ipsecgo/ipsec/isakmp"
)

// readPcaps returns the frames of the strongSwan captures in
// ../testdata (see ../testdata/README.md) and their link type.
func readPcaps(t testing.TB) ([][]byte, layers.LinkType) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.pcap"))
	if len(files) == 0 {
		t.Fatal("no captures in ../testdata")
	}
	var frames [][]byte
	var lt layers.LinkType
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		lt = r.LinkType()
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			frames = append(frames, data)
		}
		fh.Close()
	}
	return frames, lt
}

// TestCaptures decodes every frame of the strongSwan captures through
// gopacket and checks that each IKE datagram yields an ISAKMP layer whose
// message is the UDP payload (after the non-ESP marker on port 4500) and
// re-encodes to it.
func TestCaptures(t *testing.T) {
	frames, lt := readPcaps(t)
	n := 0
	for i, f := range frames {
		pkt := gopacket.NewPacket(f, lt, gopacket.Default)
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			continue
		}
		if e := pkt.ErrorLayer(); e != nil {
			t.Fatalf("frame %d: %v", i, e.Error())
		}
		want := udp.Payload
		if udp.SrcPort == PortNATT || udp.DstPort == PortNATT {
			enc, ok := pkt.Layer(LayerTypeUDPEncap).(*UDPEncap)
			if !ok || !bytes.Equal(enc.Contents, []byte{0, 0, 0, 0}) {
				t.Fatalf("frame %d: UDPEncap layer %+v", i, enc)
			}
			want = want[4:]
		}
		l, ok := pkt.Layer(LayerTypeISAKMP).(*ISAKMP)
		if !ok {
			t.Fatalf("frame %d: no ISAKMP layer: %v", i, pkt)
		}
		if !bytes.Equal(l.Payload(), want) || pkt.ApplicationLayer() != l {
			t.Fatalf("frame %d: ISAKMP layer holds the wrong bytes", i)
		}
		out, err := l.Message.Append(nil)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("frame %d: re-encoded %x (%v)", i, out, err)
		}
		n++
	}
	if n < 30 {
		t.Fatalf("only %d IKE messages decoded", n)
	}
}

func udpFrame(t testing.TB, port layers.UDPPort, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
	udp := &layers.UDP{SrcPort: port, DstPort: port}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ikeMessage(t testing.TB) []byte {
	m := isakmp.Message{Header: isakmp.Header{Version: isakmp.VersionIKEv2, Exchange: isakmp.ExchangeInformational, Flags: isakmp.FlagInitiator, MessageID: 7},
		Payloads: []isakmp.Payload{&isakmp.Encrypted{Inner: isakmp.PayloadDelete, Data: bytes.Repeat([]byte{0xaa}, 40)}}}
	m.Header.InitiatorSPI[0], m.Header.ResponderSPI[0] = 1, 2
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPort4500Kinds(t *testing.T) {
	ike := ikeMessage(t)
	esp := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0x1234), 1)
	esp = append(esp, bytes.Repeat([]byte{0x55}, 32)...)
	tests := []struct {
		name    string
		port    layers.UDPPort
		payload []byte
		check   func(t *testing.T, p gopacket.Packet)
	}{
		{"ike on 500", PortIKE, ike, func(t *testing.T, p gopacket.Packet) {
			l, ok := p.Layer(LayerTypeISAKMP).(*ISAKMP)
			if !ok || l.Message.Header.MessageID != 7 || p.Layer(LayerTypeUDPEncap) != nil {
				t.Fatalf("%v", p)
			}
		}},
		{"ike behind marker", PortNATT, append([]byte{0, 0, 0, 0}, ike...), func(t *testing.T, p gopacket.Packet) {
			if l, ok := p.Layer(LayerTypeISAKMP).(*ISAKMP); !ok || l.Message.Header.Exchange != isakmp.ExchangeInformational {
				t.Fatalf("%v", p)
			}
		}},
		{"esp", PortNATT, esp, func(t *testing.T, p gopacket.Packet) {
			e, ok := p.Layer(layers.LayerTypeIPSecESP).(*layers.IPSecESP)
			if !ok || e.SPI != 0x1234 || e.Seq != 1 || len(e.Encrypted) != 32 || p.Layer(LayerTypeISAKMP) != nil {
				t.Fatalf("%v", p)
			}
		}},
		{"keepalive", PortNATT, []byte{0xff}, func(t *testing.T, p gopacket.Packet) {
			u, ok := p.Layer(LayerTypeUDPEncap).(*UDPEncap)
			if !ok || !u.Keepalive || p.ErrorLayer() != nil {
				t.Fatalf("%v", p)
			}
		}},
		{"short esp", PortNATT, []byte{1, 2, 3}, func(t *testing.T, p gopacket.Packet) {
			if p.ErrorLayer() == nil || p.Layer(layers.LayerTypeIPSecESP) != nil {
				t.Fatalf("3-byte datagram decoded: %v", p)
			}
		}},
		{"truncated ike", PortNATT, append([]byte{0, 0, 0, 0}, ike[:40]...), func(t *testing.T, p gopacket.Packet) {
			if p.ErrorLayer() == nil || p.Layer(LayerTypeISAKMP) != nil {
				t.Fatalf("truncated message decoded: %v", p)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := gopacket.NewPacket(udpFrame(t, tc.port, tc.payload), layers.LayerTypeEthernet,
				gopacket.DecodeOptions{SkipDecodeRecovery: true})
			tc.check(t, p)
		})
	}
}

// TestDecodingLayerParser decodes through the allocation-free
// DecodingLayerParser path.
func TestDecodingLayerParser(t *testing.T) {
	var eth layers.Ethernet
	var ip layers.IPv4
	var udp layers.UDP
	var enc UDPEncap
	var ike ISAKMP
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip, &udp, &enc, &ike)
	frame := udpFrame(t, PortNATT, append([]byte{0, 0, 0, 0}, ikeMessage(t)...))
	var decoded []gopacket.LayerType
	if err := parser.DecodeLayers(frame, &decoded); err != nil {
		t.Fatal(err)
	}
	if len(decoded) != 5 || decoded[4] != LayerTypeISAKMP || ike.Message.Header.MessageID != 7 {
		t.Fatalf("decoded %v, message %+v", decoded, ike.Message.Header)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := parser.DecodeLayers(frame, &decoded); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("DecodeLayers allocates %v times", allocs)
	}
}

// FuzzUDPEncap feeds arbitrary port-4500 and port-500 payloads through
// gopacket with panic recovery off: no input may panic.
func FuzzUDPEncap(f *testing.F) {
	f.Add(append([]byte{0, 0, 0, 0}, ikeMessage(f)...))
	f.Add([]byte{0xff})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 0})
	frames, lt := readPcaps(f)
	for _, fr := range frames {
		p := gopacket.NewPacket(fr, lt, gopacket.Default)
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			f.Add(u.Payload)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		gopacket.NewPacket(b, LayerTypeUDPEncap, gopacket.DecodeOptions{SkipDecodeRecovery: true})
		gopacket.NewPacket(b, LayerTypeISAKMP, gopacket.DecodeOptions{SkipDecodeRecovery: true})
	})
}

// BenchmarkDecodingLayerParser: the baseline decodes Ethernet, IPv4 and
// UDP only; the other run adds the UDPEncap and ISAKMP layers.
func BenchmarkDecodingLayerParser(b *testing.B) {
	frame := udpFrame(b, PortNATT, append([]byte{0, 0, 0, 0}, ikeMessage(b)...))
	var eth layers.Ethernet
	var ip layers.IPv4
	var udp layers.UDP
	var enc UDPEncap
	var ike ISAKMP
	var decoded []gopacket.LayerType
	b.Run("udp-baseline", func(b *testing.B) {
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip, &udp)
		parser.IgnoreUnsupported = true
		for b.Loop() {
			_ = parser.DecodeLayers(frame, &decoded)
		}
	})
	b.Run("isakmp", func(b *testing.B) {
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip, &udp, &enc, &ike)
		for b.Loop() {
			if err := parser.DecodeLayers(frame, &decoded); err != nil {
				b.Fatal(err)
			}
		}
	})
}
