package main

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

// TestIKEDemo runs part 1 (two endpoints on 127.0.0.1, UDP only, no root)
// and checks what it reports: nothing lost either way, a rekey with a new
// X25519 exchange, traffic on both the old and the new SA, and counters
// that agree between the senders, the receivers and both SADs.
func TestIKEDemo(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := runIKE(ctx, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
	if r.newChild.PFS != isakmp.GroupCurve25519 {
		t.Fatalf("rekey key exchange %v, want %v", r.newChild.PFS, isakmp.GroupCurve25519)
	}
	if r.oldChild.PFS != isakmp.GroupNone {
		t.Fatalf("the IKE_AUTH CHILD SA reports PFS %v", r.oldChild.PFS)
	}
	if r.newChild.InboundSPI == r.oldChild.InboundSPI || r.newChild.OutboundSPI == r.oldChild.OutboundSPI ||
		bytes.Equal(r.newChild.InboundEncKey, r.oldChild.InboundEncKey) {
		t.Fatal("the rekeyed CHILD SA reuses SPIs or keys")
	}
	if !r.ike.LocalNAT || r.oldChild.EncapLocalPort == 0 || r.oldChild.EncapRemotePort == 0 {
		t.Fatalf("ESP not UDP-encapsulated: %+v", r.ike)
	}
	for i, dir := range []string{"A->B", "B->A"} {
		if r.sent[i] != r.received[i] || r.lost[i] != 0 {
			t.Errorf("%s: sent %d received %d lost %d", dir, r.sent[i], r.received[i], r.lost[i])
		}
		if r.onOld[i] < packetsBefore || r.onNew[i] < packetsAfter || r.onOld[i]+r.onNew[i] != r.sent[i] {
			t.Errorf("%s: %d packets on the old SA, %d on the new, %d sent", dir, r.onOld[i], r.onNew[i], r.sent[i])
		}
		if r.replayed[i] != 1 || r.replayDrops[i] != 1 {
			t.Errorf("%s: %d replays injected, %d dropped", dir, r.replayed[i], r.replayDrops[i])
		}
	}
	// The SADs as dumped before the IKE SA was deleted: on each side the
	// old inbound SA is retired (still accepting late packets), the new
	// one mature, and only the new outbound SA is installed. What the
	// receiver's inbound SAs opened is what the sender sealed.
	oldIn := [2]uint32{r.oldChild.InboundSPI, r.oldChild.OutboundSPI}
	newIn := [2]uint32{r.newChild.InboundSPI, r.newChild.OutboundSPI}
	newOut := [2]uint32{r.newChild.OutboundSPI, r.newChild.InboundSPI}
	for side, name := range []string{"A", "B"} {
		var inPackets, replayDrops uint64
		states := map[uint32]sad.State{}
		outs := 0
		for _, info := range r.dumps[side] {
			if info.Dir == sad.Inbound {
				inPackets += info.Packets
				replayDrops += info.ReplayDrops
				states[info.SPI] = info.State
				continue
			}
			outs++
			if info.SPI != newOut[side] || info.State != sad.StateMature || info.Packets != r.onNew[side] {
				t.Errorf("%s: outbound %+v, want SPI %#x with %d packets", name, info, newOut[side], r.onNew[side])
			}
		}
		peer := 1 - side
		if outs != 1 || states[oldIn[side]] != sad.StateRetired || states[newIn[side]] != sad.StateMature || len(states) != 2 {
			t.Errorf("%s: SAD %+v", name, r.dumps[side])
		}
		if inPackets != r.received[peer] || replayDrops != r.replayDrops[peer] {
			t.Errorf("%s: inbound SAs opened %d packets and dropped %d replays; %d received, %d replays dropped",
				name, inPackets, replayDrops, r.received[peer], r.replayDrops[peer])
		}
	}
}

// TestRun runs the whole program as main does and checks that both parts
// printed.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"== Part 1", "CHILD SA rekeyed (CURVE_25519", "SAD of gateway B", "IKE SA deleted", "== Part 2", "aes256-sha512"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestLossIsReported: when the network loses a packet, the demo goes on,
// reports it lost, and fails (main exits non-zero).
func TestLossIsReported(t *testing.T) {
	var arrived atomic.Uint64
	testLose = func(gw string, _ []byte) bool { return gw == "B" && arrived.Add(1) == 100 }
	t.Cleanup(func() { testLose = nil })
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := runIKE(ctx, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.lost != [2]uint64{1, 0} || r.sent[0] != r.received[0]+1 {
		t.Fatalf("lost %v, sent %v, received %v", r.lost, r.sent, r.received)
	}
	if err := r.check(); err == nil || !strings.Contains(err.Error(), "A -> B") || !strings.Contains(err.Error(), "1 lost") {
		t.Fatalf("check: %v", err)
	}
}
