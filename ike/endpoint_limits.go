package ike

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

const tableShards = 64 // a power of two

// shardedMap is a hash map split into shards with a lock each, so that
// readers and workers on different cores rarely meet. The seed is
// random per map: a remote sender cannot aim at one shard. Safe for
// concurrent use.
type shardedMap[K comparable, V any] struct {
	seed   maphash.Seed
	shards [tableShards]struct {
		mu sync.RWMutex
		m  map[K]V
		_  [32]byte // keep shards on their own cache lines
	}
}

func (t *shardedMap[K, V]) init() {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = map[K]V{}
	}
}

func (t *shardedMap[K, V]) shard(k K) int {
	return int(maphash.Comparable(t.seed, k) & (tableShards - 1))
}

func (t *shardedMap[K, V]) get(k K) V {
	s := &t.shards[t.shard(k)]
	s.mu.RLock()
	v := s.m[k]
	s.mu.RUnlock()
	return v
}

func (t *shardedMap[K, V]) put(k K, v V) {
	s := &t.shards[t.shard(k)]
	s.mu.Lock()
	s.m[k] = v
	s.mu.Unlock()
}

// putIfAbsent maps k to v unless k is mapped already; then it returns
// what k maps to, and true.
func (t *shardedMap[K, V]) putIfAbsent(k K, v V) (V, bool) {
	s := &t.shards[t.shard(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.m[k]; ok {
		return o, true
	}
	s.m[k] = v
	return v, false
}

// deleteIf removes k if it maps to v (by ==).
func (t *shardedMap[K, V]) deleteIf(k K, match func(V) bool) {
	s := &t.shards[t.shard(k)]
	s.mu.Lock()
	if v, ok := s.m[k]; ok && match(v) {
		delete(s.m, k)
	}
	s.mu.Unlock()
}

func (t *shardedMap[K, V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// spiTable finds sessions by this side's IKE SPI (IKEv1: our cookie).
type spiTable struct {
	shardedMap[[8]byte, *epSession]
}

func (t *spiTable) remove(spi [8]byte, es *epSession) {
	t.deleteIf(spi, func(v *epSession) bool { return v == es })
}

// halfOpenKey finds a responder SA before the initiator knows our SPI:
// by its SPI and its address (RFC 7296 2.1: retransmitted IKE_SA_INIT
// requests carry a zero responder SPI).
type halfOpenKey struct {
	spiI   [8]byte
	remote netip.AddrPort
}

type halfOpenTable struct {
	shardedMap[halfOpenKey, *epSession]
}

func (t *halfOpenTable) remove(k halfOpenKey, es *epSession) {
	t.deleteIf(k, func(v *epSession) bool { return v == es })
}

// peerTable finds established IKEv2 SAs by the identity their peer
// authenticated with, for INITIAL_CONTACT (RFC 7296 2.4).
type peerTable struct {
	shardedMap[string, []*epSession]
}

func (t *peerTable) add(id string, es *epSession) {
	s := &t.shards[t.shard(id)]
	s.mu.Lock()
	es.peerIdx = len(s.m[id])
	s.m[id] = append(s.m[id], es)
	s.mu.Unlock()
}

// remove takes es out of id's list in constant time: the last session
// takes its place (each session knows its index), so that many IKE SAs
// under one identity (a group key) do not make removal quadratic.
func (t *peerTable) remove(id string, es *epSession) {
	s := &t.shards[t.shard(id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.m[id]
	i := es.peerIdx
	if i >= len(l) || l[i] != es {
		return // not registered
	}
	last := l[len(l)-1]
	l[i], last.peerIdx = last, i
	l[len(l)-1] = nil
	l = l[:len(l)-1]
	if len(l) == 0 {
		delete(s.m, id)
	} else {
		s.m[id] = l
	}
}

// others returns the sessions of id other than es.
func (t *peerTable) others(id string, es *epSession) []*epSession {
	s := &t.shards[t.shard(id)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*epSession
	for _, v := range s.m[id] {
		if v != es {
			out = append(out, v)
		}
	}
	return out
}

// admission counts IKE SAs and half-open responder SAs, in total and per
// source address, and decides on first messages before any key exchange
// (strongSwan's cookie_threshold, cookie_threshold_ip, block_threshold,
// init_limit_half_open and ikesa_limit). A reservation is taken when a
// first message is admitted and held by the half-open SA it creates;
// release gives it back. Safe for concurrent use.
type admission struct {
	lim      limits
	ikeSAs   atomic.Int64 // all IKE SAs, half-open and reserved included
	halfOpen atomic.Int64 // half-open responder SAs and reservations
	// perSource counts half-open SAs and reservations by source address;
	// an address leaves the table at zero, so it holds at most
	// MaxHalfOpen entries.
	perSource shardedMap[netip.Addr, int64]
}

// verdict is admission's decision on a first message.
type verdict uint8

const (
	admit verdict = iota
	needCookie
	refuseIKESAs
	refuseHalfOpen
	refusePerSource
)

func (a *admission) init(l limits) {
	a.lim = l
	a.perSource.init()
}

func over(n, limit int64) bool { return limit >= 0 && n >= limit }

// cookieNeeded reports whether a first message from src must carry a
// valid COOKIE (RFC 7296 2.6).
func (a *admission) cookieNeeded(src netip.Addr) bool {
	return over(a.halfOpen.Load(), a.lim.cookieTotal) || over(a.perSource.get(src), a.lim.cookieSource)
}

// reserve admits a first message from src or says which cap refuses it.
// On admit the caller holds a reservation until it calls release or
// established.
func (a *admission) reserve(src netip.Addr) verdict {
	if over(a.ikeSAs.Load(), a.lim.ikeSA) {
		return refuseIKESAs
	}
	if over(a.halfOpen.Load(), a.lim.halfOpen) {
		return refuseHalfOpen
	}
	s := &a.perSource.shards[a.perSource.shard(src)]
	s.mu.Lock()
	n := s.m[src]
	if over(n, a.lim.halfOpenSource) {
		s.mu.Unlock()
		return refusePerSource
	}
	s.m[src] = n + 1
	s.mu.Unlock()
	a.halfOpen.Add(1)
	a.ikeSAs.Add(1)
	return admit
}

// leaveHalfOpen ends the half-open state of a reservation from src: the
// IKE SA was established (it still counts among the IKE SAs).
func (a *admission) leaveHalfOpen(src netip.Addr) {
	s := &a.perSource.shards[a.perSource.shard(src)]
	s.mu.Lock()
	if n := s.m[src] - 1; n > 0 {
		s.m[src] = n
	} else {
		delete(s.m, src)
	}
	s.mu.Unlock()
	a.halfOpen.Add(-1)
}

// release gives back a reservation from src that did not become an
// established IKE SA.
func (a *admission) release(src netip.Addr) {
	a.leaveHalfOpen(src)
	a.ikeSAs.Add(-1)
}

// replyLimiter holds token buckets for the unprotected error replies of
// RFC 7296 1.5: one per source address in a fixed table of buckets
// indexed by a keyed hash of the address (a new address takes over the
// slot of one with the same hash, so the table never grows), and one for
// all sources, so that neither one source nor many can make the endpoint
// a reflector. Safe for concurrent use.
type replyLimiter struct {
	rate  float64
	seed  maphash.Seed
	mu    []sync.Mutex // one per 64 slots
	slots []replySlot
	total rateLimit
	tmu   sync.Mutex
}

type replySlot struct {
	addr netip.Addr
	b    rateLimit
}

func newReplyLimiter(rate, total float64, sources int) *replyLimiter {
	if rate < 0 {
		rate = 0
	}
	if total < 0 {
		total = 0
	}
	sources = max(sources, 1)
	r := &replyLimiter{rate: rate, seed: maphash.MakeSeed(), slots: make([]replySlot, sources),
		mu: make([]sync.Mutex, (sources+63)/64), total: *newRateLimit(total)}
	return r
}

func (r *replyLimiter) slotOf(src netip.Addr) int {
	return int(maphash.Comparable(r.seed, src) % uint64(len(r.slots)))
}

// allow reports whether a reply to src may be sent at now, and takes the
// tokens for it.
func (r *replyLimiter) allow(src netip.Addr, now time.Time) bool {
	if r.rate <= 0 {
		return false
	}
	i := r.slotOf(src)
	mu := &r.mu[i/64]
	mu.Lock()
	sl := &r.slots[i]
	if sl.addr != src {
		sl.addr = src
		sl.b = *newRateLimit(r.rate)
	}
	ok := sl.b.allow(now)
	mu.Unlock()
	if !ok {
		return false
	}
	r.tmu.Lock()
	ok = r.total.allow(now)
	r.tmu.Unlock()
	return ok
}
