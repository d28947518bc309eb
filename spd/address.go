package spd

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
)

// AddressKind says how an Address selects IP addresses. It is a plain
// value, safe for concurrent use.
type AddressKind uint8

// Address kinds, after the choices of a Windows IP filter ("My IP
// Address", "Any IP Address", "A specific IP Address", "A specific IP
// Subnet", and the address range of RFC 4301 section 4.4.1.1).
const (
	AddrAny    AddressKind = iota // any IPv4 or IPv6 address
	AddrHost                      // one address
	AddrSubnet                    // a prefix
	AddrRange                     // an inclusive range From..To
	AddrMe                        // every address of this host ("My IP Address")
)

var addressKindNames = [...]string{"any", "host", "subnet", "range", "me"}

// String returns the policy-file keyword of the kind.
func (k AddressKind) String() string {
	if int(k) < len(addressKindNames) {
		return addressKindNames[k]
	}
	return fmt.Sprintf("AddressKind(%d)", uint8(k))
}

// Address is the source or destination part of a filter. The zero value
// is AddrAny. It is a value type and safe for concurrent reads.
type Address struct {
	Kind   AddressKind
	Prefix netip.Prefix // AddrSubnet
	From   netip.Addr   // AddrHost, AddrRange
	To     netip.Addr   // AddrRange
}

// AnyAddr matches every address.
func AnyAddr() Address { return Address{} }

// MyAddr matches the addresses of this host, resolved when the policy is
// compiled (Windows' "My IP Address").
func MyAddr() Address { return Address{Kind: AddrMe} }

// HostAddr matches one address.
func HostAddr(a netip.Addr) Address { return Address{Kind: AddrHost, From: a} }

// SubnetAddr matches a prefix.
func SubnetAddr(p netip.Prefix) Address { return Address{Kind: AddrSubnet, Prefix: p} }

// RangeAddr matches the inclusive range from..to.
func RangeAddr(from, to netip.Addr) Address {
	return Address{Kind: AddrRange, From: from, To: to}
}

// String formats the address the way the policy file writes it.
func (a Address) String() string {
	switch a.Kind {
	case AddrAny:
		return "any"
	case AddrMe:
		return "me"
	case AddrHost:
		return a.From.String()
	case AddrSubnet:
		return a.Prefix.String()
	case AddrRange:
		return a.From.String() + "-" + a.To.String()
	}
	return a.Kind.String()
}

// family returns 4 or 6 for addresses bound to one family, 0 otherwise.
func (a Address) family() int {
	var x netip.Addr
	switch a.Kind {
	case AddrHost, AddrRange:
		x = a.From
	case AddrSubnet:
		x = a.Prefix.Addr()
	default:
		return 0
	}
	if x.Unmap().Is4() {
		return 4
	}
	return 6
}

// check reports why the address can never match anything, or nil.
func (a Address) check() error {
	switch a.Kind {
	case AddrAny, AddrMe:
		return nil
	case AddrHost:
		if !a.From.IsValid() {
			return fmt.Errorf("missing address")
		}
	case AddrSubnet:
		if !a.Prefix.IsValid() {
			return fmt.Errorf("invalid prefix")
		}
	case AddrRange:
		if !a.From.IsValid() || !a.To.IsValid() {
			return fmt.Errorf("missing range bound")
		}
		if a.From.Is4() != a.To.Is4() {
			return fmt.Errorf("range %s mixes IPv4 and IPv6", a)
		}
		if a.To.Less(a.From) {
			return fmt.Errorf("range %s is empty (first address is above last)", a)
		}
	default:
		return fmt.Errorf("unknown address kind %d", a.Kind)
	}
	return nil
}

// u128 is an address in the 128-bit space of RFC 4291 section 2.5.5.2:
// IPv4 addresses are IPv4-mapped IPv6 addresses, so one ordered axis
// holds both families.
type u128 struct{ hi, lo uint64 }

var maxU128 = u128{^uint64(0), ^uint64(0)}

func u128From(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) addOne() u128 {
	lo, c := bits.Add64(a.lo, 1, 0)
	return u128{a.hi + c, lo}
}

// span is an inclusive range on the u128 axis.
type span struct{ lo, hi u128 }

var fullSpan = span{u128{}, maxU128}

// specificity is 128 minus the number of bits needed to count the span's
// addresses: a single address is 128, an IPv4 /24 is 120 (IPv4 counts in
// the mapped space), an IPv6 /64 is 64 and "any" is 0.
func (s span) specificity() int {
	// size-1 = hi-lo; bits needed to represent hi-lo is ceil(log2(size)) for
	// sizes that are powers of two, and one more bit otherwise, rounded in
	// the caller's favour: a range covering n addresses counts like the
	// smallest prefix that could hold it.
	lo, b := bits.Sub64(s.hi.lo, s.lo.lo, 0)
	hi := s.hi.hi - s.lo.hi - b
	n := 0
	if hi != 0 {
		n = 64 + bits.Len64(hi)
	} else {
		n = bits.Len64(lo)
	}
	return 128 - n
}

// count returns how many spans the address resolves to.
func (a Address) count(me int) int {
	if a.Kind == AddrMe {
		return me
	}
	return 1
}

// spans resolves the address into u128 spans; me is the host's addresses.
func (a Address) spans(me []netip.Addr, dst []span) []span {
	switch a.Kind {
	case AddrAny:
		return append(dst, fullSpan)
	case AddrMe:
		for _, m := range me {
			v := u128From(m.Unmap())
			dst = append(dst, span{v, v})
		}
	case AddrHost:
		v := u128From(a.From)
		dst = append(dst, span{v, v})
	case AddrSubnet:
		p := a.Prefix.Masked()
		lo := u128From(p.Addr())
		n := p.Bits()
		if p.Addr().Is4() {
			n += 96
		}
		hi := lo
		if n < 64 {
			hi.hi |= ^uint64(0) >> n
			hi.lo = ^uint64(0)
		} else if n < 128 {
			hi.lo |= ^uint64(0) >> (n - 64)
		}
		dst = append(dst, span{lo, hi})
	case AddrRange:
		dst = append(dst, span{u128From(a.From), u128From(a.To)})
	}
	return dst
}
