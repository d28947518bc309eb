package ipsec

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipsecgo/ipsec/spd"
)

// FuzzDriverOutbound feeds arbitrary bytes to Outbound under the bench
// policy (a tunnel with an established SA, a block rule, the default
// permit): it must not panic, and its verdict must be one the policy
// allows for what the bytes parse as.
func FuzzDriverOutbound(f *testing.F) {
	d, _, peerOut, _ := benchSetup(f)
	plain, sealed := benchPackets(f, peerOut)
	for _, s := range [][]byte{plain, sealed, plain[:20], plain[:27], ipPacket("10.1.0.5", "10.9.9.9", 6, 1, 23, "x"),
		ipPacket("192.0.2.1", "192.0.2.9", 17, 1, 2, "x"), {0x60}, {0x45, 0, 0, 20}, nil} {
		f.Add(s)
	}
	frag := bytes.Clone(plain)
	binary.BigEndian.PutUint16(frag[6:], 100)
	f.Add(frag)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		in := bytes.Clone(pkt)
		buf := make([]byte, 0, 64)
		r := d.Outbound(buf, pkt)
		if !bytes.Equal(in, pkt) {
			t.Fatal("Outbound changed its input")
		}
		sel, err := spd.ParseSelector(pkt)
		// The classification cache reads only packets that parse, and
		// reads them as spd.ParseSelector does.
		if fs, _, ok := fastSelector(pkt, spd.DirOutbound); ok && (err != nil || fs != sel) {
			t.Fatalf("%x: the cache reads %+v, spd.ParseSelector %+v, %v", pkt, fs, sel, err)
		}
		switch r.Verdict {
		case VerdictDrop:
			if r.Reason == ReasonMalformed && err == nil {
				t.Fatalf("a packet that parses dropped as malformed")
			}
		case VerdictClear:
			if err != nil || !bytes.Equal(r.Packet, pkt) {
				t.Fatalf("clear verdict for %x: %+v", pkt, r)
			}
			if benchLocal.Contains(sel.Src) && benchRemote.Contains(sel.Dst) {
				t.Fatalf("the tunnel's traffic left in the clear: %+v", sel)
			}
		case VerdictProtected:
			if err != nil || len(r.Packet) < 20+8+16 || r.To.Addr() != benchPeer || !benchRemote.Contains(sel.Dst) {
				t.Fatalf("protected verdict (%d bytes to %v) for %x", len(r.Packet), r.To, pkt)
			}
		case VerdictHeld:
		default:
			t.Fatalf("verdict %v", r.Verdict)
		}
	})
}

// FuzzDriverInbound feeds arbitrary bytes to Inbound and InboundESP: they
// must not panic, and whatever they deliver must have passed the checks
// (a decrypted packet inside the SA's selectors, a clear packet that the
// policy lets in).
func FuzzDriverInbound(f *testing.F) {
	d, _, peerOut, _ := benchSetup(f)
	plain, sealed := benchPackets(f, peerOut)
	outside, err := peerOut.Seal(nil, ipPacket("10.3.0.1", "10.1.0.5", 17, 1, 2, "outside the rule"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{sealed, outside, plain, sealed[:30], sealed[20:], ipPacket("10.2.0.7", "10.1.0.5", 17, 1, 2, "clear"),
		{0x45}, nil} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, pkt []byte, udp bool) {
		var r Result
		if udp {
			r = d.InboundESP(netip.AddrPortFrom(benchPeer, 4500), pkt)
		} else {
			r = d.Inbound(pkt)
		}
		switch r.Verdict {
		case VerdictDeliver:
			sel, err := spd.ParseSelector(r.Packet)
			if err != nil || !benchRemote.Contains(sel.Src) || !benchLocal.Contains(sel.Dst) {
				t.Fatalf("delivered %x (%v)", r.Packet, err)
			}
		case VerdictClear:
			sel, err := spd.ParseSelector(r.Packet)
			if err != nil || benchRemote.Contains(sel.Src) && benchLocal.Contains(sel.Dst) {
				t.Fatalf("clear packet for the tunnel delivered: %x", r.Packet)
			}
		case VerdictDrop:
		default:
			t.Fatalf("verdict %v", r.Verdict)
		}
	})
}
