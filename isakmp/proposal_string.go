package isakmp

import (
	"errors"
	"fmt"
	"strings"
)

// This file converts strongSwan/libreswan-style proposal strings
// ("aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048", for ESP
// "aes256gcm16-x25519" or "aes128-sha256") to and from SA proposals.
// The keywords are those of strongSwan's proposal_keywords.txt
// (https://docs.strongswan.org/docs/latest/config/proposals.html).
//
// A string is a list of algorithm keywords joined by '-'; each keyword
// names one transform, and several of a kind offer alternatives. For IKE
// proposals without a prf keyword, the PRFs follow from the integrity
// algorithms, as in strongSwan. ESP proposals without esn or noesn offer
// no ESN.

// ErrProposal reports a proposal string that cannot be parsed or a
// proposal that has no string form.
var ErrProposal = errors.New("isakmp: bad proposal")

type algKeyword struct {
	name   string
	typ    TransformType
	id     uint16
	keyLen uint16 // bits; 0: no Key Length attribute
}

// keywords: the first entry for a (type, id, key length) is the one
// FormatProposal prints.
var keywords = func() []algKeyword {
	k := []algKeyword{
		{"aes128", TransformENCR, uint16(EncrAESCBC), 128},
		{"aes192", TransformENCR, uint16(EncrAESCBC), 192},
		{"aes256", TransformENCR, uint16(EncrAESCBC), 256},
		{"aes", TransformENCR, uint16(EncrAESCBC), 128},
		{"3des", TransformENCR, uint16(Encr3DES), 0},
		{"des", TransformENCR, uint16(EncrDES), 0},
		{"cast128", TransformENCR, uint16(EncrCAST), 128},
		{"blowfish128", TransformENCR, uint16(EncrBlowfish), 128},
		{"blowfish192", TransformENCR, uint16(EncrBlowfish), 192},
		{"blowfish256", TransformENCR, uint16(EncrBlowfish), 256},
		{"null", TransformENCR, uint16(EncrNull), 0},
		{"chacha20poly1305", TransformENCR, uint16(EncrChaCha20Poly1305), 0},
	}
	for _, bits := range []uint16{128, 192, 256} {
		b := fmt.Sprint(bits)
		k = append(k,
			algKeyword{"aes" + b + "ctr", TransformENCR, uint16(EncrAESCTR), bits},
			algKeyword{"aes" + b + "gcm16", TransformENCR, uint16(EncrAESGCM16), bits},
			algKeyword{"aes" + b + "gcm12", TransformENCR, uint16(EncrAESGCM12), bits},
			algKeyword{"aes" + b + "gcm8", TransformENCR, uint16(EncrAESGCM8), bits},
			algKeyword{"aes" + b + "gcm128", TransformENCR, uint16(EncrAESGCM16), bits},
			algKeyword{"aes" + b + "gcm96", TransformENCR, uint16(EncrAESGCM12), bits},
			algKeyword{"aes" + b + "gcm64", TransformENCR, uint16(EncrAESGCM8), bits},
			algKeyword{"aes" + b + "gcm", TransformENCR, uint16(EncrAESGCM16), bits},
			algKeyword{"aes" + b + "ccm16", TransformENCR, uint16(EncrAESCCM16), bits},
			algKeyword{"aes" + b + "ccm12", TransformENCR, uint16(EncrAESCCM12), bits},
			algKeyword{"aes" + b + "ccm8", TransformENCR, uint16(EncrAESCCM8), bits},
			algKeyword{"aes" + b + "ccm128", TransformENCR, uint16(EncrAESCCM16), bits},
			algKeyword{"aes" + b + "ccm96", TransformENCR, uint16(EncrAESCCM12), bits},
			algKeyword{"aes" + b + "ccm64", TransformENCR, uint16(EncrAESCCM8), bits},
			algKeyword{"aes" + b + "gmac", TransformENCR, uint16(EncrNullAuthAESGMAC), bits},
			algKeyword{"camellia" + b, TransformENCR, uint16(EncrCamelliaCBC), bits},
			algKeyword{"camellia" + b + "ctr", TransformENCR, uint16(EncrCamelliaCTR), bits},
		)
	}
	k = append(k,
		algKeyword{"md5", TransformINTEG, uint16(IntegHMACMD5_96), 0},
		algKeyword{"md5_128", TransformINTEG, uint16(IntegHMACMD5_128), 0},
		algKeyword{"sha1", TransformINTEG, uint16(IntegHMACSHA1_96), 0},
		algKeyword{"sha", TransformINTEG, uint16(IntegHMACSHA1_96), 0},
		algKeyword{"sha1_160", TransformINTEG, uint16(IntegHMACSHA1_160), 0},
		algKeyword{"aesxcbc", TransformINTEG, uint16(IntegAESXCBC96), 0},
		algKeyword{"aescmac", TransformINTEG, uint16(IntegAESCMAC96), 0},
		algKeyword{"sha256", TransformINTEG, uint16(IntegHMACSHA2_256_128), 0},
		algKeyword{"sha2_256", TransformINTEG, uint16(IntegHMACSHA2_256_128), 0},
		algKeyword{"sha384", TransformINTEG, uint16(IntegHMACSHA2_384_192), 0},
		algKeyword{"sha2_384", TransformINTEG, uint16(IntegHMACSHA2_384_192), 0},
		algKeyword{"sha512", TransformINTEG, uint16(IntegHMACSHA2_512_256), 0},
		algKeyword{"sha2_512", TransformINTEG, uint16(IntegHMACSHA2_512_256), 0},
		algKeyword{"aes128gmac", TransformINTEG, uint16(IntegAES128GMAC), 0},
		algKeyword{"aes192gmac", TransformINTEG, uint16(IntegAES192GMAC), 0},
		algKeyword{"aes256gmac", TransformINTEG, uint16(IntegAES256GMAC), 0},

		algKeyword{"prfmd5", TransformPRF, uint16(PRFHMACMD5), 0},
		algKeyword{"prfsha1", TransformPRF, uint16(PRFHMACSHA1), 0},
		algKeyword{"prfaesxcbc", TransformPRF, uint16(PRFAES128XCBC), 0},
		algKeyword{"prfaescmac", TransformPRF, uint16(PRFAES128CMAC), 0},
		algKeyword{"prfsha256", TransformPRF, uint16(PRFHMACSHA2_256), 0},
		algKeyword{"prfsha384", TransformPRF, uint16(PRFHMACSHA2_384), 0},
		algKeyword{"prfsha512", TransformPRF, uint16(PRFHMACSHA2_512), 0},

		algKeyword{"esn", TransformESN, uint16(ESNYes), 0},
		algKeyword{"noesn", TransformESN, uint16(ESNNo), 0},
	)
	groups := []struct {
		name string
		g    KEGroup
	}{
		{"modp768", GroupMODP768}, {"modp1024", GroupMODP1024}, {"modp1536", GroupMODP1536},
		{"modp2048", GroupMODP2048}, {"modp3072", GroupMODP3072}, {"modp4096", GroupMODP4096},
		{"modp6144", GroupMODP6144}, {"modp8192", GroupMODP8192}, {"modp1024s160", GroupMODP1024S160},
		{"modp2048s224", GroupMODP2048S224}, {"modp2048s256", GroupMODP2048S256},
		{"ecp256", GroupECP256}, {"ecp384", GroupECP384}, {"ecp521", GroupECP521},
		{"ecp192", GroupECP192}, {"ecp224", GroupECP224}, {"ecp224bp", GroupBrainpool224},
		{"ecp256bp", GroupBrainpool256}, {"ecp384bp", GroupBrainpool384}, {"ecp512bp", GroupBrainpool512},
		{"x25519", GroupCurve25519}, {"curve25519", GroupCurve25519},
		{"x448", GroupCurve448}, {"curve448", GroupCurve448},
		{"mlkem512", GroupMLKEM512}, {"mlkem768", GroupMLKEM768}, {"mlkem1024", GroupMLKEM1024},
	}
	for _, g := range groups {
		k = append(k, algKeyword{g.name, TransformKE, uint16(g.g), 0})
	}
	// RFC 9370 additional key exchanges, strongSwan syntax ke1_mlkem768.
	for i := 1; i <= 7; i++ {
		for _, g := range groups {
			k = append(k, algKeyword{fmt.Sprintf("ke%d_%s", i, g.name), TransformADDKE1 + TransformType(i-1), uint16(g.g), 0})
		}
	}
	return k
}()

// keywordByName lists the meanings of each keyword. Only aesNNNgmac has
// two: the ESP cipher ENCR_NULL_AUTH_AES_GMAC (RFC 4543) and, in AH, the
// integrity algorithm AUTH_AES_NNN_GMAC.
var keywordByName = func() map[string][]*algKeyword {
	m := make(map[string][]*algKeyword, len(keywords))
	for i := range keywords {
		m[keywords[i].name] = append(m[keywords[i].name], &keywords[i])
	}
	return m
}()

func lookupKeyword(proto ProtocolID, name string) (*algKeyword, bool) {
	ks := keywordByName[name]
	if len(ks) == 0 {
		return nil, false
	}
	for _, k := range ks {
		if (proto == ProtocolAH) == (k.typ == TransformINTEG) {
			return k, true
		}
	}
	return ks[0], true
}

type algKey struct {
	typ    TransformType
	id     uint16
	keyLen uint16
}

var keywordByAlg = func() map[algKey]string {
	m := make(map[algKey]string)
	for _, k := range keywords {
		ak := algKey{k.typ, k.id, k.keyLen}
		if _, dup := m[ak]; !dup {
			m[ak] = k.name
		}
	}
	return m
}()

// prfForInteg is the PRF strongSwan derives from an integrity algorithm
// when an IKE proposal names none.
var prfForInteg = map[IntegID]PRFID{
	IntegHMACMD5_96: PRFHMACMD5, IntegHMACMD5_128: PRFHMACMD5,
	IntegHMACSHA1_96: PRFHMACSHA1, IntegHMACSHA1_160: PRFHMACSHA1,
	IntegAESXCBC96: PRFAES128XCBC, IntegAESCMAC96: PRFAES128CMAC,
	IntegHMACSHA2_256_128: PRFHMACSHA2_256, IntegHMACSHA2_384_192: PRFHMACSHA2_384,
	IntegHMACSHA2_512_256: PRFHMACSHA2_512,
}

// ParseProposal parses a proposal string for protocol IKE, ESP or AH into
// an IKEv2 proposal (RFC 7296 3.3.1). Transforms come in strongSwan's
// order (encryption, integrity, PRF, key exchange, additional key
// exchanges, ESN); the order carries no meaning (RFC 7296 3.3.6). Number
// and SPI are left for the caller.
func ParseProposal(s string, proto ProtocolID) (Proposal, error) {
	p := Proposal{Protocol: proto}
	if proto != ProtocolIKE && proto != ProtocolESP && proto != ProtocolAH {
		return p, fmt.Errorf("%w: protocol %v", ErrProposal, proto)
	}
	byType := map[TransformType][]Transform{}
	seen := map[algKey]bool{}
	for _, kw := range strings.Split(strings.ToLower(strings.TrimSpace(s)), "-") {
		k, ok := lookupKeyword(proto, kw)
		if !ok {
			return p, fmt.Errorf("%w: unknown algorithm keyword %q in %q", ErrProposal, kw, s)
		}
		ak := algKey{k.typ, k.id, k.keyLen}
		if seen[ak] {
			continue
		}
		seen[ak] = true
		tr := Transform{Type: k.typ, ID: k.id}
		if k.keyLen != 0 {
			tr.Attributes = []Attribute{TVAttr(uint16(AttrKeyLength), k.keyLen)}
		}
		byType[k.typ] = append(byType[k.typ], tr)
	}
	encr, integ, prf := byType[TransformENCR], byType[TransformINTEG], byType[TransformPRF]
	aead := 0
	for _, e := range encr {
		if EncrID(e.ID).IsAEAD() {
			aead++
		}
	}
	if aead != 0 && aead != len(encr) {
		return p, fmt.Errorf("%w: %q mixes AEAD and non-AEAD encryption; use two proposals", ErrProposal, s)
	}
	switch proto {
	case ProtocolIKE:
		if len(encr) == 0 {
			return p, fmt.Errorf("%w: IKE proposal %q has no encryption algorithm", ErrProposal, s)
		}
		if aead > 0 && len(integ) > 0 {
			return p, fmt.Errorf("%w: IKE proposal %q has integrity with AEAD encryption (RFC 5282 8)", ErrProposal, s)
		}
		if aead == 0 && len(integ) == 0 {
			return p, fmt.Errorf("%w: IKE proposal %q has no integrity algorithm", ErrProposal, s)
		}
		if len(prf) == 0 {
			for _, in := range integ {
				pr, ok := prfForInteg[IntegID(in.ID)]
				if !ok {
					return p, fmt.Errorf("%w: no PRF follows from %v in %q; add a prf keyword", ErrProposal, IntegID(in.ID), s)
				}
				if t := (Transform{Type: TransformPRF, ID: uint16(pr)}); !containsTransform(prf, t) {
					prf = append(prf, t)
				}
			}
			if len(prf) == 0 {
				return p, fmt.Errorf("%w: AEAD IKE proposal %q needs a prf keyword", ErrProposal, s)
			}
			byType[TransformPRF] = prf
		}
		if len(byType[TransformKE]) == 0 {
			return p, fmt.Errorf("%w: IKE proposal %q has no key exchange method", ErrProposal, s)
		}
		if len(byType[TransformESN]) > 0 {
			return p, fmt.Errorf("%w: ESN in IKE proposal %q", ErrProposal, s)
		}
	case ProtocolESP, ProtocolAH:
		if len(prf) > 0 {
			return p, fmt.Errorf("%w: PRF in %v proposal %q", ErrProposal, proto, s)
		}
		if proto == ProtocolAH && len(encr) > 0 {
			return p, fmt.Errorf("%w: encryption in AH proposal %q", ErrProposal, s)
		}
		if proto == ProtocolESP && len(encr) == 0 {
			return p, fmt.Errorf("%w: ESP proposal %q has no encryption algorithm", ErrProposal, s)
		}
		if (proto == ProtocolAH || aead == 0) && len(integ) == 0 {
			return p, fmt.Errorf("%w: %v proposal %q has no integrity algorithm", ErrProposal, proto, s)
		}
		if aead > 0 && len(integ) > 0 {
			return p, fmt.Errorf("%w: ESP proposal %q has integrity with AEAD encryption (RFC 4106 8)", ErrProposal, s)
		}
		if len(byType[TransformESN]) == 0 {
			byType[TransformESN] = []Transform{{Type: TransformESN, ID: uint16(ESNNo)}}
		}
	}
	for _, t := range transformOrder {
		p.Transforms = append(p.Transforms, byType[t]...)
	}
	return p, nil
}

// ParseProposals parses a comma-separated list of proposal strings, as in
// swanctl.conf's proposals and esp_proposals, into proposals numbered from
// 1 (RFC 7296 3.3.1).
func ParseProposals(list string, proto ProtocolID) ([]Proposal, error) {
	var out []Proposal
	for _, one := range strings.Split(list, ",") {
		p, err := ParseProposal(one, proto)
		if err != nil {
			return nil, err
		}
		if len(out) == 0xff {
			return nil, fmt.Errorf("%w: more than 255 proposals in %q", ErrProposal, list)
		}
		p.Number = uint8(len(out) + 1)
		out = append(out, p)
	}
	return out, nil
}

var transformOrder = []TransformType{TransformENCR, TransformINTEG, TransformPRF, TransformKE, 6, 7, 8, 9, 10, 11, 12, TransformESN}

func containsTransform(ts []Transform, t Transform) bool {
	for _, x := range ts {
		if x.Type == t.Type && x.ID == t.ID {
			return true
		}
	}
	return false
}

// FormatProposal prints an IKEv2 proposal as a proposal string that
// ParseProposal turns back into the same transforms (up to their order):
// encryption, integrity, PRF (omitted when it is the one the integrity
// algorithms imply), key exchange, additional key exchanges, and ESN
// (omitted when it is only "no ESN"). Transforms without a keyword, or
// with attributes other than a key length, are an error.
func FormatProposal(p *Proposal) (string, error) {
	byType := map[TransformType][]string{}
	var integ, prf []uint16
	for i := range p.Transforms {
		t := &p.Transforms[i]
		kl, _ := t.KeyLength()
		for _, a := range t.Attributes {
			if a.Type != uint16(AttrKeyLength) || !a.TV {
				return "", fmt.Errorf("%w: transform %v %d has attribute %d", ErrProposal, t.Type, t.ID, a.Type)
			}
		}
		name, ok := keywordByAlg[algKey{t.Type, t.ID, kl}]
		if !ok {
			return "", fmt.Errorf("%w: no keyword for %v %d with key length %d", ErrProposal, t.Type, t.ID, kl)
		}
		switch t.Type {
		case TransformINTEG:
			integ = append(integ, t.ID)
		case TransformPRF:
			prf = append(prf, t.ID)
		}
		byType[t.Type] = append(byType[t.Type], name)
	}
	if p.Protocol == ProtocolIKE && len(prf) > 0 && len(integ) > 0 {
		var implied []uint16
		for _, in := range integ {
			if pr, ok := prfForInteg[IntegID(in)]; ok && !containsID(implied, uint16(pr)) {
				implied = append(implied, uint16(pr))
			}
		}
		if equalIDs(implied, prf) {
			delete(byType, TransformPRF)
		}
	}
	if esn := byType[TransformESN]; len(esn) == 1 && esn[0] == "noesn" && p.Protocol != ProtocolIKE {
		delete(byType, TransformESN)
	}
	var out []string
	for _, t := range transformOrder {
		out = append(out, byType[t]...)
	}
	return strings.Join(out, "-"), nil
}

func containsID(ids []uint16, id uint16) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func equalIDs(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
