package spd

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

const ikePolicy = `name: IKE settings
default_action: block
key_exchange:
  versions: [ikev2, ikev1]
  lifetime: {minutes: 480, sessions: 10}
  master_key_pfs: true
  methods:
    - {encryption: aes256-gcm16, prf: sha384, group: ecp384}
    - {encryption: aes128-cbc, integrity: sha256, group: high}
filter_lists:
  - name: Branch
    filters:
      - {source: 10.1.0.0/16, destination: 10.2.0.0/16}
  - name: Fragments
    filters:
      - {protocol: udp, source_port: opaque, destination_port: any}
filter_actions:
  - name: Strong
    action: negotiate
    pfs: ecp256
    accept_unsecured: true
    fallback_to_clear: true
    security_methods:
      - esp: {encryption: aes256-gcm16}
        lifetime: {seconds: 3600, kilobytes: 50000}
  - name: Block
    action: block
rules:
  - name: Branch tunnel
    id: branch-1
    filter_list: Branch
    filter_action: Strong
    local_id: fqdn:gw1.example.com
    remote_id: "CN=gw2, O=Example"
    tunnel: 198.51.100.2
    tunnel_local: 198.51.100.1
    key_exchange:
      versions: [ikev1]
      methods:
        - {encryption: 3des, integrity: sha1, group: modp2048}
    authentication:
      - {kerberos: host/gw2.example.com@EXAMPLE.COM}
      - {certificate: CN=Example Root}
      - {preshared_key_ref: branch-psk}
  - filter_list: Fragments
    filter_action: Block
`

func TestParseIKESettings(t *testing.T) {
	p, err := ParsePolicy("ike.yaml", []byte(ikePolicy))
	if err != nil {
		t.Fatal(err)
	}
	k := p.KeyExchange
	if !slices.Equal(k.Versions, []IKEVersion{IKEv2, IKEv1}) || k.Lifetime != 8*time.Hour || k.Sessions != 10 || !k.MasterKeyPFS || len(k.Methods) != 2 {
		t.Fatalf("policy key exchange: %+v", k)
	}
	if m := k.Methods[0]; m != (IKEMethod{Encryption: EncryptionAESGCM16, KeyBits: 256, PRF: PRFSHA384, Group: GroupECP384}) || m.String() != "aes256gcm16-prfsha384-ecp384" {
		t.Errorf("method 1: %+v %s", m, m)
	}
	if m := k.Methods[1]; m != (IKEMethod{Encryption: EncryptionAESCBC, KeyBits: 128, Integrity: IntegritySHA256, Group: GroupMODP2048}) || m.String() != "aes128-sha256-modp2048" {
		t.Errorf("method 2: %+v %s", m, m)
	}
	r := p.Rules[0]
	if r.ID != "branch-1" || r.Identity() != "branch-1" {
		t.Errorf("rule ID %q", r.ID)
	}
	if r.LocalID != (Identity{IDFQDN, "gw1.example.com"}) || r.RemoteID != (Identity{IDDN, "CN=gw2, O=Example"}) {
		t.Errorf("identities %+v %+v", r.LocalID, r.RemoteID)
	}
	if r.Tunnel != netip.MustParseAddr("198.51.100.2") || r.TunnelLocal != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("tunnel %s %s", r.Tunnel, r.TunnelLocal)
	}
	if r.KeyExchange == nil || !slices.Equal(r.KeyExchange.Versions, []IKEVersion{IKEv1}) || r.KeyExchange.Methods[0].String() != "3des-sha1-modp2048" {
		t.Errorf("rule key exchange %+v", r.KeyExchange)
	}
	want := []AuthMethod{
		{Kind: AuthKerberos, Principal: "host/gw2.example.com@EXAMPLE.COM"},
		{Kind: AuthCertificate, RootCA: "CN=Example Root"},
		{Kind: AuthPreSharedKey, PreSharedKeyRef: "branch-psk"},
	}
	if !slices.Equal(r.Auth, want) {
		t.Errorf("auth %+v", r.Auth)
	}
	a := r.Action
	if !a.PFS || a.PFSGroup != GroupECP256 || !a.AcceptUnsecured || !a.FallbackToClear || a.Methods[0].Lifetime != time.Hour || a.Methods[0].LifetimeKB != 50000 {
		t.Errorf("action %+v", a)
	}
	if f := p.Rules[1].Filters.Filters[0]; !f.SourcePort.IsOpaque() || !f.DestinationPort.IsAny() {
		t.Errorf("opaque filter %+v", f)
	}
	// The dump shows the new fields, and hides nothing secret.
	c, err := Compile(p, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.Dump(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Rule Identity           : branch-1", "Rule Identity           : Fragments", "IKE Versions            : IKEV2, IKEV1",
		"MM Method 1             : aes256gcm16-prfsha384-ecp384", "Local Tunnel Endpoint   : 198.51.100.1", "Remote Identity         : dn:CN=gw2, O=Example",
		"QMPFS                 : YES (ecp256)", "preshared_key (ref branch-psk)", "OPAQUE"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("dump lacks %q", s)
		}
	}
	if t.Failed() {
		t.Log(b.String())
	}
}

func TestParseIKEErrors(t *testing.T) {
	const head = "name: t\nfilter_lists:\n  - name: L\n    filters:\n      - source: me\nfilter_actions:\n  - name: P\n    action: permit\n  - name: N\n    action: negotiate\n    security_methods:\n      - esp: {encryption: aes128-gcm16}\n"
	const rule = head + "rules:\n  - filter_list: L\n    filter_action: N\n    authentication: [kerberos]\n"
	for _, tc := range []struct {
		name, yaml   string
		line, column int
		field        string
		msg          string
	}{
		{"unknown version", "key_exchange:\n  versions: [ikev3]\n", 2, 14, "key_exchange.versions[0]", `unknown IKE version "ikev3"`},
		{"version twice", "key_exchange:\n  versions: [ikev2, 2]\n", 2, 21, "key_exchange.versions[1]", "listed twice"},
		{"unknown group", "key_exchange:\n  methods:\n    - {encryption: aes128-cbc, integrity: sha1, group: modp999}\n", 3, 56, "key_exchange.methods[0].group", `unknown key exchange group "modp999"`},
		{"ike aead without prf", "key_exchange:\n  methods:\n    - {encryption: aes128-gcm16, group: ecp256}\n", 3, 7, "key_exchange.methods[0]", "needs a prf"},
		{"ike without group", "key_exchange:\n  methods:\n    - {encryption: aes128-cbc, integrity: sha1}\n", 3, 7, "key_exchange.methods[0]", "without a key exchange group"},
		{"ike null", "key_exchange:\n  methods:\n    - {encryption: null, integrity: sha1, group: ecp256}\n", 3, 7, "key_exchange.methods[0]", "IKE needs encryption"},
		{"unknown prf", "key_exchange:\n  methods:\n    - {encryption: aes128-cbc, integrity: sha1, prf: crc, group: ecp256}\n", 3, 54, "key_exchange.methods[0].prf", `unknown prf "crc"`},
		{"ike lifetime", "key_exchange:\n  lifetime: {hours: 8}\n", 2, 14, "key_exchange.lifetime.hours", "unknown field"},
		{"bad pfs", "filter_actions:\n  - name: A\n    action: negotiate\n    pfs: sometimes\n    security_methods:\n      - ah: sha1\n", 4, 10, "filter_actions[0].pfs", "expected true, false or a key exchange group"},
		{"pfs group on permit", "filter_actions:\n  - name: A\n    action: permit\n    pfs: modp2048\n", 2, 5, "filter_actions[0].pfs", "contradicts action BYPASS"},
		{"bad local id", rule + "    local_id: \"ipv4:2001:db8::1\"\n", 17, 15, "rules[0].local_id", "not an IPv4 address"},
		{"bad remote id", rule + "    remote_id: email:nobody\n", 17, 16, "rules[0].remote_id", "not an e-mail address"},
		{"bad dn", rule + "    remote_id: \"CN=x, junk\"\n", 17, 16, "rules[0].remote_id", "not a distinguished name"},
		{"bad fqdn", rule + "    remote_id: \"fqdn:gw example\"\n", 17, 16, "rules[0].remote_id", "not a host name"},
		{"empty id", rule + "    id: \"\"\n", 17, 9, "rules[0].id", "empty rule ID"},
		{"duplicate id", rule + "    id: X\n  - name: Two\n    filter_list: L\n    filter_action: P\n    id: X\n", 18, 5, "rules[1].id", `duplicate rule ID "X" (first at line 14`},
		{"id is another rule's name", rule + "    id: Other\n  - name: Other\n    filter_list: L\n    filter_action: P\n", 18, 5, "rules[1].id", `duplicate rule ID "Other"`},
		{"tunnel_local without tunnel", rule + "    tunnel_local: 192.0.2.1\n", 17, 19, "rules[0].tunnel_local", "needs a tunnel endpoint"},
		{"tunnel_local family", rule + "    tunnel: 192.0.2.9\n    tunnel_local: 2001:db8::1\n", 18, 19, "rules[0].tunnel_local", "same address family"},
		{"bad tunnel_local", rule + "    tunnel: 192.0.2.9\n    tunnel_local: here\n", 18, 19, "rules[0].tunnel_local", "invalid tunnel endpoint"},
		{"identity on permit", head + "rules:\n  - filter_list: L\n    filter_action: P\n    remote_id: fqdn:peer.example\n", 16, 16, "rules[0].remote_id", "nothing is negotiated"},
		{"key exchange on permit", head + "rules:\n  - filter_list: L\n    filter_action: P\n    key_exchange: {versions: [ikev1]}\n", 16, 19, "rules[0].key_exchange", "nothing is negotiated"},
		{"empty psk ref", rule[:len(rule)-len("[kerberos]\n")] + "[{preshared_key_ref: \"\"}]\n", 16, 42, "rules[0].authentication[0].preshared_key_ref", "empty pre-shared key reference"},
		{"opaque with a port", "filter_lists:\n  - name: A\n    filters:\n      - protocol: udp\n        source_port: opaque\n        destination_port: 53\n", 4, 9, "filter_lists[0].filters[0].protocol", "opaque ports combine only with opaque or any"},
		{"opaque without protocol", "filter_lists:\n  - name: A\n    filters:\n      - source_port: opaque\n", 4, 9, "filter_lists[0].filters[0]", "ports need protocol TCP, UDP or SCTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error does not wrap ErrInvalidPolicy: %v", err)
			}
			pe, ok := IsPolicyError(err)
			if !ok {
				t.Fatalf("not a PolicyError: %T %v", err, err)
			}
			if pe.File != "bad.yaml" || pe.Line != tc.line || pe.Column != tc.column || pe.Field != tc.field || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("got %s (line %d column %d field %q), want %d:%d field %q message containing %q", pe, pe.Line, pe.Column, pe.Field, tc.line, tc.column, tc.field, tc.msg)
			}
		})
	}
}

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Identity
	}{
		{"", Identity{}},
		{"192.0.2.1", Identity{IDIPv4, "192.0.2.1"}},
		{"2001:db8::1", Identity{IDIPv6, "2001:db8::1"}},
		{"gw.example.com", Identity{IDFQDN, "gw.example.com"}},
		{"@gw.example.com", Identity{IDFQDN, "gw.example.com"}},
		{"alice@example.com", Identity{IDRFC822, "alice@example.com"}},
		{"CN=gw, O=Example", Identity{IDDN, "CN=gw, O=Example"}},
		{"keyid:0123", Identity{IDKeyID, "0123"}},
		{"DN: CN=x", Identity{IDDN, "CN=x"}},
	} {
		got, err := ParseIdentity(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseIdentity(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, err := ParseIdentity(got.String()); err != nil || again != got {
			t.Errorf("%q does not round-trip through %q: %+v %v", tc.in, got.String(), again, err)
		}
	}
}

// TestRuleIdentity: IDs are stable (the same content gives the same ID,
// across Compile and copies), distinct for different content, and
// carried in lookup results, the default rule's too.
func TestRuleIdentity(t *testing.T) {
	mk := func(port uint16) Rule {
		return Rule{Action: FilterAction{Action: ActionDiscard}, Filters: FilterList{Filters: []Filter{{Protocol: ProtocolTCP, DestinationPort: Port(port)}}}}
	}
	a, a2, b := mk(80), mk(80), mk(81)
	if a.Identity() != a2.Identity() || a.Identity() == b.Identity() || !strings.HasPrefix(a.Identity(), "sha256:") {
		t.Fatalf("ids %q %q %q", a.Identity(), a2.Identity(), b.Identity())
	}
	named := mk(80)
	named.Name = "web"
	p := &Policy{Rules: []Rule{a, b, named}, Default: FilterAction{Action: ActionDiscard}}
	c, err := Compile(p, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := Selector{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Protocol: ProtocolTCP, DstPort: 81}
	if m := c.Lookup(s, DirOutbound); m.Rule.ID != b.Identity() {
		t.Errorf("lookup rule ID %q, want %q", m.Rule.ID, b.Identity())
	}
	s.DstPort = 82
	if m := c.Lookup(s, DirOutbound); !m.Default || m.Rule.ID != "<default>" {
		t.Errorf("default rule ID %q", m.Rule.ID)
	}
	if got := c.Policy().Rules[2].ID; got != "web" {
		t.Errorf("named rule ID %q", got)
	}
	// Two unnamed rules with the same content have the same ID: refused.
	if _, err := Compile(&Policy{Rules: []Rule{a, a2}}, CompileOptions{}); err == nil || !strings.Contains(err.Error(), "duplicate rule ID") {
		t.Errorf("duplicate content: %v", err)
	}
}
