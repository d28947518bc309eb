package ipsec

import (
	"context"
	"encoding/binary"
	"net/netip"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/spd"
)

const (
	protoESP = 50
	protoAH  = 51
)

// parseSelector reads a packet's selectors (spd.ParseSelector: OPAQUE
// ports for fragments other than the first, RFC 4301 4.4.1.1).
func parseSelector(pkt []byte) (spd.Selector, error) { return spd.ParseSelector(pkt) }

// outerProto returns an IP packet's next protocol after the IPv4 header
// or the IPv6 header and its extension headers, and its offset.
func outerProto(pkt []byte) (proto uint8, off int, ok bool) {
	if len(pkt) < 1 {
		return 0, 0, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return 0, 0, false
		}
		ihl := int(pkt[0]&0xf) * 4
		if ihl < 20 || len(pkt) < ihl {
			return 0, 0, false
		}
		return pkt[9], ihl, true
	case 6:
		if len(pkt) < 40 {
			return 0, 0, false
		}
		proto, off = pkt[6], 40
		for proto == 0 || proto == 43 || proto == 60 {
			if len(pkt) < off+8 {
				return 0, 0, false
			}
			proto, off = pkt[off], off+8+int(pkt[off+1])*8
		}
		return proto, off, off <= len(pkt)
	}
	return 0, 0, false
}

// inSelectors reports whether a packet from the peer lies inside a CHILD
// SA's selectors: its source in one of remote, its destination in one of
// local, with protocol and ports (RFC 4301 5.2, RFC 7296 2.9).
func inSelectors(s *spd.Selector, remote, local []isakmp.TrafficSelector) bool {
	return tsMatch(s.Src, s.SrcPort, s, remote) && tsMatch(s.Dst, s.DstPort, s, local)
}

func tsMatch(a netip.Addr, port uint16, s *spd.Selector, ts []isakmp.TrafficSelector) bool {
	a = a.Unmap()
	for i := range ts {
		t := &ts[i]
		if t.Start.Is4() != a.Is4() || a.Compare(t.Start) < 0 || a.Compare(t.End) > 0 {
			continue
		}
		if t.IPProtocol != 0 && t.IPProtocol != uint8(s.Protocol) {
			continue
		}
		if t.StartPort == 0 && t.EndPort == 0xffff {
			return true
		}
		if s.Opaque || !s.Protocol.HasPorts() {
			continue // OPAQUE ports match only ANY (RFC 4301 4.4.1.1)
		}
		if port >= t.StartPort && port <= t.EndPort {
			return true
		}
	}
	return false
}

// endpointNegotiator is the negotiator of an ike.Endpoint.
type endpointNegotiator struct{ ep *ike.Endpoint }

func (e endpointNegotiator) initiate(ctx context.Context, cfg *ike.Config, remote, _ netip.AddrPort, req *ike.ChildRequest) ([8]byte, error) {
	return e.ep.Initiate(ctx, cfg, remote, req)
}

func (e endpointNegotiator) createChild(ctx context.Context, spi [8]byte, req ike.ChildRequest) error {
	return e.ep.CreateChild(ctx, spi, req)
}

func (e endpointNegotiator) deleteChild(ctx context.Context, spi [8]byte, inbound uint32) error {
	return e.ep.DeleteChild(ctx, spi, inbound)
}

func (e endpointNegotiator) rekeyChild(ctx context.Context, spi [8]byte, inbound uint32) error {
	return e.ep.RekeyChild(ctx, spi, inbound)
}

// ts4 is an IPv4 traffic selector as inSelectors4 compares it: the
// addresses as numbers, the port range (any: every port).
type ts4 struct {
	lo, hi uint32
	sp, ep uint16
	proto  uint8
	any    bool
}

// sel4 is a CHILD SA's selectors for IPv4 packets.
type sel4 struct{ remote, local []ts4 }

// sel4 returns the SA's selectors compiled for IPv4 packets.
func (info *saInfo) sel4() *sel4 {
	if s := info.v4.Load(); s != nil {
		return s
	}
	s := &sel4{remote: compileTS4(info.remote), local: compileTS4(info.local)}
	info.v4.Store(s)
	return s
}

// compileTS4 keeps the selectors an IPv4 address can match, as tsMatch
// decides: a start that is IPv4, and an end that is IPv4 (or IPv6, which
// every IPv4 address orders before).
func compileTS4(ts []isakmp.TrafficSelector) []ts4 {
	var out []ts4
	for i := range ts {
		t := &ts[i]
		if !t.Start.Is4() {
			continue
		}
		c := ts4{lo: binary.BigEndian.Uint32(t.Start.AsSlice()), hi: 0xffffffff, sp: t.StartPort, ep: t.EndPort,
			proto: t.IPProtocol, any: t.StartPort == 0 && t.EndPort == 0xffff}
		switch {
		case t.End.Is4():
			c.hi = binary.BigEndian.Uint32(t.End.AsSlice())
		case !t.End.Is6():
			continue // an invalid end: no address lies below it
		}
		out = append(out, c)
	}
	return out
}

// inSelectors4 is inSelectors for a packet cacheKeyOf accepted, read
// from its header bytes.
func inSelectors4(pkt []byte, s *sel4) bool {
	proto := pkt[9]
	ports := spd.Protocol(proto).HasPorts()
	return match4(s.remote, binary.BigEndian.Uint32(pkt[12:16]), binary.BigEndian.Uint16(pkt[20:22]), proto, ports) &&
		match4(s.local, binary.BigEndian.Uint32(pkt[16:20]), binary.BigEndian.Uint16(pkt[22:24]), proto, ports)
}

func match4(ts []ts4, a uint32, port uint16, proto uint8, ports bool) bool {
	for i := range ts {
		t := &ts[i]
		if a < t.lo || a > t.hi || t.proto != 0 && t.proto != proto {
			continue
		}
		if t.any {
			return true
		}
		if ports && port >= t.sp && port <= t.ep { // ICMP type and code are not ports: only ANY matches, as in tsMatch
			return true
		}
	}
	return false
}
