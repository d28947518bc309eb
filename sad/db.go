package sad

import (
	"container/heap"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

// Clock tells the database the time. Tests use a fake one. Implementations
// must be safe for concurrent use: the datapath and Tick both call Now.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Defaults of Config.
const (
	DefaultJitter          = 0.1
	DefaultLarvalTimeout   = 30 * time.Second
	DefaultAcquireInterval = 5 * time.Second
	DefaultEventQueue      = 1024
	DefaultTickInterval    = time.Second
	DefaultGrace           = 30 * time.Second
)

// Config configures a DB. The zero value gives the defaults. New copies it,
// so it needs no synchronisation.
type Config struct {
	// Clock supplies the time; nil means the system clock.
	Clock Clock
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// Lifetime applies to SAs added without their own; zero means
	// DefaultLifetime. (An SA without any limit is added with
	// Spec.Lifetime pointing to a zero Lifetime.)
	Lifetime Lifetime
	// Jitter is the largest fraction by which a soft limit is moved
	// earlier at random; 0 means DefaultJitter (10%), negative means none.
	Jitter float64
	// LarvalTimeout is how long an SPI reserved by AllocateSPI waits to be
	// installed; 0 means DefaultLarvalTimeout.
	LarvalTimeout time.Duration
	// AcquireInterval is the least time between two acquire events for one
	// outbound key; 0 means DefaultAcquireInterval.
	AcquireInterval time.Duration
	// EventQueue is the capacity of the event channel; events that do not
	// fit are dropped and counted. 0 means DefaultEventQueue.
	EventQueue int
	// TickInterval is how often Run calls Tick; 0 means DefaultTickInterval.
	TickInterval time.Duration
}

// Stats are the database's counters: a snapshot value, safe for concurrent
// use.
type Stats struct {
	Inbound, Outbound, Larval int    // SAs in the tables
	EventsSent, EventsDropped uint64 // events queued, and dropped on a full queue
	Acquires, AcquiresLimited uint64 // acquire events sent, and suppressed by the rate limit
}

// DB is the security association database (RFC 4301 section 4.4.2): inbound
// SAs by SPI and protocol, outbound SAs by policy rule and selector, their
// lifetimes, SPI allocation and rekey overlap. Lookups take no lock; updates
// are serialised among themselves and never block lookups. DB is safe for
// concurrent use.
type DB struct {
	in  atomic.Pointer[table] // inbound SAs by Proto<<32|SPI
	out atomic.Pointer[table] // outbound SAs by OutboundKey

	cfg    Config
	clock  Clock
	log    *slog.Logger
	events chan Event
	bufs   sync.Pool // *[]byte for bundles

	acqMu   sync.RWMutex // guards acquire; held only briefly, on outbound misses
	acquire map[OutboundKey]*acquireState

	mu     sync.Mutex // serialises writers
	rng    *rand.Rand
	timers timerHeap
	gen    uint64
	larval map[uint64]*SA // SPIs reserved by AllocateSPI, by the inbound key
	hasDst atomic.Bool    // multi is not empty
	// multi holds inbound SAs added with a destination (multicast, RFC 4301
	// section 4.1), by protocol, SPI and destination. They are rare, so the
	// map is copied on write and read through the pointer without a lock.
	multi atomic.Pointer[map[multiKey]*SA]

	reapMu sync.Mutex
	reap   []*SA // hard-expired on the datapath, to remove at the next Tick

	eventsSent, eventsDropped atomic.Uint64
	acquires, acquiresLimited atomic.Uint64
}

type multiKey struct {
	k   uint64
	dst netip.Addr
}

type acquireState struct {
	last atomic.Int64 // UnixNano of the last acquire event sent
}

// New returns an empty database.
func New(cfg Config) *DB {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Lifetime == (Lifetime{}) {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = DefaultJitter
	}
	if cfg.LarvalTimeout <= 0 {
		cfg.LarvalTimeout = DefaultLarvalTimeout
	}
	if cfg.AcquireInterval <= 0 {
		cfg.AcquireInterval = DefaultAcquireInterval
	}
	if cfg.EventQueue <= 0 {
		cfg.EventQueue = DefaultEventQueue
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	var seed [32]byte
	crand.Read(seed[:])
	db := &DB{
		cfg:    cfg,
		clock:  cfg.Clock,
		log:    cfg.Logger,
		events: make(chan Event, cfg.EventQueue),
		rng:    rand.New(rand.NewChaCha8(seed)),

		acquire: make(map[OutboundKey]*acquireState),
		larval:  make(map[uint64]*SA),
	}
	db.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	db.in.Store(newTable(0, db.rng.Uint64()))
	db.multi.Store(new(map[multiKey]*SA))
	db.out.Store(newTable(0, db.rng.Uint64()))
	return db
}

func inKey(p Proto, spi uint32) uint64 { return uint64(p)<<32 | uint64(spi) }

// Events returns the channel on which the database reports acquires and
// expiries. Sends never block: when the channel is full the event is
// dropped and counted in Stats.EventsDropped.
func (db *DB) Events() <-chan Event { return db.events }

func (db *DB) emit(e Event) {
	select {
	case db.events <- e:
		db.eventsSent.Add(1)
	default:
		db.eventsDropped.Add(1)
	}
}

// Stats returns the database's counters.
func (db *DB) Stats() Stats {
	db.mu.Lock()
	st := Stats{Inbound: db.in.Load().live + len(*db.multi.Load()), Outbound: db.out.Load().live, Larval: len(db.larval)}
	db.mu.Unlock()
	st.EventsSent, st.EventsDropped = db.eventsSent.Load(), db.eventsDropped.Load()
	st.Acquires, st.AcquiresLimited = db.acquires.Load(), db.acquiresLimited.Load()
	return st
}

// Inbound returns the SA for an inbound packet's SPI and protocol (for a
// bundle, the AH SPI), or nil. dst is the packet's destination: following
// RFC 4301 section 4.1, an SA added with this destination (a multicast SA)
// is preferred, the longest match; otherwise the SA for the SPI and
// protocol alone is returned. Larval SPIs are not returned. An SA that
// hard-expired on the datapath may be returned until the next Tick removes
// it; its Open fails with ErrExpired. Inbound takes no lock, does not
// allocate, and does not touch the SA it returns, leaving that cache miss to
// Open, which needs the SA anyway.
func (db *DB) Inbound(p Proto, spi uint32, dst netip.Addr) *SA {
	k := inKey(p, spi)
	if db.hasDst.Load() {
		if s := (*db.multi.Load())[multiKey{k, dst.Unmap()}]; s != nil {
			return s
		}
	}
	return db.in.Load().get(k)
}

// Outbound returns the SA that protects traffic of a PROTECT rule's
// selector, or nil. It has no side effects: on a miss the caller asks for
// an SA with Acquire. Outbound takes no lock and does not allocate.
func (db *DB) Outbound(key OutboundKey) *SA {
	s := db.out.Load().get(key.u64())
	if s != nil && State(s.state.Load()) != StateDead {
		return s
	}
	return nil
}

// Acquire asks IKE for an outbound SA for key (RFC 4301 section 5.1, the
// PF_KEY ACQUIRE of RFC 2367): it sends an EventAcquire carrying flow, the
// packet that found no SA (RFC 7296 section 2.9: the first traffic
// selector is the packet's), unless one was sent for key less than
// Config.AcquireInterval ago, or an SA for key is installed. It reports
// whether it sent the event; suppressed requests are counted in
// Stats.AcquiresLimited. It takes no lock and allocates only on the first
// request for a key.
func (db *DB) Acquire(key OutboundKey, flow Flow) bool {
	if db.Outbound(key) != nil {
		return false
	}
	return db.acquireFor(key, flow)
}

func (db *DB) acquireFor(key OutboundKey, flow Flow) bool {
	now := db.clock.Now()
	db.acqMu.RLock()
	st := db.acquire[key]
	db.acqMu.RUnlock()
	if st == nil {
		db.acqMu.Lock()
		if st = db.acquire[key]; st == nil {
			st = new(acquireState)
			db.acquire[key] = st
		}
		db.acqMu.Unlock()
	}
	last := st.last.Load()
	if last != 0 && now.UnixNano()-last < int64(db.cfg.AcquireInterval) {
		db.acquiresLimited.Add(1)
		return false
	}
	if !st.last.CompareAndSwap(last, now.UnixNano()) {
		db.acquiresLimited.Add(1) // another packet won the race
		return false
	}
	db.acquires.Add(1)
	db.emit(Event{Kind: EventAcquire, Dir: Outbound, Key: key, Flow: flow, Time: now})
	return true
}

// AllocateSPI reserves a random SPI for an inbound SA of protocol p that IKE
// is negotiating: never 0 to 255 (RFC 4303 section 2.1, RFC 4302 section
// 2.4), unique among the database's inbound and larval SAs. The
// reservation (a larval SA) ends when AddInbound installs an SA with that
// SPI, or after Config.LarvalTimeout with an EventLarvalExpire.
func (db *DB) AllocateSPI(p Proto) (uint32, error) {
	if p != ProtoESP && p != ProtoAH {
		return 0, fmt.Errorf("sad: unknown protocol %v", p)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.in.Load()
	for range 64 {
		var b [4]byte
		crand.Read(b[:])
		spi := binary.BigEndian.Uint32(b[:])
		k := inKey(p, spi)
		if spi < 256 || t.get(k) != nil || db.larval[k] != nil {
			continue
		}
		now := db.clock.Now()
		s := &SA{tkey: k, db: db, dir: Inbound, proto: p, spi: spi, added: now}
		s.state.Store(uint32(StateLarval))
		db.gen++
		s.gen = db.gen
		db.larval[k] = s
		db.schedule(now.Add(db.cfg.LarvalTimeout), s, timerLarval)
		return spi, nil
	}
	return 0, errors.New("sad: no free SPI found") // 64 collisions: the table would be astronomically full
}

// Spec describes an SA to add: ESP, AH or both (a bundle: ESP inside, AH
// outside). The database reads it only during the call that takes it.
type Spec struct {
	ESP *esp.SA
	AH  *ah.SA
	// Lifetime, if not nil, overrides the database's default.
	Lifetime *Lifetime
	// Dst, for an inbound SA, restricts it to packets sent to this address
	// (RFC 4301 section 4.1: multicast SAs are identified by SPI and
	// destination). Leave it zero for unicast.
	Dst netip.Addr
	// Rule is the identity of the policy rule the SA serves (spd's
	// Rule.ID), so that a caller goes from an SA to its rule, and from a
	// rule to its SAs (DB.ByRule), without a table of its own.
	Rule string
	// LocalTS and RemoteTS are the SA's traffic selectors (RFC 7296
	// section 2.9; RFC 4301 section 4.4.2.1): what it may carry, this
	// side's and the peer's. Empty lists restrict nothing. SA.Allows
	// checks a packet against them.
	LocalTS, RemoteTS []TrafficSelector
}

func (db *DB) newSA(spec Spec, dir Direction) (*SA, error) {
	if spec.ESP == nil && spec.AH == nil {
		return nil, errors.New("sad: spec has neither an ESP nor an AH SA")
	}
	life := db.cfg.Lifetime
	if spec.Lifetime != nil {
		life = *spec.Lifetime
	}
	if err := life.validate(); err != nil {
		return nil, err
	}
	for _, ts := range append(slices.Clip(spec.LocalTS), spec.RemoteTS...) {
		if err := ts.check(); err != nil {
			return nil, err
		}
	}
	s := &SA{esp: spec.ESP, ah: spec.AH, dst: spec.Dst.Unmap(), db: db, dir: dir, added: db.clock.Now(),
		rule: spec.Rule, localTS: slices.Clone(spec.LocalTS), remoteTS: slices.Clone(spec.RemoteTS)}
	if spec.AH != nil {
		s.proto, s.spi = ProtoAH, spec.AH.SPI()
	} else {
		s.proto, s.spi = ProtoESP, spec.ESP.SPI()
	}
	s.life = life.jittered(db.cfg.Jitter, db.rng.Float64)
	s.state.Store(uint32(StateMature))
	return s, nil
}

// insert puts s in the table tp points to, growing it first if needed.
// The caller holds db.mu.
func (db *DB) insert(tp *atomic.Pointer[table], s *SA) *SA {
	t := tp.Load()
	if t.full() {
		t = t.rebuilt()
		tp.Store(t)
	}
	db.gen++
	s.gen = db.gen
	return t.put(s.tkey, s)
}

// AddInbound installs an inbound SA. Its SPI must be free or reserved by
// AllocateSPI. During a rekey the new inbound SA is added while the old one
// is still installed, so both keys are accepted (make before break).
func (db *DB) AddInbound(spec Spec) (*SA, error) {
	s, err := db.newSA(spec, Inbound)
	if err != nil {
		return nil, err
	}
	s.tkey = inKey(s.proto, s.spi)
	db.mu.Lock()
	defer db.mu.Unlock()
	if s.dst.IsValid() {
		mk := multiKey{s.tkey, s.dst}
		if old := (*db.multi.Load())[mk]; old != nil && old.State() != StateDead {
			return nil, fmt.Errorf("%w: inbound %v SPI 0x%08x to %v", ErrExists, s.proto, s.spi, s.dst)
		}
		db.gen++
		s.gen = db.gen
		db.setMulti(mk, s)
		db.scheduleLifetime(s)
		return s, nil
	}
	// An SA that hard-expired on the datapath and awaits removal at the
	// next Tick does not hold its SPI: the new SA replaces it.
	if old := db.in.Load().get(s.tkey); old != nil && old.State() != StateDead {
		return nil, fmt.Errorf("%w: inbound %v SPI 0x%08x", ErrExists, s.proto, s.spi)
	}
	if l := db.larval[s.tkey]; l != nil {
		l.state.Store(uint32(StateDead))
		delete(db.larval, s.tkey)
	}
	db.insert(&db.in, s)
	db.scheduleLifetime(s)
	db.log.Debug("sad: added", "sa", s.String())
	return s, nil
}

// AddOutbound installs the outbound SA for key. If one is installed already
// (a rekey), the new SA replaces it atomically: every lookup from then on
// returns the new SA, and packets already handed to the old one are still
// sealed by it (it moves to StateRetired, not StateDead). The peer's old
// inbound SA stays valid until it is retired, so nothing in flight is lost.
func (db *DB) AddOutbound(key OutboundKey, spec Spec) (*SA, error) {
	s, err := db.newSA(spec, Outbound)
	if err != nil {
		return nil, err
	}
	s.key, s.tkey = key, key.u64()
	db.mu.Lock()
	if old := db.insert(&db.out, s); old != nil {
		old.advance(StateRetired, StateMature, StateRekeying)
	}
	db.scheduleLifetime(s)
	db.mu.Unlock()
	db.acqMu.Lock()
	delete(db.acquire, key)
	db.acqMu.Unlock()
	db.log.Debug("sad: added", "sa", s.String())
	return s, nil
}

// RetireInbound starts the grace period of an inbound SA that a rekey has
// replaced: it keeps accepting packets (those the peer sealed before it
// switched) for grace (DefaultGrace if 0), then it is removed with an
// EventRemoved.
func (db *DB) RetireInbound(p Proto, spi uint32, grace time.Duration) error {
	if grace <= 0 {
		grace = DefaultGrace
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.in.Load().get(inKey(p, spi))
	if s == nil || !db.retire(s, grace) {
		return fmt.Errorf("%w: inbound %v SPI 0x%08x", ErrNotFound, p, spi)
	}
	return nil
}

// Retire is RetireInbound for a given inbound SA, such as one added with a
// destination.
func (db *DB) Retire(s *SA, grace time.Duration) error {
	if grace <= 0 {
		grace = DefaultGrace
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if s.dir != Inbound || !db.installed(s) || !db.retire(s, grace) {
		return fmt.Errorf("%w: %v is not an installed inbound SA", ErrNotFound, s)
	}
	return nil
}

func (db *DB) retire(s *SA, grace time.Duration) bool {
	if !s.advance(StateRetired, StateMature, StateRekeying) {
		return false
	}
	db.schedule(db.clock.Now().Add(grace), s, timerGrace)
	return true
}

// Delete removes an SA at once, whichever kind it is. No event is sent.
func (db *DB) Delete(s *SA) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if !db.installed(s) {
		return fmt.Errorf("%w: %v is not installed", ErrNotFound, s)
	}
	if s.State() == StateLarval {
		delete(db.larval, s.tkey)
	} else {
		db.remove(s)
	}
	s.state.Store(uint32(StateDead))
	return nil
}

// installed reports whether s is the SA the database holds under its key.
// The caller holds db.mu.
func (db *DB) installed(s *SA) bool {
	switch {
	case s.dir == Outbound:
		return db.out.Load().get(s.tkey) == s
	case s.State() == StateLarval:
		return db.larval[s.tkey] == s
	case s.dst.IsValid():
		return (*db.multi.Load())[multiKey{s.tkey, s.dst}] == s
	}
	return db.in.Load().get(s.tkey) == s
}

// DeleteInbound removes an inbound SA (or larval SPI) at once, for example
// when the peer sends an IKE Delete. No event is sent: the caller asked for
// it. SAs added with a destination are removed with Delete.
func (db *DB) DeleteInbound(p Proto, spi uint32) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	k := inKey(p, spi)
	s := db.in.Load().del(k)
	if s == nil {
		if s = db.larval[k]; s == nil {
			return fmt.Errorf("%w: inbound %v SPI 0x%08x", ErrNotFound, p, spi)
		}
		delete(db.larval, k)
	}
	s.state.Store(uint32(StateDead))
	return nil
}

// ByRule returns the installed SAs (inbound and outbound, not larval or
// dead) added with Spec.Rule equal to rule, for example to delete the SAs
// of a rule a new policy removed. It scans the tables: it is for policy
// changes, not for the datapath.
func (db *DB) ByRule(rule string) []*SA {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []*SA
	add := func(s *SA) {
		if s != nil && s.rule == rule && s.State() != StateDead {
			out = append(out, s)
		}
	}
	for _, t := range []*table{db.in.Load(), db.out.Load()} {
		t.each(add)
	}
	for _, s := range *db.multi.Load() {
		add(s)
	}
	return out
}

// DeleteOutbound removes the outbound SA for key at once. Packets already
// handed to it fail with ErrExpired.
func (db *DB) DeleteOutbound(key OutboundKey) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.out.Load().del(key.u64())
	if s == nil {
		return fmt.Errorf("%w: outbound rule %d selector %d", ErrNotFound, key.Rule, key.Selector)
	}
	s.state.Store(uint32(StateDead))
	return nil
}

// softExpire moves s to rekeying and reports it, once.
func (db *DB) softExpire(s *SA, r Reason) {
	if s.advance(StateRekeying, StateMature) {
		db.emit(s.event(EventSoftExpire, r, db.clock.Now()))
	}
}

// hardExpire kills s, reports it once, and queues its removal for the next
// Tick, so that the datapath never waits for the writer lock.
func (db *DB) hardExpire(s *SA, r Reason) {
	if !s.advance(StateDead, StateMature, StateRekeying, StateRetired) {
		return
	}
	db.emit(s.event(EventHardExpire, r, db.clock.Now()))
	db.reapMu.Lock()
	db.reap = append(db.reap, s)
	db.reapMu.Unlock()
}

func (s *SA) event(k EventKind, r Reason, now time.Time) Event {
	return Event{Kind: k, Reason: r, Dir: s.dir, Proto: s.proto, SPI: s.spi, Key: s.key, Time: now}
}

// remove takes s out of its table if it is still the SA stored there. The
// caller holds db.mu.
func (db *DB) remove(s *SA) {
	if s.dir == Inbound && s.dst.IsValid() {
		mk := multiKey{s.tkey, s.dst}
		if (*db.multi.Load())[mk] == s {
			db.setMulti(mk, nil)
		}
		return
	}
	tp := &db.in
	if s.dir == Outbound {
		tp = &db.out
	}
	t := tp.Load()
	if t.get(s.tkey) == s {
		t.del(s.tkey)
	}
}

// setMulti stores (or, for nil, deletes) a multicast SA in a copy of the
// map and publishes the copy. The caller holds db.mu.
func (db *DB) setMulti(k multiKey, s *SA) {
	old := *db.multi.Load()
	m := make(map[multiKey]*SA, len(old)+1)
	for mk, v := range old {
		m[mk] = v
	}
	if s != nil {
		m[k] = s
	} else {
		delete(m, k)
	}
	db.multi.Store(&m)
	db.hasDst.Store(len(m) > 0)
}

// Tick applies time-based lifetimes, larval timeouts and grace periods that
// are due at now, and removes SAs that expired on the datapath. Run calls
// it periodically; callers driving their own clock call it directly.
func (db *DB) Tick(now time.Time) {
	db.reapMu.Lock()
	reap := db.reap
	db.reap = nil
	db.reapMu.Unlock()

	db.mu.Lock()
	defer db.mu.Unlock()
	for _, s := range reap {
		db.remove(s)
	}
	for len(db.timers) > 0 && !db.timers[0].at.After(now) {
		tm := heap.Pop(&db.timers).(timer)
		s := tm.sa
		if s.gen != tm.gen {
			continue
		}
		switch tm.kind {
		case timerSoft:
			if s.advance(StateRekeying, StateMature) {
				db.emit(s.event(EventSoftExpire, ReasonTime, now))
			}
		case timerHard:
			if s.dir == Outbound && s.State() == StateRetired {
				// Replaced by a rekey: nobody looks it up any more.
				s.advance(StateDead, StateRetired)
				continue
			}
			if s.advance(StateDead, StateMature, StateRekeying, StateRetired) {
				db.emit(s.event(EventHardExpire, ReasonTime, now))
			}
			db.remove(s)
		case timerLarval:
			if s.advance(StateDead, StateLarval) {
				delete(db.larval, s.tkey)
				db.emit(s.event(EventLarvalExpire, ReasonTime, now))
			}
		case timerGrace:
			if s.advance(StateDead, StateRetired) {
				db.remove(s)
				db.emit(s.event(EventRemoved, ReasonNone, now))
			}
		}
	}
	db.compactTimers()
	// Forget acquire state that has been quiet for a long time, so that
	// keys that never got an SA do not accumulate.
	limit := now.Add(-16 * db.cfg.AcquireInterval).UnixNano()
	db.acqMu.Lock()
	for k, st := range db.acquire {
		if st.last.Load() < limit {
			delete(db.acquire, k)
		}
	}
	db.acqMu.Unlock()
}

// compactTimers drops the timers of SAs that are gone (deleted, replaced
// or expired) once they outnumber the live ones, so that churn does not keep
// dead SAs in memory until their deadlines. The caller holds db.mu.
func (db *DB) compactTimers() {
	live := db.in.Load().live + db.out.Load().live + len(db.larval) + len(*db.multi.Load())
	if len(db.timers) < 1024 || len(db.timers) < 4*live {
		return
	}
	kept := db.timers[:0]
	for _, tm := range db.timers {
		st := tm.sa.State()
		if st == StateDead || (tm.sa.dir == Outbound && st == StateRetired && tm.kind != timerGrace) {
			continue
		}
		kept = append(kept, tm)
	}
	clear(db.timers[len(kept):])
	db.timers = kept
	heap.Init(&db.timers)
}

// Run calls Tick every Config.TickInterval until ctx is done.
func (db *DB) Run(ctx context.Context) error {
	t := time.NewTicker(db.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			db.Tick(db.clock.Now())
		}
	}
}

// scheduleLifetime arms the time-based soft and hard lifetimes of s. The
// caller holds db.mu.
func (db *DB) scheduleLifetime(s *SA) {
	if s.life.SoftTime > 0 {
		db.schedule(s.added.Add(s.life.SoftTime), s, timerSoft)
	}
	if s.life.HardTime > 0 {
		db.schedule(s.added.Add(s.life.HardTime), s, timerHard)
	}
}

func (db *DB) schedule(at time.Time, s *SA, kind timerKind) {
	heap.Push(&db.timers, timer{at: at, sa: s, gen: s.gen, kind: kind})
}
