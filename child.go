package ipsec

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

// ErrProtocol is returned when a CHILD SA is converted for the wrong
// transform: an AH CHILD SA to esp.Config values or the other way round, or
// a CHILD SA of neither protocol.
var ErrProtocol = errors.New("ipsec: CHILD SA has the wrong protocol for this transform")

// ESPConfigs returns the esp.Config values of a negotiated ESP CHILD SA as
// seen from this side: in opens what the peer sends (SPI chosen by this
// side), out seals what this side sends (SPI chosen by the peer).
//
// The keys are the ones IKE derived from KEYMAT (RFC 7296 section 2.17):
// "all keys for SAs carrying data from the initiator to the responder are
// taken before SAs going from the responder to the initiator", and within
// one direction the encryption key (with its salt or nonce where the
// cipher's RFC takes one from KEYMAT: RFC 4106 section 8.1, RFC 3686
// section 5.1, RFC 4543 section 6, RFC 7634 section 2) comes before the
// integrity key. Package ike already splits them by direction for this
// side, whichever side initiated the exchange that created the SA, so the
// inbound keys go to in and the outbound keys to out unchanged. The IANA
// transform IDs of IKEv2 are the esp.Cipher and esp.Integrity values.
//
// In tunnel mode the IKE endpoints are the tunnel endpoints; when NAT
// traversal is in use, ESP is UDP-encapsulated between the IKE SA's NAT-T
// ports (RFC 3948). Legacy algorithms (3DES, HMAC-MD5-96) are allowed when
// IKE negotiated them, which it only does when its configuration offers
// them. The key slices are shared with c, not copied; esp.NewSA copies
// what it keeps.
func ESPConfigs(c *ike.ChildSA) (in, out esp.Config, err error) {
	if c == nil || c.Protocol != isakmp.ProtocolESP {
		return in, out, fmt.Errorf("%w: want ESP, have %v", ErrProtocol, protoOf(c))
	}
	mode, err := espMode(c.Mode)
	if err != nil {
		return in, out, err
	}
	cipher, integ := esp.Cipher(c.Encr.ID), esp.Integrity(c.Integ)
	legacy := cipher == esp.Cipher3DES || integ == esp.IntegHMACMD596
	in = esp.Config{SPI: c.InboundSPI, Cipher: cipher, CipherKey: c.InboundEncKey,
		Integrity: integ, IntegrityKey: c.InboundIntegKey, Mode: mode, ESN: c.ESN,
		EncapSrcPort: c.EncapRemotePort, EncapDstPort: c.EncapLocalPort, AllowLegacy: legacy}
	out = esp.Config{SPI: c.OutboundSPI, Cipher: cipher, CipherKey: c.OutboundEncKey,
		Integrity: integ, IntegrityKey: c.OutboundIntegKey, Mode: mode, ESN: c.ESN,
		EncapSrcPort: c.EncapLocalPort, EncapDstPort: c.EncapRemotePort, AllowLegacy: legacy}
	if mode == esp.Tunnel {
		in.TunnelSrc, in.TunnelDst = c.RemoteAddr, c.LocalAddr
		out.TunnelSrc, out.TunnelDst = c.LocalAddr, c.RemoteAddr
	}
	return in, out, nil
}

// AHConfigs returns the ah.Config values of a negotiated AH CHILD SA as
// seen from this side, like ESPConfigs: in verifies what the peer sends,
// out signs what this side sends. AH takes only integrity keys from KEYMAT
// (RFC 7296 section 2.17, initiator-to-responder first, split by ike into
// this side's inbound and outbound). AH is never UDP-encapsulated (RFC
// 3948 covers ESP only).
func AHConfigs(c *ike.ChildSA) (in, out ah.Config, err error) {
	if c == nil || c.Protocol != isakmp.ProtocolAH {
		return in, out, fmt.Errorf("%w: want AH, have %v", ErrProtocol, protoOf(c))
	}
	var mode ah.Mode
	switch c.Mode {
	case ike.Transport:
		mode = ah.Transport
	case ike.Tunnel:
		mode = ah.Tunnel
	default:
		return in, out, fmt.Errorf("ipsec: unknown CHILD SA mode %v", c.Mode)
	}
	integ := ah.Integrity(c.Integ)
	legacy := integ == ah.IntegHMACMD596
	in = ah.Config{SPI: c.InboundSPI, Integrity: integ, IntegrityKey: c.InboundIntegKey,
		Mode: mode, ESN: c.ESN, AllowLegacy: legacy}
	out = ah.Config{SPI: c.OutboundSPI, Integrity: integ, IntegrityKey: c.OutboundIntegKey,
		Mode: mode, ESN: c.ESN, AllowLegacy: legacy}
	if mode == ah.Tunnel {
		in.TunnelSrc, in.TunnelDst = c.RemoteAddr, c.LocalAddr
		out.TunnelSrc, out.TunnelDst = c.LocalAddr, c.RemoteAddr
	}
	return in, out, nil
}

// ChildSpecs builds the transforms of a negotiated CHILD SA (ESP or AH)
// and returns them as the specs of its inbound and outbound SA, ready for
// sad.DB.AddInbound and sad.DB.AddOutbound. Both carry the CHILD SA's soft
// and hard lifetimes as time limits (RFC 4301 section 4.4.2.1), so that the
// SAD shows them, reports EventSoftExpire and removes an SA that IKE
// neither rekeyed nor deleted in time. The IKE session rekeys on its own
// timer at the soft lifetime: a caller should not start a second rekey on
// a time-based soft expiry, only on byte or packet limits it adds itself
// (IKEv2 negotiates none). Both carry the CHILD SA's Tag as their rule
// (the driver's rule identity) and its traffic selectors.
func ChildSpecs(c *ike.ChildSA) (in, out sad.Spec, err error) {
	if c == nil {
		return in, out, fmt.Errorf("%w: no CHILD SA", ErrProtocol)
	}
	life := &sad.Lifetime{SoftTime: max(c.SoftLifetime, 0), HardTime: max(c.HardLifetime, 0)}
	in.Lifetime, out.Lifetime = life, life
	in.Rule, out.Rule = c.Tag, c.Tag
	local, remote := sadSelectors(c.LocalTS), sadSelectors(c.RemoteTS)
	in.LocalTS, in.RemoteTS = local, remote
	out.LocalTS, out.RemoteTS = local, remote
	switch c.Protocol {
	case isakmp.ProtocolESP:
		ic, oc, err := ESPConfigs(c)
		if err != nil {
			return in, out, err
		}
		if in.ESP, err = esp.NewSA(ic); err != nil {
			return in, out, fmt.Errorf("ipsec: inbound SA 0x%08x: %w", ic.SPI, err)
		}
		if out.ESP, err = esp.NewSA(oc); err != nil {
			return in, out, fmt.Errorf("ipsec: outbound SA 0x%08x: %w", oc.SPI, err)
		}
		if c.Bundle != nil {
			if err := bundleAH(c.Bundle, &in, &out); err != nil {
				return in, out, err
			}
		}
	case isakmp.ProtocolAH:
		if c.Bundle != nil {
			return in, out, fmt.Errorf("%w: the AH part of an AH+ESP bundle is installed with its ESP part", ErrProtocol)
		}
		ic, oc, err := AHConfigs(c)
		if err != nil {
			return in, out, err
		}
		if in.AH, err = ah.NewSA(ic); err != nil {
			return in, out, fmt.Errorf("ipsec: inbound SA 0x%08x: %w", ic.SPI, err)
		}
		if out.AH, err = ah.NewSA(oc); err != nil {
			return in, out, fmt.Errorf("ipsec: outbound SA 0x%08x: %w", oc.SPI, err)
		}
	default:
		return in, out, fmt.Errorf("%w: %v", ErrProtocol, c.Protocol)
	}
	return in, out, nil
}

// bundleAH adds the AH part of an IKEv1 AH+ESP bundle to the specs of
// its ESP part: one SAD entry with both transforms (sad.Spec, RFC 4301
// 4.3), ESP inside and AH outside in transport mode over the ESP packet
// (RFC 2401 4.5's transport adjacency; in tunnel mode the ESP part makes
// the one outer header, and AH authenticates it, as Windows' AH+ESP
// tunnels look on the wire: IP, AH, ESP, inner IP). The entry's SPI is
// AH's, the outer header's.
func bundleAH(a *ike.ChildSA, in, out *sad.Spec) error {
	ic, oc, err := AHConfigs(a)
	if err != nil {
		return err
	}
	ic.Mode, oc.Mode = ah.Transport, ah.Transport
	ic.TunnelSrc, ic.TunnelDst, oc.TunnelSrc, oc.TunnelDst = netip.Addr{}, netip.Addr{}, netip.Addr{}, netip.Addr{}
	if in.AH, err = ah.NewSA(ic); err != nil {
		return fmt.Errorf("ipsec: inbound AH SA 0x%08x of a bundle: %w", ic.SPI, err)
	}
	if out.AH, err = ah.NewSA(oc); err != nil {
		return fmt.Errorf("ipsec: outbound AH SA 0x%08x of a bundle: %w", oc.SPI, err)
	}
	return nil
}

func espMode(m ike.Mode) (esp.Mode, error) {
	switch m {
	case ike.Transport:
		return esp.Transport, nil
	case ike.Tunnel:
		return esp.Tunnel, nil
	}
	return 0, fmt.Errorf("ipsec: unknown CHILD SA mode %v", m)
}

func protoOf(c *ike.ChildSA) string {
	if c == nil {
		return "no CHILD SA"
	}
	return c.Protocol.String()
}

// sadProto maps an IKE protocol ID onto the SAD's.
func sadProto(p isakmp.ProtocolID) sad.Proto {
	if p == isakmp.ProtocolAH {
		return sad.ProtoAH
	}
	return sad.ProtoESP
}

// sadSelectors converts IKE traffic selectors for the SAD (the same
// ranges; RFC 7296 3.13.1).
func sadSelectors(ts []isakmp.TrafficSelector) []sad.TrafficSelector {
	if len(ts) == 0 {
		return nil
	}
	out := make([]sad.TrafficSelector, 0, len(ts))
	for _, t := range ts {
		out = append(out, sad.TrafficSelector{Protocol: t.IPProtocol, From: t.Start, To: t.End,
			FromPort: t.StartPort, ToPort: t.EndPort})
	}
	return out
}
