package ike

import (
	"bytes"
	"errors"
	"hash/maphash"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/ipsecgo/ipsec/internal/udpgso"
	"github.com/ipsecgo/ipsec/isakmp"
)

// reader is a reader goroutine's state: stage 1 of the pipeline at the
// top of endpoint.go.
type reader struct {
	e    *Endpoint
	c    *net.UDPConn
	bc   *batchConn
	natt bool
	out  []outDatagram // answers to send after this batch
	// espFrom and esp gather the ESP packets of a read for ESPBatch;
	// they alias the read buffers.
	espFrom []netip.AddrPort
	esp     [][]byte
	// arena holds the bytes of the answers in out; a full arena is
	// replaced, not grown in place, so earlier answers stay valid.
	arena   []byte
	scratch writeScratch
}

// read reads batches of datagrams from c and dispatches each.
func (e *Endpoint) read(c *net.UDPConn, bc *batchConn, natt bool) {
	r := &reader{e: e, c: c, bc: bc, natt: natt, arena: make([]byte, 0, 1<<12)}
	ms := make([]ipv4.Message, readBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxDatagram)}
		ms[i].OOB = make([]byte, 64) // GRO size, the socket's drop count
	}
	drops := &e.stats.sockDrops[0]
	if natt {
		drops = &e.stats.sockDrops[1]
	}
	for {
		n, err := bc.readBatch(ms)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || e.stopping.Load() {
				return
			}
			e.log.Debug("ike: endpoint read", "err", err)
			continue
		}
		now := time.Now()
		for i := range ms[:n] {
			m := &ms[i]
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			from := ua.AddrPort()
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			b := m.Buffers[0][:m.N]
			seg, n, ok := udpgso.Parse(m.OOB[:m.NN])
			if ok {
				storeMax(drops, uint64(n))
			}
			if seg > 0 && seg < len(b) {
				// A GRO train: datagrams of seg bytes, the last
				// possibly shorter, each dispatched on its own.
				for len(b) > 0 {
					d := b[:min(seg, len(b))]
					r.dispatch(now, d, from, natt)
					b = b[len(d):]
				}
				continue
			}
			r.dispatch(now, b, from, natt)
		}
		r.flushESP()
		r.flush()
	}
}

// storeMax raises v to n unless it holds more (the kernel's counts, read
// by several readers, never go down).
func storeMax(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// dispatch takes one datagram from the reader's buffer (valid only
// during the call).
func (r *reader) dispatch(now time.Time, b []byte, from netip.AddrPort, natt bool) {
	e := r.e
	if natt {
		switch {
		case len(b) == 1 && b[0] == 0xff:
			return // NAT keepalive (RFC 3948 2.3)
		case len(b) >= 4 && [4]byte(b[:4]) != [4]byte{}:
			// UDP-encapsulated ESP: the first 4 bytes are the SPI.
			r.receiveESP(from, b)
			return
		case len(b) < 4+isakmp.HeaderLen:
			e.stats.malformed.Add(1)
			return
		}
		b = b[4:] // the non-ESP marker
		// ESP gathered so far arrived before this datagram: hand it
		// over before the datagram can change the SAs it uses.
		r.flushESP()
	}
	e.stats.received.Add(1)
	var h isakmp.Header
	if err := h.Parse(b); err != nil {
		e.stats.malformed.Add(1)
		return
	}
	b = b[:h.Length]
	switch h.Major() {
	case isakmp.MajorIKEv2:
		r.dispatchV2(now, b, from, natt, &h)
	case isakmp.MajorIKEv1:
		r.dispatchV1(now, b, from, natt, &h)
	default:
		e.stats.malformed.Add(1)
		if h.Major() > isakmp.MajorIKEv2 {
			// RFC 7296 2.5: dropped, and a request answered.
			r.answerUnprotected(now, from, natt, &h, isakmp.NotifyInvalidMajorVersion)
		}
	}
}

// dispatchV2 finds the session of an IKEv2 datagram (RFC 7296 2.2: by
// SPI; an IKE_SA_INIT request without responder SPI by initiator SPI and
// source address, so that its retransmissions reach the same half-open
// SA).
func (r *reader) dispatchV2(now time.Time, b []byte, from netip.AddrPort, natt bool, h *isakmp.Header) {
	e := r.e
	initiatorSent := h.Flags&isakmp.FlagInitiator != 0
	var es *epSession
	switch {
	case initiatorSent && h.ResponderSPI == [8]byte{} && h.Exchange == isakmp.ExchangeIKESAInit:
		if h.Flags&isakmp.FlagResponse != 0 {
			e.stats.malformed.Add(1)
			return
		}
		if es = e.halfOpen.get(halfOpenKey{h.InitiatorSPI, from}); es == nil {
			r.admitV2(now, b, from, natt, h)
			return
		}
	case initiatorSent:
		es = e.sessions.get(h.ResponderSPI)
	default:
		es = e.sessions.get(h.InitiatorSPI)
	}
	if es == nil {
		// RFC 7296 1.5, 2.21.4: a request for an IKE SA we do not know
		// (perhaps lost in a restart) may be answered, unprotected, with
		// INVALID_IKE_SPI; responses are never answered.
		e.stats.unknownSPI.Add(1)
		r.answerUnprotected(now, from, natt, h, isakmp.NotifyInvalidIKESPI)
		return
	}
	e.toWorker(es.w.Load(), item{kind: itemIKE, es: es, b: bytes.Clone(b), from: from, natt: natt})
}

// dispatchV1 finds the session of an IKEv1 datagram by this side's
// cookie: the responder cookie if we answered, the initiator cookie if
// we initiated. A message with a zero responder cookie that no session
// of ours initiated is a first message (RFC 2408 3.1), found again by
// (initiator cookie, source) while it is half-open.
func (r *reader) dispatchV1(now time.Time, b []byte, from netip.AddrPort, natt bool, h *isakmp.Header) {
	e := r.e
	var es *epSession
	if h.ResponderSPI != [8]byte{} {
		es = e.sessions.get(h.ResponderSPI)
	}
	if es == nil {
		// Our initiator cookie: of an IKE SA we initiated, or of a phase 1
		// rekey we started on an IKE SA we answered (then the peer's
		// answer carries its cookie too).
		if o := e.sessions.get(h.InitiatorSPI); o != nil && (o.initiator || h.ResponderSPI != [8]byte{}) {
			es = o
		}
	}
	if es == nil && h.ResponderSPI == [8]byte{} {
		if es = e.halfOpen.get(halfOpenKey{h.InitiatorSPI, from}); es == nil {
			// A new phase 1 from the peer of an established IKEv1
			// session is its rekey of that session (peer_rekey_v1.go).
			if o, ok := e.v1Peers.Load(from); ok && h.MessageID == 0 {
				es = o.(*epSession)
			} else {
				r.admitV1(b, from, natt, h)
				return
			}
		}
	}
	if es == nil {
		e.stats.unknownSPI.Add(1)
		e.stats.v1Dropped.Add(1)
		return
	}
	e.toWorker(es.w.Load(), item{kind: itemIKE, es: es, b: bytes.Clone(b), from: from, natt: natt})
}

// admitV2 applies the admission checks to an IKE_SA_INIT request that
// would create a half-open SA, before any key exchange: cookies (RFC 7296
// 2.6) when the half-open counts ask for them, then the caps. What passes
// is queued for a worker (toFirst).
func (r *reader) admitV2(now time.Time, b []byte, from netip.AddrPort, natt bool, h *isakmp.Header) {
	e := r.e
	rcfg := e.cfg.Responder
	if rcfg == nil || !rcfg.KeyExchange.Allows(IKEv2) {
		e.stats.unknownSPI.Add(1)
		return
	}
	src := from.Addr()
	if e.adm.cookieNeeded(src) {
		nonce, cookie, ok := scanInit(b[isakmp.HeaderLen:], h.NextPayload)
		if !ok || len(nonce) < minNonceLen || len(nonce) > maxNonceLen {
			e.stats.malformed.Add(1)
			return
		}
		if cookie == nil || !e.cookies.check(cookie, nonce, src, h.InitiatorSPI) {
			if cookie != nil {
				e.stats.cookiesRefused.Add(1)
			}
			if e.cookieRL != nil && !e.cookieRL.allow(src, now) {
				e.stats.cookiesLimited.Add(1)
				return
			}
			var c [cookieLen]byte
			e.cookies.makeInto(&c, nonce, src, h.InitiatorSPI)
			r.replyCookie(from, h, &c)
			e.stats.cookiesSent.Add(1)
			return
		}
		e.stats.cookiesAccepted.Add(1)
	}
	if !e.reserve(src) {
		return
	}
	e.toFirst(item{kind: itemFirst, version: 2, b: bytes.Clone(b), from: from, natt: natt})
}

// admitV1 applies the caps to an IKEv1 first message (IKEv1 has no
// stateless cookie exchange; its first message costs no key exchange).
func (r *reader) admitV1(b []byte, from netip.AddrPort, natt bool, h *isakmp.Header) {
	e := r.e
	rcfg := e.cfg.Responder
	if rcfg == nil || !rcfg.KeyExchange.Allows(IKEv1) || acceptV1Session == nil {
		e.stats.v1Dropped.Add(1)
		return
	}
	if !e.reserve(from.Addr()) {
		return
	}
	e.toFirst(item{kind: itemFirst, version: 1, b: bytes.Clone(b), from: from, natt: natt})
}

// toFirst queues a first message that passed admission. From the IKE port
// it goes to the queue all workers serve (Endpoint.first), so that a new
// IKE SA goes to whichever worker is free. From the NAT-T port it goes to
// the worker chosen by (SPIi, source), because ESP from that address may
// have to wait behind it in one worker (espOrder).
func (e *Endpoint) toFirst(it item) {
	var w *worker
	if it.natt {
		w = e.workers[int(maphash.Comparable(e.sessions.seed, it.halfOpenKey())%uint64(len(e.workers)))]
	}
	e.toWorker(w, it)
}

// reserve takes an admission reservation for src, counting a refusal.
func (e *Endpoint) reserve(src netip.Addr) bool {
	switch e.adm.reserve(src) {
	case refuseIKESAs:
		e.stats.ikeSARefused.Add(1)
	case refuseHalfOpen:
		e.stats.halfOpenRefused.Add(1)
	case refusePerSource:
		e.stats.perSourceRefused.Add(1)
	default:
		return true
	}
	return false
}

// toWorker queues it for w, or drops and counts it if the queue is full;
// a first message with no worker goes to the shared queue. An IKE
// datagram on the NAT-T socket marks its source address so that ESP from
// there waits for it.
func (e *Endpoint) toWorker(w *worker, it item) {
	var ch chan item
	switch {
	case it.kind != itemFirst:
		ch = w.in
	case w == nil:
		ch = e.first
	default:
		ch = w.first
	}
	if it.natt {
		it.slot = e.order.add(it.from.Addr(), w.id) + 1
	}
	select {
	case ch <- it:
	default:
		e.stats.queueDrops.Add(1)
		if it.slot > 0 {
			e.order.done(it.slot - 1)
		}
		if it.kind == itemFirst {
			e.adm.release(it.from.Addr())
		}
	}
}

// receiveESP gathers an ESP packet to hand over with the others of the
// read, unless an IKE datagram (or ESP queued behind one) from the same
// address is still queued: then the packet queues behind it, in the same
// worker.
func (r *reader) receiveESP(from netip.AddrPort, pkt []byte) {
	e := r.e
	if e.cfg.ESP == nil && e.cfg.ESPBatch == nil {
		return
	}
	if w, ok := e.order.pending(from.Addr()); ok {
		r.flushESP()
		// The packet holds the order too, so that the ESP after it waits
		// until the worker has handed it over (in a batch with the ESP
		// queued behind it).
		it := item{kind: itemESP, b: bytes.Clone(pkt), from: from}
		it.slot = e.order.add(from.Addr(), w) + 1
		select {
		case e.workers[w].in <- it:
		default:
			e.stats.queueDrops.Add(1)
			e.order.done(it.slot - 1)
		}
		return
	}
	r.espFrom = append(r.espFrom, from)
	r.esp = append(r.esp, pkt)
}

// flushESP hands the ESP packets gathered from a read over (to
// ESPBatch at once, or to ESP one by one).
func (r *reader) flushESP() {
	if len(r.esp) == 0 {
		return
	}
	r.e.deliverESP(r.espFrom, r.esp)
	clear(r.esp)
	r.esp, r.espFrom = r.esp[:0], r.espFrom[:0]
}

// deliverESP hands ESP packets to the caller: ESPBatch at once, or ESP one
// by one; calls are serialized.
func (e *Endpoint) deliverESP(from []netip.AddrPort, pkts [][]byte) {
	e.espMu.Lock()
	if e.cfg.ESPBatch != nil {
		e.cfg.ESPBatch(from, pkts)
	} else {
		for i, p := range pkts {
			e.cfg.ESP(from[i], p)
		}
	}
	e.espMu.Unlock()
	e.stats.espReceived.Add(uint64(len(pkts)))
}

// answerUnprotected sends the one-way error response of RFC 7296 1.5 for
// the request with header h back where it came from (on port 4500 with
// the non-ESP marker), within the per-source and total error rates.
// Responses get nothing.
func (r *reader) answerUnprotected(now time.Time, to netip.AddrPort, natt bool, h *isakmp.Header, t isakmp.NotifyType) {
	e := r.e
	if h.Flags&isakmp.FlagResponse != 0 {
		return
	}
	if !e.replies.allow(to.Addr(), now) {
		e.stats.errorRepliesLimited.Add(1)
		e.log.Debug("ike: endpoint: error response rate-limited", "from", to, "notify", t)
		return
	}
	resp := oneWayResponse(h, t)
	if resp == nil {
		return
	}
	e.stats.errorReplies.Add(1)
	r.reply(to, resp)
}

// reply queues an answer sent by the reader itself (COOKIE challenges,
// unprotected errors), with the non-ESP marker on the NAT-T socket; the
// reader sends a batch of them after each batch it read.
func (r *reader) reply(to netip.AddrPort, msg []byte) {
	if r.natt {
		msg = append(append(make([]byte, 0, len(nonESPMarker)+len(msg)), nonESPMarker...), msg...)
	}
	r.out = append(r.out, outDatagram{b: msg, to: to})
}

// replyCookie queues a COOKIE answer, built in the reader's arena.
func (r *reader) replyCookie(to netip.AddrPort, h *isakmp.Header, c *[cookieLen]byte) {
	start := len(r.arena)
	if r.natt {
		r.arena = append(r.arena, nonESPMarker...)
	}
	r.arena = appendCookieReply(r.arena, h, c)
	r.out = append(r.out, outDatagram{b: r.arena[start:len(r.arena):len(r.arena)], to: to})
}

// flush sends the queued answers.
func (r *reader) flush() {
	if len(r.out) == 0 {
		return
	}
	n, err := r.bc.write(r.out, &r.scratch)
	r.scratch.clear(len(r.out))
	r.e.stats.sent.Add(uint64(n))
	if err != nil {
		r.e.stats.sendErrors.Add(uint64(len(r.out) - n))
		r.e.log.Debug("ike: endpoint: send", "err", err)
	}
	clear(r.out)
	r.out = r.out[:0]
	if cap(r.arena) > 1<<16 {
		r.arena = nil
	}
	r.arena = r.arena[:0]
}

// espOrder remembers, per source address (by a keyed hash into a fixed
// table, so collisions only cost an unneeded detour), how many IKE
// datagrams from it that arrived on the NAT-T socket are still queued,
// and in which worker the last one is. Only the NAT-T reader adds; the
// workers finish. ESP is only UDP-encapsulated once IKE has moved to the
// NAT-T port, so the IKE datagrams that matter to ESP arrive there too.
// When IKE datagrams from one address are queued in two workers (two
// IKE SAs with one peer), ESP waits behind the later one only. An ESP
// packet queued behind an IKE datagram holds the order as well, until the
// worker has handed it over: the ESP that arrives after it goes the same
// way, so that no packet overtakes another (a reader delivering a read's
// worth of newer packets first would push the queued ones out of the
// receiver's anti-replay window). The worker hands queued ESP over in
// batches, so the reader is back on its direct path as soon as the
// worker has caught up.
//
// queued counts the IKE datagrams (and ESP behind them) of all slots, so
// that while none is queued, as almost always, an ESP packet passes
// without hashing its source address (which cost about 1% of a receiving
// examples/gateway's CPU). Only the reader that adds asks, so a datagram
// it added is counted before it asks again; queued is lowered after the
// slot, so zero means that every slot is.
type espOrder struct {
	seed   maphash.Seed
	queued atomic.Int32
	slots  [4096]struct {
		pending atomic.Int32
		worker  atomic.Int32
	}
}

func (o *espOrder) init() { o.seed = maphash.MakeSeed() }

func (o *espOrder) slot(a netip.Addr) int32 {
	return int32(maphash.Comparable(o.seed, a) % uint64(len(o.slots)))
}

// add notes an IKE datagram from a queued for worker w and returns its
// slot.
func (o *espOrder) add(a netip.Addr, w int) int32 {
	i := o.slot(a)
	o.slots[i].worker.Store(int32(w))
	o.slots[i].pending.Add(1)
	o.queued.Add(1)
	return i
}

// done notes that an IKE datagram (or an ESP packet behind one) of slot i
// has been processed.
func (o *espOrder) done(i int32) {
	o.slots[i].pending.Add(-1)
	o.queued.Add(-1)
}

// pending returns the worker of the last queued IKE datagram from a, if
// any is still queued.
func (o *espOrder) pending(a netip.Addr) (int, bool) {
	if o.queued.Load() <= 0 {
		return 0, false
	}
	i := o.slot(a)
	if o.slots[i].pending.Load() <= 0 {
		return 0, false
	}
	return int(o.slots[i].worker.Load()), true
}
