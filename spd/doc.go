// Package spd is the security policy database of RFC 4301 section 4.4.1,
// in the shape of Windows Server 2003's IPsec policy and Policy Agent.
//
// # Where it sits
//
// Every packet is looked up before anything else happens to it (RFC 4301
// section 5): outbound, the result says whether it is sent in the clear
// (BYPASS, Windows "Permit"), dropped (DISCARD, "Block") or protected
// (PROTECT, "Negotiate security") with the rule's security methods, which
// the caller hands to the SAD and IKE; inbound, clear packets are looked up
// the same way, and the caller drops those whose rule requires protection
// unless the rule accepts unsecured communication. The package does not
// exempt IKE traffic by itself (Windows does): a policy that protects "all
// traffic" should carry a permit rule for UDP 500 and 4500, or the caller
// bypasses IKE before the lookup (RFC 4301 section 5).
//
// # Policy model
//
// A Policy has Rules and key exchange settings (KeyExchange: IKE
// versions, main mode methods, lifetimes). A Rule has a stable ID (given,
// or its name, or a digest of its content: Rule.Identity; lookups carry
// it in Match.Rule.ID), a FilterList, a FilterAction (security methods
// with lifetimes in seconds and kilobytes, session-key PFS and its group,
// accept unsecured, fall back to clear), authentication methods in order
// (Kerberos with a principal, certificate roots, pre-shared keys or
// references to them), IKE identities, its own key exchange settings if
// any, and tunnel endpoints (the peer's and this side's). Everything a
// caller needs to turn a rule into IKE configuration is there, as IANA
// numbers, without importing ike. A Filter selects source and
// destination (any, "my IP address", one address, a prefix or a range;
// IPv4 and IPv6), protocol, ports for TCP, UDP and SCTP, ICMP type and
// code, a direction, and may be mirrored (it then also matches the
// reverse traffic). The policy file (ParsePolicy; the grammar is at the
// top of file.go) writes all of it in YAML and accepts both vocabularies
// (permit/block/negotiate and bypass/discard/protect); DefaultPolicy
// returns Windows' three default policies. A tunnel rule names the far
// tunnel endpoint for its filters' direction, so, as in Windows, a tunnel
// needs one rule per direction and its filters cannot be mirrored.
//
// # Filter order
//
// Each packet gets exactly one rule: the first filter in the following
// order that matches it, else the policy's default rule (BYPASS unless
// configured). Filters are compared by, in turn:
//
//  1. Origin: domain rules before local rules (see Merge).
//  2. Explicit priority: rules with a Priority come before rules without
//     one, lower values first.
//  3. Address weight, higher first: the sum over source and destination of
//     128 - ceil(log2(number of addresses)), counting IPv4 in the
//     IPv4-mapped IPv6 space. One address (and "my IP address") weighs
//     128, an IPv4 /24 120, an IPv6 /64 64, a range of 300 addresses 119,
//     "any" 0.
//  4. Protocol weight: a named protocol (1) before any (0).
//  5. Port weight, higher first: the sum over source and destination port
//     of 16 - ceil(log2(number of ports)), OPAQUE counting 16; for ICMP,
//     16 each for a named type and a named code.
//  6. Action: block, then negotiate, then permit (the most restrictive of
//     equally specific filters wins).
//  7. Position: the rule's index in the policy, then the filter's index in
//     its list; a filter's forward form before its mirror.
//
// Steps 3 to 6 are this package's reading of Windows' "most specific
// filter first" (the weights are defined here, not copied from Windows);
// step 7 makes the order total, so lookups are deterministic.
//
// # Matcher
//
// Compile turns a Policy into an immutable Classifier. Its index places
// every filter in a segment tree over its most selective axis and answers
// a lookup with a few binary searches and short candidate lists, without
// allocating; index.go explains it. An SPD holds the classifier in force
// behind an atomic pointer: lookups take no lock, and a new policy is
// swapped in whole.
//
// # Packets and OPAQUE ports
//
// ParseSelector reads a packet's selector (IPv4 or IPv6, through IPv6
// extension-header chains) without allocating; esp and ah walk headers
// with the same code (internal/ippkt). Ports that cannot be read, in a
// fragment other than the first or behind an IPv6 extension header the
// parser does not walk, are OPAQUE (RFC 4301 section 4.4.1.1,
// Selector.Opaque): such a packet matches only filters whose ports (and
// ICMP type and code) are any, or OpaquePort ("opaque" in the policy
// file). A rule on ports therefore never applies to a later fragment, and
// fragmenting cannot make a packet match a more permissive port rule;
// later fragments get the rules without ports, or the default. A first
// fragment too short to hold its ports is malformed (RFC 1858's tiny
// fragments; RFC 7112 for IPv6), so it cannot pass as OPAQUE. RFC 4301
// section 7 describes the stateful alternative (reassembly, or tracking
// fragments of a first fragment that passed), which this package leaves
// to the caller.
//
// Windows Server 2003 is different in two ways. Its filters have no
// OPAQUE value, and its documentation does not say how a port filter
// treats a fragment other than the first, so this package does not try
// to copy it. And traffic that no filter matches is always permitted in
// Windows (blocking it takes an explicit "All IP Traffic" filter with a
// Block action), whereas RFC 4301 section 4.4.1 asks for an explicit
// final entry, usually DISCARD. Here the policy states its default
// (Policy.Default, "default_action" in the file), so a policy with
// "default_action: block" drops the later fragments that no rule without
// ports claims.
//
// # Policy Agent
//
// An Agent loads a local and a domain policy file, merges them (the domain
// wins), compiles the result and installs it in an SPD. It checks for
// changes every polling interval and at once when the local file
// changes, reports what changed as events, and keeps the last good policy
// when a new one is bad. Dump writes the policy in force in the manner of
// "netsh ipsec static show all".
//
// # Example
//
//	p, err := spd.ParsePolicy("policy.yaml", data)
//	if err != nil { ... }               // file:line:col: field: problem
//	c, err := spd.Compile(p, spd.CompileOptions{LocalAddrs: addrs})
//	var db spd.SPD
//	db.Swap(c)
//	m := db.Lookup(spd.Selector{Src: a, Dst: b, Protocol: spd.ProtocolTCP, DstPort: 443}, spd.DirOutbound)
//	switch m.Rule.Action.Action { case spd.ActionProtect: ... }
//
// References:
//   - RFC 4301, Security Architecture for the Internet Protocol: section
//     4.4.1 (the SPD, selectors, BYPASS/DISCARD/PROTECT), 4.4.1.1
//     (selector types: address ranges, next layer protocol, ports, ICMP
//     type and code), 4.4.1.2 (SPD entry structure), 5 (IP traffic
//     processing).
//   - RFC 4291 section 2.5.5.2 (IPv4-mapped IPv6 addresses, the single
//     address axis used by the index).
//   - RFC 7296 section 3.3.2 and the IANA IKEv2 transform registries (the
//     identifiers of the encryption and integrity algorithms).
//   - RFC 4303 section 3.2 (ESP needs confidentiality or integrity), RFC
//     4106 and RFC 7634 (combined-mode algorithms take no separate
//     integrity transform), RFC 8221 (algorithm recommendations).
//   - Microsoft, Windows Server 2003 IPsec documentation: "Filter list",
//     "Filter action", "Default IPSec policies", "Default response rule".
package spd
