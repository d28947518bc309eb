// Command quickstart shows the library end to end, in one process, without
// root and without any service, using only UDP on 127.0.0.1.
//
// Part 1: two gateways, A and B, each an ike.Endpoint with its own SA
// database, negotiate an IKE SA and a CHILD SA with IKEv2 (pre-shared key,
// AES-256-GCM, X25519). NAT traversal is forced, so IKE moves to the NAT-T
// socket and ESP travels UDP-encapsulated (RFC 3948) between the two
// endpoints' NAT-T sockets. Hosts behind the gateways (10.1.0.5 and
// 10.2.0.7) stream packets both ways through ESP in tunnel mode. While
// they do, A rekeys the CHILD SA with a new X25519 exchange (PFS); the new
// SA takes over make-before-break (ipsec.Installer) and the demo reports
// packets sent, received and lost (none), shows a replayed packet being
// dropped, and prints both SADs and the IKE SA.
//
// Part 2: the bytes ESP adds per packet for each suite (manually keyed
// SAs).
//
//	go run ./examples/quickstart
//
// It exits non-zero if a packet was lost or anything failed.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// Settings of the demo.
const (
	ikeProposal   = "aes256gcm16-prfsha256-x25519"
	childProposal = "aes256gcm16-x25519" // the group makes CHILD SA rekeys use PFS
	packetsBefore = 300                  // per direction, before the rekey starts
	packetsAfter  = 300                  // per direction, after both sides switched
	window        = 16                   // packets in flight per direction
	stall         = 500 * time.Millisecond
	grace         = 10 * time.Second // how long a replaced inbound SA accepts late packets
	settle        = 200 * time.Millisecond
	timeout       = 20 * time.Second // for the whole of part 1
)

// testLose, set by tests before the demo starts, makes a gateway throw an
// arriving packet away, as a network would.
var testLose func(gateway string, pkt []byte) bool

// rule is the outbound key of the one policy rule: 10.1.0.0/16 <->
// 10.2.0.0/16 through the tunnel.
var rule = sad.OutboundKey{Rule: 1}

func run(w io.Writer) error {
	fmt.Fprintln(w, "== Part 1: IKEv2 between two gateways on 127.0.0.1, ESP in UDP, a CHILD SA rekey with PFS while packets flow")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := runIKE(ctx, w)
	if err != nil {
		return err
	}
	if err := r.check(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n== Part 2: bytes ESP adds per packet (IPv4; inner packet of 100 / 1400 bytes)")
	return overheadTable(w)
}

// gateway is one side: an IKE endpoint, the SAD that an Installer fills
// from the endpoint's events, the host behind it, and counters.
type gateway struct {
	name  string
	host  netip.Addr
	ep    *ike.Endpoint
	db    *sad.DB
	x     *ipsec.Installer
	peer  *gateway
	natt  netip.AddrPort // this endpoint's NAT-T socket
	errCh chan error     // the first installation or streaming error

	mu     sync.Mutex
	events []ike.Event

	// What the streaming host sent, and what arrived from the peer.
	sent, received          atomic.Uint64
	replayDrops, otherDrops atomic.Uint64
	outSAs                  sync.Map // SPI -> *sad.SA: every outbound SA this side sealed with
	rxbuf                   []byte   // used only in the endpoint's ESP callback, whose calls are serialized
	stalled                 uint64   // packets given up for lost, used only by stream
	lastReplayable          atomic.Pointer[[]byte]
}

func newGateway(name, host string, responder *ike.Config) (*gateway, error) {
	g := &gateway{name: name, host: netip.MustParseAddr(host), errCh: make(chan error, 1), rxbuf: make([]byte, 0, 2048)}
	// The database ticks often so that lifetimes are applied promptly;
	// nothing in the demo runs long enough to reach one.
	g.db = sad.New(sad.Config{TickInterval: 100 * time.Millisecond})
	// The Installer moves outbound traffic to a rekeyed SA once a packet
	// has arrived on it, or settle after the old SA's Delete.
	g.x = ipsec.NewInstaller(g.db, ipsec.InstallerConfig{Grace: grace, Settle: settle})
	lo := netip.MustParseAddr("127.0.0.1")
	ep, err := ike.NewEndpoint(ike.EndpointConfig{
		// Port 0: the kernel picks free ports for IKE (normally 500) and
		// NAT-T (normally 4500), so the demo needs no privileges.
		IKEAddr: netip.AddrPortFrom(lo, 0), NATTAddr: netip.AddrPortFrom(lo, 0),
		Responder: responder,
		Events:    g.onEvent,
		ESP:       g.receive,
		Keepalive: -1, // no NAT to keep open on loopback
		// The peer's NAT-T port is the kernel's choice too.
		PeerNATT: func(netip.AddrPort) netip.AddrPort { return g.peer.natt },
	})
	if err != nil {
		return nil, err
	}
	if err := ep.Listen(); err != nil {
		return nil, err
	}
	g.ep = ep
	_, g.natt = ep.Addrs()
	return g, nil
}

// onEvent runs in the endpoint's goroutine for every IKE event: the
// Installer installs, switches and retires SAs in the SAD.
func (g *gateway) onEvent(ev ike.Event) {
	if err := g.x.Handle(ev, rule); err != nil {
		g.fail(fmt.Errorf("gateway %s: %v: %w", g.name, ev.Kind, err))
	}
	// Recorded after the Installer is done with it: whoever waits for
	// the event finds the SAD updated.
	g.mu.Lock()
	g.events = append(g.events, ev)
	g.mu.Unlock()
}

// fail records the first error of g for waitFor.
func (g *gateway) fail(err error) {
	select {
	case g.errCh <- err:
	default:
	}
}

// event returns the last event of kind k, or nil.
func (g *gateway) event(k ike.EventKind) *ike.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.events) - 1; i >= 0; i-- {
		if g.events[i].Kind == k {
			ev := g.events[i]
			return &ev
		}
	}
	return nil
}

// outSPI is the SPI of the outbound SA that carries the rule's traffic.
func (g *gateway) outSPI() uint32 {
	if sa := g.db.Outbound(rule); sa != nil {
		return sa.SPI()
	}
	return 0
}

// Outer headers that esp.Seal writes in tunnel mode with UDP
// encapsulation: IPv4 and UDP. Over a UDP socket the kernel writes them.
const outerLen = 20 + 8

// sendOne seals one packet from the host behind g to the host behind the
// peer with the current outbound SA and sends its ESP part from g's NAT-T
// socket to the peer's.
func (g *gateway) sendOne(buf []byte) ([]byte, error) {
	sa := g.db.Outbound(rule)
	if sa == nil {
		g.db.Acquire(rule, sad.Flow{Src: g.host, Dst: g.peer.host, Protocol: 17})
		return buf, fmt.Errorf("gateway %s: no outbound SA", g.name)
	}
	n := g.sent.Load() + 1
	pkt := udpPacket(g.host, g.peer.host, 40000, 7, fmt.Appendf(nil, "%s->%s #%d", g.name, g.peer.name, n))
	wire, err := sa.Seal(buf[:0], pkt)
	if err != nil {
		return wire, fmt.Errorf("gateway %s: seal: %w", g.name, err)
	}
	g.outSAs.LoadOrStore(sa.SPI(), sa)
	if err := g.ep.SendESP(g.peer.natt, wire[outerLen:]); err != nil {
		return wire, err
	}
	g.sent.Store(n)
	if n%50 == 0 {
		cp := append([]byte(nil), wire[outerLen:]...)
		g.lastReplayable.Store(&cp)
	}
	return wire, nil
}

// receive runs in the endpoint's NAT-T reader goroutine for every
// UDP-encapsulated ESP packet: it finds the SA by SPI, puts back the IPv4
// and UDP headers the packet arrived with, and opens it through the SAD.
func (g *gateway) receive(from netip.AddrPort, pkt []byte) {
	if testLose != nil && testLose(g.name, pkt) {
		return
	}
	sa := g.db.Inbound(sad.ProtoESP, binary.BigEndian.Uint32(pkt), g.natt.Addr())
	if sa == nil {
		g.otherDrops.Add(1)
		return
	}
	g.rxbuf = appendOuter(g.rxbuf[:0], from, g.natt, pkt)
	inner, err := sa.Open(g.rxbuf)
	switch {
	case errors.Is(err, esp.ErrReplay):
		g.replayDrops.Add(1)
	case err != nil || len(inner) < 28 || netip.AddrFrom4([4]byte(inner[12:16])) != g.peer.host:
		g.otherDrops.Add(1)
	default:
		g.received.Add(1)
	}
}

// stream sends packets from g until stop is closed, keeping at most window
// packets in flight (so that no socket buffer overflows), and returns the
// first error. When packets in flight do not arrive within stall, it goes
// on sending: they count as lost.
func (g *gateway) stream(ctx context.Context, stop <-chan struct{}) error {
	var buf []byte
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		waitUntil := time.Now().Add(stall)
		for g.sent.Load()-g.peer.received.Load() >= window+g.stalled && time.Now().Before(waitUntil) {
			if err := sleep(ctx, 100*time.Microsecond); err != nil {
				return err
			}
		}
		if g.sent.Load()-g.peer.received.Load() >= window+g.stalled {
			g.stalled = g.sent.Load() - g.peer.received.Load() // lost: stop waiting for them
		}
		var err error
		if buf, err = g.sendOne(buf); err != nil {
			return err
		}
	}
}

// report is what part 1 measured.
type report struct {
	ike                  ike.IKESAInfo
	ikeStats             ike.Stats
	oldChild, newChild   *ike.ChildSA // A's view
	sent, received, lost [2]uint64    // A->B, B->A
	onOld, onNew         [2]uint64    // packets each side sealed with the old and the new CHILD SA
	replayed             [2]uint64    // replays injected towards B, towards A
	replayDrops, drops   [2]uint64    // counted by B, by A (the receivers)
	outPackets           [2]uint64    // sum over every outbound SA each side sealed with
	outSPIs              [2][]uint32
	dumps                [2][]sad.Info
}

func runIKE(ctx context.Context, w io.Writer) (*report, error) {
	icfg, err := config("gw-a.example", "gw-b.example", "10.1.0.0/16", "10.2.0.0/16")
	if err != nil {
		return nil, err
	}
	// ForceUDPEncap makes A claim to be behind a NAT (as strongSwan's
	// encap=yes): both sides move to the NAT-T socket after IKE_SA_INIT and
	// encapsulate ESP in UDP although there is no NAT on loopback.
	icfg.ForceUDPEncap = true
	rcfg, err := config("gw-b.example", "gw-a.example", "10.2.0.0/16", "10.1.0.0/16")
	if err != nil {
		return nil, err
	}
	a, err := newGateway("A", "10.1.0.5", nil)
	if err != nil {
		return nil, err
	}
	b, err := newGateway("B", "10.2.0.7", rcfg)
	if err != nil {
		closed, cancel := context.WithCancel(ctx)
		cancel()
		a.ep.Run(closed) // closes A's sockets
		return nil, err
	}
	a.peer, b.peer = b, a

	runCtx, stopAll := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { stopAll(); bg.Wait() }()
	for _, g := range []*gateway{a, b} {
		bg.Go(func() { g.ep.Run(runCtx) })
		bg.Go(func() { g.db.Run(runCtx) })
	}

	// IKE_SA_INIT and IKE_AUTH: the IKE SA and the first CHILD SA.
	bIKE, bNATT := b.ep.Addrs()
	spi, err := a.ep.Initiate(ctx, icfg, bIKE, nil)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, a, b, "the CHILD SA", func() bool {
		return a.event(ike.EventChildUp) != nil && b.event(ike.EventChildUp) != nil
	}); err != nil {
		return nil, err
	}
	r := &report{ike: a.event(ike.EventIKEUp).IKE, oldChild: a.event(ike.EventChildUp).Child}
	aIKE, aNATT := a.ep.Addrs()
	fmt.Fprintf(w, "IKE SA up: %v, %v, %v; SPIs %x / %x; NAT-T: %s\n", r.ike.Encr, r.ike.PRF, r.ike.KE,
		r.ike.SPIi, r.ike.SPIr, natText(r.ike))
	fmt.Fprintf(w, "  A: IKE %v, NAT-T %v    B: IKE %v, NAT-T %v\n", aIKE, aNATT, bIKE, bNATT)
	fmt.Fprintf(w, "CHILD SA up: %s\n", childText(r.oldChild))

	// Stream both ways; rekey once packetsBefore have gone each way.
	stop := make(chan struct{})
	var streams sync.WaitGroup
	for _, g := range []*gateway{a, b} {
		streams.Go(func() {
			if err := g.stream(ctx, stop); err != nil {
				g.fail(err)
			}
		})
	}
	stopStreams := func() { close(stop); streams.Wait() }
	fail := func(err error) (*report, error) {
		stopStreams()
		return nil, err
	}
	if err := waitFor(ctx, a, b, "packets before the rekey", func() bool {
		return a.sent.Load() >= packetsBefore && b.sent.Load() >= packetsBefore
	}); err != nil {
		return fail(err)
	}
	// CREATE_CHILD_SA with N(REKEY_SA) and a new KE (RFC 7296 1.3.3), then
	// A deletes the old SA; the Installers move traffic over.
	var rekeyErr error
	if err := a.ep.Session(ctx, spi, func(now time.Time, s *ike.Session) {
		rekeyErr = s.RekeyChild(now, r.oldChild.InboundSPI)
	}); err != nil || rekeyErr != nil {
		return fail(errors.Join(err, rekeyErr))
	}
	if err := waitFor(ctx, a, b, "the rekey", func() bool {
		return a.event(ike.EventChildRekeyed) != nil && b.event(ike.EventChildRekeyed) != nil &&
			a.event(ike.EventChildDeleted) != nil && b.event(ike.EventChildDeleted) != nil
	}); err != nil {
		return fail(err)
	}
	r.newChild = a.event(ike.EventChildRekeyed).Child
	fmt.Fprintf(w, "CHILD SA rekeyed (%v key exchange, PFS) while packets flowed: %s\n", r.newChild.PFS, childText(r.newChild))
	if err := waitFor(ctx, a, b, "the switch to the new SA", func() bool {
		return a.outSPI() == r.newChild.OutboundSPI && b.outSPI() == r.newChild.InboundSPI
	}); err != nil {
		return fail(err)
	}
	markA, markB := a.sent.Load(), b.sent.Load()
	if err := waitFor(ctx, a, b, "packets after the rekey", func() bool {
		return a.sent.Load() >= markA+packetsAfter && b.sent.Load() >= markB+packetsAfter
	}); err != nil {
		return fail(err)
	}
	stopStreams()
	for _, g := range []*gateway{a, b} {
		select {
		case err := <-g.errCh:
			return nil, err
		default:
		}
	}
	// An attacker (here: us) replays a captured packet each way: the
	// receivers' anti-replay windows drop them (RFC 4303 3.4.3).
	for i, g := range []*gateway{a, b} {
		if p := g.lastReplayable.Load(); p != nil {
			if err := g.ep.SendESP(g.peer.natt, *p); err != nil {
				return nil, err
			}
			r.replayed[i]++
		}
	}
	// Let the last packets and the replays arrive; what has not arrived
	// after a while is lost.
	drain, stopDrain := context.WithTimeout(ctx, stall)
	_ = waitFor(drain, a, b, "the last packets", func() bool {
		return a.received.Load() == b.sent.Load() && b.received.Load() == a.sent.Load() &&
			b.replayDrops.Load() == r.replayed[0] && a.replayDrops.Load() == r.replayed[1]
	})
	stopDrain()
	for i, g := range []*gateway{a, b} {
		r.sent[i], r.received[i] = g.sent.Load(), g.peer.received.Load()
		r.lost[i] = r.sent[i] - r.received[i]
		r.replayDrops[i], r.drops[i] = g.peer.replayDrops.Load(), g.peer.otherDrops.Load()
		// Packets per outbound SA: the transform's own counters.
		old, cur := r.oldChild.OutboundSPI, r.newChild.OutboundSPI
		if i == 1 {
			old, cur = r.oldChild.InboundSPI, r.newChild.InboundSPI
		}
		g.outSAs.Range(func(k, v any) bool {
			n := v.(*sad.SA).ESP().Stats().Packets
			r.outSPIs[i] = append(r.outSPIs[i], k.(uint32))
			r.outPackets[i] += n
			switch k.(uint32) {
			case old:
				r.onOld[i] = n
			case cur:
				r.onNew[i] = n
			}
			return true
		})
		r.dumps[i] = g.db.Dump()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "direction\tsent\ton old SA\ton new SA\treceived\tlost\treplays injected\treplay drops\tother drops\t")
	for i, d := range []string{"A -> B", "B -> A"} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", d, r.sent[i], r.onOld[i], r.onNew[i],
			r.received[i], r.lost[i], r.replayed[i], r.replayDrops[i], r.drops[i])
	}
	tw.Flush()
	for i, g := range []*gateway{a, b} {
		fmt.Fprintf(w, "SAD of gateway %s (sad.DB.Dump):\n", g.name)
		for _, info := range r.dumps[i] {
			fmt.Fprintf(w, "  %-3s %-3s spi=0x%08x %-7s %s packets=%d bytes=%d replay-drops=%d auth-failures=%d\n",
				info.Dir, info.Proto, info.SPI, info.State, info.Mode, info.Packets, info.Bytes,
				info.ReplayDrops, info.AuthFailures)
		}
		old := r.oldChild.OutboundSPI
		if i == 1 {
			old = r.oldChild.InboundSPI
		}
		fmt.Fprintf(w, "  (out esp spi=0x%08x, replaced at the rekey and no longer in the SAD, sealed %d packets)\n", old, r.onOld[i])
	}
	if err := a.ep.Session(ctx, spi, func(_ time.Time, s *ike.Session) { r.ikeStats = s.Stats() }); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "IKE SA (A, initiator): %v/%v/%v/%v, SPIi %x SPIr %x, local NAT %v, remote NAT %v, %s <-> %s, IKE datagrams sent %d received %d retransmitted %d\n",
		r.ike.Encr, r.ike.Integ, r.ike.PRF, r.ike.KE, r.ike.SPIi, r.ike.SPIr, r.ike.LocalNAT, r.ike.RemoteNAT,
		r.ike.LocalID, r.ike.RemoteID, r.ikeStats.Sent, r.ikeStats.Received, r.ikeStats.Retransmits)

	// Delete the IKE SA, and with it the CHILD SAs (RFC 7296 1.4.1).
	if err := a.ep.Session(ctx, spi, func(now time.Time, s *ike.Session) { s.Close(now) }); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, a, b, "the IKE SA delete", func() bool {
		return a.event(ike.EventIKEDown) != nil && b.event(ike.EventIKEDown) != nil
	}); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "IKE SA deleted; outbound SAs left: A %d, B %d\n", a.db.Stats().Outbound, b.db.Stats().Outbound)
	return r, nil
}

// check turns what went wrong into an error.
func (r *report) check() error {
	var errs []error
	for i, d := range []string{"A -> B", "B -> A"} {
		if r.lost[i] != 0 || r.sent[i] == 0 {
			errs = append(errs, fmt.Errorf("%s: %d sent, %d lost", d, r.sent[i], r.lost[i]))
		}
		if r.drops[i] != 0 {
			errs = append(errs, fmt.Errorf("%s: %d packets dropped", d, r.drops[i]))
		}
		if r.replayDrops[i] != r.replayed[i] {
			errs = append(errs, fmt.Errorf("%s: %d replays injected, %d dropped", d, r.replayed[i], r.replayDrops[i]))
		}
		if r.outPackets[i] != r.sent[i] || r.onOld[i]+r.onNew[i] != r.sent[i] || r.onOld[i] == 0 || r.onNew[i] == 0 {
			errs = append(errs, fmt.Errorf("%s: %d packets sealed on SAs %x, %d sent", d, r.outPackets[i], r.outSPIs[i], r.sent[i]))
		}
	}
	if r.newChild == nil || r.newChild.PFS == isakmp.GroupNone {
		errs = append(errs, errors.New("the CHILD SA was not rekeyed with a key exchange"))
	}
	return errors.Join(errs...)
}

// waitFor polls cond until it holds, ctx ends, or a gateway reports an
// installation error.
func waitFor(ctx context.Context, a, b *gateway, what string, cond func() bool) error {
	for !cond() {
		select {
		case err := <-a.errCh:
			return err
		case err := <-b.errCh:
			return err
		default:
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// config is one gateway's IKE configuration: a pre-shared key, the
// proposals above, and a tunnel between two networks.
func config(local, remote, localNet, remoteNet string) (*ike.Config, error) {
	secret := []byte("quickstart demo key, 32 bytes..")
	key, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		return nil, err
	}
	peers := auth.NewPSKStore(auth.PSKOptions{})
	if err := peers.Add(auth.FQDN(remote), secret); err != nil {
		return nil, err
	}
	ikeProps, err := ike.ParseProposals(ikeProposal, isakmp.ProtocolIKE)
	if err != nil {
		return nil, err
	}
	childProps, err := ike.ParseProposals(childProposal, isakmp.ProtocolESP)
	if err != nil {
		return nil, err
	}
	return &ike.Config{
		LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote),
		Auth: key, PeerAuth: ike.PSKPeers(peers),
		IKEProposals: ikeProps, ChildProposals: childProps,
		LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(localNet))},
		RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(remoteNet))},
		Mode:     ike.Tunnel,
	}, nil
}

func natText(i ike.IKESAInfo) string {
	switch {
	case i.LocalNAT && i.RemoteNAT:
		return "both sides behind NAT"
	case i.LocalNAT:
		return "A behind NAT (forced), ESP in UDP"
	case i.RemoteNAT:
		return "B behind NAT, ESP in UDP"
	}
	return "no NAT"
}

func childText(c *ike.ChildSA) string {
	return fmt.Sprintf("%v %v %v, SPIs in 0x%08x out 0x%08x, UDP %d -> %d",
		c.Protocol, c.Mode, c.Encr, c.InboundSPI, c.OutboundSPI, c.EncapLocalPort, c.EncapRemotePort)
}

// appendOuter appends the IPv4 and UDP headers of a datagram from -> to
// carrying payload, then payload: the packet as it was on the wire before
// the kernel's UDP socket took the headers off.
func appendOuter(b []byte, from, to netip.AddrPort, payload []byte) []byte {
	n := outerLen + len(payload)
	var h [outerLen]byte
	h[0], h[8], h[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(h[2:], uint16(n))
	s, d := from.Addr().As4(), to.Addr().As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], ipChecksum(h[:20]))
	binary.BigEndian.PutUint16(h[20:], from.Port())
	binary.BigEndian.PutUint16(h[22:], to.Port())
	binary.BigEndian.PutUint16(h[24:], uint16(8+len(payload)))
	return append(append(b, h[:]...), payload...)
}

// overheadTable seals one packet per suite and mode and prints how much
// longer it became.
func overheadTable(w io.Writer) error {
	suites := []struct {
		name   string
		c      esp.Cipher
		keyLen int
		integ  esp.Integrity
	}{
		{"aes128gcm16", esp.CipherAESGCM16, 20, esp.IntegNone},
		{"aes256gcm16", esp.CipherAESGCM16, 36, esp.IntegNone},
		{"chacha20poly1305", esp.CipherChaCha20Poly1305, 36, esp.IntegNone},
		{"aes128gmac (no encryption)", esp.CipherNullAuthAESGMAC, 20, esp.IntegNone},
		{"aes128-sha1", esp.CipherAESCBC, 16, esp.IntegHMACSHA196},
		{"aes128-sha256", esp.CipherAESCBC, 16, esp.IntegHMACSHA256128},
		{"aes256-sha512", esp.CipherAESCBC, 32, esp.IntegHMACSHA512256},
	}
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "suite\ttransport 100\ttransport 1400\ttunnel 100\ttunnel 1400\ttunnel+UDP 100\ttunnel+UDP 1400\t")
	for _, s := range suites {
		fmt.Fprintf(tw, "%s", s.name)
		for _, m := range []struct {
			mode  esp.Mode
			encap bool
		}{{esp.Transport, false}, {esp.Tunnel, false}, {esp.Tunnel, true}} {
			for _, size := range []int{100, 1400} {
				cfg := esp.Config{SPI: 0x100, Cipher: s.c, CipherKey: random(s.keyLen),
					Integrity: s.integ, IntegrityKey: random(s.integ.KeySize()), Mode: m.mode}
				if m.mode == esp.Tunnel {
					cfg.TunnelSrc, cfg.TunnelDst = src, dst
				}
				if m.encap {
					cfg.EncapSrcPort, cfg.EncapDstPort = 4500, 4500
				}
				sa, err := esp.NewSA(cfg)
				if err != nil {
					return err
				}
				pkt := udpPacket(src, dst, 1, 2, make([]byte, size-28))
				wire, err := sa.Seal(nil, pkt)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "\t+%d", len(wire)-len(pkt))
			}
		}
		fmt.Fprintln(tw, "\t")
	}
	return tw.Flush()
}

// udpPacket builds an IPv4/UDP packet.
func udpPacket(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:], src.AsSlice())
	copy(p[16:], dst.AsSlice())
	binary.BigEndian.PutUint16(p[10:], ipChecksum(p[:20]))
	binary.BigEndian.PutUint16(p[20:], sport)
	binary.BigEndian.PutUint16(p[22:], dport)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

// ipChecksum is the IPv4 header checksum (RFC 791) of h, whose checksum
// field is zero.
func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
