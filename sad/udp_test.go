package sad

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

// tunnelPair returns two tunnel-mode ESP SAs (sender, receiver) with the
// same key, between two gateways.
func tunnelPair(t testing.TB, spi uint32) (*esp.SA, *esp.SA) {
	t.Helper()
	cfg := esp.Config{Mode: esp.Tunnel, SPI: spi, Cipher: esp.CipherAESGCM16, CipherKey: key(20, byte(spi)),
		TunnelSrc: netip.MustParseAddr("198.51.100.1"), TunnelDst: netip.MustParseAddr("198.51.100.2")}
	a, err := esp.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := esp.NewSA(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestESPInUDP: SealESP gives the bare ESP packet that the endpoint sends
// on port 4500, OpenESP finds the SA by SPI and returns the inner packet
// and the SA with its rule and selectors; both count against the kilobyte
// lifetime, which hard-expires the SA; what is not ESP or not for an
// ESP-only tunnel SA is refused.
func TestESPInUDP(t *testing.T) {
	clk := newFakeClock()
	tx, rx := New(Config{Clock: clk, Jitter: -1}), New(Config{Clock: clk, Jitter: -1})
	o, i := tunnelPair(t, 0x7001)
	life := LifetimeOf(time.Hour, 4) // 4 KB: four 1000-byte packets soft at 90%
	key := OutboundKey{Rule: 7}
	out, err := tx.AddOutbound(key, Spec{ESP: o, Lifetime: &life, Rule: "branch"})
	if err != nil {
		t.Fatal(err)
	}
	ts := []TrafficSelector{{From: hostA, To: hostA, FromPort: 0, ToPort: 0xffff}}
	in, err := rx.AddInbound(Spec{ESP: i, Lifetime: &life, Rule: "branch", LocalTS: []TrafficSelector{{From: hostB, To: hostB, ToPort: 0xffff}}, RemoteTS: ts})
	if err != nil {
		t.Fatal(err)
	}
	pkt := udpPacket(972, 1)                       // 1000 bytes
	padded := append(bytes.Clone(pkt), 0xee, 0xee) // link padding is not sent
	var kinds []EventKind
	for n := 1; n <= 6; n++ {
		sealed, err := out.SealESP(nil, padded)
		if n == 6 {
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("packet 6 after the hard limit: %v", err)
			}
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		if esp.Classify(sealed) != esp.KindESP || binary.BigEndian.Uint32(sealed) != 0x7001 {
			t.Fatalf("not bare ESP: %x", sealed[:8])
		}
		inner, sa, err := rx.OpenESP(sealed)
		if err != nil || sa != in || !bytes.Equal(inner, pkt) {
			t.Fatalf("packet %d: open %v %v, inner %d bytes", n, err, sa, len(inner))
		}
		if sa.Rule() != "branch" || !sa.Allows(Flow{Src: hostA, Dst: hostB, Protocol: 17, SrcPort: 1000, DstPort: 2000}) {
			t.Fatal("rule or selectors not carried")
		}
		for _, e := range append(drain(tx), drain(rx)...) {
			kinds = append(kinds, e.Kind)
		}
	}
	// Each side counts the 1000-byte inner packets: soft past 90% of
	// 4 KB (packet 4, 4000 bytes), hard at 4 KB (packet 5, the last one
	// carried); the sender refuses packet 6.
	if out.State() != StateDead || in.State() != StateDead {
		t.Errorf("SAs %v and %v after their kilobyte lifetime", out.State(), in.State())
	}
	want := []EventKind{EventSoftExpire, EventSoftExpire, EventHardExpire, EventHardExpire}
	if !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}

	// Refusals.
	if _, _, err := rx.OpenESP(append(esp.NonESPMarker[:], make([]byte, 28)...)); !errors.Is(err, ErrNotESP) {
		t.Errorf("IKE datagram: %v", err)
	}
	if _, _, err := rx.OpenESP([]byte{0xff}); !errors.Is(err, ErrNotESP) {
		t.Errorf("keepalive: %v", err)
	}
	if _, _, err := rx.OpenESP([]byte{0, 0, 0x70, 0x99, 0, 0, 0, 1, 9, 9, 9, 9}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown SPI: %v", err)
	}
	to, _ := espPair(t, 0x7002) // transport mode
	tsa, err := tx.AddOutbound(OutboundKey{Rule: 8}, Spec{ESP: to})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.SealESP(nil, pkt); !errors.Is(err, ErrUDPEncap) {
		t.Errorf("transport mode: %v", err)
	}
	ao, _ := ahPair(t, 0x7003, ah.ReplayOff)
	asa, err := tx.AddOutbound(OutboundKey{Rule: 9}, Spec{AH: ao})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asa.SealESP(nil, pkt); !errors.Is(err, ErrUDPEncap) {
		t.Errorf("AH: %v", err)
	}
	o2, i2 := tunnelPair(t, 0x7004)
	o2sa, _ := tx.AddOutbound(OutboundKey{Rule: 10}, Spec{ESP: o2})
	rx.AddInbound(Spec{ESP: i2}) //nolint:errcheck // fresh SPI
	sealed, _ := o2sa.SealESP(nil, pkt)
	sealed[len(sealed)-1] ^= 1
	if _, _, err := rx.OpenESP(sealed); !errors.Is(err, esp.ErrAuthFailed) {
		t.Errorf("corrupted: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() {
		s, _ := o2sa.SealESP(sealed[:0], pkt)
		rx.OpenESP(s) //nolint:errcheck // measured
	}); n != 0 {
		t.Errorf("%v allocations per SealESP+OpenESP", n)
	}
}

// TestAllows: a packet is checked against the SA's local and remote
// selectors, in the SA's direction, with OPAQUE ports matching only
// OPAQUE or any, and ICMP type and code as one 16-bit value.
func TestAllows(t *testing.T) {
	db := New(Config{})
	o, i := espPair(t, 0x7101)
	local := []TrafficSelector{{Protocol: 6, From: hostB, To: hostB, FromPort: 443, ToPort: 443}, {Protocol: 1, From: hostB, To: hostB, FromPort: 8 << 8, ToPort: 8<<8 | 0xff}}
	remote := []TrafficSelector{AnyTS(hostA)}
	in, err := db.AddInbound(Spec{ESP: i, LocalTS: local, RemoteTS: remote})
	if err != nil {
		t.Fatal(err)
	}
	out, err := db.AddOutbound(OutboundKey{}, Spec{ESP: o, LocalTS: remote, RemoteTS: local})
	if err != nil {
		t.Fatal(err)
	}
	web := Flow{Src: hostA, Dst: hostB, Protocol: 6, SrcPort: 40000, DstPort: 443}
	for _, tc := range []struct {
		name string
		sa   *SA
		f    Flow
		want bool
	}{
		{"inbound web", in, web, true},
		{"outbound web", out, web, true},
		{"wrong port", in, Flow{Src: hostA, Dst: hostB, Protocol: 6, SrcPort: 40000, DstPort: 80}, false},
		{"wrong protocol", in, Flow{Src: hostA, Dst: hostB, Protocol: 17, SrcPort: 40000, DstPort: 443}, false},
		{"reverse direction", in, Flow{Src: hostB, Dst: hostA, Protocol: 6, SrcPort: 443, DstPort: 40000}, false},
		{"other host", in, Flow{Src: hostA, Dst: netip.MustParseAddr("192.0.2.3"), Protocol: 6, SrcPort: 1, DstPort: 443}, false},
		{"mapped address", in, Flow{Src: netip.AddrFrom16(hostA.As16()), Dst: netip.AddrFrom16(hostB.As16()), Protocol: 6, SrcPort: 40000, DstPort: 443}, true},
		{"opaque against a port", in, Flow{Src: hostA, Dst: hostB, Protocol: 6, Opaque: true}, false},
		{"echo request", in, Flow{Src: hostA, Dst: hostB, Protocol: 1, SrcPort: 8 << 8}, true},
		{"echo reply", in, Flow{Src: hostA, Dst: hostB, Protocol: 1, SrcPort: 0}, false},
	} {
		if got := tc.sa.Allows(tc.f); got != tc.want {
			t.Errorf("%s: Allows = %v", tc.name, got)
		}
	}
	// OPAQUE selectors match only OPAQUE; any matches both.
	_, i2 := espPair(t, 0x7102)
	frag, err := db.AddInbound(Spec{ESP: i2, LocalTS: []TrafficSelector{{Protocol: 17, From: hostB, To: hostB, FromPort: 0xffff, ToPort: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	if !frag.Allows(Flow{Src: hostA, Dst: hostB, Protocol: 17, Opaque: true}) || frag.Allows(Flow{Src: hostA, Dst: hostB, Protocol: 17, DstPort: 53}) {
		t.Error("OPAQUE selector")
	}
	if in.Allows(Flow{Src: hostA, Dst: hostB, Protocol: 6, Opaque: true, DstPort: 443}) {
		t.Error("an OPAQUE flow matched a port selector through its (ignored) port field")
	}
	if _, err := db.AddInbound(Spec{ESP: i2, LocalTS: []TrafficSelector{{From: hostB, To: hostA}}}); err == nil {
		t.Error("reversed range accepted")
	}
	if n := testing.AllocsPerRun(100, func() { in.Allows(web) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzOpenESP feeds arbitrary port 4500 datagrams to DB.OpenESP: it must
// never panic, must fail with a known error, and whatever it accepts must
// be an IP packet inside the input.
func FuzzOpenESP(f *testing.F) {
	tx, rx := New(Config{}), New(Config{})
	o, i := tunnelPair(f, 0x7201)
	out, err := tx.AddOutbound(OutboundKey{}, Spec{ESP: o, Lifetime: &Lifetime{}})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := rx.AddInbound(Spec{ESP: i, Lifetime: &Lifetime{}}); err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 1, 60, 500} {
		s, err := out.SealESP(nil, udpPacket(n, 1))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(s[:len(s)-3])
	}
	f.Add([]byte{0xff})
	f.Add(append(esp.NonESPMarker[:], make([]byte, 28)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := bytes.Clone(data)
		got, sa, err := rx.OpenESP(p)
		if err != nil {
			for _, e := range []error{ErrNotESP, ErrNotFound, ErrInner, ErrExpired,
				esp.ErrMalformed, esp.ErrAuthFailed, esp.ErrReplay, esp.ErrWrongSPI, esp.ErrDummy} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		if sa == nil || len(got) > len(p) || len(got) < 20 {
			t.Fatalf("accepted %x -> %x", data, got)
		}
	})
}
