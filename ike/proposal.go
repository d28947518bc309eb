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

// Keywords of strongSwan's proposal syntax (swanctl.conf "proposals" and
// "esp_proposals"; strongSwan's proposal_keywords_static.txt), limited to
// the algorithms this package implements.
var (
	encrKeywords = map[string]Encr{
		"aes":              {isakmp.EncrAESCBC, 128},
		"aes128":           {isakmp.EncrAESCBC, 128},
		"aes192":           {isakmp.EncrAESCBC, 192},
		"aes256":           {isakmp.EncrAESCBC, 256},
		"aes128ctr":        {isakmp.EncrAESCTR, 128},
		"aes192ctr":        {isakmp.EncrAESCTR, 192},
		"aes256ctr":        {isakmp.EncrAESCTR, 256},
		"aes128gcm8":       {isakmp.EncrAESGCM8, 128},
		"aes192gcm8":       {isakmp.EncrAESGCM8, 192},
		"aes256gcm8":       {isakmp.EncrAESGCM8, 256},
		"aes128gcm64":      {isakmp.EncrAESGCM8, 128},
		"aes192gcm64":      {isakmp.EncrAESGCM8, 192},
		"aes256gcm64":      {isakmp.EncrAESGCM8, 256},
		"aes128gcm12":      {isakmp.EncrAESGCM12, 128},
		"aes192gcm12":      {isakmp.EncrAESGCM12, 192},
		"aes256gcm12":      {isakmp.EncrAESGCM12, 256},
		"aes128gcm96":      {isakmp.EncrAESGCM12, 128},
		"aes192gcm96":      {isakmp.EncrAESGCM12, 192},
		"aes256gcm96":      {isakmp.EncrAESGCM12, 256},
		"aes128gcm16":      {isakmp.EncrAESGCM16, 128},
		"aes192gcm16":      {isakmp.EncrAESGCM16, 192},
		"aes256gcm16":      {isakmp.EncrAESGCM16, 256},
		"aes128gcm128":     {isakmp.EncrAESGCM16, 128},
		"aes192gcm128":     {isakmp.EncrAESGCM16, 192},
		"aes256gcm128":     {isakmp.EncrAESGCM16, 256},
		"aes128gcm":        {isakmp.EncrAESGCM16, 128},
		"aes192gcm":        {isakmp.EncrAESGCM16, 192},
		"aes256gcm":        {isakmp.EncrAESGCM16, 256},
		"aes128gmac":       {isakmp.EncrNullAuthAESGMAC, 128},
		"aes192gmac":       {isakmp.EncrNullAuthAESGMAC, 192},
		"aes256gmac":       {isakmp.EncrNullAuthAESGMAC, 256},
		"chacha20poly1305": {isakmp.EncrChaCha20Poly1305, 0},
		"null":             {isakmp.EncrNull, 0},
		"3des":             {isakmp.Encr3DES, 0},
	}
	integKeywords = map[string]isakmp.IntegID{
		"md5":      isakmp.IntegHMACMD5_96,
		"sha":      isakmp.IntegHMACSHA1_96,
		"sha1":     isakmp.IntegHMACSHA1_96,
		"aesxcbc":  isakmp.IntegAESXCBC96,
		"sha256":   isakmp.IntegHMACSHA2_256_128,
		"sha2_256": isakmp.IntegHMACSHA2_256_128,
		"sha384":   isakmp.IntegHMACSHA2_384_192,
		"sha2_384": isakmp.IntegHMACSHA2_384_192,
		"sha512":   isakmp.IntegHMACSHA2_512_256,
		"sha2_512": isakmp.IntegHMACSHA2_512_256,
	}
	prfKeywords = map[string]isakmp.PRFID{
		"prfsha1":    isakmp.PRFHMACSHA1,
		"prfaesxcbc": isakmp.PRFAES128XCBC,
		"prfsha256":  isakmp.PRFHMACSHA2_256,
		"prfsha384":  isakmp.PRFHMACSHA2_384,
		"prfsha512":  isakmp.PRFHMACSHA2_512,
	}
	keKeywords = map[string]isakmp.KEGroup{
		"modp2048":   isakmp.GroupMODP2048,
		"modp3072":   isakmp.GroupMODP3072,
		"modp4096":   isakmp.GroupMODP4096,
		"ecp256":     isakmp.GroupECP256,
		"ecp384":     isakmp.GroupECP384,
		"ecp521":     isakmp.GroupECP521,
		"x25519":     isakmp.GroupCurve25519,
		"curve25519": isakmp.GroupCurve25519,
	}
	// integToPRF is strongSwan's rule for IKE proposals without a PRF
	// keyword: the PRF matching each integrity algorithm is added.
	integToPRF = map[isakmp.IntegID]isakmp.PRFID{
		isakmp.IntegHMACSHA1_96:      isakmp.PRFHMACSHA1,
		isakmp.IntegAESXCBC96:        isakmp.PRFAES128XCBC,
		isakmp.IntegHMACSHA2_256_128: isakmp.PRFHMACSHA2_256,
		isakmp.IntegHMACSHA2_384_192: isakmp.PRFHMACSHA2_384,
		isakmp.IntegHMACSHA2_512_256: isakmp.PRFHMACSHA2_512,
	}
)

// ParseProposals parses a comma-separated list of proposals in strongSwan's
// syntax, for example "aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048"
// for an IKE SA or "aes128gcm16-esn,aes128-sha256" for ESP. Each proposal is
// a dash-separated list of algorithm keywords; the order of keywords of
// one type is the preference order. For IKE, a proposal without a PRF gets
// the PRFs matching its integrity algorithms, as in strongSwan. For ESP
// and AH, "esn" and "noesn" choose extended sequence numbers (default
// noesn), and key exchange keywords ask for PFS when rekeying.
func ParseProposals(s string, proto isakmp.ProtocolID) ([]Proposal, error) {
	var out []Proposal
	for _, one := range strings.Split(s, ",") {
		p, err := ParseProposal(strings.TrimSpace(one), proto)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseProposal parses one proposal; see ParseProposals.
func ParseProposal(s string, proto isakmp.ProtocolID) (Proposal, error) {
	p := Proposal{Protocol: proto}
	if s == "" {
		return p, fmt.Errorf("%w: empty proposal", errProposal)
	}
	for _, kw := range strings.Split(strings.ToLower(s), "-") {
		if e, ok := encrKeywords[kw]; ok && proto != isakmp.ProtocolAH {
			if !slices.Contains(p.Encr, e) {
				p.Encr = append(p.Encr, e)
			}
		} else if i, ok := integKeywords[kw]; ok {
			if !slices.Contains(p.Integ, i) {
				p.Integ = append(p.Integ, i)
			}
		} else if f, ok := prfKeywords[kw]; ok && proto == isakmp.ProtocolIKE {
			if !slices.Contains(p.PRF, f) {
				p.PRF = append(p.PRF, f)
			}
		} else if g, ok := keKeywords[kw]; ok {
			if !slices.Contains(p.KE, g) {
				p.KE = append(p.KE, g)
			}
		} else if (kw == "esn" || kw == "noesn") && proto != isakmp.ProtocolIKE {
			v := isakmp.ESNNo
			if kw == "esn" {
				v = isakmp.ESNYes
			}
			if !slices.Contains(p.ESN, v) {
				p.ESN = append(p.ESN, v)
			}
		} else {
			return p, fmt.Errorf("%w %q: unknown or unsupported keyword %q for %v", errProposal, s, kw, proto)
		}
	}
	if proto == isakmp.ProtocolIKE && len(p.PRF) == 0 {
		for _, i := range p.Integ {
			if f, ok := integToPRF[i]; ok && !slices.Contains(p.PRF, f) {
				p.PRF = append(p.PRF, f)
			}
		}
	}
	if proto != isakmp.ProtocolIKE && len(p.ESN) == 0 {
		p.ESN = []isakmp.ESNID{isakmp.ESNNo}
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

// String formats the proposal in strongSwan's syntax where keywords exist.
func (p Proposal) String() string {
	var parts []string
	for _, e := range p.Encr {
		parts = append(parts, keywordFor(encrKeywords, e, e.String()))
	}
	for _, i := range p.Integ {
		parts = append(parts, keywordFor(integKeywords, i, i.String()))
	}
	for _, f := range p.PRF {
		parts = append(parts, keywordFor(prfKeywords, f, f.String()))
	}
	for _, g := range p.KE {
		parts = append(parts, keywordFor(keKeywords, g, g.String()))
	}
	if p.Protocol != isakmp.ProtocolIKE {
		for _, e := range p.ESN {
			if e == isakmp.ESNYes {
				parts = append(parts, "esn")
			} else {
				parts = append(parts, "noesn")
			}
		}
	}
	return strings.Join(parts, "-")
}

// keywordFor returns the shortest keyword for v (ties broken
// alphabetically), so that String is deterministic.
func keywordFor[T comparable](m map[string]T, v T, fallback string) string {
	best := ""
	for k, x := range m {
		if x == v && (best == "" || len(k) < len(best) || len(k) == len(best) && k < best) {
			best = k
		}
	}
	if best == "" {
		return fallback
	}
	return best
}
