package auth

import (
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"fmt"
)

// CAHashSize is the size of one Certification Authority value in a CERTREQ
// payload for X.509 certificates: a SHA-1 hash (RFC 7296 section 3.7).
const CAHashSize = sha1.Size

// CAHash returns the SHA-1 hash of ca's SubjectPublicKeyInfo, the value that
// identifies a trust anchor in CERTREQ payloads (RFC 7296 section 3.7).
func CAHash(ca *x509.Certificate) [CAHashSize]byte {
	return sha1.Sum(ca.RawSubjectPublicKeyInfo)
}

// AppendCertReqData appends the Certification Authority field of a CERTREQ
// payload (encoding 4, X.509 Certificate - Signature): the concatenated
// SHA-1 hashes of the trusted CAs' public keys (RFC 7296 section 3.7). Send
// the CertVerifier's roots.
func AppendCertReqData(b []byte, cas []*x509.Certificate) []byte {
	for _, ca := range cas {
		h := CAHash(ca)
		b = append(b, h[:]...)
	}
	return b
}

// ParseCertReqData splits the Certification Authority field of a CERTREQ
// payload into SHA-1 hashes. An empty field is allowed (the peer names no
// CA). A length that is not a multiple of 20 wraps ErrMalformed.
func ParseCertReqData(data []byte) ([][CAHashSize]byte, error) {
	if len(data)%CAHashSize != 0 {
		return nil, fmt.Errorf("%w: CERTREQ Certification Authority field of %d octets is not a list of %d-octet SHA-1 hashes", ErrMalformed, len(data), CAHashSize)
	}
	out := make([][CAHashSize]byte, 0, len(data)/CAHashSize)
	for i := 0; i < len(data); i += CAHashSize {
		out = append(out, [CAHashSize]byte(data[i:i+CAHashSize]))
	}
	return out, nil
}

// LocalCertificate is a local certificate credential: the chain to send in
// CERT payloads and the key that signs. It is immutable after construction
// and safe for concurrent use.
type LocalCertificate struct {
	// Chain is the end-entity certificate followed by the intermediates to
	// send, in order toward the root.
	Chain []*x509.Certificate
	// Issuers are CA certificates above the chain that are not sent (the
	// root), used only to answer CERTREQs.
	Issuers []*x509.Certificate
	// Signer signs the AUTH payload with the end-entity certificate's key.
	Signer *SignatureAuthenticator
}

// NewLocalCertificate checks that signer's public key is the end-entity
// certificate's key.
func NewLocalCertificate(chain, issuers []*x509.Certificate, signer *SignatureAuthenticator) (*LocalCertificate, error) {
	if len(chain) == 0 || chain[0] == nil || signer == nil {
		return nil, fmt.Errorf("auth: a local certificate needs a certificate and a signer")
	}
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	pub, ok := signer.Public().(equaler)
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, fmt.Errorf("auth: the private key does not belong to certificate %q", chain[0].Subject)
	}
	return &LocalCertificate{
		Chain:   append([]*x509.Certificate(nil), chain...),
		Issuers: append([]*x509.Certificate(nil), issuers...),
		Signer:  signer,
	}, nil
}

// Method returns the signer's AUTH method.
func (l *LocalCertificate) Method() Method { return l.Signer.Method() }

// AuthData signs signedOctets with the end-entity key.
func (l *LocalCertificate) AuthData(prf PRF, signedOctets []byte) ([]byte, error) {
	return l.Signer.AuthData(prf, signedOctets)
}

// CertPayloads returns the DER certificates for CERT payloads, end-entity
// first (RFC 7296 section 3.6). The slices alias the certificates.
func (l *LocalCertificate) CertPayloads() [][]byte {
	out := make([][]byte, len(l.Chain))
	for i, c := range l.Chain {
		out[i] = c.Raw
	}
	return out
}

// issuedUnder reports whether any CA above the end-entity certificate has a
// key whose hash is in requested.
func (l *LocalCertificate) issuedUnder(requested [][CAHashSize]byte) bool {
	cas := append(append([]*x509.Certificate(nil), l.Chain[1:]...), l.Issuers...)
	for _, ca := range cas {
		h := CAHash(ca)
		for _, r := range requested {
			if r == h {
				return true
			}
		}
	}
	return false
}

// SelectCertificate chooses the local certificate to send for a peer's
// CERTREQ hashes (RFC 7296 section 3.7, RFC 4945 section 3.2.7): the first
// credential issued under one of the requested CAs. With no hashes (no or
// empty CERTREQ) it returns the first credential. If none matches it
// returns the first credential and false; RFC 7296 lets the sender use it
// anyway, and the caller decides.
func SelectCertificate(local []*LocalCertificate, requested [][CAHashSize]byte) (*LocalCertificate, bool) {
	if len(local) == 0 {
		return nil, false
	}
	if len(requested) == 0 {
		return local[0], true
	}
	for _, l := range local {
		if l.issuedUnder(requested) {
			return l, true
		}
	}
	return local[0], false
}
