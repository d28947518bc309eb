package ike

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// IKEv1 proposals. IKEv1 has no transform types: every transform is one
// complete combination of algorithms and attributes (RFC 2409 5, RFC 2407
// 4.4 and 4.5), so a Config proposal expands into the cross product of its
// algorithms, in preference order. The responder takes the first offered
// transform it accepts and returns it unchanged (RFC 2408 4.2).
//
// Algorithms. Phase 1: AES-CBC (128/192/256), HMAC-SHA1 and SHA-2 hashes,
// MODP 2048-4096, ECP 256/384/521 and Curve25519. Phase 2 ESP: AES-CBC
// (with HMAC-SHA1 or the RFC 4868 HMAC-SHA-2 integrity algorithms),
// AES-GCM and the other ciphers of IKEv2's CHILD SAs; AH with the same
// integrity algorithms. Windows Server 2003's defaults, 3DES, HMAC-MD5 and
// MODP-1024 (Oakley group 2), are accepted and offered only with
// Config.AllowLegacyV1. DES (56-bit keys, exhaustively searchable since
// 1998) and MODP-768 (Oakley group 1, whose discrete logarithms are within
// reach of academic computation) are never negotiated: no switch enables
// them, because a peer that can only use them cannot be secured.

// v1Phase1 is one phase 1 transform, decoded.
type v1Phase1 struct {
	cipher  *v1CipherAlg
	keyBits int
	hash    *v1HashAlg
	group   *dhGroup
	method  isakmp.V1AuthMethod
	gssID   []byte        // GSS identity attribute (Kerberos method), nil if none
	life    time.Duration // 0: none offered
	lifeKB  uint64
}

// v1Phase2 is one Quick Mode transform, decoded.
type v1Phase2 struct {
	proto  isakmp.ProtocolID
	encr   Encr
	integ  isakmp.IntegID
	group  isakmp.KEGroup // GroupNone: no PFS
	encap  isakmp.V1EncapMode
	esn    bool
	life   time.Duration
	lifeKB uint64
}

var v1IntegFromAuthAlg = map[isakmp.V1AuthAlg]isakmp.IntegID{
	isakmp.V1AuthAlgHMACMD5: isakmp.IntegHMACMD5_96, isakmp.V1AuthAlgHMACSHA1: isakmp.IntegHMACSHA1_96,
	isakmp.V1AuthAlgAESXCBC: isakmp.IntegAESXCBC96, isakmp.V1AuthAlgHMACSHA256: isakmp.IntegHMACSHA2_256_128,
	isakmp.V1AuthAlgHMACSHA384: isakmp.IntegHMACSHA2_384_192, isakmp.V1AuthAlgHMACSHA512: isakmp.IntegHMACSHA2_512_256,
}

var v1AHFromInteg = map[isakmp.IntegID]isakmp.V1AHTransform{
	isakmp.IntegHMACMD5_96: isakmp.V1AHMD5, isakmp.IntegHMACSHA1_96: isakmp.V1AHSHA,
	isakmp.IntegHMACSHA2_256_128: isakmp.V1AHSHA2_256, isakmp.IntegHMACSHA2_384_192: isakmp.V1AHSHA2_384,
	isakmp.IntegHMACSHA2_512_256: isakmp.V1AHSHA2_512, isakmp.IntegAESXCBC96: isakmp.V1AHAESXCBCMAC,
}

func v1AuthAlgFromInteg(i isakmp.IntegID) (isakmp.V1AuthAlg, bool) {
	for a, in := range v1IntegFromAuthAlg {
		if in == i {
			return a, true
		}
	}
	return 0, false
}

// v1Group returns the key exchange group for IKEv1: IKEv2's groups, and
// MODP-1024 when legacy is allowed. MODP-768 is never available.
func v1Group(id isakmp.KEGroup, legacy bool) *dhGroup {
	if id == isakmp.GroupMODP1024 {
		if legacy {
			return modp1024
		}
		return nil
	}
	return dhGroupByID(id)
}

// lifeAttrs returns Life Type and Life Duration attribute pairs for
// seconds and kilobytes (RFC 2409 Appendix A, RFC 2407 4.5); durations
// too large for 16 bits are variable-length.
func lifeAttrs(typAttr, durAttr uint16, life time.Duration, kb uint64) []isakmp.Attribute {
	var out []isakmp.Attribute
	add := func(t isakmp.V1LifeType, v uint64) {
		out = append(out, isakmp.TVAttr(typAttr, uint16(t)))
		if v <= 0xffff {
			out = append(out, isakmp.TVAttr(durAttr, uint16(v)))
		} else {
			out = append(out, isakmp.TLVAttr(durAttr, binary.BigEndian.AppendUint32(nil, uint32(min(v, 0xffffffff)))))
		}
	}
	if life > 0 {
		add(isakmp.V1LifeSeconds, uint64(life/time.Second))
	}
	if kb > 0 {
		add(isakmp.V1LifeKilobytes, kb)
	}
	return out
}

// v1Phase1Offer builds the phase 1 SA proposal (RFC 2409 5, Appendix A):
// one ISAKMP proposal whose transforms are every combination of the
// configured ciphers, hashes and groups, in preference order.
func v1Phase1Offer(cfg *Config, methods []isakmp.V1AuthMethod) (*isakmp.V1SA, error) {
	p := isakmp.V1Proposal{Number: 1, Protocol: isakmp.ProtocolIKE}
	life := cfg.ikeLifetimeV1()
	for _, method := range methods {
		for i := range cfg.IKEProposals {
			cp := &cfg.IKEProposals[i]
			for _, e := range cp.Encr {
				c := v1CipherByEncr(e.ID)
				if c == nil || c.legacy && !cfg.AllowLegacyV1 {
					continue
				}
				for _, in := range cp.Integ {
					h := v1HashByInteg(in)
					if h == nil || h.legacy && !cfg.AllowLegacyV1 {
						continue
					}
					for _, g := range cp.KE {
						if v1Group(g, cfg.AllowLegacyV1) == nil {
							continue
						}
						attrs := []isakmp.Attribute{isakmp.TVAttr(uint16(isakmp.V1AttrEncryption), uint16(c.id))}
						if c.keyBits != nil {
							attrs = append(attrs, isakmp.TVAttr(uint16(isakmp.V1AttrKeyLength), uint16(e.KeyBits)))
						}
						attrs = append(attrs, isakmp.TVAttr(uint16(isakmp.V1AttrHash), uint16(h.id)),
							isakmp.TVAttr(uint16(isakmp.V1AttrGroupDesc), uint16(g)),
							isakmp.TVAttr(uint16(isakmp.V1AttrAuthMethod), uint16(method)))
						attrs = append(attrs, lifeAttrs(uint16(isakmp.V1AttrLifeType), uint16(isakmp.V1AttrLifeDuration), life, 0)...)
						attrs = append(attrs, gssIdentityAttrs(cfg, method)...)
						if len(p.Transforms) == 255 {
							return nil, fmt.Errorf("%w: more than 255 IKEv1 phase 1 transforms", errConfig)
						}
						p.Transforms = append(p.Transforms, isakmp.V1Transform{Number: uint8(len(p.Transforms) + 1),
							ID: isakmp.V1TransformKeyIKE, Attributes: attrs})
					}
				}
			}
		}
	}
	if len(p.Transforms) == 0 {
		return nil, fmt.Errorf("%w: no IKE proposal has an IKEv1 form (see AllowLegacyV1)", errConfig)
	}
	return &isakmp.V1SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.V1Proposal{p}}, nil
}

// parseLife reads a Life Type/Life Duration pair sequence. It returns false
// for a duration without a type or an unknown type (RFC 2407 4.5: a
// duration follows its type).
func parseLife(attrs []isakmp.Attribute, i int, typAttr, durAttr uint16, lt *isakmp.V1LifeType, life *time.Duration, kb *uint64) bool {
	a := &attrs[i]
	switch a.Type {
	case typAttr:
		if !a.TV || (a.Value != uint16(isakmp.V1LifeSeconds) && a.Value != uint16(isakmp.V1LifeKilobytes)) {
			return false
		}
		*lt = isakmp.V1LifeType(a.Value)
	case durAttr:
		v, ok := a.Uint()
		if !ok || *lt == 0 {
			return false
		}
		if *lt == isakmp.V1LifeSeconds {
			*life = time.Duration(min(v, uint64(1<<33))) * time.Second
		} else {
			*kb = v
		}
		*lt = 0
	}
	return true
}

// decodePhase1 interprets a phase 1 transform; ok is false for anything
// this package does not implement or the transform does not allow.
func decodePhase1(t *isakmp.V1Transform, legacy bool) (v1Phase1, bool) {
	var x v1Phase1
	if t.ID != isakmp.V1TransformKeyIKE {
		return x, false
	}
	var lt isakmp.V1LifeType
	for i := range t.Attributes {
		a := &t.Attributes[i]
		switch isakmp.V1Attr(a.Type) {
		case isakmp.V1AttrEncryption:
			if x.cipher = v1CipherByID(isakmp.V1Encr(a.Value)); !a.TV || x.cipher == nil {
				return x, false
			}
		case isakmp.V1AttrKeyLength:
			x.keyBits = int(a.Value)
		case isakmp.V1AttrHash:
			if x.hash = v1HashByID(isakmp.V1HashAlg(a.Value)); !a.TV || x.hash == nil {
				return x, false
			}
		case isakmp.V1AttrGroupDesc:
			if x.group = v1Group(isakmp.KEGroup(a.Value), legacy); !a.TV || x.group == nil {
				return x, false
			}
		case isakmp.V1AttrAuthMethod:
			x.method = isakmp.V1AuthMethod(a.Value)
		case isakmp.V1AttrGSSIdentity, isakmp.V1AttrGSSIdentityWin2000:
			if a.TV || x.gssID != nil {
				return x, false
			}
			x.gssID = a.Data
		case isakmp.V1AttrLifeType, isakmp.V1AttrLifeDuration:
			if !parseLife(t.Attributes, i, uint16(isakmp.V1AttrLifeType), uint16(isakmp.V1AttrLifeDuration), &lt, &x.life, &x.lifeKB) {
				return x, false
			}
		default:
			// PRF (RFC 2409 leaves it unused), private groups (New Group
			// Mode) and anything else: not implemented.
			return x, false
		}
	}
	if x.cipher == nil || x.hash == nil || x.group == nil || x.method == 0 {
		return x, false
	}
	if x.cipher.keyBits != nil && !slices.Contains(x.cipher.keyBits, x.keyBits) ||
		x.cipher.keyBits == nil && x.keyBits != 0 {
		return x, false
	}
	if !legacy && (x.cipher.legacy || x.hash.legacy) {
		return x, false
	}
	return x, true
}

// acceptsPhase1 reports whether one of cfg's IKE proposals allows x.
func acceptsPhase1(cfg *Config, x *v1Phase1) bool {
	for i := range cfg.IKEProposals {
		p := &cfg.IKEProposals[i]
		if slices.Contains(p.Encr, Encr{ID: x.cipher.encr, KeyBits: x.keyBits}) &&
			slices.Contains(p.Integ, x.hash.integ) && slices.Contains(p.KE, x.group.id) {
			return true
		}
	}
	return false
}

// selectPhase1 chooses the first offered transform that cfg accepts with
// the authentication method method (RFC 2408 4.2: the initiator's order is
// its preference). It returns the proposal to send back: the chosen
// transform unchanged.
func selectPhase1(cfg *Config, sa *isakmp.V1SA, methods []isakmp.V1AuthMethod, peerGSS bool) (v1Phase1, *isakmp.V1SA, bool) {
	if sa.DOI != isakmp.DOIIPsec || sa.Situation != isakmp.SitIdentityOnly || len(sa.Proposals) != 1 {
		return v1Phase1{}, nil, false
	}
	p := &sa.Proposals[0]
	if p.Protocol != isakmp.ProtocolIKE {
		return v1Phase1{}, nil, false
	}
	for i := range p.Transforms {
		t := &p.Transforms[i]
		x, ok := decodePhase1(t, cfg.AllowLegacyV1)
		if !ok || !slices.Contains(methods, x.method) || !acceptsPhase1(cfg, &x) ||
			x.method == isakmp.V1AuthGSSKerberos && x.gssID == nil && !peerGSS {
			// 65001 without a GSS identity from a peer that did not
			// announce GSS-API is XAUTH_INIT_PSK, which we do not do.
			continue
		}
		reply := &isakmp.V1SA{DOI: sa.DOI, Situation: sa.Situation, Proposals: []isakmp.V1Proposal{{
			Number: p.Number, Protocol: p.Protocol, SPI: p.SPI, Transforms: []isakmp.V1Transform{replyTransform(cfg, t, x.method)}}}}
		return x, reply, true
	}
	return v1Phase1{}, nil, false
}

// checkPhase1Reply checks the responder's SA payload: one proposal with one
// of our transforms (RFC 2408 4.2), compared by meaning rather than
// bytes (a responder may order the attributes its own way, RFC 2409
// Appendix A fixes none), with a lifetime no longer than ours.
func checkPhase1Reply(cfg *Config, offer, reply *isakmp.V1SA) (v1Phase1, bool) {
	if reply == nil || len(reply.Proposals) != 1 || len(reply.Proposals[0].Transforms) != 1 {
		return v1Phase1{}, false
	}
	t := &reply.Proposals[0].Transforms[0]
	x, ok := decodePhase1(t, cfg.AllowLegacyV1)
	if !ok {
		return x, false
	}
	for i := range offer.Proposals[0].Transforms {
		o, ok := decodePhase1(&offer.Proposals[0].Transforms[i], cfg.AllowLegacyV1)
		if ok && o.cipher == x.cipher && o.keyBits == x.keyBits && o.hash == x.hash && o.group == x.group &&
			o.method == x.method && (o.life == 0 || x.life != 0 && x.life <= o.life) &&
			(o.lifeKB == 0 || x.lifeKB != 0 && x.lifeKB <= o.lifeKB) {
			return x, true
		}
	}
	return x, false
}

// encapMode is the encapsulation mode attribute for a CHILD SA (RFC 2407
// 4.5; RFC 3947 5.1 for UDP encapsulation, or the draft values a peer that
// announced only draft-ietf-ipsec-nat-t-ike-02 understands).
func encapMode(m Mode, udp, draft bool) isakmp.V1EncapMode {
	switch {
	case !udp && m == Transport:
		return isakmp.V1EncapTransport
	case !udp:
		return isakmp.V1EncapTunnel
	case m == Transport && draft:
		return isakmp.V1EncapUDPTransportDraft
	case m == Transport:
		return isakmp.V1EncapUDPTransport
	case draft:
		return isakmp.V1EncapUDPTunnelDraft
	}
	return isakmp.V1EncapUDPTunnel
}

func modeOf(e isakmp.V1EncapMode) (Mode, bool) {
	switch e {
	case isakmp.V1EncapTransport, isakmp.V1EncapUDPTransport, isakmp.V1EncapUDPTransportDraft:
		return Transport, true
	case isakmp.V1EncapTunnel, isakmp.V1EncapUDPTunnel, isakmp.V1EncapUDPTunnelDraft:
		return Tunnel, true
	}
	return 0, false
}

func udpEncapMode(e isakmp.V1EncapMode) bool {
	return e != isakmp.V1EncapTransport && e != isakmp.V1EncapTunnel
}

// bundleV1 reports whether cfg's CHILD proposals name both AH and ESP,
// which IKEv1 offers as one AH+ESP bundle (IKEv2 refuses such a Config).
func bundleV1(cfg *Config) bool {
	ah, esp := false, false
	for i := range cfg.ChildProposals {
		ah = ah || cfg.ChildProposals[i].Protocol == isakmp.ProtocolAH
		esp = esp || cfg.ChildProposals[i].Protocol == isakmp.ProtocolESP
	}
	return ah && esp
}

// v1Phase2Offer builds the Quick Mode SA payload (RFC 2409 5.5, RFC 2407
// 4.4-4.5): one proposal per configured CHILD proposal, each with the
// cross product of its ciphers, integrity algorithms and PFS groups; for
// a bundle Config (bundleV1) one AH and one ESP proposal with the same
// number (RFC 2408 4.2), AH with ahSPI.
func v1Phase2Offer(cfg *Config, spi, ahSPI uint32, mode Mode, udp, draft bool, group isakmp.KEGroup) (*isakmp.V1SA, error) {
	sa := &isakmp.V1SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly}
	for i := range cfg.ChildProposals {
		cp := &cfg.ChildProposals[i]
		p := isakmp.V1Proposal{Number: uint8(len(sa.Proposals) + 1), Protocol: cp.Protocol, SPI: be32(spi)}
		encrs := cp.Encr
		if cp.Protocol == isakmp.ProtocolAH {
			encrs = []Encr{{}}
		}
		integs := cp.Integ
		if len(integs) == 0 {
			integs = []isakmp.IntegID{isakmp.IntegNone}
		}
		for _, e := range encrs {
			if cp.Protocol == isakmp.ProtocolESP && (e.ID > 0xff || e.ID == isakmp.Encr3DES && !cfg.AllowLegacyV1) {
				continue
			}
			for _, in := range integs {
				if in == isakmp.IntegHMACMD5_96 && !cfg.AllowLegacyV1 {
					continue
				}
				var attrs []isakmp.Attribute
				attrs = append(attrs, lifeAttrs(uint16(isakmp.V1IPsecLifeType), uint16(isakmp.V1IPsecLifeDuration),
					cfg.childLifetime(), cfg.ChildLifetimeKilobytes)...)
				if group != isakmp.GroupNone {
					attrs = append(attrs, isakmp.TVAttr(uint16(isakmp.V1IPsecGroupDesc), uint16(group)))
				}
				attrs = append(attrs, isakmp.TVAttr(uint16(isakmp.V1IPsecEncapMode), uint16(encapMode(mode, udp, draft))))
				var id uint8
				if in != isakmp.IntegNone {
					a, ok := v1AuthAlgFromInteg(in)
					if !ok {
						continue
					}
					attrs = append(attrs, isakmp.TVAttr(uint16(isakmp.V1IPsecAuthAlg), uint16(a)))
				}
				if cp.Protocol == isakmp.ProtocolESP {
					id = uint8(e.ID)
					if e.KeyBits != 0 {
						attrs = append(attrs, isakmp.TVAttr(uint16(isakmp.V1IPsecKeyLength), uint16(e.KeyBits)))
					}
				} else {
					ah, ok := v1AHFromInteg[in]
					if !ok {
						continue
					}
					id = uint8(ah)
				}
				if slices.Contains(cp.ESN, isakmp.ESNYes) {
					attrs = append(attrs, isakmp.TVAttr(uint16(isakmp.V1IPsecESN), 1))
				}
				if len(p.Transforms) == 255 {
					return nil, fmt.Errorf("%w: more than 255 IKEv1 phase 2 transforms", errConfig)
				}
				p.Transforms = append(p.Transforms, isakmp.V1Transform{Number: uint8(len(p.Transforms) + 1), ID: id, Attributes: attrs})
			}
		}
		if len(p.Transforms) > 0 {
			sa.Proposals = append(sa.Proposals, p)
		}
	}
	if len(sa.Proposals) == 0 {
		return nil, fmt.Errorf("%w: no CHILD proposal has an IKEv1 form", errConfig)
	}
	if bundleV1(cfg) {
		ahP := isakmp.V1Proposal{Number: 1, Protocol: isakmp.ProtocolAH, SPI: be32(ahSPI)}
		espP := isakmp.V1Proposal{Number: 1, Protocol: isakmp.ProtocolESP, SPI: be32(spi)}
		for _, p := range sa.Proposals {
			part := &espP
			if p.Protocol == isakmp.ProtocolAH {
				part = &ahP
			}
			for _, t := range p.Transforms {
				if len(part.Transforms) == 255 {
					return nil, fmt.Errorf("%w: more than 255 IKEv1 phase 2 transforms", errConfig)
				}
				t.Number = uint8(len(part.Transforms) + 1)
				part.Transforms = append(part.Transforms, t)
			}
		}
		if len(ahP.Transforms) == 0 || len(espP.Transforms) == 0 {
			return nil, fmt.Errorf("%w: an AH+ESP bundle needs both parts in IKEv1 form", errConfig)
		}
		sa.Proposals = []isakmp.V1Proposal{ahP, espP}
	}
	return sa, nil
}

// decodePhase2 interprets a Quick Mode transform of protocol proto.
func decodePhase2(proto isakmp.ProtocolID, t *isakmp.V1Transform, legacy bool) (v1Phase2, bool) {
	x := v1Phase2{proto: proto}
	switch proto {
	case isakmp.ProtocolESP:
		x.encr.ID = isakmp.EncrID(t.ID)
	case isakmp.ProtocolAH:
	default:
		return x, false
	}
	var lt isakmp.V1LifeType
	haveAuth := false
	for i := range t.Attributes {
		a := &t.Attributes[i]
		switch isakmp.V1IPsecAttr(a.Type) {
		case isakmp.V1IPsecLifeType, isakmp.V1IPsecLifeDuration:
			if !parseLife(t.Attributes, i, uint16(isakmp.V1IPsecLifeType), uint16(isakmp.V1IPsecLifeDuration), &lt, &x.life, &x.lifeKB) {
				return x, false
			}
		case isakmp.V1IPsecGroupDesc:
			x.group = isakmp.KEGroup(a.Value)
			if !a.TV || v1Group(x.group, legacy) == nil {
				return x, false
			}
		case isakmp.V1IPsecEncapMode:
			x.encap = isakmp.V1EncapMode(a.Value)
			if _, ok := modeOf(x.encap); !a.TV || !ok {
				return x, false
			}
		case isakmp.V1IPsecAuthAlg:
			in, ok := v1IntegFromAuthAlg[isakmp.V1AuthAlg(a.Value)]
			if !a.TV || !ok {
				return x, false
			}
			x.integ, haveAuth = in, true
		case isakmp.V1IPsecKeyLength:
			x.encr.KeyBits = int(a.Value)
		case isakmp.V1IPsecESN:
			x.esn = a.Value == 1
		default:
			return x, false
		}
	}
	if x.encap == 0 {
		// RFC 2407 4.5 leaves an unspecified mode host-dependent; as
		// strongSwan, take tunnel.
		x.encap = isakmp.V1EncapTunnel
	}
	if proto == isakmp.ProtocolAH {
		// The AH transform ID names the algorithm; the Authentication
		// Algorithm attribute, if present, must agree (RFC 2407 4.4.3).
		for in, ah := range v1AHFromInteg {
			if uint8(ah) == t.ID {
				if haveAuth && x.integ != in {
					return x, false
				}
				x.integ, haveAuth = in, true
			}
		}
		if !haveAuth {
			return x, false
		}
	}
	if !legacy && (x.integ == isakmp.IntegHMACMD5_96 || x.encr.ID == isakmp.Encr3DES) {
		return x, false
	}
	return x, true
}

// acceptsPhase2 reports whether cfg's CHILD proposals allow x in mode m.
func acceptsPhase2(cfg *Config, x *v1Phase2, m Mode) bool {
	if xm, _ := modeOf(x.encap); xm != m {
		return false
	}
	for i := range cfg.ChildProposals {
		p := &cfg.ChildProposals[i]
		if p.Protocol != x.proto {
			continue
		}
		if x.proto == isakmp.ProtocolESP && !slices.Contains(p.Encr, x.encr) {
			continue
		}
		if x.integ == isakmp.IntegNone && x.proto == isakmp.ProtocolESP && !x.encr.ID.IsAEAD() && !slices.Contains(p.Integ, isakmp.IntegNone) {
			continue
		}
		if x.integ != isakmp.IntegNone && !slices.Contains(p.Integ, x.integ) {
			continue
		}
		if x.group == isakmp.GroupNone && len(p.KE) > 0 || x.group != isakmp.GroupNone && !slices.Contains(p.KE, x.group) {
			continue
		}
		esn := slices.Contains(p.ESN, isakmp.ESNYes)
		noesn := len(p.ESN) == 0 || slices.Contains(p.ESN, isakmp.ESNNo)
		if x.esn && !esn || !x.esn && !noesn {
			continue
		}
		return true
	}
	return false
}

// ParseProposalsV1 parses proposals as ParseProposals does, but checks
// them against what IKEv1 implements: phase 1 ciphers, hashes and groups
// of RFC 2409 (3DES, MD5 and MODP-1024 included, usable only with
// Config.AllowLegacyV1), and CHILD proposals whose PFS groups may include
// MODP-1024. Use it for a Config that only IKEv1 uses; ParseProposals
// refuses the legacy algorithms.
func ParseProposalsV1(s string, proto isakmp.ProtocolID) ([]Proposal, error) {
	ws, err := isakmp.ParseProposals(s, proto)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errProposal, err)
	}
	out := make([]Proposal, 0, len(ws))
	for i := range ws {
		p, t := collectTransforms(&ws[i])
		if t != nil {
			return nil, fmt.Errorf("%w: transform type %v has no IKEv1 form", errProposal, t.Type)
		}
		if err := p.validateV1(); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// validateV1 checks a proposal against IKEv1's algorithm tables.
func (p *Proposal) validateV1() error {
	for _, g := range p.KE {
		if v1Group(g, true) == nil {
			return fmt.Errorf("%w: %v is not available for IKEv1", errProposal, g)
		}
	}
	if p.Protocol != isakmp.ProtocolIKE {
		q := *p
		q.KE = nil
		return q.validate()
	}
	if len(p.Encr) == 0 || len(p.Integ) == 0 || len(p.KE) == 0 {
		return fmt.Errorf("%w: an IKEv1 phase 1 proposal needs a cipher, a hash and a group", errProposal)
	}
	for _, e := range p.Encr {
		c := v1CipherByEncr(e.ID)
		if c == nil || c.keyBits != nil && !slices.Contains(c.keyBits, e.KeyBits) || c.keyBits == nil && e.KeyBits != 0 {
			return fmt.Errorf("%w: %v is not an IKEv1 phase 1 cipher here", errProposal, e)
		}
	}
	for _, i := range p.Integ {
		if v1HashByInteg(i) == nil {
			return fmt.Errorf("%w: %v is not an IKEv1 phase 1 hash here", errProposal, i)
		}
	}
	return nil
}
