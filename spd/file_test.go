package spd

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

const fullPolicy = `name: Branch office
description: every feature of the file format
default_action: block
polling_interval: 15
filter_lists:
  - name: Web servers
    filters:
      - source: me
        destination: 192.0.2.0/255.255.255.0
        protocol: tcp
        destination_port: 443
        source_port: 1024-65535
        mirrored: yes
      - source: me
        destination: 2001:db8::10-2001:db8::1f
        protocol: TCP
        destination_port: "80"
        direction: outbound
  - name: Pings
    filters:
      - source: any
        destination: me
        protocol: icmp
        icmp_type: 8
        icmp_code: 0
        direction: inbound
  - name: Branch
    filters:
      - source: 10.1.0.0/16
        destination: 10.2.0.0/16
filter_actions:
  - name: Strong
    action: protect
    pfs: true
    security_methods:
      - esp: {encryption: aes256-gcm16}
        lifetime: {seconds: 28800, kilobytes: 4000000}
      - esp: {encryption: aes128-cbc, integrity: sha256}
        ah: sha256
  - name: Allow
    action: bypass
rules:
  - name: Web
    filter_list: Web servers
    filter_action: Strong
    priority: 5
    authentication:
      - certificate: CN=Example Root CA
      - preshared_key: s3cret
      - kerberos
  - filter_list: Pings
    filter_action: Allow
    enabled: false
  - name: Branch tunnel
    filter_list: Branch
    filter_action: Strong
    tunnel: 198.51.100.1
    authentication: [kerberos]
default_response_rule:
  enabled: false
`

func TestParseFullPolicy(t *testing.T) {
	p, err := ParsePolicy("full.yaml", []byte(fullPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Branch office" || p.Default.Action != ActionDiscard || p.PollingInterval != 15*time.Minute || p.DefaultResponse != nil {
		t.Fatalf("policy header: %+v", p)
	}
	if len(p.Rules) != 3 {
		t.Fatalf("%d rules", len(p.Rules))
	}
	web := p.Rules[0]
	f0 := web.Filters.Filters[0]
	if f0.Source.Kind != AddrMe || f0.Destination.Prefix != netip.MustParsePrefix("192.0.2.0/24") ||
		f0.Protocol != ProtocolTCP || f0.DestinationPort != Port(443) || f0.SourcePort != PortSpan(1024, 65535) || !f0.Mirrored {
		t.Errorf("filter 0: %+v", f0)
	}
	f1 := web.Filters.Filters[1]
	if f1.Destination != RangeAddr(netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::1f")) || f1.Direction != DirOutbound || f1.DestinationPort != Port(80) {
		t.Errorf("filter 1: %+v", f1)
	}
	a := web.Action
	if a.Action != ActionProtect || !a.PFS || len(a.Methods) != 2 {
		t.Fatalf("action: %+v", a)
	}
	if m := a.Methods[0]; !m.UseESP || m.UseAH || m.ESPEncryption != EncryptionAESGCM16 || m.ESPKeyBits != 256 || m.Lifetime != 8*time.Hour || m.LifetimeKB != 4000000 {
		t.Errorf("method 0: %+v", m)
	}
	if m := a.Methods[1]; !m.UseESP || !m.UseAH || m.AHIntegrity != IntegritySHA256 || m.ESPIntegrity != IntegritySHA256 || m.Lifetime != DefaultLifetime || m.LifetimeKB != DefaultLifetimeKB {
		t.Errorf("method 1: %+v", m)
	}
	if web.Tunnel.IsValid() || web.Priority != 5 || len(web.Auth) != 3 ||
		web.Auth[0] != (AuthMethod{Kind: AuthCertificate, RootCA: "CN=Example Root CA"}) || web.Auth[1].PreSharedKey != "s3cret" || web.Auth[2].Kind != AuthKerberos {
		t.Errorf("rule: %+v", web)
	}
	pings := p.Rules[1]
	if pings.Name != "Pings" || !pings.Disabled || pings.Filters.Filters[0].ICMP != ICMPTypeCode(8, 0) {
		t.Errorf("pings rule: %+v", pings)
	}
	if br := p.Rules[2]; br.Tunnel != netip.MustParseAddr("198.51.100.1") || !br.TunnelMode() {
		t.Errorf("branch rule: %+v", br)
	}
}

// TestParseErrors checks that each mistake is reported with its line,
// its field and what is wrong.
func TestParseErrors(t *testing.T) {
	const head = "name: t\nfilter_lists:\n  - name: L\n    filters:\n      - source: me\nfilter_actions:\n  - name: P\n    action: permit\n  - name: N\n    action: negotiate\n    security_methods:\n      - esp: {encryption: aes128-gcm16}\n"
	for _, tc := range []struct {
		name, yaml string
		line       int
		field      string
		msg        string
	}{
		{"syntax", "name: [unclosed\n", 0, "", "did not find expected"},
		{"not a mapping", "- a\n", 1, "", "expected a mapping"},
		{"unknown top field", "nmae: x\n", 1, "nmae", "unknown field"},
		{"unknown algorithm", "filter_actions:\n  - name: X\n    action: negotiate\n    security_methods:\n      - esp: {encryption: rot13}\n", 5, "filter_actions[0].security_methods[0].esp.encryption", `unknown ESP encryption algorithm "rot13"`},
		{"unknown integrity", "filter_actions:\n  - name: X\n    action: negotiate\n    security_methods:\n      - ah: crc32\n", 5, "filter_actions[0].security_methods[0].ah", `unknown integrity algorithm "crc32"`},
		{"aead with integrity", "filter_actions:\n  - name: X\n    action: negotiate\n    security_methods:\n      - esp: {encryption: aes128-gcm16, integrity: sha1}\n", 5, "filter_actions[0].security_methods[0]", "AEAD"},
		{"esp null null", "filter_actions:\n  - name: X\n    action: negotiate\n    security_methods:\n      - esp: {encryption: none, integrity: none}\n", 5, "filter_actions[0].security_methods[0]", "neither encryption nor integrity"},
		{"ah none", "filter_actions:\n  - name: X\n    action: negotiate\n    security_methods:\n      - ah: none\n", 5, "filter_actions[0].security_methods[0]", "AH needs an integrity"},
		{"duplicate list", "filter_lists:\n  - name: A\n    filters: [{}]\n  - name: A\n    filters: [{}]\n", 4, "filter_lists[1].name", `duplicate filter list name "A" (first at line 2)`},
		{"duplicate action", "filter_actions:\n  - name: A\n    action: permit\n  - name: A\n    action: block\n", 4, "filter_actions[1].name", "duplicate filter action name"},
		{"duplicate rule", head + "rules:\n  - filter_list: L\n    filter_action: P\n  - name: L\n    filter_list: L\n    filter_action: P\n", 16, "rules[1].name", `duplicate rule name "L"`},
		{"family mismatch", "filter_lists:\n  - name: A\n    filters:\n      - source: 192.0.2.1\n        destination: 2001:db8::1\n", 4, "filter_lists[0].filters[0]", "never match: source 192.0.2.1 is IPv4 but destination 2001:db8::1 is IPv6"},
		{"ports without protocol", "filter_lists:\n  - name: A\n    filters:\n      - destination_port: 80\n", 4, "filter_lists[0].filters[0]", "ports need protocol TCP, UDP or SCTP"},
		{"ports on icmp", "filter_lists:\n  - name: A\n    filters:\n      - protocol: icmp\n        destination_port: 80\n", 4, "filter_lists[0].filters[0].protocol", "ports need protocol"},
		{"icmp type on tcp", "filter_lists:\n  - name: A\n    filters:\n      - protocol: tcp\n        icmp_type: 8\n", 4, "filter_lists[0].filters[0].protocol", "ICMP type and code need protocol ICMP"},
		{"icmp on v6", "filter_lists:\n  - name: A\n    filters:\n      - protocol: icmp\n        icmp_type: 128\n        source: 2001:db8::1\n", 4, "filter_lists[0].filters[0].protocol", "ICMP with IPv6 addresses"},
		{"empty port range", "filter_lists:\n  - name: A\n    filters:\n      - protocol: tcp\n        source_port: 90-80\n", 5, "filter_lists[0].filters[0].source_port", "empty"},
		{"empty address range", "filter_lists:\n  - name: A\n    filters:\n      - source: 10.0.0.9-10.0.0.1\n", 4, "filter_lists[0].filters[0].source", "empty"},
		{"host bits", "filter_lists:\n  - name: A\n    filters:\n      - source: 10.0.0.1/8\n", 4, "filter_lists[0].filters[0].source", "did you mean 10.0.0.0/8"},
		{"bad mask", "filter_lists:\n  - name: A\n    filters:\n      - source: 10.0.0.0/255.0.255.0\n", 4, "filter_lists[0].filters[0].source", "not contiguous"},
		{"unknown protocol", "filter_lists:\n  - name: A\n    filters:\n      - protocol: tcpp\n", 4, "filter_lists[0].filters[0].protocol", `unknown protocol "tcpp"`},
		{"icmp code without type", "filter_lists:\n  - name: A\n    filters:\n      - protocol: icmp\n        icmp_code: 1\n", 4, "filter_lists[0].filters[0].icmp_code", "needs an icmp_type"},
		{"unknown action", "filter_actions:\n  - name: A\n    action: allow\n", 3, "filter_actions[0].action", `unknown action "allow"`},
		{"methods on permit", "filter_actions:\n  - name: A\n    action: permit\n    security_methods:\n      - ah: sha1\n", 5, "filter_actions[0].security_methods", "contradict action BYPASS"},
		{"accept unsecured on block", "filter_actions:\n  - name: A\n    action: block\n    accept_unsecured: true\n", 2, "filter_actions[0].accept_unsecured", "contradicts action DISCARD"},
		{"negotiate without methods", "filter_actions:\n  - name: A\n    action: negotiate\n", 2, "filter_actions[0].security_methods", "at least one security method"},
		{"missing list", head + "rules:\n  - filter_list: Nope\n    filter_action: P\n", 14, "rules[0].filter_list", `no filter list named "Nope" (defined: "L")`},
		{"missing action", head + "rules:\n  - filter_list: L\n    filter_action: Nope\n", 15, "rules[0].filter_action", `no filter action named "Nope"`},
		{"negotiate without auth", head + "rules:\n  - filter_list: L\n    filter_action: N\n", 14, "rules[0].authentication", "at least one authentication method"},
		{"tunnel on permit", head + "rules:\n  - filter_list: L\n    filter_action: P\n    tunnel: 192.0.2.1\n", 16, "rules[0].tunnel", "contradicts filter action"},
		{"auth on permit", head + "rules:\n  - filter_list: L\n    filter_action: P\n    authentication: [kerberos]\n", 16, "rules[0].authentication", "nothing is negotiated"},
		{"bad tunnel", head + "rules:\n  - filter_list: L\n    filter_action: N\n    authentication: [kerberos]\n    tunnel: gateway\n", 17, "rules[0].tunnel", "invalid tunnel endpoint"},
		{"mirrored tunnel", strings.Replace(head, "source: me\n", "source: me\n        mirrored: true\n", 1) + "rules:\n  - filter_list: L\n    filter_action: N\n    authentication: [kerberos]\n    tunnel: 192.0.2.9\n", 18, "rules[0].tunnel", `filter list "L", filter 1: a tunnel rule cannot use mirrored filters`},
		{"unknown auth", head + "rules:\n  - filter_list: L\n    filter_action: N\n    authentication: [ntlm]\n", 16, "rules[0].authentication[0]", `unknown authentication method "ntlm"`},
		{"certificate without CA", head + "rules:\n  - filter_list: L\n    filter_action: N\n    authentication: [{certificate: \"\"}]\n", 16, "rules[0].authentication[0].certificate", "trusted root CA"},
		{"priority zero", head + "rules:\n  - filter_list: L\n    filter_action: P\n    priority: 0\n", 16, "rules[0].priority", "starts at 1"},
		{"empty filter list", "filter_lists:\n  - name: E\n    filters: []\nfilter_actions:\n  - name: P\n    action: permit\nrules:\n  - filter_list: E\n    filter_action: P\n", 8, "rules[0].filter_list", "can never match"},
		{"default negotiate", "default_action: negotiate\n", 1, "default_action", "only permit or block"},
		{"bad bool", "filter_lists:\n  - name: A\n    filters:\n      - mirrored: maybe\n", 4, "filter_lists[0].filters[0].mirrored", "true or false"},
		{"repeated key", "name: a\nname: b\n", 2, "name", "repeated field"},
		{"alias", "filter_lists:\n  - &x {name: A, filters: [{}]}\n  - *x\n", 3, "", "aliases"},
		{"bad interval", "polling_interval: soon\n", 1, "polling_interval", "positive duration"},
		{"default response without methods", "default_response_rule:\n  authentication: [kerberos]\n", 2, "default_response_rule.security_methods", "needs security methods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if p != nil {
				t.Error("returned a policy with an error")
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error does not wrap ErrInvalidPolicy: %v", err)
			}
			pe, ok := IsPolicyError(err)
			if !ok {
				t.Fatalf("not a PolicyError: %T %v", err, err)
			}
			if pe.File != "bad.yaml" || pe.Line != tc.line || pe.Field != tc.field || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("got %s (line %d field %q), want line %d field %q message containing %q", pe, pe.Line, pe.Field, tc.line, tc.field, tc.msg)
			}
		})
	}
}

func TestParseErrorsAreAllReported(t *testing.T) {
	_, err := ParsePolicy("two.yaml", []byte("nme: a\nfilter_actions:\n  - name: A\n    action: nope\n"))
	var es PolicyErrors
	if !errors.As(err, &es) || len(es) != 2 || es[0].Line != 1 || es[1].Line != 4 {
		t.Fatalf("got %v", err)
	}
	if got := es.Error(); !strings.Contains(got, "two.yaml:1:1: nme: unknown field") || !strings.Contains(got, "two.yaml:4:13: filter_actions[0].action") {
		t.Errorf("message: %s", got)
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Address
	}{
		{"any", AnyAddr()},
		{"Me", MyAddr()},
		{"192.0.2.1", HostAddr(netip.MustParseAddr("192.0.2.1"))},
		{"::ffff:192.0.2.1", HostAddr(netip.MustParseAddr("192.0.2.1"))},
		{"2001:db8::/32", SubnetAddr(netip.MustParsePrefix("2001:db8::/32"))},
		{"10.0.0.0/255.0.0.0", SubnetAddr(netip.MustParsePrefix("10.0.0.0/8"))},
		{"10.0.0.1 - 10.0.0.5", RangeAddr(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.5"))},
	} {
		got, err := ParseAddress(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAddress(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.want.Kind != AddrHost || tc.in == tc.want.String() {
			if again, err := ParseAddress(got.String()); err != nil || again != got {
				t.Errorf("round trip of %v: %v, %v", got, again, err)
			}
		}
	}
	for _, bad := range []string{"", "10.0.0.256", "10.0.0.0/33", "10.0.0.0/ff", "fe80::1%eth0", "10.0.0.1-2001:db8::1", "1-2"} {
		if a, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) = %v, want error", bad, a)
		}
	}
}

// TestSitePolicy parses testdata/site.yaml, the example program's input.
func TestSitePolicy(t *testing.T) {
	data, err := os.ReadFile("testdata/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy("testdata/site.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(p, CompileOptions{LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    Selector
		dir  Direction
		rule string
	}{
		{Selector{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.11"), Protocol: ProtocolTCP, SrcPort: 50000, DstPort: 445}, DirOutbound, "File servers"},
		{Selector{Src: netip.MustParseAddr("203.0.113.5"), Dst: netip.MustParseAddr("192.0.2.1"), Protocol: ProtocolTCP, DstPort: 23}, DirInbound, "No telnet"},
		{Selector{Src: netip.MustParseAddr("10.1.2.3"), Dst: netip.MustParseAddr("10.2.3.4"), Protocol: ProtocolUDP}, DirOutbound, "Branch tunnel out"},
		{Selector{Src: netip.MustParseAddr("10.2.3.4"), Dst: netip.MustParseAddr("10.1.2.3"), Protocol: ProtocolUDP}, DirInbound, "Branch tunnel in"},
		{Selector{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.9"), Protocol: ProtocolICMP, ICMPType: 8}, DirOutbound, "Ping"},
	} {
		if m := c.Lookup(tc.s, tc.dir); m.Rule.Name != tc.rule {
			t.Errorf("%+v: rule %q, want %q", tc.s, m.Rule.Name, tc.rule)
		}
	}
}
