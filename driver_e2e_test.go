package ipsec

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
	"github.com/ipsecgo/ipsec/spd"
)

// The end-to-end setting: gateway A (127.0.0.1) serves 10.1.0.0/16,
// gateway B (127.0.0.2) serves 10.2.0.0/16; both run a Driver with its
// IKE endpoint on loopback (same ports on both addresses), ESP in UDP
// (ForceUDPEncap: no root needed). Clear packets travel on an in-memory
// wire; protected ones through the endpoints' NAT-T sockets.

const drvPolicy = `
name: e2e {{me}}
default_action: {{default}}
filter_lists:
  - name: out
    filters: [{source: {{mynet}}, destination: {{peernet}}}]
  - name: in
    filters: [{source: {{peernet}}, destination: {{mynet}}}]
  - name: telnet
    filters: [{source: any, destination: any, protocol: tcp, destination_port: 23, mirrored: true}]
  - name: dns
    filters: [{source: any, destination: any, protocol: udp, destination_port: 53, mirrored: true}]
  - name: silent
    filters: [{source: {{mynet}}, destination: 10.3.0.0/16}]
  - name: web out
    filters: [{source: {{webout}}}]
  - name: web in
    filters: [{source: {{webin}}}]
filter_actions:
  - name: secure
    action: negotiate
    pfs: true
    security_methods:
      - esp: {encryption: aes256-gcm16}
        lifetime: {seconds: 3600, kilobytes: 100000}
  - name: secure or clear
    action: negotiate
    fallback_to_clear: true
    security_methods:
      - esp: {encryption: aes128-gcm16}
  - name: secure, accept clear
    action: negotiate
    accept_unsecured: {{acceptweb}}
    security_methods:
      - esp: {encryption: aes128-gcm16}
  - name: block
    action: block
  - name: permit
    action: permit
rules:
  - {name: tunnel out, filter_list: out, filter_action: secure, tunnel: {{peer}}, authentication: [{preshared_key: "{{psk}}"}]}
  - {name: tunnel in, filter_list: in, filter_action: secure, tunnel: {{me}}, authentication: [{preshared_key: "{{psk}}"}]}
  - {name: no telnet, filter_list: telnet, filter_action: block, priority: 1}
  - {name: dns, filter_list: dns, filter_action: permit, priority: 2}
  - {name: silent peer, filter_list: silent, filter_action: secure or clear, tunnel: 127.0.0.3, authentication: [{preshared_key: "{{psk}}"}]}
  - {name: web out, filter_list: web out, filter_action: "secure, accept clear", tunnel: {{peer}}, authentication: [{preshared_key: "{{psk}}"}]}
  - {name: web in, filter_list: web in, filter_action: "secure, accept clear", tunnel: {{me}}, authentication: [{preshared_key: "{{psk}}"}]}
`

// drvPolicyFor writes the e2e policy for one gateway.
func drvPolicyFor(a bool, withTunnel bool) string {
	r := map[string]string{"{{me}}": "127.0.0.1", "{{peer}}": "127.0.0.2", "{{mynet}}": "10.1.0.0/16",
		"{{peernet}}": "10.2.0.0/16", "{{default}}": "permit", "{{psk}}": "a pre-shared key for the e2e test",
		"{{webout}}":    "10.1.0.0/16, destination: 10.2.0.80, protocol: tcp, destination_port: 80",
		"{{webin}}":     "10.2.0.80, destination: 10.1.0.0/16, protocol: tcp, source_port: 80",
		"{{acceptweb}}": "false"}
	if !a {
		r["{{me}}"], r["{{peer}}"] = r["{{peer}}"], r["{{me}}"]
		r["{{mynet}}"], r["{{peernet}}"] = r["{{peernet}}"], r["{{mynet}}"]
		r["{{webout}}"], r["{{webin}}"] = "10.2.0.80, destination: 10.1.0.0/16, protocol: tcp, source_port: 80",
			"10.1.0.0/16, destination: 10.2.0.80, protocol: tcp, destination_port: 80"
		r["{{acceptweb}}"] = "true"
	}
	s := drvPolicy
	if !withTunnel {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, "{name: tunnel ") {
				keep = append(keep, l)
			}
		}
		s = strings.Join(keep, "\n")
	}
	for k, v := range r {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

func compilePolicy(t testing.TB, text string, me netip.Addr) *spd.Classifier {
	t.Helper()
	p, err := spd.ParsePolicy("e2e.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	c, err := spd.Compile(p, spd.CompileOptions{LocalAddrs: []netip.Addr{me}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gateway is one side of the e2e test.
type drvGateway struct {
	name  string
	addr  netip.Addr
	spd   *spd.SPD
	d     *Driver
	peer  *drvGateway
	mu    sync.Mutex
	got   map[string]int // delivered inner packets by payload
	drops []Result
	clear []Result // held packets sent clear after a fallback
	lost  int
}

// freePort returns a UDP port free on both loopback addresses.
func freePorts(t *testing.T) (ikeP, nattP uint16) {
	for range 50 {
		var ports [2]uint16
		ok := true
		for i := range ports {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			ports[i] = uint16(c.LocalAddr().(*net.UDPAddr).Port)
			c.Close()
			c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: int(ports[i])})
			if err != nil {
				ok = false
				continue
			}
			c2.Close()
		}
		if ok {
			return ports[0], ports[1]
		}
	}
	t.Fatal("no free ports")
	return 0, 0
}

func newGateway(t *testing.T, name string, a bool, ikeP, nattP uint16, cfg func(*DriverConfig)) *drvGateway {
	addr := netip.MustParseAddr("127.0.0.1")
	if !a {
		addr = netip.MustParseAddr("127.0.0.2")
	}
	g := &drvGateway{name: name, addr: addr, spd: &spd.SPD{}, got: map[string]int{}}
	g.spd.Swap(compilePolicy(t, drvPolicyFor(a, true), addr))
	dc := DriverConfig{SPD: g.spd,
		Endpoint:      ike.EndpointConfig{IKEAddr: netip.AddrPortFrom(addr, ikeP), NATTAddr: netip.AddrPortFrom(addr, nattP)},
		PeerPorts:     func(netip.Addr) (uint16, uint16) { return ikeP, nattP },
		ForceUDPEncap: true, AcquireTimeout: 3 * time.Second, RetransmitTimeout: 200 * time.Millisecond, RetransmitTries: 2,
		Installer: InstallerConfig{Grace: 5 * time.Second, Settle: 200 * time.Millisecond},
		Output:    func(r Result) { g.send(r) },
		Deliver:   func(r Result) { g.receive(r) },
	}
	if cfg != nil {
		cfg(&dc)
	}
	d, err := NewDriver(dc)
	if err != nil {
		t.Fatal(err)
	}
	g.d = d
	return g
}

// send puts an outbound verdict on the wire.
func (g *drvGateway) send(r Result) {
	switch r.Verdict {
	case VerdictProtected:
		if err := g.d.Endpoint().SendESP(r.To, r.Packet); err != nil {
			g.mu.Lock()
			g.lost++
			g.mu.Unlock()
		}
	case VerdictClear:
		g.mu.Lock()
		g.clear = append(g.clear, r)
		g.mu.Unlock()
		g.peer.receive(g.peer.d.Inbound(append([]byte(nil), r.Packet...)))
	}
}

// receive records an inbound verdict.
func (g *drvGateway) receive(r Result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch r.Verdict {
	case VerdictDeliver, VerdictClear:
		g.got[string(r.Packet[28:])]++
	default:
		g.drops = append(g.drops, r)
	}
}

func (g *drvGateway) delivered(payload string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.got[payload]
}

// out sends a packet from a host behind g through its driver.
func (g *drvGateway) out(t *testing.T, pkt []byte) Result {
	t.Helper()
	buf := make([]byte, 0, 2048)
	r := g.d.Outbound(buf, pkt)
	if r.Verdict == VerdictProtected || r.Verdict == VerdictClear {
		g.send(r)
	}
	return r
}

func ipPacket(src, dst string, proto uint8, sport, dport uint16, payload string) []byte {
	p := udp4(netip.MustParseAddr(src), netip.MustParseAddr(dst), []byte(payload))
	p[9] = proto
	binary.BigEndian.PutUint16(p[20:], sport)
	binary.BigEndian.PutUint16(p[22:], dport)
	// The header checksum covers the protocol: recompute it.
	p[10], p[11] = 0, 0
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	return p
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startGateways(t *testing.T, cfg func(*DriverConfig)) (a, b *drvGateway) {
	ikeP, nattP := freePorts(t)
	a = newGateway(t, "A", true, ikeP, nattP, cfg)
	b = newGateway(t, "B", false, ikeP, nattP, cfg)
	a.peer, b.peer = b, a
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, g := range []*drvGateway{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.d.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: Run: %v", g.name, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return a, b
}

// allOutboundSAs counts every outbound SA in d's SAD.
func allOutboundSAs(d *Driver) int { return d.SAD().Stats().Outbound }

// outboundSAs counts the outbound SAs of a rule in d's SAD.
func outboundSAs(d *Driver, rule string) int {
	n := 0
	for _, sa := range d.SAD().ByRule(rule) {
		if sa.Direction() == sad.Outbound {
			n++
		}
	}
	return n
}

// TestDriverEndToEnd runs two drivers on loopback through the whole
// story of issue 11: held then delivered, blocked never leaves, permit
// goes clear, a clear packet for a protected rule is dropped, a
// decrypted packet outside its SA's selectors is dropped, a CHILD rekey
// with PFS under traffic loses nothing, and a reload that removes the
// tunnel rules stops their traffic on the next packet and deletes their
// SAs on both sides.
func TestDriverEndToEnd(t *testing.T) {
	a, b := startGateways(t, nil)

	// The first packet of a negotiate flow is held, then delivered.
	r := a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "first"))
	if r.Verdict != VerdictHeld || r.Rule != "tunnel out" {
		t.Fatalf("first packet: %+v", r)
	}
	waitFor(t, "the held packet", func() bool { return b.delivered("first") == 1 })
	r = a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "second"))
	if r.Verdict != VerdictProtected || r.Proto != ProtoESPInUDP || r.To.Addr() != b.addr {
		t.Fatalf("second packet: %+v", r)
	}
	waitFor(t, "the second packet", func() bool { return b.delivered("second") == 1 })
	// And back, on the same CHILD SA.
	if r = b.out(t, ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, "reply")); r.Verdict != VerdictProtected {
		t.Fatalf("reply: %+v", r)
	}
	waitFor(t, "the reply", func() bool { return a.delivered("reply") == 1 })

	// A second rule with the same peer: a CHILD SA on the same IKE SA
	// (CREATE_CHILD_SA from B; A's GetConfigForRequest picks its rule
	// from the selectors, the triggering packet's first).
	if r = b.out(t, ipPacket("10.2.0.80", "10.1.0.5", 6, 80, 40000, "web")); r.Verdict != VerdictHeld || r.Rule != "web out" {
		t.Fatalf("web reply at B: %+v", r)
	}
	waitFor(t, "the web packet", func() bool { return a.delivered("web") == 1 })
	if n := len(a.d.Endpoint().IKESAs()); n != 1 {
		t.Fatalf("A has %d IKE SAs, want 1", n)
	}
	a.d.mu.Lock()
	var webChild bool
	for _, c := range a.d.children {
		webChild = webChild || c.rule.id == "web out"
	}
	a.d.mu.Unlock()
	if !webChild {
		t.Fatal("A installed no CHILD SA for its web rule")
	}

	// Block: dropped, counted for the rule, never on the wire.
	if r = a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 6, 40000, 23, "telnet")); r.Verdict != VerdictDrop || r.Reason != ReasonBlocked {
		t.Fatalf("telnet: %+v", r)
	}
	if a.d.RuleDrops("no telnet")[ReasonBlocked] != 1 {
		t.Fatal("the block was not counted for its rule")
	}
	// Permit: clear.
	if r = a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 40000, 53, "dns")); r.Verdict != VerdictClear {
		t.Fatalf("dns: %+v", r)
	}
	waitFor(t, "dns", func() bool { return b.delivered("dns") == 1 })

	// A clear packet for the protected rule is dropped by B.
	if r = b.d.Inbound(ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "forged")); r.Verdict != VerdictDrop || r.Reason != ReasonUnsecured {
		t.Fatalf("clear packet for a protected rule: %+v", r)
	}

	// A packet sealed with the CHILD SA but outside its selectors.
	key := a.d.flowOf(a.d.policy().byID["tunnel out"], b.addr).key
	sa := a.d.SAD().Outbound(key)
	if sa == nil {
		t.Fatal("no outbound SA on A")
	}
	bad, err := sa.SealESP(nil, ipPacket("10.9.0.1", "10.2.0.7", 17, 1, 2, "outside"))
	if err != nil {
		t.Fatal(err)
	}
	if r = b.d.InboundESP(netip.AddrPortFrom(a.addr, 0), bad); r.Verdict != VerdictDrop || r.Reason != ReasonSelectors {
		t.Fatalf("decrypted packet outside the selectors: %+v", r)
	}
	if a.delivered("outside")+b.delivered("outside") != 0 {
		t.Fatal("the packet outside the selectors was delivered")
	}

	// A CHILD rekey with PFS while packets flow both ways: nothing lost.
	var ref childRef
	var inSPI uint32
	a.d.mu.Lock()
	for id, c := range a.d.children {
		if c.rule.id == "tunnel out" {
			ref, inSPI = c, id.spi
		}
	}
	a.d.mu.Unlock()
	var sent [2]int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, fmt.Sprintf("a%d", i))).Verdict == VerdictProtected {
				sent[0]++
			}
			if b.out(t, ipPacket("10.2.0.7", "10.1.0.5", 17, 5000, 4000, fmt.Sprintf("b%d", i))).Verdict == VerdictProtected {
				sent[1]++
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := a.d.neg.rekeyChild(context.Background(), ref.ike, inSPI); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rekey", func() bool {
		a.d.mu.Lock()
		defer a.d.mu.Unlock()
		_, old := a.d.children[childID{sad.ProtoESP, inSPI}]
		return !old
	})
	time.Sleep(400 * time.Millisecond) // past Settle: traffic on the new SA
	close(stop)
	<-done
	waitFor(t, "every packet sent during the rekey", func() bool {
		for i := range sent[0] {
			if b.delivered(fmt.Sprintf("a%d", i)) != 1 {
				return false
			}
		}
		for i := range sent[1] {
			if a.delivered(fmt.Sprintf("b%d", i)) != 1 {
				return false
			}
		}
		return true
	})
	a.d.mu.Lock()
	var pfs bool
	for _, c := range a.d.children {
		pfs = pfs || c.rule.id == "tunnel out" && c.pfs == isakmp.GroupCurve25519
	}
	a.d.mu.Unlock()
	if !pfs || sent[0] < 10 || sent[1] < 10 {
		t.Fatalf("after the rekey: CHILD SA present %v, sent %v", pfs, sent)
	}

	// Reload A without the tunnel rules: the next packet is not
	// protected any more (the default permits it), and the CHILD SAs
	// go on both sides.
	if outboundSAs(b.d, "tunnel out") == 0 || outboundSAs(a.d, "tunnel out") == 0 {
		t.Fatal("B has no outbound SA before the reload")
	}
	a.spd.Swap(compilePolicy(t, drvPolicyFor(true, false), a.addr))
	if r = a.out(t, ipPacket("10.1.0.5", "10.2.0.7", 17, 4000, 5000, "after")); r.Verdict != VerdictClear {
		t.Fatalf("after the reload: %+v", r)
	}
	waitFor(t, "the tunnel's SAs to go on both sides", func() bool {
		return outboundSAs(a.d, "tunnel out") == 0 && outboundSAs(b.d, "tunnel out") == 0
	})
	// The web rule stays, and so do its SAs.
	if outboundSAs(a.d, "web out") != 1 || outboundSAs(b.d, "web out") != 1 {
		t.Fatalf("web SAs after the reload: %d, %d", outboundSAs(a.d, "web out"), outboundSAs(b.d, "web out"))
	}
	for _, g := range []*drvGateway{a, b} {
		g.mu.Lock()
		if g.lost != 0 {
			t.Errorf("%s: %d packets could not be sent", g.name, g.lost)
		}
		g.mu.Unlock()
	}
}

// TestDriverFallbackToClear: a flow whose peer never answers IKE is held
// for AcquireTimeout, then, as the rule allows, its packets go in the
// clear, and so do the next ones.
func TestDriverFallbackToClear(t *testing.T) {
	a, _ := startGateways(t, func(c *DriverConfig) { c.AcquireTimeout = 300 * time.Millisecond })
	if r := a.out(t, ipPacket("10.1.0.5", "10.3.0.9", 17, 4000, 5000, "silent")); r.Verdict != VerdictHeld {
		t.Fatalf("first packet: %+v", r)
	}
	waitFor(t, "the fallback", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.clear) == 1
	})
	if r := a.out(t, ipPacket("10.1.0.5", "10.3.0.9", 17, 4000, 5000, "silent 2")); r.Verdict != VerdictClear || r.Rule != "silent peer" {
		t.Fatalf("after the fallback: %+v", r)
	}
}

// TestDriverAcceptUnsecured: B's web rule accepts unsecured
// communication: a clear request is delivered, and the reply negotiates
// and goes protected, while A's same rule (without the option) drops the
// clear packet.
func TestDriverAcceptUnsecured(t *testing.T) {
	a, b := startGateways(t, nil)
	req := ipPacket("10.1.0.5", "10.2.0.80", 6, 40000, 80, "GET /")
	if r := b.d.Inbound(req); r.Verdict != VerdictClear || r.Rule != "web in" {
		t.Fatalf("clear request at B: %+v", r)
	}
	if r := a.d.Inbound(ipPacket("10.2.0.80", "10.1.0.5", 6, 80, 40000, "clear reply")); r.Verdict != VerdictDrop || r.Reason != ReasonUnsecured {
		t.Fatalf("clear reply at A: %+v", r)
	}
	if r := b.out(t, ipPacket("10.2.0.80", "10.1.0.5", 6, 80, 40000, "200 OK")); r.Verdict != VerdictHeld || r.Rule != "web out" {
		t.Fatalf("reply at B: %+v", r)
	}
	waitFor(t, "the protected reply", func() bool { return a.delivered("200 OK") == 1 })
}
