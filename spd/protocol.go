package spd

import "strconv"

// Protocol is an IANA "Assigned Internet Protocol Number", the RFC 4301
// section 4.4.1.1 "Next Layer Protocol" selector. The value 0 (HOPOPT) is
// an IPv6 extension header and never a next layer protocol, so, as in
// Windows' filters, it means "any protocol" here. It is a plain value,
// safe for concurrent use.
type Protocol uint8

// Protocol numbers from the IANA protocol-numbers registry.
const (
	ProtocolAny    Protocol = 0
	ProtocolICMP   Protocol = 1
	ProtocolIGMP   Protocol = 2
	ProtocolIPIP   Protocol = 4
	ProtocolTCP    Protocol = 6
	ProtocolEGP    Protocol = 8
	ProtocolUDP    Protocol = 17
	ProtocolIPv6   Protocol = 41
	ProtocolRSVP   Protocol = 46
	ProtocolGRE    Protocol = 47
	ProtocolESP    Protocol = 50
	ProtocolAH     Protocol = 51
	ProtocolICMPv6 Protocol = 58
	ProtocolOSPF   Protocol = 89
	ProtocolPIM    Protocol = 103
	ProtocolL2TP   Protocol = 115
	ProtocolSCTP   Protocol = 132
)

// protocolNames is the one table of protocol names used by String, the
// policy file and the dump.
var protocolNames = []struct {
	p    Protocol
	name string
}{
	{ProtocolAny, "ANY"},
	{ProtocolICMP, "ICMP"},
	{ProtocolIGMP, "IGMP"},
	{ProtocolIPIP, "IPIP"},
	{ProtocolTCP, "TCP"},
	{ProtocolEGP, "EGP"},
	{ProtocolUDP, "UDP"},
	{ProtocolIPv6, "IPV6"},
	{ProtocolRSVP, "RSVP"},
	{ProtocolGRE, "GRE"},
	{ProtocolESP, "ESP"},
	{ProtocolAH, "AH"},
	{ProtocolICMPv6, "ICMPV6"},
	{ProtocolOSPF, "OSPF"},
	{ProtocolPIM, "PIM"},
	{ProtocolL2TP, "L2TP"},
	{ProtocolSCTP, "SCTP"},
}

// String returns the IANA keyword, or the number for unnamed protocols.
func (p Protocol) String() string {
	for _, n := range protocolNames {
		if n.p == p {
			return n.name
		}
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether the protocol carries the two port selectors of
// RFC 4301 section 4.4.1.1 (TCP, UDP and SCTP).
func (p Protocol) HasPorts() bool {
	return p == ProtocolTCP || p == ProtocolUDP || p == ProtocolSCTP
}

// IsICMP reports whether the protocol carries the ICMP type and code
// selector of RFC 4301 section 4.4.1.1 (ICMP and ICMPv6).
func (p Protocol) IsICMP() bool { return p == ProtocolICMP || p == ProtocolICMPv6 }
