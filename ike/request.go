package ike

import (
	"net/netip"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Version is an IKE major version (the ISAKMP header's major version
// number). It is a plain value, safe for concurrent use.
type Version uint8

// IKE versions.
const (
	IKEv1 Version = 1 // RFC 2409
	IKEv2 Version = 2 // RFC 7296
)

func (v Version) String() string {
	switch v {
	case IKEv1:
		return "IKEv1"
	case IKEv2:
		return "IKEv2"
	}
	return "IKEv?"
}

// KeyExchange says which IKE versions a Config allows, as strongSwan's
// keyexchange setting does. The zero value is IKEv2 only. It is a plain
// value, safe for concurrent use.
type KeyExchange uint8

// Version choices.
const (
	// KeyExchangeIKEv2 allows IKEv2 only (the default).
	KeyExchangeIKEv2 KeyExchange = iota
	// KeyExchangeIKEv1 allows IKEv1 only.
	KeyExchangeIKEv1
	// KeyExchangeAny initiates with IKEv2 and accepts either version
	// (strongSwan's keyexchange=ike).
	KeyExchangeAny
)

// Allows reports whether k permits version v.
func (k KeyExchange) Allows(v Version) bool {
	switch k {
	case KeyExchangeIKEv1:
		return v == IKEv1
	case KeyExchangeAny:
		return v == IKEv1 || v == IKEv2
	}
	return v == IKEv2
}

// ConfigRequest is what a responder knows when it chooses the Config for
// a request (see Config.GetConfigForRequest). It is a plain value; the
// hook must not keep it.
type ConfigRequest struct {
	Version       Version
	Local, Remote netip.AddrPort
	// PeerID is the identity the peer claims. It is zero on the first
	// message of an IKE SA and set from the message that carries the
	// peer's identity on (IKEv2 IKE_AUTH, IKEv1 Main Mode message 5 or
	// Aggressive Mode message 1).
	PeerID auth.Identity
	// TSi and TSr are the traffic selectors the initiator proposed for a
	// CHILD SA (IKEv2 TSi/TSr, IKEv1 IDci/IDcr), from the initiator's
	// point of view; nil outside a CHILD SA request.
	TSi, TSr []isakmp.TrafficSelector
}

// ChildRequest asks an established IKE SA for one more CHILD SA (IKEv2
// CREATE_CHILD_SA, IKEv1 Quick Mode), for example for a policy rule other
// than the one the IKE SA was started for. It is a plain value.
type ChildRequest struct {
	// Config supplies the CHILD SA's proposals, selectors, mode,
	// lifetimes and Tag; nil means the session's Config.
	Config *Config
	// TriggerLocal and TriggerRemote, when set (non-nil), describe the
	// packet that caused the request: a single address, protocol and
	// port each. They go first in TSi/TSr (RFC 7296 2.9), or narrow
	// IKEv1's IDci/IDcr to the packet's flow when the Config's selectors
	// are wider than the peer accepts.
	TriggerLocal, TriggerRemote *isakmp.TrafficSelector
}
