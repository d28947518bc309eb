package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/examples/gateway/internal/dataplane"
	"github.com/ipsecgo/ipsec/ike"
)

// engine joins the data plane to the driver: it is the plane's Crypto
// (the driver decides and seals or opens every packet) and says where a
// protected packet goes.
type engine struct {
	log      *slog.Logger
	d        *ipsec.Driver
	dataPort uint16 // the peer's data port for ESP that IKE did not encapsulate
	plane    atomic.Pointer[dataplane.Plane]
}

// Outbound implements dataplane.Crypto with Driver.OutboundESP: ESP that
// IKE did not encapsulate comes back bare, sealed where the plane laid the
// packet out.
func (e *engine) Outbound(out, pkt []byte) ([]byte, dataplane.Dest, dataplane.Cause) {
	return e.route(e.d.OutboundESP(out, pkt))
}

// route turns an outbound verdict into what the plane sends. ESP in UDP
// (RFC 3948, negotiated by IKE) goes to the peer's NAT-T port through the
// IKE endpoint; plain ESP (RFC 4303 over IP protocol 50), when there is a
// data port, is sent as bare ESP (OutboundESP's, or the same bytes
// without their outer IP header) inside UDP to the peer's data port,
// which only another of these gateways listens on.
func (e *engine) route(r ipsec.Result) ([]byte, dataplane.Dest, dataplane.Cause) {
	switch r.Verdict {
	case ipsec.VerdictProtected:
		switch r.Proto {
		case ipsec.ProtoESPInUDP:
			return r.Packet, dataplane.Dest{Addr: r.To, Endpoint: true}, dataplane.CauseNone
		case ipsec.ProtoESP:
			if e.dataPort == 0 {
				return nil, dataplane.Dest{}, dataplane.CauseOther // plain ESP has no way out without a data port
			}
			return r.Packet, dataplane.Dest{Addr: netip.AddrPortFrom(r.To.Addr(), e.dataPort)}, dataplane.CauseNone
		}
		hdr, proto, ok := outerHeader(r.Packet)
		if !ok || proto != 50 || e.dataPort == 0 {
			return nil, dataplane.Dest{}, dataplane.CauseOther // AH cannot travel in UDP
		}
		return r.Packet[hdr:], dataplane.Dest{Addr: netip.AddrPortFrom(r.To.Addr(), e.dataPort)}, dataplane.CauseNone
	case ipsec.VerdictHeld:
		return nil, dataplane.Dest{}, dataplane.CauseHeld
	case ipsec.VerdictClear:
		return nil, dataplane.Dest{}, dataplane.CauseBypass
	}
	return nil, dataplane.Dest{}, causeOf(r.Reason)
}

// Inbound implements dataplane.Crypto with Driver.InboundESP: both the
// data port and the NAT-T port carry bare ESP.
func (e *engine) Inbound(from netip.AddrPort, viaEndpoint bool, buf []byte, off, end int) ([]byte, dataplane.Cause) {
	r := e.d.InboundESP(from, buf[off:end])
	if r.Verdict == ipsec.VerdictDeliver {
		return r.Packet, dataplane.CauseNone
	}
	return nil, causeOf(r.Reason)
}

// output sends the packets the driver held while IKE negotiated.
func (e *engine) output(r ipsec.Result) {
	pkt, d, c := e.route(r)
	if p := e.plane.Load(); p != nil && c == dataplane.CauseNone {
		p.Send(d, pkt)
	}
}

// causeOf maps the driver's drop reasons to the plane's causes.
func causeOf(r ipsec.DropReason) dataplane.Cause {
	switch r {
	case ipsec.ReasonMalformed:
		return dataplane.CauseMalformed
	case ipsec.ReasonBlocked:
		return dataplane.CauseBlocked
	case ipsec.ReasonUnsecured:
		return dataplane.CauseClear
	case ipsec.ReasonNegotiation, ipsec.ReasonQueueFull:
		return dataplane.CauseNoSA
	case ipsec.ReasonNoSA:
		return dataplane.CauseUnknownSPI
	case ipsec.ReasonOpen:
		return dataplane.CauseAuth
	case ipsec.ReasonReplay:
		return dataplane.CauseReplay
	case ipsec.ReasonSelectors, ipsec.ReasonPolicy:
		return dataplane.CauseSelector
	case ipsec.ReasonSeal:
		return dataplane.CauseExpired
	}
	return dataplane.CauseOther
}

// onEvent logs the IKE events.
func (e *engine) onEvent(ev ike.Event) {
	switch ev.Kind {
	case ike.EventChildUp, ike.EventChildRekeyed:
		c := ev.Child
		e.log.Info("child SA up", "kind", ev.Kind, "rule", c.Tag, "in", fmt.Sprintf("%08x", c.InboundSPI),
			"out", fmt.Sprintf("%08x", c.OutboundSPI), "encr", c.Encr, "pfs", c.PFS, "udp-encap", c.EncapRemotePort != 0)
	case ike.EventChildDeleted:
		e.log.Info("child SA deleted", "in", fmt.Sprintf("%08x", ev.Child.InboundSPI), "out", fmt.Sprintf("%08x", ev.Child.OutboundSPI))
	case ike.EventIKEUp, ike.EventIKERekeyed:
		e.log.Info("IKE SA up", "kind", ev.Kind, "spii", fmt.Sprintf("%x", ev.IKE.SPIi), "spir", fmt.Sprintf("%x", ev.IKE.SPIr))
	case ike.EventIKEDown, ike.EventPeerDead, ike.EventAuthFailed:
		e.log.Warn("IKE SA down", "kind", ev.Kind, "err", ev.Err)
	case ike.EventChildFailed:
		e.log.Warn("child SA failed", "err", ev.Err)
	}
}

// outerHeader returns the length of the outer IP header of a packet the
// driver sealed in tunnel mode, and its protocol (RFC 791 3.1; RFC 8200 3:
// the driver writes no IPv6 extension headers).
func outerHeader(b []byte) (n int, proto uint8, ok bool) {
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		n = int(b[0]&0x0f) * 4
		return n, b[9], n >= 20 && n <= len(b)
	case len(b) >= 40 && b[0]>>4 == 6:
		return 40, b[6], true
	}
	return 0, 0, false
}
