package sad

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

// pairFor builds a sender and receiver Spec of the given kind for spi.
func pairFor(t *testing.T, kind string, spi uint32) (Spec, Spec) {
	switch kind {
	case "esp":
		o, i := espPair(t, spi)
		return Spec{ESP: o}, Spec{ESP: i}
	case "ah":
		o, i := ahPair(t, spi, 0)
		return Spec{AH: o}, Spec{AH: i}
	default: // AH+ESP bundle; the ESP SPI is derived, the AH SPI is the key
		eo, ei := espPair(t, spi^0x5a5a0000)
		ao, ai := ahPair(t, spi, 0)
		return Spec{ESP: eo, AH: ao}, Spec{ESP: ei, AH: ai}
	}
}

// TestRekeyStreaming streams packets continuously from host A to host B
// through five make-before-break rekeys, each started by the soft packet
// lifetime of A's outbound SA, as IKE would: B allocates an SPI and
// installs the new inbound SA, A switches its outbound SA atomically, B
// retires the old inbound SA, and the old SA is removed when its grace
// period ends. Two sender goroutines look SAs up concurrently and packets wait in
// a queue (in flight) while the switch happens. Every packet must arrive:
// zero lookup misses, zero replay drops, zero integrity failures.
// Seal calls are serialised with their enqueueing (see below); concurrent
// Seal on one SA is covered by TestStress.
func TestRekeyStreaming(t *testing.T) {
	for _, kind := range []string{"esp", "ah", "ah+esp"} {
		t.Run(kind, func(t *testing.T) { rekeyStream(t, kind) })
	}
}

func rekeyStream(t *testing.T, kind string) {
	const (
		senders = 2
		rekeys  = 5
		soft    = 1500 // packets per SA before the soft limit
		grace   = 10 * time.Second
	)
	clk := newFakeClock()
	a := New(Config{Clock: clk, Jitter: -1})
	b := New(Config{Clock: clk, Jitter: -1})
	key := OutboundKey{Rule: 1, Selector: 1}
	proto := ProtoESP
	if kind != "esp" {
		proto = ProtoAH
	}
	life := &Lifetime{SoftPackets: soft, HardPackets: 1 << 40}

	install := func() uint32 {
		spi, err := b.AllocateSPI(proto)
		if err != nil {
			t.Fatal(err)
		}
		o, i := pairFor(t, kind, spi)
		i.Lifetime = &Lifetime{HardPackets: 1 << 40}
		if _, err := b.AddInbound(i); err != nil { // make ...
			t.Fatal(err)
		}
		if _, err := a.AddOutbound(key, Spec{ESP: o.ESP, AH: o.AH, Lifetime: life}); err != nil { // ... switch
			t.Fatal(err)
		}
		return spi
	}
	cur := install()

	var (
		mu        sync.Mutex
		sent      = map[uint32]int{}
		recv      = map[uint32]int{}
		senderSPI [senders]atomic.Uint32
		seq       atomic.Uint64
		stop      atomic.Bool
		misses    atomic.Uint64
		sendMu    sync.Mutex
	)
	pipe := make(chan []byte, 256)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				sa := a.Outbound(key)
				if sa == nil {
					misses.Add(1)
					continue
				}
				// Seal and enqueue under one lock, so that packets of one
				// SA enter the queue in sequence-number order (a queue
				// that reorders by more than the replay window would drop
				// packets whatever the SAD did). The lookup stays outside:
				// a sender may still hold the old SA after the switch.
				sendMu.Lock()
				n := seq.Add(1)
				p, err := sa.Seal(nil, udpPacket(64, n))
				if err != nil {
					sendMu.Unlock()
					t.Errorf("seal: %v", err)
					return
				}
				mu.Lock()
				sent[sa.SPI()]++
				mu.Unlock()
				pipe <- p
				sendMu.Unlock()
				senderSPI[g].Store(sa.SPI())
			}
		}()
	}
	var rwg sync.WaitGroup
	var lost, replays, authFail, received, retiredOpens atomic.Uint64
	var recvGate sync.Mutex // held by the controller to let packets pile up in flight
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for p := range pipe {
			recvGate.Lock()
			pr, spi := outerSPI(p)
			sa := b.Inbound(pr, spi, hostB)
			if sa == nil {
				lost.Add(1)
				recvGate.Unlock()
				continue
			}
			if sa.State() == StateRetired {
				retiredOpens.Add(1)
			}
			got, err := sa.Open(p)
			recvGate.Unlock()
			switch {
			case errors.Is(err, esp.ErrReplay) || errors.Is(err, ah.ErrReplay):
				replays.Add(1)
			case err != nil:
				authFail.Add(1)
				t.Errorf("open: %v", err)
			case len(got) != 28+64 || binary.BigEndian.Uint64(got[28:]) == 0:
				t.Errorf("bad inner packet %x", got)
			default:
				received.Add(1)
				mu.Lock()
				recv[spi]++
				mu.Unlock()
			}
		}
	}()

	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("timed out waiting for %s: sent %v recv %v lost %d replays %d auth %d", what, sent, recv, lost.Load(), replays.Load(), authFail.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	for r := range rekeys {
		// The soft lifetime of A's outbound SA asks for a rekey.
		var ev Event
		waitFor("soft expiry", func() bool {
			select {
			case ev = <-a.Events():
				return true
			default:
				return false
			}
		})
		if ev.Kind != EventSoftExpire || ev.SPI != cur || ev.Reason != ReasonPackets {
			t.Fatalf("rekey %d: event %+v", r, ev)
		}
		// Hold the receiver until the queue is full of packets sealed
		// with the old SA, and switch while they are in flight.
		recvGate.Lock()
		waitFor("a full queue", func() bool { return len(pipe) == cap(pipe) })
		old := cur
		cur = install()
		if err := b.RetireInbound(proto, old, grace); err != nil {
			t.Fatal(err)
		}
		recvGate.Unlock()
		// Every sender has moved to the new SA, and every packet sealed
		// with the old one has been received: the grace period may end.
		waitFor("switch", func() bool {
			for g := range senders {
				if senderSPI[g].Load() != cur {
					return false
				}
			}
			mu.Lock()
			defer mu.Unlock()
			return recv[old] == sent[old]
		})
		b.Tick(clk.Advance(grace))
		if b.Inbound(proto, old, hostB) != nil {
			t.Fatalf("rekey %d: old inbound SA still installed after its grace period", r)
		}
		if ev := drain(b); len(ev) != 1 || ev[0].Kind != EventRemoved || ev[0].SPI != old {
			t.Fatalf("rekey %d: B events %+v", r, ev)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(pipe)
	rwg.Wait()

	total := seq.Load()
	t.Logf("%s: %d packets, %d rekeys, %d opened by a retired SA in its grace period; packets per SA %v", kind, total, rekeys, retiredOpens.Load(), sent)
	if received.Load() != total || lost.Load() != 0 || replays.Load() != 0 || authFail.Load() != 0 || misses.Load() != 0 {
		t.Fatalf("sent %d received %d lost %d replay drops %d auth failures %d outbound misses %d",
			total, received.Load(), lost.Load(), replays.Load(), authFail.Load(), misses.Load())
	}
	if retiredOpens.Load() < uint64(rekeys*cap(pipe)) {
		t.Fatalf("only %d packets were opened by retired SAs", retiredOpens.Load())
	}
	if len(sent) != rekeys+1 {
		t.Fatalf("%d SAs carried traffic, want %d", len(sent), rekeys+1)
	}
}
