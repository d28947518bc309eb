package ipsec

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
	"github.com/ipsecgo/ipsec/spd"
)

// policyState is the driver's view of one compiled policy: the classifier
// and a ruleState per rule. A packet reads one policyState, so it sees
// either the old policy or the new one, never a mix.
type policyState struct {
	cls   *spd.Classifier
	byID  map[string]*ruleState
	order []*ruleState // in the policy's order
	// ptrs caches the ruleState of each of the classifier's rules by
	// pointer (what spd.Match returns), filled on first use.
	ptrs atomic.Pointer[map[*spd.Rule]*ruleState]
	// def is the state of the policy's default rule.
	def *ruleState
}

// ruleState is a rule as the driver uses it: its action and options and,
// for Negotiate rules, the IKE configuration translated from it. A rule
// keeps its ruleState (and so its SAs) across reloads while its identity
// and its settings stay the same.
type ruleState struct {
	id     string
	num    uint32 // sad.OutboundKey.Rule
	action spd.Action
	// acceptUnsecured and fallback are the Windows filter action options.
	acceptUnsecured, fallback bool
	tunnel                    netip.Addr
	// tunnelHere is set for the inbound half of a tunnel: its tunnel
	// endpoint is one of this side's addresses.
	tunnelHere bool
	cfg        *ike.Config // Negotiate rules
	err        error       // why cfg could not be made
	// lifetime of its SAs in the SAD (time and kilobytes, RFC 4301
	// 4.4.2.1).
	life        sad.Lifetime
	fingerprint string
	drops       [numReasons]atomic.Uint64
	dead        atomic.Bool // removed or changed by a reload
	// tunnelFlow is the flow of a tunnel rule (it has one peer), kept
	// here to spare the datapath the flow map.
	tunnelFlow atomic.Pointer[ruleFlow]
}

// ruleID is a rule's identity across reloads.
func ruleID(r *spd.Rule) string { return r.Identity() }

// policy returns the policy state for the SPD's classifier in force,
// rebuilding it after a reload.
func (d *Driver) policy() *policyState {
	c := d.spd.Active()
	if st := d.pol.Load(); st != nil && st.cls == c {
		return st
	}
	return d.reload(c)
}

// ruleOf returns the ruleState of a lookup's result.
func (d *Driver) ruleOf(st *policyState, m spd.Match) *ruleState {
	if m.Default {
		return st.def
	}
	if rs := (*st.ptrs.Load())[m.Rule]; rs != nil {
		return rs
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *st.ptrs.Load()
	if rs := old[m.Rule]; rs != nil {
		return rs
	}
	rs := st.byID[ruleID(m.Rule)]
	if rs == nil { // a rule Policy() did not show: cannot happen; be safe
		rs = d.newRuleState(m.Rule, st.cls, st.cls.Policy())
	}
	n := make(map[*spd.Rule]*ruleState, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	n[m.Rule] = rs
	st.ptrs.Store(&n)
	return rs
}

// reload builds the state of a new classifier: rules whose identity and
// settings are unchanged keep their state (and SAs); the SAs of rules
// that disappeared or changed are deleted, with IKE Deletes sent.
func (d *Driver) reload(c *spd.Classifier) *policyState {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.pol.Load()
	if old != nil && old.cls == c {
		return old
	}
	p := c.Policy()
	st := &policyState{cls: c, byID: map[string]*ruleState{}}
	st.ptrs.Store(&map[*spd.Rule]*ruleState{})
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Disabled {
			continue
		}
		rs := d.newRuleState(r, c, p)
		if old != nil {
			if o := old.byID[rs.id]; o != nil && o.fingerprint == rs.fingerprint {
				rs = o
			}
		}
		st.byID[rs.id] = rs
		st.order = append(st.order, rs)
	}
	defAction := p.Default.Action
	if defAction == 0 {
		defAction = spd.ActionBypass
	}
	st.def = &ruleState{action: defAction}
	if defAction == spd.ActionProtect {
		// A default that negotiates has no filters to make selectors of.
		st.def.err = errors.New("ipsec: a Negotiate default action is not supported by the driver")
	}
	var gone []*ruleState
	if old != nil {
		for id, o := range old.byID {
			if st.byID[id] != o {
				o.dead.Store(true)
				gone = append(gone, o)
			}
		}
	}
	d.pol.Store(st)
	if len(gone) > 0 {
		d.retireRules(gone)
	}
	return st
}

// newRuleState translates a rule. The caller holds d.mu.
func (d *Driver) newRuleState(r *spd.Rule, c *spd.Classifier, p *spd.Policy) *ruleState {
	id := ruleID(r)
	num, ok := d.ruleNums[id]
	if !ok {
		d.nextNum++
		num = d.nextNum
		d.ruleNums[id] = num
	}
	a := &r.Action
	rs := &ruleState{id: id, num: num, action: a.Action, acceptUnsecured: a.AcceptUnsecured,
		fallback: a.FallbackToClear, tunnel: r.Tunnel,
		fingerprint: fmt.Sprintf("%+v|%+v|%+v|%v", r.Filters.Filters, r.Action, r.Auth, r.Tunnel)}
	if r.Tunnel.IsValid() {
		t := r.Tunnel.Unmap()
		rs.tunnelHere = t == d.local.Unmap()
		for _, a := range c.LocalAddrs() {
			rs.tunnelHere = rs.tunnelHere || a.Unmap() == t
		}
	}
	if a.Action == spd.ActionProtect && !rs.tunnelHere {
		rs.cfg, rs.life, rs.err = d.ikeConfig(r, c, p)
		if rs.err != nil {
			d.log.Debug("ipsec: rule cannot negotiate", "rule", id, "err", rs.err)
		}
	}
	return rs
}

// ikeConfig translates a Negotiate rule into the IKE configuration of its
// CHILD SAs (both as initiator and as responder) and the lifetime of its
// SAs in the SAD:
//   - the security methods become the CHILD SA proposals, in order (RFC
//     7296 3.3); IKEv2 negotiates one protocol per CHILD SA, so the
//     methods of the first method's protocol are used and AH+ESP methods
//     are not (RFC 7296 dropped SA bundles); an IKEv1 rule whose first
//     method is AH+ESP offers its AH+ESP methods as a bundle;
//   - session key PFS adds DriverConfig.PFSGroup to every proposal;
//   - the first method's lifetimes: seconds become the CHILD SA's hard
//     lifetime (rekeyed at 90%), kilobytes the SAD's byte limits;
//   - the authentication methods: the first pre-shared key or
//     certificate method authenticates both ways;
//   - the filters become the traffic selectors (RFC 7296 2.9), this side's
//     and the peer's; the tunnel endpoint chooses tunnel mode.
func (d *Driver) ikeConfig(r *spd.Rule, c *spd.Classifier, p *spd.Policy) (*ike.Config, sad.Lifetime, error) {
	var life sad.Lifetime
	cfg := &ike.Config{LocalID: d.cfg.LocalID, IKEProposals: d.cfg.IKEProposals, Tag: ruleID(r),
		ForceUDPEncap: d.cfg.ForceUDPEncap, DPDInterval: d.cfg.DPDInterval,
		RetransmitTimeout: d.cfg.RetransmitTimeout, RetransmitTries: d.cfg.RetransmitTries,
		Logger: d.cfg.Logger, IKERekey: -1,
		// CHILD SAs the peer asks for on an IKE SA this side started
		// get their rule the way a responder's do.
		GetConfigForRequest: d.configForRequest,
		// IKEv1: the commit bit, as Windows sets it, so that the
		// held packets flushed at EventChildUp find the peer's SAs.
		QuickModeCommit: true}
	if r.TunnelMode() {
		cfg.Mode = ike.Tunnel
	} else {
		cfg.Mode = ike.Transport
	}
	methods := r.Action.Methods
	if len(methods) == 0 {
		return nil, life, errors.New("ipsec: a Negotiate rule without security methods")
	}
	if err := d.keyExchange(cfg, r, &p.KeyExchange); err != nil {
		return nil, life, err
	}
	// Session key PFS: the rule's group, else the IKE SA's (as Windows
	// does), else DriverConfig.PFSGroup.
	pfs := isakmp.KEGroup(r.Action.PFSGroup)
	if pfs == 0 && len(cfg.IKEProposals) > 0 && len(cfg.IKEProposals[0].KE) > 0 {
		pfs = cfg.IKEProposals[0].KE[0]
	}
	if pfs == 0 {
		pfs = d.cfg.PFSGroup
	}
	first := methods[0]
	useAH := first.UseAH && !first.UseESP
	// IKEv1 negotiates AH+ESP as an SA bundle (RFC 2408 4.2: an AH and
	// an ESP proposal with one number), as Windows offers it: a rule
	// whose first method is AH+ESP offers its AH+ESP methods.
	bundle := first.UseAH && first.UseESP && cfg.KeyExchange == ike.KeyExchangeIKEv1
	if bundle && cfg.ForceUDPEncap {
		return nil, life, errors.New("ipsec: AH+ESP cannot travel in UDP (RFC 3948 encapsulates ESP only), and DriverConfig.ForceUDPEncap is set")
	}
	for _, m := range methods {
		if bundle {
			if !m.UseAH || !m.UseESP {
				continue
			}
			e, a := m, m
			e.UseAH, a.UseESP = false, false
			ep, err := childProposal(e, r.Action.PFS, pfs)
			if err != nil {
				return nil, life, err
			}
			ap, err := childProposal(a, r.Action.PFS, pfs)
			if err != nil {
				return nil, life, err
			}
			cfg.ChildProposals = append(cfg.ChildProposals, ep, ap)
			continue
		}
		if m.UseAH && m.UseESP {
			continue
		}
		if m.UseAH != useAH {
			continue
		}
		p, err := childProposal(m, r.Action.PFS, pfs)
		if err != nil {
			return nil, life, err
		}
		cfg.ChildProposals = append(cfg.ChildProposals, p)
	}
	if len(cfg.ChildProposals) == 0 {
		return nil, life, errors.New("ipsec: AH+ESP bundles need IKEv1 (key exchange versions: [ikev1]); IKEv2 has none (RFC 7296 removed SA bundles)")
	}
	if first.Lifetime > 0 {
		cfg.ChildLifetime = first.Lifetime
		cfg.ChildRekey = first.Lifetime * 9 / 10
	}
	if first.LifetimeKB > 0 {
		life.HardBytes = first.LifetimeKB * 1024
		life.SoftBytes = life.HardBytes * 9 / 10
	}
	if err := d.authConfig(cfg, r.Auth, r.RemoteID); err != nil {
		return nil, life, err
	}
	if !r.LocalID.IsZero() {
		id, err := authIdentity(r.LocalID)
		if err != nil {
			return nil, life, err
		}
		cfg.LocalID = id
	}
	if !r.RemoteID.IsZero() {
		id, err := authIdentity(r.RemoteID)
		if err != nil {
			return nil, life, err
		}
		cfg.RemoteID = id
	}
	cfg.AllowLegacyV1 = cfg.KeyExchange == ike.KeyExchangeIKEv1 && legacyV1(cfg)
	cfg.LocalTS, cfg.RemoteTS = ruleSelectors(r, c.LocalAddrs(), d.local)
	if len(cfg.LocalTS) == 0 || len(cfg.RemoteTS) == 0 {
		return nil, life, errors.New("ipsec: the rule's filters give no traffic selectors")
	}
	return cfg, life, nil
}

// legacyV1 reports whether an IKEv1 rule's proposals name 3DES, MD5 or
// MODP-1024 (Oakley group 2): Windows Server 2003's defaults, which
// package ike negotiates only with Config.AllowLegacyV1 (RFC 8221 and
// RFC 8247 deprecate them). A policy that names them asks for them, so
// the rule's Config allows them; DES and MODP-768 stay refused.
func legacyV1(cfg *ike.Config) bool {
	for _, p := range append(slices.Clip(cfg.IKEProposals), cfg.ChildProposals...) {
		for _, e := range p.Encr {
			if e.ID == isakmp.Encr3DES {
				return true
			}
		}
		if slices.Contains(p.Integ, isakmp.IntegHMACMD5_96) || slices.Contains(p.PRF, isakmp.PRFHMACMD5) ||
			slices.Contains(p.KE, isakmp.GroupMODP1024) {
			return true
		}
	}
	return false
}

// childProposal is a security method as an IKEv2 CHILD SA proposal (the
// spd numbers are the IANA transform IDs).
func childProposal(m spd.SecurityMethod, pfs bool, group isakmp.KEGroup) (ike.Proposal, error) {
	p := ike.Proposal{Protocol: isakmp.ProtocolESP}
	if m.UseAH {
		p.Protocol = isakmp.ProtocolAH
		p.Integ = []isakmp.IntegID{isakmp.IntegID(m.AHIntegrity)}
	} else {
		p.Encr = []ike.Encr{{ID: isakmp.EncrID(m.ESPEncryption), KeyBits: m.ESPKeyBits}}
		if !m.ESPEncryption.AEAD() {
			p.Integ = []isakmp.IntegID{isakmp.IntegID(m.ESPIntegrity)}
		}
	}
	if pfs {
		p.KE = []isakmp.KEGroup{group}
	}
	p.ESN = []isakmp.ESNID{isakmp.ESNNo}
	return p, nil
}

// authConfig sets the rule's authentication methods. IKEv2 (RFC 7296
// 2.15) uses the first pre-shared key or certificate method. A rule that
// may negotiate with IKEv1 keeps every usable method in the rule's
// order, as Windows tries them (ike.Config.AuthOrder: each method is one
// set of transforms in the phase 1 proposal, the responder takes the
// first it accepts): Kerberos (the GSS-API method, with
// DriverConfig.Kerberos and the method's peer principal, else
// "host/<name>" of an FQDN remote identity; without either the method
// is skipped), then at most
// one of pre-shared key and certificate (an ike.Config carries either a
// pre-shared key or a signature key; the first one listed wins).
// Kerberos needs IKEv1: IKEv2 has no GSS-API method, so IKEv2 rules skip
// it.
func (d *Driver) authConfig(cfg *ike.Config, methods []spd.AuthMethod, remote spd.Identity) error {
	v1 := cfg.KeyExchange.Allows(ike.IKEv1)
	var order []ike.AuthKind
	secretSet := false // Auth or SignatureKey
	for _, m := range methods {
		switch m.Kind {
		case spd.AuthPreSharedKey:
			if secretSet {
				continue
			}
			secret := []byte(m.PreSharedKey)
			if m.PreSharedKeyRef != "" {
				if d.cfg.PreSharedKey == nil {
					continue
				}
				var err error
				if secret, err = d.cfg.PreSharedKey(m.PreSharedKeyRef); err != nil {
					return fmt.Errorf("ipsec: pre-shared key %q: %w", m.PreSharedKeyRef, err)
				}
			}
			psk, err := auth.NewPSK(secret, auth.PSKOptions{})
			if err != nil {
				return fmt.Errorf("ipsec: pre-shared key: %w", err)
			}
			cfg.Auth = psk
			cfg.PeerAuth = func(auth.Identity, [][]byte, time.Time) (auth.PeerAuthenticator, error) { return psk, nil }
			secretSet = true
			order = append(order, ike.AuthPSK)
		case spd.AuthCertificate:
			v := d.cfg.CertVerifiers[m.RootCA]
			if secretSet || v == nil || d.cfg.SignatureKey == nil {
				continue
			}
			cfg.SignatureKey, cfg.Certificates = d.cfg.SignatureKey, d.cfg.Certificates
			cfg.PeerAuth = ike.CertPeers(v)
			secretSet = true
			order = append(order, ike.AuthCertificate)
		case spd.AuthKerberos:
			principal := m.Principal
			if principal == "" && remote.Type == spd.IDFQDN {
				// The peer's computer account, as Windows names it.
				principal = "host/" + remote.Value
			}
			if !v1 || cfg.Kerberos != nil || d.cfg.Kerberos == nil || principal == "" {
				continue
			}
			cfg.Kerberos = &ike.KerberosAuth{Host: d.cfg.Kerberos, PeerPrincipal: principal}
			order = append(order, ike.AuthKerberos)
		}
		if !v1 && secretSet {
			break
		}
	}
	if len(order) == 0 {
		return errors.New("ipsec: no usable authentication method (pre-shared key, a certificate root with DriverConfig.CertVerifiers, or for IKEv1 Kerberos with DriverConfig.Kerberos and the peer's principal)")
	}
	if v1 {
		cfg.AuthOrder = order
	}
	if !secretSet && cfg.KeyExchange != ike.KeyExchangeIKEv1 {
		return errors.New("ipsec: Kerberos is the rule's only usable authentication method, but IKEv2 has none (key exchange versions allow IKEv2)")
	}
	return nil
}

// ruleSelectors turns a rule's filters into traffic selectors from this
// side's point of view: outbound filters give source -> local and
// destination -> remote, inbound-only filters the reverse.
func ruleSelectors(r *spd.Rule, me []netip.Addr, ikeAddr netip.Addr) (local, remote []isakmp.TrafficSelector) {
	if len(me) == 0 && ikeAddr.IsValid() {
		me = []netip.Addr{ikeAddr}
	}
	for _, f := range r.Filters.Filters {
		src, dst := f.Source, f.Destination
		sp, dp := f.SourcePort, f.DestinationPort
		if f.Direction == spd.DirInbound && !f.Mirrored {
			src, dst, sp, dp = dst, src, dp, sp
		}
		proto := uint8(f.Protocol)
		local = appendTS(local, addrSelectors(src, me), proto, sp, f.Protocol.HasPorts())
		remote = appendTS(remote, addrSelectors(dst, me), proto, dp, f.Protocol.HasPorts())
	}
	return local, remote
}

func appendTS(out []isakmp.TrafficSelector, ts []isakmp.TrafficSelector, proto uint8, pr spd.PortRange, ports bool) []isakmp.TrafficSelector {
	for _, t := range ts {
		t.IPProtocol = proto
		if ports && !pr.IsAny() {
			t.StartPort, t.EndPort = pr.Bounds()
		}
		dup := false
		for _, o := range out {
			if o.TSType == t.TSType && o.IPProtocol == t.IPProtocol && o.StartPort == t.StartPort &&
				o.EndPort == t.EndPort && o.Start == t.Start && o.End == t.End {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

// addrSelectors returns the address ranges of a filter address.
func addrSelectors(a spd.Address, me []netip.Addr) []isakmp.TrafficSelector {
	switch a.Kind {
	case spd.AddrHost:
		return []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.PrefixFrom(a.From.Unmap(), a.From.Unmap().BitLen()))}
	case spd.AddrSubnet:
		return []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.PrefixFrom(a.Prefix.Addr().Unmap(), a.Prefix.Bits()-unmapBits(a.Prefix.Addr())))}
	case spd.AddrRange:
		t := ike.SelectorFromPrefix(netip.PrefixFrom(a.From.Unmap(), a.From.Unmap().BitLen()))
		t.End = a.To.Unmap()
		return []isakmp.TrafficSelector{t}
	case spd.AddrMe:
		var out []isakmp.TrafficSelector
		for _, m := range me {
			m = m.Unmap()
			out = append(out, ike.SelectorFromPrefix(netip.PrefixFrom(m, m.BitLen())))
		}
		return out
	}
	return []isakmp.TrafficSelector{
		ike.SelectorFromPrefix(netip.MustParsePrefix("0.0.0.0/0")),
		ike.SelectorFromPrefix(netip.MustParsePrefix("::/0")),
	}
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// flowKey names a flow: a rule and a peer.
type flowKey struct {
	rule uint32
	peer netip.Addr
}

// flow is the traffic of one Negotiate rule with one peer: its outbound
// SA's key in the SAD, how its packets travel, and its acquire state and
// queue of held packets.
type ruleFlow struct {
	key   sad.OutboundKey
	rule  *ruleState
	peer  netip.Addr
	route atomic.Pointer[route4]
	// clearUntil is when a flow that fell back to clear negotiates
	// again (UnixNano; 0: it has not fallen back).
	clearUntil atomic.Int64

	mu          sync.Mutex
	queue       [][]byte // held packets, oldest first
	acquiring   bool
	lastAcquire time.Time
	gen         uint64 // acquire generation, for its timer
}

// route4 is how a flow's protected packets travel.
type route4 struct {
	encap netip.AddrPort // the peer's NAT-T address for ESP in UDP; invalid for raw ESP/AH
}

func (f *ruleFlow) clear(now time.Time) bool {
	u := f.clearUntil.Load()
	return u != 0 && now.UnixNano() < u
}

// flowOf returns the flow of rule rs with peer, making it on first use.
func (d *Driver) flowOf(rs *ruleState, peer netip.Addr) *ruleFlow {
	if f := rs.tunnelFlow.Load(); f != nil && f.peer == peer {
		return f
	}
	k := flowKey{rs.num, peer}
	if f := (*d.flows.Load())[k]; f != nil && f.rule == rs {
		return f
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flowLocked(rs, peer)
}

func (d *Driver) flowLocked(rs *ruleState, peer netip.Addr) *ruleFlow {
	k := flowKey{rs.num, peer}
	old := *d.flows.Load()
	if f := old[k]; f != nil && f.rule == rs {
		return f
	}
	d.nextFlow++
	f := &ruleFlow{key: sad.OutboundKey{Rule: rs.num, Selector: d.nextFlow}, rule: rs, peer: peer}
	n := make(map[flowKey]*ruleFlow, len(old)+1)
	for kk, v := range old {
		n[kk] = v
	}
	n[k] = f
	d.flows.Store(&n)
	if rs.tunnel.IsValid() && rs.tunnel.Unmap() == peer.Unmap() {
		rs.tunnelFlow.Store(f)
	}
	return f
}

// lifetimeOf is the SAD lifetime of a CHILD SA's SAs: its time limits
// from IKE and its rule's byte limits.
func (d *Driver) lifetimeOf(c *ike.ChildSA) sad.Lifetime {
	life := sad.Lifetime{SoftTime: max(c.SoftLifetime, 0), HardTime: max(c.HardLifetime, 0)}
	if rs := d.policy().byID[c.Tag]; rs != nil {
		life.SoftBytes, life.HardBytes = rs.life.SoftBytes, rs.life.HardBytes
	}
	return life
}

// responderConfig is the endpoint's responder Config: IKE proposals and
// this side's identity, with GetConfigForRequest choosing a rule's
// Config once the peer's identity and selectors are known.
func (d *Driver) responderConfig() (*ike.Config, error) {
	psk, err := auth.NewPSK([]byte("unused: every IKE_AUTH gets a rule's Config"), auth.PSKOptions{})
	if err != nil {
		return nil, err
	}
	return &ike.Config{LocalID: d.cfg.LocalID, IKEProposals: d.cfg.IKEProposals, Auth: psk,
		PeerAuth: func(auth.Identity, [][]byte, time.Time) (auth.PeerAuthenticator, error) {
			return nil, errors.New("ipsec: no rule for this peer")
		},
		ForceUDPEncap: d.cfg.ForceUDPEncap, IKERekey: -1, Logger: d.cfg.Logger,
		DPDInterval: d.cfg.DPDInterval, RetransmitTimeout: d.cfg.RetransmitTimeout, RetransmitTries: d.cfg.RetransmitTries,
		// Both versions reach configForRequest, which takes only rules
		// whose key exchange settings allow the peer's.
		KeyExchange:         ike.KeyExchangeAny,
		GetConfigForRequest: d.configForRequest}, nil
}

// configForRequest is the responder's per-request hook (the driver's
// GetConfigForClient): with the peer's identity it picks a Negotiate
// rule whose peer the initiator can be, for authentication; with a
// CHILD SA's selectors it picks the rule the SPD gives the first pair of
// selectors (the triggering packet's, RFC 7296 2.9), which must be a
// Negotiate rule with this peer. Proposals outside that rule are then
// refused by package ike (NO_PROPOSAL_CHOSEN).
func (d *Driver) configForRequest(r *ike.ConfigRequest) (*ike.Config, error) {
	if r.PeerID.Type == 0 && r.TSi == nil && r.Version != ike.IKEv1 {
		return nil, nil
	}
	st := d.policy()
	remote := r.Remote.Addr().Unmap()
	if r.TSi == nil {
		// The rule that names this identity, else the first rule (in
		// policy order) that can have this peer. IKEv1 Main Mode needs
		// a rule at its first message already, chosen by the peer's
		// address: the pre-shared key enters SKEYID before the peer's
		// identity arrives (RFC 2409 5.4), and the authentication
		// methods are proposed in the first exchange.
		var first *ruleState
		for _, rs := range st.order {
			if rs.action != spd.ActionProtect || rs.cfg == nil || !rs.servesPeer(remote) ||
				!rs.cfg.KeyExchange.Allows(r.Version) {
				continue
			}
			if r.PeerID.Type == 0 {
				return rs.cfg, nil
			}
			if rs.cfg.RemoteID.Type != 0 && rs.cfg.RemoteID.Equal(r.PeerID) {
				return rs.cfg, nil
			}
			if first == nil && rs.cfg.RemoteID.Type == 0 {
				first = rs
			}
		}
		if first == nil {
			return nil, errors.New("ipsec: no Negotiate rule for this peer")
		}
		return first.cfg, nil
	}
	if len(r.TSi) == 0 || len(r.TSr) == 0 {
		return nil, ike.NotifyError(isakmp.NotifyTSUnacceptable)
	}
	// The rule that protects this side's traffic to the initiator's
	// selectors: an outbound lookup from TSr to TSi.
	sel := selectorOfTS(&r.TSr[0], &r.TSi[0])
	rs := d.ruleOf(st, st.cls.Lookup(sel, spd.DirOutbound))
	if rs.action != spd.ActionProtect || rs.cfg == nil || !rs.servesPeer(remote) || !rs.cfg.KeyExchange.Allows(r.Version) {
		return nil, ike.NotifyError(isakmp.NotifyTSUnacceptable)
	}
	return rs.cfg, nil
}

// servesPeer reports whether a rule can be negotiated with peer: its
// tunnel endpoint, or in transport mode a peer its remote selectors
// cover.
func (rs *ruleState) servesPeer(peer netip.Addr) bool {
	if rs.tunnel.IsValid() {
		return rs.tunnel.Unmap() == peer
	}
	for _, t := range rs.cfg.RemoteTS {
		if t.Start.Is4() == peer.Is4() && t.Start.Compare(peer) <= 0 && peer.Compare(t.End) <= 0 {
			return true
		}
	}
	return false
}

// selectorOfTS is the packet a pair of traffic selectors describes (its
// first address and port each): from src to dst.
func selectorOfTS(src, dst *isakmp.TrafficSelector) spd.Selector {
	s := spd.Selector{Src: src.Start, Dst: dst.Start, Protocol: spd.Protocol(src.IPProtocol)}
	if src.IPProtocol == 0 {
		s.Protocol = spd.Protocol(dst.IPProtocol)
	}
	s.SrcPort, s.DstPort = src.StartPort, dst.StartPort
	return s
}

// keyExchange applies the rule's key exchange settings (or the policy's):
// the IKE versions, the IKE SA proposals and their lifetime (Windows "Key
// Exchange Settings").
func (d *Driver) keyExchange(cfg *ike.Config, r *spd.Rule, policy *spd.KeyExchange) error {
	kx := r.KeyExchange
	if kx == nil {
		kx = policy
	}
	switch {
	case len(kx.Versions) == 0:
	case slices.Contains(kx.Versions, spd.IKEv1) && slices.Contains(kx.Versions, spd.IKEv2):
		cfg.KeyExchange = ike.KeyExchangeAny
	case kx.Versions[0] == spd.IKEv1:
		cfg.KeyExchange = ike.KeyExchangeIKEv1
	}
	if len(kx.Methods) > 0 {
		var props []ike.Proposal
		for _, m := range kx.Methods {
			var p ike.Proposal
			var err error
			if cfg.KeyExchange == ike.KeyExchangeIKEv1 {
				// RFC 2409's algorithms, Windows Server 2003's 3DES,
				// MD5 and MODP-1024 included (see legacyV1).
				var ps []ike.Proposal
				if ps, err = ike.ParseProposalsV1(m.String(), isakmp.ProtocolIKE); err == nil && len(ps) != 1 {
					err = errors.New("not one proposal")
				}
				if err == nil {
					p = ps[0]
				}
			} else {
				p, err = ike.ParseProposal(m.String(), isakmp.ProtocolIKE)
			}
			if err != nil {
				return fmt.Errorf("ipsec: IKE method %v: %w", m, err)
			}
			props = append(props, p)
		}
		cfg.IKEProposals = props
	}
	if kx.Lifetime > 0 {
		cfg.IKERekey = kx.Lifetime
	}
	return nil
}

// authIdentity is a policy identity as IKE sends it (RFC 7296 3.5).
func authIdentity(id spd.Identity) (auth.Identity, error) {
	switch id.Type {
	case spd.IDIPv4, spd.IDIPv6:
		a, err := netip.ParseAddr(id.Value)
		if err != nil {
			return auth.Identity{}, fmt.Errorf("ipsec: identity %q: %w", id.Value, err)
		}
		return auth.IP(a), nil
	case spd.IDFQDN:
		return auth.FQDN(id.Value), nil
	case spd.IDRFC822:
		return auth.RFC822(id.Value), nil
	case spd.IDKeyID:
		return auth.KeyID([]byte(id.Value)), nil
	}
	return auth.Identity{}, fmt.Errorf("ipsec: identity type %v is not supported by the driver", id.Type)
}
