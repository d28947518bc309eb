package spd

import (
	"net/netip"
	"testing"
)

// TestDefaultPolicies parses Windows' three default policies and checks
// the behaviour each is documented to have.
func TestDefaultPolicies(t *testing.T) {
	me := netip.MustParseAddr("192.0.2.10")
	peer := netip.MustParseAddr("198.51.100.7")
	tcp := Selector{Src: me, Dst: peer, Protocol: ProtocolTCP, SrcPort: 49152, DstPort: 445}
	ping := Selector{Src: peer, Dst: me, Protocol: ProtocolICMP, ICMPType: 8}
	for _, tc := range []struct {
		name               string
		tcpRule, pingRule  string
		tcpAction          Action
		accept, fallback   bool
		defaultResponseSet bool
	}{
		{"Client (Respond Only)", "<default>", "<default>", ActionBypass, false, false, true},
		{"Server (Request Security)", "All IP Traffic", "All ICMP Traffic", ActionProtect, true, true, true},
		{"Secure Server (Require Security)", "All IP Traffic", "All ICMP Traffic", ActionProtect, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DefaultPolicy(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tc.name {
				t.Errorf("name %q", p.Name)
			}
			c, err := Compile(p, CompileOptions{LocalAddrs: []netip.Addr{me}})
			if err != nil {
				t.Fatal(err)
			}
			m := c.Lookup(tcp, DirOutbound)
			if m.Rule.Name != tc.tcpRule || m.Rule.Action.Action != tc.tcpAction {
				t.Errorf("TCP: rule %q action %s, want %q %s", m.Rule.Name, m.Rule.Action.Action, tc.tcpRule, tc.tcpAction)
			}
			if m.Rule.Action.AcceptUnsecured != tc.accept || m.Rule.Action.FallbackToClear != tc.fallback {
				t.Errorf("TCP: accept_unsecured %v fallback %v", m.Rule.Action.AcceptUnsecured, m.Rule.Action.FallbackToClear)
			}
			// The ICMP rule is more specific (protocol named) than All IP
			// Traffic and matches inbound echo requests via its mirror.
			m = c.Lookup(ping, DirInbound)
			if m.Rule.Name != tc.pingRule {
				t.Errorf("ping: rule %q, want %q", m.Rule.Name, tc.pingRule)
			}
			if tc.pingRule != "<default>" && (!m.Mirrored || m.Rule.Action.Action != ActionBypass) {
				t.Errorf("ping: mirrored %v action %s", m.Mirrored, m.Rule.Action.Action)
			}
			if (c.DefaultResponse() != nil) != tc.defaultResponseSet {
				t.Errorf("default response rule present: %v", c.DefaultResponse() != nil)
			}
			if dr := c.DefaultResponse(); dr != nil && (len(dr.Auth) != 1 || dr.Auth[0].Kind != AuthKerberos) {
				t.Errorf("default response auth %v", dr.Auth)
			}
			// Traffic between two other hosts is not "me": default rule.
			other := Selector{Src: peer, Dst: peer.Next(), Protocol: ProtocolUDP}
			if m := c.Lookup(other, DirOutbound); !m.Default {
				t.Errorf("foreign traffic matched %q", m.Rule.Name)
			}
		})
	}
	if _, err := DefaultPolicy("Nope"); err == nil {
		t.Error("unknown default policy accepted")
	}
}
