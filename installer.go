package ipsec

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/sad"
)

// Installer keeps a sad.DB in step with the CHILD SAs that IKE negotiates:
// it installs them when they come up, switches traffic to their
// successors when they are rekeyed, and retires them when they are
// deleted, without losing packets in flight (make before break). It is
// safe for concurrent use.
//
// The order of a rekey, for one outbound key:
//
//  1. EventChildRekeyed (or EventChildUp for a second SA of the same key):
//     the new inbound SA is installed at once, beside the old one, so that
//     both keys are accepted. Its outbound SA is built but held back.
//  2. EventChildDeleted for the SA whose outbound SA carries the traffic:
//     the held outbound SA replaces it (sad.DB.AddOutbound, atomic for
//     the datapath), and the deleted SA's inbound SA is retired: it keeps
//     accepting, for the grace period, packets the peer sealed before it
//     switched, then the database removes it.
//
// Waiting for the Delete before switching is RFC 7296 section 2.8's rule
// for the responder of a rekey, which may send on the new SA once it has
// received an IKE request to close the replaced one. The Installer applies
// it on both sides: the initiator of the rekey switches when the peer has
// answered that Delete, which proves the peer processed the CREATE_CHILD_SA
// exchange and installed its inbound SA, even when the peer (like
// ike.Endpoint) sends its response before it reports the new SA. The cost
// is one round trip longer on the old outbound SA.
//
// A deleted SA with no successor takes its outbound SA with it. Keeping the
// inbound SA for a grace period after its Delete departs from RFC 7296
// section 1.4.1's immediate close only for packets already on the wire.
type Installer struct {
	db    *sad.DB
	grace time.Duration

	mu    sync.Mutex
	byIn  map[childID]*installed
	byKey map[sad.OutboundKey]*route
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
	out   sad.Spec // the outbound SA, installed only when it carries traffic
	outSA *sad.SA  // out once installed
}

// route is the traffic of one outbound key: the CHILD SA whose outbound
// SA carries it, and the newer ones waiting for it to be deleted.
type route struct {
	current *installed
	pending []*installed // oldest first
}

// NewInstaller returns an Installer for db. grace is how long an inbound
// SA stays after its CHILD SA was deleted (sad.DefaultGrace if zero or
// negative).
func NewInstaller(db *sad.DB, grace time.Duration) *Installer {
	if grace <= 0 {
		grace = sad.DefaultGrace
	}
	return &Installer{db: db, grace: grace, byIn: map[childID]*installed{}, byKey: map[sad.OutboundKey]*route{}}
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
	switch ev.Kind {
	case ike.EventChildUp:
		return x.install(ev.Child, key)
	case ike.EventChildRekeyed:
		if ev.Old != nil {
			if old := x.byIn[idOf(ev.Old)]; old != nil {
				key = old.key
			}
		}
		return x.install(ev.Child, key)
	case ike.EventChildDeleted:
		if ev.Child == nil {
			return nil
		}
		return x.remove(idOf(ev.Child))
	}
	return nil
}

func idOf(c *ike.ChildSA) childID { return childID{sadProto(c.Protocol), c.InboundSPI} }

// install adds c's inbound SA, and its outbound SA too if nothing carries
// key's traffic yet.
func (x *Installer) install(c *ike.ChildSA, key sad.OutboundKey) error {
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
	if _, err := x.db.AddInbound(in); err != nil {
		return fmt.Errorf("ipsec: installing CHILD SA: %w", err)
	}
	e := &installed{id: id, key: key, out: out}
	x.byIn[id] = e
	r := x.byKey[key]
	if r == nil {
		r = &route{}
		x.byKey[key] = r
	}
	if r.current != nil && r.current.outSA.State() != sad.StateDead {
		r.pending = append(r.pending, e)
		return nil
	}
	// Nothing carries this key's traffic (or its SA died in the database):
	// use the new SA at once.
	return x.switchTo(r, e)
}

// switchTo makes e carry its key's traffic.
func (x *Installer) switchTo(r *route, e *installed) error {
	s, err := x.db.AddOutbound(e.key, e.out)
	if err != nil {
		return fmt.Errorf("ipsec: installing outbound SA: %w", err)
	}
	e.outSA = s
	r.current = e
	return nil
}

// remove retires a deleted CHILD SA's inbound SA and, if its outbound SA
// carried traffic, hands the traffic to the newest SA waiting for it, or
// removes the outbound SA when there is none.
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
	switch {
	case r == nil:
	case r.current == e:
		r.current = nil
		if n := len(r.pending); n > 0 {
			// With a rekey collision (RFC 7296 2.8.1) two new SAs may
			// wait; the newest is the one this side made last. If it is
			// the redundant one, its own Delete follows and hands over
			// to the other.
			next := r.pending[n-1]
			r.pending = r.pending[:n-1]
			errs = append(errs, x.switchTo(r, next))
		} else {
			delete(x.byKey, e.key)
			if err := x.db.DeleteOutbound(e.key); err != nil && !errors.Is(err, sad.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	default:
		r.pending = slices.DeleteFunc(r.pending, func(p *installed) bool { return p == e })
	}
	return errors.Join(errs...)
}
