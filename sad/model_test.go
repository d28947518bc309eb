package sad

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ah"
)

// The reference model: plain maps, and per SA a list of deadlines processed
// in time order. It knows nothing of tables, atomics or heaps.
type mState int

const (
	mLarval mState = iota
	mLive
	mRekeying
	mRetired
)

type mDeadline struct {
	at   time.Time
	kind timerKind
}

type mEntry struct {
	sa    *SA // nil for larval entries
	proto Proto
	spi   uint32
	state mState
	dl    []mDeadline
	rule  string
}

type model struct {
	in  map[multiKey]*mEntry // unicast SAs and larval SPIs have no dst
	out map[OutboundKey]*mEntry
}

// tick applies the deadlines due at now and returns the events expected, as
// "kind spi" strings.
func (m *model) tick(now time.Time) []string {
	var ev []string
	run := func(e *mEntry, remove func()) {
		slices.SortStableFunc(e.dl, func(a, b mDeadline) int { return a.at.Compare(b.at) })
		for len(e.dl) > 0 && !e.dl[0].at.After(now) {
			d := e.dl[0]
			e.dl = e.dl[1:]
			switch {
			case d.kind == timerSoft && e.state == mLive:
				e.state = mRekeying
				ev = append(ev, fmt.Sprint(EventSoftExpire, " ", e.spi))
			case d.kind == timerHard && e.state != mLarval:
				ev = append(ev, fmt.Sprint(EventHardExpire, " ", e.spi))
				remove()
				return
			case d.kind == timerLarval && e.state == mLarval:
				ev = append(ev, fmt.Sprint(EventLarvalExpire, " ", e.spi))
				remove()
				return
			case d.kind == timerGrace && e.state == mRetired:
				ev = append(ev, fmt.Sprint(EventRemoved, " ", e.spi))
				remove()
				return
			}
		}
	}
	for k, e := range m.in {
		run(e, func() { delete(m.in, k) })
	}
	for k, e := range m.out {
		run(e, func() { delete(m.out, k) })
	}
	slices.Sort(ev)
	return ev
}

// TestDifferential drives the database and the model with the same random
// sequence of SPI allocations, adds, replacements, deletes, retirements,
// clock advances (expiring lifetimes, larval reservations and grace
// periods) and lookups, and requires the same lookups, errors and events.
func TestDifferential(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { differential(t, seed) })
	}
}

func differential(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	clk := newFakeClock()
	db := New(Config{Clock: clk, Jitter: -1, EventQueue: 1 << 16, LarvalTimeout: 7 * time.Second})
	m := &model{in: map[multiKey]*mEntry{}, out: map[OutboundKey]*mEntry{}}
	groups := []netip.Addr{{}, netip.MustParseAddr("233.252.0.1"), netip.MustParseAddr("ff0e::1")}
	uni := func(k uint64) multiKey { return multiKey{k: k} }
	protos := []Proto{ProtoESP, ProtoAH}
	rules := []string{"", "web", "branch", "sha256:00112233"}
	evCount := map[string]int{}
	randSPI := func() uint32 { return 256 + uint32(r.IntN(300)) }
	randKey := func() OutboundKey { return OutboundKey{Rule: uint32(r.IntN(4)), Selector: uint32(r.IntN(4))} }
	newAH := func(spi uint32) *ah.SA {
		s, err := ah.NewSA(ah.Config{Mode: ah.Transport, SPI: spi, Integrity: ah.IntegHMACSHA196, IntegrityKey: key(20, 1), ReplayWindow: ah.ReplayOff})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	randLife := func() (*Lifetime, []mDeadline) {
		now := clk.Now()
		if r.IntN(4) == 0 {
			return &Lifetime{}, nil // no limits
		}
		hard := time.Duration(1+r.IntN(40)) * time.Second
		soft := hard / 2
		return &Lifetime{SoftTime: soft, HardTime: hard}, []mDeadline{{now.Add(soft), timerSoft}, {now.Add(hard), timerHard}}
	}
	// Only ESP outer-protocol keys are used for ESP specs and AH for AH; the
	// database keys AH specs by AH, so an AH SA is always used here, with
	// the key's protocol decided by the spec kind below.
	checkLookups := func(step int) {
		for _, p := range protos {
			for spi := uint32(256); spi < 556; spi++ {
				for _, dst := range append(groups[1:], hostB) {
					// RFC 4301 4.1 longest match: SPI, protocol and
					// destination first, then SPI and protocol.
					e := m.in[multiKey{inKey(p, spi), dst}]
					if e == nil {
						e = m.in[uni(inKey(p, spi))]
					}
					var want *SA
					if e != nil && e.state != mLarval {
						want = e.sa
					}
					if got := db.Inbound(p, spi, dst); got != want {
						t.Fatalf("step %d: Inbound(%v, %d, %v) = %v, model %v", step, p, spi, dst, got, want)
					}
				}
			}
		}
		for rule := range uint32(4) {
			for sel := range uint32(4) {
				k := OutboundKey{rule, sel}
				var want *SA
				if e := m.out[k]; e != nil {
					want = e.sa
				}
				if got := db.Outbound(k); got != want {
					t.Fatalf("step %d: Outbound(%v) = %v, model %v", step, k, got, want)
				}
			}
		}
		// SAs by rule identity (Spec.Rule, DB.ByRule).
		for _, rule := range rules {
			var want []*SA
			for _, tab := range []map[multiKey]*mEntry{m.in} {
				for _, e := range tab {
					if e.sa != nil && e.rule == rule {
						want = append(want, e.sa)
					}
				}
			}
			for _, e := range m.out {
				if e.rule == rule {
					want = append(want, e.sa)
				}
			}
			got := db.ByRule(rule)
			for _, sa := range got {
				if sa.Rule() != rule {
					t.Fatalf("step %d: ByRule(%q) returned an SA of rule %q", step, rule, sa.Rule())
				}
			}
			byPtr := func(a, b *SA) int { return cmpPtr(a, b) }
			slices.SortFunc(got, byPtr)
			slices.SortFunc(want, byPtr)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: ByRule(%q) = %v, model %v", step, rule, got, want)
			}
		}
		st := db.Stats()
		larval := 0
		for _, e := range m.in {
			if e.state == mLarval {
				larval++
			}
		}
		if st.Inbound != len(m.in)-larval || st.Larval != larval || st.Outbound != len(m.out) {
			t.Fatalf("step %d: stats %+v, model in %d larval %d out %d", step, st, len(m.in)-larval, larval, len(m.out))
		}
	}
	for step := range 3000 {
		switch op := r.IntN(100); {
		case op < 12: // allocate an SPI
			p := protos[r.IntN(2)]
			spi, err := db.AllocateSPI(p)
			if err != nil {
				t.Fatal(err)
			}
			if m.in[uni(inKey(p, spi))] != nil {
				t.Fatalf("step %d: allocated SPI %d is in use", step, spi)
			}
			m.in[uni(inKey(p, spi))] = &mEntry{proto: p, spi: spi, state: mLarval,
				dl: []mDeadline{{clk.Now().Add(7 * time.Second), timerLarval}}}
		case op < 35: // add inbound: a larval SPI or a random one
			p := ProtoAH
			spi := randSPI()
			dst := groups[r.IntN(len(groups))] // mostly unicast
			for k, e := range m.in {
				if e.state == mLarval && r.IntN(2) == 0 {
					p, spi, dst = Proto(k.k>>32), e.spi, netip.Addr{}
					break
				}
			}
			if p != ProtoAH { // ESP larval: install an ESP SA
				continue
			}
			life, dl := randLife()
			rule := rules[r.IntN(len(rules))]
			sa, err := db.AddInbound(Spec{AH: newAH(spi), Lifetime: life, Dst: dst, Rule: rule})
			mk := multiKey{inKey(p, spi), dst}
			e := m.in[mk]
			if e != nil && e.state != mLarval {
				if !errors.Is(err, ErrExists) {
					t.Fatalf("step %d: duplicate add: %v", step, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			m.in[mk] = &mEntry{sa: sa, proto: p, spi: spi, state: mLive, dl: dl, rule: rule}
		case op < 50: // add or replace outbound
			k := randKey()
			life, dl := randLife()
			rule := rules[r.IntN(len(rules))]
			sa, err := db.AddOutbound(k, Spec{AH: newAH(randSPI()), Lifetime: life, Rule: rule})
			if err != nil {
				t.Fatal(err)
			}
			if old := m.out[k]; old != nil && old.sa.State() != StateRetired {
				t.Fatalf("step %d: replaced outbound SA is %v", step, old.sa.State())
			}
			m.out[k] = &mEntry{sa: sa, spi: sa.SPI(), state: mLive, dl: dl, rule: rule}
		case op < 58: // delete inbound, by SPI (unicast) or by SA (multicast)
			p, spi := protos[r.IntN(2)], randSPI()
			if dst := groups[r.IntN(len(groups))]; dst.IsValid() {
				mk := multiKey{inKey(p, spi), dst}
				if e := m.in[mk]; e != nil {
					if err := db.Delete(e.sa); err != nil {
						t.Fatalf("step %d: delete: %v", step, err)
					}
					if err := db.Delete(e.sa); !errors.Is(err, ErrNotFound) {
						t.Fatalf("step %d: second delete: %v", step, err)
					}
					delete(m.in, mk)
				}
				break
			}
			err := db.DeleteInbound(p, spi)
			if (m.in[uni(inKey(p, spi))] != nil) != (err == nil) {
				t.Fatalf("step %d: delete: %v", step, err)
			}
			delete(m.in, uni(inKey(p, spi)))
		case op < 63: // delete outbound
			k := randKey()
			err := db.DeleteOutbound(k)
			if (m.out[k] != nil) != (err == nil) {
				t.Fatalf("step %d: delete outbound: %v", step, err)
			}
			delete(m.out, k)
		case op < 73: // retire inbound
			spi := randSPI()
			grace := time.Duration(1+r.IntN(20)) * time.Second
			dst := groups[r.IntN(len(groups))]
			e := m.in[multiKey{inKey(ProtoAH, spi), dst}]
			var err error
			switch {
			case !dst.IsValid():
				err = db.RetireInbound(ProtoAH, spi, grace)
			case e != nil:
				err = db.Retire(e.sa, grace)
			default:
				continue
			}
			ok := e != nil && (e.state == mLive || e.state == mRekeying)
			if ok != (err == nil) {
				t.Fatalf("step %d: retire: %v (model %v)", step, err, e)
			}
			if ok {
				e.state = mRetired
				e.dl = append(e.dl, mDeadline{clk.Now().Add(grace), timerGrace})
			}
		case op < 88: // time passes
			now := clk.Advance(time.Duration(r.IntN(5000)) * time.Millisecond)
			db.Tick(now)
			want := m.tick(now)
			var got []string
			for _, e := range drain(db) {
				if e.Kind != EventAcquire {
					got = append(got, fmt.Sprint(e.Kind, " ", e.SPI))
				}
			}
			slices.Sort(got)
			for _, g := range got {
				evCount[g[:4]]++
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: events %v, model %v", step, got, want)
			}
		default:
			checkLookups(step)
		}
		for _, e := range m.in {
			if e.sa != nil {
				want := map[mState]State{mLive: StateMature, mRekeying: StateRekeying, mRetired: StateRetired}[e.state]
				if e.sa.State() != want {
					t.Fatalf("step %d: SA %d state %v, model %v", step, e.spi, e.sa.State(), want)
				}
			}
		}
	}
	checkLookups(-1)
	t.Logf("events checked by kind prefix: %v", evCount)
	if len(evCount) < 4 {
		t.Fatalf("the random sequence did not produce every kind of event: %v", evCount)
	}
}

// cmpPtr orders SAs by their SPI, direction, table key and destination,
// for comparing sets.
func cmpPtr(a, b *SA) int {
	switch {
	case a.spi != b.spi:
		return int(int64(a.spi) - int64(b.spi))
	case a.dir != b.dir:
		return int(a.dir) - int(b.dir)
	case a.tkey != b.tkey:
		if a.tkey < b.tkey {
			return -1
		}
		return 1
	}
	return a.dst.Compare(b.dst)
}
