package main

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/examples/gateway/internal/dataplane"
)

// TestRoute: where each of the driver's verdicts goes.
func TestRoute(t *testing.T) {
	e := &engine{dataPort: 4501}
	esp := []byte{0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb}
	v4 := append([]byte{0x45, 0, 0, 30, 0, 0, 0, 0, 64, 50, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}, esp...)
	v6 := append(make([]byte, 40), esp...)
	v6[0], v6[6] = 0x60, 50
	ah := bytes.Clone(v4)
	ah[9] = 51
	peer := netip.MustParseAddrPort("192.0.2.2:0")
	natt := netip.MustParseAddrPort("192.0.2.2:4500")
	for _, c := range []struct {
		name  string
		r     ipsec.Result
		pkt   []byte
		dest  dataplane.Dest
		cause dataplane.Cause
	}{
		{"bare-esp", ipsec.Result{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoESP, To: peer, Packet: esp},
			esp, dataplane.Dest{Addr: netip.MustParseAddrPort("192.0.2.2:4501")}, dataplane.CauseNone},
		{"esp-in-udp", ipsec.Result{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoESPInUDP, To: natt, Packet: esp},
			esp, dataplane.Dest{Addr: natt, Endpoint: true}, dataplane.CauseNone},
		{"raw-v4", ipsec.Result{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoRaw, To: peer, Packet: v4},
			esp, dataplane.Dest{Addr: netip.MustParseAddrPort("192.0.2.2:4501")}, dataplane.CauseNone},
		{"raw-v6", ipsec.Result{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoRaw, To: peer, Packet: v6},
			esp, dataplane.Dest{Addr: netip.MustParseAddrPort("192.0.2.2:4501")}, dataplane.CauseNone},
		{"ah", ipsec.Result{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoRaw, To: peer, Packet: ah},
			nil, dataplane.Dest{}, dataplane.CauseOther},
		{"short", ipsec.Result{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoRaw, To: peer, Packet: v4[:10]},
			nil, dataplane.Dest{}, dataplane.CauseOther},
		{"held", ipsec.Result{Verdict: ipsec.VerdictHeld}, nil, dataplane.Dest{}, dataplane.CauseHeld},
		{"clear", ipsec.Result{Verdict: ipsec.VerdictClear}, nil, dataplane.Dest{}, dataplane.CauseBypass},
		{"blocked", ipsec.Result{Verdict: ipsec.VerdictDrop, Reason: ipsec.ReasonBlocked}, nil, dataplane.Dest{}, dataplane.CauseBlocked},
		{"open", ipsec.Result{Verdict: ipsec.VerdictDrop, Reason: ipsec.ReasonOpen}, nil, dataplane.Dest{}, dataplane.CauseAuth},
		{"replay", ipsec.Result{Verdict: ipsec.VerdictDrop, Reason: ipsec.ReasonReplay}, nil, dataplane.Dest{}, dataplane.CauseReplay},
	} {
		pkt, d, cause := e.route(c.r)
		if !bytes.Equal(pkt, c.pkt) || d != c.dest || cause != c.cause {
			t.Errorf("%s: got %x %v %v, want %x %v %v", c.name, pkt, d, cause, c.pkt, c.dest, c.cause)
		}
	}
	// Without a data port, only ESP that IKE encapsulated leaves.
	e.dataPort = 0
	for _, r := range []ipsec.Result{
		{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoESP, To: peer, Packet: esp},
		{Verdict: ipsec.VerdictProtected, Proto: ipsec.ProtoRaw, To: peer, Packet: v4},
	} {
		if _, _, cause := e.route(r); cause != dataplane.CauseOther {
			t.Errorf("no data port, proto %v: cause %v, want other", r.Proto, cause)
		}
	}
}

// FuzzOuterHeader: any bytes give a header length inside them, or none.
func FuzzOuterHeader(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 50, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0x4f, 0, 0, 20, 0, 0, 0, 0, 64, 50, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(append([]byte{0x60, 0, 0, 0, 0, 0, 50}, make([]byte, 33)...))
	f.Add([]byte{0x45})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, _, ok := outerHeader(b)
		if ok && (n < 20 || n > len(b)) {
			t.Fatalf("header length %d of %d bytes", n, len(b))
		}
	})
}
