package ipsec

// The driver's datapath, stage by stage (RFC 4301 section 5, the Windows
// "IPsec driver"):
//
// Outbound(dst, pkt):
//  1. the packet's selectors (addresses, protocol, ports or OPAQUE for a
//     fragment other than the first);
//  2. SPD lookup in the policy in force (a reload is picked up here, on
//     the next packet: the classifier and the driver's view of its rules
//     change together); IPv4 packets without options or fragmentation
//     are classified through the policy's cache (driver_cache.go), which
//     gives the rule and flow the lookup would;
//  3. Permit (BYPASS): the packet leaves as it is; Block (DISCARD): it is
//     dropped and counted for the rule;
//  4. Negotiate (PROTECT): the flow is the rule and the peer (the rule's
//     tunnel endpoint, or the packet's destination in transport mode);
//     its outbound SA in the SAD seals the packet into dst (ESP, AH, or
//     ESP in UDP, RFC 3948), and the verdict says where it goes;
//  5. no SA yet: the packet waits in the flow's bounded queue and an
//     acquire asks IKE for a CHILD SA (once per flow, rate limited); the
//     queue is sealed and handed to DriverConfig.Output when the CHILD SA
//     is installed, or dropped (or sent in the clear when the rule falls
//     back to clear) when negotiation fails or times out.
//
// Inbound(pkt) and InboundESP(from, esp):
//  1. ESP or AH: SAD lookup by SPI, Open (the ICV first, then the replay
//     window, RFC 4303 3.4.3); the inner packet must lie inside the CHILD
//     SA's traffic selectors (for IPv4, compared from the header bytes
//     with the selectors compiled once per SA) and be matched, under the
//     policy in force, by the rule the SA was negotiated for (RFC 4301
//     5.2), every packet;
//  2. clear: SPD lookup; Permit delivers, Block drops, Negotiate drops
//     unless the rule accepts unsecured communication.
//
// With an installed SA neither direction allocates: the caller owns the
// buffers, Outbound appends to dst and Inbound opens in place.

import (
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
	"github.com/ipsecgo/ipsec/spd"
)

// Defaults of DriverConfig.
const (
	DefaultQueueLen        = 32
	DefaultAcquireInterval = time.Second
	DefaultAcquireTimeout  = 10 * time.Second
	DefaultFallbackPeriod  = 5 * time.Minute // Windows' soft SA lifetime
)

// Verdict is what the driver decided for a packet. It is a plain value,
// safe for concurrent use.
type Verdict uint8

// Verdicts.
const (
	// VerdictClear: send the packet as it is (outbound), or deliver it
	// (inbound; Packet is the packet).
	VerdictClear Verdict = iota + 1
	// VerdictProtected: outbound only; send Packet, the sealed bytes, to
	// Result.To as Result.Proto says.
	VerdictProtected
	// VerdictDeliver: inbound only; Packet is the inner packet of an ESP
	// or AH packet that passed its checks.
	VerdictDeliver
	// VerdictDrop: the packet is dropped; Reason says why.
	VerdictDrop
	// VerdictHeld: outbound only; the driver keeps a copy of the packet
	// until IKE has negotiated its SA, then hands it to
	// DriverConfig.Output.
	VerdictHeld
)

var verdictNames = [...]string{"", "clear", "protected", "deliver", "drop", "held"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) && v != 0 {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// DropReason says why a packet was dropped. It is a plain value, safe for
// concurrent use.
type DropReason uint8

// Drop reasons.
const (
	ReasonNone        DropReason = iota
	ReasonMalformed              // not an IP packet the driver can read
	ReasonBlocked                // a Block (DISCARD) rule or default
	ReasonUnsecured              // a clear packet for a Negotiate rule
	ReasonQueueFull              // the oldest held packet gave way to a new one
	ReasonNegotiation            // IKE failed or timed out for the flow
	ReasonNoSA                   // no inbound SA with that SPI
	ReasonOpen                   // the ICV or padding did not check out
	ReasonSelectors              // the inner packet lies outside its SA's selectors
	ReasonPolicy                 // the inner packet's rule is not the SA's rule (any more)
	ReasonSeal                   // sealing failed (sequence numbers exhausted, SA dead)
	ReasonUnsupported            // the rule asks for something the driver cannot do
	ReasonReplay                 // the anti-replay window refused it (RFC 4303 3.4.3, RFC 4302 3.4.3)
	numReasons
)

var reasonNames = [numReasons]string{"none", "malformed", "blocked", "unsecured", "queue-full",
	"negotiation", "no-sa", "open", "selectors", "policy", "seal", "unsupported", "replay"}

func (r DropReason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// Result is the driver's verdict on one packet. It is a plain value;
// Packet aliases the caller's buffers (dst or pkt).
type Result struct {
	Verdict Verdict
	// Packet is what to send or deliver: the packet itself (clear), the
	// sealed bytes appended to dst (protected), the inner packet
	// (deliver). Nil otherwise.
	Packet []byte
	// To is the peer for a protected packet: its address, with the UDP
	// port when Proto is UDP (ESP in UDP, RFC 3948: Packet is then bare
	// ESP, SPI first, for the NAT-T socket).
	To netip.AddrPort
	// Proto is how a protected packet travels: ProtoESPInUDP,
	// ProtoRaw (Packet is a whole IP packet carrying ESP or AH), or
	// ProtoESP (from OutboundESP only).
	Proto Carrier
	// Reason says why a packet was dropped.
	Reason DropReason
	// Rule is the identity of the rule that decided ("" for the policy's
	// default).
	Rule string
}

// Carrier says how a protected packet travels. It is a plain value, safe
// for concurrent use.
type Carrier uint8

// Carriers.
const (
	ProtoRaw      Carrier = iota + 1 // an IP packet with ESP or AH: a raw socket or TUN
	ProtoESPInUDP                    // bare ESP inside UDP to To (RFC 3948), e.g. ike.Endpoint.SendESP
	ProtoESP                         // bare ESP for To's address, in the caller's own transport (Driver.OutboundESP)
)

// DriverConfig configures a Driver. NewDriver copies it.
type DriverConfig struct {
	// SPD is the policy in force; required. Agent, if set, is the Policy
	// Agent that installs policies into SPD (spd.NewAgent with the same
	// SPD); Driver.Run runs it. A new policy takes effect on the next
	// packet either way.
	SPD   *spd.SPD
	Agent *spd.Agent
	// SAD holds the SAs; nil makes a new one.
	SAD *sad.DB
	// Endpoint configures the IKE endpoint the driver makes; the driver
	// sets its Responder, and takes over Events and ESP (calling the
	// ones given here after its own handling).
	Endpoint ike.EndpointConfig
	// Deliver receives the verdicts on ESP packets that arrived in UDP
	// on the endpoint's NAT-T socket (InboundESP), from the endpoint's
	// goroutine; Result.Packet is only valid during the call. Nil drops
	// them (unless Endpoint.ESP or Endpoint.ESPBatch is set: the caller
	// then calls InboundESP itself).
	Deliver func(Result)
	// PeerPorts says where a peer's IKE and NAT-T sockets listen; nil
	// means 500 and 4500.
	PeerPorts func(peer netip.Addr) (ike, natt uint16)
	// Output receives packets the driver held while IKE negotiated,
	// once their SA is up (VerdictProtected) or once the flow fell back
	// to clear (VerdictClear), from an IKE or timer goroutine. Result.Packet
	// is only valid during the call. It must not block, nor wait for the
	// endpoint's commands (it may run on an endpoint worker). Nil drops
	// them.
	Output func(Result)

	// LocalID is this side's IKE identity; zero uses the IP address of
	// the endpoint's IKE socket.
	LocalID auth.Identity
	// IKEProposals for every IKE SA; nil means
	// "aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048".
	IKEProposals []ike.Proposal
	// PFSGroup is the key exchange of rules with session key PFS; zero
	// means X25519.
	PFSGroup isakmp.KEGroup
	// SignatureKey and Certificates (DER, leaf first) authenticate this
	// side for rules with certificate authentication; CertVerifiers maps
	// a rule's root CA name to the verifier of peers' chains.
	SignatureKey  crypto.Signer
	Certificates  [][]byte
	CertVerifiers map[string]*auth.CertVerifier
	// Kerberos holds this host's Kerberos credentials
	// (auth.LoadKerberosHost) for rules with the kerberos
	// authentication method, which IKEv1 carries (the GSS-API method
	// Windows domain members use); nil skips such methods.
	Kerberos *auth.KerberosHost
	// PreSharedKey looks up the secret of a rule's pre-shared key given
	// by reference (spd.AuthMethod.PreSharedKeyRef); nil skips such
	// methods.
	PreSharedKey func(ref string) ([]byte, error)
	// ForceUDPEncap makes every IKE SA claim a NAT, so that ESP goes in
	// UDP (RFC 3948) even without one.
	ForceUDPEncap bool
	// DPDInterval, RetransmitTimeout and RetransmitTries go into every
	// IKE Config (see ike.Config).
	DPDInterval       time.Duration
	RetransmitTimeout time.Duration
	RetransmitTries   int

	// QueueLen bounds each flow's queue of held packets; zero means
	// DefaultQueueLen.
	QueueLen int
	// AcquireInterval is the least time between two acquires of one
	// flow; zero means DefaultAcquireInterval.
	AcquireInterval time.Duration
	// AcquireTimeout is how long a flow waits for its CHILD SA before the
	// held packets are dropped (or, for a rule that falls back to clear,
	// sent in the clear); zero means DefaultAcquireTimeout.
	AcquireTimeout time.Duration
	// FallbackPeriod is how long a flow that fell back to clear stays
	// clear before negotiating again; zero means DefaultFallbackPeriod.
	FallbackPeriod time.Duration
	// Installer configures the make-before-break rekeys.
	Installer InstallerConfig
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Driver is the IPsec driver: it decides every packet by the policy in
// force, protects and opens packets with the SAs in the SAD, and asks IKE
// for SAs on demand (see the pipeline at the top of driver.go). It is
// safe for concurrent use: Outbound and Inbound may be called from many
// goroutines at once.
type Driver struct {
	cfg   DriverConfig
	spd   *spd.SPD
	db    *sad.DB
	ep    *ike.Endpoint
	neg   negotiator
	inst  *Installer
	log   *slog.Logger
	local netip.Addr // the IKE socket's address

	pol   atomic.Pointer[policyState]
	flows atomic.Pointer[map[flowKey]*ruleFlow]
	sas   atomic.Pointer[map[uint64]*saInfo] // inbound SAs by sadProto<<32|SPI
	cache atomic.Pointer[ruleCache]          // classification cache of the policy in force

	mu       sync.Mutex // serialises the slow paths below and the maps' writers
	ruleNums map[string]uint32
	nextNum  uint32
	nextFlow uint32
	ikeSAs   map[netip.Addr][8]byte // established or starting IKE SA per peer (our SPI)
	children map[childID]childRef   // installed CHILD SAs, for deletes and rekeys
	ctx      context.Context
	cancel   context.CancelFunc

	drops    [numReasons]atomic.Uint64
	held     atomic.Uint64
	acquires atomic.Uint64
}

// childRef is where a CHILD SA lives: its IKE SA (by our SPI) and rule.
type childRef struct {
	ike    [8]byte
	rule   *ruleState
	out    sad.OutboundKey
	outSPI uint32 // its outbound SA's SPI: the flow's key is shared with its rekeyed successor
	pfs    isakmp.KEGroup
}

// saInfo is what the inbound check needs about an inbound SA.
type saInfo struct {
	rule             *ruleState
	local, remote    []isakmp.TrafficSelector
	proto            sad.Proto
	spi              uint32
	outboundSPI      uint32
	installedForPeer netip.Addr
	// v4 holds local and remote compiled for IPv4 packets, made on
	// first use (see inSelectors4).
	v4 atomic.Pointer[sel4]
}

// DriverStats are the driver's counters: a snapshot value.
type DriverStats struct {
	// Drops counts dropped packets by reason (indexed by DropReason).
	Drops [numReasons]uint64
	// Held counts packets queued while IKE negotiated; Acquires the
	// negotiations started.
	Held, Acquires uint64
}

// NewDriver makes a driver and its IKE endpoint (validated, not yet
// bound: Run binds and serves, or call Endpoint().Listen first).
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if cfg.SPD == nil {
		return nil, errors.New("ipsec: DriverConfig.SPD is required")
	}
	if cfg.SAD == nil {
		cfg.SAD = sad.New(sad.Config{})
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.AcquireInterval <= 0 {
		cfg.AcquireInterval = DefaultAcquireInterval
	}
	if cfg.AcquireTimeout <= 0 {
		cfg.AcquireTimeout = DefaultAcquireTimeout
	}
	if cfg.FallbackPeriod <= 0 {
		cfg.FallbackPeriod = DefaultFallbackPeriod
	}
	if cfg.PFSGroup == 0 {
		cfg.PFSGroup = isakmp.GroupCurve25519
	}
	if cfg.IKEProposals == nil {
		p, err := ike.ParseProposals("aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048", isakmp.ProtocolIKE)
		if err != nil {
			return nil, err
		}
		cfg.IKEProposals = p
	}
	d := &Driver{cfg: cfg, spd: cfg.SPD, db: cfg.SAD, log: cfg.Logger,
		ruleNums: map[string]uint32{}, ikeSAs: map[netip.Addr][8]byte{}, children: map[childID]childRef{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.inst = NewInstaller(d.db, cfg.Installer)
	d.inst.lifetime = d.lifetimeOf
	d.flows.Store(&map[flowKey]*ruleFlow{})
	d.sas.Store(&map[uint64]*saInfo{})
	ecfg := cfg.Endpoint
	userEvents, userESP := ecfg.Events, ecfg.ESP
	ecfg.Events = func(ev ike.Event) {
		d.handleIKE(ev)
		if userEvents != nil {
			userEvents(ev)
		}
	}
	ecfg.ESP = func(from netip.AddrPort, pkt []byte) {
		if userESP != nil {
			userESP(from, pkt)
			return
		}
		r := d.InboundESP(from, pkt)
		if d.cfg.Deliver != nil {
			d.cfg.Deliver(r)
		}
	}
	if ecfg.PeerNATT == nil && cfg.PeerPorts != nil {
		ecfg.PeerNATT = func(peer netip.AddrPort) netip.AddrPort {
			_, n := cfg.PeerPorts(peer.Addr())
			return netip.AddrPortFrom(peer.Addr(), n)
		}
	}
	d.local = ecfg.IKEAddr.Addr()
	if d.cfg.LocalID.Type == 0 {
		d.cfg.LocalID = auth.IP(d.local)
	}
	resp, err := d.responderConfig()
	if err != nil {
		return nil, err
	}
	ecfg.Responder = resp
	ep, err := ike.NewEndpoint(ecfg)
	if err != nil {
		return nil, err
	}
	d.ep = ep
	d.neg = endpointNegotiator{ep}
	return d, nil
}

// Endpoint returns the driver's IKE endpoint.
func (d *Driver) Endpoint() *ike.Endpoint { return d.ep }

// SAD returns the driver's SA database.
func (d *Driver) SAD() *sad.DB { return d.db }

// Stats returns a snapshot of the driver's counters.
func (d *Driver) Stats() DriverStats {
	var s DriverStats
	for i := range d.drops {
		s.Drops[i] = d.drops[i].Load()
	}
	s.Held, s.Acquires = d.held.Load(), d.acquires.Load()
	return s
}

// RuleDrops returns how many packets the rule with identity id dropped,
// by reason (indexed by DropReason), under the policy in force.
func (d *Driver) RuleDrops(id string) [numReasons]uint64 {
	var out [numReasons]uint64
	if rs := d.policy().byID[id]; rs != nil {
		for i := range rs.drops {
			out[i] = rs.drops[i].Load()
		}
	}
	return out
}

// Run serves until ctx is done: the IKE endpoint, the SAD's timers and
// the driver's handling of its events, and the Policy Agent if one was
// given. It returns the first error of any of them.
func (d *Driver) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer d.cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	start := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- err
				cancel()
			}
		}()
	}
	start(d.ep.Run)
	start(d.db.Run)
	start(d.sadEvents)
	if d.cfg.Agent != nil {
		start(d.cfg.Agent.Run)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// drop counts a dropped packet for the rule (nil: the default) and
// returns the verdict.
func (d *Driver) drop(rs *ruleState, r DropReason) Result {
	d.drops[r].Add(1)
	id := ""
	if rs != nil {
		rs.drops[r].Add(1)
		id = rs.id
	}
	return Result{Verdict: VerdictDrop, Reason: r, Rule: id}
}

// Outbound decides an outbound IP packet: send it clear, send it
// protected (the sealed bytes are appended to dst), drop it, or hold it
// while IKE negotiates. It does not allocate when the packet's SA exists.
func (d *Driver) Outbound(dst, pkt []byte) (r Result) {
	return d.outbound(dst, pkt, false)
}

// OutboundESP is Outbound for a caller that carries ESP in a transport of
// its own, such as examples/gateway's UDP data port: a packet that an
// ESP-only tunnel-mode SA protects is returned as bare ESP (SPI through
// ICV, RFC 4303 section 2; no outer IP header) with Proto ProtoESP, so
// that the sealed packets of a run can lie back to back in one buffer for
// UDP GSO. Everything else is as Outbound returns it.
func (d *Driver) OutboundESP(dst, pkt []byte) (r Result) {
	return d.outbound(dst, pkt, true)
}

func (d *Driver) outbound(dst, pkt []byte, bare bool) (r Result) {
	var rs *ruleState
	var f *ruleFlow
	if k, fast := cacheKeyOf(pkt, spd.DirOutbound); fast {
		st := d.policy()
		c := d.cacheFor(st)
		if rs, f = c.get(k); rs == nil {
			sel := fastSel(pkt)
			rs, f = d.classifyOut(st, &sel)
			c.put(k, rs, f)
		}
	} else {
		sel, err := parseSelector(pkt)
		if err != nil {
			return d.drop(nil, ReasonMalformed)
		}
		rs, f = d.classifyOut(d.policy(), &sel)
	}
	if f != nil {
		if sa := d.db.Outbound(f.key); sa != nil {
			d.sealInto(&r, dst, pkt, f, sa, bare)
			return r
		}
	}
	return d.outboundNoSA(pkt, rs, f)
}

// classifyOut returns the rule of an outbound packet and, for a
// Negotiate rule the driver can serve, its flow: the rule and the peer
// (the rule's tunnel endpoint, or the packet's destination in transport
// mode).
func (d *Driver) classifyOut(st *policyState, sel *spd.Selector) (*ruleState, *ruleFlow) {
	rs := d.ruleOf(st, st.cls.Lookup(*sel, spd.DirOutbound))
	if rs.action != spd.ActionProtect || rs.cfg == nil {
		return rs, nil
	}
	peer := rs.tunnel
	if !peer.IsValid() {
		peer = sel.Dst
	}
	return rs, d.flowOf(rs, peer)
}

// outboundNoSA decides an outbound packet of rule rs that no SA seals:
// f is the rule's flow for the packet's peer, nil unless rs is a
// Negotiate rule the driver can serve.
func (d *Driver) outboundNoSA(pkt []byte, rs *ruleState, f *ruleFlow) Result {
	switch rs.action {
	case spd.ActionBypass:
		return Result{Verdict: VerdictClear, Packet: pkt, Rule: rs.id}
	case spd.ActionProtect:
	default:
		return d.drop(rs, ReasonBlocked)
	}
	if f == nil {
		return d.drop(rs, ReasonUnsupported)
	}
	if f.clear(time.Now()) {
		return Result{Verdict: VerdictClear, Packet: pkt, Rule: rs.id}
	}
	sel, err := parseSelector(pkt) // read before: cannot fail
	if err != nil {
		return d.drop(nil, ReasonMalformed)
	}
	return d.hold(f, pkt, &sel)
}

// seal protects pkt with sa for flow f.
func (d *Driver) seal(dst, pkt []byte, f *ruleFlow, sa *sad.SA) Result {
	var r Result
	d.sealInto(&r, dst, pkt, f, sa, false)
	return r
}

// sealInto is seal writing its verdict to *r, which is zero: the
// datapath builds its Result in place rather than copying it up the
// calls.
func (d *Driver) sealInto(r *Result, dst, pkt []byte, f *ruleFlow, sa *sad.SA, bare bool) {
	rt := f.route.Load()
	if rt == nil {
		*r = d.drop(f.rule, ReasonSeal)
		return
	}
	var err error
	switch {
	case rt.encap.IsValid():
		r.Packet, err = sa.SealESP(dst, pkt)
		r.Proto, r.To = ProtoESPInUDP, rt.encap
	case bare && sa.BareESP():
		r.Packet, err = sa.SealESP(dst, pkt)
		r.Proto, r.To = ProtoESP, netip.AddrPortFrom(f.peer, 0)
	default:
		r.Packet, err = sa.Seal(dst, pkt)
		r.Proto, r.To = ProtoRaw, netip.AddrPortFrom(f.peer, 0)
	}
	if err != nil {
		*r = d.drop(f.rule, ReasonSeal)
		return
	}
	r.Verdict, r.Rule = VerdictProtected, f.rule.id
}

// Inbound decides an inbound IP packet: an ESP or AH packet is opened in
// place and its inner packet delivered if it passes the checks; a clear
// packet is delivered or dropped as the policy says. It does not allocate.
func (d *Driver) Inbound(pkt []byte) (r Result) {
	proto, off, ok := outerProto(pkt)
	if !ok {
		return d.drop(nil, ReasonMalformed)
	}
	switch proto {
	case protoESP, protoAH:
		if len(pkt) < off+12 {
			return d.drop(nil, ReasonMalformed)
		}
		p, spiOff := sad.ProtoESP, off
		if proto == protoAH {
			p, spiOff = sad.ProtoAH, off+4
		}
		spi := binary.BigEndian.Uint32(pkt[spiOff:])
		sa := d.db.Inbound(p, spi, netip.Addr{})
		if sa == nil {
			return d.drop(nil, ReasonNoSA)
		}
		inner, err := sa.Open(pkt)
		if err != nil {
			return d.drop(nil, openReason(err))
		}
		d.checkInner(&r, p, spi, inner)
		return r
	}
	return d.inboundClear(pkt)
}

// InboundESP decides an ESP packet that arrived inside UDP (RFC 3948): esp
// is the UDP payload, SPI first. It is opened in place.
func (d *Driver) InboundESP(from netip.AddrPort, esp []byte) (r Result) {
	inner, sa, err := d.db.OpenESP(esp)
	switch {
	case sa == nil && errors.Is(err, sad.ErrNotFound):
		return d.drop(nil, ReasonNoSA)
	case sa == nil:
		return d.drop(nil, ReasonMalformed)
	case err != nil:
		return d.drop(nil, openReason(err))
	}
	d.checkInner(&r, sad.ProtoESP, sa.SPI(), inner)
	return r
}

// openReason tells a replayed packet from one whose ICV or padding failed.
func openReason(err error) DropReason {
	if errors.Is(err, esp.ErrReplay) || errors.Is(err, ah.ErrReplay) {
		return ReasonReplay
	}
	return ReasonOpen
}

// checkInner applies RFC 4301 section 5.2's check to a decrypted packet:
// it must lie inside the selectors of the SA it came through, and the
// policy in force must send it to the rule that SA serves.
func (d *Driver) checkInner(r *Result, p sad.Proto, spi uint32, inner []byte) {
	info := (*d.sas.Load())[uint64(p)<<32|uint64(spi)]
	if info == nil {
		*r = d.drop(nil, ReasonPolicy)
		return
	}
	var rs *ruleState
	if k, fast := cacheKeyOf(inner, spd.DirInbound); fast {
		if !inSelectors4(inner, info.sel4()) {
			*r = d.drop(info.rule, ReasonSelectors)
			return
		}
		rs = d.inboundRuleFast(inner, k)
	} else {
		sel, err := parseSelector(inner)
		if err != nil {
			*r = d.drop(info.rule, ReasonMalformed)
			return
		}
		if !inSelectors(&sel, info.remote, info.local) {
			*r = d.drop(info.rule, ReasonSelectors)
			return
		}
		rs = d.inboundRule(&sel)
	}
	// The packet's rule must be the SA's, or the inbound half of a
	// tunnel (a rule whose tunnel endpoint is this side: Windows writes a
	// tunnel as one rule per direction, and the SA is negotiated for the
	// outbound one).
	if info.rule.dead.Load() || rs.action != spd.ActionProtect || rs != info.rule && !rs.tunnelHere {
		*r = d.drop(info.rule, ReasonPolicy)
		return
	}
	r.Verdict, r.Packet, r.Rule = VerdictDeliver, inner, rs.id
}

// inboundClear decides a packet that arrived without IPsec.
func (d *Driver) inboundClear(pkt []byte) Result {
	sel, k, fast := fastSelector(pkt, spd.DirInbound)
	if !fast {
		var err error
		if sel, err = parseSelector(pkt); err != nil {
			return d.drop(nil, ReasonMalformed)
		}
	}
	var rs *ruleState
	if fast {
		rs = d.inboundRuleFast(pkt, k)
	} else {
		rs = d.inboundRule(&sel)
	}
	switch rs.action {
	case spd.ActionBypass:
		return Result{Verdict: VerdictClear, Packet: pkt, Rule: rs.id}
	case spd.ActionProtect:
		// Windows' "accept unsecured communication, but always respond
		// using IPsec": the reply goes through Outbound, which
		// negotiates. A flow that fell back to clear accepts clear
		// packets from its peer too.
		if rs.acceptUnsecured {
			return Result{Verdict: VerdictClear, Packet: pkt, Rule: rs.id}
		}
		if rs.fallback {
			peer := rs.tunnel
			if !peer.IsValid() {
				peer = sel.Src
			}
			if f := (*d.flows.Load())[flowKey{rs.num, peer}]; f != nil && f.clear(time.Now()) {
				return Result{Verdict: VerdictClear, Packet: pkt, Rule: rs.id}
			}
		}
		return d.drop(rs, ReasonUnsecured)
	}
	return d.drop(rs, ReasonBlocked)
}

// inboundRule returns the rule of an inbound packet under the policy in
// force.
func (d *Driver) inboundRule(sel *spd.Selector) *ruleState {
	st := d.policy()
	return d.ruleOf(st, st.cls.Lookup(*sel, spd.DirInbound))
}

// inboundRuleFast is inboundRule through the classification cache, for
// a packet cacheKeyOf accepted with key k.
func (d *Driver) inboundRuleFast(pkt []byte, k cacheKey) *ruleState {
	st := d.policy()
	c := d.cacheFor(st)
	if rs, _ := c.get(k); rs != nil {
		return rs
	}
	sel := fastSel(pkt)
	rs := d.ruleOf(st, st.cls.Lookup(sel, spd.DirInbound))
	c.put(k, rs, nil)
	return rs
}
