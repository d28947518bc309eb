package ike

import (
	"slices"

	"github.com/ipsecgo/ipsec/isakmp"
)

// chosen is a single set of transforms: one proposal as it appears in a
// response SA payload (RFC 7296 3.3.6).
type chosen struct {
	num   uint8
	proto isakmp.ProtocolID
	spi   []byte
	encr  Encr
	integ isakmp.IntegID // IntegNone for AEADs
	prf   isakmp.PRFID   // IKE only
	ke    isakmp.KEGroup // GroupNone: no key exchange
	esn   isakmp.ESNID
}

// wireProposal encodes one configured proposal for an SA payload with the
// given number and SPI. withKE leaves out the KE transforms when false
// (CHILD SA proposals in IKE_AUTH, where no key exchange takes place:
// RFC 7296 1.2).
func (p *Proposal) wireProposal(num uint8, spi []byte, withKE bool) isakmp.Proposal {
	w := isakmp.Proposal{Number: num, Protocol: p.Protocol, SPI: spi}
	for _, e := range p.Encr {
		w.Transforms = append(w.Transforms, encrTransform(e))
	}
	for _, f := range p.PRF {
		w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformPRF, ID: uint16(f)})
	}
	for _, i := range p.Integ {
		w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformINTEG, ID: uint16(i)})
	}
	if withKE {
		for _, g := range p.KE {
			w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformKE, ID: uint16(g)})
		}
	}
	if p.Protocol != isakmp.ProtocolIKE {
		esn := p.ESN
		if len(esn) == 0 {
			esn = []isakmp.ESNID{isakmp.ESNNo}
		}
		for _, e := range esn {
			w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformESN, ID: uint16(e)})
		}
	}
	return w
}

func encrTransform(e Encr) isakmp.Transform {
	t := isakmp.Transform{Type: isakmp.TransformENCR, ID: uint16(e.ID)}
	if e.KeyBits != 0 {
		t.Attributes = []isakmp.Attribute{isakmp.TVAttr(uint16(isakmp.AttrKeyLength), uint16(e.KeyBits))}
	}
	return t
}

// wire encodes the chosen transforms as the single proposal of a response
// (RFC 7296 3.3.6), with this side's SPI.
func (c *chosen) wire(spi []byte) isakmp.Proposal {
	w := isakmp.Proposal{Number: c.num, Protocol: c.proto, SPI: spi}
	if c.proto != isakmp.ProtocolAH {
		w.Transforms = append(w.Transforms, encrTransform(c.encr))
	}
	if c.proto == isakmp.ProtocolIKE {
		w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformPRF, ID: uint16(c.prf)})
	}
	if c.integ != isakmp.IntegNone {
		w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformINTEG, ID: uint16(c.integ)})
	}
	if c.ke != isakmp.GroupNone {
		w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformKE, ID: uint16(c.ke)})
	}
	if c.proto != isakmp.ProtocolIKE {
		w.Transforms = append(w.Transforms, isakmp.Transform{Type: isakmp.TransformESN, ID: uint16(c.esn)})
	}
	return w
}

// offered is the peer's proposal sorted by transform type.
type offered struct {
	encr  []Encr
	prf   []isakmp.PRFID
	integ []isakmp.IntegID
	ke    []isakmp.KEGroup
	esn   []isakmp.ESNID
	bad   bool // a transform this package cannot interpret
}

func sortOffer(p *isakmp.Proposal) offered {
	var o offered
	for i := range p.Transforms {
		t := &p.Transforms[i]
		switch t.Type {
		case isakmp.TransformENCR:
			bits := 0
			if kl, ok := t.KeyLength(); ok {
				bits = int(kl)
			}
			// Only the Key Length attribute is defined (RFC 7296 3.3.5);
			// a transform with others cannot be understood.
			for _, a := range t.Attributes {
				if a.Type != uint16(isakmp.AttrKeyLength) || !a.TV {
					o.bad = true
				}
			}
			o.encr = append(o.encr, Encr{ID: isakmp.EncrID(t.ID), KeyBits: bits})
		case isakmp.TransformPRF:
			o.prf = append(o.prf, isakmp.PRFID(t.ID))
		case isakmp.TransformINTEG:
			o.integ = append(o.integ, isakmp.IntegID(t.ID))
		case isakmp.TransformKE:
			o.ke = append(o.ke, isakmp.KEGroup(t.ID))
		case isakmp.TransformESN:
			o.esn = append(o.esn, isakmp.ESNID(t.ID))
		default:
			// RFC 7296 3.3.6: a proposal with a transform type the
			// responder does not understand is rejected.
			o.bad = true
		}
		if t.Type != isakmp.TransformENCR && len(t.Attributes) > 0 {
			o.bad = true
		}
	}
	return o
}

func firstCommon[T comparable](ours, theirs []T) (T, bool) {
	for _, v := range ours {
		if slices.Contains(theirs, v) {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// selectProposal picks, in this side's order of preference, the first of
// our proposals that one of the peer's proposals can satisfy, and in it the
// first of our transforms of each type that the peer offered (RFC 7296
// 2.7, 3.3.6). useKE says whether the exchange carries a key exchange: if
// false, KE transforms are ignored on both sides. preferKE, if not
// GroupNone, is the group of the peer's KE payload, chosen when acceptable
// so that no INVALID_KE_PAYLOAD round trip is needed (RFC 7296 1.2).
func selectProposal(ours []Proposal, theirs []isakmp.Proposal, useKE bool, preferKE isakmp.KEGroup) (chosen, bool) {
	for i := range ours {
		our := &ours[i]
		for j := range theirs {
			their := &theirs[j]
			if their.Protocol != our.Protocol {
				continue
			}
			if c, ok := match(our, their, useKE, preferKE); ok {
				return c, true
			}
		}
	}
	return chosen{}, false
}

func match(our *Proposal, their *isakmp.Proposal, useKE bool, preferKE isakmp.KEGroup) (chosen, bool) {
	o := sortOffer(their)
	if o.bad {
		return chosen{}, false
	}
	c := chosen{num: their.Number, proto: our.Protocol, spi: their.SPI}
	var ok bool
	if our.Protocol != isakmp.ProtocolAH {
		if c.encr, ok = firstCommon(our.Encr, o.encr); !ok {
			return c, false
		}
	} else if len(o.encr) > 0 {
		return c, false
	}
	if our.Protocol == isakmp.ProtocolIKE {
		if c.prf, ok = firstCommon(our.PRF, o.prf); !ok {
			return c, false
		}
	} else if len(o.prf) > 0 {
		return c, false
	}
	if len(our.Integ) > 0 {
		if c.integ, ok = firstCommon(our.Integ, o.integ); !ok {
			return c, false
		}
	} else {
		// AEAD (or ESP with NULL and no integrity, which validate
		// refuses): the peer may only offer NONE (RFC 7296 3.3.3).
		for _, i := range o.integ {
			if i != isakmp.IntegNone {
				return c, false
			}
		}
	}
	if useKE {
		switch {
		case len(our.KE) == 0:
			// No PFS configured: accept only a proposal that allows none.
			if len(o.ke) > 0 && !slices.Contains(o.ke, isakmp.GroupNone) {
				return c, false
			}
		case preferKE != isakmp.GroupNone && slices.Contains(our.KE, preferKE) && slices.Contains(o.ke, preferKE):
			c.ke = preferKE
		default:
			if c.ke, ok = firstCommon(our.KE, o.ke); !ok {
				return c, false
			}
		}
	}
	if our.Protocol != isakmp.ProtocolIKE {
		theirESN := o.esn
		if len(theirESN) == 0 {
			theirESN = []isakmp.ESNID{isakmp.ESNNo}
		}
		ours := our.ESN
		if len(ours) == 0 {
			ours = []isakmp.ESNID{isakmp.ESNNo}
		}
		if c.esn, ok = firstCommon(ours, theirESN); !ok {
			return c, false
		}
	} else if len(o.esn) > 0 {
		return c, false
	}
	return c, true
}

// checkAccepted validates the single proposal of a response against the
// proposals we offered (RFC 7296 3.3.6: one transform of each type, taken
// from the offered proposal with the same number).
func checkAccepted(offeredProps []Proposal, sa *isakmp.SA, useKE bool) (chosen, bool) {
	if sa == nil || len(sa.Proposals) != 1 {
		return chosen{}, false
	}
	resp := &sa.Proposals[0]
	n := int(resp.Number)
	if n < 1 || n > len(offeredProps) {
		return chosen{}, false
	}
	seen := map[isakmp.TransformType]bool{}
	for _, t := range resp.Transforms {
		if seen[t.Type] {
			return chosen{}, false
		}
		seen[t.Type] = true
	}
	our := offeredProps[n-1]
	if !useKE {
		our.KE = nil
	}
	c, ok := match(&our, resp, useKE, isakmp.GroupNone)
	if !ok {
		return chosen{}, false
	}
	if useKE && len(our.KE) > 0 && c.ke == isakmp.GroupNone {
		return chosen{}, false
	}
	return c, true
}
