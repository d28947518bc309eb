package auth

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RevocationMode says what a CertVerifier does with CRLs. Values are
// immutable and safe for concurrent use.
type RevocationMode uint8

const (
	// RevocationOff ignores CRLs.
	RevocationOff RevocationMode = iota
	// RevocationIfAvailable rejects a certificate listed in a current CRL
	// from its issuer, and accepts certificates whose issuer has no current
	// CRL configured.
	RevocationIfAvailable
	// RevocationRequired also rejects a certificate whose issuer has no
	// current CRL configured (RFC 5280 section 6.3 with strict policy).
	RevocationRequired
)

// String returns the mode's name.
func (m RevocationMode) String() string {
	switch m {
	case RevocationOff:
		return "off"
	case RevocationIfAvailable:
		return "if-available"
	case RevocationRequired:
		return "required"
	}
	return fmt.Sprintf("RevocationMode(%d)", uint8(m))
}

// Extended key usages relevant to IKE (RFC 4945 section 5.1.3.12).
var (
	// OIDExtKeyUsageIPsecIKE is id-kp-ipsecIKE (RFC 4945 section 5.1.3.12).
	OIDExtKeyUsageIPsecIKE = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 17}
	// OIDExtKeyUsageIKEIntermediate is Microsoft's "IP security IKE
	// intermediate" (iKEIntermediate), used by Windows IPsec certificates
	// and strongSwan's `pki --flag ikeIntermediate`.
	OIDExtKeyUsageIKEIntermediate = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 8, 2, 2}
)

// CertVerifierConfig configures a CertVerifier. It is a plain value that
// NewCertVerifier copies; do not mutate it concurrently with that call.
type CertVerifierConfig struct {
	// Roots are the trusted root certificates (trust anchors). Required.
	Roots []*x509.Certificate
	// CRLs are consulted per Revocation. A CRL counts only if its
	// signature verifies with the issuing certificate in the chain.
	CRLs []*x509.RevocationList
	// Revocation is the CRL policy; the zero value ignores CRLs.
	Revocation RevocationMode
	// AcceptTLSExtKeyUsage also accepts end-entity certificates whose
	// extended key usage lists only serverAuth or clientAuth. RFC 4945
	// section 5.1.3.12 accepts only id-kp-ipsecIKE or anyExtendedKeyUsage;
	// many deployed IPsec certificates carry the TLS usages instead.
	AcceptTLSExtKeyUsage bool
	// Signatures is the policy for verifying AUTH payload signatures with
	// the accepted certificate.
	Signatures VerifyOptions
}

// CertVerifier checks peers' certificate chains against trusted roots (RFC
// 5280 section 6 path validation, RFC 4945 profile). It is immutable after
// NewCertVerifier and safe for concurrent use.
type CertVerifier struct {
	cfg   CertVerifierConfig
	roots *x509.CertPool
}

// NewCertVerifier validates cfg and returns a verifier.
func NewCertVerifier(cfg CertVerifierConfig) (*CertVerifier, error) {
	if len(cfg.Roots) == 0 {
		return nil, fmt.Errorf("auth: certificate verifier needs at least one trusted root")
	}
	if cfg.Revocation > RevocationRequired {
		return nil, fmt.Errorf("auth: unknown revocation mode %v", cfg.Revocation)
	}
	pool := x509.NewCertPool()
	for i, r := range cfg.Roots {
		if r == nil {
			return nil, fmt.Errorf("auth: trusted root %d is nil", i)
		}
		pool.AddCert(r)
	}
	cfg.Roots = append([]*x509.Certificate(nil), cfg.Roots...)
	cfg.CRLs = append([]*x509.RevocationList(nil), cfg.CRLs...)
	return &CertVerifier{cfg: cfg, roots: pool}, nil
}

// PeerCertificate is a peer certificate chain accepted by a CertVerifier
// for an identity. It is the PeerAuthenticator for the signature methods.
// It is immutable and safe for concurrent use.
type PeerCertificate struct {
	// Leaf is the end-entity certificate whose key signs the AUTH payload.
	Leaf *x509.Certificate
	// Chain is the verified path from Leaf to a trusted root, inclusive.
	Chain []*x509.Certificate
	opts  VerifyOptions
}

// VerifyAuthData verifies the peer's AUTH payload with the leaf's public key
// (see VerifySignatureAuthData). prf is ignored.
func (p *PeerCertificate) VerifyAuthData(method Method, authData []byte, _ PRF, signedOctets []byte) error {
	return VerifySignatureAuthData(p.Leaf.PublicKey, method, authData, signedOctets, p.opts)
}

// Verify checks the peer's certificates from its CERT payloads (DER, RFC
// 7296 section 3.6: the first is the end-entity certificate whose key signs
// the AUTH payload; the others are intermediates in any order) at time now,
// and that the peer's IKE identity matches the end-entity certificate. All
// errors wrap ErrMalformed, ErrCertificate or ErrIdentityMismatch.
func (v *CertVerifier) Verify(peer Identity, certs [][]byte, now time.Time) (*PeerCertificate, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: peer sent no certificate", ErrCertificate)
	}
	parsed := make([]*x509.Certificate, 0, len(certs))
	for i, der := range certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: CERT payload %d: %v", ErrMalformed, i+1, err)
		}
		parsed = append(parsed, c)
	}
	return v.VerifyParsed(peer, parsed[0], parsed[1:], now)
}

// VerifyParsed is Verify for certificates that are already parsed.
func (v *CertVerifier) VerifyParsed(peer Identity, leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (*PeerCertificate, error) {
	if leaf == nil {
		return nil, fmt.Errorf("%w: no end-entity certificate", ErrCertificate)
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	// Extended key usage of the leaf is checked below by the RFC 4945 rule,
	// so path validation is asked for any usage.
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: pool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, describeChainError(leaf, now, err)
	}
	if err := checkLeafUsage(leaf, v.cfg.AcceptTLSExtKeyUsage); err != nil {
		return nil, err
	}
	if err := matchIdentity(peer, leaf); err != nil {
		return nil, err
	}
	var revErr error
	for _, chain := range chains {
		if err := v.checkRevocation(chain, now); err != nil {
			revErr = err
			continue
		}
		return &PeerCertificate{Leaf: leaf, Chain: chain, opts: v.cfg.Signatures}, nil
	}
	return nil, revErr
}

func describeChainError(leaf *x509.Certificate, now time.Time, err error) error {
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return fmt.Errorf("%w: %q is expired or not yet valid at %s: %v", ErrCertificate, inv.Cert.Subject, now.UTC().Format(time.RFC3339), err)
	case errors.As(err, &inv) && inv.Reason == x509.NotAuthorizedToSign:
		return fmt.Errorf("%w: %q is not a CA but issued a certificate in the chain: %v", ErrCertificate, inv.Cert.Subject, err)
	case errors.As(err, &ua):
		return fmt.Errorf("%w: %q does not chain to a trusted root (issuer %q): %v", ErrCertificate, leaf.Subject, leaf.Issuer, err)
	}
	return fmt.Errorf("%w: %q: %v", ErrCertificate, leaf.Subject, err)
}

// checkLeafUsage applies RFC 4945 sections 5.1.3.2 (key usage) and
// 5.1.3.12 (extended key usage) to the end-entity certificate.
func checkLeafUsage(leaf *x509.Certificate, acceptTLS bool) error {
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fmt.Errorf("%w: %q key usage allows neither digitalSignature nor nonRepudiation (RFC 4945 section 5.1.3.2)", ErrCertificate, leaf.Subject)
	}
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == x509.ExtKeyUsageAny {
			return nil
		}
		if acceptTLS && (u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageClientAuth) {
			return nil
		}
	}
	for _, oid := range leaf.UnknownExtKeyUsage {
		if oid.Equal(OIDExtKeyUsageIPsecIKE) || oid.Equal(OIDExtKeyUsageIKEIntermediate) {
			return nil
		}
	}
	return fmt.Errorf("%w: %q extended key usage lists neither id-kp-ipsecIKE, iKEIntermediate nor anyExtendedKeyUsage (RFC 4945 section 5.1.3.12)", ErrCertificate, leaf.Subject)
}

// matchIdentity checks that the IKE identity is the certificate's subject
// or one of its subjectAltNames (RFC 4945 sections 3.1 and 4.1.1).
func matchIdentity(id Identity, leaf *x509.Certificate) error {
	mismatch := func(where string) error {
		return fmt.Errorf("%w: peer identity %v is not in the certificate's %s (subject %q)", ErrIdentityMismatch, id, where, leaf.Subject)
	}
	switch id.Type {
	case IDIPv4Addr, IDIPv6Addr:
		addr, ok := id.Addr()
		if !ok {
			return fmt.Errorf("%w: %v", ErrMalformed, id)
		}
		for _, ip := range leaf.IPAddresses {
			if bytes.Equal(ip.To16(), addr.AsSlice()) || bytes.Equal(ip, addr.AsSlice()) {
				return nil
			}
			if ip4 := ip.To4(); ip4 != nil && addr.Is4() && bytes.Equal(ip4, addr.AsSlice()) {
				return nil
			}
		}
		return mismatch("iPAddress subjectAltNames")
	case IDFQDN:
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, string(id.Data)) {
				return nil
			}
		}
		return mismatch("dNSName subjectAltNames")
	case IDRFC822Addr:
		for _, e := range leaf.EmailAddresses {
			if strings.EqualFold(e, string(id.Data)) {
				return nil
			}
		}
		return mismatch("rfc822Name subjectAltNames")
	case IDDERASN1DN:
		if bytes.Equal(id.Data, leaf.RawSubject) {
			return nil
		}
		rdn, err := id.distinguishedName()
		if err != nil {
			return err
		}
		var subj pkix.RDNSequence
		if _, err := asn1.Unmarshal(leaf.RawSubject, &subj); err == nil && rdn.String() == subj.String() {
			return nil
		}
		return mismatch("subject")
	}
	return fmt.Errorf("%w: %v cannot be matched against a certificate", ErrIdentityMismatch, id.Type)
}

// checkRevocation applies the CRL policy to every certificate of chain
// except the trust anchor (RFC 5280 section 6.3).
func (v *CertVerifier) checkRevocation(chain []*x509.Certificate, now time.Time) error {
	if v.cfg.Revocation == RevocationOff {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		crl := v.currentCRL(issuer, now)
		if crl == nil {
			if v.cfg.Revocation == RevocationRequired {
				return fmt.Errorf("%w: no current CRL from %q to check %q (revocation checking is required)", ErrCertificate, issuer.Subject, cert.Subject)
			}
			continue
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 && !e.RevocationTime.After(now) {
				return fmt.Errorf("%w: %q (serial %s) was revoked by %q at %s", ErrCertificate, cert.Subject, cert.SerialNumber, issuer.Subject, e.RevocationTime.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// currentCRL returns the newest CRL signed by issuer that is current at now.
func (v *CertVerifier) currentCRL(issuer *x509.Certificate, now time.Time) *x509.RevocationList {
	var best *x509.RevocationList
	for _, crl := range v.cfg.CRLs {
		if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
			continue
		}
		if now.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && now.After(crl.NextUpdate)) {
			continue
		}
		if crl.CheckSignatureFrom(issuer) != nil {
			continue
		}
		if best == nil || crl.ThisUpdate.After(best.ThisUpdate) {
			best = crl
		}
	}
	return best
}
