package spd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Origin says where a rule came from. Domain rules come before local
// rules (Group Policy: the domain overrides the local computer). It is a
// plain value, safe for concurrent use.
type Origin uint8

// Origins.
const (
	OriginLocal  Origin = 0
	OriginDomain Origin = 1
)

// String returns "local" or "domain".
func (o Origin) String() string {
	if o == OriginDomain {
		return "domain"
	}
	return "local"
}

// FilterList is a named, reusable list of filters (Windows "IP Filter
// List"). It is a value type and safe for concurrent reads.
type FilterList struct {
	Name        string
	Description string
	Filters     []Filter
}

// Rule ties a filter list to a filter action, authentication methods and
// tunnel settings (Windows "IP Security Rule"). Rules are immutable once
// compiled: a Classifier holds its own copy, safe for concurrent reads.
type Rule struct {
	Name string
	// ID identifies the rule across policy reloads, so that SAs can name
	// the rule they serve (sad.Spec.Rule). Compile sets it when empty:
	// to the name, or for a rule without a name to a digest of its
	// content (Rule.Identity). IDs are unique within a policy.
	ID      string
	Filters FilterList
	Action  FilterAction
	// Auth lists the IKE authentication methods in order of preference.
	Auth []AuthMethod
	// LocalID and RemoteID are the IKE identities this side sends and
	// the peer must prove (RFC 7296 section 3.5); zero: the addresses.
	LocalID, RemoteID Identity
	// KeyExchange, when set, replaces the policy's key exchange settings
	// for this rule.
	KeyExchange *KeyExchange
	// Tunnel is the far tunnel endpoint, the IKE peer; the zero Addr means
	// transport mode (RFC 4301 section 4.1), where the peer is the
	// packet's remote address.
	Tunnel netip.Addr
	// TunnelLocal is this side's tunnel endpoint; the zero Addr leaves it
	// to the routing of the outer packet. Only with Tunnel.
	TunnelLocal netip.Addr
	// Priority, when non-zero, orders the rule before every rule without
	// one; lower values come first. Zero leaves the order to filter
	// specificity (doc.go, "Filter order").
	Priority uint32
	// Disabled rules stay in the policy but are not compiled.
	Disabled bool
	// Origin is set by Merge.
	Origin Origin
}

// TunnelMode reports whether the rule protects traffic in tunnel mode.
func (r *Rule) TunnelMode() bool { return r.Tunnel.IsValid() }

// Policy is an IPsec policy: rules, the default rule that applies when no
// filter matches, and the default response rule. A Policy is a plain
// value; it is not safe for concurrent mutation, and Compile copies it.
type Policy struct {
	Name        string
	Description string
	Rules       []Rule
	// Default applies to packets that match no filter. Its zero Action is
	// read as ActionBypass, Windows' behaviour (traffic no filter matches
	// is sent in the clear); set ActionDiscard for RFC 4301 section 5.1's
	// default-deny.
	Default FilterAction
	// DefaultResponse is Windows' default response rule: no filters; it
	// tells an IKE responder which methods and authentication to accept
	// when a peer asks for security and no rule covers the traffic. Nil
	// disables it.
	DefaultResponse *Rule
	// PollingInterval is how often a Policy Agent checks for a changed
	// policy (Windows "Check for policy changes every"); zero leaves it to
	// the agent.
	PollingInterval time.Duration
	// KeyExchange is the policy's key exchange settings (Windows "Key
	// Exchange Settings"), for rules that carry none of their own.
	KeyExchange KeyExchange
}

// ErrInvalidPolicy is wrapped by every validation error.
var ErrInvalidPolicy = errors.New("spd: invalid policy")

// errMirroredTunnel: a rule has one tunnel endpoint, the peer for its
// filters' direction, so a tunnel needs one rule per direction with
// unmirrored filters (as Windows requires).
var errMirroredTunnel = errors.New("a tunnel rule cannot use mirrored filters: its tunnel endpoint is the far end for one direction only; write one rule per direction")

// checkRule reports contradictions in a rule, or nil.
func checkRule(r *Rule) error {
	a := &r.Action
	switch a.Action {
	case ActionBypass, ActionDiscard:
		switch {
		case len(a.Methods) > 0:
			return fmt.Errorf("security methods given for a %s action", a.Action)
		case a.AcceptUnsecured:
			return fmt.Errorf("accept_unsecured is only meaningful for negotiate, not %s", a.Action)
		case a.FallbackToClear:
			return fmt.Errorf("fallback_to_clear is only meaningful for negotiate, not %s", a.Action)
		case a.PFS:
			return fmt.Errorf("pfs is only meaningful for negotiate, not %s", a.Action)
		case a.PFSGroup != GroupNone:
			return fmt.Errorf("a pfs group is only meaningful for negotiate, not %s", a.Action)
		case r.Tunnel.IsValid():
			return fmt.Errorf("tunnel endpoint given for a %s action", a.Action)
		case !r.LocalID.IsZero() || !r.RemoteID.IsZero() || r.KeyExchange != nil:
			return fmt.Errorf("identities or key exchange settings given for a %s action: nothing is negotiated", a.Action)
		}
	case ActionProtect:
		if len(a.Methods) == 0 {
			return fmt.Errorf("negotiate action without security methods")
		}
		if r.Tunnel.IsValid() {
			for i := range r.Filters.Filters {
				if r.Filters.Filters[i].Mirrored {
					return fmt.Errorf("filter %d: %w", i+1, errMirroredTunnel)
				}
			}
		}
		for i, m := range a.Methods {
			if err := m.Check(); err != nil {
				return fmt.Errorf("security method %d: %w", i+1, err)
			}
		}
		if len(r.Auth) == 0 {
			return fmt.Errorf("negotiate action without authentication methods")
		}
		if a.PFSGroup != GroupNone && (!a.PFS || a.PFSGroup.String() == fmt.Sprintf("Group(%d)", uint16(a.PFSGroup))) {
			return fmt.Errorf("pfs group %s needs pfs and a known group", a.PFSGroup)
		}
	default:
		return fmt.Errorf("filter action has no action (permit, block or negotiate)")
	}
	for i, m := range r.Auth {
		switch m.Kind {
		case AuthKerberos:
			if m.RootCA != "" || m.PreSharedKey != "" || m.PreSharedKeyRef != "" {
				return fmt.Errorf("authentication method %d: kerberos with a root CA or pre-shared key", i+1)
			}
		case AuthCertificate:
			if m.RootCA == "" {
				return fmt.Errorf("authentication method %d: certificate without a root CA", i+1)
			}
		case AuthPreSharedKey:
			if (m.PreSharedKey == "") == (m.PreSharedKeyRef == "") {
				return fmt.Errorf("authentication method %d: a pre-shared key needs the key or a reference to it, not both", i+1)
			}
		default:
			return fmt.Errorf("authentication method %d: unknown kind %d", i+1, m.Kind)
		}
	}
	for i := range r.Filters.Filters {
		if err := r.Filters.Filters[i].Check(); err != nil {
			return fmt.Errorf("filter %d: %w", i+1, err)
		}
	}
	if err := r.LocalID.check(); err != nil {
		return fmt.Errorf("local identity: %w", err)
	}
	if err := r.RemoteID.check(); err != nil {
		return fmt.Errorf("remote identity: %w", err)
	}
	if r.KeyExchange != nil {
		if err := r.KeyExchange.Check(); err != nil {
			return err
		}
	}
	if t := r.TunnelLocal; t.IsValid() && (!r.Tunnel.IsValid() || t.Unmap().Is4() != r.Tunnel.Unmap().Is4()) {
		return fmt.Errorf("local tunnel endpoint %s needs a remote tunnel endpoint of the same family", t)
	}
	return nil
}

// Identity returns the rule's ID, or, when it has none, the ID Compile
// gives it: its name, or for a rule without a name "sha256:" and the
// first 16 hex digits of a SHA-256 digest of its filters, action,
// authentication kinds, identities and tunnel endpoints (pre-shared keys
// are left out). The same content gives the same ID in every process.
func (r *Rule) Identity() string {
	switch {
	case r.ID != "":
		return r.ID
	case r.Name != "":
		return r.Name
	}
	h := sha256.New()
	w := func(v ...any) { fmt.Fprintln(h, v...) }
	for _, f := range r.Filters.Filters {
		w("filter", f.Source, f.Destination, f.Protocol, f.SourcePort, f.DestinationPort, f.ICMP, f.Mirrored, Direction(f.Direction.mask()))
	}
	a := &r.Action
	w("action", a.Action, a.PFS, a.PFSGroup, a.AcceptUnsecured, a.FallbackToClear)
	for _, m := range a.Methods {
		w("method", m)
	}
	for _, m := range r.Auth {
		w("auth", m.Kind, m.RootCA, m.PreSharedKeyRef, m.Principal)
	}
	w("ids", r.LocalID, r.RemoteID, r.Tunnel, r.TunnelLocal)
	if k := r.KeyExchange; k != nil {
		w("ike", k.Versions, k.Methods, k.Lifetime, k.Sessions, k.MasterKeyPFS)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Validate checks every rule, the default rule and the default response
// rule, and that rule names are unique. Errors wrap ErrInvalidPolicy.
func (p *Policy) Validate() error {
	seen := make(map[string]bool, len(p.Rules))
	ids := make(map[string]bool, len(p.Rules))
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Name != "" {
			if seen[r.Name] {
				return fmt.Errorf("%w: duplicate rule name %q", ErrInvalidPolicy, r.Name)
			}
			seen[r.Name] = true
		}
		if id := r.Identity(); ids[id] {
			return fmt.Errorf("%w: rule %d (%q): duplicate rule ID %q", ErrInvalidPolicy, i+1, r.Name, id)
		} else {
			ids[id] = true
		}
		if err := checkRule(r); err != nil {
			return fmt.Errorf("%w: rule %d (%q): %w", ErrInvalidPolicy, i+1, r.Name, err)
		}
	}
	if err := p.KeyExchange.Check(); err != nil {
		return fmt.Errorf("%w: key exchange: %w", ErrInvalidPolicy, err)
	}
	switch p.Default.Action {
	case 0, ActionBypass, ActionDiscard:
	default:
		return fmt.Errorf("%w: default action must be permit or block, not %s", ErrInvalidPolicy, p.Default.Action)
	}
	if dr := p.DefaultResponse; dr != nil {
		if dr.Action.Action != ActionProtect {
			return fmt.Errorf("%w: default response rule must negotiate security", ErrInvalidPolicy)
		}
		if len(dr.Filters.Filters) > 0 {
			return fmt.Errorf("%w: default response rule has no filters", ErrInvalidPolicy)
		}
		if err := checkRule(dr); err != nil {
			return fmt.Errorf("%w: default response rule: %w", ErrInvalidPolicy, err)
		}
	}
	return nil
}

// Clone returns a deep copy of the policy.
func (p *Policy) Clone() *Policy {
	q := *p
	q.Rules = make([]Rule, len(p.Rules))
	for i := range p.Rules {
		q.Rules[i] = cloneRule(&p.Rules[i])
	}
	q.Default = cloneAction(p.Default)
	q.KeyExchange = *p.KeyExchange.clone()
	if p.DefaultResponse != nil {
		r := cloneRule(p.DefaultResponse)
		q.DefaultResponse = &r
	}
	return &q
}

func cloneRule(r *Rule) Rule {
	c := *r
	c.Filters.Filters = append([]Filter(nil), r.Filters.Filters...)
	c.Action = cloneAction(r.Action)
	c.Auth = append([]AuthMethod(nil), r.Auth...)
	c.KeyExchange = r.KeyExchange.clone()
	return c
}

func cloneAction(a FilterAction) FilterAction {
	a.Methods = append([]SecurityMethod(nil), a.Methods...)
	return a
}

// Merge combines a domain policy with a local one as Group Policy does:
// the domain wins. The result holds the domain's rules (Origin set to
// OriginDomain), then the local rules whose names the domain does not
// use (OriginLocal). Domain rules are ordered before every local rule.
// The domain's name, description, default rule, default response rule
// and polling interval win; local ones apply where the domain sets none.
// Either argument may be nil. The inputs are not modified.
func Merge(domain, local *Policy) *Policy {
	switch {
	case domain == nil && local == nil:
		return &Policy{}
	case domain == nil:
		p := local.Clone()
		for i := range p.Rules {
			p.Rules[i].Origin = OriginLocal
		}
		return p
	}
	p := domain.Clone()
	names := make(map[string]bool, len(p.Rules))
	for i := range p.Rules {
		p.Rules[i].Origin = OriginDomain
		names[p.Rules[i].Name] = true
	}
	if local == nil {
		return p
	}
	for i := range local.Rules {
		if names[local.Rules[i].Name] {
			continue
		}
		r := cloneRule(&local.Rules[i])
		r.Origin = OriginLocal
		p.Rules = append(p.Rules, r)
	}
	if p.Default.Action == 0 {
		p.Default = cloneAction(local.Default)
	}
	if p.DefaultResponse == nil && local.DefaultResponse != nil {
		r := cloneRule(local.DefaultResponse)
		p.DefaultResponse = &r
	}
	if p.PollingInterval == 0 {
		p.PollingInterval = local.PollingInterval
	}
	if p.KeyExchange.Versions == nil && p.KeyExchange.Methods == nil && p.KeyExchange.Lifetime == 0 &&
		p.KeyExchange.Sessions == 0 && !p.KeyExchange.MasterKeyPFS {
		p.KeyExchange = *local.KeyExchange.clone()
	}
	if p.Name == "" {
		p.Name = local.Name
	}
	return p
}
