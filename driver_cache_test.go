package ipsec

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"

	"github.com/ipsecgo/ipsec/ike"
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

// TestDriverCacheConcurrent: goroutines deciding packets of more flows
// than the cache has slots (so that they evict one another's entries)
// get the rule an uncached lookup gives, every time; run it with -race.
func TestDriverCacheConcurrent(t *testing.T) {
	d, _, _ := newTestDriver(t, benchPolicy(), nil)
	upChild(t, d, testChild("out", benchPeer, ike.Tunnel, 1))
	dsts := []string{"10.2.0.7", "10.9.9.9", "192.0.2.77", "10.1.0.9"}
	type pkt struct {
		b       []byte
		out, in string // the rule an uncached lookup gives
	}
	var pkts []pkt
	st := d.policy()
	for i := range 4 * cacheSlots {
		b := ipPacket("10.1.0.5", dsts[i%len(dsts)], []uint8{6, 17, 1}[i%3], uint16(i), 80, "x")
		sel, err := spd.ParseSelector(b)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, pkt{b: b, out: d.ruleOf(st, st.cls.Lookup(sel, spd.DirOutbound)).id,
			in: d.ruleOf(st, st.cls.Lookup(sel, spd.DirInbound)).id})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 256)
			for i := range 3000 {
				p := &pkts[(i*7+g*131)%len(pkts)]
				if r := d.Outbound(buf, p.b); r.Rule != p.out {
					errs <- fmt.Sprintf("outbound %x: rule %q, want %q", p.b[12:24], r.Rule, p.out)
					return
				}
				if r := d.Inbound(p.b); r.Rule != p.in {
					errs <- fmt.Sprintf("inbound %x: rule %q, want %q", p.b[12:24], r.Rule, p.in)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
