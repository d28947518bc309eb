package ipsec

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/sad"
	"github.com/ipsecgo/ipsec/spd"
)

var (
	benchPeer   = netip.MustParseAddr("198.51.100.1")
	benchLocal  = netip.MustParsePrefix("10.1.0.0/16")
	benchRemote = netip.MustParsePrefix("10.2.0.0/16")
)

// benchPolicy is a tunnel to benchPeer as Windows writes it: one rule per
// direction.
func benchPolicy() *spd.Policy {
	method := []spd.SecurityMethod{{UseESP: true, ESPEncryption: spd.EncryptionAESGCM16, ESPKeyBits: 128}}
	psk := []spd.AuthMethod{{Kind: spd.AuthPreSharedKey, PreSharedKey: "a pre-shared key for the bench"}}
	rule := func(name string, src, dst netip.Prefix, tunnel netip.Addr) spd.Rule {
		return spd.Rule{Name: name, Tunnel: tunnel, Auth: psk,
			Filters: spd.FilterList{Name: name, Filters: []spd.Filter{{Source: spd.SubnetAddr(src), Destination: spd.SubnetAddr(dst)}}},
			Action:  spd.FilterAction{Action: spd.ActionProtect, Methods: method}}
	}
	return &spd.Policy{Name: "bench", Rules: []spd.Rule{
		rule("out", benchLocal, benchRemote, benchPeer),
		rule("in", benchRemote, benchLocal, drvMe),
		{Name: "block", Filters: spd.FilterList{Name: "block", Filters: []spd.Filter{{Destination: spd.HostAddr(netip.MustParseAddr("10.9.9.9"))}}},
			Action: spd.FilterAction{Action: spd.ActionDiscard}, Priority: 1},
	}}
}

// benchSetup returns a driver with an established tunnel-mode CHILD SA
// (raw ESP, AES-128-GCM) for rule "out", its inbound SA without a replay
// window so that one sealed packet opens again and again, and the bare esp
// SAs with the same keys: out seals what the driver seals, peerOut seals
// what the driver opens, in opens it.
func benchSetup(tb testing.TB) (d *Driver, out, peerOut, in *esp.SA) {
	d, _, _ = newTestDriver(tb, benchPolicy(), nil)
	c := testChild("out", benchPeer, ike.Tunnel, 1)
	upChild(tb, d, c)
	ic, oc, err := ESPConfigs(c)
	if err != nil {
		tb.Fatal(err)
	}
	ic.ReplayWindow = esp.ReplayOff
	inSA, err := esp.NewSA(ic)
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.db.DeleteInbound(sad.ProtoESP, c.InboundSPI); err != nil {
		tb.Fatal(err)
	}
	if _, err := d.db.AddInbound(sad.Spec{ESP: inSA, Lifetime: &sad.Lifetime{}}); err != nil {
		tb.Fatal(err)
	}
	if out, err = esp.NewSA(oc); err != nil {
		tb.Fatal(err)
	}
	// The peer seals with the keys this side opens with.
	pc := ic
	pc.TunnelSrc, pc.TunnelDst = ic.TunnelDst, ic.TunnelSrc
	pc.ReplayWindow = 0
	if peerOut, err = esp.NewSA(pc); err != nil {
		tb.Fatal(err)
	}
	if in, err = esp.NewSA(ic); err != nil {
		tb.Fatal(err)
	}
	return d, out, peerOut, in
}

const benchSize = 1400

func benchPackets(tb testing.TB, peerOut *esp.SA) (plain, sealed []byte) {
	plain = ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, string(make([]byte, benchSize-28)))
	inner := ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, string(make([]byte, benchSize-28)))
	sealed, err := peerOut.Seal(nil, inner)
	if err != nil {
		tb.Fatal(err)
	}
	return plain, sealed
}

// BenchmarkDriver: the driver's Outbound and Inbound for an established
// SA (1400-byte IPv4 packets, tunnel mode, AES-128-GCM), each with the
// bare esp Seal or Open on the same packet timed alternately in the same
// run: the metric x-esp is the ratio of the two (the driver's SPD lookup,
// flow and SA lookup, inner-packet policy check, over the crypto).
func BenchmarkDriver(b *testing.B) {
	d, out, peerOut, in := benchSetup(b)
	plain, sealed := benchPackets(b, peerOut)
	b.Run("outbound", func(b *testing.B) {
		buf := make([]byte, 0, 2048)
		op := func() {
			if r := d.Outbound(buf[:0], plain); r.Verdict != VerdictProtected {
				b.Fatal(r)
			}
		}
		base := func() {
			if _, err := out.Seal(buf[:0], plain); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			op()
		}
		reportXESP(b, op, base)
	})
	b.Run("inbound", func(b *testing.B) {
		work := make([]byte, len(sealed))
		op := func() {
			copy(work, sealed)
			if r := d.Inbound(work); r.Verdict != VerdictDeliver {
				b.Fatal(r)
			}
		}
		base := func() {
			copy(work, sealed)
			if _, err := in.Open(work); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			op()
		}
		reportXESP(b, op, base)
	})
}

// reportXESP times op and the bare esp call base alternately, in rounds
// of about a millisecond, and reports the median ratio as x-esp (the
// technique of esp's x-baseline: both in the same stretch of time, so
// the machine's drift does not enter the ratio).
func reportXESP(b *testing.B, op, base func()) {
	n := max(10, int(time.Millisecond/max(1, b.Elapsed()/time.Duration(b.N))))
	ratios := make([]float64, 21)
	run := func(f func()) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	for r := range ratios {
		var tOp, tBase time.Duration
		if r%2 == 0 {
			tOp, tBase = run(op), run(base)
		} else {
			tBase, tOp = run(base), run(op)
		}
		ratios[r] = float64(tOp) / float64(tBase)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-esp")
}

// TestDriverAlloc: Outbound and Inbound allocate nothing with an
// established SA, nor for clear and blocked packets.
func TestDriverAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	d, _, peerOut, _ := benchSetup(t)
	plain, sealed := benchPackets(t, peerOut)
	blocked := ipPacket("10.1.0.5", "10.9.9.9", 17, 1, 2, "x")
	clear := ipPacket("192.0.2.1", "192.0.2.9", 17, 1, 2, "x")
	buf := make([]byte, 0, 2048)
	work := make([]byte, len(sealed))
	for name, f := range map[string]func(){
		"outbound":     func() { d.Outbound(buf[:0], plain) },
		"outbound-esp": func() { d.OutboundESP(buf[:0], plain) },
		"inbound":      func() { copy(work, sealed); d.Inbound(work) },
		"blocked":      func() { d.Outbound(buf[:0], blocked) },
		"clear":        func() { d.Outbound(buf[:0], clear); d.Inbound(clear) },
	} {
		f() // first use fills the driver's caches
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocations per packet", name, n)
		}
	}
	if r := d.Outbound(buf[:0], plain); r.Verdict != VerdictProtected {
		t.Fatalf("outbound: %+v", r)
	}
	copy(work, sealed)
	if r := d.Inbound(work); r.Verdict != VerdictDeliver {
		t.Fatalf("inbound: %+v", r)
	}
}

// TestDriverOutboundESP: OutboundESP seals an ESP tunnel-mode packet as
// bare ESP, byte for byte what the bare esp SA's SealESP gives with the
// same keys and sequence number, to the peer's address; a packet laid out
// ESPFront bytes into its out buffer is sealed where it lies.
func TestDriverOutboundESP(t *testing.T) {
	d, out, peerOut, _ := benchSetup(t)
	plain, _ := benchPackets(t, peerOut)
	r := d.OutboundESP(nil, plain)
	if r.Verdict != VerdictProtected || r.Proto != ProtoESP || r.To != netip.AddrPortFrom(benchPeer, 0) {
		t.Fatalf("OutboundESP: %+v", r)
	}
	want, err := out.SealESP(nil, plain, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Packet, want) {
		t.Fatalf("OutboundESP sealed\n%x\nwant (esp SealESP)\n%x", r.Packet, want)
	}
	// In place: the packet at buf[16:], the result at buf[0:].
	buf := make([]byte, 2048)
	copy(buf[16:], plain)
	r = d.OutboundESP(buf[:0], buf[16:16+len(plain)])
	if r.Verdict != VerdictProtected || &r.Packet[0] != &buf[0] {
		t.Fatalf("in place: %+v", r.Verdict)
	}
	if want, _ = out.SealESP(nil, plain, 4); !bytes.Equal(r.Packet, want) {
		t.Fatal("sealing in place gave other bytes")
	}
	// Outbound still gives the whole IP packet.
	if r = d.Outbound(nil, plain); r.Proto != ProtoRaw || r.Packet[0] != 0x45 {
		t.Fatalf("Outbound: %+v", r)
	}
}

// TestDriverReplayReason: a packet opened twice is dropped as a replay,
// one whose ICV does not verify as ReasonOpen, through Inbound and
// InboundESP alike.
func TestDriverReplayReason(t *testing.T) {
	d, _, _ := newTestDriver(t, benchPolicy(), nil)
	c := testChild("out", benchPeer, ike.Tunnel, 1)
	upChild(t, d, c)
	ic, _, err := ESPConfigs(c)
	if err != nil {
		t.Fatal(err)
	}
	pc := ic // the peer seals with the keys this side opens with
	pc.TunnelSrc, pc.TunnelDst = ic.TunnelDst, ic.TunnelSrc
	pc.ReplayWindow = 0
	peer, err := esp.NewSA(pc)
	if err != nil {
		t.Fatal(err)
	}
	inner := ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, "replayed")
	sealed, err := peer.Seal(nil, inner)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []DropReason{ReasonNone, ReasonReplay} {
		if r := d.Inbound(bytes.Clone(sealed)); r.Reason != want {
			t.Fatalf("Inbound #%d: %v, want %v", i, r.Reason, want)
		}
	}
	bare, err := peer.SealESP(nil, inner, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []DropReason{ReasonNone, ReasonReplay} {
		if r := d.InboundESP(netip.AddrPortFrom(benchPeer, 4500), bytes.Clone(bare)); r.Reason != want {
			t.Fatalf("InboundESP #%d: %v, want %v", i, r.Reason, want)
		}
	}
	tampered, err := peer.Seal(nil, inner)
	if err != nil {
		t.Fatal(err)
	}
	tampered[len(tampered)-1] ^= 1
	if r := d.Inbound(tampered); r.Reason != ReasonOpen {
		t.Fatalf("tampered: %v, want open", r.Reason)
	}
}
