package spd_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/ipsecgo/ipsec/spd"
)

// Parse a policy, compile it for this host's address, and look packets
// up in both directions.
func Example() {
	const policy = `
name: Example
filter_lists:
  - name: Web
    filters:
      - {source: me, destination: 198.51.100.0/24, protocol: tcp, destination_port: 443, mirrored: true}
  - name: Telnet
    filters:
      - {source: any, destination: me, protocol: tcp, destination_port: 23, direction: inbound}
filter_actions:
  - name: Require Security
    action: negotiate
    security_methods:
      - esp: {encryption: aes256-gcm16}
  - name: Block
    action: block
rules:
  - {filter_list: Web, filter_action: Require Security, authentication: [kerberos]}
  - {filter_list: Telnet, filter_action: Block}
`
	p, err := spd.ParsePolicy("example.yaml", []byte(policy))
	if err != nil {
		fmt.Println(err)
		return
	}
	me := netip.MustParseAddr("192.0.2.1")
	c, err := spd.Compile(p, spd.CompileOptions{LocalAddrs: []netip.Addr{me}})
	if err != nil {
		fmt.Println(err)
		return
	}
	var db spd.SPD
	db.Swap(c)

	out := spd.Selector{Src: me, Dst: netip.MustParseAddr("198.51.100.7"), Protocol: spd.ProtocolTCP, SrcPort: 50000, DstPort: 443}
	reply := spd.Selector{Src: out.Dst, Dst: me, Protocol: spd.ProtocolTCP, SrcPort: 443, DstPort: 50000}
	telnet := spd.Selector{Src: netip.MustParseAddr("203.0.113.9"), Dst: me, Protocol: spd.ProtocolTCP, SrcPort: 40000, DstPort: 23}
	for _, q := range []struct {
		s   spd.Selector
		dir spd.Direction
	}{{out, spd.DirOutbound}, {reply, spd.DirInbound}, {telnet, spd.DirInbound}, {telnet, spd.DirOutbound}} {
		m := db.Lookup(q.s, q.dir)
		fmt.Printf("%s %s:%d -> %s:%d: %s by %q (mirrored %v)\n", q.dir, q.s.Src, q.s.SrcPort, q.s.Dst, q.s.DstPort, m.Rule.Action.Action, m.Rule.Name, m.Mirrored)
	}
	// Output:
	// outbound 192.0.2.1:50000 -> 198.51.100.7:443: PROTECT (negotiate security) by "Web" (mirrored false)
	// inbound 198.51.100.7:443 -> 192.0.2.1:50000: PROTECT (negotiate security) by "Web" (mirrored true)
	// inbound 203.0.113.9:40000 -> 192.0.2.1:23: DISCARD (block) by "Telnet" (mirrored false)
	// outbound 203.0.113.9:40000 -> 192.0.2.1:23: BYPASS (permit) by "<default>" (mirrored false)
}

// Validation errors name the file, line, column and field.
func ExampleParsePolicy_error() {
	_, err := spd.ParsePolicy("bad.yaml", []byte("filter_actions:\n  - name: Old\n    action: negotiate\n    security_methods:\n      - esp: {encryption: rc4}\n"))
	fmt.Println(err)
	// Output:
	// bad.yaml:5:27: filter_actions[0].security_methods[0].esp.encryption: unknown ESP encryption algorithm "rc4" (known: none, des, 3des, aes128-cbc, aes192-cbc, aes256-cbc, aes128-ctr, aes192-ctr, aes256-ctr, aes128-gcm16, aes192-gcm16, aes256-gcm16, chacha20-poly1305)
}

// The Policy Agent loads a local and a domain policy into an SPD.
func ExampleAgent() {
	dir, err := os.MkdirTemp("", "spd-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	local := filepath.Join(dir, "local.yaml")
	data, _ := spd.DefaultPolicyFile("Secure Server (Require Security)")
	if err := os.WriteFile(local, data, 0o600); err != nil {
		fmt.Println(err)
		return
	}
	var db spd.SPD
	agent, err := spd.NewAgent(&db, spd.AgentConfig{
		LocalFile:  local,
		DomainFile: filepath.Join(dir, "domain.yaml"), // absent: no domain policy
		LocalAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil },
		OnEvent:    func(e spd.Event) { fmt.Println(e) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Run(ctx) would keep watching; one Reload loads once.
	if err := agent.Reload(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// policy "Secure Server (Require Security)" applied
	// rule added: "All IP Traffic" (local)
	// rule added: "All ICMP Traffic" (local)
	// rule changed: <default>
	// rule changed: <default response>
}
