package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun runs the demo as main does and checks what it reports: the
// first packet held and then delivered, DNS clear, telnet and unlisted
// traffic blocked by the policy files, a CHILD SA rekey with PFS, and
// nothing lost while packets streamed through it.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	err := run(&out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`-> held (rule "Tunnel to B")`,
		"b: delivered the held packet: hello B",
		`-> clear (rule "DNS in the clear")`,
		`-> drop (rule "No telnet", blocked)`,
		`-> drop (rule "", blocked)`,
		`a: child-rekeyed, rule "Tunnel to B", PFS CURVE_25519`,
		"streamed 300 packets each way through a CHILD SA rekey: 0 lost",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
