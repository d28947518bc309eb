package ipsec

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/spd"
)

// TestDriverCacheSelector: the classification cache's parse agrees with
// spd.ParseSelector on every packet it accepts (random header bytes
// around valid IPv4 packets), and accepts the common ones.
func TestDriverCacheSelector(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 4301))
	accepted := 0
	for i := range 20000 {
		b := ipPacket("10.1.0.5", "10.2.0.7", []uint8{1, 6, 17, 47, 58, 132}[rng.IntN(6)],
			uint16(rng.Uint32()), uint16(rng.Uint32()), string(make([]byte, rng.IntN(8))))
		if i%2 == 1 {
			for range 1 + rng.IntN(3) {
				b[rng.IntN(24)] = byte(rng.Uint32())
			}
		}
		if i%4 == 3 {
			b = b[:rng.IntN(len(b)+1)]
		}
		sel, k, ok := fastSelector(b, spd.DirOutbound)
		if !ok {
			continue
		}
		accepted++
		want, err := spd.ParseSelector(b)
		if err != nil || sel != want {
			t.Fatalf("% x: fastSelector %+v, spd.ParseSelector %+v, %v", b, sel, want, err)
		}
		if k == (cacheKey{}) {
			t.Fatalf("% x: zero key", b)
		}
		if _, k2, _ := fastSelector(b, spd.DirInbound); k2 == k {
			t.Fatalf("% x: same key both ways", b)
		}
	}
	if accepted < 5000 {
		t.Errorf("only %d packets took the cache's parse", accepted)
	}
	later := ipPacket("10.1.0.5", "10.2.0.7", 17, 1, 2, "x")
	binary.BigEndian.PutUint16(later[6:], 185)
	if _, _, ok := fastSelector(later, spd.DirOutbound); ok {
		t.Error("a later fragment took the cache's parse")
	}
}

// TestDriverCacheReload: a flow decided through the cache is decided
// again by the new policy on the next packet after a reload, both ways.
func TestDriverCacheReload(t *testing.T) {
	d, db, _ := newTestDriver(t, benchPolicy(), nil)
	pkt := ipPacket("10.1.0.5", "10.9.9.9", 17, 4000, 5000, "x")
	in := ipPacket("10.9.9.9", "10.1.0.5", 17, 5000, 4000, "x")
	for range 3 {
		if r := d.Outbound(nil, pkt); r.Verdict != VerdictDrop || r.Reason != ReasonBlocked {
			t.Fatalf("outbound before the reload: %+v", r)
		}
		if r := d.Inbound(in); r.Verdict != VerdictClear {
			t.Fatalf("inbound before the reload: %+v", r)
		}
	}
	p := benchPolicy()
	p.Rules = p.Rules[:2]
	p.Default.Action = spd.ActionDiscard
	c, err := spd.Compile(p, spd.CompileOptions{LocalAddrs: []netip.Addr{drvMe}})
	if err != nil {
		t.Fatal(err)
	}
	db.Swap(c)
	for range 3 {
		if r := d.Outbound(nil, pkt); r.Verdict != VerdictDrop || r.Rule != "" {
			t.Fatalf("outbound after the reload: %+v", r)
		}
		if r := d.Inbound(in); r.Verdict != VerdictDrop || r.Reason != ReasonBlocked {
			t.Fatalf("inbound after the reload: %+v", r)
		}
	}
}

// TestDriverSelectors4: the datapath's IPv4 selector check decides as
// inSelectors (the reference) for random traffic selectors and packets.
func TestDriverSelectors4(t *testing.T) {
	rng := rand.New(rand.NewPCG(7296, 29))
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.9"),
		netip.MustParseAddr("10.1.0.0"), netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("0.0.0.0"),
		netip.MustParseAddr("::ffff:10.0.0.5"), netip.MustParseAddr("2001:db8::1"), {}}
	ports := []uint16{0, 1, 53, 500, 4500, 0xffff}
	randTS := func() []isakmp.TrafficSelector {
		ts := make([]isakmp.TrafficSelector, rng.IntN(4))
		for i := range ts {
			t := &ts[i]
			t.Start, t.End = addrs[rng.IntN(len(addrs)-1)], addrs[rng.IntN(len(addrs))]
			t.IPProtocol = []uint8{0, 1, 6, 17}[rng.IntN(4)]
			t.StartPort, t.EndPort = ports[rng.IntN(len(ports))], ports[rng.IntN(len(ports))]
			if rng.IntN(3) == 0 {
				t.StartPort, t.EndPort = 0, 0xffff
			}
			if rng.IntN(3) == 0 {
				t.Start, t.End = addrs[5], addrs[4]
			}
		}
		return ts
	}
	matched := 0
	for range 20000 {
		info := &saInfo{remote: randTS(), local: randTS()}
		for range 5 {
			src, dst := addrs[rng.IntN(6)], addrs[rng.IntN(6)]
			pkt := ipPacket(src.String(), dst.String(), []uint8{1, 6, 17, 132}[rng.IntN(4)],
				ports[rng.IntN(len(ports))], ports[rng.IntN(len(ports))], "x")
			if _, ok := cacheKeyOf(pkt, spd.DirInbound); !ok {
				t.Fatalf("% x: not cacheable", pkt)
			}
			sel, err := spd.ParseSelector(pkt)
			if err != nil {
				t.Fatal(err)
			}
			want := inSelectors(&sel, info.remote, info.local)
			if got := inSelectors4(pkt, info.sel4()); got != want {
				t.Fatalf("%+v in remote %v local %v: inSelectors4 %v, inSelectors %v", sel, info.remote, info.local, got, want)
			}
			if want {
				matched++
			}
		}
	}
	if matched < 1000 {
		t.Errorf("only %d packets matched", matched)
	}
}
