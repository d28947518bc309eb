package main

import (
	"net/netip"
	"testing"

	"github.com/ipsecgo/ipsec/spd"
)

func TestParseLookup(t *testing.T) {
	sel, dir, err := parseLookup("in 198.51.100.7 192.0.2.1 icmp 8 0")
	if err != nil || dir != spd.DirInbound || sel.Protocol != spd.ProtocolICMP || sel.ICMPType != 8 || sel.Dst != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("%+v %v %v", sel, dir, err)
	}
	sel, dir, err = parseLookup("out 2001:db8::1 2001:db8::2 tcp 50000 443")
	if err != nil || dir != spd.DirOutbound || sel.SrcPort != 50000 || sel.DstPort != 443 {
		t.Fatalf("%+v %v %v", sel, dir, err)
	}
	for _, bad := range []string{"", "sideways 1.1.1.1 2.2.2.2 tcp", "out 1.1.1.1 2.2.2.2 foo", "out x 2.2.2.2 tcp", "out 1.1.1.1 2.2.2.2 tcp 1", "in 1.1.1.1 2.2.2.2 icmp 300 0", "out 1.1.1.1 2.2.2.2 tcp 1 70000"} {
		if _, _, err := parseLookup(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDefaultLookupsParse(t *testing.T) {
	for _, me := range [][]netip.Addr{nil, {netip.MustParseAddr("192.0.2.1")}, {netip.MustParseAddr("2001:db8::1")}} {
		for _, q := range defaultLookups(me) {
			if _, _, err := parseLookup(q); err != nil {
				t.Error(err)
			}
		}
	}
}
