package ipsec

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

// Defaults of InstallerConfig.
const (
	DefaultSettle         = time.Second
	DefaultInitiatorDelay = 20 * time.Millisecond
	pollInterval          = 5 * time.Millisecond
)

// InstallerConfig configures an Installer. It is a plain value; the
// Installer copies it.
type InstallerConfig struct {
	// Grace is how long an inbound SA keeps accepting packets after its
	// CHILD SA was deleted or replaced; zero means sad.DefaultGrace.
	Grace time.Duration
	// Settle is how long, at most, outbound traffic stays on a deleted
	// SA whose successor has not yet received a packet from the peer;
	// zero means DefaultSettle. It is cut to half of Grace if longer.
	Settle time.Duration
	// InitiatorDelay is how long the side that sent the IKEv2 request
	// that made a new SA keeps sending on the old one, unless a packet
	// arrives on the new SA first. Its peer installed the SA before it
	// answered (RFC 7296 section 2.8), so this only covers a peer whose
	// event handling lags its messages a little. Zero means
	// DefaultInitiatorDelay; negative, none. It is cut to Settle if
	// longer.
	InitiatorDelay time.Duration
}

// Installer keeps a sad.DB in step with the CHILD SAs that IKE negotiates:
// it installs them when they come up, moves outbound traffic to their
// successors when they are rekeyed, and retires them when they are
// deleted, without losing packets in flight (make before break). It is
// safe for concurrent use.
//
// The order of a rekey, for one outbound key:
//
//  1. EventChildRekeyed (or EventChildUp for a second SA of the same key):
//     the new inbound SA is installed at once, beside the old one, so that
//     both keys are accepted. Its outbound SA is built but held back; the
//     old SA, still valid, carries the traffic.
//  2. EventChildDeleted for the old SA retires its inbound SA: it keeps
//     accepting, for the grace period, packets the peer sealed before it
//     switched, then the database removes it.
//     When this side sent the IKEv2 request that made the new SA, its
//     outbound SA takes over InitiatorDelay after it was installed (or
//     on the first packet through it, if sooner): the peer installed it
//     before it answered (RFC 7296 section 2.8). So the side that rekeys
//     moves first and its peer follows on the first packet (step 3);
//     otherwise each side would wait for the other's first packet until
//     Settle, and at a high rate the old SA can reach its byte limit
//     first. IKEv1's Quick Mode responder installs only after the third
//     message, so there both sides wait as below.
//  3. The held outbound SA replaces the old one (sad.DB.AddOutbound, atomic
//     for the datapath) as soon as its inbound half has opened a packet:
//     the peer sends on the new SA, so it has installed it (RFC 7296
//     section 2.8, the first condition for the responder of a rekey). If
//     no packet comes, it takes over at the latest Settle after the
//     Delete.
//
// RFC 7296 section 2.8 also lets the responder of a rekey switch as soon as
// it receives the request to delete the old SA. The Installer waits for a
// packet or the settle time instead, on both sides (its events do not say
// which side started the rekey): a peer whose event handling lags its
// messages (one that queues events to another goroutine, or another
// implementation) may send the Delete before it has installed the new SA.
// ike.Endpoint itself reports a step's events before it sends the step's
// messages. Settle must be longer than such a lag and shorter than the
// peer's grace period. While the Installer waits, it
// polls the new SA's counter every few milliseconds from a timer.
//
// A deleted SA with no successor takes its outbound SA with it. Keeping the
// inbound SA for a grace period after its Delete departs from RFC 7296
// section 1.4.1's immediate close only for packets already on the wire.
type Installer struct {
	db        *sad.DB
	grace     time.Duration
	settle    time.Duration
	initDelay time.Duration

	mu    sync.Mutex
	byIn  map[childID]*installed
	byKey map[sad.OutboundKey]*route
	timer *time.Timer // polls routes that wait to switch; nil when none do
	// now and manual let tests drive time and polling.
	now    func() time.Time
	manual bool
	// lifetime, if set, gives the SAD lifetime of a CHILD SA's SAs (the
	// driver adds its rule's byte limits); nil uses ChildSpecs' time
	// limits.
	lifetime func(*ike.ChildSA) sad.Lifetime
}

// childID names a CHILD SA by its protocol and this side's inbound SPI.
type childID struct {
	proto sad.Proto
	spi   uint32
}

// installed is a CHILD SA whose inbound SA is in the database.
type installed struct {
	id    childID
	key   sad.OutboundKey
	inSA  *sad.SA
	out   sad.Spec // the outbound SA, installed when it carries traffic
	outSA *sad.SA  // out once installed
	// readyAt, for an SA this side made in its own IKEv2 rekey of
	// replaces, is when it takes over from it without waiting for a
	// packet (InitiatorDelay).
	readyAt  time.Time
	replaces *installed
}

// opened reports whether e's inbound SA has opened a packet.
func (e *installed) opened() bool {
	if s := e.inSA.ESP(); s != nil {
		return s.Stats().Packets > 0
	}
	if s := e.inSA.AH(); s != nil {
		return s.Stats().Packets > 0
	}
	return false
}

// route is the traffic of one outbound key: the CHILD SA whose outbound SA
// carries it, and the newer ones waiting to take over.
type route struct {
	current *installed
	pending []*installed // oldest first
	// carrier is the outbound SA in the database for the key: current's,
	// or, after current was deleted while successors waited (orphaned is
	// then when), the deleted SA's until one takes over.
	carrier  *sad.SA
	orphaned time.Time
}

// NewInstaller returns an Installer for db.
func NewInstaller(db *sad.DB, cfg InstallerConfig) *Installer {
	if cfg.Grace <= 0 {
		cfg.Grace = sad.DefaultGrace
	}
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	cfg.Settle = min(cfg.Settle, cfg.Grace/2)
	switch {
	case cfg.InitiatorDelay == 0:
		cfg.InitiatorDelay = DefaultInitiatorDelay
	case cfg.InitiatorDelay < 0:
		cfg.InitiatorDelay = 0
	}
	cfg.InitiatorDelay = min(cfg.InitiatorDelay, cfg.Settle)
	return &Installer{db: db, grace: cfg.Grace, settle: cfg.Settle, initDelay: cfg.InitiatorDelay, now: time.Now,
		byIn: map[childID]*installed{}, byKey: map[sad.OutboundKey]*route{}}
}

// Handle applies one IKE event to the database. key names the policy rule
// and selector that a new CHILD SA serves (EventChildUp); a rekeyed SA
// inherits the key of the SA it replaces when the Installer knows it.
// Events other than EventChildUp, EventChildRekeyed and EventChildDeleted
// are ignored (an IKE SA going down reports each of its CHILD SAs deleted
// first). Deleting an SA the Installer never installed is not an error.
func (x *Installer) Handle(ev ike.Event, key sad.OutboundKey) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var err error
	if (ev.Kind == ike.EventChildUp || ev.Kind == ike.EventChildRekeyed) && bundleAHPart(ev.Child) {
		return nil // installed with its ESP part
	}
	switch ev.Kind {
	case ike.EventChildUp:
		err = x.install(ev.Child, key, nil)
	case ike.EventChildRekeyed:
		var old *installed
		if ev.Old != nil {
			if old = x.byIn[idOf(ev.Old)]; old != nil {
				key = old.key
			}
		}
		err = x.install(ev.Child, key, old)
	case ike.EventChildDeleted:
		if ev.Child != nil {
			err = x.remove(idOf(ev.Child))
		}
	}
	x.arm()
	return err
}

// idOf names a CHILD SA; both parts of an AH+ESP bundle name the one
// SAD entry they make, by the AH part's SPI (the outer header's).
func idOf(c *ike.ChildSA) childID {
	if c.Bundle != nil {
		if c.Protocol == isakmp.ProtocolESP {
			c = c.Bundle
		}
		return childID{sad.ProtoAH, c.InboundSPI}
	}
	return childID{sadProto(c.Protocol), c.InboundSPI}
}

// outboundSPIOf is the SPI of the outbound SAD entry c makes: the peer's
// SPI, the AH part's for an AH+ESP bundle (the outer header's), as idOf.
func outboundSPIOf(c *ike.ChildSA) uint32 {
	if c.Bundle != nil && c.Protocol == isakmp.ProtocolESP {
		c = c.Bundle
	}
	return c.OutboundSPI
}

// bundleAHPart reports whether c is the AH part of an AH+ESP bundle,
// which its ESP part (reported first) installs.
func bundleAHPart(c *ike.ChildSA) bool {
	return c != nil && c.Bundle != nil && c.Protocol == isakmp.ProtocolAH
}

// install adds c's inbound SA, and its outbound SA too if nothing carries
// key's traffic yet.
func (x *Installer) install(c *ike.ChildSA, key sad.OutboundKey, old *installed) error {
	if c == nil {
		return fmt.Errorf("%w: event without a CHILD SA", ErrProtocol)
	}
	id := idOf(c)
	if x.byIn[id] != nil {
		return fmt.Errorf("ipsec: CHILD SA %v 0x%08x is already installed", id.proto, id.spi)
	}
	in, out, err := ChildSpecs(c)
	if err != nil {
		return err
	}
	if x.lifetime != nil {
		life := x.lifetime(c)
		in.Lifetime, out.Lifetime = &life, &life
	}
	inSA, err := x.db.AddInbound(in)
	if err != nil {
		return fmt.Errorf("ipsec: installing CHILD SA: %w", err)
	}
	e := &installed{id: id, key: key, inSA: inSA, out: out}
	x.byIn[id] = e
	r := x.byKey[key]
	if r == nil {
		r = &route{}
		x.byKey[key] = r
	}
	if r.carrier != nil && r.carrier.State() != sad.StateDead {
		if c.Initiator && c.Version == ike.IKEv2 && old != nil && r.current == old {
			if x.initDelay == 0 {
				return x.switchTo(r, e)
			}
			e.readyAt, e.replaces = x.now().Add(x.initDelay), old
		}
		r.pending = append(r.pending, e)
		return nil
	}
	// Nothing carries this key's traffic (or its SA died in the
	// database): use the new SA at once.
	return x.switchTo(r, e)
}

// switchTo makes e carry its key's traffic.
func (x *Installer) switchTo(r *route, e *installed) error {
	s, err := x.db.AddOutbound(e.key, e.out)
	if err != nil {
		return fmt.Errorf("ipsec: installing outbound SA: %w", err)
	}
	e.outSA = s
	r.current, r.carrier, r.orphaned = e, s, time.Time{}
	r.pending = slices.DeleteFunc(r.pending, func(p *installed) bool { return p == e })
	return nil
}

// remove retires a deleted CHILD SA's inbound SA. If its outbound SA
// carried traffic, the traffic waits for a successor (see advance), or the
// outbound SA goes too when there is none.
func (x *Installer) remove(id childID) error {
	e := x.byIn[id]
	if e == nil {
		return nil
	}
	delete(x.byIn, id)
	var errs []error
	if err := x.db.RetireInbound(id.proto, id.spi, x.grace); err != nil && !errors.Is(err, sad.ErrNotFound) {
		errs = append(errs, err)
	}
	r := x.byKey[e.key]
	if r == nil {
		return errors.Join(errs...)
	}
	if r.current == e {
		r.current = nil
		if len(r.pending) > 0 {
			r.orphaned = x.now()
			errs = append(errs, x.advance(r, r.orphaned))
		}
	} else {
		r.pending = slices.DeleteFunc(r.pending, func(p *installed) bool { return p == e })
	}
	if r.current == nil && len(r.pending) == 0 {
		// No successor: the traffic has no SA any more.
		delete(x.byKey, e.key)
		if err := x.db.DeleteOutbound(e.key); err != nil && !errors.Is(err, sad.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// advance moves r's traffic to a waiting successor that has received a
// packet (the newest such), or, once the settle time after the current
// SA's deletion has passed, to the newest successor.
func (x *Installer) advance(r *route, now time.Time) error {
	for i := len(r.pending) - 1; i >= 0; i-- {
		if r.pending[i].opened() {
			return x.switchTo(r, r.pending[i])
		}
	}
	for i := len(r.pending) - 1; i >= 0; i-- {
		// This side's own IKEv2 rekey of the SA that still carries the
		// traffic, or carried it until its Delete (not of one that a
		// collision's survivor has replaced since, RFC 7296 2.8.1).
		if p := r.pending[i]; !p.readyAt.IsZero() && !now.Before(p.readyAt) && (r.current == p.replaces || r.current == nil) {
			return x.switchTo(r, p)
		}
	}
	if !r.orphaned.IsZero() && len(r.pending) > 0 && !now.Before(r.orphaned.Add(x.settle)) {
		// With a rekey collision (RFC 7296 2.8.1) two new SAs may wait;
		// the newest is the one this side made last. If it is the
		// redundant one, its own Delete follows and hands over again.
		return x.switchTo(r, r.pending[len(r.pending)-1])
	}
	return nil
}

// waiting reports whether any route lost its current SA while successors
// wait to take over.
func (x *Installer) waiting() bool {
	for _, r := range x.byKey {
		if r.waits() {
			return true
		}
	}
	return false
}

// waits reports whether r has a successor to move its traffic to, once
// it opens a packet or its time comes: after the current SA's deletion,
// or a successor this side made in its own IKEv2 rekey.
func (r *route) waits() bool {
	if len(r.pending) == 0 {
		return false
	}
	if !r.orphaned.IsZero() {
		return true
	}
	for _, p := range r.pending {
		if !p.readyAt.IsZero() {
			return true
		}
	}
	return false
}

// arm starts or stops the poll timer. The caller holds x.mu.
func (x *Installer) arm() {
	switch {
	case x.manual:
	case !x.waiting():
		if x.timer != nil {
			x.timer.Stop()
			x.timer = nil
		}
	case x.timer == nil:
		x.timer = time.AfterFunc(pollInterval, x.tick)
	}
}

// tick is the poll timer: it advances every waiting route and rearms.
func (x *Installer) tick() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.poll()
	if x.timer != nil && x.waiting() {
		x.timer.Reset(pollInterval)
		return
	}
	x.timer = nil
}

// poll advances every waiting route. The caller holds x.mu. Errors of the
// database (which refuses an outbound SA only for an invalid lifetime,
// checked already for its inbound half) cannot be reported to anyone here
// and leave the route as it was.
func (x *Installer) poll() {
	now := x.now()
	for _, r := range x.byKey {
		if r.waits() {
			_ = x.advance(r, now)
		}
	}
}
