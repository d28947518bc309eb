package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/isakmp"
)

// espConfigs turns a negotiated CHILD SA into the two esp.Config values of
// one side: inbound (open) and outbound (seal).
func espConfigs(c *ChildSA) (in, out esp.Config) {
	mode := esp.Tunnel
	if c.Mode == Transport {
		mode = esp.Transport
	}
	in = esp.Config{SPI: c.InboundSPI, Cipher: esp.Cipher(c.Encr.ID), CipherKey: c.InboundEncKey,
		Integrity: esp.Integrity(c.Integ), IntegrityKey: c.InboundIntegKey, Mode: mode, ESN: c.ESN,
		TunnelSrc: c.RemoteAddr, TunnelDst: c.LocalAddr}
	out = esp.Config{SPI: c.OutboundSPI, Cipher: esp.Cipher(c.Encr.ID), CipherKey: c.OutboundEncKey,
		Integrity: esp.Integrity(c.Integ), IntegrityKey: c.OutboundIntegKey, Mode: mode, ESN: c.ESN,
		TunnelSrc: c.LocalAddr, TunnelDst: c.RemoteAddr}
	return in, out
}

// ipv4UDP builds an IPv4/UDP packet from src to dst carrying payload.
func ipv4UDP(src, dst netip.Addr, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = 17
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], 4000)
	binary.BigEndian.PutUint16(p[22:], 5000)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

// checkESP seals packets with one side's outbound SA and opens them with
// the other side's inbound SA, both ways: the negotiated keys, SPIs and
// algorithms interoperate.
func checkESP(t *testing.T, a, b *ChildSA) {
	t.Helper()
	aIn, aOut := espConfigs(a)
	bIn, bOut := espConfigs(b)
	if aOut.SPI != bIn.SPI || bOut.SPI != aIn.SPI {
		t.Fatalf("SPIs do not pair up: %x/%x and %x/%x", aIn.SPI, aOut.SPI, bIn.SPI, bOut.SPI)
	}
	for _, dir := range []struct {
		name    string
		out, in esp.Config
		src     netip.Addr
		dst     netip.Addr
	}{
		{"a->b", aOut, bIn, netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.2.0.7")},
		{"b->a", bOut, aIn, netip.MustParseAddr("10.2.0.7"), netip.MustParseAddr("10.1.0.5")},
	} {
		sealer, err := esp.NewSA(dir.out)
		if err != nil {
			t.Fatalf("%s: outbound esp.NewSA: %v", dir.name, err)
		}
		opener, err := esp.NewSA(dir.in)
		if err != nil {
			t.Fatalf("%s: inbound esp.NewSA: %v", dir.name, err)
		}
		for i := 0; i < 3; i++ {
			pkt := ipv4UDP(dir.src, dir.dst, []byte("payload through the negotiated SA"))
			wire, err := sealer.Seal(nil, pkt)
			if err != nil {
				t.Fatalf("%s: Seal: %v", dir.name, err)
			}
			got, err := opener.Open(wire)
			if err != nil {
				t.Fatalf("%s: Open: %v", dir.name, err)
			}
			if !bytes.Equal(got, pkt) {
				t.Fatalf("%s: inner packet differs", dir.name)
			}
		}
		// And a corrupted packet is refused, so the check above is real.
		pkt := ipv4UDP(dir.src, dir.dst, []byte("x"))
		wire, _ := sealer.Seal(nil, pkt)
		wire[len(wire)-1] ^= 1
		if _, err := opener.Open(wire); !errors.Is(err, esp.ErrAuthFailed) {
			t.Fatalf("%s: corrupted packet: %v", dir.name, err)
		}
	}
}

func establish(t *testing.T, ike, espProps string) *pair {
	t.Helper()
	p := newPair(t, pskConfig(t, true, ike, espProps), pskConfig(t, false, ike, espProps))
	p.run()
	if !p.i.Established() || p.r == nil || !p.r.Established() {
		t.Fatalf("not established: initiator events %v, responder events %v", kinds(p.evI), kinds(p.evR))
	}
	return p
}

// TestHandshakePSK runs IKE_SA_INIT and IKE_AUTH with PSK and the first
// CHILD SA between two in-memory sessions for several suites, and checks
// that the resulting CHILD SAs carry ESP packets both ways.
func TestHandshakePSK(t *testing.T) {
	for _, c := range []struct{ ike, esp string }{
		{"aes256gcm16-prfsha256-x25519", "aes256gcm16"},
		{"aes128-sha256-modp2048", "aes128-sha256"},
		{"aes256-sha384-ecp384", "aes256-sha512"},
		{"aes128gcm16-prfsha512-ecp256", "aes128gcm16-esn"},
		{"chacha20poly1305-prfsha256-x25519", "chacha20poly1305"},
		{"aes192-sha1-prfsha1-ecp521", "aes128ctr-sha256"},
		{"aes128-aesxcbc-prfaesxcbc-x25519", "aes128-sha1"},
		{"aes256gcm12-prfsha384-modp3072", "aes256gmac"},
	} {
		t.Run(c.ike+"/"+c.esp, func(t *testing.T) {
			p := establish(t, c.ike, c.esp)
			ci := findEvent(p.evI, EventChildUp)
			cr := findEvent(p.evR, EventChildUp)
			if ci == nil || cr == nil {
				t.Fatalf("no CHILD SA: %v / %v", kinds(p.evI), kinds(p.evR))
			}
			if countEvents(p.evI, EventIKEUp) != 1 || countEvents(p.evR, EventIKEUp) != 1 {
				t.Fatalf("IKE up events: %v / %v", kinds(p.evI), kinds(p.evR))
			}
			ii, ir := findEvent(p.evI, EventIKEUp).IKE, findEvent(p.evR, EventIKEUp).IKE
			if ii.SPIi != ir.SPIi || ii.SPIr != ir.SPIr || !ii.Initiator || ir.Initiator {
				t.Fatalf("IKE SA info differs: %+v / %+v", ii, ir)
			}
			if !ir.RemoteID.Equal(p.i.cfg.LocalID) || !ii.RemoteID.Equal(p.r.cfg.LocalID) {
				t.Fatalf("peer identities %v / %v", ii.RemoteID, ir.RemoteID)
			}
			if ci.Child.Encr != cr.Child.Encr || ci.Child.Integ != cr.Child.Integ || ci.Child.ESN != cr.Child.ESN {
				t.Fatalf("CHILD algorithms differ: %+v / %+v", ci.Child, cr.Child)
			}
			checkESP(t, ci.Child, cr.Child)
			if st := p.i.Stats(); st.IntegrityFailures+st.Dropped != 0 {
				t.Fatalf("initiator dropped messages: %+v", st)
			}
			if st := p.r.Stats(); st.IntegrityFailures+st.Dropped != 0 {
				t.Fatalf("responder dropped messages: %+v", st)
			}
		})
	}
}

// TestTrafficSelectorNarrowing: the responder narrows the initiator's
// selectors to its own policy (RFC 7296 2.9), and the initiator accepts
// the narrowed set.
func TestTrafficSelectorNarrowing(t *testing.T) {
	icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	icfg.LocalTS = []isakmp.TrafficSelector{SelectorFromPrefix(netip.MustParsePrefix("10.0.0.0/8"))}
	rcfg.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(netip.MustParsePrefix("10.1.2.0/24"))}
	rcfg.RemoteTS[0].IPProtocol = 17
	p := newPair(t, icfg, rcfg)
	p.run()
	ci := findEvent(p.evI, EventChildUp)
	if ci == nil {
		t.Fatalf("no CHILD SA: %v", kinds(p.evI))
	}
	want := rcfg.RemoteTS[0]
	if len(ci.Child.LocalTS) != 1 || !sameSelector(ci.Child.LocalTS[0], want) {
		t.Fatalf("initiator's local selectors %+v, want %+v", ci.Child.LocalTS, want)
	}
	cr := findEvent(p.evR, EventChildUp)
	if len(cr.Child.RemoteTS) != 1 || !sameSelector(cr.Child.RemoteTS[0], want) {
		t.Fatalf("responder's remote selectors %+v", cr.Child.RemoteTS)
	}
}

// TestTransportModeAndAH: USE_TRANSPORT_MODE is negotiated when both sides
// want it and refused otherwise; AH proposals produce AH CHILD SAs with
// integrity keys only.
func TestTransportModeAndAH(t *testing.T) {
	icfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	rcfg := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	icfg.Mode, rcfg.Mode = Transport, Transport
	p := newPair(t, icfg, rcfg)
	p.run()
	ci, cr := findEvent(p.evI, EventChildUp), findEvent(p.evR, EventChildUp)
	if ci == nil || cr == nil || ci.Child.Mode != Transport || cr.Child.Mode != Transport {
		t.Fatalf("events %v / %v", kinds(p.evI), kinds(p.evR))
	}
	checkESP(t, ci.Child, cr.Child)

	// Transport requested, tunnel configured: no CHILD SA, IKE SA up.
	rcfg2 := pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	p = newPair(t, icfg, rcfg2)
	p.run()
	ev := findEvent(p.evI, EventChildFailed)
	if !p.i.Established() || ev == nil || !errors.Is(ev.Err, NotifyError(isakmp.NotifyNoProposalChosen)) {
		t.Fatalf("events %v (%v)", kinds(p.evI), errOf(p.evI))
	}
	// The responder refused: its event wraps ErrChildSA and the
	// notification it sent.
	if ev := findEvent(p.evR, EventChildFailed); ev == nil || !errors.Is(ev.Err, ErrChildSA) ||
		!errors.Is(ev.Err, NotifyError(isakmp.NotifyNoProposalChosen)) {
		t.Fatalf("responder events %v (%v)", kinds(p.evR), errOf(p.evR))
	}

	icfg = pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	rcfg = pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	icfg.ChildProposals = mustProposals(t, "sha256-esn-noesn,sha1", isakmp.ProtocolAH)
	rcfg.ChildProposals = mustProposals(t, "sha384,sha256", isakmp.ProtocolAH)
	p = newPair(t, icfg, rcfg)
	p.run()
	ci, cr = findEvent(p.evI, EventChildUp), findEvent(p.evR, EventChildUp)
	if ci == nil || cr == nil {
		t.Fatalf("events %v / %v", kinds(p.evI), kinds(p.evR))
	}
	if ci.Child.Protocol != isakmp.ProtocolAH || ci.Child.Integ != isakmp.IntegHMACSHA2_256_128 || ci.Child.ESN ||
		len(ci.Child.InboundEncKey) != 0 || len(ci.Child.InboundIntegKey) != 32 ||
		!bytes.Equal(ci.Child.InboundIntegKey, cr.Child.OutboundIntegKey) ||
		!bytes.Equal(ci.Child.OutboundIntegKey, cr.Child.InboundIntegKey) {
		t.Fatalf("AH SA %+v / %+v", ci.Child, cr.Child)
	}
}

// TestHandshakeIPv6: IKE over IPv6 with IPv6 traffic selectors; the CHILD
// SA's tunnel endpoints are the IPv6 addresses.
func TestHandshakeIPv6(t *testing.T) {
	a6 := netip.MustParseAddrPort("[2001:db8::1]:500")
	b6 := netip.MustParseAddrPort("[2001:db8::2]:500")
	icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
	icfg.LocalTS = []isakmp.TrafficSelector{SelectorFromPrefix(netip.MustParsePrefix("2001:db8:1::/48"))}
	icfg.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(netip.MustParsePrefix("2001:db8:2::/48"))}
	rcfg.LocalTS, rcfg.RemoteTS = icfg.RemoteTS, icfg.LocalTS
	i, err := NewInitiator(icfg, a6, b6, t0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Accept(rcfg, b6, a6, t0, i.Datagrams()[0])
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 10 && !(i.Established() && r.Established()); n++ {
		for _, d := range r.Datagrams() {
			i.Receive(t0, d)
		}
		for _, d := range i.Datagrams() {
			r.Receive(t0, d)
		}
	}
	ci, cr := i.ChildSAs(), r.ChildSAs()
	if len(ci) != 1 || len(cr) != 1 {
		t.Fatalf("CHILD SAs %d / %d", len(ci), len(cr))
	}
	if ci[0].LocalAddr != a6.Addr() || ci[0].RemoteAddr != b6.Addr() || ci[0].LocalTS[0].TSType != isakmp.TSIPv6AddrRange {
		t.Fatalf("CHILD SA %+v", ci[0])
	}
	if i.UDPEncap() || r.UDPEncap() {
		t.Fatal("NAT detected without a NAT")
	}
	checkESP(t, &ci[0], &cr[0])
}

// TestNATDetection: without a NAT neither side detects one; when the
// responder sees the initiator at another address than the initiator
// knows (a NAT in between), both notice (RFC 7296 2.23); ForceUDPEncap
// fakes it.
func TestNATDetection(t *testing.T) {
	run := func(iLocal, rSeesI netip.AddrPort, force bool) (*Session, *Session) {
		icfg := pskConfig(t, true, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
		icfg.ForceUDPEncap = force
		rcfg := pskConfig(t, false, "aes256gcm16-prfsha256-x25519", "aes256gcm16")
		i, err := NewInitiator(icfg, iLocal, addrR, t0)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Accept(rcfg, addrR, rSeesI, t0, i.Datagrams()[0])
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 10 && !(i.Established() && r.Established()); n++ {
			for _, d := range r.Datagrams() {
				i.Receive(t0, d)
			}
			for _, d := range i.Datagrams() {
				r.Receive(t0, d)
			}
		}
		if !i.Established() || !r.Established() {
			t.Fatal("not established")
		}
		return i, r
	}
	i, r := run(addrI, addrI, false)
	if i.localNAT || i.remoteNAT || r.localNAT || r.remoteNAT {
		t.Fatalf("NAT without a NAT: %v %v %v %v", i.localNAT, i.remoteNAT, r.localNAT, r.remoteNAT)
	}
	i, r = run(netip.MustParseAddrPort("10.0.0.1:500"), netip.MustParseAddrPort("198.51.100.7:4500"), false)
	if !i.localNAT || i.remoteNAT || r.localNAT || !r.remoteNAT {
		t.Fatalf("NAT not detected: %v %v %v %v", i.localNAT, i.remoteNAT, r.localNAT, r.remoteNAT)
	}
	c := i.ChildSAs()[0]
	if c.EncapLocalPort == 0 || !i.UDPEncap() || !r.UDPEncap() {
		t.Fatalf("no UDP encapsulation behind a NAT: %+v", c)
	}
	i, r = run(addrI, addrI, true)
	if !i.UDPEncap() || !r.remoteNAT {
		t.Fatal("ForceUDPEncap not seen by the responder")
	}
}
