package sad

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

func TestAllocateSPI(t *testing.T) {
	clk := newFakeClock()
	db := New(Config{Clock: clk, LarvalTimeout: 10 * time.Second, EventQueue: 4096})
	seen := map[uint32]bool{}
	for range 2000 {
		spi, err := db.AllocateSPI(ProtoESP)
		if err != nil {
			t.Fatal(err)
		}
		if spi < 256 || seen[spi] {
			t.Fatalf("SPI %d reserved or repeated", spi)
		}
		seen[spi] = true
		if db.Inbound(ProtoESP, spi, hostB) != nil {
			t.Fatal("a larval SA is returned by Inbound")
		}
	}
	if st := db.Stats(); st.Larval != 2000 || st.Inbound != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Install one reserved SPI; the others time out.
	var spi uint32
	for s := range seen {
		spi = s
		break
	}
	_, in := espPair(t, spi)
	sa, err := db.AddInbound(Spec{ESP: in})
	if err != nil {
		t.Fatal(err)
	}
	if db.Inbound(ProtoESP, spi, hostB) != sa {
		t.Fatal("installed SA not found")
	}
	if _, err := db.AddInbound(Spec{ESP: in}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate SPI: %v", err)
	}
	db.Tick(clk.Advance(9 * time.Second))
	if st := db.Stats(); st.Larval != 1999 {
		t.Fatalf("released early: %+v", st)
	}
	db.Tick(clk.Advance(time.Second))
	ev := drain(db)
	if st := db.Stats(); st.Larval != 0 || st.Inbound != 1 || len(ev) != 1999 {
		t.Fatalf("after timeout: %+v, %d events", st, len(ev))
	}
	for _, e := range ev {
		if e.Kind != EventLarvalExpire || e.SPI == spi {
			t.Fatalf("event %+v", e)
		}
	}
	if db.Inbound(ProtoESP, spi, hostB) != sa {
		t.Fatal("installed SA lost")
	}
	if _, err := db.AllocateSPI(7); err == nil {
		t.Fatal("unknown protocol accepted")
	}
}

// TestLifetimeTime drives soft and hard time lifetimes with a fake clock,
// without jitter and then with it.
func TestLifetimeTime(t *testing.T) {
	clk := newFakeClock()
	db := New(Config{Clock: clk, Jitter: -1})
	life := &Lifetime{SoftTime: 10 * time.Second, HardTime: 20 * time.Second}
	_, in := espPair(t, 0x1000)
	sa, err := db.AddInbound(Spec{ESP: in, Lifetime: life})
	if err != nil {
		t.Fatal(err)
	}
	db.Tick(clk.Advance(9999 * time.Millisecond))
	if ev := drain(db); len(ev) != 0 || sa.State() != StateMature {
		t.Fatalf("early: %v %v", ev, sa.State())
	}
	db.Tick(clk.Advance(time.Millisecond))
	ev := drain(db)
	if len(ev) != 1 || ev[0].Kind != EventSoftExpire || ev[0].Reason != ReasonTime || ev[0].SPI != 0x1000 || sa.State() != StateRekeying {
		t.Fatalf("soft: %+v %v", ev, sa.State())
	}
	if db.Inbound(ProtoESP, 0x1000, hostB) != sa {
		t.Fatal("soft-expired SA must stay usable")
	}
	db.Tick(clk.Advance(10 * time.Second))
	ev = drain(db)
	if len(ev) != 1 || ev[0].Kind != EventHardExpire || sa.State() != StateDead {
		t.Fatalf("hard: %+v %v", ev, sa.State())
	}
	if db.Inbound(ProtoESP, 0x1000, hostB) != nil {
		t.Fatal("hard-expired SA still found")
	}
	if _, err := sa.Open(nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("Open on dead SA: %v", err)
	}

	// With jitter the soft deadline falls in [90%, 100%] of SoftTime and
	// differs between SAs.
	db = New(Config{Clock: clk, Jitter: 0.1})
	softs := map[time.Duration]bool{}
	for i := range 50 {
		_, in := espPair(t, uint32(0x2000+i))
		sa, err := db.AddInbound(Spec{ESP: in, Lifetime: life})
		if err != nil {
			t.Fatal(err)
		}
		if s := sa.life.SoftTime; s < 9*time.Second || s > 10*time.Second {
			t.Fatalf("jittered soft time %v", s)
		}
		softs[sa.life.SoftTime] = true
		if sa.life.HardTime != 20*time.Second {
			t.Fatal("jitter moved the hard limit")
		}
	}
	if len(softs) < 40 {
		t.Fatalf("only %d distinct soft times in 50", len(softs))
	}
}

// TestLifetimeBytesPackets counts traffic through Seal and Open against
// byte and packet limits: soft, then hard; a dead SA refuses packets and is
// gone after the next Tick.
func TestLifetimeBytesPackets(t *testing.T) {
	for _, tc := range []struct {
		name           string
		life           Lifetime
		softAt, hardAt int // packets (of 128 bytes inner) at which events fire
		reason         Reason
	}{
		{"packets", Lifetime{SoftPackets: 5, HardPackets: 8}, 5, 8, ReasonPackets},
		{"bytes", Lifetime{SoftBytes: 128*3 + 1, HardBytes: 128 * 6}, 4, 6, ReasonBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			tx := New(Config{Clock: clk, Jitter: -1})
			rx := New(Config{Clock: clk, Jitter: -1})
			o, i := espPair(t, 0x3000)
			out, err := tx.AddOutbound(OutboundKey{1, 1}, Spec{ESP: o, Lifetime: &tc.life})
			if err != nil {
				t.Fatal(err)
			}
			in, err := rx.AddInbound(Spec{ESP: i, Lifetime: &tc.life})
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= tc.hardAt; n++ {
				s, err := out.Seal(nil, udpPacket(100, uint64(n)))
				if err != nil {
					t.Fatalf("packet %d: %v", n, err)
				}
				if _, err := in.Open(s); err != nil {
					t.Fatalf("packet %d: %v", n, err)
				}
				for _, db := range []*DB{tx, rx} {
					ev := drain(db)
					switch n {
					case tc.softAt:
						if len(ev) != 1 || ev[0].Kind != EventSoftExpire || ev[0].Reason != tc.reason {
							t.Fatalf("packet %d: %+v", n, ev)
						}
					case tc.hardAt:
						if len(ev) != 1 || ev[0].Kind != EventHardExpire || ev[0].Reason != tc.reason {
							t.Fatalf("packet %d: %+v", n, ev)
						}
					default:
						if len(ev) != 0 {
							t.Fatalf("packet %d: %+v", n, ev)
						}
					}
				}
			}
			if _, err := out.Seal(nil, udpPacket(100, 99)); !errors.Is(err, ErrExpired) {
				t.Fatalf("Seal after hard limit: %v", err)
			}
			if tx.Outbound(OutboundKey{1, 1}) != nil {
				t.Fatal("dead outbound SA still looked up")
			}
			// Until the next Tick the dead inbound SA may still be found,
			// but it refuses packets.
			if s := rx.Inbound(ProtoESP, 0x3000, hostB); s != nil {
				if _, err := s.Open(make([]byte, 100)); !errors.Is(err, ErrExpired) {
					t.Fatalf("Open on dead SA: %v", err)
				}
			}
			tx.Tick(clk.Now())
			rx.Tick(clk.Now())
			if rx.Inbound(ProtoESP, 0x3000, hostB) != nil {
				t.Fatal("dead inbound SA still installed after Tick")
			}
			if st := tx.Stats(); st.Outbound != 0 {
				t.Fatalf("not removed: %+v", st)
			}
			if st := rx.Stats(); st.Inbound != 0 {
				t.Fatalf("not removed: %+v", st)
			}
		})
	}
}

func TestLifetimeValidation(t *testing.T) {
	db := New(Config{})
	_, in := espPair(t, 0x4000)
	for _, l := range []Lifetime{
		{SoftTime: 2 * time.Second, HardTime: time.Second},
		{SoftBytes: 10, HardBytes: 5},
		{SoftPackets: 10, HardPackets: 5},
		{HardTime: -1},
	} {
		if _, err := db.AddInbound(Spec{ESP: in, Lifetime: &l}); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
	if _, err := db.AddInbound(Spec{}); err == nil {
		t.Error("empty spec accepted")
	}
	if DefaultLifetime.HardTime != time.Hour || DefaultLifetime.HardBytes != 100000*1024 {
		t.Error("defaults are not Windows Server 2003's quick-mode defaults")
	}
}

// TestAcquire: lookups have no side effects; Acquire on one outbound key
// produces one acquire event, then at most one per AcquireInterval, and
// none once the SA is installed.
func TestAcquire(t *testing.T) {
	clk := newFakeClock()
	db := New(Config{Clock: clk, AcquireInterval: time.Second})
	k1, k2 := OutboundKey{Rule: 3, Selector: 0}, OutboundKey{Rule: 3, Selector: 1}
	flow := Flow{Src: hostA, Dst: hostB, Protocol: 6, SrcPort: 40000, DstPort: 443}
	for range 100 {
		if db.Outbound(k1) != nil {
			t.Fatal("found an SA in an empty database")
		}
	}
	if ev := drain(db); len(ev) != 0 {
		t.Fatalf("a lookup sent events: %+v", ev)
	}
	sent := 0
	for range 1000 {
		if db.Acquire(k1, flow) {
			sent++
		}
	}
	if !db.Acquire(k2, flow) || sent != 1 {
		t.Fatalf("Acquire reported %d sent for k1", sent)
	}
	ev := drain(db)
	if len(ev) != 2 || ev[0].Kind != EventAcquire || ev[0].Key != k1 || ev[0].Flow != flow || ev[1].Key != k2 {
		t.Fatalf("events %+v", ev)
	}
	clk.Advance(999 * time.Millisecond)
	if db.Acquire(k1, flow) {
		t.Fatal("Acquire inside the interval reported sent")
	}
	if ev := drain(db); len(ev) != 0 {
		t.Fatalf("repeat inside the interval: %+v", ev)
	}
	clk.Advance(time.Millisecond)
	db.Acquire(k1, flow)
	if ev := drain(db); len(ev) != 1 {
		t.Fatalf("repeat after the interval: %+v", ev)
	}
	o, _ := espPair(t, 0x5000)
	sa, err := db.AddOutbound(k1, Spec{ESP: o})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour / 2)
	for range 10 {
		if db.Outbound(k1) != sa || db.Acquire(k1, flow) {
			t.Fatal("installed SA not returned, or acquired again")
		}
	}
	if ev := drain(db); len(ev) != 0 {
		t.Fatalf("acquire with an SA installed: %+v", ev)
	}
	if st := db.Stats(); st.Acquires != 3 || st.AcquiresLimited != 1000 {
		t.Fatalf("stats %+v", st)
	}
}

// TestEventsDoNotBlock: with nobody reading and a tiny queue, events beyond
// its capacity are dropped and counted, and the datapath carries on.
func TestEventsDoNotBlock(t *testing.T) {
	db := New(Config{EventQueue: 4})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			db.Acquire(OutboundKey{Rule: uint32(i)}, Flow{})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire blocked on a full event queue")
	}
	if st := db.Stats(); st.EventsSent != 4 || st.EventsDropped != 96 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBundle runs the Windows "AH+ESP" method: ESP then AH on output, AH
// then ESP on input, looked up by the AH SPI.
func TestBundle(t *testing.T) {
	tx, rx := New(Config{}), New(Config{})
	eo, ei := espPair(t, 0x6001)
	ao, ai := ahPair(t, 0x6002, 0)
	out, err := tx.AddOutbound(OutboundKey{Rule: 1}, Spec{ESP: eo, AH: ao})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rx.AddInbound(Spec{ESP: ei, AH: ai}); err != nil {
		t.Fatal(err)
	}
	for n := range 5 {
		pkt := udpPacket(200, uint64(n))
		s, err := out.Seal(nil, pkt)
		if err != nil {
			t.Fatal(err)
		}
		// IP | AH | ESP: AH's next header is ESP (RFC 4302 2.1).
		if s[9] != 51 || s[20] != 50 {
			t.Fatalf("layout %x", s[:24])
		}
		p, spi := outerSPI(s)
		in := rx.Inbound(p, spi, hostB)
		if in == nil {
			t.Fatal("bundle not found by AH SPI")
		}
		got, err := in.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pkt) {
			t.Fatalf("got %x\nwant %x", got, pkt)
		}
	}
	var b strings.Builder
	if err := rx.WriteDump(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "in  ah  spi=0x00006002 mature transport [ah hmac-sha2-256-128 + esp]") || !strings.Contains(b.String(), "packets=5") {
		t.Fatalf("dump: %s", b.String())
	}
}

// TestDestination: SAs added with a destination (multicast, RFC 4301 4.1)
// are keyed by SPI, protocol and destination; several may share an SPI,
// beside a unicast SA with that SPI, and the lookup prefers the longest
// match.
func TestDestination(t *testing.T) {
	clk := newFakeClock()
	db := New(Config{Clock: clk, Jitter: -1})
	g1, g2 := netip.MustParseAddr("233.252.0.1"), netip.MustParseAddr("233.252.0.2")
	_, i1 := espPair(t, 0x7000)
	_, i2 := espPair(t, 0x7000)
	_, iu := espPair(t, 0x7000)
	m1, err := db.AddInbound(Spec{ESP: i1, Dst: g1, Lifetime: &Lifetime{HardTime: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := db.AddInbound(Spec{ESP: i2, Dst: g2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddInbound(Spec{ESP: i2, Dst: g2}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate SPI and destination: %v", err)
	}
	if db.Inbound(ProtoESP, 0x7000, hostB) != nil {
		t.Fatal("a multicast SA matched another destination")
	}
	u, err := db.AddInbound(Spec{ESP: iu})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dst  netip.Addr
		want *SA
	}{{g1, m1}, {g2, m2}, {hostB, u}} {
		if got := db.Inbound(ProtoESP, 0x7000, tc.dst); got != tc.want {
			t.Fatalf("Inbound(%v) = %v, want %v", tc.dst, got, tc.want)
		}
	}
	if db.Inbound(ProtoAH, 0x7000, g1) != nil {
		t.Fatal("protocol not part of the key")
	}
	if st := db.Stats(); st.Inbound != 3 || len(db.Dump()) != 3 {
		t.Fatalf("stats %+v", st)
	}
	// Lifetimes, Retire and Delete work on multicast SAs too.
	db.Tick(clk.Advance(time.Minute))
	if db.Inbound(ProtoESP, 0x7000, g1) != u {
		t.Fatal("expired multicast SA still found")
	}
	if err := db.Retire(m2, time.Second); err != nil {
		t.Fatal(err)
	}
	db.Tick(clk.Advance(time.Second))
	if db.Inbound(ProtoESP, 0x7000, g2) != u || m2.State() != StateDead {
		t.Fatal("retired multicast SA not removed")
	}
	if err := db.Delete(u); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(u); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if st := db.Stats(); st.Inbound != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDumpAndDelete(t *testing.T) {
	clk := newFakeClock()
	db := New(Config{Clock: clk, Jitter: -1})
	_, in := espPair(t, 0x8000)
	o, _ := ahPair(t, 0x8001, 0)
	if _, err := db.AddInbound(Spec{ESP: in}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddOutbound(OutboundKey{Rule: 2, Selector: 5}, Spec{AH: o}); err != nil {
		t.Fatal(err)
	}
	spi, _ := db.AllocateSPI(ProtoAH)
	clk.Advance(time.Minute)
	d := db.Dump()
	if len(d) != 3 {
		t.Fatalf("dump %+v", d)
	}
	var b strings.Builder
	db.WriteDump(&b)
	for _, want := range []string{
		"in  esp spi=0x00008000 mature transport [esp] age=1m0s bytes=0 packets=0 rekey-in=53m0s expire-in=59m0s bytes-left=102400000",
		"out ah  spi=0x00008001 rule=2 sel=5 mature transport [ah hmac-sha2-256-128]",
		"larval",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("dump lacks %q:\n%s", want, b.String())
		}
	}
	if err := db.DeleteInbound(ProtoESP, 0x8000); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteInbound(ProtoAH, spi); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOutbound(OutboundKey{Rule: 2, Selector: 5}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteOutbound(OutboundKey{Rule: 2, Selector: 5}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Inbound+st.Outbound+st.Larval != 0 || len(db.Dump()) != 0 {
		t.Fatalf("after delete: %+v", st)
	}
}

var _ = ah.ErrReplay
var _ = esp.ErrReplay

// TestTimerCompaction: SAs that are deleted long before their deadlines do
// not keep their timers (and so themselves) alive, and the timers of live
// SAs still fire.
func TestTimerCompaction(t *testing.T) {
	clk := newFakeClock()
	db := New(Config{Clock: clk, Jitter: -1})
	life := &Lifetime{SoftTime: time.Hour, HardTime: 2 * time.Hour}
	_, keep := espPair(t, 0x9000)
	if _, err := db.AddInbound(Spec{ESP: keep, Lifetime: life}); err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		o, _ := ahPair(t, uint32(0xa000+i), ah.ReplayOff)
		k := OutboundKey{Rule: uint32(i % 7)}
		if _, err := db.AddOutbound(k, Spec{AH: o, Lifetime: life}); err != nil { // replaces: retired
			t.Fatal(err)
		}
		if i%3 == 0 {
			db.DeleteOutbound(k) //nolint:errcheck // present
		}
	}
	before := len(db.timers)
	db.Tick(clk.Advance(time.Second))
	if after := len(db.timers); before < 10000 || after > 1024 {
		t.Fatalf("timers before %d, after %d", before, after)
	}
	db.Tick(clk.Advance(time.Hour))
	soft := 0
	for _, e := range drain(db) {
		if e.Kind == EventSoftExpire {
			soft++
		}
	}
	// Every SA still installed (the inbound one and the last outbound SA
	// of each key not deleted) soft-expires; none of the others.
	if want := len(db.Dump()); soft != want || want < 2 {
		t.Fatalf("%d soft expiries, want %d", soft, want)
	}
}

// TestReinstallAfterDatapathExpiry: an SA that hard-expired on the datapath
// does not block a new SA with its SPI before the next Tick, and the Tick
// does not remove the new SA.
func TestReinstallAfterDatapathExpiry(t *testing.T) {
	db := New(Config{Jitter: -1})
	o, i := espPair(t, 0xb000)
	old, err := db.AddInbound(Spec{ESP: i, Lifetime: &Lifetime{HardPackets: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := o.Seal(nil, udpPacket(10, 1))
	if _, err := old.Open(s); err != nil {
		t.Fatal(err)
	}
	if old.State() != StateDead {
		t.Fatalf("state %v", old.State())
	}
	_, i2 := espPair(t, 0xb000)
	sa, err := db.AddInbound(Spec{ESP: i2})
	if err != nil {
		t.Fatal(err)
	}
	db.Tick(time.Now())
	if db.Inbound(ProtoESP, 0xb000, hostB) != sa {
		t.Fatal("the reinstalled SA was removed with the dead one")
	}
}

// TestDatapathNoAllocs: looking up SAs and sealing and opening through them
// (ESP, AH and the AH+ESP bundle) allocates nothing in steady state.
func TestDatapathNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; run without -race")
	}
	for _, kind := range []string{"esp", "ah", "ah+esp"} {
		tx, rx := New(Config{}), New(Config{})
		o, i := pairFor(t, kind, 0xc000)
		unlimited := &Lifetime{}
		o.Lifetime, i.Lifetime = unlimited, unlimited
		if _, err := tx.AddOutbound(OutboundKey{Rule: 1}, o); err != nil {
			t.Fatal(err)
		}
		if _, err := rx.AddInbound(i); err != nil {
			t.Fatal(err)
		}
		pkt := udpPacket(200, 1)
		buf := make([]byte, 0, 512)
		n := testing.AllocsPerRun(200, func() {
			s, err := tx.Outbound(OutboundKey{Rule: 1}).Seal(buf[:0], pkt)
			if err != nil {
				t.Fatal(err)
			}
			p, spi := outerSPI(s)
			if _, err := rx.Inbound(p, spi, hostB).Open(s); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per packet", kind, n)
		}
	}
}
