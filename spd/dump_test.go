package spd

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDump(t *testing.T) {
	p, err := ParsePolicy("full.yaml", []byte(fullPolicy))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(p, CompileOptions{LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.200")}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.Dump(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Policy Name             : Branch office",
		"Default Action          : DISCARD (block)",
		"My IP Address           : 192.0.2.200",
		"Rules                   : 3 (2 enabled), 4 compiled filters",
		"Rule Name               : Web",
		"Tunnel Endpoint         : 198.51.100.1 (tunnel mode)",
		"Tunnel Endpoint         : NONE (transport mode)",
		"Auth Methods            : certificate (root CA CN=Example Root CA); preshared_key (hidden); kerberos",
		"YES       BOTH       ME      192.0.2.0/24",
		"ESP[aes256-gcm16,none] <28800 secs/4000000 kb>",
		"AH[sha256]+ESP[aes128-cbc,sha256] <3600 secs/100000 kb>",
		"QMPFS                 : YES",
		"Activated               : NO",
		"Default Response Rule   : NO",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q", want)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("dump shows the pre-shared key")
	}
	if t.Failed() {
		t.Log(out)
	}
}
