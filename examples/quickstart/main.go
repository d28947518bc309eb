// Command quickstart shows the IPsec driver end to end, in one process,
// without root and without any service, using only UDP on loopback.
//
// Two gateways, A (127.0.0.1, hosts 10.1.0.0/16) and B (127.0.0.2, hosts
// 10.2.0.0/16), each run an ipsec.Driver whose policy file
// (policy-a.yaml, policy-b.yaml) decides every packet: traffic between
// the two networks is tunnelled with ESP (negotiated by IKEv2 on demand,
// PSK, AES-256-GCM, PFS with X25519), DNS goes in the clear, telnet is
// blocked, anything else is dropped. ESP travels in UDP (RFC 3948)
// between the gateways' NAT-T sockets; clear packets cross an in-memory
// wire. The demo sends a first packet (held while IKE negotiates, then
// delivered), a DNS query and a telnet attempt, then streams packets both
// ways while A rekeys the CHILD SA, and reports what was lost (nothing).
//
//	go run ./examples/quickstart
//
// It exits non-zero if a packet was lost or anything failed.
package main

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/spd"
)

var (
	//go:embed policy-a.yaml
	policyA []byte
	//go:embed policy-b.yaml
	policyB []byte
)

const streamed = 300 // packets each way during the rekey

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// gateway is a driver with the host network behind it.
type gateway struct {
	name string
	d    *ipsec.Driver
	peer *gateway

	mu        sync.Mutex
	delivered map[string]bool // payloads that reached the hosts behind this gateway
	child     *ike.Event      // the last CHILD SA up or rekeyed
}

func newGateway(name string, addr netip.Addr, policy []byte, w io.Writer) (*gateway, error) {
	p, err := spd.ParsePolicy("policy-"+name+".yaml", policy)
	if err != nil {
		return nil, err
	}
	c, err := spd.Compile(p, spd.CompileOptions{LocalAddrs: []netip.Addr{addr}})
	if err != nil {
		return nil, err
	}
	db := &spd.SPD{}
	db.Swap(c)
	g := &gateway{name: name, delivered: map[string]bool{}}
	g.d, err = ipsec.NewDriver(ipsec.DriverConfig{
		SPD: db,
		Endpoint: ike.EndpointConfig{
			// Port 0: free ports, no privileges needed.
			IKEAddr: netip.AddrPortFrom(addr, 0), NATTAddr: netip.AddrPortFrom(addr, 0),
			Keepalive: -1,
			Events: func(ev ike.Event) {
				if ev.Kind == ike.EventChildUp || ev.Kind == ike.EventChildRekeyed {
					fmt.Fprintf(w, "%s: %v, rule %q, PFS %v\n", name, ev.Kind, ev.Child.Tag, ev.Child.PFS)
					g.mu.Lock()
					g.child = &ev
					g.mu.Unlock()
				}
			},
		},
		// Loopback has no NAT: claim one so that ESP goes in UDP.
		ForceUDPEncap: true,
		// The peer's ports are the kernel's choice.
		PeerPorts: func(netip.Addr) (uint16, uint16) {
			ikeAddr, natt := g.peer.d.Endpoint().Addrs()
			return ikeAddr.Port(), natt.Port()
		},
		Output:  g.send,
		Deliver: g.receive,
	})
	if err != nil {
		return nil, err
	}
	return g, g.d.Endpoint().Listen()
}

// send puts a packet the driver let out on the wire.
func (g *gateway) send(r ipsec.Result) {
	switch r.Verdict {
	case ipsec.VerdictProtected:
		_ = g.d.Endpoint().SendESP(r.To, r.Packet)
	case ipsec.VerdictClear:
		g.peer.receive(g.peer.d.Inbound(append([]byte(nil), r.Packet...)))
	}
}

// receive hands what the driver delivered to the hosts.
func (g *gateway) receive(r ipsec.Result) {
	if r.Verdict == ipsec.VerdictDeliver || r.Verdict == ipsec.VerdictClear {
		g.mu.Lock()
		g.delivered[string(r.Packet[28:])] = true
		g.mu.Unlock()
	}
}

func (g *gateway) got(payload string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.delivered[payload]
}

// out sends a packet from a host behind g and says what happened.
func (g *gateway) out(w io.Writer, pkt []byte, what string) ipsec.Result {
	r := g.d.Outbound(make([]byte, 0, 2048), pkt)
	if w != nil {
		fmt.Fprintf(w, "%s: %-26s -> %v (rule %q%s)\n", g.name, what, r.Verdict, r.Rule, reason(r))
	}
	g.send(r)
	return r
}

func reason(r ipsec.Result) string {
	if r.Verdict == ipsec.VerdictDrop {
		return ", " + r.Reason.String()
	}
	return ""
}

// syncWriter lets the IKE workers and the demo print to one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func run(out io.Writer) error {
	w := &syncWriter{w: out}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := newGateway("a", netip.MustParseAddr("127.0.0.1"), policyA, w)
	if err != nil {
		return err
	}
	b, err := newGateway("b", netip.MustParseAddr("127.0.0.2"), policyB, w)
	if err != nil {
		return err
	}
	a.peer, b.peer = b, a
	var wg sync.WaitGroup
	for _, g := range []*gateway{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.d.Run(ctx) }()
	}
	defer wg.Wait()
	defer cancel()

	a.out(w, udp("10.1.0.5", "10.2.0.7", 5000, "hello B"), "10.1.0.5 -> 10.2.0.7 udp")
	if err := wait(ctx, func() bool { return b.got("hello B") }); err != nil {
		return errors.New("the first packet never arrived")
	}
	fmt.Fprintln(w, "b: delivered the held packet: hello B")
	a.out(w, udp("10.1.0.5", "10.2.0.53", 53, "dns query"), "10.1.0.5 -> 10.2.0.53 dns")
	a.out(w, tcp("10.1.0.5", "10.2.0.7", 23, "telnet"), "10.1.0.5 -> 10.2.0.7 telnet")
	a.out(w, udp("10.1.0.5", "192.0.2.1", 9, "elsewhere"), "10.1.0.5 -> 192.0.2.1 udp")

	// Stream both ways while A rekeys the CHILD SA (make before break).
	lost := 0
	for i := range streamed {
		if i == streamed/3 {
			a.mu.Lock()
			ev := a.child
			a.mu.Unlock()
			spi := ev.IKE.SPIi
			if !ev.IKE.Initiator {
				spi = ev.IKE.SPIr
			}
			if err := a.d.Endpoint().RekeyChild(ctx, spi, ev.Child.InboundSPI); err != nil {
				return err
			}
		}
		a.out(nil, udp("10.1.0.5", "10.2.0.7", 5000, fmt.Sprintf("a%d", i)), "")
		b.out(nil, udp("10.2.0.7", "10.1.0.5", 5000, fmt.Sprintf("b%d", i)), "")
		time.Sleep(2 * time.Millisecond)
	}
	_ = wait(ctx, func() bool { return b.got(fmt.Sprintf("a%d", streamed-1)) && a.got(fmt.Sprintf("b%d", streamed-1)) })
	for i := range streamed {
		for _, x := range []struct {
			g *gateway
			p string
		}{{b, "a"}, {a, "b"}} {
			if !x.g.got(fmt.Sprintf("%s%d", x.p, i)) {
				lost++
			}
		}
	}
	fmt.Fprintf(w, "streamed %d packets each way through a CHILD SA rekey: %d lost\n", streamed, lost)
	for _, g := range []*gateway{a, b} {
		s := g.d.Stats()
		fmt.Fprintf(w, "%s: held %d, negotiations %d, blocked %d, no SA %d, failed ICV %d\n", g.name,
			s.Held, s.Acquires, s.Drops[ipsec.ReasonBlocked], s.Drops[ipsec.ReasonNoSA], s.Drops[ipsec.ReasonOpen])
	}
	if lost != 0 {
		return fmt.Errorf("%d packets lost", lost)
	}
	return nil
}

func wait(ctx context.Context, f func() bool) error {
	for !f() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// udp and tcp build IPv4 packets (header checksum included).
func udp(src, dst string, port uint16, payload string) []byte { return ip(17, src, dst, port, payload) }
func tcp(src, dst string, port uint16, payload string) []byte { return ip(6, src, dst, port, payload) }

func ip(proto uint8, src, dst string, port uint16, payload string) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
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
	binary.BigEndian.PutUint16(p[20:], 40000)
	binary.BigEndian.PutUint16(p[22:], port)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}
