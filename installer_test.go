package ipsec

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

const (
	grace  = 30 * time.Second
	settle = 50 * time.Millisecond
)

// newTestInstaller returns an Installer on clock whose polling the test
// drives with poll.
func newTestInstaller(db *sad.DB, clock *fakeClock) *Installer {
	x := NewInstaller(db, InstallerConfig{Grace: grace, Settle: settle})
	x.now, x.manual = clock.Now, true
	return x
}

// poll runs the Installer's poll as its timer would.
func poll(x *Installer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.poll()
}

var ruleKey = sad.OutboundKey{Rule: 1}

// gateway is one side: its SAD, fed by an Installer from its IKE events.
type gateway struct {
	name string
	db   *sad.DB
	x    *Installer
	host netip.Addr // the host behind it that sends
	sent int
	// rekeyed and deleted are when the last EventChildRekeyed and
	// EventChildDeleted arrived; switched when the outbound SPI last
	// changed (all on the fake clock).
	rekeyed, deleted, switched time.Time
	// lag holds back the events of a step until just before the side's
	// next datagram, as a driver that hands events to another goroutine
	// (or a slow peer implementation) may.
	lag   bool
	queue []ike.Event
	clock *fakeClock
}

// apply hands the queued events to the Installer.
func (g *gateway) apply(t *testing.T) {
	t.Helper()
	for _, ev := range g.queue {
		if err := g.x.Handle(ev, ruleKey); err != nil {
			t.Fatalf("%s: Handle(%v): %v", g.name, ev.Kind, err)
		}
		switch ev.Kind {
		case ike.EventChildDeleted:
			g.deleted = g.clock.Now()
		case ike.EventChildRekeyed:
			g.rekeyed = g.clock.Now()
		}
	}
	g.queue = nil
}

// installed runs an in-memory IKE pair whose events drive an Installer on
// each side.
type installedPair struct {
	*pair
	clock *fakeClock
	a, b  *gateway // initiator, responder
}

func newInstalledPair(t *testing.T, childProps string) *installedPair {
	t.Helper()
	const ikeProps = "aes256gcm16-prfsha256-x25519"
	clock := &fakeClock{t: t0}
	gw := func(name string, host netip.Addr) *gateway {
		db := sad.New(sad.Config{Clock: clock})
		return &gateway{name: name, db: db, x: newTestInstaller(db, clock), host: host, clock: clock}
	}
	ip := &installedPair{clock: clock, a: gw("A", hostI), b: gw("B", hostR)}
	ip.pair = newPair(t, ikeConfig(t, true, ikeProps, childProps, isakmp.ProtocolESP, ike.Tunnel),
		ikeConfig(t, false, ikeProps, childProps, isakmp.ProtocolESP, ike.Tunnel))
	ip.onEvent = func(initiator bool, ev ike.Event) {
		g := ip.b
		if initiator {
			g = ip.a
		}
		g.queue = append(g.queue, ev)
		if !g.lag {
			g.apply(t)
		}
	}
	ip.beforeDeliver = func(toInitiator bool) {
		if toInitiator {
			ip.a.apply(t)
		} else {
			ip.b.apply(t)
		}
	}
	ip.run(nil)
	if last(ip.evI, ike.EventChildUp) == nil || last(ip.evR, ike.EventChildUp) == nil {
		t.Fatal("no CHILD SA")
	}
	return ip
}

// seal seals the next packet from g's host through g's outbound SA.
func (g *gateway) seal(t *testing.T, to netip.Addr) []byte {
	t.Helper()
	sa := g.db.Outbound(ruleKey)
	if sa == nil {
		t.Fatalf("%s: no outbound SA", g.name)
	}
	g.sent++
	wire, err := sa.Seal(nil, udp4(g.host, to, fmt.Appendf(nil, "%s %d", g.name, g.sent)))
	if err != nil {
		t.Fatalf("%s: seal: %v", g.name, err)
	}
	return wire
}

// open opens a packet at g.
func (g *gateway) open(wire []byte) error {
	sa := g.db.Inbound(sad.ProtoESP, spiOfOuter(wire), netip.Addr{})
	if sa == nil {
		return fmt.Errorf("%s: no inbound SA for SPI %#x", g.name, spiOfOuter(wire))
	}
	_, err := sa.Open(bytes.Clone(wire))
	return err
}

// outSPI is the SPI g currently sends with.
func (g *gateway) outSPI() uint32 {
	if sa := g.db.Outbound(ruleKey); sa != nil {
		return sa.SPI()
	}
	return 0
}

// flow checks, between any two IKE datagrams, that a packet sealed now on
// either side opens on the other at once; it also seals a second packet
// each way and keeps it for deliverLate, as a packet that is still on the
// wire when the rekey completes.
type flow struct {
	t       *testing.T
	ip      *installedPair
	late    [][2]any // (gateway to open at, packet)
	spisA   []uint32 // A's outbound SPI at each step, in order, without repeats
	spisB   []uint32
	checked int
}

func (f *flow) step() {
	f.t.Helper()
	a, b := f.ip.a, f.ip.b
	poll(a.x)
	poll(b.x)
	for _, d := range []struct{ from, to *gateway }{{a, b}, {b, a}} {
		if err := d.to.open(d.from.seal(f.t, d.to.host)); err != nil {
			f.t.Fatalf("after %d IKE datagrams: %s -> %s: %v", f.ip.deliveries, d.from.name, d.to.name, err)
		}
		f.late = append(f.late, [2]any{d.to, d.from.seal(f.t, d.to.host)})
	}
	f.checked++
	if s := a.outSPI(); len(f.spisA) == 0 || f.spisA[len(f.spisA)-1] != s {
		f.spisA = append(f.spisA, s)
		a.switched = f.ip.clock.Now()
	}
	if s := b.outSPI(); len(f.spisB) == 0 || f.spisB[len(f.spisB)-1] != s {
		f.spisB = append(f.spisB, s)
		b.switched = f.ip.clock.Now()
	}
}

// settle steps the fake clock a millisecond at a time, checking the
// datapath at each, until both sides send on SAs other than those given
// (or the settle time has long passed).
func (f *flow) settle(oldA, oldB uint32) {
	f.t.Helper()
	for i := 0; f.ip.a.outSPI() == oldA || f.ip.b.outSPI() == oldB; i++ {
		if i > 3*int(settle/time.Millisecond) {
			f.t.Fatalf("no switch %v after the rekey: A sends on %#x, B on %#x", 3*settle, f.ip.a.outSPI(), f.ip.b.outSPI())
		}
		f.ip.clock.add(time.Millisecond)
		f.step()
	}
	f.step()
}

// deliverLate opens every packet kept back by step.
func (f *flow) deliverLate() {
	f.t.Helper()
	for i, l := range f.late {
		if err := l[0].(*gateway).open(l[1].([]byte)); err != nil {
			f.t.Fatalf("late packet %d: %v", i, err)
		}
	}
	f.late = nil
}

// TestInstallerRekey rekeys a CHILD SA (with PFS) while checking the
// datapath after every IKE datagram and every millisecond of the settle
// time: packets sealed at any moment open on the other side at once, and
// packets sealed at any moment but delivered after the rekey (still on the
// wire) open too. It does so with each side's events reported promptly,
// or held back until the side's next IKE datagram (as a driver that
// handles events on another goroutine may). Each side
// switches its outbound SA exactly once, to the new CHILD SA, and keeps
// the old inbound SA only for the grace period.
func TestInstallerRekey(t *testing.T) {
	for _, lag := range []struct {
		name string
		a, b bool
	}{{"prompt", false, false}, {"initiator-lags", true, false}, {"responder-lags", false, true}, {"both-lag", true, true}} {
		t.Run(lag.name, func(t *testing.T) { testInstallerRekey(t, lag.a, lag.b) })
	}
}

func testInstallerRekey(t *testing.T, lagA, lagB bool) {
	ip := newInstalledPair(t, "aes128gcm16-x25519")
	ip.a.lag, ip.b.lag = lagA, lagB
	old := last(ip.evI, ike.EventChildUp).Child
	f := &flow{t: t, ip: ip}
	f.step()
	ip.session(true, func(s *ike.Session) {
		if err := s.RekeyChild(ip.now, old.InboundSPI); err != nil {
			t.Fatal(err)
		}
	})
	// 10 ms between IKE datagrams: A gets the Delete response 10 ms after
	// B got the Delete request.
	ip.run(func() { ip.clock.add(10 * time.Millisecond); f.step() })
	f.step()
	ip.a.apply(t)
	ip.b.apply(t)
	newA := last(ip.evI, ike.EventChildRekeyed).Child
	if newA.PFS != isakmp.GroupCurve25519 {
		t.Fatalf("rekey without PFS: %v", newA.PFS)
	}
	if last(ip.evI, ike.EventChildDeleted) == nil || last(ip.evR, ike.EventChildDeleted) == nil {
		t.Fatal("the old CHILD SA was not deleted")
	}
	f.settle(old.OutboundSPI, old.InboundSPI)
	if want := []uint32{old.OutboundSPI, newA.OutboundSPI}; fmt.Sprint(f.spisA) != fmt.Sprint(want) {
		t.Fatalf("A's outbound SPIs %x, want %x", f.spisA, want)
	}
	if want := []uint32{old.InboundSPI, newA.InboundSPI}; fmt.Sprint(f.spisB) != fmt.Sprint(want) {
		t.Fatalf("B's outbound SPIs %x, want %x", f.spisB, want)
	}
	// A, which rekeyed, moved InitiatorDelay after it installed the new
	// SA (its peer installed it before answering, RFC 7296 2.8), or on
	// B's first packet on it. B, the responder, waited for A's first
	// packet on the new SA (so switched after A), or the settle time
	// after its Delete.
	a, b := ip.a, ip.b
	if d := a.switched.Sub(a.rekeyed); d < DefaultInitiatorDelay && !a.switched.After(b.switched) {
		t.Fatalf("A switched %v after its rekey, before InitiatorDelay and before B", d)
	}
	if waited := b.switched.Sub(b.deleted); waited < settle && b.switched.Before(a.switched) {
		t.Fatalf("B switched %v after the Delete, before the settle time and before A", waited)
	}
	t.Logf("datapath checked at %d points of the rekey; A switched %v after its rekey, B %v after its Delete", f.checked,
		ip.a.switched.Sub(ip.a.rekeyed), ip.b.switched.Sub(ip.b.deleted))
	for _, g := range []*gateway{ip.a, ip.b} {
		if st := g.db.Stats(); st.Inbound != 2 || st.Outbound != 1 {
			t.Fatalf("%s during grace: %+v", g.name, st)
		}
	}
	f.deliverLate()
	stale := f.ip.b.db.Inbound(sad.ProtoESP, old.OutboundSPI, netip.Addr{})
	if stale == nil || stale.State() != sad.StateRetired {
		t.Fatalf("B's old inbound SA: %v", stale)
	}
	now := ip.clock.add(grace + time.Second)
	for _, g := range []*gateway{ip.a, ip.b} {
		g.db.Tick(now)
		if st := g.db.Stats(); st.Inbound != 1 || st.Outbound != 1 {
			t.Fatalf("%s after grace: %+v", g.name, st)
		}
	}
	if ip.a.db.Inbound(sad.ProtoESP, old.InboundSPI, netip.Addr{}) != nil {
		t.Fatal("A's old inbound SA outlived its grace period")
	}
	f.step()
}

// TestInstallerCollision: both sides rekey the same CHILD SA at once (RFC
// 7296 2.8.1). One new SA survives on both sides, the redundant one and
// the old one are retired, and the datapath works throughout.
func TestInstallerCollision(t *testing.T) {
	ip := newInstalledPair(t, "aes256gcm16-x25519")
	ci := last(ip.evI, ike.EventChildUp).Child
	cr := last(ip.evR, ike.EventChildUp).Child
	f := &flow{t: t, ip: ip}
	f.step()
	ip.session(true, func(s *ike.Session) { s.RekeyChild(ip.now, ci.InboundSPI) })
	ip.session(false, func(s *ike.Session) { s.RekeyChild(ip.now, cr.InboundSPI) })
	ip.run(func() { ip.clock.add(10 * time.Millisecond); f.step() })
	f.step()
	f.settle(ci.OutboundSPI, cr.OutboundSPI)
	// The redundant SA may have carried traffic for a moment; after its
	// Delete, traffic settles on the survivor.
	ip.clock.add(settle)
	f.step()
	f.deliverLate()
	now := ip.clock.add(grace + time.Second)
	for _, g := range []*gateway{ip.a, ip.b} {
		g.db.Tick(now)
		if st := g.db.Stats(); st.Inbound != 1 || st.Outbound != 1 {
			t.Fatalf("%s after the collision and grace: %+v", g.name, st)
		}
	}
	// The surviving pair: A sends with the SPI B receives on, and back.
	if ip.b.db.Inbound(sad.ProtoESP, ip.a.outSPI(), netip.Addr{}) == nil ||
		ip.a.db.Inbound(sad.ProtoESP, ip.b.outSPI(), netip.Addr{}) == nil {
		t.Fatalf("the surviving SAs do not pair: A out %#x, B out %#x", ip.a.outSPI(), ip.b.outSPI())
	}
	if ip.a.outSPI() == ci.OutboundSPI || ip.b.outSPI() == cr.OutboundSPI {
		t.Fatal("still sending on the old SA")
	}
	f.step()
}

// TestInstallerDelete: a CHILD SA deleted without a successor takes its
// outbound SA with it (new packets have no SA and ask for one), its
// inbound SA is retired; closing the IKE SA does the same.
func TestInstallerDelete(t *testing.T) {
	ip := newInstalledPair(t, "aes128gcm16")
	ci := last(ip.evI, ike.EventChildUp).Child
	inFlight := ip.b.seal(t, hostI)
	ip.session(true, func(s *ike.Session) {
		if err := s.DeleteChild(ip.now, ci.InboundSPI); err != nil {
			t.Fatal(err)
		}
	})
	ip.run(nil)
	for _, g := range []*gateway{ip.a, ip.b} {
		if g.db.Outbound(ruleKey) != nil {
			t.Fatalf("%s still has an outbound SA", g.name)
		}
		// The lookup has no side effect; the caller asks for an SA.
		if !g.db.Acquire(ruleKey, sad.Flow{}) {
			t.Fatalf("%s: no acquire sent", g.name)
		}
		if st := g.db.Stats(); st.Inbound != 1 || st.Acquires != 1 {
			t.Fatalf("%s: %+v", g.name, st)
		}
	}
	if err := ip.a.open(inFlight); err != nil {
		t.Fatalf("packet in flight during the delete: %v", err)
	}
	// A new CHILD SA for the same rule is used at once.
	ip.session(true, func(s *ike.Session) {
		if err := s.CreateChild(ip.now); err != nil {
			t.Fatal(err)
		}
	})
	ip.run(nil)
	f := &flow{t: t, ip: ip}
	f.step()
	ip.session(true, func(s *ike.Session) { s.Close(ip.now) })
	ip.run(nil)
	if count(ip.evI, ike.EventIKEDown) != 1 {
		t.Fatalf("IKE SA not down: %v", ip.evI)
	}
	for _, g := range []*gateway{ip.a, ip.b} {
		if g.db.Outbound(ruleKey) != nil {
			t.Fatalf("%s: outbound SA after the IKE SA closed", g.name)
		}
		g.db.Tick(ip.clock.add(grace + time.Second))
		if st := g.db.Stats(); st.Inbound != 0 || st.Outbound != 0 {
			t.Fatalf("%s after close and grace: %+v", g.name, st)
		}
	}
}

// TestInstallerHandleErrors: a CHILD SA reported up twice, and events
// without a CHILD SA.
func TestInstallerHandleErrors(t *testing.T) {
	_, ci, _ := negotiate(t, "aes128gcm16", isakmp.ProtocolESP, ike.Tunnel)
	x := NewInstaller(sad.New(sad.Config{}), InstallerConfig{})
	if err := x.Handle(ike.Event{Kind: ike.EventChildUp, Child: ci}, ruleKey); err != nil {
		t.Fatal(err)
	}
	if err := x.Handle(ike.Event{Kind: ike.EventChildUp, Child: ci}, ruleKey); err == nil {
		t.Fatal("the same CHILD SA installed twice")
	}
	if err := x.Handle(ike.Event{Kind: ike.EventChildUp}, ruleKey); !errors.Is(err, ErrProtocol) {
		t.Fatalf("EventChildUp without a CHILD SA: %v", err)
	}
	for _, k := range []ike.EventKind{ike.EventChildDeleted, ike.EventIKEUp, ike.EventIKEDown, ike.EventChildFailed} {
		if err := x.Handle(ike.Event{Kind: k}, ruleKey); err != nil {
			t.Fatalf("%v without a CHILD SA: %v", k, err)
		}
	}
	other := *ci
	other.InboundSPI++
	if err := x.Handle(ike.Event{Kind: ike.EventChildDeleted, Child: &other}, ruleKey); err != nil {
		t.Fatalf("deleting an SA never installed: %v", err)
	}
}

// TestInstallerTimer: with the real clock and timer, a held outbound SA
// takes over by itself once the settle time after the old SA's Delete has
// passed, and the timer stops when nothing waits.
func TestInstallerTimer(t *testing.T) {
	db := sad.New(sad.Config{})
	x := NewInstaller(db, InstallerConfig{Grace: time.Second, Settle: 20 * time.Millisecond})
	c1, c2 := benchChild(1), benchChild(2)
	for _, ev := range []ike.Event{
		{Kind: ike.EventChildUp, Child: c1},
		{Kind: ike.EventChildRekeyed, Child: c2, Old: c1},
		{Kind: ike.EventChildDeleted, Child: c1},
	} {
		if err := x.Handle(ev, ruleKey); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.Outbound(ruleKey).SPI() != c2.OutboundSPI {
		if time.Now().After(deadline) {
			t.Fatal("the new SA never took over")
		}
		time.Sleep(time.Millisecond)
	}
	for {
		x.mu.Lock()
		idle := x.timer == nil
		x.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the poll timer keeps running with nothing to wait for")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInstallerAH: AH CHILD SAs go into the database under ProtoAH, and a
// rekey moves traffic over as for ESP.
func TestInstallerAH(t *testing.T) {
	const ikeProps = "aes256gcm16-prfsha256-x25519"
	p := newPair(t, ikeConfig(t, true, ikeProps, "sha256-x25519", isakmp.ProtocolAH, ike.Tunnel),
		ikeConfig(t, false, ikeProps, "sha256-x25519", isakmp.ProtocolAH, ike.Tunnel))
	clock := &fakeClock{t: t0}
	dbs := [2]*sad.DB{sad.New(sad.Config{Clock: clock}), sad.New(sad.Config{Clock: clock})}
	xs := [2]*Installer{newTestInstaller(dbs[0], clock), newTestInstaller(dbs[1], clock)}
	p.onEvent = func(initiator bool, ev ike.Event) {
		i := 1
		if initiator {
			i = 0
		}
		if err := xs[i].Handle(ev, ruleKey); err != nil {
			t.Fatal(err)
		}
	}
	p.run(nil)
	// send seals a packet on side i and opens it on the other; the AH SPI
	// follows the 20-byte outer IPv4 header and 4 bytes of AH.
	send := func(i int) uint32 {
		t.Helper()
		out := dbs[i].Outbound(ruleKey)
		if out == nil || out.Proto() != sad.ProtoAH {
			t.Fatalf("side %d: outbound %v", i, out)
		}
		wire, err := out.Seal(nil, udp4(hostI, hostR, []byte("signed")))
		if err != nil {
			t.Fatal(err)
		}
		spi := uint32(wire[24])<<24 | uint32(wire[25])<<16 | uint32(wire[26])<<8 | uint32(wire[27])
		in := dbs[1-i].Inbound(sad.ProtoAH, spi, netip.Addr{})
		if in == nil {
			t.Fatalf("side %d: no inbound AH SA %#x", 1-i, spi)
		}
		if _, err := in.Open(wire); err != nil {
			t.Fatalf("side %d: %v", 1-i, err)
		}
		return spi
	}
	old := send(0)
	send(1)
	p.session(true, func(s *ike.Session) { s.RekeyChild(p.now, last(p.evI, ike.EventChildUp).Child.InboundSPI) })
	p.run(func() { send(0); send(1) })
	clock.add(settle)
	poll(xs[1]) // the settle time has passed for both sides
	send(1)
	poll(xs[0])
	if send(0) == old {
		t.Fatal("A still signs with the old AH SA")
	}
	if c := last(p.evI, ike.EventChildRekeyed); c == nil || c.Child.PFS != isakmp.GroupCurve25519 {
		t.Fatalf("AH rekey: %v", c)
	}
}
