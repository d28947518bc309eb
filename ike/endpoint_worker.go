package ike

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// worker runs its share of the sessions: everything about one session
// happens in its worker's goroutine, in arrival order. Its fields are
// owned by that goroutine, except the channels.
type worker struct {
	e  *Endpoint
	id int
	// in carries datagrams for existing IKE SAs and ESP packets held for
	// order; first holds first messages (new IKE SAs) that arrived on the
	// NAT-T port (those from the IKE port wait in Endpoint.first). First
	// messages are served only when in is empty, so a flood of them
	// cannot starve established peers.
	in, first chan item
	// espFrom, esp and espSlots gather the ESP packets taken from in
	// until flushESP hands them over.
	espFrom  []netip.AddrPort
	esp      [][]byte
	espSlots []int32
	cmds     chan func(now time.Time)
	timers   timerHeap
	list     []*epSession // every session of this worker, for IKESAs and Shutdown
	// hungry says the worker found its queues empty and waits: a worker
	// with a backlog then gives it some of its sessions (share).
	hungry atomic.Bool
	// giving is how many more sessions this worker hands to givingTo,
	// each with the datagram it takes for it next.
	giving   int
	givingTo *worker
	out      [2][]outDatagram // to send from the IKE and the NAT-T socket
	scratch  writeScratch
}

type itemKind uint8

const (
	itemIKE   itemKind = iota // a datagram for es
	itemFirst                 // a first message holding an admission reservation
	itemESP                   // an ESP packet held behind IKE datagrams
	itemMoved                 // es, handed to this worker, with its datagram (handOff)
)

// item is a datagram handed from a reader to a worker. b is owned by the
// item.
type item struct {
	kind    itemKind
	version uint8
	natt    bool
	slot    int32 // espOrder slot + 1 for IKE datagrams that ESP may wait for
	es      *epSession
	b       []byte
	from    netip.AddrPort
}

// halfOpenKey is the key of the half-open SA a first message makes:
// its initiator SPI (the header's first 8 bytes) and its source.
func (it *item) halfOpenKey() halfOpenKey {
	return halfOpenKey{[8]byte(it.b[:8]), it.from}
}

// epSession is a session with the endpoint's bookkeeping, owned by its
// worker.
type epSession struct {
	s session
	// w is the worker that owns the session. The owner may hand it to a
	// hungry worker (handOff); whoever routes to it reads w again.
	w          atomic.Pointer[worker]
	remoteNATT netip.AddrPort // where the peer listens for NAT-T
	spis       [][8]byte      // this side's SPIs registered for it
	lastSent   time.Time
	// Timer heap position and deadline; the index in its worker's list
	// (-1 while it is in none).
	due       time.Time
	heapIndex int
	listIndex int
	// A half-open responder SA holds an admission reservation for
	// key.remote's address until it is established or gone.
	key           halfOpenKey
	halfOpenUntil time.Time
	peerID        string // registered in Endpoint.peers (IKEv2, established)
	peerIdx       int    // its index in the peers entry (under the shard's lock)
	noAdditional  uint64 // session's ChildSALimit count already added
	certTrimmed   uint64
	initiator     bool
	natt          bool // IKE moved to the NAT-T socket
	halfOpen      bool
	up            bool // established once
	localNAT      bool
	closed        bool

	v1Peer netip.AddrPort // registered in Endpoint.v1Peers (IKEv1, established)
}

func newWorker(e *Endpoint, id int) *worker {
	return &worker{e: e, id: id, in: make(chan item, e.lim.queueLen), first: make(chan item, e.lim.queueLen),
		cmds: make(chan func(time.Time))}
}

// post runs f in the worker's goroutine and waits for it.
func (w *worker) post(ctx context.Context, f func(now time.Time)) error {
	done := make(chan struct{})
	select {
	case w.cmds <- func(now time.Time) { f(now); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.e.done:
		return net.ErrClosed
	case <-w.e.stopped:
		return net.ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.e.stopped:
		return net.ErrClosed
	}
}

func (w *worker) run(stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var armed time.Time
	for {
		if top := w.timers.peek(); top != nil {
			if !top.due.Equal(armed) {
				armed = top.due
				timer.Reset(time.Until(armed))
			}
		} else if !armed.IsZero() {
			timer.Stop()
			armed = time.Time{}
		}
		if len(w.in) == 0 && len(w.first) == 0 && len(w.e.first) == 0 {
			w.giving = 0
			w.hungry.Store(true)
		}
		select {
		case <-stop:
			return
		case it := <-w.in:
			w.process(it)
			w.drain()
		case it := <-w.first:
			w.process(it)
			w.drain()
		case it := <-w.e.first:
			w.process(it)
			w.drain()
		case f := <-w.cmds:
			f(time.Now())
		case <-timer.C:
			armed = time.Time{}
			w.fire(time.Now())
		}
		w.hungry.Store(false)
		w.flushESP()
		w.sendOut()
	}
}

// drain processes what else is queued, up to a batch, datagrams for
// existing IKE SAs first, so that their replies go out in one batch.
func (w *worker) drain() {
	for range 64 {
		select {
		case it := <-w.in:
			w.process(it)
			continue
		default:
		}
		select {
		case it := <-w.in:
			w.process(it)
		case it := <-w.first:
			w.process(it)
		case it := <-w.e.first:
			w.process(it)
		default:
			return
		}
	}
}

func (w *worker) process(it item) {
	if it.kind != itemESP {
		w.flushESP() // the ESP queued before this item goes first
	}
	now := time.Now()
	switch it.kind {
	case itemIKE:
		if o := it.es.w.Load(); o != w {
			// Routed here before the session moved (handOff).
			w.e.forward(o, it.es, it)
			break
		}
		if w.share(it) {
			return
		}
		w.receive(now, it.es, it)
	case itemMoved:
		w.takeOver(now, it)
	case itemFirst:
		w.accept(now, it)
	case itemESP:
		// Gathered, and handed over with the ESP behind it when the
		// worker turns to anything else (flushESP).
		w.espFrom, w.esp, w.espSlots = append(w.espFrom, it.from), append(w.esp, it.b), append(w.espSlots, it.slot)
		return
	}
	if it.slot > 0 {
		w.e.order.done(it.slot - 1)
	}
}

// flushESP hands the ESP packets gathered from the queue over at once, in
// the order they came, and releases the order they held.
func (w *worker) flushESP() {
	if len(w.esp) == 0 {
		return
	}
	w.e.deliverESP(w.espFrom, w.esp)
	for _, s := range w.espSlots {
		if s > 0 {
			w.e.order.done(s - 1)
		}
	}
	clear(w.esp)
	w.espFrom, w.esp, w.espSlots = w.espFrom[:0], w.esp[:0], w.espSlots[:0]
}

// forward queues the datagram of it for es at es's worker w, behind what
// is queued there (a new espOrder slot if it came on the NAT-T port).
func (e *Endpoint) forward(w *worker, es *epSession, it item) {
	e.toWorker(w, item{kind: itemIKE, es: es, b: it.b, from: it.from, natt: it.natt})
}

// newEPSession returns the bookkeeping of a session that w is to own.
func (w *worker) newEPSession() *epSession {
	es := &epSession{heapIndex: -1, listIndex: -1}
	es.w.Store(w)
	return es
}

// add makes s one of the worker's sessions.
func (w *worker) add(s session, remote netip.AddrPort, initiator, natt bool) *epSession {
	es := w.newEPSession()
	w.adopt(es, s, remote, initiator, natt)
	return es
}

// adopt makes es, made for this worker, the session of s.
func (w *worker) adopt(es *epSession, s session, remote netip.AddrPort, initiator, natt bool) {
	es.s, es.initiator, es.natt = s, initiator, natt
	if w.e.cfg.PeerNATT != nil {
		es.remoteNATT = w.e.cfg.PeerNATT(remote)
	}
	if !es.remoteNATT.IsValid() {
		es.remoteNATT = netip.AddrPortFrom(remote.Addr(), natTPort)
	}
	if natt {
		es.remoteNATT = remote
	}
	if initiator {
		w.e.adm.ikeSAs.Add(1)
	}
	w.enlist(es)
}

// enlist adds es to the worker's list.
func (w *worker) enlist(es *epSession) {
	es.listIndex = len(w.list)
	w.list = append(w.list, es)
}

// unlist takes es out of the worker's list, if it is there.
func (w *worker) unlist(es *epSession) {
	i := es.listIndex
	if i < 0 {
		return
	}
	last := len(w.list) - 1
	w.list[i] = w.list[last]
	w.list[i].listIndex = i
	w.list[last] = nil
	w.list = w.list[:last]
	es.listIndex = -1
}

// shareMin is the backlog (datagrams queued for existing IKE SAs) from
// which a worker gives IKE SAs to a hungry one.
const shareMin = 8

// share hands the IKE SA of it, with it, to a hungry worker (one that
// waits with empty queues) while this worker has a backlog, and reports
// whether it did. Once it finds such a worker it gives away half of its
// backlog: the IKE SA of each datagram it takes next, until that many
// went. An IKE SA is handled by one worker at a time, so that its
// messages, timers and events keep their order; without sharing, a
// worker whose core was slower for a while (a reader, the garbage
// collector or the host took part of it) would work through its part of
// a burst alone while the other idled.
func (w *worker) share(it item) bool {
	if w.giving == 0 {
		n := len(w.in)
		if n < shareMin {
			return false
		}
		for _, o := range w.e.workers {
			// hungry stays set until the worker runs again: its empty
			// queue says that it still has nothing to do.
			if o != w && len(o.in) == 0 && o.hungry.CompareAndSwap(true, false) {
				w.giving, w.givingTo = n/2, o
				break
			}
		}
		if w.giving == 0 {
			return false
		}
	}
	es := it.es
	if it.natt || it.slot > 0 || es.natt || es.closed {
		// On the NAT-T port ESP from the peer may wait behind the
		// session's datagrams in this worker (espOrder): it stays.
		return false
	}
	if !w.handOff(es, it, w.givingTo) {
		w.giving = 0
		return false
	}
	w.giving--
	return true
}

// handOff gives es, with the datagram it for it, to the worker to. The
// session leaves this worker's timers and list before to can see it;
// datagrams for it already queued here follow it (process), behind it.
// It reports false, keeping the session, if to's queue is full.
func (w *worker) handOff(es *epSession, it item, to *worker) bool {
	due := es.due
	w.timers.remove(es)
	w.unlist(es)
	it.kind = itemMoved
	select {
	case to.in <- it:
		es.w.Store(to)
		w.e.stats.moved.Add(1)
		return true
	default:
		w.enlist(es)
		w.timers.set(es, due)
		return false
	}
}

// takeOver makes the session handed over in it (handOff) one of this
// worker's sessions and gives it its datagram. The session may have been
// closed meanwhile by a command that found it here first; one that
// arrives during Shutdown is closed like the others.
func (w *worker) takeOver(now time.Time, it item) {
	es := it.es
	if es.closed {
		return
	}
	w.enlist(es) // flush puts it in the timer heap
	if w.e.shuttingDown.Load() {
		es.s.Close(now)
		w.flush(now, es)
		return
	}
	w.receive(now, es, it)
}

// accept handles a first message that passed admission: it makes a
// responder session for it, or gives the reservation back.
//
// The session's place in the half-open table is taken before the key
// exchange: a retransmission of the message, which another worker may
// take from the shared queue while this one computes, then finds it and
// goes behind it to this worker, rather than making a second half-open
// SA with a different answer (RFC 7296 2.1: a retransmitted request gets
// the same response).
func (w *worker) accept(now time.Time, it item) {
	e := w.e
	key := it.halfOpenKey()
	src := it.from.Addr()
	es := w.newEPSession()
	if o, loaded := e.halfOpen.putIfAbsent(key, es); loaded {
		// A retransmission of a message whose SA exists, or is being
		// made by another worker.
		e.adm.release(src)
		if ow := o.w.Load(); ow == w {
			w.receive(now, o, it)
		} else {
			e.forward(ow, o, it)
		}
		return
	}
	refuse := func() {
		// Datagrams routed to es meanwhile find it closed and are
		// dropped; the peer's retransmission is a first message again.
		es.closed = true
		e.halfOpen.remove(key, es)
		e.adm.release(src)
	}
	local := e.ikeAddr
	if it.natt {
		local = e.nattAddr
	}
	cfg := e.cfg.Responder
	v := Version(it.version)
	if f := cfg.GetConfigForRequest; f != nil {
		c, err := f(&ConfigRequest{Version: v, Local: local, Remote: it.from})
		if err != nil {
			e.stats.configRefused.Add(1)
			refuse()
			e.log.Debug("ike: endpoint: refused by GetConfigForRequest", "from", it.from, "err", err)
			if v == IKEv2 {
				var h isakmp.Header
				if h.Parse(it.b) == nil {
					w.queueOut(it.natt, it.from, initReply(&h, isakmp.NotifyNoProposalChosen, nil))
				}
			}
			return
		}
		if c != nil {
			cfg = c
		}
	}
	var s session
	var err error
	if v == IKEv2 {
		var v2 *Session
		if v2, err = Accept(cfg, local, it.from, now, it.b); err == nil {
			s = v2Session{v2}
		}
	} else {
		s, err = acceptV1Session(cfg, local, it.from, now, it.b)
	}
	if err != nil {
		refuse()
		e.stats.malformed.Add(1)
		e.log.Debug("ike: endpoint: first message refused", "from", it.from, "err", err)
		return
	}
	if s.Closed() {
		// Answered without keeping state (NO_PROPOSAL_CHOSEN,
		// INVALID_KE_PAYLOAD...).
		refuse()
		for _, d := range s.Datagrams() {
			w.queueOut(it.natt, it.from, d)
		}
		w.countSessionStats(nil, s.Stats())
		return
	}
	w.adopt(es, s, it.from, false, it.natt)
	es.halfOpen, es.key = true, key
	if t := e.lim.halfOpenTimeout; t > 0 {
		es.halfOpenUntil = now.Add(t)
	}
	e.stats.accepted.Add(1)
	w.flush(now, es)
}

// receive hands a datagram to its session (RFC 7296 2.2: found by SPI).
func (w *worker) receive(now time.Time, es *epSession, it item) {
	if es.closed {
		w.e.stats.unknownSPI.Add(1)
		return
	}
	s := es.s
	oldLocal, oldRemote := s.Path()
	oldNATT := es.natt
	moved := it.natt && (!es.natt || oldRemote != it.from)
	if moved {
		// The peer moved to NAT-T, or its NAT mapping changed. The session
		// sees the new path while it processes the message (a CHILD SA
		// made now takes its ports), but the move only stands if the
		// message authenticates (RFC 7296 2.23).
		es.natt = true
		s.SetPath(w.e.nattAddr, it.from)
	}
	before := s.Stats()
	s.Receive(now, it.b)
	if after := s.Stats(); moved && (after.Dropped != before.Dropped || after.IntegrityFailures != before.IntegrityFailures ||
		after.CachedResponses != before.CachedResponses) {
		// Not authenticated, or a replay of an old request: stay put.
		es.natt = oldNATT
		s.SetPath(oldLocal, oldRemote)
	}
	w.flush(now, es)
}

// natMover is implemented by sessions that say when an initiator moves
// to the NAT-T port; for others it moves as soon as NAT is detected.
type natMover interface{ initiatorMovesToNATT() bool }

// flush reports the session's events, queues what it produced, keeps the
// endpoint's tables in step, and reschedules its timer.
func (w *worker) flush(now time.Time, es *epSession) {
	e := w.e
	s := es.s
	if !es.natt && es.initiator {
		move := false
		if m, ok := s.(natMover); ok {
			move = m.initiatorMovesToNATT()
		} else {
			move = s.UDPEncap() && !s.Closed()
		}
		if move {
			// RFC 7296 2.23: after IKE_SA_INIT, the initiator moves to
			// 4500; the responder follows when a request arrives there.
			es.natt = true
			s.SetPath(e.nattAddr, es.remoteNATT)
		}
	}
	// Events first: the caller installs a new CHILD SA (or retires an old
	// one) before the message that lets the peer use it, or tells it the
	// old one is gone, leaves this host (RFC 7296 2.8: the responder's
	// inbound SA must be ready when its CREATE_CHILD_SA response arrives).
	for _, ev := range s.Events() {
		if e.cfg.Events != nil {
			e.cfg.Events(ev)
		}
	}
	_, remote := s.Path()
	hold := e.holdIKE.Load()
	for _, d := range s.Datagrams() {
		if hold != nil && (*hold)(d) {
			continue
		}
		w.queueOut(es.natt, remote, d)
		es.lastSent = now
	}
	v2, isV2 := s.(v2Session)
	if !es.up && s.Established() {
		es.up = true
		e.stats.established.Add(1)
		es.localNAT = s.Info().LocalNAT
		if es.halfOpen {
			es.halfOpen = false
			e.adm.leaveHalfOpen(es.key.remote.Addr())
			e.halfOpen.remove(es.key, es)
		}
		if isV2 {
			es.peerID = string(rune(v2.peerID.Type)) + string(v2.peerID.Data)
			e.peers.add(es.peerID, es)
		} else {
			_, es.v1Peer = s.Path()
			e.v1Peers.Store(es.v1Peer, es)
		}
	}
	if isV2 {
		if v2.initialContact {
			v2.initialContact = false
			w.replaceOlder(es)
		}
		if n := v2.trimRetired(e.lim.retired); n > 0 {
			e.stats.retiredTrimmed.Add(uint64(n))
		}
	}
	w.countSessionStats(es, s.Stats())
	if s.Closed() {
		w.remove(es)
		return
	}
	w.syncSPIs(es)
	at := w.due(es)
	if !at.IsZero() && !at.After(now) && es.heapIndex >= 0 && !es.due.After(now) {
		// A session whose deadline did not move on although it was just
		// ticked would spin the worker; look again a little later.
		at = now.Add(time.Millisecond)
	}
	w.timers.set(es, at)
}

// countSessionStats adds what the session counted for the endpoint's
// defences since the last call.
func (w *worker) countSessionStats(es *epSession, st Stats) {
	if es == nil {
		w.e.stats.childSALimit.Add(st.NoAdditionalSAs)
		w.e.stats.certReqTrimmed.Add(st.CertReqTrimmed)
		return
	}
	if d := st.NoAdditionalSAs - es.noAdditional; d > 0 {
		w.e.stats.childSALimit.Add(d)
		es.noAdditional = st.NoAdditionalSAs
	}
	if d := st.CertReqTrimmed - es.certTrimmed; d > 0 {
		w.e.stats.certReqTrimmed.Add(d)
		es.certTrimmed = st.CertReqTrimmed
	}
}

// replaceOlder closes, without Delete, every other IKE SA whose peer has
// the identity that es's peer just authenticated with INITIAL_CONTACT
// (RFC 7296 2.4: the peer has lost the state of those SAs). Each is
// closed in its own worker.
func (w *worker) replaceOlder(es *epSession) {
	for _, o := range w.e.peers.others(es.peerID, es) {
		f := func(now time.Time, ow *worker) {
			if v2, ok := o.s.(v2Session); ok && !o.closed && v2.Established() {
				v2.shutdown(errReplaced)
				ow.flush(now, o)
			}
		}
		if o.w.Load() == w {
			f(time.Now(), w)
			continue
		}
		// Another worker: never block one worker on another.
		go w.e.inOwner(context.Background(), o, f)
	}
}

// syncSPIs registers the session under its current SPIs and forgets the
// ones it no longer has (rekeyed, retired and deleted IKE SAs).
func (w *worker) syncSPIs(es *epSession) {
	cur := es.s.localSPIs()
	for _, spi := range es.spis {
		if !containsSPI(cur, spi) {
			w.e.sessions.remove(spi, es)
		}
	}
	for _, spi := range cur {
		if !containsSPI(es.spis, spi) {
			w.e.sessions.put(spi, es)
		}
	}
	es.spis = cur
}

func containsSPI(l [][8]byte, spi [8]byte) bool {
	for _, x := range l {
		if x == spi {
			return true
		}
	}
	return false
}

// remove forgets a closed session.
func (w *worker) remove(es *epSession) {
	e := w.e
	es.closed = true
	for _, spi := range es.spis {
		e.sessions.remove(spi, es)
	}
	es.spis = nil
	switch {
	case es.halfOpen:
		es.halfOpen = false
		e.halfOpen.remove(es.key, es)
		e.adm.release(es.key.remote.Addr())
		e.stats.failed.Add(1)
	case es.up:
		e.adm.ikeSAs.Add(-1)
		e.stats.closed.Add(1)
	default:
		e.adm.ikeSAs.Add(-1)
		e.stats.failed.Add(1)
	}
	if es.peerID != "" {
		e.peers.remove(es.peerID, es)
	}
	if es.v1Peer.IsValid() {
		e.v1Peers.CompareAndDelete(es.v1Peer, es)
	}
	w.timers.remove(es)
	w.unlist(es)
}

// due is the session's next deadline: its own timers, the half-open
// timeout, and NAT keepalives (RFC 3948 2.3: only the side behind the
// NAT sends them).
func (w *worker) due(es *epSession) time.Time {
	d := es.s.Deadline()
	earlier := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if es.halfOpen {
		earlier(es.halfOpenUntil)
	}
	if k := w.keepaliveDue(es); !k.IsZero() {
		earlier(k)
	}
	return d
}

func (w *worker) keepaliveDue(es *epSession) time.Time {
	iv := w.e.lim.keepalive
	if iv <= 0 || !es.natt || !es.localNAT || !es.up {
		return time.Time{}
	}
	return es.lastSent.Add(iv)
}

// fire runs the timers due at now, earliest first.
func (w *worker) fire(now time.Time) {
	for {
		es := w.timers.peek()
		if es == nil || es.due.After(now) {
			return
		}
		s := es.s
		if es.halfOpen && !es.halfOpenUntil.IsZero() && !now.Before(es.halfOpenUntil) {
			w.e.stats.halfOpenExpired.Add(1)
			s.Close(now)
			w.flush(now, es)
			continue
		}
		if k := w.keepaliveDue(es); !k.IsZero() && !now.Before(k) {
			_, remote := s.Path()
			w.out[1] = append(w.out[1], outDatagram{b: natKeepalive, to: remote})
			w.e.stats.keepalives.Add(1)
			es.lastSent = now
		}
		if d := s.Deadline(); !d.IsZero() && !now.Before(d) {
			s.Tick(now)
		}
		w.flush(now, es)
	}
}

// queueOut queues an IKE datagram, with the non-ESP marker on the NAT-T
// socket (RFC 3948 2.2).
func (w *worker) queueOut(natt bool, to netip.AddrPort, d []byte) {
	if natt {
		d = append(append(make([]byte, 0, len(nonESPMarker)+len(d)), nonESPMarker...), d...)
	}
	w.out[b2i(natt)] = append(w.out[b2i(natt)], outDatagram{b: d, to: to})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sendOut writes the queued datagrams, a batch per socket, each in the
// order it was queued.
func (w *worker) sendOut() {
	e := w.e
	for i, c := range []*batchConn{e.ikeFDs[w.id], e.nattFDs[w.id]} {
		out := w.out[i]
		if len(out) == 0 {
			continue
		}
		n, err := c.write(out, &w.scratch)
		w.scratch.clear(len(out))
		e.stats.sent.Add(uint64(n))
		if err != nil {
			e.stats.sendErrors.Add(uint64(len(out) - n))
			e.log.Debug("ike: endpoint: send", "err", err)
		}
		clear(out)
		w.out[i] = out[:0]
	}
}
