package main

import (
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Cost is what one IKE operation costs: messages and bytes on the wire,
// and CPU time of both sides together.
type Cost struct {
	Messages int
	// Bytes are the IKE messages (UDP payloads); WireBytes add the IPv4
	// and UDP headers of each datagram.
	Bytes, WireBytes int
	CPU              time.Duration
}

// IKECost is the cost per handshake (IKE_SA_INIT and IKE_AUTH with the
// first CHILD SA, PSK authentication), per CHILD SA rekey (CREATE_CHILD_SA
// and the Delete of the old SA) and per IKE SA rekey, averaged over n
// runs of the library's own sessions exchanging messages in memory.
type IKECost struct {
	IKE, ESP                        string
	Handshake, ChildRekey, IKERekey Cost
}

var (
	ikeA = netip.MustParseAddrPort("192.0.2.1:500")
	ikeB = netip.MustParseAddrPort("192.0.2.2:500")
)

// ikePeer is one in-memory session and its events.
type ikePeer struct {
	s      *ike.Session
	events []ike.Event
}

func ikeConfig(ikeProps, espProps, local, remote, lnet, rnet string) (*ike.Config, error) {
	secret := []byte("overhead meter pre-shared key, long enough")
	key, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		return nil, err
	}
	store := auth.NewPSKStore(auth.PSKOptions{})
	if err := store.Add(auth.FQDN(remote), secret); err != nil {
		return nil, err
	}
	ip, err := ike.ParseProposals(ikeProps, isakmp.ProtocolIKE)
	if err != nil {
		return nil, err
	}
	ep, err := ike.ParseProposals(espProps, isakmp.ProtocolESP)
	if err != nil {
		return nil, err
	}
	return &ike.Config{LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote), Auth: key, PeerAuth: ike.PSKPeers(store),
		IKEProposals: ip, ChildProposals: ep, IKERekey: -1, ChildRekey: 1000 * time.Hour,
		LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(lnet))},
		RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(rnet))}}, nil
}

// pump delivers datagrams between i and the responder (made by Accept from
// the first one) until both are quiet, adding what crossed the wire to c.
func pump(i *ikePeer, r **ikePeer, rcfg *ike.Config, now time.Time, c *Cost) error {
	toR := i.s.Datagrams()
	for round := 0; round < 50; round++ {
		var toI [][]byte
		for _, d := range toR {
			c.add(d)
			if *r == nil {
				s, err := ike.Accept(rcfg, ikeB, ikeA, now, d)
				if err != nil {
					return err
				}
				*r = &ikePeer{s: s}
			} else {
				(*r).s.Receive(now, d)
			}
		}
		if *r != nil {
			(*r).events = append((*r).events, (*r).s.Events()...)
			toI = (*r).s.Datagrams()
		}
		for _, d := range toI {
			c.add(d)
			i.s.Receive(now, d)
		}
		i.events = append(i.events, i.s.Events()...)
		toR = i.s.Datagrams()
		if len(toR) == 0 && len(toI) == 0 {
			return nil
		}
	}
	return fmt.Errorf("overhead: IKE exchange does not settle")
}

func (c *Cost) add(d []byte) {
	c.Messages++
	c.Bytes += len(d)
	c.WireBytes += len(d) + ipv4Header + udpHeader
}

func (c Cost) div(n int) Cost {
	return Cost{Messages: c.Messages / n, Bytes: c.Bytes / n, WireBytes: c.WireBytes / n, CPU: c.CPU / time.Duration(n)}
}

// MeasureIKE runs n handshakes, each followed by a CHILD SA rekey and an
// IKE SA rekey, with the given proposals, and returns the mean costs.
func MeasureIKE(ikeProps, espProps string, n int) (IKECost, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	icfg, err := ikeConfig(ikeProps, espProps, "a.example", "b.example", "10.1.0.0/16", "10.2.0.0/16")
	if err != nil {
		return IKECost{}, err
	}
	rcfg, err := ikeConfig(ikeProps, espProps, "b.example", "a.example", "10.2.0.0/16", "10.1.0.0/16")
	if err != nil {
		return IKECost{}, err
	}
	res := IKECost{IKE: ikeProps, ESP: espProps}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range n {
		var hs, cr, ir Cost
		start := threadCPU()
		s, err := ike.NewInitiator(icfg, ikeA, ikeB, now)
		if err != nil {
			return res, err
		}
		i := &ikePeer{s: s}
		var r *ikePeer
		if err := pump(i, &r, rcfg, now, &hs); err != nil {
			return res, err
		}
		hs.CPU = threadCPU() - start
		if !i.s.Established() || r == nil || !r.s.Established() || len(i.s.ChildSAs()) != 1 {
			return res, fmt.Errorf("overhead: handshake failed: %v", i.events)
		}

		start = threadCPU()
		if err := i.s.RekeyChild(now, i.s.ChildSAs()[0].InboundSPI); err != nil {
			return res, err
		}
		if err := pump(i, &r, rcfg, now, &cr); err != nil {
			return res, err
		}
		cr.CPU = threadCPU() - start

		start = threadCPU()
		oldI, _ := i.s.SPIs()
		if err := i.s.RekeyIKE(now); err != nil {
			return res, err
		}
		if err := pump(i, &r, rcfg, now, &ir); err != nil {
			return res, err
		}
		ir.CPU = threadCPU() - start
		if newI, _ := i.s.SPIs(); newI == oldI {
			return res, fmt.Errorf("overhead: IKE SA not rekeyed")
		}
		for _, c := range []struct{ sum, one *Cost }{{&res.Handshake, &hs}, {&res.ChildRekey, &cr}, {&res.IKERekey, &ir}} {
			c.sum.Messages += c.one.Messages
			c.sum.Bytes += c.one.Bytes
			c.sum.WireBytes += c.one.WireBytes
			c.sum.CPU += c.one.CPU
		}
	}
	res.Handshake, res.ChildRekey, res.IKERekey = res.Handshake.div(n), res.ChildRekey.div(n), res.IKERekey.div(n)
	return res, nil
}
