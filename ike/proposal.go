package ike

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipsecgo/ipsec/isakmp"
)

// Encr is an encryption transform with its key length. It is a plain
// value, safe for concurrent use.
type Encr struct {
	ID isakmp.EncrID
	// KeyBits is the Key Length attribute (RFC 7296 3.3.5); 0 for ciphers
	// with a fixed key length, which carry no attribute.
	KeyBits int
}

func (e Encr) String() string {
	if e.KeyBits == 0 {
		return e.ID.String()
	}
	return fmt.Sprintf("%v_%d", e.ID, e.KeyBits)
}

// Proposal is one proposal of an IKE SA or CHILD SA: for each transform
// type the acceptable algorithms, most preferred first (RFC 7296 3.3).
// A Proposal is a plain value; it is safe for concurrent use as long as
// nobody mutates it.
type Proposal struct {
	Protocol isakmp.ProtocolID // ProtocolIKE, ProtocolESP or ProtocolAH
	Encr     []Encr
	Integ    []isakmp.IntegID
	PRF      []isakmp.PRFID
	// KE lists key exchange methods. For a CHILD SA they are the groups
	// offered for perfect forward secrecy in CREATE_CHILD_SA; empty means
	// no PFS.
	KE  []isakmp.KEGroup
	ESN []isakmp.ESNID
}

var errProposal = errors.New("ike: invalid proposal")

// ParseProposals parses a comma-separated list of proposals in strongSwan's
// syntax, for example "aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048"
// for an IKE SA or "aes128gcm16-esn,aes128-sha256" for ESP. The syntax is
// package isakmp's (isakmp.ParseProposals, the keywords of strongSwan's
// proposal_keywords.txt): each proposal is a dash-separated list of
// algorithm keywords, and the order of keywords of one type is the
// preference order. For IKE, a proposal without a PRF gets the PRFs
// matching its integrity algorithms, as in strongSwan. For ESP and AH,
// "esn" and "noesn" choose extended sequence numbers (default noesn), and
// key exchange keywords ask for PFS when rekeying. Beyond the syntax, a
// proposal must name only algorithms this package implements for its
// protocol.
func ParseProposals(s string, proto isakmp.ProtocolID) ([]Proposal, error) {
	ws, err := isakmp.ParseProposals(s, proto)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errProposal, err)
	}
	out := make([]Proposal, 0, len(ws))
	for i := range ws {
		p, err := proposalFromWire(&ws[i])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseProposal parses one proposal; see ParseProposals.
func ParseProposal(s string, proto isakmp.ProtocolID) (Proposal, error) {
	w, err := isakmp.ParseProposal(s, proto)
	if err != nil {
		return Proposal{Protocol: proto}, fmt.Errorf("%w: %w", errProposal, err)
	}
	return proposalFromWire(&w)
}

// proposalFromWire turns a proposal as package isakmp parsed it into a
// Proposal (transforms of one type keep their order, which is the
// preference order) and checks that this package implements it.
func proposalFromWire(w *isakmp.Proposal) (Proposal, error) {
	p, t := collectTransforms(w)
	if t != nil {
		// Additional key exchanges (RFC 9370, ke1_... keywords).
		return p, fmt.Errorf("%w: transform type %v is not implemented", errProposal, t.Type)
	}
	return p, p.validate()
}

// validate checks that the proposal has what RFC 7296 3.3.3 requires for
// its protocol and only algorithms this package implements for it.
func (p *Proposal) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errProposal, fmt.Sprintf(format, args...))
	}
	aead, plain := false, false
	for _, e := range p.Encr {
		if e.ID.IsAEAD() {
			aead = true
		} else {
			plain = true
		}
	}
	if aead && plain {
		// RFC 7296 3.3: combined-mode ciphers do not take an integrity
		// transform, so they go into their own proposal.
		return bad("mixes AEAD and non-AEAD ciphers; use separate proposals")
	}
	if aead && len(p.Integ) > 0 {
		return bad("an AEAD cipher takes no integrity algorithm (RFC 5282 8)")
	}
	switch p.Protocol {
	case isakmp.ProtocolIKE:
		if len(p.Encr) == 0 || len(p.PRF) == 0 || len(p.KE) == 0 {
			return bad("an IKE proposal needs ENCR, PRF and KE (RFC 7296 3.3.3)")
		}
		if plain && len(p.Integ) == 0 {
			return bad("a non-AEAD IKE proposal needs an integrity algorithm")
		}
		for _, e := range p.Encr {
			if ikeEncr(e) == nil {
				return bad("%v is not available for the IKE SA", e)
			}
		}
		for _, i := range p.Integ {
			if integByID(i) == nil {
				return bad("%v is not available for the IKE SA", i)
			}
		}
		for _, f := range p.PRF {
			if prfByID(f) == nil {
				return bad("%v is not available", f)
			}
		}
	case isakmp.ProtocolESP:
		if len(p.Encr) == 0 {
			return bad("an ESP proposal needs ENCR (RFC 7296 3.3.3)")
		}
		for _, e := range p.Encr {
			if childEncrKeyLen(e) < 0 {
				return bad("%v is not available for ESP", e)
			}
		}
		if plain && len(p.Integ) == 0 && !slices.Contains(p.Encr, Encr{ID: isakmp.EncrNull}) {
			return bad("a non-AEAD ESP proposal needs an integrity algorithm")
		}
		for _, i := range p.Integ {
			if childIntegKeyLen(i) < 0 {
				return bad("%v is not available for ESP", i)
			}
		}
	case isakmp.ProtocolAH:
		if len(p.Integ) == 0 {
			return bad("an AH proposal needs an integrity algorithm")
		}
		for _, i := range p.Integ {
			if childIntegKeyLen(i) < 0 {
				return bad("%v is not available for AH", i)
			}
		}
	default:
		return bad("protocol %v", p.Protocol)
	}
	for _, g := range p.KE {
		if dhGroupByID(g) == nil {
			return bad("%v is not available", g)
		}
	}
	return nil
}

// childEncrKeyLen is the length of an ESP encryption key in KEYMAT, salt
// or nonce included (RFC 3686 5.1, RFC 4106 8.1, RFC 4543 6, RFC 7634 2);
// -1 for a cipher this package does not negotiate for ESP.
func childEncrKeyLen(e Encr) int {
	switch e.ID {
	case isakmp.EncrNull:
		return 0
	case isakmp.Encr3DES:
		return 24
	case isakmp.EncrAESCBC:
		if validAESBits(e.KeyBits) {
			return e.KeyBits / 8
		}
	case isakmp.EncrAESCTR, isakmp.EncrAESGCM8, isakmp.EncrAESGCM12, isakmp.EncrAESGCM16, isakmp.EncrNullAuthAESGMAC:
		if validAESBits(e.KeyBits) {
			return e.KeyBits/8 + 4
		}
	case isakmp.EncrChaCha20Poly1305:
		if e.KeyBits == 0 {
			return chachaKeyLen + 4
		}
	}
	return -1
}

// childIntegKeyLen is the length of an ESP/AH integrity key; -1 for an
// algorithm not negotiated here.
func childIntegKeyLen(i isakmp.IntegID) int {
	switch i {
	case isakmp.IntegNone:
		return 0
	case isakmp.IntegHMACMD5_96:
		return 16
	case isakmp.IntegHMACSHA1_96:
		return 20
	case isakmp.IntegAESXCBC96:
		return 16
	case isakmp.IntegHMACSHA2_256_128:
		return 32
	case isakmp.IntegHMACSHA2_384_192:
		return 48
	case isakmp.IntegHMACSHA2_512_256:
		return 64
	}
	return -1
}

func validAESBits(b int) bool { return b == 128 || b == 192 || b == 256 }

// ikeEncr returns the IKE SA cipher for e, or nil if it cannot protect an
// IKE SA here.
func ikeEncr(e Encr) *encrAlg {
	a := encrByID(e.ID)
	if a == nil {
		return nil
	}
	if a.keyBits == nil {
		if e.KeyBits != 0 {
			return nil
		}
		return a
	}
	if !slices.Contains(a.keyBits, e.KeyBits) {
		return nil
	}
	return a
}

// String formats the proposal in strongSwan's syntax with
// isakmp.FormatProposal (PRFs implied by the integrity algorithms and the
// default noesn are left out); transforms without a keyword are printed
// by their IANA names, which do not parse back.
func (p Proposal) String() string {
	w := p.wireProposal(0, nil, true)
	if s, err := isakmp.FormatProposal(&w); err == nil {
		return s
	}
	var parts []string
	for _, e := range p.Encr {
		parts = append(parts, e.String())
	}
	for _, i := range p.Integ {
		parts = append(parts, i.String())
	}
	for _, f := range p.PRF {
		parts = append(parts, f.String())
	}
	for _, g := range p.KE {
		parts = append(parts, g.String())
	}
	for _, e := range p.ESN {
		parts = append(parts, e.String())
	}
	return strings.Join(parts, "-")
}

// collectTransforms sorts w's transforms by type into a Proposal, keeping
// the order of each type (the preference order, RFC 7296 3.3.6). It stops
// at the first transform of a type Proposal has no field for and returns
// it with what was collected so far; otherwise the transform is nil.
func collectTransforms(w *isakmp.Proposal) (Proposal, *isakmp.Transform) {
	p := Proposal{Protocol: w.Protocol}
	for i := range w.Transforms {
		t := &w.Transforms[i]
		switch t.Type {
		case isakmp.TransformENCR:
			kl, _ := t.KeyLength()
			p.Encr = append(p.Encr, Encr{ID: isakmp.EncrID(t.ID), KeyBits: int(kl)})
		case isakmp.TransformINTEG:
			p.Integ = append(p.Integ, isakmp.IntegID(t.ID))
		case isakmp.TransformPRF:
			p.PRF = append(p.PRF, isakmp.PRFID(t.ID))
		case isakmp.TransformKE:
			p.KE = append(p.KE, isakmp.KEGroup(t.ID))
		case isakmp.TransformESN:
			p.ESN = append(p.ESN, isakmp.ESNID(t.ID))
		default:
			return p, t
		}
	}
	return p, nil
}
