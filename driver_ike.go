package ipsec

import (
	"bytes"
	"context"
	"net/netip"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
	"github.com/ipsecgo/ipsec/spd"
)

// negotiator is what the driver asks of IKE: the commands of
// ike.Endpoint (an interface so that tests can stand in for it).
type negotiator interface {
	initiate(ctx context.Context, cfg *ike.Config, remote, remoteNATT netip.AddrPort, req *ike.ChildRequest) ([8]byte, error)
	createChild(ctx context.Context, spi [8]byte, req ike.ChildRequest) error
	deleteChild(ctx context.Context, spi [8]byte, inboundSPI uint32) error
	rekeyChild(ctx context.Context, spi [8]byte, inboundSPI uint32) error
}

const (
	ikePort  = 500
	nattPort = 4500
)

// hold queues a copy of pkt on flow f and starts an acquire if none is
// under way and the last one is old enough (DriverConfig.AcquireInterval).
// A full queue drops its oldest packet (counted); within AcquireInterval
// of a failed acquire the packet is dropped (counted), since no acquire
// could flush it.
func (d *Driver) hold(f *ruleFlow, pkt []byte, sel *spd.Selector) Result {
	now := time.Now()
	f.mu.Lock()
	if !f.acquiring && !f.lastAcquire.IsZero() && now.Sub(f.lastAcquire) < d.cfg.AcquireInterval {
		// The last acquire failed moments ago and no new one may start
		// yet: nothing would flush the queue, so the packet is dropped.
		f.mu.Unlock()
		return d.drop(f.rule, ReasonNegotiation)
	}
	if len(f.queue) >= d.cfg.QueueLen {
		f.queue = f.queue[1:]
		d.drop(f.rule, ReasonQueueFull)
	}
	f.queue = append(f.queue, bytes.Clone(pkt))
	start := !f.acquiring
	var gen uint64
	if start {
		f.acquiring, f.lastAcquire = true, now
		f.gen++
		gen = f.gen
	}
	f.mu.Unlock()
	d.held.Add(1)
	if start {
		d.acquires.Add(1)
		trigger := *sel
		go d.acquire(f, trigger, gen)
		time.AfterFunc(d.cfg.AcquireTimeout, func() { d.acquireTimeout(f, gen) })
	}
	return Result{Verdict: VerdictHeld, Rule: f.rule.id}
}

// acquire asks IKE for a CHILD SA of f's rule with f's peer: on the IKE SA
// with that peer if there is one (CREATE_CHILD_SA), else a new IKE SA.
// The triggering packet's selectors go first (RFC 7296 2.9).
func (d *Driver) acquire(f *ruleFlow, trigger spd.Selector, gen uint64) {
	rs := f.rule
	req := ike.ChildRequest{Config: rs.cfg}
	tl, tr := packetTS(trigger.Src, &trigger, true), packetTS(trigger.Dst, &trigger, false)
	req.TriggerLocal, req.TriggerRemote = &tl, &tr
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.AcquireTimeout)
	defer cancel()
	d.mu.Lock()
	spi, ok := d.ikeSAs[f.peer]
	d.mu.Unlock()
	if ok {
		if err := d.neg.createChild(ctx, spi, req); err == nil {
			return
		}
		d.mu.Lock()
		if d.ikeSAs[f.peer] == spi {
			delete(d.ikeSAs, f.peer)
		}
		d.mu.Unlock()
	}
	ip, np := uint16(ikePort), uint16(nattPort)
	if d.cfg.PeerPorts != nil {
		ip, np = d.cfg.PeerPorts(f.peer)
	}
	spi, err := d.neg.initiate(ctx, rs.cfg, netip.AddrPortFrom(f.peer, ip), netip.AddrPortFrom(f.peer, np), &req)
	if err != nil {
		d.log.Debug("ipsec: acquire failed", "rule", rs.id, "peer", f.peer, "err", err)
		d.failFlow(f, gen)
		return
	}
	d.mu.Lock()
	if _, ok := d.ikeSAs[f.peer]; !ok {
		d.ikeSAs[f.peer] = spi
	}
	d.mu.Unlock()
}

// packetTS is the traffic selector of one end of a packet.
func packetTS(a netip.Addr, s *spd.Selector, src bool) isakmp.TrafficSelector {
	a = a.Unmap()
	t := ike.SelectorFromPrefix(netip.PrefixFrom(a, a.BitLen()))
	t.IPProtocol = uint8(s.Protocol)
	if s.Protocol.HasPorts() && !s.Opaque {
		p := s.DstPort
		if src {
			p = s.SrcPort
		}
		t.StartPort, t.EndPort = p, p
	}
	return t
}

// acquireTimeout ends an acquire that got no CHILD SA in time.
func (d *Driver) acquireTimeout(f *ruleFlow, gen uint64) { d.failFlow(f, gen) }

// failFlow ends acquire gen of f without an SA: the held packets are
// dropped and counted or, if the rule falls back to clear (Windows'
// "allow unsecured communication with non-IPsec-aware computers"), sent
// in the clear, and the flow stays clear for DriverConfig.FallbackPeriod.
func (d *Driver) failFlow(f *ruleFlow, gen uint64) {
	f.mu.Lock()
	if !f.acquiring || f.gen != gen {
		f.mu.Unlock()
		return
	}
	f.acquiring = false
	q := f.queue
	f.queue = nil
	if f.rule.fallback {
		f.clearUntil.Store(time.Now().Add(d.cfg.FallbackPeriod).UnixNano())
	}
	f.mu.Unlock()
	for _, p := range q {
		if f.rule.fallback && d.cfg.Output != nil && !f.rule.dead.Load() {
			d.cfg.Output(Result{Verdict: VerdictClear, Packet: p, Rule: f.rule.id})
			continue
		}
		d.drop(f.rule, ReasonNegotiation)
	}
}

// failIKE fails the acquires waiting on the IKE SA with our SPI spi (it
// failed or went down), and forgets it.
func (d *Driver) failIKE(spi [8]byte) {
	d.mu.Lock()
	var peer netip.Addr
	for p, s := range d.ikeSAs {
		if s == spi {
			peer = p
			delete(d.ikeSAs, p)
		}
	}
	var waiting []*ruleFlow
	if peer.IsValid() {
		for _, f := range *d.flows.Load() {
			if f.peer == peer {
				waiting = append(waiting, f)
			}
		}
	}
	d.mu.Unlock()
	for _, f := range waiting {
		f.mu.Lock()
		gen, acq := f.gen, f.acquiring
		f.mu.Unlock()
		if acq && d.db.Outbound(f.key) == nil {
			d.failFlow(f, gen)
		}
	}
}

func localSPI(info ike.IKESAInfo) [8]byte {
	if info.Initiator {
		return info.SPIi
	}
	return info.SPIr
}

// handleIKE applies one IKE event: CHILD SAs are installed in the SAD
// under their rule's flow (the rule comes from ChildSA.Tag), the flow's
// held packets are sealed and sent, deleted SAs are retired, and failed
// negotiations fail their flows. It runs on the endpoint's goroutine
// before the datagrams of the same step are sent.
func (d *Driver) handleIKE(ev ike.Event) {
	switch ev.Kind {
	case ike.EventChildUp, ike.EventChildRekeyed:
		d.childUp(ev)
	case ike.EventChildDeleted:
		if ev.Child == nil {
			return
		}
		id := idOf(ev.Child)
		d.mu.Lock()
		delete(d.children, id)
		d.mu.Unlock()
		if err := d.inst.Handle(ev, sad.OutboundKey{}); err != nil {
			d.log.Debug("ipsec: removing CHILD SA", "err", err)
		}
		d.forgetSA(id, d.inst.grace)
	case ike.EventIKEDown, ike.EventAuthFailed, ike.EventPeerDead:
		d.failIKE(localSPI(ev.IKE))
	case ike.EventChildFailed:
		d.failIKE(localSPI(ev.IKE))
	}
}

// childUp installs a new CHILD SA (or a rekeyed one) for its rule and
// flushes the flow's queue through it.
func (d *Driver) childUp(ev ike.Event) {
	c := ev.Child
	if c == nil || bundleAHPart(c) {
		return // an AH+ESP bundle is installed with its ESP part, reported first
	}
	st := d.policy()
	rs := st.byID[c.Tag]
	spi := localSPI(ev.IKE)
	if rs == nil || rs.action != spd.ActionProtect {
		// The rule went away while IKE negotiated: nothing may use it.
		go func() { _ = d.neg.deleteChild(d.ctx, spi, c.InboundSPI) }()
		return
	}
	peer := c.RemoteAddr.Unmap()
	d.mu.Lock()
	if _, ok := d.ikeSAs[peer]; !ok {
		d.ikeSAs[peer] = spi
	}
	f := d.flowLocked(rs, peer)
	d.mu.Unlock()
	// The flow's route before its SA: a packet that finds the SA finds
	// the route.
	r := &route4{}
	if c.EncapRemotePort != 0 {
		r.encap = netip.AddrPortFrom(c.RemoteAddr, c.EncapRemotePort)
	}
	f.route.Store(r)
	id := idOf(c)
	d.registerSA(id, &saInfo{rule: rs, local: c.LocalTS, remote: c.RemoteTS, proto: id.proto, spi: id.spi,
		outboundSPI: c.OutboundSPI, installedForPeer: peer})
	if err := d.inst.Handle(ev, f.key); err != nil {
		d.log.Debug("ipsec: installing CHILD SA", "rule", rs.id, "err", err)
		d.forgetSA(id, 0)
		return
	}
	d.mu.Lock()
	d.children[id] = childRef{ike: spi, rule: rs, out: f.key, outSPI: outboundSPIOf(c), pfs: c.PFS}
	d.mu.Unlock()
	d.flush(f)
}

// flush sends f's held packets through its SA.
func (d *Driver) flush(f *ruleFlow) {
	f.mu.Lock()
	q := f.queue
	f.queue = nil
	f.acquiring = false
	f.clearUntil.Store(0)
	f.mu.Unlock()
	if len(q) == 0 {
		return
	}
	buf := make([]byte, 0, 2048)
	for _, p := range q {
		sa := d.db.Outbound(f.key)
		if sa == nil {
			d.drop(f.rule, ReasonNegotiation)
			continue
		}
		r := d.seal(buf[:0], p, f, sa)
		if r.Verdict == VerdictProtected && d.cfg.Output != nil {
			d.cfg.Output(r)
		}
	}
}

func (d *Driver) registerSA(id childID, info *saInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *d.sas.Load()
	n := make(map[uint64]*saInfo, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	n[uint64(id.proto)<<32|uint64(id.spi)] = info
	d.sas.Store(&n)
}

// forgetSA removes an inbound SA's information after delay (the grace
// period during which the SAD still opens its packets).
func (d *Driver) forgetSA(id childID, delay time.Duration) {
	f := func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		old := *d.sas.Load()
		k := uint64(id.proto)<<32 | uint64(id.spi)
		if old[k] == nil {
			return
		}
		n := make(map[uint64]*saInfo, len(old))
		for kk, v := range old {
			if kk != k {
				n[kk] = v
			}
		}
		d.sas.Store(&n)
	}
	if delay <= 0 {
		f()
		return
	}
	time.AfterFunc(delay, f)
}

// retireRules deletes the CHILD SAs of rules a reload removed or changed
// (with IKE Deletes, RFC 7296 1.4.1) and drops their held packets. Their
// outbound SAs leave the SAD at once, so no packet uses them again. The
// caller holds d.mu.
func (d *Driver) retireRules(gone []*ruleState) {
	dead := map[*ruleState]bool{}
	for _, rs := range gone {
		dead[rs] = true
	}
	type del struct {
		ike [8]byte
		spi uint32
	}
	var dels []del
	for id, ref := range d.children {
		if dead[ref.rule] {
			dels = append(dels, del{ref.ike, id.spi})
			_ = d.db.DeleteOutbound(ref.out)
		}
	}
	for _, f := range *d.flows.Load() {
		if dead[f.rule] {
			_ = d.db.DeleteOutbound(f.key)
			f.mu.Lock()
			n := len(f.queue)
			f.queue, f.acquiring = nil, false
			f.mu.Unlock()
			for range n {
				d.drop(f.rule, ReasonPolicy)
			}
		}
	}
	if len(dels) == 0 {
		return
	}
	go func() {
		for _, x := range dels {
			if err := d.neg.deleteChild(d.ctx, x.ike, x.spi); err != nil {
				d.log.Debug("ipsec: deleting CHILD SA of a removed rule", "err", err)
			}
		}
	}()
}

// sadEvents rekeys CHILD SAs whose byte lifetime the SAD reports soft
// expired (IKE rekeys on time by itself).
func (d *Driver) sadEvents(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-d.db.Events():
			if ev.Kind != sad.EventSoftExpire || (ev.Reason != sad.ReasonBytes && ev.Reason != sad.ReasonPackets) {
				continue
			}
			d.mu.Lock()
			var target childID
			var ref childRef
			found := false
			for id, r := range d.children {
				// By SPI both ways: a rekeyed CHILD SA and its successor
				// share the outbound key, and only the one that reached
				// its limit is to be rekeyed.
				if ev.Dir == sad.Inbound && id.proto == ev.Proto && id.spi == ev.SPI ||
					ev.Dir == sad.Outbound && r.out == ev.Key && r.outSPI == ev.SPI {
					target, ref, found = id, r, true
					break
				}
			}
			d.mu.Unlock()
			if found {
				if err := d.neg.rekeyChild(ctx, ref.ike, target.spi); err != nil {
					d.log.Debug("ipsec: rekey on byte lifetime", "err", err)
				}
			}
		}
	}
}
