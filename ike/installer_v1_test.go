package ike_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	ipsec "github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// TestInstallerESPConfigsV1: CHILD SAs negotiated by IKEv1 go through the
// root package's ESPConfigs unchanged (the same ChildSA meaning as IKEv2)
// and seal and open ESP both ways, in tunnel and transport mode and with
// UDP encapsulation.
func TestInstallerESPConfigsV1(t *testing.T) {
	for _, c := range []struct {
		name, ike, esp string
		mode           ike.Mode
		encap          bool
	}{
		{"tunnel-cbc", "aes128-sha256-modp2048", "aes128-sha256", ike.Tunnel, false},
		{"tunnel-gcm-pfs", "aes256-sha256-x25519", "aes256gcm16-ecp256", ike.Tunnel, false},
		{"transport-cbc", "aes256-sha1-ecp256", "aes256-sha1", ike.Transport, false},
		{"udp-tunnel", "aes128-sha256-modp2048", "aes128gcm16", ike.Tunnel, true},
		{"udp-transport", "aes128-sha256-modp2048", "aes128-sha256", ike.Transport, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			li, ri := netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500")
			icfg := v1Config(t, "i.example", "r.example", "10.1.0.0/16", "10.2.0.0/16", c.ike, c.esp)
			rcfg := v1Config(t, "r.example", "i.example", "10.2.0.0/16", "10.1.0.0/16", c.ike, c.esp)
			icfg.Mode, rcfg.Mode = c.mode, c.mode
			icfg.ForceUDPEncap = c.encap
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			is, err := ike.NewInitiatorV1(icfg, li, ri, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			var rs *ike.SessionV1
			var evI, evR []ike.Event
			for round := 0; round < 20; round++ {
				moved := false
				for _, d := range is.Datagrams() {
					moved = true
					if rs == nil {
						if rs, err = ike.AcceptV1(rcfg, ri, li, now, d); err != nil {
							t.Fatal(err)
						}
						continue
					}
					rs.Receive(now, d)
				}
				if rs != nil {
					for _, d := range rs.Datagrams() {
						moved = true
						is.Receive(now, d)
					}
					evR = append(evR, rs.Events()...)
				}
				evI = append(evI, is.Events()...)
				if !moved {
					break
				}
			}
			a, b := childOf(evI), childOf(evR)
			if a == nil || b == nil {
				t.Fatalf("no CHILD SA: %v / %v", evI, evR)
			}
			if a.Version != ike.IKEv1 || a.Mode != c.mode || (a.EncapLocalPort != 0) != c.encap {
				t.Fatalf("child %+v", a)
			}
			if c.encap && (!is.UDPEncap() || !rs.UDPEncap()) {
				t.Fatal("UDP encapsulation not negotiated")
			}
			sealOpen(t, a, b)
			sealOpen(t, b, a)
		})
	}
}

func v1Config(t *testing.T, local, remote, lnet, rnet, ikeP, espP string) *ike.Config {
	t.Helper()
	secret := []byte("a pre-shared key of decent length")
	key, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peers := auth.NewPSKStore(auth.PSKOptions{})
	if err := peers.Add(auth.FQDN(remote), secret); err != nil {
		t.Fatal(err)
	}
	ip, err := ike.ParseProposals(ikeP, isakmp.ProtocolIKE)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ike.ParseProposals(espP, isakmp.ProtocolESP)
	if err != nil {
		t.Fatal(err)
	}
	return &ike.Config{LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote), Auth: key, PeerAuth: ike.PSKPeers(peers),
		IKEProposals: ip, ChildProposals: cp, KeyExchange: ike.KeyExchangeIKEv1,
		LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(lnet))},
		RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(rnet))}}
}

func childOf(ev []ike.Event) *ike.ChildSA {
	for _, e := range ev {
		if e.Kind == ike.EventChildUp {
			return e.Child
		}
	}
	return nil
}

// sealOpen seals with a's outbound SA and opens with b's inbound SA, both
// built by ipsec.ESPConfigs.
func sealOpen(t *testing.T, a, b *ike.ChildSA) {
	t.Helper()
	_, out, err := ipsec.ESPConfigs(a)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := ipsec.ESPConfigs(b)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := esp.NewSA(out)
	if err != nil {
		t.Fatal(err)
	}
	opener, err := esp.NewSA(in)
	if err != nil {
		t.Fatal(err)
	}
	pkt := udpPacket(netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.2.0.7"), []byte("through an IKEv1 SA"))
	if a.Mode == ike.Transport {
		pkt = udpPacket(a.LocalAddr, a.RemoteAddr, []byte("through an IKEv1 SA"))
	}
	wire, err := sealer.Seal(nil, pkt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := opener.Open(wire)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, pkt) {
		t.Fatal("inner packet differs")
	}
}

func udpPacket(src, dst netip.Addr, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, 17
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

// TestInstallerAHConfigsV1: an AH CHILD SA from IKEv1 goes through the root
// package's AHConfigs and protects packets both ways.
func TestInstallerAHConfigsV1(t *testing.T) {
	li, ri := netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500")
	icfg := v1Config(t, "i.example", "r.example", "10.1.0.0/16", "10.2.0.0/16", "aes128-sha256-ecp256", "aes128-sha256")
	rcfg := v1Config(t, "r.example", "i.example", "10.2.0.0/16", "10.1.0.0/16", "aes128-sha256-ecp256", "aes128-sha256")
	ahp, err := ike.ParseProposals("sha256", isakmp.ProtocolAH)
	if err != nil {
		t.Fatal(err)
	}
	icfg.ChildProposals, rcfg.ChildProposals = ahp, ahp
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	is, err := ike.NewInitiatorV1(icfg, li, ri, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ike.AcceptV1(rcfg, ri, li, now, is.Datagrams()[0])
	if err != nil {
		t.Fatal(err)
	}
	var evI, evR []ike.Event
	for round := 0; round < 20; round++ {
		for _, d := range rs.Datagrams() {
			is.Receive(now, d)
		}
		for _, d := range is.Datagrams() {
			rs.Receive(now, d)
		}
		evI, evR = append(evI, is.Events()...), append(evR, rs.Events()...)
	}
	a, b := childOf(evI), childOf(evR)
	if a == nil || b == nil {
		t.Fatalf("no CHILD SA: %v / %v", evI, evR)
	}
	for _, dir := range [][2]*ike.ChildSA{{a, b}, {b, a}} {
		_, out, err := ipsec.AHConfigs(dir[0])
		if err != nil {
			t.Fatal(err)
		}
		in, _, err := ipsec.AHConfigs(dir[1])
		if err != nil {
			t.Fatal(err)
		}
		sealer, err := ah.NewSA(out)
		if err != nil {
			t.Fatal(err)
		}
		opener, err := ah.NewSA(in)
		if err != nil {
			t.Fatal(err)
		}
		pkt := udpPacket(netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.2.0.7"), []byte("through an IKEv1 AH SA"))
		wire, err := sealer.Seal(nil, pkt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := opener.Open(wire)
		if err != nil || !bytes.Equal(got, pkt) {
			t.Fatalf("Open: %v", err)
		}
	}
}
