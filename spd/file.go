package spd

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The policy file: YAML that reads like the Windows policy it models.
// Filter lists and filter actions are named and referenced by rules.
// policies/*.yaml are complete examples; the grammar is:
//
//	name: <text>
//	description: <text>
//	default_action: permit | block          # no filter matches (default permit)
//	polling_interval: 180m                  # Go duration, or minutes
//	key_exchange: {...}                     # IKE settings, see file_ike.go
//	filter_lists:
//	  - name: <text>
//	    description: <text>
//	    filters:
//	      - source: any | me | 192.0.2.1 | 192.0.2.0/24 | 192.0.2.0/255.255.255.0 | 192.0.2.1-192.0.2.9
//	        destination: (as source)
//	        protocol: any | tcp | udp | sctp | icmp | icmpv6 | <name> | 0-255
//	        source_port: any | opaque | 80 | 1024-65535  # tcp, udp, sctp; opaque: later fragments
//	        destination_port: (as source_port)
//	        icmp_type: any | 0-255                   # icmp, icmpv6
//	        icmp_code: any | 0-255
//	        mirrored: true | false
//	        direction: both | outbound | inbound
//	        description: <text>
//	filter_actions:
//	  - name: <text>
//	    description: <text>
//	    action: permit | bypass | block | discard | negotiate | protect
//	    pfs: false                          # session key PFS: true, false or a group (modp2048, ecp256, ...)
//	    accept_unsecured: false             # accept clear, respond with IPsec
//	    fallback_to_clear: false            # allow non-IPsec-aware computers
//	    security_methods:                   # in order of preference
//	      - esp: {encryption: aes128-gcm16, integrity: none}
//	        ah: sha256                      # with esp: AH+ESP
//	        lifetime: {seconds: 3600, kilobytes: 100000}
//	rules:
//	  - name: <text>                        # default: the filter list's name
//	    id: <text>                          # stable identity; default: the name
//	    filter_list: <name>
//	    filter_action: <name>
//	    authentication: [kerberos, {kerberos: "host/gw@REALM"}, {certificate: "CN=Root"},
//	                     {preshared_key: "..."}, {preshared_key_ref: <keyring name>}]
//	    local_id: fqdn:gw.example.com       # IKE identities (ipv4:, ipv6:, fqdn:, email:, dn:, keyid:)
//	    remote_id: "CN=peer, O=Example"     # omitted: the addresses
//	    key_exchange: {...}                 # overrides the policy's
//	    tunnel: 192.0.2.254                 # the peer's tunnel endpoint; omitted: transport mode
//	    tunnel_local: 192.0.2.1             # this side's tunnel endpoint
//	    priority: 10                        # omitted: most specific first
//	    enabled: true
//	default_response_rule:
//	  enabled: true
//	  security_methods: [...]
//	  pfs: false
//	  authentication: [kerberos]

// MaxPolicyFileSize bounds the size of a policy file ParsePolicy accepts.
const MaxPolicyFileSize = 64 << 20

// PolicyError is one problem in a policy file: where it is and what is
// wrong. It wraps ErrInvalidPolicy. It is immutable once returned and
// safe for concurrent reads.
type PolicyError struct {
	File         string
	Line, Column int
	Field        string // path of the field, e.g. rules[1].filter_action
	Msg          string
}

// Error returns "file:line:column: field: message".
func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrInvalidPolicy.
func (e *PolicyError) Unwrap() error { return ErrInvalidPolicy }

// PolicyErrors is every problem found in a policy file, in file order
// (at most 50). It is immutable once returned and safe for concurrent
// reads.
type PolicyErrors []*PolicyError

// Error lists the problems, one per line.
func (es PolicyErrors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the individual errors, for errors.Is and errors.As.
func (es PolicyErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds how many problems one parse reports.
const maxErrors = 50

type decoder struct {
	file string
	errs PolicyErrors
}

func (d *decoder) errf(n *yaml.Node, field, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		return
	}
	e := &PolicyError{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// ParsePolicy parses and validates a policy file. file names the file in
// errors. On any problem it returns nil and a PolicyErrors listing them.
func ParsePolicy(file string, data []byte) (*Policy, error) {
	d := &decoder{file: file}
	if len(data) > MaxPolicyFileSize {
		d.errf(nil, "", "file is %d bytes, more than the limit of %d", len(data), MaxPolicyFileSize)
		return nil, d.errs
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.errf(nil, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, d.errs
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.errf(nil, "", "empty policy file")
		return nil, d.errs
	}
	if bad := findAlias(doc.Content[0], 0); bad != nil {
		d.errf(bad, "", "YAML aliases, merge keys and nesting deeper than %d levels are not accepted in a policy file", maxDepth)
		return nil, d.errs
	}
	p := d.policy(doc.Content[0])
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return p, nil
}

const maxDepth = 20

// findAlias returns the first YAML alias or merge key, which could make a
// small file expand into a huge policy, or a node nested too deep.
func findAlias(n *yaml.Node, depth int) *yaml.Node {
	if n.Kind == yaml.AliasNode || n.Tag == "!!merge" || depth > maxDepth {
		return n
	}
	for _, c := range n.Content {
		if bad := findAlias(c, depth+1); bad != nil {
			return bad
		}
	}
	return nil
}

// fields walks a mapping, calling set for every known key. It reports
// unknown and repeated keys.
func (d *decoder) fields(n *yaml.Node, path string, known []string, set func(key string, v *yaml.Node, field string)) bool {
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "expected a mapping, found %s", kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			d.errf(k, path, "keys must be plain names")
			continue
		}
		if seen[k.Value] {
			d.errf(k, field, "repeated field")
			continue
		}
		seen[k.Value] = true
		ok := false
		for _, f := range known {
			if f == k.Value {
				ok = true
			}
		}
		if !ok {
			d.errf(k, field, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		set(k.Value, v, field)
	}
	return true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (d *decoder) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n, field, "expected a value, found %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) text(n *yaml.Node, field string) string {
	s, _ := d.scalar(n, field)
	return s
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	s, ok := d.scalar(n, field)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	d.errf(n, field, "expected true or false, found %q", s)
	return false
}

func (d *decoder) number(n *yaml.Node, field string, max uint64) (uint64, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > max {
		d.errf(n, field, "expected a whole number from 0 to %d, found %q", max, s)
		return 0, false
	}
	return v, true
}

func (d *decoder) list(n *yaml.Node, field string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		d.errf(n, field, "expected a list, found %s", kindName(n))
		return nil
	}
	return n.Content
}

type namedNode[T any] struct {
	node *yaml.Node
	val  T
}

func (d *decoder) policy(n *yaml.Node) *Policy {
	p := &Policy{}
	lists := map[string]namedNode[FilterList]{}
	actions := map[string]namedNode[FilterAction]{}
	var ruleNodes, drNode *yaml.Node
	d.fields(n, "", []string{"name", "description", "default_action", "polling_interval", "key_exchange",
		"filter_lists", "filter_actions", "rules", "default_response_rule"}, func(k string, v *yaml.Node, field string) {
		switch k {
		case "name":
			p.Name = d.text(v, field)
		case "description":
			p.Description = d.text(v, field)
		case "default_action":
			a := d.action(v, field)
			if a == ActionProtect {
				d.errf(v, field, "the default rule can only permit or block")
			}
			p.Default = FilterAction{Name: "<default>", Action: a}
		case "polling_interval":
			p.PollingInterval = d.interval(v, field)
		case "key_exchange":
			p.KeyExchange = d.keyExchange(v, field)
		case "filter_lists":
			for i, e := range d.list(v, field) {
				f := fmt.Sprintf("%s[%d]", field, i)
				fl := d.filterList(e, f)
				if fl.Name == "" {
					continue
				}
				if prev, dup := lists[fl.Name]; dup {
					d.errf(e, f+".name", "duplicate filter list name %q (first at line %d)", fl.Name, prev.node.Line)
					continue
				}
				lists[fl.Name] = namedNode[FilterList]{e, fl}
			}
		case "filter_actions":
			for i, e := range d.list(v, field) {
				f := fmt.Sprintf("%s[%d]", field, i)
				fa := d.filterAction(e, f)
				if fa.Name == "" {
					continue
				}
				if prev, dup := actions[fa.Name]; dup {
					d.errf(e, f+".name", "duplicate filter action name %q (first at line %d)", fa.Name, prev.node.Line)
					continue
				}
				actions[fa.Name] = namedNode[FilterAction]{e, fa}
			}
		case "rules":
			ruleNodes = v
		case "default_response_rule":
			drNode = v
		}
	})
	if ruleNodes != nil {
		names, ids := map[string]int{}, map[string]int{}
		for i, e := range d.list(ruleNodes, "rules") {
			f := fmt.Sprintf("rules[%d]", i)
			r, ok := d.rule(e, f, lists, actions)
			if !ok {
				continue
			}
			if line, dup := names[r.Name]; dup {
				d.errf(e, f+".name", "duplicate rule name %q (first at line %d)", r.Name, line)
				continue
			}
			names[r.Name] = e.Line
			if line, dup := ids[r.Identity()]; dup {
				d.errf(e, f+".id", "duplicate rule ID %q (first at line %d; an ID defaults to the rule's name)", r.Identity(), line)
				continue
			}
			ids[r.Identity()] = e.Line
			p.Rules = append(p.Rules, r)
		}
	}
	if drNode != nil {
		p.DefaultResponse = d.defaultResponse(drNode, "default_response_rule")
	}
	if len(d.errs) == 0 {
		// Everything was checked where it was read; this catches what a
		// future field forgets, positioned at the top of the file.
		if err := p.Validate(); err != nil {
			d.errf(n, "", "%s", strings.TrimPrefix(err.Error(), ErrInvalidPolicy.Error()+": "))
		}
	}
	return p
}

func (d *decoder) interval(v *yaml.Node, field string) time.Duration {
	s, ok := d.scalar(v, field)
	if !ok {
		return 0
	}
	if m, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(m) * time.Minute
	}
	t, err := time.ParseDuration(s)
	if err != nil || t <= 0 {
		d.errf(v, field, "expected a positive duration such as 180m or a number of minutes, found %q", s)
		return 0
	}
	return t
}

func (d *decoder) filterList(n *yaml.Node, path string) FilterList {
	var fl FilterList
	var nameNode *yaml.Node
	d.fields(n, path, []string{"name", "description", "filters"}, func(k string, v *yaml.Node, field string) {
		switch k {
		case "name":
			fl.Name, nameNode = d.text(v, field), v
		case "description":
			fl.Description = d.text(v, field)
		case "filters":
			for i, e := range d.list(v, field) {
				f := fmt.Sprintf("%s[%d]", field, i)
				if flt, ok := d.filter(e, f); ok {
					fl.Filters = append(fl.Filters, flt)
				}
			}
		}
	})
	if fl.Name == "" && n.Kind == yaml.MappingNode {
		d.errf(firstNonNil(nameNode, n), path+".name", "a filter list needs a name")
	}
	return fl
}

func firstNonNil(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

func (d *decoder) filter(n *yaml.Node, path string) (Filter, bool) {
	var f Filter
	before := len(d.errs)
	var protoNode *yaml.Node
	icmpType, icmpCode := -1, -1
	d.fields(n, path, []string{"description", "source", "destination", "protocol", "source_port",
		"destination_port", "icmp_type", "icmp_code", "mirrored", "direction"}, func(k string, v *yaml.Node, field string) {
		switch k {
		case "description":
			f.Description = d.text(v, field)
		case "source":
			f.Source = d.address(v, field)
		case "destination":
			f.Destination = d.address(v, field)
		case "protocol":
			f.Protocol, protoNode = d.protocol(v, field), v
		case "source_port":
			f.SourcePort = d.portRange(v, field)
		case "destination_port":
			f.DestinationPort = d.portRange(v, field)
		case "icmp_type":
			icmpType = d.anyByte(v, field)
		case "icmp_code":
			icmpCode = d.anyByte(v, field)
		case "mirrored":
			f.Mirrored = d.boolean(v, field)
		case "direction":
			switch s := strings.ToLower(d.text(v, field)); s {
			case "both", "":
				f.Direction = DirBoth
			case "outbound", "out":
				f.Direction = DirOutbound
			case "inbound", "in":
				f.Direction = DirInbound
			default:
				d.errf(v, field, "expected both, outbound or inbound, found %q", s)
			}
		}
	})
	switch {
	case icmpType >= 0 && icmpCode >= 0:
		f.ICMP = ICMPTypeCode(uint8(icmpType), uint8(icmpCode))
	case icmpType >= 0:
		f.ICMP = ICMPType(uint8(icmpType))
	case icmpCode >= 0:
		d.errf(n, path+".icmp_code", "an ICMP code needs an icmp_type")
	}
	if len(d.errs) != before {
		return f, false
	}
	if err := f.Check(); err != nil {
		field := path
		if protoNode != nil {
			field = path + ".protocol"
		}
		d.errf(n, field, "%s", strings.TrimPrefix(err.Error(), "spd: "))
		return f, false
	}
	return f, true
}

// anyByte parses "any" (-1) or 0-255.
func (d *decoder) anyByte(v *yaml.Node, field string) int {
	s, ok := d.scalar(v, field)
	if !ok {
		return -1
	}
	if strings.EqualFold(s, "any") {
		return -1
	}
	x, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		d.errf(v, field, "expected any or a number from 0 to 255, found %q", s)
		return -1
	}
	return int(x)
}

func (d *decoder) address(v *yaml.Node, field string) Address {
	s, ok := d.scalar(v, field)
	if !ok {
		return Address{}
	}
	a, err := ParseAddress(s)
	if err != nil {
		d.errf(v, field, "%v", err)
	}
	return a
}

// ParseAddress parses the policy file's address syntax: any, me, an
// address, a prefix (192.0.2.0/24 or 192.0.2.0/255.255.255.0) or a range
// (192.0.2.1-192.0.2.9).
func ParseAddress(s string) (Address, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "any", "*":
		return AnyAddr(), nil
	case "me", "my ip address", "my_ip":
		return MyAddr(), nil
	}
	if addr, bitsStr, ok := strings.Cut(s, "/"); ok {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return Address{}, fmt.Errorf("invalid subnet %q: bad address", s)
		}
		n, err := strconv.Atoi(bitsStr)
		if err != nil {
			m, merr := netip.ParseAddr(bitsStr)
			if merr != nil || m.Is4() != a.Is4() {
				return Address{}, fmt.Errorf("invalid subnet %q: bad prefix length or mask", s)
			}
			var ok bool
			if n, ok = maskBits(m); !ok {
				return Address{}, fmt.Errorf("invalid subnet %q: mask is not contiguous", s)
			}
		}
		if n < 0 || n > a.BitLen() {
			return Address{}, fmt.Errorf("invalid subnet %q: prefix length out of range", s)
		}
		p := netip.PrefixFrom(a, n)
		if p.Masked() != p {
			return Address{}, fmt.Errorf("subnet %q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return SubnetAddr(p), nil
	}
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(from))
		b, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if err1 != nil || err2 != nil || a.Zone() != "" || b.Zone() != "" {
			return Address{}, fmt.Errorf("invalid range %q", s)
		}
		r := RangeAddr(a, b)
		if err := r.check(); err != nil {
			return Address{}, err
		}
		return r, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return Address{}, fmt.Errorf("invalid address %q (expected any, me, an address, a subnet or a range)", s)
	}
	return HostAddr(a.Unmap()), nil
}

// maskBits converts a contiguous dotted mask to a prefix length.
func maskBits(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	n, zero := 0, false
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			if x&(1<<i) != 0 {
				if zero {
					return 0, false
				}
				n++
			} else {
				zero = true
			}
		}
	}
	return n, true
}

func (d *decoder) protocol(v *yaml.Node, field string) Protocol {
	s, ok := d.scalar(v, field)
	if !ok {
		return ProtocolAny
	}
	if p, ok := ParseProtocol(s); ok {
		return p
	}
	names := make([]string, 0, len(protocolNames))
	for _, n := range protocolNames {
		names = append(names, strings.ToLower(n.name))
	}
	d.errf(v, field, "unknown protocol %q (expected a number from 0 to 255 or one of %s)", s, strings.Join(names, ", "))
	return ProtocolAny
}

// ParseProtocol parses a protocol name (case-insensitive) or number.
func ParseProtocol(s string) (Protocol, bool) {
	if x, err := strconv.ParseUint(s, 10, 8); err == nil {
		return Protocol(x), true
	}
	for _, n := range protocolNames {
		if strings.EqualFold(n.name, s) {
			return n.p, true
		}
	}
	if strings.EqualFold(s, "ipv6-icmp") {
		return ProtocolICMPv6, true
	}
	return 0, false
}

func (d *decoder) portRange(v *yaml.Node, field string) PortRange {
	s, ok := d.scalar(v, field)
	if !ok {
		return AnyPort()
	}
	r, err := ParsePortRange(s)
	if err != nil {
		d.errf(v, field, "%s", strings.TrimPrefix(err.Error(), "spd: "))
	}
	return r
}

// ParsePortRange parses any, opaque (OpaquePort), a port, or an
// inclusive range lo-hi.
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "any") || s == "*" {
		return AnyPort(), nil
	}
	if strings.EqualFold(s, "opaque") {
		return OpaquePort(), nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := a, error(nil)
	if isRange {
		b, err2 = strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	}
	if err1 != nil || err2 != nil {
		return AnyPort(), fmt.Errorf("expected any, opaque, a port from 0 to 65535 or a range lo-hi, found %q", s)
	}
	if a > b {
		return AnyPort(), fmt.Errorf("%w: port range %q is empty (%d > %d)", ErrNeverMatches, s, a, b)
	}
	return PortSpan(uint16(a), uint16(b)), nil
}

func (d *decoder) action(v *yaml.Node, field string) Action {
	s, ok := d.scalar(v, field)
	if !ok {
		return 0
	}
	switch strings.ToLower(s) {
	case "permit", "bypass":
		return ActionBypass
	case "block", "discard":
		return ActionDiscard
	case "negotiate", "protect", "negotiate security":
		return ActionProtect
	}
	d.errf(v, field, "unknown action %q (expected permit/bypass, block/discard or negotiate/protect)", s)
	return 0
}

func (d *decoder) filterAction(n *yaml.Node, path string) FilterAction {
	var fa FilterAction
	var methodsNode *yaml.Node
	before := len(d.errs)
	d.fields(n, path, []string{"name", "description", "action", "security_methods", "pfs",
		"accept_unsecured", "fallback_to_clear"}, func(k string, v *yaml.Node, field string) {
		switch k {
		case "name":
			fa.Name = d.text(v, field)
		case "description":
			fa.Description = d.text(v, field)
		case "action":
			fa.Action = d.action(v, field)
		case "security_methods":
			methodsNode = v
			fa.Methods = d.methods(v, field)
		case "pfs":
			fa.PFS, fa.PFSGroup = d.pfs(v, field)
		case "accept_unsecured":
			fa.AcceptUnsecured = d.boolean(v, field)
		case "fallback_to_clear":
			fa.FallbackToClear = d.boolean(v, field)
		}
	})
	if n.Kind != yaml.MappingNode || len(d.errs) != before {
		return fa
	}
	if fa.Name == "" {
		d.errf(n, path+".name", "a filter action needs a name")
	}
	switch fa.Action {
	case 0:
		d.errf(n, path+".action", "missing action (permit, block or negotiate)")
	case ActionProtect:
		if len(fa.Methods) == 0 {
			d.errf(firstNonNil(methodsNode, n), path+".security_methods", "negotiate needs at least one security method")
		}
	default:
		switch {
		case methodsNode != nil:
			d.errf(methodsNode, path+".security_methods", "security methods contradict action %s", fa.Action)
		case fa.AcceptUnsecured:
			d.errf(n, path+".accept_unsecured", "contradicts action %s (only negotiate can accept unsecured traffic)", fa.Action)
		case fa.FallbackToClear:
			d.errf(n, path+".fallback_to_clear", "contradicts action %s (only negotiate can fall back to clear)", fa.Action)
		case fa.PFS:
			d.errf(n, path+".pfs", "contradicts action %s (no keys are negotiated)", fa.Action)
		}
	}
	return fa
}

func (d *decoder) methods(v *yaml.Node, field string) []SecurityMethod {
	var out []SecurityMethod
	for i, e := range d.list(v, field) {
		f := fmt.Sprintf("%s[%d]", field, i)
		m := SecurityMethod{Lifetime: DefaultLifetime, LifetimeKB: DefaultLifetimeKB}
		before := len(d.errs)
		d.fields(e, f, []string{"esp", "ah", "lifetime"}, func(k string, v *yaml.Node, field string) {
			switch k {
			case "esp":
				m.UseESP = true
				d.fields(v, field, []string{"encryption", "integrity"}, func(k string, v *yaml.Node, field string) {
					s, ok := d.scalar(v, field)
					if !ok {
						return
					}
					switch k {
					case "encryption":
						if m.ESPEncryption, m.ESPKeyBits, ok = ParseEncryption(s); !ok {
							d.errf(v, field, "unknown ESP encryption algorithm %q (known: %s)", s, encryptionList())
						}
					case "integrity":
						if m.ESPIntegrity, ok = ParseIntegrity(s); !ok {
							d.errf(v, field, "unknown integrity algorithm %q (known: %s)", s, integrityList())
						}
					}
				})
			case "ah":
				m.UseAH = true
				s, ok := d.scalar(v, field)
				if !ok {
					return
				}
				if m.AHIntegrity, ok = ParseIntegrity(s); !ok {
					d.errf(v, field, "unknown integrity algorithm %q (known: %s)", s, integrityList())
				}
			case "lifetime":
				d.fields(v, field, []string{"seconds", "kilobytes"}, func(k string, v *yaml.Node, field string) {
					switch k {
					case "seconds":
						if s, ok := d.number(v, field, 1<<31); ok {
							m.Lifetime = time.Duration(s) * time.Second
						}
					case "kilobytes":
						if kb, ok := d.number(v, field, 1<<40); ok {
							m.LifetimeKB = kb
						}
					}
				})
			}
		})
		if len(d.errs) != before {
			continue
		}
		if err := m.Check(); err != nil {
			d.errf(e, f, "%v", err)
			continue
		}
		out = append(out, m)
	}
	return out
}

func encryptionList() string {
	var s []string
	for _, n := range encryptionNames {
		s = append(s, n.names[0])
	}
	return strings.Join(s, ", ")
}

func integrityList() string {
	var s []string
	for _, n := range integrityNames {
		s = append(s, n.names[0])
	}
	return strings.Join(s, ", ")
}

func (d *decoder) auth(v *yaml.Node, field string) []AuthMethod {
	var out []AuthMethod
	for i, e := range d.list(v, field) {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch e.Kind {
		case yaml.ScalarNode:
			if strings.EqualFold(e.Value, "kerberos") {
				out = append(out, AuthMethod{Kind: AuthKerberos})
				continue
			}
			d.errf(e, f, "unknown authentication method %q (expected kerberos, {kerberos: <principal>}, {certificate: <root CA>}, {preshared_key: <key>} or {preshared_key_ref: <name>})", e.Value)
		case yaml.MappingNode:
			d.fields(e, f, []string{"kerberos", "certificate", "preshared_key", "preshared_key_ref"}, func(k string, v *yaml.Node, field string) {
				switch k {
				case "kerberos":
					// {kerberos: <peer principal>}, or {kerberos: ""}.
					out = append(out, AuthMethod{Kind: AuthKerberos, Principal: d.text(v, field)})
				case "preshared_key_ref":
					ref := d.text(v, field)
					if ref == "" {
						d.errf(v, field, "empty pre-shared key reference")
						return
					}
					out = append(out, AuthMethod{Kind: AuthPreSharedKey, PreSharedKeyRef: ref})
				case "certificate":
					ca := d.text(v, field)
					if ca == "" {
						d.errf(v, field, "a certificate method needs the name of its trusted root CA")
						return
					}
					out = append(out, AuthMethod{Kind: AuthCertificate, RootCA: ca})
				case "preshared_key":
					k := d.text(v, field)
					if k == "" {
						d.errf(v, field, "empty pre-shared key")
						return
					}
					out = append(out, AuthMethod{Kind: AuthPreSharedKey, PreSharedKey: k})
				}
			})
			if len(e.Content) != 2 {
				d.errf(e, f, "each authentication method is one entry")
			}
		default:
			d.errf(e, f, "expected an authentication method, found %s", kindName(e))
		}
	}
	return out
}

func (d *decoder) rule(n *yaml.Node, path string, lists map[string]namedNode[FilterList], actions map[string]namedNode[FilterAction]) (Rule, bool) {
	var r Rule
	enabled := true
	var listNode, actionNode, authNode, tunnelNode, negNode, tlNode *yaml.Node
	negField := ""
	neg := func(v *yaml.Node, field string) {
		if negNode == nil {
			negNode, negField = v, field
		}
	}
	before := len(d.errs)
	d.fields(n, path, []string{"name", "id", "filter_list", "filter_action", "authentication", "local_id", "remote_id",
		"key_exchange", "tunnel", "tunnel_local", "priority", "enabled"}, func(k string, v *yaml.Node, field string) {
		switch k {
		case "name":
			r.Name = d.text(v, field)
		case "id":
			if r.ID = d.text(v, field); r.ID == "" {
				d.errf(v, field, "empty rule ID (omit it to use the rule's name)")
			}
		case "local_id":
			r.LocalID = d.identity(v, field)
			neg(v, field)
		case "remote_id":
			r.RemoteID = d.identity(v, field)
			neg(v, field)
		case "key_exchange":
			k := d.keyExchange(v, field)
			r.KeyExchange = &k
			neg(v, field)
		case "tunnel_local":
			tlNode = v
			r.TunnelLocal = d.endpoint(v, field)
		case "filter_list":
			listNode = v
			name := d.text(v, field)
			fl, ok := lists[name]
			if !ok {
				d.errf(v, field, "no filter list named %q (defined: %s)", name, keys(lists))
				return
			}
			r.Filters = fl.val
		case "filter_action":
			actionNode = v
			name := d.text(v, field)
			fa, ok := actions[name]
			if !ok {
				d.errf(v, field, "no filter action named %q (defined: %s)", name, keys(actions))
				return
			}
			r.Action = fa.val
		case "authentication":
			authNode = v
			r.Auth = d.auth(v, field)
		case "tunnel":
			tunnelNode = v
			r.Tunnel = d.endpoint(v, field)
		case "priority":
			if x, ok := d.number(v, field, 1<<32-1); ok {
				if x == 0 {
					d.errf(v, field, "priority starts at 1 (omit it to order by specificity)")
				}
				r.Priority = uint32(x)
			}
		case "enabled":
			enabled = d.boolean(v, field)
		}
	})
	r.Disabled = !enabled
	if n.Kind != yaml.MappingNode || len(d.errs) != before {
		return r, false
	}
	if listNode == nil {
		d.errf(n, path+".filter_list", "missing filter list")
	}
	if actionNode == nil {
		d.errf(n, path+".filter_action", "missing filter action")
	}
	if len(d.errs) != before {
		return r, false
	}
	if r.Name == "" {
		r.Name = r.Filters.Name
	}
	if len(r.Filters.Filters) == 0 {
		d.errf(listNode, path+".filter_list", "filter list %q has no filters, so the rule can never match", r.Filters.Name)
	}
	if r.Action.Action == ActionProtect && len(r.Auth) == 0 {
		d.errf(firstNonNil(authNode, n), path+".authentication", "negotiate needs at least one authentication method")
	}
	if r.Tunnel.IsValid() && r.Action.Action != ActionProtect {
		d.errf(tunnelNode, path+".tunnel", "a tunnel endpoint contradicts filter action %q (%s)", r.Action.Name, r.Action.Action)
	}
	if r.Tunnel.IsValid() {
		for i := range r.Filters.Filters {
			if r.Filters.Filters[i].Mirrored {
				d.errf(tunnelNode, path+".tunnel", "filter list %q, filter %d: %v", r.Filters.Name, i+1, errMirroredTunnel)
				break
			}
		}
	}
	if t := r.TunnelLocal; t.IsValid() && (!r.Tunnel.IsValid() || t.Is4() != r.Tunnel.Is4()) {
		d.errf(tlNode, path+".tunnel_local", "local tunnel endpoint %s needs a tunnel endpoint of the same address family", t)
	}
	if r.Action.Action != ActionProtect && negNode != nil {
		d.errf(negNode, negField, "identities and key exchange settings contradict filter action %q (%s): nothing is negotiated", r.Action.Name, r.Action.Action)
	}
	if r.Action.Action != ActionProtect && authNode != nil && len(r.Auth) > 0 {
		d.errf(authNode, path+".authentication", "authentication methods contradict filter action %q (%s): nothing is negotiated", r.Action.Name, r.Action.Action)
	}
	return r, len(d.errs) == before
}

func (d *decoder) defaultResponse(n *yaml.Node, path string) *Rule {
	r := &Rule{Name: "<Dynamic> default response", Action: FilterAction{Name: "Default Response", Action: ActionProtect}}
	enabled := true
	var methodsNode, authNode *yaml.Node
	d.fields(n, path, []string{"enabled", "security_methods", "pfs", "authentication"}, func(k string, v *yaml.Node, field string) {
		switch k {
		case "enabled":
			enabled = d.boolean(v, field)
		case "security_methods":
			methodsNode = v
			r.Action.Methods = d.methods(v, field)
		case "pfs":
			r.Action.PFS, r.Action.PFSGroup = d.pfs(v, field)
		case "authentication":
			authNode = v
			r.Auth = d.auth(v, field)
		}
	})
	if !enabled {
		return nil
	}
	if methodsNode == nil {
		d.errf(n, path+".security_methods", "the default response rule needs security methods")
	}
	if authNode == nil {
		d.errf(n, path+".authentication", "the default response rule needs authentication methods")
	}
	return r
}

func keys[T any](m map[string]namedNode[T]) string {
	if len(m) == 0 {
		return "none"
	}
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, strconv.Quote(k))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// IsPolicyError reports whether err is, or wraps, a problem in a policy
// file, and returns the first one.
func IsPolicyError(err error) (*PolicyError, bool) {
	var pe *PolicyError
	ok := errors.As(err, &pe)
	return pe, ok
}
