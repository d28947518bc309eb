package auth

import (
	"crypto"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// HashAlgorithm is a value of the SIGNATURE_HASH_ALGORITHMS notification
// (RFC 7427 section 4; IANA "IKEv2 Hash Algorithms"). Values are immutable
// and safe for concurrent use.
type HashAlgorithm uint16

// IKEv2 hash algorithms for digital signatures.
const (
	HashSHA1     HashAlgorithm = 1 // SHA1 (RFC 7427)
	HashSHA2_256 HashAlgorithm = 2 // SHA2-256 (RFC 7427)
	HashSHA2_384 HashAlgorithm = 3 // SHA2-384 (RFC 7427)
	HashSHA2_512 HashAlgorithm = 4 // SHA2-512 (RFC 7427)
	HashIdentity HashAlgorithm = 5 // Identity: the data is signed as is (RFC 8420, EdDSA)
	hashLimit    HashAlgorithm = 6 // one past the last named value
)

var hashNames = [...]string{
	HashSHA1:     "SHA1",
	HashSHA2_256: "SHA2_256",
	HashSHA2_384: "SHA2_384",
	HashSHA2_512: "SHA2_512",
	HashIdentity: "IDENTITY",
}

// String returns the IANA name of h, or "HASH(n)".
func (h HashAlgorithm) String() string {
	if h < hashLimit && hashNames[h] != "" {
		return hashNames[h]
	}
	return "HASH(" + strconv.Itoa(int(h)) + ")"
}

// cryptoHash maps h to the Go hash; Identity maps to 0.
func (h HashAlgorithm) cryptoHash() (crypto.Hash, bool) {
	switch h {
	case HashSHA1:
		return crypto.SHA1, true
	case HashSHA2_256:
		return crypto.SHA256, true
	case HashSHA2_384:
		return crypto.SHA384, true
	case HashSHA2_512:
		return crypto.SHA512, true
	case HashIdentity:
		return 0, true
	}
	return 0, false
}

// SupportedHashAlgorithms returns the hashes this package verifies in RFC
// 7427 signatures, strongest first, for the local SIGNATURE_HASH_ALGORITHMS
// notification. SHA-1 is included only if allowSHA1 is set (RFC 8247
// section 3 deprecates it for signatures).
func SupportedHashAlgorithms(allowSHA1 bool) []HashAlgorithm {
	h := []HashAlgorithm{HashSHA2_512, HashSHA2_384, HashSHA2_256, HashIdentity}
	if allowSHA1 {
		h = append(h, HashSHA1)
	}
	return h
}

// AppendSignatureHashAlgorithms appends the Notification Data of a
// SIGNATURE_HASH_ALGORITHMS notify: a list of 2-octet hash algorithm
// identifiers (RFC 7427 section 4).
func AppendSignatureHashAlgorithms(b []byte, algs []HashAlgorithm) []byte {
	for _, a := range algs {
		b = binary.BigEndian.AppendUint16(b, uint16(a))
	}
	return b
}

// ParseSignatureHashAlgorithms parses the Notification Data of a
// SIGNATURE_HASH_ALGORITHMS notify. Unknown values are returned as they are
// (the receiver ignores them when choosing). An odd length or an empty list
// is an error wrapping ErrMalformed.
func ParseSignatureHashAlgorithms(data []byte) ([]HashAlgorithm, error) {
	if len(data) == 0 || len(data)%2 != 0 {
		return nil, fmt.Errorf("%w: SIGNATURE_HASH_ALGORITHMS data of %d octets is not a non-empty list of 2-octet values", ErrMalformed, len(data))
	}
	out := make([]HashAlgorithm, 0, len(data)/2)
	for i := 0; i+2 <= len(data); i += 2 {
		out = append(out, HashAlgorithm(binary.BigEndian.Uint16(data[i:])))
	}
	return out, nil
}

// sigKind is the signature primitive of an RFC 7427 AlgorithmIdentifier.
type sigKind uint8

const (
	kindRSAPKCS1 sigKind = iota + 1
	kindRSAPSS
	kindECDSA
	kindEd25519
)

func (k sigKind) String() string {
	switch k {
	case kindRSAPKCS1:
		return "RSASSA-PKCS1-v1_5"
	case kindRSAPSS:
		return "RSASSA-PSS"
	case kindECDSA:
		return "ECDSA"
	case kindEd25519:
		return "Ed25519"
	}
	return "unknown"
}

// sigAlg is a parsed RFC 7427 signature algorithm.
type sigAlg struct {
	kind sigKind
	hash HashAlgorithm
	salt int // RSASSA-PSS salt length in octets
}

func (a sigAlg) String() string {
	if a.kind == kindEd25519 {
		return a.kind.String()
	}
	return a.kind.String() + "-" + a.hash.String()
}

// Object identifiers (RFC 8017 appendix A.2, RFC 5758 section 3.2, RFC 8410
// section 3, RFC 3279 section 2.2.3, NIST hash OIDs).
var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSASSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSASHA1     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448         = asn1.ObjectIdentifier{1, 3, 101, 113}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

var hashOIDs = []struct {
	oid  asn1.ObjectIdentifier
	hash HashAlgorithm
}{
	{oidSHA1, HashSHA1}, {oidSHA256, HashSHA2_256}, {oidSHA384, HashSHA2_384}, {oidSHA512, HashSHA2_512},
}

func hashOID(h HashAlgorithm) asn1.ObjectIdentifier {
	for _, e := range hashOIDs {
		if e.hash == h {
			return e.oid
		}
	}
	return nil
}

var simpleSigOIDs = []struct {
	oid  asn1.ObjectIdentifier
	alg  sigAlg
	null bool // PKCS#1 AlgorithmIdentifiers carry NULL parameters (RFC 8017 A.2.4)
}{
	{oidSHA1WithRSA, sigAlg{kind: kindRSAPKCS1, hash: HashSHA1}, true},
	{oidSHA256WithRSA, sigAlg{kind: kindRSAPKCS1, hash: HashSHA2_256}, true},
	{oidSHA384WithRSA, sigAlg{kind: kindRSAPKCS1, hash: HashSHA2_384}, true},
	{oidSHA512WithRSA, sigAlg{kind: kindRSAPKCS1, hash: HashSHA2_512}, true},
	{oidECDSASHA1, sigAlg{kind: kindECDSA, hash: HashSHA1}, false},
	{oidECDSASHA256, sigAlg{kind: kindECDSA, hash: HashSHA2_256}, false},
	{oidECDSASHA384, sigAlg{kind: kindECDSA, hash: HashSHA2_384}, false},
	{oidECDSASHA512, sigAlg{kind: kindECDSA, hash: HashSHA2_512}, false},
	{oidEd25519, sigAlg{kind: kindEd25519, hash: HashIdentity}, false},
}

// appendAlgorithmIdentifier appends the DER AlgorithmIdentifier that RFC
// 7427 Appendix A gives for alg. RSASSA-PSS uses the full parameters of
// A.4.3 (hash, MGF1 with the same hash, salt length; trailer field default).
func appendAlgorithmIdentifier(dst []byte, alg sigAlg) ([]byte, error) {
	b := cryptobyte.NewBuilder(dst)
	switch alg.kind {
	case kindRSAPSS:
		h := hashOID(alg.hash)
		if h == nil {
			return nil, fmt.Errorf("%w: RSASSA-PSS with %v", ErrUnsupportedMethod, alg.hash)
		}
		hashAlgID := func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(h)
				b.AddASN1NULL()
			})
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidRSASSAPSS)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), hashAlgID)
				b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidMGF1)
						hashAlgID(b)
					})
				})
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(alg.salt))
				})
			})
		})
	default:
		found := false
		for _, e := range simpleSigOIDs {
			if e.alg.kind == alg.kind && e.alg.hash == alg.hash {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(e.oid)
					if e.null {
						b.AddASN1NULL()
					}
				})
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: no AlgorithmIdentifier for %v", ErrUnsupportedMethod, alg)
		}
	}
	return b.Bytes()
}

// parseAlgorithmIdentifier parses the DER AlgorithmIdentifier of an RFC 7427
// AUTH payload. It accepts exactly one AlgorithmIdentifier with no trailing
// octets. PKCS#1 identifiers may carry NULL or absent parameters (RFC 4055
// section 2.1 asks receivers to accept both).
func parseAlgorithmIdentifier(der []byte) (sigAlg, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1ObjectIdentifier(&oid) {
		return sigAlg{}, fmt.Errorf("%w: AlgorithmIdentifier is not a DER SEQUENCE { OID, ... }", ErrMalformed)
	}
	if oid.Equal(oidRSASSAPSS) {
		return parsePSSParams(seq)
	}
	if oid.Equal(oidEd448) {
		return sigAlg{}, fmt.Errorf("%w: Ed448 signatures", ErrUnsupportedMethod)
	}
	for _, e := range simpleSigOIDs {
		if !oid.Equal(e.oid) {
			continue
		}
		if e.null && seq.PeekASN1Tag(cbasn1.NULL) {
			var null cryptobyte.String
			if !seq.ReadASN1(&null, cbasn1.NULL) || len(null) != 0 {
				return sigAlg{}, fmt.Errorf("%w: bad NULL parameters for %v", ErrMalformed, oid)
			}
		}
		if !seq.Empty() {
			return sigAlg{}, fmt.Errorf("%w: unexpected parameters for %v", ErrMalformed, oid)
		}
		return e.alg, nil
	}
	return sigAlg{}, fmt.Errorf("%w: signature algorithm %v", ErrUnsupportedMethod, oid)
}

// parseHashAlgID reads a hash AlgorithmIdentifier (parameters NULL or
// absent) and maps it to an IKEv2 hash.
func parseHashAlgID(s *cryptobyte.String) (HashAlgorithm, bool) {
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, false
	}
	if seq.PeekASN1Tag(cbasn1.NULL) {
		var null cryptobyte.String
		if !seq.ReadASN1(&null, cbasn1.NULL) || len(null) != 0 {
			return 0, false
		}
	}
	if !seq.Empty() {
		return 0, false
	}
	for _, e := range hashOIDs {
		if oid.Equal(e.oid) {
			return e.hash, true
		}
	}
	return 0, false
}

// parsePSSParams parses RSASSA-PSS-params (RFC 4055 section 3.1; RFC 8017
// appendix A.2.3) following the PSS OID. Defaults: SHA-1, MGF1 with SHA-1,
// salt length 20, trailer field 1. The MGF1 hash must equal the message
// hash (RFC 4055 section 3.1 RECOMMENDS it and every IKEv2 implementation
// does it) and the trailer field must be 1.
func parsePSSParams(rest cryptobyte.String) (sigAlg, error) {
	bad := func(why string) (sigAlg, error) {
		return sigAlg{}, fmt.Errorf("%w: RSASSA-PSS parameters: %s", ErrMalformed, why)
	}
	alg := sigAlg{kind: kindRSAPSS, hash: HashSHA1, salt: 20}
	mgfHash := HashSHA1
	var params cryptobyte.String
	if !rest.ReadASN1(&params, cbasn1.SEQUENCE) || !rest.Empty() {
		return bad("not a single SEQUENCE")
	}
	var field cryptobyte.String
	var present bool
	if !params.ReadOptionalASN1(&field, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return bad("hashAlgorithm")
	}
	if present {
		h, ok := parseHashAlgID(&field)
		if !ok || !field.Empty() {
			return bad("hashAlgorithm is not a known hash")
		}
		alg.hash = h
	}
	if !params.ReadOptionalASN1(&field, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return bad("maskGenAlgorithm")
	}
	if present {
		var mgf cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !field.ReadASN1(&mgf, cbasn1.SEQUENCE) || !field.Empty() || !mgf.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidMGF1) {
			return bad("maskGenAlgorithm is not MGF1")
		}
		h, ok := parseHashAlgID(&mgf)
		if !ok || !mgf.Empty() {
			return bad("MGF1 hash is not a known hash")
		}
		mgfHash = h
	}
	if !params.ReadOptionalASN1(&field, &present, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return bad("saltLength")
	}
	if present {
		var salt int64
		if !field.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !field.Empty() || salt < 0 || salt > 1024 {
			return bad("saltLength is not a small non-negative INTEGER")
		}
		alg.salt = int(salt)
	}
	if !params.ReadOptionalASN1(&field, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return bad("trailerField")
	}
	if present {
		var tf int64
		if !field.ReadASN1Int64WithTag(&tf, cbasn1.INTEGER) || !field.Empty() || tf != 1 {
			return bad("trailerField is not 1")
		}
	}
	if !params.Empty() {
		return bad("trailing fields")
	}
	if mgfHash != alg.hash {
		return sigAlg{}, fmt.Errorf("%w: RSASSA-PSS with MGF1 hash %v differing from message hash %v", ErrUnsupportedMethod, mgfHash, alg.hash)
	}
	return alg, nil
}
