package isakmp

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// IKEv1 proposal strings use the same keywords as IKEv2 (strongSwan's
// swanctl.conf proposals for version = 1). IKEv1 has no transform types:
// each transform is one full combination of algorithms (RFC 2409 5,
// RFC 2407 4.4), so a string expands to the cross product.

// V1ProposalOptions supplies the IKEv1 attributes a proposal string does
// not name. It is a plain value.
//
// A V1ProposalOptions is not safe for concurrent mutation; reading it from several goroutines is safe.
type V1ProposalOptions struct {
	// AuthMethod is the phase 1 authentication method (RFC 2409 appendix
	// A); the zero value means pre-shared key.
	AuthMethod V1AuthMethod
	// EncapMode is the phase 2 encapsulation mode (RFC 2407 4.5); the zero
	// value means tunnel.
	EncapMode V1EncapMode
	// Lifetime, when non-zero, adds Life Type seconds and Life Duration.
	Lifetime time.Duration
}

var v1EncrFromV2 = map[EncrID]V1Encr{
	EncrAESCBC: V1EncrAESCBC, Encr3DES: V1Encr3DESCBC, EncrDES: V1EncrDESCBC,
	EncrBlowfish: V1EncrBlowfishCBC, EncrCAST: V1EncrCASTCBC, EncrCamelliaCBC: V1EncrCamelliaCBC,
}

var v1HashFromInteg = map[IntegID]V1HashAlg{
	IntegHMACMD5_96: V1HashMD5, IntegHMACSHA1_96: V1HashSHA1, IntegHMACSHA2_256_128: V1HashSHA2256,
	IntegHMACSHA2_384_192: V1HashSHA2384, IntegHMACSHA2_512_256: V1HashSHA2512,
}

var v1AuthAlgFromInteg = map[IntegID]V1AuthAlg{
	IntegHMACMD5_96: V1AuthAlgHMACMD5, IntegHMACSHA1_96: V1AuthAlgHMACSHA1, IntegAESXCBC96: V1AuthAlgAESXCBC,
	IntegHMACSHA2_256_128: V1AuthAlgHMACSHA256, IntegHMACSHA2_384_192: V1AuthAlgHMACSHA384,
	IntegHMACSHA2_512_256: V1AuthAlgHMACSHA512, IntegAES128GMAC: V1AuthAlgAES128GMAC,
	IntegAES192GMAC: V1AuthAlgAES192GMAC, IntegAES256GMAC: V1AuthAlgAES256GMAC,
}

var v1AHFromInteg = map[IntegID]V1AHTransform{
	IntegHMACMD5_96: V1AHMD5, IntegHMACSHA1_96: V1AHSHA, IntegHMACSHA2_256_128: V1AHSHA2_256,
	IntegHMACSHA2_384_192: V1AHSHA2_384, IntegHMACSHA2_512_256: V1AHSHA2_512, IntegAESXCBC96: V1AHAESXCBCMAC,
	IntegAES128GMAC: V1AHAES128GMAC, IntegAES192GMAC: V1AHAES192GMAC, IntegAES256GMAC: V1AHAES256GMAC,
}

func invert[K, V comparable](m map[K]V) map[V]K {
	r := make(map[V]K, len(m))
	for k, v := range m {
		r[v] = k
	}
	return r
}

var (
	v2EncrFromV1    = invert(v1EncrFromV2)
	integFromV1Hash = invert(v1HashFromInteg)
	integFromV1Auth = invert(v1AuthAlgFromInteg)
	integFromV1AH   = invert(v1AHFromInteg)
)

// ParseV1Proposal parses a proposal string into an IKEv1 proposal for
// protocol IKE (phase 1, Main or Aggressive Mode), ESP or AH (Quick
// Mode), with one transform per combination of the algorithms named,
// numbered from 1. Proposal Number and SPI are left for the caller.
func ParseV1Proposal(s string, proto ProtocolID, o V1ProposalOptions) (V1Proposal, error) {
	p := V1Proposal{Protocol: proto}
	v2, err := ParseProposal(s, proto)
	if err != nil {
		return p, err
	}
	var encr, integ, ke, esn []Transform
	for _, t := range v2.Transforms {
		switch t.Type {
		case TransformENCR:
			encr = append(encr, t)
		case TransformINTEG:
			integ = append(integ, t)
		case TransformKE:
			ke = append(ke, t)
		case TransformESN:
			esn = append(esn, t)
		case TransformPRF:
			// IKEv1 phase 1 uses the HMAC of the negotiated hash
			// (RFC 2409 4); strongSwan sends no PRF attribute.
		default:
			return p, fmt.Errorf("%w: %v has no IKEv1 form (%q)", ErrProposal, t.Type, s)
		}
	}
	if len(esn) > 1 {
		return p, fmt.Errorf("%w: IKEv1 cannot offer ESN and no ESN in one proposal (%q)", ErrProposal, s)
	}
	var life []Attribute
	if o.Lifetime > 0 {
		secs := uint64(o.Lifetime / time.Second)
		life = append(life, TVAttr(1, uint16(V1LifeSeconds)), lifeAttr(2, secs))
	}
	opt := func(ts []Transform) []Transform {
		if len(ts) == 0 {
			return []Transform{{}}
		}
		return ts
	}
	add := func(id uint8, attrs []Attribute) error {
		if len(p.Transforms) == 0xff {
			return fmt.Errorf("%w: more than 255 transforms from %q", ErrProposal, s)
		}
		p.Transforms = append(p.Transforms, V1Transform{Number: uint8(len(p.Transforms) + 1), ID: id, Attributes: attrs})
		return nil
	}
	switch proto {
	case ProtocolIKE:
		auth := o.AuthMethod
		if auth == 0 {
			auth = V1AuthPSK
		}
		for _, e := range encr {
			ve, ok := v1EncrFromV2[EncrID(e.ID)]
			if !ok {
				return p, fmt.Errorf("%w: %v is not an IKEv1 phase 1 cipher (%q)", ErrProposal, EncrID(e.ID), s)
			}
			for _, i := range integ {
				h, ok := v1HashFromInteg[IntegID(i.ID)]
				if !ok {
					return p, fmt.Errorf("%w: %v is not an IKEv1 phase 1 hash (%q)", ErrProposal, IntegID(i.ID), s)
				}
				for _, g := range ke {
					// The attribute order strongSwan sends; RFC 2409 gives
					// none.
					attrs := []Attribute{TVAttr(uint16(V1AttrEncryption), uint16(ve))}
					if kl, ok := e.KeyLength(); ok {
						attrs = append(attrs, TVAttr(uint16(V1AttrKeyLength), kl))
					}
					attrs = append(attrs, TVAttr(uint16(V1AttrHash), uint16(h)),
						TVAttr(uint16(V1AttrGroupDesc), g.ID),
						TVAttr(uint16(V1AttrAuthMethod), uint16(auth)))
					attrs = append(attrs, relabel(life, uint16(V1AttrLifeType), uint16(V1AttrLifeDuration))...)
					if err := add(V1TransformKeyIKE, attrs); err != nil {
						return p, err
					}
				}
			}
		}
	case ProtocolESP, ProtocolAH:
		mode := o.EncapMode
		if mode == 0 {
			mode = V1EncapTunnel
		}
		if proto == ProtocolAH {
			encr = []Transform{{}}
		}
		for _, e := range encr {
			for _, i := range opt(integ) {
				for _, g := range opt(ke) {
					// The attribute order strongSwan sends; RFC 2407 4.5
					// gives none.
					var id uint8
					var attrs []Attribute
					if kl, ok := e.KeyLength(); ok && proto == ProtocolESP {
						attrs = append(attrs, TVAttr(uint16(V1IPsecKeyLength), kl))
					}
					if i.Type == TransformINTEG {
						a, ok := v1AuthAlgFromInteg[IntegID(i.ID)]
						if !ok {
							return p, fmt.Errorf("%w: %v has no IKEv1 form (%q)", ErrProposal, IntegID(i.ID), s)
						}
						attrs = append(attrs, TVAttr(uint16(V1IPsecAuthAlg), uint16(a)))
					}
					if g.Type == TransformKE {
						attrs = append(attrs, TVAttr(uint16(V1IPsecGroupDesc), g.ID))
					}
					attrs = append(attrs, TVAttr(uint16(V1IPsecEncapMode), uint16(mode)))
					attrs = append(attrs, relabel(life, uint16(V1IPsecLifeType), uint16(V1IPsecLifeDuration))...)
					if proto == ProtocolESP {
						if e.ID > 0xff {
							return p, fmt.Errorf("%w: %v has no IKEv1 form (%q)", ErrProposal, EncrID(e.ID), s)
						}
						id = uint8(e.ID)
					} else {
						ah, ok := v1AHFromInteg[IntegID(i.ID)]
						if !ok {
							return p, fmt.Errorf("%w: %v has no IKEv1 AH transform (%q)", ErrProposal, IntegID(i.ID), s)
						}
						id = uint8(ah)
					}
					if len(esn) == 1 && esn[0].ID == uint16(ESNYes) {
						attrs = append(attrs, TVAttr(uint16(V1IPsecESN), 1))
					}
					if err := add(id, attrs); err != nil {
						return p, err
					}
				}
			}
		}
	}
	return p, nil
}

// lifeAttr encodes a life duration: TV when it fits 16 bits, otherwise a
// 4- or 8-byte TLV (RFC 2407 4.5 allows either).
func lifeAttr(typ uint16, v uint64) Attribute {
	if v <= 0xffff {
		return TVAttr(typ, uint16(v))
	}
	if v <= 0xffffffff {
		return TLVAttr(typ, binary.BigEndian.AppendUint32(nil, uint32(v)))
	}
	return TLVAttr(typ, binary.BigEndian.AppendUint64(nil, v))
}

func relabel(life []Attribute, typeAttr, durAttr uint16) []Attribute {
	if len(life) == 0 {
		return nil
	}
	out := []Attribute{life[0], life[1]}
	out[0].Type, out[1].Type = typeAttr, durAttr
	return out
}

// FormatV1Proposal prints the algorithms of an IKEv1 proposal as a
// proposal string: every cipher, hash/integrity algorithm and group that
// occurs in any transform, in order of first occurrence. Parsing the result
// gives the full cross product, so the round trip is exact for proposals
// that ParseV1Proposal made. Attributes a string cannot carry (lifetimes,
// mode, authentication method) are left out.
func FormatV1Proposal(p *V1Proposal) (string, error) {
	var encr, integ, groups, esn []string
	addName := func(list *[]string, typ TransformType, id, kl uint16) error {
		name, ok := keywordByAlg[algKey{typ, id, kl}]
		if !ok {
			return fmt.Errorf("%w: no keyword for %v %d with key length %d", ErrProposal, typ, id, kl)
		}
		for _, n := range *list {
			if n == name {
				return nil
			}
		}
		*list = append(*list, name)
		return nil
	}
	for _, t := range p.Transforms {
		var kl, group, mac uint16
		var haveGroup, haveMac, haveESN bool
		var cipher EncrID
		for _, a := range t.Attributes {
			v := a.Value
			if !a.TV {
				continue
			}
			switch {
			case p.Protocol == ProtocolIKE && a.Type == uint16(V1AttrEncryption):
				e, ok := v2EncrFromV1[V1Encr(v)]
				if !ok {
					return "", fmt.Errorf("%w: IKEv1 cipher %v", ErrProposal, V1Encr(v))
				}
				cipher = e
			case p.Protocol == ProtocolIKE && a.Type == uint16(V1AttrKeyLength),
				p.Protocol != ProtocolIKE && a.Type == uint16(V1IPsecKeyLength):
				kl = v
			case p.Protocol == ProtocolIKE && a.Type == uint16(V1AttrHash):
				in, ok := integFromV1Hash[V1HashAlg(v)]
				if !ok {
					return "", fmt.Errorf("%w: IKEv1 hash %v", ErrProposal, V1HashAlg(v))
				}
				mac, haveMac = uint16(in), true
			case p.Protocol != ProtocolIKE && a.Type == uint16(V1IPsecAuthAlg):
				in, ok := integFromV1Auth[V1AuthAlg(v)]
				if !ok {
					return "", fmt.Errorf("%w: IKEv1 authentication algorithm %v", ErrProposal, V1AuthAlg(v))
				}
				mac, haveMac = uint16(in), true
			case p.Protocol == ProtocolIKE && a.Type == uint16(V1AttrGroupDesc),
				p.Protocol != ProtocolIKE && a.Type == uint16(V1IPsecGroupDesc):
				group, haveGroup = v, true
			case p.Protocol != ProtocolIKE && a.Type == uint16(V1IPsecESN):
				haveESN = v == 1
			}
		}
		switch p.Protocol {
		case ProtocolESP:
			cipher = EncrID(t.ID)
		case ProtocolAH:
			if !haveMac {
				in, ok := integFromV1AH[V1AHTransform(t.ID)]
				if !ok {
					return "", fmt.Errorf("%w: IKEv1 AH transform %v", ErrProposal, V1AHTransform(t.ID))
				}
				mac, haveMac = uint16(in), true
			}
		}
		if p.Protocol != ProtocolAH {
			if err := addName(&encr, TransformENCR, uint16(cipher), kl); err != nil {
				return "", err
			}
		}
		if haveMac {
			if err := addName(&integ, TransformINTEG, mac, 0); err != nil {
				return "", err
			}
		}
		if haveGroup {
			if err := addName(&groups, TransformKE, group, 0); err != nil {
				return "", err
			}
		}
		if haveESN && len(esn) == 0 {
			esn = append(esn, "esn")
		}
	}
	return strings.Join(append(append(append(encr, integ...), groups...), esn...), "-"), nil
}
