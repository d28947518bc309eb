package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/examples/gateway/internal/dataplane"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/sad"
	"github.com/ipsecgo/ipsec/spd"
)

// engine is the per-packet policy and crypto of the gateway
// (dataplane.Crypto) and the glue between IKE events and the SA database:
// SPD lookup, SAD lookup, ESP seal and open, the inbound policy check, an
// IKE negotiation when a protected packet finds no SA.
type engine struct {
	log      *slog.Logger
	spd      *spd.SPD
	db       *sad.DB
	x        *ipsec.Installer
	ep       *ike.Endpoint
	tunnel   *tunnel
	dataPort uint16 // the peer's data port for ESP that IKE did not encapsulate

	dests sync.Map // outbound SPI (uint32) -> dataplane.Dest
	plane atomic.Pointer[dataplane.Plane]

	initiating atomic.Bool   // an IKE SA is being negotiated
	kick       chan struct{} // a protected packet found no SA

	mu     sync.Mutex
	ikeSAs map[[8]byte]ike.IKESAInfo
}

// key is the outbound key of the tunnel's rule in the SAD.
var key = sad.OutboundKey{Rule: 1}

func newEngine(log *slog.Logger, policy *spd.SPD, t *tunnel, dataPort uint16) *engine {
	db := sad.New(sad.Config{TickInterval: 100 * time.Millisecond, Logger: log})
	return &engine{log: log, spd: policy, db: db, tunnel: t, dataPort: dataPort,
		// Grace covers packets the peer sealed before it switched to a
		// rekeyed SA; Settle bounds how long we wait to see it switch.
		x:    ipsec.NewInstaller(db, ipsec.InstallerConfig{Grace: 10 * time.Second, Settle: 500 * time.Millisecond}),
		kick: make(chan struct{}, 1), ikeSAs: map[[8]byte]ike.IKESAInfo{}}
}

// Outbound implements dataplane.Crypto: RFC 4301 section 5.1 for a packet
// read from the TUN.
func (e *engine) Outbound(out, pkt []byte) ([]byte, dataplane.Dest, dataplane.Cause) {
	sel, ok := selectorOf(pkt)
	if !ok {
		return nil, dataplane.Dest{}, dataplane.CauseMalformed
	}
	m := e.spd.Lookup(sel, spd.DirOutbound)
	switch m.Rule.Action.Action {
	case spd.ActionDiscard:
		return nil, dataplane.Dest{}, dataplane.CauseBlocked
	case spd.ActionProtect:
	default:
		return nil, dataplane.Dest{}, dataplane.CauseBypass
	}
	sa := e.db.Outbound(key, sad.Flow{Src: sel.Src, Dst: sel.Dst, Protocol: uint8(sel.Protocol), SrcPort: sel.SrcPort, DstPort: sel.DstPort})
	if sa == nil || sa.ESP() == nil {
		e.wantSA()
		return nil, dataplane.Dest{}, dataplane.CauseNoSA
	}
	d, ok := e.dests.Load(sa.SPI())
	if !ok {
		return nil, dataplane.Dest{}, dataplane.CauseNoSA
	}
	res, err := sa.ESP().SealESP(out, pkt, nextHeaderOf(pkt))
	if err != nil {
		return nil, dataplane.Dest{}, causeOf(err)
	}
	return res, d.(dataplane.Dest), dataplane.CauseNone
}

// Inbound implements dataplane.Crypto: RFC 4301 section 5.2 for an ESP
// packet: the SA by SPI, ICV and replay window, then the inner packet
// checked against the policy.
func (e *engine) Inbound(from netip.AddrPort, viaEndpoint bool, buf []byte, off, end int) ([]byte, dataplane.Cause) {
	if end-off < 8 {
		return nil, dataplane.CauseMalformed
	}
	spi := binary.BigEndian.Uint32(buf[off:])
	sa := e.db.Inbound(sad.ProtoESP, spi, e.tunnel.local)
	if sa == nil || sa.ESP() == nil {
		return nil, dataplane.CauseUnknownSPI
	}
	inner, nh, err := sa.ESP().OpenESP(buf[off:end])
	if err != nil {
		return nil, causeOf(err)
	}
	if nh != 4 && nh != 41 {
		return nil, dataplane.CauseMalformed
	}
	sel, ok := selectorOf(inner)
	if !ok {
		return nil, dataplane.CauseMalformed
	}
	// RFC 4301 section 5.2 step 4: the packet must match the policy of the
	// SA it came through.
	if m := e.spd.Lookup(sel, spd.DirInbound); m.Rule.Action.Action != spd.ActionProtect {
		return nil, dataplane.CauseSelector
	}
	return inner, dataplane.CauseNone
}

// causeOf maps esp's errors to drop causes.
func causeOf(err error) dataplane.Cause {
	switch {
	case errors.Is(err, esp.ErrReplay):
		return dataplane.CauseReplay
	case errors.Is(err, esp.ErrAuthFailed):
		return dataplane.CauseAuth
	case errors.Is(err, esp.ErrSeqExhausted), errors.Is(err, sad.ErrExpired):
		return dataplane.CauseExpired
	case errors.Is(err, esp.ErrMalformed), errors.Is(err, esp.ErrWrongSPI):
		return dataplane.CauseMalformed
	}
	return dataplane.CauseOther
}

// wantSA asks for an IKE negotiation without blocking the datapath.
func (e *engine) wantSA() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// onEvent handles the endpoint's events, in its goroutine, before the
// datagrams of the same step leave: SAs are installed before the peer
// learns of them.
func (e *engine) onEvent(ev ike.Event) {
	switch ev.Kind {
	case ike.EventChildUp, ike.EventChildRekeyed:
		c := ev.Child
		d := dataplane.Dest{Addr: netip.AddrPortFrom(c.RemoteAddr, e.dataPort)}
		if c.EncapRemotePort != 0 {
			// IKE negotiated UDP encapsulation (RFC 3948): ESP goes to the
			// peer's NAT-T port through the endpoint's socket.
			d = dataplane.Dest{Addr: netip.AddrPortFrom(c.RemoteAddr, c.EncapRemotePort), Endpoint: true}
		}
		e.dests.Store(c.OutboundSPI, d)
		e.log.Info("child SA up", "kind", ev.Kind, "in", fmt.Sprintf("%08x", c.InboundSPI),
			"out", fmt.Sprintf("%08x", c.OutboundSPI), "encr", c.Encr, "pfs", c.PFS, "dest", d.Addr, "via-endpoint", d.Endpoint)
	case ike.EventChildDeleted:
		e.log.Info("child SA deleted", "in", fmt.Sprintf("%08x", ev.Child.InboundSPI), "out", fmt.Sprintf("%08x", ev.Child.OutboundSPI))
	case ike.EventIKEUp, ike.EventIKERekeyed:
		e.mu.Lock()
		e.ikeSAs[ev.IKE.SPIi] = ev.IKE
		e.mu.Unlock()
		e.initiating.Store(false)
		e.log.Info("IKE SA up", "kind", ev.Kind, "spii", fmt.Sprintf("%x", ev.IKE.SPIi), "spir", fmt.Sprintf("%x", ev.IKE.SPIr))
	case ike.EventIKEDown, ike.EventPeerDead, ike.EventAuthFailed:
		e.mu.Lock()
		delete(e.ikeSAs, ev.IKE.SPIi)
		e.mu.Unlock()
		e.initiating.Store(false)
		e.log.Warn("IKE SA down", "kind", ev.Kind, "err", ev.Err)
	case ike.EventChildFailed:
		e.log.Warn("child SA failed", "err", ev.Err)
	}
	if err := e.x.Handle(ev, key); err != nil {
		e.log.Error("install", "kind", ev.Kind, "err", err)
	}
	if ev.Kind == ike.EventChildDeleted {
		// Keep the destination while the outbound SA may still carry
		// traffic (the Installer's settle time), then forget it.
		spi := ev.Child.OutboundSPI
		time.AfterFunc(2*time.Second, func() { e.dests.Delete(spi) })
	}
}

// acquire initiates IKE when a protected packet found no SA (RFC 4301
// section 5.1: the acquire), at most once a second, while no IKE SA is up
// or being negotiated.
func (e *engine) acquire(ctx context.Context) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case ev := <-e.db.Events():
			if ev.Kind != sad.EventAcquire {
				continue
			}
		}
		e.mu.Lock()
		up := len(e.ikeSAs) > 0
		e.mu.Unlock()
		if up || e.tunnel.initiator == nil || time.Since(last) < time.Second || !e.initiating.CompareAndSwap(false, true) {
			continue
		}
		last = time.Now()
		e.log.Info("initiating IKE", "peer", e.tunnel.peer)
		if _, err := e.ep.Initiate(ctx, e.tunnel.initiator, netip.AddrPortFrom(e.tunnel.peer, e.tunnel.ikePort), netip.AddrPortFrom(e.tunnel.peer, e.tunnel.nattPort)); err != nil {
			e.initiating.Store(false)
			e.log.Warn("initiate", "err", err)
		}
	}
}
