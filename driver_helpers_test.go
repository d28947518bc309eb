package ipsec

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/spd"
)

// fakeNegotiator stands in for the IKE endpoint: it records the
// requests and negotiates nothing.
type fakeNegotiator struct {
	mu                                   sync.Mutex
	initiated, created, deleted, rekeyed int
	lastReq                              *ike.ChildRequest
	failInitiate                         bool
	initiatedPeers                       []netip.AddrPort
	deletedSPIs                          []uint32
}

func (f *fakeNegotiator) initiate(_ context.Context, _ *ike.Config, remote, _ netip.AddrPort, req *ike.ChildRequest) ([8]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.initiated++
	f.lastReq = req
	f.initiatedPeers = append(f.initiatedPeers, remote)
	if f.failInitiate {
		return [8]byte{}, context.DeadlineExceeded
	}
	return [8]byte{1, 2, 3, 4, 5, 6, 7, byte(f.initiated)}, nil
}

func (f *fakeNegotiator) createChild(context.Context, [8]byte, ike.ChildRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created++
	return nil
}

func (f *fakeNegotiator) deleteChild(_ context.Context, _ [8]byte, spi uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted++
	f.deletedSPIs = append(f.deletedSPIs, spi)
	return nil
}

func (f *fakeNegotiator) rekeyChild(context.Context, [8]byte, uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rekeyed++
	return nil
}

var drvMe = netip.MustParseAddr("192.0.2.1")

// newTestDriver makes a driver for policy p with a fake negotiator; its
// endpoint is never bound.
func newTestDriver(t testing.TB, p *spd.Policy, cfg func(*DriverConfig)) (*Driver, *spd.SPD, *fakeNegotiator) {
	t.Helper()
	db := &spd.SPD{}
	c, err := spd.Compile(p, spd.CompileOptions{LocalAddrs: []netip.Addr{drvMe}})
	if err != nil {
		t.Fatal(err)
	}
	db.Swap(c)
	dc := DriverConfig{SPD: db, AcquireTimeout: time.Hour,
		Endpoint: ike.EndpointConfig{IKEAddr: netip.AddrPortFrom(drvMe, 500), NATTAddr: netip.AddrPortFrom(drvMe, 4500)}}
	if cfg != nil {
		cfg(&dc)
	}
	d, err := NewDriver(dc)
	if err != nil {
		t.Fatal(err)
	}
	fn := &fakeNegotiator{}
	d.neg = fn
	t.Cleanup(d.cancel)
	return d, db, fn
}

// testChild is a CHILD SA of rule tag with peer, as IKE would report it:
// inbound and outbound keys swapped by mirror for the peer's side.
func testChild(tag string, peer netip.Addr, mode ike.Mode, n uint32) *ike.ChildSA {
	all := ike.SelectorFromPrefix(netip.MustParsePrefix("0.0.0.0/0"))
	return &ike.ChildSA{
		Protocol: isakmp.ProtocolESP, Mode: mode,
		InboundSPI: 0x20000 + 2*n, OutboundSPI: 0x20001 + 2*n,
		Encr:          ike.Encr{ID: isakmp.EncrAESGCM16, KeyBits: 128},
		InboundEncKey: bytes.Repeat([]byte{1}, 20), OutboundEncKey: bytes.Repeat([]byte{2}, 20),
		LocalAddr: drvMe, RemoteAddr: peer,
		LocalTS: []isakmp.TrafficSelector{all}, RemoteTS: []isakmp.TrafficSelector{all},
		Tag: tag, Version: ike.IKEv2,
	}
}

// upChild reports a CHILD SA up to the driver as the endpoint would.
func upChild(t testing.TB, d *Driver, c *ike.ChildSA) {
	t.Helper()
	d.handleIKE(ike.Event{Kind: ike.EventChildUp, Child: c, IKE: ike.IKESAInfo{Initiator: true, SPIi: [8]byte{9}}})
	if d.SAD().Outbound(d.flowOf(d.policy().byID[c.Tag], c.RemoteAddr).key) == nil {
		t.Fatalf("CHILD SA of %q not installed", c.Tag)
	}
}
