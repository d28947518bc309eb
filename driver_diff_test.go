package ipsec

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/spd"
)

// The reference model of the Windows rules, written as plainly as
// possible: rules in priority order, each with one filter; the first
// filter that matches decides, else the policy's default action. Permit
// sends clear; Block drops; Negotiate protects when the flow (rule, peer)
// has its SA, sends clear when the flow fell back to clear, else holds
// the packet; inbound, a clear packet for a Negotiate rule is dropped
// unless the rule accepts unsecured communication or its flow fell back
// to clear. A later fragment cannot be protected in transport mode (the
// model's Negotiate rules are transport rules). A later fragment's ports are OPAQUE and match only filters
// without ports (RFC 4301 4.4.1.1).

type modelRule struct {
	name             string
	f                spd.Filter
	action           spd.Action
	accept, fallback bool
	srcNet, dstNet   netip.Prefix // invalid: any
	proto            uint8        // 0: any
	sport, dport     [2]uint16    // {0, 0xffff}: any
	portsSet         bool
}

type modelPacket struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	later        bool // a fragment other than the first
}

type flowState uint8

const (
	flowNone flowState = iota
	flowUp
	flowFallen
)

type model struct {
	rules []modelRule // in priority order
	def   spd.Action
	flows map[string]flowState // rule name + "/" + peer
}

func (r *modelRule) matchOne(p *modelPacket, src, dst netip.Addr, sp, dp uint16) bool {
	if r.srcNet.IsValid() && !r.srcNet.Contains(src) || r.dstNet.IsValid() && !r.dstNet.Contains(dst) {
		return false
	}
	if r.proto != 0 && r.proto != p.proto {
		return false
	}
	if !r.portsSet {
		return true
	}
	if p.later {
		return false
	}
	return sp >= r.sport[0] && sp <= r.sport[1] && dp >= r.dport[0] && dp <= r.dport[1]
}

func (r *modelRule) match(p *modelPacket, outbound bool) bool {
	d := r.f.Direction
	if (d == spd.DirBoth || d == spd.DirOutbound == outbound) && r.matchOne(p, p.src, p.dst, p.sport, p.dport) {
		return true
	}
	return r.f.Mirrored && (d == spd.DirBoth || d == spd.DirInbound == outbound) && r.matchOne(p, p.dst, p.src, p.dport, p.sport)
}

func (m *model) lookup(p *modelPacket, outbound bool) *modelRule {
	for i := range m.rules {
		if m.rules[i].match(p, outbound) {
			return &m.rules[i]
		}
	}
	return nil
}

// outbound returns the model's verdict and, when protected, the peer.
func (m *model) outbound(p *modelPacket) Verdict {
	r := m.lookup(p, true)
	a := m.def
	if r != nil {
		a = r.action
	}
	switch a {
	case spd.ActionBypass:
		return VerdictClear
	case spd.ActionDiscard:
		return VerdictDrop
	}
	switch m.flows[r.name+"/"+p.dst.String()] {
	case flowUp:
		if p.later {
			// Transport mode protects whole packets only (RFC 4301
			// 4.1): esp refuses to seal a later fragment, and the
			// driver drops it.
			return VerdictDrop
		}
		return VerdictProtected
	case flowFallen:
		if r.fallback {
			return VerdictClear
		}
	}
	return VerdictHeld
}

func (m *model) inboundClear(p *modelPacket) Verdict {
	r := m.lookup(p, false)
	a := m.def
	if r != nil {
		a = r.action
	}
	switch a {
	case spd.ActionBypass:
		return VerdictClear
	case spd.ActionDiscard:
		return VerdictDrop
	}
	if r.accept || r.fallback && m.flows[r.name+"/"+p.src.String()] == flowFallen {
		return VerdictClear
	}
	return VerdictDrop
}

var (
	diffAddrs = []netip.Addr{drvMe, netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1"),
		netip.MustParseAddr("198.51.100.200"), netip.MustParseAddr("203.0.113.9")}
	diffNets  = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("198.51.100.0/24")}
	diffPorts = []uint16{22, 53, 80, 443, 1024, 40000}
)

func randAddr(rng *rand.Rand) (spd.Address, netip.Prefix) {
	switch rng.IntN(3) {
	case 0:
		return spd.AnyAddr(), netip.Prefix{}
	case 1:
		a := diffAddrs[rng.IntN(len(diffAddrs))]
		return spd.HostAddr(a), netip.PrefixFrom(a, 32)
	}
	n := diffNets[rng.IntN(len(diffNets))]
	return spd.SubnetAddr(n), n
}

func randPorts(rng *rand.Rand) (spd.PortRange, [2]uint16, bool) {
	switch rng.IntN(3) {
	case 0:
		return spd.AnyPort(), [2]uint16{0, 0xffff}, false
	case 1:
		p := diffPorts[rng.IntN(len(diffPorts))]
		return spd.Port(p), [2]uint16{p, p}, true
	}
	return spd.PortSpan(1024, 65535), [2]uint16{1024, 65535}, true
}

// randPolicy returns a random policy and its model: up to 6 rules, each
// with a distinct priority so that the order is the priorities'.
func randPolicy(rng *rand.Rand) (*spd.Policy, *model) {
	p := &spd.Policy{Name: "random"}
	m := &model{flows: map[string]flowState{}}
	n := 1 + rng.IntN(6)
	prio := rng.Perm(n)
	m.rules = make([]modelRule, n)
	for i := range n {
		var r modelRule
		r.name = fmt.Sprintf("rule %d", i)
		r.f.Source, r.srcNet = randAddr(rng)
		r.f.Destination, r.dstNet = randAddr(rng)
		switch rng.IntN(4) {
		case 0:
		case 1:
			r.f.Protocol, r.proto = spd.ProtocolTCP, 6
		case 2:
			r.f.Protocol, r.proto = spd.ProtocolUDP, 17
		case 3:
			r.f.Protocol, r.proto = spd.ProtocolICMP, 1
		}
		if r.proto == 6 || r.proto == 17 {
			var sset, dset bool
			r.f.SourcePort, r.sport, sset = randPorts(rng)
			r.f.DestinationPort, r.dport, dset = randPorts(rng)
			r.portsSet = sset || dset
		} else {
			r.sport, r.dport = [2]uint16{0, 0xffff}, [2]uint16{0, 0xffff}
		}
		r.f.Mirrored = rng.IntN(2) == 0
		r.f.Direction = []spd.Direction{spd.DirBoth, spd.DirOutbound, spd.DirInbound}[rng.IntN(3)]
		rule := spd.Rule{Name: r.name, Filters: spd.FilterList{Name: r.name, Filters: []spd.Filter{r.f}},
			Priority: uint32(1 + prio[i])}
		switch rng.IntN(3) {
		case 0:
			r.action = spd.ActionBypass
		case 1:
			r.action = spd.ActionDiscard
		default:
			r.action = spd.ActionProtect
			r.accept = rng.IntN(2) == 0
			r.fallback = rng.IntN(2) == 0
			rule.Action.Methods = []spd.SecurityMethod{{UseESP: true, ESPEncryption: spd.EncryptionAESGCM16, ESPKeyBits: 128}}
			rule.Auth = []spd.AuthMethod{{Kind: spd.AuthPreSharedKey, PreSharedKey: "a pre-shared key for the model"}}
		}
		rule.Action.Action, rule.Action.AcceptUnsecured, rule.Action.FallbackToClear = r.action, r.accept, r.fallback
		p.Rules = append(p.Rules, rule)
		m.rules[prio[i]] = r
	}
	if rng.IntN(2) == 0 {
		p.Default.Action, m.def = spd.ActionDiscard, spd.ActionDiscard
	} else {
		p.Default.Action, m.def = spd.ActionBypass, spd.ActionBypass
	}
	return p, m
}

func randPacket(rng *rand.Rand) (modelPacket, []byte) {
	p := modelPacket{src: diffAddrs[rng.IntN(len(diffAddrs))], dst: diffAddrs[rng.IntN(len(diffAddrs))],
		proto: []uint8{1, 6, 17, 47}[rng.IntN(4)], sport: diffPorts[rng.IntN(len(diffPorts))],
		dport: diffPorts[rng.IntN(len(diffPorts))], later: rng.IntN(5) == 0}
	b := ipPacket(p.src.String(), p.dst.String(), p.proto, p.sport, p.dport, "model")
	if p.later {
		binary.BigEndian.PutUint16(b[6:], 185) // offset 185*8, not the first fragment
		b[10], b[11] = 0, 0
	}
	if p.proto == 1 {
		// ICMP carries type and code where the ports were: the model's
		// ICMP filters have no type or code, so only the protocol counts.
		p.sport, p.dport = 0, 0
	}
	return p, b
}

// TestDriverDifferential runs random policies and random packets through
// the driver and the model, verdict for verdict, outbound and inbound
// (clear), with the flows of Negotiate rules in random states: no SA, SA
// up (a CHILD SA installed as IKE would report it), fallen back to clear.
func TestDriverDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2003))
	policies, packets := 300, 200
	if testing.Short() {
		policies = 50
	}
	n := uint32(0)
	seen := map[Verdict]int{}
	for pi := range policies {
		pol, m := randPolicy(rng)
		d, _, _ := newTestDriver(t, pol, nil)
		for _, r := range m.rules {
			if r.action != spd.ActionProtect {
				continue
			}
			for _, peer := range diffAddrs {
				key := r.name + "/" + peer.String()
				switch rng.IntN(3) {
				case 1:
					n++
					upChild(t, d, testChild(r.name, peer, ike.Transport, n))
					m.flows[key] = flowUp
				case 2:
					if !r.fallback {
						continue // the driver falls back only where the rule allows
					}
					f := d.flowOf(d.policy().byID[r.name], peer)
					f.clearUntil.Store(time.Now().Add(time.Hour).UnixNano())
					m.flows[key] = flowFallen
				}
			}
		}
		buf := make([]byte, 0, 2048)
		for range packets {
			p, b := randPacket(rng)
			want := m.outbound(&p)
			got := d.Outbound(buf, b)
			if got.Verdict != want {
				t.Fatalf("policy %d %s\noutbound %v: driver %v (%v, rule %q), model %v", pi, dumpPolicy(pol), p, got.Verdict, got.Reason, got.Rule, want)
			}
			seen[got.Verdict]++
			if got.Verdict == VerdictProtected && got.To.Addr() != p.dst {
				t.Fatalf("policy %d, outbound %+v: protected towards %v", pi, p, got.To)
			}
			want = m.inboundClear(&p)
			got = d.Inbound(b)
			seen[got.Verdict+10]++
			if got.Verdict != want {
				t.Fatalf("policy %d %s\ninbound %v: driver %v (%v, rule %q), model %v", pi, dumpPolicy(pol), p, got.Verdict, got.Reason, got.Rule, want)
			}
		}
	}
	// Every verdict occurred, or the model compared nothing there.
	for _, v := range []Verdict{VerdictClear, VerdictProtected, VerdictDrop, VerdictHeld, VerdictClear + 10, VerdictDrop + 10} {
		if seen[v] == 0 {
			t.Errorf("no %v verdict (inbound if > 10) in the run: %v", v%10, seen)
		}
	}
}

func (p modelPacket) String() string {
	return fmt.Sprintf("%v:%d -> %v:%d proto %d later %v", p.src, p.sport, p.dst, p.dport, p.proto, p.later)
}

func dumpPolicy(p *spd.Policy) string {
	s := fmt.Sprintf("default %v", p.Default.Action)
	for _, r := range p.Rules {
		f := r.Filters.Filters[0]
		s += fmt.Sprintf("\n  %s prio %d: %v -> %v proto %v ports %v/%v mirrored %v dir %v: %v accept %v fallback %v",
			r.Name, r.Priority, f.Source, f.Destination, f.Protocol, f.SourcePort, f.DestinationPort, f.Mirrored, f.Direction,
			r.Action.Action, r.Action.AcceptUnsecured, r.Action.FallbackToClear)
	}
	return s
}
