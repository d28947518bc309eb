package ike

import (
	"net/netip"

	"github.com/ipsecgo/ipsec/isakmp"
)

// SelectorFromPrefix returns the traffic selector covering prefix, all
// protocols and all ports.
func SelectorFromPrefix(p netip.Prefix) isakmp.TrafficSelector {
	p = p.Masked()
	start := p.Addr()
	end := lastAddr(p)
	t := isakmp.TrafficSelector{TSType: isakmp.TSIPv4AddrRange, Start: start, End: end, EndPort: 0xffff}
	if start.Is6() {
		t.TSType = isakmp.TSIPv6AddrRange
	}
	return t
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

func isAddrRange(t *isakmp.TrafficSelector) bool {
	switch t.TSType {
	case isakmp.TSIPv4AddrRange:
		return t.Start.Is4() && t.End.Is4()
	case isakmp.TSIPv6AddrRange:
		return t.Start.Is6() && t.End.Is6() && !t.Start.Is4In6()
	}
	return false
}

// intersect returns the selector covering what both a and b cover, if
// anything (RFC 7296 2.9 narrowing). Protocol 0 means any; the port ranges
// and address ranges are intersected. Selectors of other types than the
// IPv4/IPv6 address ranges never intersect.
func intersect(a, b isakmp.TrafficSelector) (isakmp.TrafficSelector, bool) {
	if !isAddrRange(&a) || !isAddrRange(&b) || a.TSType != b.TSType {
		return isakmp.TrafficSelector{}, false
	}
	r := isakmp.TrafficSelector{TSType: a.TSType}
	switch {
	case a.IPProtocol == b.IPProtocol || b.IPProtocol == 0:
		r.IPProtocol = a.IPProtocol
	case a.IPProtocol == 0:
		r.IPProtocol = b.IPProtocol
	default:
		return r, false
	}
	r.StartPort, r.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if r.StartPort > r.EndPort {
		return r, false
	}
	r.Start = a.Start
	if b.Start.Compare(r.Start) > 0 {
		r.Start = b.Start
	}
	r.End = a.End
	if b.End.Compare(r.End) < 0 {
		r.End = b.End
	}
	if r.Start.Compare(r.End) > 0 {
		return r, false
	}
	return r, true
}

// narrow returns the parts of the proposed selectors that the configured
// ones allow, in the order proposed, without duplicates (RFC 7296 2.9: the
// responder narrows to a subset of what the initiator proposed).
func narrow(proposed, configured []isakmp.TrafficSelector) []isakmp.TrafficSelector {
	var out []isakmp.TrafficSelector
	for _, p := range proposed {
		for _, c := range configured {
			r, ok := intersect(p, c)
			if !ok {
				continue
			}
			dup := false
			for _, o := range out {
				if sameSelector(o, r) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, r)
			}
		}
	}
	return out
}

func sameSelector(a, b isakmp.TrafficSelector) bool {
	return a.TSType == b.TSType && a.IPProtocol == b.IPProtocol && a.StartPort == b.StartPort &&
		a.EndPort == b.EndPort && a.Start == b.Start && a.End == b.End
}

// covered reports whether every selector in got lies inside one of
// offered: the initiator's check that the responder only narrowed.
func covered(got, offered []isakmp.TrafficSelector) bool {
	if len(got) == 0 {
		return false
	}
	for _, g := range got {
		ok := false
		for _, o := range offered {
			if r, in := intersect(g, o); in && sameSelector(r, g) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
