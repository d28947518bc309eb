package ipsec

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/spd"
)

// outputs collects what a driver hands to DriverConfig.Output.
type outputs struct {
	mu  sync.Mutex
	got []Result
}

func (o *outputs) add(r Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r.Packet = append([]byte(nil), r.Packet...)
	o.got = append(o.got, r)
}

func (o *outputs) list() []Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Result(nil), o.got...)
}

// TestDriverQueue: packets wait in a bounded queue per flow while IKE
// negotiates (one acquire, however many packets); the oldest give way
// and are counted; the rest are sealed and handed to Output, in order,
// when the CHILD SA is installed.
func TestDriverQueue(t *testing.T) {
	var out outputs
	d, _, fn := newTestDriver(t, benchPolicy(), func(c *DriverConfig) { c.QueueLen = 4; c.Output = out.add })
	buf := make([]byte, 0, 2048)
	for i := range 10 {
		if r := d.Outbound(buf, ipPacket("10.1.0.5", "10.2.0.7", 17, 1, 2, fmt.Sprint(i))); r.Verdict != VerdictHeld {
			t.Fatalf("packet %d: %+v", i, r)
		}
	}
	if got := d.RuleDrops("out")[ReasonQueueFull]; got != 6 {
		t.Fatalf("%d queue drops, want 6", got)
	}
	waitFor(t, "the acquire", func() bool { fn.mu.Lock(); defer fn.mu.Unlock(); return fn.initiated == 1 })
	fn.mu.Lock()
	req := fn.lastReq
	peer := fn.initiatedPeers[0]
	fn.mu.Unlock()
	if peer != netip.AddrPortFrom(benchPeer, 500) || req == nil || req.Config == nil || req.Config.Tag != "out" ||
		req.TriggerLocal == nil || req.TriggerLocal.Start != netip.MustParseAddr("10.1.0.5") || req.TriggerRemote.StartPort != 2 {
		t.Fatalf("acquire to %v with %+v", peer, req)
	}
	upChild(t, d, testChild("out", benchPeer, ike.Tunnel, 1))
	got := out.list()
	if len(got) != 4 {
		t.Fatalf("%d packets flushed, want 4", len(got))
	}
	// The peer opens with the keys this side seals with.
	_, oc, err := ESPConfigs(testChild("out", benchPeer, ike.Tunnel, 1))
	if err != nil {
		t.Fatal(err)
	}
	in, err := esp.NewSA(oc)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Verdict != VerdictProtected || r.To.Addr() != benchPeer || r.Proto != ProtoRaw {
			t.Fatalf("flushed %d: %+v", i, r)
		}
		inner, err := in.Open(r.Packet)
		if err != nil || string(inner[28:]) != fmt.Sprint(6+i) {
			t.Fatalf("flushed %d: %q, %v", i, inner, err)
		}
	}
	if d.Stats().Acquires != 1 {
		t.Fatalf("%d acquires", d.Stats().Acquires)
	}
}

// TestDriverNegotiationFails: when IKE fails, the held packets are
// dropped and counted, and nothing leaves in the clear; the next packet
// negotiates again once AcquireInterval has passed.
func TestDriverNegotiationFails(t *testing.T) {
	var out outputs
	d, _, fn := newTestDriver(t, benchPolicy(), func(c *DriverConfig) {
		c.Output = out.add
		c.AcquireInterval = time.Millisecond
	})
	fn.failInitiate = true
	buf := make([]byte, 0, 2048)
	for range 3 {
		d.Outbound(buf, ipPacket("10.1.0.5", "10.2.0.7", 17, 1, 2, "x"))
	}
	waitFor(t, "the failure", func() bool { return d.RuleDrops("out")[ReasonNegotiation] == 3 })
	if len(out.list()) != 0 {
		t.Fatalf("output after a failed negotiation: %+v", out.list())
	}
	time.Sleep(2 * time.Millisecond)
	if r := d.Outbound(buf, ipPacket("10.1.0.5", "10.2.0.7", 17, 1, 2, "y")); r.Verdict != VerdictHeld {
		t.Fatalf("after the failure: %+v", r)
	}
	waitFor(t, "a second acquire", func() bool { fn.mu.Lock(); defer fn.mu.Unlock(); return fn.initiated == 2 })
}

// TestDriverReload: a reload that changes a rule's security methods
// deletes its CHILD SAs (an IKE Delete each) and the next packet
// negotiates anew under the new rule; a reload that keeps a rule keeps
// its SAs; packets the removed SA decrypts no longer pass.
func TestDriverReload(t *testing.T) {
	d, db, fn := newTestDriver(t, benchPolicy(), nil)
	c := testChild("out", benchPeer, ike.Tunnel, 1)
	upChild(t, d, c)
	_, _, peerOut, _ := benchSetup(t)
	plain, sealed := benchPackets(t, peerOut)
	buf := make([]byte, 0, 2048)
	if r := d.Outbound(buf, plain); r.Verdict != VerdictProtected {
		t.Fatalf("before: %+v", r)
	}
	// The same policy compiled again: nothing changes.
	same, err := spd.Compile(benchPolicy(), spd.CompileOptions{LocalAddrs: []netip.Addr{drvMe}})
	if err != nil {
		t.Fatal(err)
	}
	db.Swap(same)
	if r := d.Outbound(buf, plain); r.Verdict != VerdictProtected {
		t.Fatalf("after an identical reload: %+v", r)
	}
	// AES-256 instead of AES-128: the rule changed.
	p := benchPolicy()
	p.Rules[0].Action.Methods[0].ESPKeyBits = 256
	changed, err := spd.Compile(p, spd.CompileOptions{LocalAddrs: []netip.Addr{drvMe}})
	if err != nil {
		t.Fatal(err)
	}
	db.Swap(changed)
	if r := d.Outbound(buf, plain); r.Verdict != VerdictHeld {
		t.Fatalf("after the change: %+v", r)
	}
	waitFor(t, "the IKE Delete", func() bool {
		fn.mu.Lock()
		defer fn.mu.Unlock()
		return fn.deleted == 1 && fn.deletedSPIs[0] == c.InboundSPI
	})
	work := append([]byte(nil), sealed...)
	if r := d.Inbound(work); r.Verdict != VerdictDrop {
		t.Fatalf("a packet of the old rule's SA: %+v", r)
	}
}

// TestDriverKilobyteLifetime: a rule's lifetime in kilobytes reaches the
// SAD, whose soft expiry makes the driver rekey the CHILD SA.
func TestDriverKilobyteLifetime(t *testing.T) {
	p := benchPolicy()
	p.Rules[0].Action.Methods[0].LifetimeKB = 10
	d, _, fn := newTestDriver(t, p, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.sadEvents(ctx) }()
	upChild(t, d, testChild("out", benchPeer, ike.Tunnel, 1))
	plain := ipPacket("10.1.0.5", "10.2.0.7", 17, 1, 2, string(make([]byte, 1000)))
	buf := make([]byte, 0, 2048)
	for range 9 {
		if r := d.Outbound(buf, plain); r.Verdict != VerdictProtected {
			t.Fatalf("%+v", r)
		}
	}
	waitFor(t, "the rekey at 90% of 10 KB", func() bool { fn.mu.Lock(); defer fn.mu.Unlock(); return fn.rekeyed >= 1 })
}

// TestDriverAgentReload: the Policy Agent's reload of the policy file is
// in force for the driver's next packet.
func TestDriverAgentReload(t *testing.T) {
	file := t.TempDir() + "/policy.yaml"
	if err := os.WriteFile(file, []byte(drvPolicyFor(true, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := &spd.SPD{}
	agent, err := spd.NewAgent(db, spd.AgentConfig{LocalFile: file,
		LocalAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, err := NewDriver(DriverConfig{SPD: db, Agent: agent, AcquireTimeout: time.Hour,
		Endpoint: ike.EndpointConfig{IKEAddr: netip.MustParseAddrPort("127.0.0.1:500"), NATTAddr: netip.MustParseAddrPort("127.0.0.1:4500")}})
	if err != nil {
		t.Fatal(err)
	}
	d.neg = &fakeNegotiator{}
	defer d.cancel()
	pkt := ipPacket("10.1.0.5", "10.2.0.7", 17, 1, 2, "x")
	buf := make([]byte, 0, 2048)
	if r := d.Outbound(buf, pkt); r.Verdict != VerdictHeld || r.Rule != "tunnel out" {
		t.Fatalf("before the reload: %+v", r)
	}
	if err := os.WriteFile(file, []byte(drvPolicyFor(true, false)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := agent.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := d.Outbound(buf, pkt); r.Verdict != VerdictClear || r.Rule != "" {
		t.Fatalf("after the reload: %+v", r)
	}
}
