package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/ike/keylog"
	"github.com/ipsecgo/ipsec/isakmp"
)

var (
	hostA = netip.MustParseAddr("192.0.2.1")
	hostB = netip.MustParseAddr("192.0.2.2")
	t0    = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
)

// capture builds a pcap in memory, frame by frame (Ethernet, IPv4).
type capture struct {
	t      testing.TB
	buf    bytes.Buffer
	w      *pcapgo.Writer
	frames int
}

func newCapture(t testing.TB) *capture {
	c := &capture{t: t}
	c.w = pcapgo.NewWriter(&c.buf)
	if err := c.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *capture) frame(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	all := append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6),
		EthernetType: layers.EthernetTypeIPv4}}, ls...)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		c.t.Fatal(err)
	}
	b := buf.Bytes()
	c.write(b)
	return b
}

func (c *capture) write(b []byte) {
	c.frames++
	ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(c.frames) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
	if err := c.w.WritePacket(ci, b); err != nil {
		c.t.Fatal(err)
	}
}

func ipv4(src, dst netip.Addr, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

// udp writes a UDP datagram frame.
func (c *capture) udp(src, dst netip.AddrPort, payload []byte) {
	ip := ipv4(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	_ = u.SetNetworkLayerForChecksum(ip)
	c.frame(ip, u, gopacket.Payload(payload))
}

// esp writes an ESP packet (SPI through ICV) from src to dst, bare or in
// UDP 4500.
func (c *capture) esp(src, dst netip.Addr, encap bool, pkt []byte) {
	if encap {
		c.udp(netip.AddrPortFrom(src, 4500), netip.AddrPortFrom(dst, 4500), pkt)
		return
	}
	c.frame(ipv4(src, dst, layers.IPProtocolESP), gopacket.Payload(pkt))
}

func innerUDP(t testing.TB, src, dst netip.Addr, payload string) []byte {
	ip := ipv4(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 1000, DstPort: 2000}
	_ = u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// espSuites is every suite package esp supports.
var espSuites = []struct {
	c esp.Cipher
	i esp.Integrity
}{
	{esp.Cipher3DES, esp.IntegHMACMD596}, {esp.CipherNull, esp.IntegHMACSHA196},
	{esp.CipherAESCBC, esp.IntegHMACSHA196}, {esp.CipherAESCBC, esp.IntegHMACSHA256128},
	{esp.CipherAESCBC, esp.IntegHMACSHA384192}, {esp.CipherAESCBC, esp.IntegHMACSHA512256},
	{esp.CipherAESCTR, esp.IntegHMACSHA256128}, {esp.CipherAESGCM8, esp.IntegNone},
	{esp.CipherAESGCM12, esp.IntegNone}, {esp.CipherAESGCM16, esp.IntegNone},
	{esp.CipherNullAuthAESGMAC, esp.IntegNone}, {esp.CipherChaCha20Poly1305, esp.IntegNone},
}

// handshake runs an IKEv2 exchange between two in-memory sessions that
// log their keys to logw, writing every datagram into c.
func handshake(t *testing.T, c *capture, logw *bytes.Buffer, ikeProps string) {
	t.Helper()
	cfg := func(local, remote string, lnet, rnet string) *ike.Config {
		key, err := auth.NewPSK([]byte("decrypt test pre-shared key, long enough"), auth.PSKOptions{})
		if err != nil {
			t.Fatal(err)
		}
		store := auth.NewPSKStore(auth.PSKOptions{})
		if err := store.Add(auth.FQDN(remote), []byte("decrypt test pre-shared key, long enough")); err != nil {
			t.Fatal(err)
		}
		ip, err := ike.ParseProposals(ikeProps, isakmp.ProtocolIKE)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := ike.ParseProposals("aes128gcm16", isakmp.ProtocolESP)
		if err != nil {
			t.Fatal(err)
		}
		return &ike.Config{LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote), Auth: key, PeerAuth: ike.PSKPeers(store),
			IKEProposals: ip, ChildProposals: ep, KeyLogWriter: logw,
			LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(lnet))},
			RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(rnet))}}
	}
	a, b := netip.AddrPortFrom(hostA, 500), netip.AddrPortFrom(hostB, 500)
	i, err := ike.NewInitiator(cfg("a.example", "b.example", "10.1.0.0/16", "10.2.0.0/16"), a, b, t0)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := cfg("b.example", "a.example", "10.2.0.0/16", "10.1.0.0/16")
	var r *ike.Session
	toR := i.Datagrams()
	var toI [][]byte
	for round := 0; len(toR)+len(toI) > 0 && round < 10; round++ {
		for _, d := range toR {
			c.udp(a, b, d)
			if r == nil {
				if r, err = ike.Accept(rcfg, b, a, t0, d); err != nil {
					t.Fatal(err)
				}
			} else {
				r.Receive(t0, d)
			}
		}
		toR = nil
		if r != nil {
			toI = r.Datagrams()
		}
		for _, d := range toI {
			c.udp(b, a, d)
			i.Receive(t0, d)
		}
		toI = nil
		toR = i.Datagrams()
	}
	if !i.Established() || r == nil || !r.Established() {
		t.Fatal("IKE SA not established")
	}
}

// TestDecryptOurTraffic: a capture of an IKEv2 handshake of ours and of
// ESP packets of every suite esp supports (tunnel and transport mode,
// bare and in UDP 4500), with a lost packet, a replayed one and a
// corrupted one, decrypts with the key log: the IKE_AUTH payloads, the
// inner packets byte for byte, and the exact counters per SA.
func TestDecryptOurTraffic(t *testing.T) {
	c := newCapture(t)
	var logw bytes.Buffer
	handshake(t, c, &logw, "aes128-sha256-prfsha256-x25519")
	var want [][]byte
	for k, s := range espSuites {
		spi := uint32(0x1000 + k)
		cfg := esp.Config{SPI: spi, Cipher: s.c, CipherKey: bytes.Repeat([]byte{byte(k + 1)}, s.c.KeySizes()[0]),
			Integrity: s.i, IntegrityKey: bytes.Repeat([]byte{byte(k + 101)}, s.i.KeySize()), AllowLegacy: true,
			Mode: esp.Tunnel, TunnelSrc: hostA, TunnelDst: hostB, ESN: k%3 == 0}
		encap := k%2 == 1
		if k%4 == 2 {
			cfg.Mode = esp.Transport
		}
		sa, err := esp.NewSA(cfg)
		if err != nil {
			t.Fatalf("%v/%v: %v", s.c, s.i, err)
		}
		logw.Write(keylog.AppendChild(nil, &keylog.ChildSA{Protocol: keylog.ProtocolESP, SPI: spi, Src: hostA, Dst: hostB,
			Encr: uint16(s.c), Key: cfg.CipherKey, Integ: uint16(s.i), IKey: cfg.IntegrityKey, ESN: cfg.ESN,
			Tunnel: cfg.Mode == esp.Tunnel}))
		for n := range 5 {
			inner := innerUDP(t, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), fmt.Sprintf("%v packet %d", s.c, n))
			payload, nh := inner, uint8(4)
			if cfg.Mode == esp.Transport {
				payload, nh = inner[20:], 17
			}
			b, err := sa.SealESP(nil, payload, nh)
			if err != nil {
				t.Fatal(err)
			}
			switch n {
			case 1: // lost: a gap of one
				continue
			case 2: // corrupted in flight
				bad := bytes.Clone(b)
				bad[len(bad)-1] ^= 0x80
				c.esp(hostA, hostB, encap, bad)
			}
			c.esp(hostA, hostB, encap, b)
			if n == 3 { // duplicated in flight: a replay
				c.esp(hostA, hostB, encap, b)
			}
			if cfg.Mode == esp.Transport {
				inner = transportView(inner, hostA, hostB)
			}
			want = append(want, inner)
		}
	}
	l, err := keylog.Parse(bytes.NewReader(logw.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecryptor(l)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	errs, err := decryptCapture(d, bytes.NewReader(c.buf.Bytes()), func(_ gopacket.CaptureInfo, p []byte) error {
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d inner packets, want %d; errors %v", len(got), len(want), errs)
	}
	for k := range got {
		if !bytes.Equal(got[k], want[k]) {
			t.Fatalf("inner packet %d:\n%x\nwant\n%x", k, got[k], want[k])
		}
	}
	sum := d.Summary()
	if len(sum) != len(espSuites) {
		t.Fatalf("summary has %d SAs", len(sum))
	}
	for _, s := range sum {
		if s.Packets != 4 || s.ICVFailures != 1 || s.Replays != 1 || s.Gaps != 1 || s.Src != hostA || s.Dst != hostB {
			t.Errorf("SA %08x (%v/%v): %+v", s.SPI, s.Cipher, s.Integ, s.Stats)
		}
	}
	if len(errs) != 2*len(espSuites) {
		t.Errorf("%d packet errors, want one ICV failure and one replay per SA: %v", len(errs), errs)
	}
	// IKE: IKE_SA_INIT in clear, IKE_AUTH decrypted with ID, AUTH, SA, TS.
	var authSeen int
	for _, m := range d.IKE {
		if m.Exchange != isakmp.ExchangeIKEAuth {
			continue
		}
		authSeen++
		s := m.String()
		for _, p := range []string{"IDi", "AUTH", "SA", "TSi", "TSr"} {
			if m.Response && p == "IDi" {
				p = "IDr"
			}
			if !strings.Contains(s, p) {
				t.Errorf("IKE_AUTH %s lacks %s", s, p)
			}
		}
	}
	if authSeen != 2 {
		t.Errorf("%d IKE_AUTH messages decrypted, want 2: %v", authSeen, d.IKE)
	}
	var out bytes.Buffer
	d.WriteSummary(&out)
	if !strings.Contains(out.String(), "2 messages decrypted, 0 integrity failures") {
		t.Errorf("summary:\n%s", out.String())
	}
}

// transportView is what a receiver delivers for a transport-mode packet:
// the outer header (here src -> dst) with the inner transport payload.
func transportView(inner []byte, src, dst netip.Addr) []byte {
	out := bytes.Clone(inner)
	s, d := src.As4(), dst.As4()
	copy(out[12:], s[:])
	copy(out[16:], d[:])
	out[10], out[11] = 0, 0
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(out[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(out[10:], ^uint16(sum))
	return out
}

// refSealCBC is a reference ESP sealer, written from RFC 4303 alone, for
// AES-CBC with HMAC-SHA-256-128 and a 64-bit sequence number: the ICV
// covers the ESP packet and then the high 32 bits (RFC 4303 3.3.2.1,
// Appendix A). It starts where package esp cannot be made to start:
// just before the low half wraps.
func refSealCBC(t *testing.T, ekey, ikey []byte, spi uint32, seq uint64, payload []byte, nh byte) []byte {
	b, err := aes.NewCipher(ekey)
	if err != nil {
		t.Fatal(err)
	}
	pt := append([]byte{}, payload...)
	pad := (16 - (len(pt)+2)%16) % 16
	for i := 1; i <= pad; i++ {
		pt = append(pt, byte(i))
	}
	pt = append(pt, byte(pad), nh)
	iv := bytes.Repeat([]byte{byte(seq)}, 16)
	out := binary.BigEndian.AppendUint32(nil, spi)
	out = binary.BigEndian.AppendUint32(out, uint32(seq))
	out = append(out, iv...)
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, pt)
	out = append(out, ct...)
	m := hmac.New(sha256.New, ikey)
	m.Write(out)
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(seq>>32)))
	return append(out, m.Sum(nil)[:16]...)
}

// TestDecryptESNWrap: an ESN SA whose low sequence half wraps inside the
// capture: the decryptor infers the high half as the receiver does (RFC
// 4303 Appendix A2.2), so the ICVs of packets 2^32 and later verify, and
// a lost packet across the wrap is one gap.
func TestDecryptESNWrap(t *testing.T) {
	c := newCapture(t)
	ekey, ikey := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{8}, 32)
	const spi = 0xe5e5e5e5
	start := uint64(1)<<32 - 3
	var want int
	for seq := start; seq < start+6; seq++ {
		if seq == 1<<32 { // lost
			continue
		}
		inner := innerUDP(t, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), fmt.Sprint("seq ", seq))
		c.esp(hostA, hostB, false, refSealCBC(t, ekey, ikey, spi, seq, inner, 4))
		want++
	}
	l := &keylog.Log{Child: []keylog.ChildSA{{Protocol: keylog.ProtocolESP, SPI: spi, Encr: uint16(esp.CipherAESCBC), Key: ekey,
		Integ: uint16(esp.IntegHMACSHA256128), IKey: ikey, ESN: true}}}
	d, err := NewDecryptor(l)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	errs, err := decryptCapture(d, bytes.NewReader(c.buf.Bytes()), func(gopacket.CaptureInfo, []byte) error { n++; return nil })
	if err != nil || len(errs) != 0 || n != want {
		t.Fatalf("%d of %d packets decrypted, errors %v %v", n, want, err, errs)
	}
	if s := d.Summary()[0]; s.Gaps != 1 || s.ICVFailures != 0 {
		t.Fatalf("summary %+v", s)
	}
}

// TestDecryptWiresharkTable: the same ESP traffic decrypts with the keys
// given as Wireshark's esp_sa table, which -wireshark writes.
func TestDecryptWiresharkTable(t *testing.T) {
	dir := t.TempDir()
	cfg := esp.Config{SPI: 0x4242, Cipher: esp.CipherAESCBC, CipherKey: bytes.Repeat([]byte{1}, 32),
		Integrity: esp.IntegHMACSHA512256, IntegrityKey: bytes.Repeat([]byte{2}, 64), Mode: esp.Tunnel, TunnelSrc: hostA, TunnelDst: hostB}
	sa, err := esp.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logText := keylog.AppendChild(nil, &keylog.ChildSA{Protocol: keylog.ProtocolESP, SPI: cfg.SPI, Src: hostA, Dst: hostB,
		Encr: uint16(cfg.Cipher), Key: cfg.CipherKey, Integ: uint16(cfg.Integrity), IKey: cfg.IntegrityKey, Tunnel: true})
	keys := filepath.Join(dir, "keys.log")
	if err := os.WriteFile(keys, logText, 0o600); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(dir, "wireshark")
	if err := run("", keys, "", ws, false, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keylog.IKEv2TableName, keylog.IKEv1TableName, keylog.ESPTableName} {
		if _, err := os.Stat(filepath.Join(ws, name)); err != nil {
			t.Fatal(err)
		}
	}
	c := newCapture(t)
	inner := innerUDP(t, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), "through the esp_sa table")
	b, err := sa.SealESP(nil, inner, 4)
	if err != nil {
		t.Fatal(err)
	}
	c.esp(hostA, hostB, false, b)
	capPath, outPath := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap")
	if err := os.WriteFile(capPath, c.buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := run(capPath, filepath.Join(ws, keylog.ESPTableName), outPath, "", true, &stdout); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := r.ReadPacketData()
	if err != nil || !bytes.Equal(p, inner) || r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("output pcap: %v %x", err, p)
	}
	if !strings.Contains(stdout.String(), "0x00004242 192.0.2.1 -> 192.0.2.2") {
		t.Fatalf("summary:\n%s", stdout.String())
	}
}

// TestDecryptMalformedCaptures: every prefix of a valid capture, and
// garbage, gives an error or a short result, never a panic.
func TestDecryptMalformedCaptures(t *testing.T) {
	c := newCapture(t)
	var logw bytes.Buffer
	handshake(t, c, &logw, "aes256gcm16-prfsha256-x25519")
	l, err := keylog.Parse(&logw)
	if err != nil {
		t.Fatal(err)
	}
	full := c.buf.Bytes()
	truncatedErrors := 0
	for n := range len(full) {
		d, err := NewDecryptor(l)
		if err != nil {
			t.Fatal(err)
		}
		_, err = decryptCapture(d, bytes.NewReader(full[:n]), func(gopacket.CaptureInfo, []byte) error { return nil })
		if err != nil {
			truncatedErrors++
		}
	}
	if truncatedErrors == 0 {
		t.Fatal("no truncated capture gave an error")
	}
	d, _ := NewDecryptor(l)
	if _, err := decryptCapture(d, strings.NewReader("not a capture at all"), nil); err == nil {
		t.Fatal("garbage accepted")
	}
}

// FuzzPacket: the per-packet path never panics on any frame, with keys
// for the SPIs and IKE SAs its seeds use.
func FuzzPacket(f *testing.F) {
	c := newCapture(f)
	var logw bytes.Buffer
	cfg := esp.Config{SPI: 0x1000, Cipher: esp.CipherAESGCM16, CipherKey: bytes.Repeat([]byte{1}, 20), Mode: esp.Tunnel,
		TunnelSrc: hostA, TunnelDst: hostB, ESN: true}
	sa, err := esp.NewSA(cfg)
	if err != nil {
		f.Fatal(err)
	}
	logw.Write(keylog.AppendChild(nil, &keylog.ChildSA{Protocol: keylog.ProtocolESP, SPI: cfg.SPI, Encr: uint16(cfg.Cipher),
		Key: cfg.CipherKey, IKey: []byte{}, ESN: true, Tunnel: true}))
	logw.WriteString("IKEV2 SPII=0102030405060708 SPIR=0807060504030201 ENCR=12 SK_EI=" + strings.Repeat("01", 16) +
		" SK_ER=" + strings.Repeat("02", 16) + " INTEG=12 SK_AI=" + strings.Repeat("03", 32) + " SK_AR=" + strings.Repeat("04", 32) + "\n")
	for k := range 3 {
		b, err := sa.SealESP(nil, innerUDP(f, hostA, hostB, strings.Repeat("x", k*10)), 4)
		if err != nil {
			f.Fatal(err)
		}
		c.esp(hostA, hostB, k == 1, b)
	}
	l, err := keylog.Parse(&logw)
	if err != nil {
		f.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(c.buf.Bytes()))
	if err != nil {
		f.Fatal(err)
	}
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		f.Add(uint8(1), data)
		f.Add(uint8(1), data[:len(data)/2])
		f.Add(uint8(101), data[14:])
	}
	ikeMsg := make([]byte, 28+4+16+16+16)
	copy(ikeMsg, []byte{1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1, 46, 0x20, 35, 0x08})
	binary.BigEndian.PutUint32(ikeMsg[24:], uint32(len(ikeMsg)))
	binary.BigEndian.PutUint16(ikeMsg[30:], uint16(len(ikeMsg)-28))
	{
		ip := ipv4(hostA, hostB, layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: 500, DstPort: 500}
		_ = u.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		_ = gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ip, u, gopacket.Payload(ikeMsg))
		f.Add(uint8(101), buf.Bytes())
	}
	f.Add(uint8(113), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd, 0x60})
	f.Fuzz(func(t *testing.T, link uint8, frame []byte) {
		d, err := NewDecryptor(l)
		if err != nil {
			t.Fatal(err)
		}
		orig := bytes.Clone(frame)
		pkt, err := d.Packet(layers.LinkType(link), frame)
		if !bytes.Equal(frame, orig) {
			t.Fatal("frame modified")
		}
		if err == nil && pkt != nil && len(pkt) > len(frame) {
			t.Fatal("inner packet longer than the frame")
		}
		if errors.Is(err, errICV) && pkt != nil {
			t.Fatal("packet delivered despite a failed ICV")
		}
	})
}

// TestDecryptPcapng: the same frames in a pcapng file (as Wireshark and
// dumpcap write) decrypt the same.
func TestDecryptPcapng(t *testing.T) {
	c := newCapture(t)
	var logw bytes.Buffer
	handshake(t, c, &logw, "aes256gcm16-prfsha256-x25519")
	l, err := keylog.Parse(&logw)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(c.buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"pcap": c.buf.Bytes(), "pcapng": ng.Bytes()} {
		d, err := NewDecryptor(l)
		if err != nil {
			t.Fatal(err)
		}
		errs, err := decryptCapture(d, bytes.NewReader(b), func(gopacket.CaptureInfo, []byte) error { return nil })
		if err != nil || len(errs) != 0 || len(d.IKE) != 4 {
			t.Fatalf("%s: %v %v, %d IKE messages", name, err, errs, len(d.IKE))
		}
	}
}

// TestDecryptIKESuites: IKE_AUTH decrypts for each IKE SA protection
// openSK implements (RFC 7296 3.14, RFC 5282, RFC 7634).
func TestDecryptIKESuites(t *testing.T) {
	for _, p := range []string{"chacha20poly1305-prfsha256-x25519", "aes128gcm16-prfsha256-ecp256", "aes256gcm12-prfsha384-x25519",
		"aes256-sha512-x25519", "aes192-sha384-x25519", "aes128-sha1-x25519"} {
		t.Run(p, func(t *testing.T) {
			c := newCapture(t)
			var logw bytes.Buffer
			handshake(t, c, &logw, p)
			l, err := keylog.Parse(&logw)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecryptor(l)
			if err != nil {
				t.Fatal(err)
			}
			errs, err := decryptCapture(d, bytes.NewReader(c.buf.Bytes()), func(gopacket.CaptureInfo, []byte) error { return nil })
			if err != nil || len(errs) != 0 {
				t.Fatal(err, errs)
			}
			if len(d.IKE) != 4 || !strings.Contains(d.IKE[3].String(), "IDr AUTH SA TSi TSr") {
				t.Fatalf("IKE messages %v", d.IKE)
			}
		})
	}
}
