package spd

import (
	"net/netip"
	"testing"
)

var (
	a4   = netip.MustParseAddr
	pfx  = netip.MustParsePrefix
	kerb = []AuthMethod{{Kind: AuthKerberos}}
)

func permitRule(name string, fs ...Filter) Rule {
	return Rule{Name: name, Action: FilterAction{Name: "Permit", Action: ActionBypass}, Filters: FilterList{Name: name, Filters: fs}}
}

func blockRule(name string, fs ...Filter) Rule {
	return Rule{Name: name, Action: FilterAction{Name: "Block", Action: ActionDiscard}, Filters: FilterList{Name: name, Filters: fs}}
}

func protectRule(name string, fs ...Filter) Rule {
	return Rule{Name: name, Action: protectAction, Auth: kerb, Filters: FilterList{Name: name, Filters: fs}}
}

// TestLookupOrder is a table of hand-worked answers for the order defined
// in doc.go, one row per step of the order and per selector kind.
func TestLookupOrder(t *testing.T) {
	me := a4("192.0.2.1")
	me6 := a4("2001:db8::1")
	tcp := func(src, dst string, sp, dp uint16) Selector {
		return Selector{Src: a4(src), Dst: a4(dst), Protocol: ProtocolTCP, SrcPort: sp, DstPort: dp}
	}
	for _, tc := range []struct {
		name  string
		rules []Rule
		def   Action
		sel   Selector
		dir   Direction
		want  string // rule name, "" for the default rule
		mirr  bool
	}{
		{"no rules: default permit", nil, 0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "", false},
		{"subnet beats any",
			[]Rule{blockRule("any", Filter{}), permitRule("subnet", Filter{Destination: SubnetAddr(pfx("198.51.100.0/24"))})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "subnet", false},
		{"host beats subnet",
			[]Rule{permitRule("subnet", Filter{Destination: SubnetAddr(pfx("198.51.100.0/24"))}), blockRule("host", Filter{Destination: HostAddr(a4("198.51.100.1"))})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "host", false},
		{"longer prefix beats shorter",
			[]Rule{permitRule("/16", Filter{Destination: SubnetAddr(pfx("198.51.0.0/16"))}), blockRule("/25", Filter{Destination: SubnetAddr(pfx("198.51.100.0/25"))})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "/25", false},
		{"range of 3 (weight 126) beats /24 (120)",
			[]Rule{permitRule("/24", Filter{Destination: SubnetAddr(pfx("198.51.100.0/24"))}), blockRule("range", Filter{Destination: RangeAddr(a4("198.51.100.1"), a4("198.51.100.3"))})},
			0, tcp("192.0.2.1", "198.51.100.2", 1, 2), DirOutbound, "range", false},
		{"address weight is summed over source and destination",
			[]Rule{permitRule("dst host", Filter{Destination: HostAddr(a4("198.51.100.1"))}), blockRule("both /24", Filter{Source: SubnetAddr(pfx("192.0.2.0/24")), Destination: SubnetAddr(pfx("198.51.100.0/24"))})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "both /24", false},
		{"protocol beats any protocol at equal address weight",
			[]Rule{blockRule("any proto", Filter{Destination: HostAddr(a4("198.51.100.1"))}), permitRule("tcp", Filter{Destination: HostAddr(a4("198.51.100.1")), Protocol: ProtocolTCP})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "tcp", false},
		{"port beats no port",
			[]Rule{blockRule("tcp", Filter{Protocol: ProtocolTCP}), permitRule("tcp/443", Filter{Protocol: ProtocolTCP, DestinationPort: Port(443)})},
			0, tcp("192.0.2.1", "198.51.100.1", 5000, 443), DirOutbound, "tcp/443", false},
		{"narrow port range beats wide",
			[]Rule{blockRule("wide", Filter{Protocol: ProtocolUDP, DestinationPort: PortSpan(1024, 65535)}), permitRule("narrow", Filter{Protocol: ProtocolUDP, DestinationPort: PortSpan(5000, 5010)})},
			0, Selector{Src: me, Dst: a4("198.51.100.1"), Protocol: ProtocolUDP, DstPort: 5005}, DirOutbound, "narrow", false},
		{"address weight outranks port weight",
			[]Rule{blockRule("host", Filter{Destination: HostAddr(a4("198.51.100.1"))}), permitRule("tcp/443", Filter{Protocol: ProtocolTCP, DestinationPort: Port(443), SourcePort: Port(5000)})},
			0, tcp("192.0.2.1", "198.51.100.1", 5000, 443), DirOutbound, "host", false},
		{"equal filters: block beats negotiate beats permit",
			[]Rule{permitRule("permit", Filter{}), protectRule("negotiate", Filter{}), blockRule("block", Filter{})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "block", false},
		{"equal filters, equal action: first rule",
			[]Rule{permitRule("first", Filter{}), permitRule("second", Filter{})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "first", false},
		{"explicit priority beats specificity",
			[]Rule{blockRule("host", Filter{Destination: HostAddr(a4("198.51.100.1"))}), func() Rule { r := permitRule("any, priority 9", Filter{}); r.Priority = 9; return r }()},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "any, priority 9", false},
		{"lower priority value first",
			[]Rule{func() Rule { r := permitRule("p9", Filter{}); r.Priority = 9; return r }(), func() Rule { r := blockRule("p2", Filter{}); r.Priority = 2; return r }()},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "p2", false},
		{"domain beats local priority",
			[]Rule{func() Rule { r := permitRule("local p1", Filter{}); r.Priority = 1; return r }(), func() Rule { r := blockRule("domain", Filter{}); r.Origin = OriginDomain; return r }()},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "domain", false},
		{"me matches this host",
			[]Rule{blockRule("me->any", Filter{Source: MyAddr()})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "me->any", false},
		{"me does not match another host",
			[]Rule{blockRule("me->any", Filter{Source: MyAddr()})},
			0, tcp("192.0.2.2", "198.51.100.1", 1, 2), DirOutbound, "", false},
		{"me resolves to every address, IPv6 too",
			[]Rule{blockRule("me->any", Filter{Source: MyAddr()})},
			0, Selector{Src: me6, Dst: a4("2001:db8::99"), Protocol: ProtocolUDP}, DirOutbound, "me->any", false},
		{"not mirrored: reply does not match",
			[]Rule{blockRule("me->web", Filter{Source: MyAddr(), Protocol: ProtocolTCP, DestinationPort: Port(80)})},
			0, tcp("198.51.100.1", "192.0.2.1", 80, 5000), DirInbound, "", false},
		{"mirrored: reply matches with ports swapped",
			[]Rule{blockRule("me->web", Filter{Source: MyAddr(), Protocol: ProtocolTCP, DestinationPort: Port(80), Mirrored: true})},
			0, tcp("198.51.100.1", "192.0.2.1", 80, 5000), DirInbound, "me->web", true},
		{"mirrored: unswapped ports do not match the mirror",
			[]Rule{blockRule("me->web", Filter{Source: MyAddr(), Protocol: ProtocolTCP, DestinationPort: Port(80), Mirrored: true})},
			0, tcp("198.51.100.1", "192.0.2.1", 5000, 80), DirInbound, "", false},
		{"outbound-only filter ignores inbound packets",
			[]Rule{blockRule("out", Filter{Direction: DirOutbound})},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirInbound, "", false},
		{"mirror of an outbound filter is inbound",
			[]Rule{blockRule("out", Filter{Source: MyAddr(), Direction: DirOutbound, Mirrored: true})},
			0, tcp("198.51.100.1", "192.0.2.1", 1, 2), DirInbound, "out", true},
		{"mirror of an outbound filter does not match outbound",
			[]Rule{blockRule("out", Filter{Source: MyAddr(), Direction: DirOutbound, Mirrored: true})},
			0, tcp("198.51.100.1", "192.0.2.1", 1, 2), DirOutbound, "", false},
		{"ICMP type and code",
			[]Rule{blockRule("icmp", Filter{Protocol: ProtocolICMP}), permitRule("echo", Filter{Protocol: ProtocolICMP, ICMP: ICMPTypeCode(8, 0)})},
			0, Selector{Src: me, Dst: a4("198.51.100.1"), Protocol: ProtocolICMP, ICMPType: 8}, DirOutbound, "echo", false},
		{"ICMP other type",
			[]Rule{blockRule("icmp", Filter{Protocol: ProtocolICMP}), permitRule("echo", Filter{Protocol: ProtocolICMP, ICMP: ICMPTypeCode(8, 0)})},
			0, Selector{Src: me, Dst: a4("198.51.100.1"), Protocol: ProtocolICMP, ICMPType: 3, ICMPCode: 4}, DirOutbound, "icmp", false},
		{"ports are ignored for protocols without ports",
			[]Rule{blockRule("gre", Filter{Protocol: ProtocolGRE})},
			0, Selector{Src: me, Dst: a4("198.51.100.1"), Protocol: ProtocolGRE, SrcPort: 7, DstPort: 9}, DirOutbound, "gre", false},
		{"SCTP ports",
			[]Rule{blockRule("diameter", Filter{Protocol: ProtocolSCTP, DestinationPort: Port(3868)})},
			0, Selector{Src: me, Dst: a4("198.51.100.1"), Protocol: ProtocolSCTP, DstPort: 3868}, DirOutbound, "diameter", false},
		{"IPv4 filter does not match IPv6",
			[]Rule{blockRule("v4", Filter{Destination: SubnetAddr(pfx("0.0.0.0/0"))})},
			0, Selector{Src: me6, Dst: a4("2001:db8::2"), Protocol: ProtocolTCP}, DirOutbound, "", false},
		{"IPv4-mapped selector is IPv4",
			[]Rule{blockRule("v4", Filter{Destination: SubnetAddr(pfx("198.51.100.0/24"))})},
			0, Selector{Src: a4("::ffff:192.0.2.1"), Dst: a4("::ffff:198.51.100.7"), Protocol: ProtocolTCP}, DirOutbound, "v4", false},
		{"IPv6 range",
			[]Rule{blockRule("v6 range", Filter{Destination: RangeAddr(a4("2001:db8::10"), a4("2001:db8::1:0"))})},
			0, Selector{Src: me6, Dst: a4("2001:db8::ffff"), Protocol: ProtocolTCP}, DirOutbound, "v6 range", false},
		{"disabled rule is skipped",
			[]Rule{func() Rule { r := blockRule("off", Filter{}); r.Disabled = true; return r }()},
			0, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "", false},
		{"default rule can discard",
			[]Rule{permitRule("other", Filter{Destination: HostAddr(a4("203.0.113.1"))})},
			ActionDiscard, tcp("192.0.2.1", "198.51.100.1", 1, 2), DirOutbound, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Policy{Rules: tc.rules, Default: FilterAction{Action: tc.def}}
			c, err := Compile(p, CompileOptions{LocalAddrs: []netip.Addr{me, me6}})
			if err != nil {
				t.Fatal(err)
			}
			m := c.Lookup(tc.sel, tc.dir)
			if tc.want == "" {
				wantAct := tc.def
				if wantAct == 0 {
					wantAct = ActionBypass
				}
				if !m.Default || m.Filter != nil || m.Rule.Action.Action != wantAct {
					t.Fatalf("got rule %q (default %v), want the default rule with %s", m.Rule.Name, m.Default, wantAct)
				}
				return
			}
			if m.Default || m.Rule.Name != tc.want || m.Mirrored != tc.mirr {
				t.Fatalf("got rule %q mirrored %v, want %q mirrored %v", m.Rule.Name, m.Mirrored, tc.want, tc.mirr)
			}
			if want := refLookup(p, tc.sel, tc.dir, []netip.Addr{me, me6}); p.Rules[want.rule].Name != tc.want {
				t.Fatalf("reference model disagrees: %q", p.Rules[want.rule].Name)
			}
		})
	}
}

func TestCompileCopiesPolicy(t *testing.T) {
	p := &Policy{Rules: []Rule{blockRule("r", Filter{Destination: HostAddr(a4("198.51.100.1"))})}}
	c, err := Compile(p, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Rules[0].Name = "changed"
	p.Rules[0].Filters.Filters[0].Destination = AnyAddr()
	m := c.Lookup(Selector{Src: a4("192.0.2.1"), Dst: a4("198.51.100.1")}, DirOutbound)
	if m.Rule.Name != "r" || m.Filter.Destination.Kind != AddrHost {
		t.Fatalf("classifier sees later edits: %q %v", m.Rule.Name, m.Filter.Destination)
	}
}

func TestCompileRejectsInvalid(t *testing.T) {
	for name, p := range map[string]*Policy{
		"no action":         {Rules: []Rule{{Name: "x", Filters: FilterList{Filters: []Filter{{}}}}}},
		"protect no method": {Rules: []Rule{{Name: "x", Action: FilterAction{Action: ActionProtect}, Auth: kerb}}},
		"protect no auth":   {Rules: []Rule{{Name: "x", Action: protectAction}}},
		"duplicate names":   {Rules: []Rule{permitRule("x"), permitRule("x")}},
		"family mismatch":   {Rules: []Rule{permitRule("x", Filter{Source: HostAddr(a4("192.0.2.1")), Destination: HostAddr(a4("2001:db8::1"))})}},
		"tunnel on permit":  {Rules: []Rule{func() Rule { r := permitRule("x"); r.Tunnel = a4("192.0.2.9"); return r }()}},
		"default protect":   {Default: FilterAction{Action: ActionProtect}},
		"psk empty":         {Rules: []Rule{func() Rule { r := protectRule("x"); r.Auth = []AuthMethod{{Kind: AuthPreSharedKey}}; return r }()}},
	} {
		if _, err := Compile(p, CompileOptions{}); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

func TestSPDZeroValue(t *testing.T) {
	var db SPD
	m := db.Lookup(Selector{Src: a4("192.0.2.1"), Dst: a4("198.51.100.1")}, DirOutbound)
	if !m.Default || m.Rule.Action.Action != ActionBypass {
		t.Fatalf("zero SPD: %+v", m)
	}
	c, err := Compile(&Policy{Rules: []Rule{blockRule("all", Filter{})}}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if old := db.Swap(c); old != nil {
		t.Fatal("zero SPD had a classifier")
	}
	if m := db.Lookup(Selector{Src: a4("192.0.2.1"), Dst: a4("198.51.100.1")}, DirOutbound); m.Rule.Name != "all" {
		t.Fatalf("after swap: %q", m.Rule.Name)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	p, local := benchPolicy(1000, 3)
	c, err := Compile(p, CompileOptions{LocalAddrs: local})
	if err != nil {
		t.Fatal(err)
	}
	var db SPD
	db.Swap(c)
	sels := benchSelectors(p, local, 64, 4)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		_ = db.Lookup(sels[i%len(sels)], DirOutbound)
		i++
	}); n != 0 {
		t.Fatalf("%v allocations per lookup", n)
	}
}

func TestSecurityMethodString(t *testing.T) {
	m := SecurityMethod{UseAH: true, AHIntegrity: IntegritySHA1, UseESP: true, ESPEncryption: Encryption3DES, ESPIntegrity: IntegrityNone, Lifetime: 900e9, LifetimeKB: 100000}
	if got, want := m.String(), "AH[sha1]+ESP[3des,none] <900 secs/100000 kb>"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	for _, n := range encryptionNames {
		for _, name := range n.names {
			if e, bits, ok := ParseEncryption(name); !ok || e != n.e || bits != n.bits || e.Name(bits) != n.names[0] {
				t.Errorf("encryption %q does not round-trip", name)
			}
		}
	}
	for _, n := range integrityNames {
		if got, ok := ParseIntegrity(n.i.String()); !ok || got != n.i {
			t.Errorf("integrity %v does not round-trip", n.i)
		}
	}
	// The values are the IANA IKEv2 transform IDs (RFC 7296 section
	// 3.3.2, RFC 4106, RFC 7634), as in esp.Cipher and esp.Integrity
	// (spd imports neither, so the numbers are written out).
	if e, bits, _ := ParseEncryption("aes256-gcm16"); e != 20 || bits != 256 {
		t.Errorf("aes256-gcm16: %d %d", e, bits)
	}
	if e, _, _ := ParseEncryption("chacha20-poly1305"); e != 28 {
		t.Errorf("chacha20-poly1305: %d", e)
	}
	if e, _, _ := ParseEncryption("null"); e != 11 {
		t.Errorf("null: %d", e)
	}
	if IntegritySHA256 != 12 || IntegritySHA1 != 2 || IntegrityNone != 0 {
		t.Error("integrity IDs")
	}
	if ProtocolTCP.String() != "TCP" || Protocol(253).String() != "253" {
		t.Error("protocol names")
	}
}
