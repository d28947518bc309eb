package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/spd"
)

// tunnel is the IKE side of the policy's tunnel rule: the peer, the
// initiator and responder configurations.
type tunnel struct {
	local, peer        netip.Addr
	ikePort, nattPort  uint16 // the peer's
	rule               *spd.Rule
	initiator, respond *ike.Config
}

// tunnelOptions are the flags that complete the policy.
type tunnelOptions struct {
	local              netip.Addr
	ikePort, nattPort  uint16
	ikeProposal        string
	childRekey         time.Duration
	forceEncap         bool
	retransmitTimeout  time.Duration
	retransmitTries    int
}

// tunnelFromPolicy finds the policy's outbound tunnel rule (a PROTECT rule
// whose tunnel endpoint is not this gateway, RFC 4301 section 4.4.1.2's
// tunnel-mode SPD entry; Windows writes one rule per direction) and makes
// the IKEv2 configurations for it: the rule's first filter gives the
// traffic selectors (RFC 7296 2.9), its security methods the CHILD SA
// proposals (with the key exchange of the IKE proposal when the filter
// action asks for PFS), its pre-shared key the authentication (RFC 7296
// 2.15), with the tunnel addresses as identities.
func tunnelFromPolicy(p *spd.Policy, o tunnelOptions) (*tunnel, error) {
	var r *spd.Rule
	for i := range p.Rules {
		c := &p.Rules[i]
		if c.Disabled || c.Action.Action != spd.ActionProtect || !c.Tunnel.IsValid() || c.Tunnel == o.local {
			continue
		}
		r = c
		break
	}
	if r == nil {
		return nil, errors.New("gateway: the policy has no protect rule with a tunnel endpoint other than -local")
	}
	if len(r.Filters.Filters) == 0 {
		return nil, fmt.Errorf("gateway: rule %q has no filters", r.Name)
	}
	f := r.Filters.Filters[0]
	lts, err := selectorOfAddress(f.Source)
	if err != nil {
		return nil, fmt.Errorf("gateway: rule %q source: %w", r.Name, err)
	}
	rts, err := selectorOfAddress(f.Destination)
	if err != nil {
		return nil, fmt.Errorf("gateway: rule %q destination: %w", r.Name, err)
	}
	var psk string
	for _, a := range r.Auth {
		if a.Kind == spd.AuthPreSharedKey {
			psk = a.PreSharedKey
			break
		}
	}
	if psk == "" {
		return nil, fmt.Errorf("gateway: rule %q has no preshared_key authentication (the only method this example wires up)", r.Name)
	}
	ikeProps, err := ike.ParseProposals(o.ikeProposal, isakmp.ProtocolIKE)
	if err != nil {
		return nil, fmt.Errorf("gateway: -ike-proposal: %w", err)
	}
	group := ""
	if i := strings.LastIndexByte(o.ikeProposal, '-'); i >= 0 && r.Action.PFS {
		group = "-" + o.ikeProposal[i+1:]
	}
	var childText []string
	for _, m := range r.Action.Methods {
		s, err := childProposalText(m)
		if err != nil {
			return nil, fmt.Errorf("gateway: rule %q: %w", r.Name, err)
		}
		childText = append(childText, s+group)
	}
	childProps, err := ike.ParseProposals(strings.Join(childText, ","), isakmp.ProtocolESP)
	if err != nil {
		return nil, fmt.Errorf("gateway: rule %q: %w", r.Name, err)
	}
	key, err := auth.NewPSK([]byte(psk), auth.PSKOptions{})
	if err != nil {
		return nil, fmt.Errorf("gateway: rule %q: %w", r.Name, err)
	}
	peers := auth.NewPSKStore(auth.PSKOptions{})
	if err := peers.Add(auth.IP(r.Tunnel), []byte(psk)); err != nil {
		return nil, fmt.Errorf("gateway: rule %q: %w", r.Name, err)
	}
	cfg := &ike.Config{
		LocalID: auth.IP(o.local), RemoteID: auth.IP(r.Tunnel),
		Auth: key, PeerAuth: ike.PSKPeers(peers),
		IKEProposals: ikeProps, ChildProposals: childProps,
		LocalTS: []isakmp.TrafficSelector{lts}, RemoteTS: []isakmp.TrafficSelector{rts},
		Mode: ike.Tunnel, ChildRekey: o.childRekey, ForceUDPEncap: o.forceEncap,
		RetransmitTimeout: o.retransmitTimeout, RetransmitTries: o.retransmitTries,
		Tag: r.Name,
	}
	for _, m := range r.Action.Methods {
		if m.Lifetime > 0 && cfg.ChildRekey == 0 {
			cfg.ChildRekey = m.Lifetime
		}
	}
	// The responder accepts the same tunnel; it does not name the peer's
	// identity in IDr.
	resp := *cfg
	resp.RemoteID = auth.Identity{}
	resp.ForceUDPEncap = false
	return &tunnel{local: o.local, peer: r.Tunnel, ikePort: o.ikePort, nattPort: o.nattPort, rule: r,
		initiator: cfg, respond: &resp}, nil
}

// childProposalText writes a security method as an ESP proposal.
func childProposalText(m spd.SecurityMethod) (string, error) {
	if !m.UseESP || m.UseAH {
		return "", fmt.Errorf("security method %v: the gateway negotiates ESP only", m)
	}
	switch m.ESPEncryption {
	case spd.EncryptionAES128GCM16:
		return "aes128gcm16", nil
	case spd.EncryptionAES256GCM16:
		return "aes256gcm16", nil
	case spd.EncryptionChaCha20Poly1305:
		return "chacha20poly1305", nil
	}
	return "", fmt.Errorf("security method %v: the gateway takes aes128-gcm16, aes256-gcm16 or chacha20-poly1305", m)
}

// selectorOfAddress turns a filter address into an IKEv2 traffic selector
// (RFC 7296 3.13.1).
func selectorOfAddress(a spd.Address) (isakmp.TrafficSelector, error) {
	switch a.Kind {
	case spd.AddrSubnet:
		return ike.SelectorFromPrefix(a.Prefix), nil
	case spd.AddrHost:
		return ike.SelectorFromPrefix(netip.PrefixFrom(a.From, a.From.BitLen())), nil
	}
	return isakmp.TrafficSelector{}, fmt.Errorf("address %v: want a subnet or a host", a)
}
