package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignatureOptions selects how a SignatureAuthenticator signs. It is a plain
// value, safe for concurrent use.
type SignatureOptions struct {
	// Method is the AUTH method. Zero means MethodDigitalSignature (RFC
	// 7427), which works with every key type. MethodRSASignature needs an
	// RSA key; MethodECDSASHA256P256/384P384/512P521 need an ECDSA key on the
	// matching curve (RFC 4754).
	Method Method
	// Hash is the hash for MethodDigitalSignature; zero picks SHA2-256 for
	// RSA and P-256, SHA2-384 for P-384, SHA2-512 for P-521, and Identity
	// for Ed25519. Choose it from the peer's SIGNATURE_HASH_ALGORITHMS with
	// ChooseHash.
	Hash HashAlgorithm
	// RSAPSS signs MethodDigitalSignature with RSASSA-PSS (salt length equal
	// to the hash length, MGF1 with the same hash, as RFC 7427 Appendix
	// A.4.3) instead of RSASSA-PKCS1-v1_5. RFC 8247 section 3.2 recommends
	// PSS.
	RSAPSS bool
}

// SignatureAuthenticator signs IKEv2 AUTH payloads with a private key. It is
// safe for concurrent use if the crypto.Signer is (the standard library's
// keys are).
type SignatureAuthenticator struct {
	key    crypto.Signer
	method Method
	alg    sigAlg
	algID  []byte // method 14: DER AlgorithmIdentifier
	ecSize int    // methods 9-11: octets of r and of s
}

// NewSignatureAuthenticator checks that key can sign with opts and returns
// an Authenticator for it. Supported keys: *rsa.PrivateKey,
// *ecdsa.PrivateKey (P-256, P-384, P-521), ed25519.PrivateKey, or any
// crypto.Signer whose Public() is one of those.
func NewSignatureAuthenticator(key crypto.Signer, opts SignatureOptions) (*SignatureAuthenticator, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil key", ErrUnsupportedMethod)
	}
	a := &SignatureAuthenticator{key: key, method: opts.Method}
	if a.method == 0 {
		a.method = MethodDigitalSignature
	}
	pub := key.Public()
	switch a.method {
	case MethodRSASignature:
		if _, ok := pub.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%w: %v needs an RSA key, have %T", ErrUnsupportedMethod, a.method, pub)
		}
		a.alg = sigAlg{kind: kindRSAPKCS1, hash: HashSHA1}
	case MethodECDSASHA256P256, MethodECDSASHA384P384, MethodECDSASHA512P521:
		curve, hash := ecdsaMethodParams(a.method)
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != curve {
			return nil, fmt.Errorf("%w: %v needs an ECDSA key on %s", ErrUnsupportedMethod, a.method, curve.Params().Name)
		}
		a.alg = sigAlg{kind: kindECDSA, hash: hash}
		a.ecSize = (curve.Params().BitSize + 7) / 8
	case MethodDigitalSignature:
		alg, err := defaultSigAlg(pub, opts)
		if err != nil {
			return nil, err
		}
		a.alg = alg
		if a.algID, err = appendAlgorithmIdentifier(nil, alg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: %v cannot sign with a private key", ErrUnsupportedMethod, a.method)
	}
	return a, nil
}

func ecdsaMethodParams(m Method) (elliptic.Curve, HashAlgorithm) {
	switch m {
	case MethodECDSASHA256P256:
		return elliptic.P256(), HashSHA2_256
	case MethodECDSASHA384P384:
		return elliptic.P384(), HashSHA2_384
	case MethodECDSASHA512P521:
		return elliptic.P521(), HashSHA2_512
	}
	return nil, 0
}

func defaultSigAlg(pub crypto.PublicKey, opts SignatureOptions) (sigAlg, error) {
	h := opts.Hash
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if h == 0 {
			h = HashSHA2_256
		}
		if h == HashIdentity {
			return sigAlg{}, fmt.Errorf("%w: RSA with the Identity hash", ErrUnsupportedMethod)
		}
		if opts.RSAPSS {
			ch, ok := h.cryptoHash()
			if !ok {
				return sigAlg{}, fmt.Errorf("%w: hash %v", ErrUnsupportedMethod, h)
			}
			return sigAlg{kind: kindRSAPSS, hash: h, salt: ch.Size()}, nil
		}
		return sigAlg{kind: kindRSAPKCS1, hash: h}, nil
	case *ecdsa.PublicKey:
		if h == 0 {
			switch pub.Curve {
			case elliptic.P384():
				h = HashSHA2_384
			case elliptic.P521():
				h = HashSHA2_512
			default:
				h = HashSHA2_256
			}
		}
		if h == HashIdentity {
			return sigAlg{}, fmt.Errorf("%w: ECDSA with the Identity hash", ErrUnsupportedMethod)
		}
		return sigAlg{kind: kindECDSA, hash: h}, nil
	case ed25519.PublicKey:
		if h != 0 && h != HashIdentity {
			return sigAlg{}, fmt.Errorf("%w: Ed25519 signs with the Identity hash only (RFC 8420), not %v", ErrUnsupportedMethod, h)
		}
		return sigAlg{kind: kindEd25519, hash: HashIdentity}, nil
	}
	return sigAlg{}, fmt.Errorf("%w: key type %T", ErrUnsupportedMethod, pub)
}

// ChooseHash picks the hash to sign with for key, given the hashes the peer
// announced in SIGNATURE_HASH_ALGORITHMS (RFC 7427 section 4): Identity for
// Ed25519, otherwise the strongest SHA-2 hash both sides support. It returns
// an error wrapping ErrUnsupportedMethod if there is none.
func ChooseHash(pub crypto.PublicKey, peer []HashAlgorithm) (HashAlgorithm, error) {
	has := func(h HashAlgorithm) bool {
		for _, p := range peer {
			if p == h {
				return true
			}
		}
		return false
	}
	if _, ok := pub.(ed25519.PublicKey); ok {
		if has(HashIdentity) {
			return HashIdentity, nil
		}
		return 0, fmt.Errorf("%w: peer does not accept the Identity hash needed for Ed25519", ErrUnsupportedMethod)
	}
	for _, h := range []HashAlgorithm{HashSHA2_512, HashSHA2_384, HashSHA2_256} {
		if has(h) {
			return h, nil
		}
	}
	return 0, fmt.Errorf("%w: no SHA-2 hash in peer's SIGNATURE_HASH_ALGORITHMS %v", ErrUnsupportedMethod, peer)
}

// Method returns the AUTH method the authenticator signs with.
func (a *SignatureAuthenticator) Method() Method { return a.method }

// Public returns the public key.
func (a *SignatureAuthenticator) Public() crypto.PublicKey { return a.key.Public() }

// AuthData signs signedOctets (RFC 7296 section 2.15). prf is ignored. For
// method 14 the result is the ASN.1 length octet, the AlgorithmIdentifier
// and the signature (RFC 7427 section 3); for methods 9-11 the signature is
// r||s with each integer padded to the curve size (RFC 4754 section 7).
func (a *SignatureAuthenticator) AuthData(_ PRF, signedOctets []byte) ([]byte, error) {
	sig, err := sign(a.key, a.alg, signedOctets)
	if err != nil {
		return nil, err
	}
	switch a.method {
	case MethodDigitalSignature:
		out := make([]byte, 0, 1+len(a.algID)+len(sig))
		out = append(out, byte(len(a.algID)))
		out = append(out, a.algID...)
		return append(out, sig...), nil
	case MethodECDSASHA256P256, MethodECDSASHA384P384, MethodECDSASHA512P521:
		return ecdsaDERToRaw(sig, a.ecSize)
	}
	return sig, nil
}

// sign produces a signature over msg; ECDSA signatures are DER.
func sign(key crypto.Signer, alg sigAlg, msg []byte) ([]byte, error) {
	if alg.kind == kindEd25519 {
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	h, ok := alg.hash.cryptoHash()
	if !ok || h == 0 {
		return nil, fmt.Errorf("%w: hash %v", ErrUnsupportedMethod, alg.hash)
	}
	d := h.New()
	d.Write(msg)
	digest := d.Sum(nil)
	var opts crypto.SignerOpts = h
	if alg.kind == kindRSAPSS {
		opts = &rsa.PSSOptions{SaltLength: alg.salt, Hash: h}
	}
	sig, err := key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("auth: signing with %v: %w", alg, err)
	}
	return sig, nil
}

// ecdsaDERToRaw converts an ECDSA-Sig-Value to r||s of 2*size octets.
func ecdsaDERToRaw(der []byte, size int) ([]byte, error) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, fmt.Errorf("auth: signer returned a malformed ECDSA signature")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > size*8 || s.BitLen() > size*8 {
		return nil, fmt.Errorf("auth: signer returned an out-of-range ECDSA signature")
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}

// VerifyOptions is the local policy for verifying signatures. It is a plain
// value, safe for concurrent use.
type VerifyOptions struct {
	// AllowSHA1 accepts SHA-1 in RFC 7427 signatures. Method 1 (RSA
	// Digital Signature) is defined with SHA-1 and is always accepted.
	AllowSHA1 bool
}

// VerifySignatureAuthData verifies an IKEv2 AUTH payload's Authentication
// Data made with a signature method over signedOctets, with the peer's
// public key pub (taken from a verified certificate). Errors wrap
// ErrAuthFailed (bad signature), ErrMalformed (unparseable AUTH data) or
// ErrUnsupportedMethod (method, algorithm or key type not usable).
func VerifySignatureAuthData(pub crypto.PublicKey, method Method, authData, signedOctets []byte, opts VerifyOptions) error {
	switch method {
	case MethodRSASignature:
		rpub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %v with a %T key", ErrUnsupportedMethod, method, pub)
		}
		return verifySig(rpub, sigAlg{kind: kindRSAPKCS1, hash: HashSHA1}, signedOctets, authData)
	case MethodECDSASHA256P256, MethodECDSASHA384P384, MethodECDSASHA512P521:
		curve, hash := ecdsaMethodParams(method)
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != curve {
			return fmt.Errorf("%w: %v needs an ECDSA key on %s", ErrUnsupportedMethod, method, curve.Params().Name)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(authData) != 2*size {
			return fmt.Errorf("%w: %v signature of %d octets, want %d", ErrMalformed, method, len(authData), 2*size)
		}
		r := new(big.Int).SetBytes(authData[:size])
		s := new(big.Int).SetBytes(authData[size:])
		d := mustHash(hash, signedOctets)
		if !ecdsa.Verify(ec, d, r, s) {
			return fmt.Errorf("%w: %v signature does not verify", ErrAuthFailed, method)
		}
		return nil
	case MethodDigitalSignature:
		alg, sig, err := parseDigitalSignature(authData)
		if err != nil {
			return err
		}
		if alg.hash == HashSHA1 && !opts.AllowSHA1 {
			return fmt.Errorf("%w: %v (SHA-1 signatures are not allowed by policy, RFC 8247 section 3)", ErrUnsupportedMethod, alg)
		}
		return verifySig(pub, alg, signedOctets, sig)
	}
	return fmt.Errorf("%w: %v is not a signature method", ErrUnsupportedMethod, method)
}

// parseDigitalSignature splits RFC 7427 section 3 Authentication Data into
// the signature algorithm and the signature value.
func parseDigitalSignature(authData []byte) (sigAlg, []byte, error) {
	if len(authData) < 1 {
		return sigAlg{}, nil, fmt.Errorf("%w: empty Digital Signature AUTH data", ErrMalformed)
	}
	n := int(authData[0])
	if n == 0 || len(authData) < 1+n {
		return sigAlg{}, nil, fmt.Errorf("%w: ASN.1 Length %d overruns AUTH data of %d octets", ErrMalformed, n, len(authData))
	}
	alg, err := parseAlgorithmIdentifier(authData[1 : 1+n])
	if err != nil {
		return sigAlg{}, nil, err
	}
	sig := authData[1+n:]
	if len(sig) == 0 {
		return sigAlg{}, nil, fmt.Errorf("%w: no signature value after the AlgorithmIdentifier", ErrMalformed)
	}
	return alg, sig, nil
}

func mustHash(h HashAlgorithm, msg []byte) []byte {
	ch, _ := h.cryptoHash()
	d := ch.New()
	d.Write(msg)
	return d.Sum(nil)
}

// verifySig checks sig over msg with pub under alg; the key type must match
// the algorithm.
func verifySig(pub crypto.PublicKey, alg sigAlg, msg, sig []byte) error {
	fail := func(err error) error {
		if err != nil {
			return fmt.Errorf("%w: %v signature does not verify: %v", ErrAuthFailed, alg, err)
		}
		return fmt.Errorf("%w: %v signature does not verify", ErrAuthFailed, alg)
	}
	switch alg.kind {
	case kindRSAPKCS1, kindRSAPSS:
		rpub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %v with a %T key", ErrUnsupportedMethod, alg, pub)
		}
		ch, _ := alg.hash.cryptoHash()
		d := mustHash(alg.hash, msg)
		var err error
		if alg.kind == kindRSAPSS {
			err = rsa.VerifyPSS(rpub, ch, d, sig, &rsa.PSSOptions{SaltLength: alg.salt, Hash: ch})
		} else {
			err = rsa.VerifyPKCS1v15(rpub, ch, d, sig)
		}
		if err != nil {
			return fail(err)
		}
	case kindECDSA:
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %v with a %T key", ErrUnsupportedMethod, alg, pub)
		}
		if !ecdsa.VerifyASN1(ec, mustHash(alg.hash, msg), sig) {
			return fail(nil)
		}
	case kindEd25519:
		ed, ok := pub.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %v with a %T key", ErrUnsupportedMethod, alg, pub)
		}
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(ed, msg, sig) {
			return fail(nil)
		}
	default:
		return fmt.Errorf("%w: %v", ErrUnsupportedMethod, alg)
	}
	return nil
}

// SignIKEv1RSA produces an IKEv1 RSA signature (RFC 2409 section 5.1,
// SIG_I or SIG_R) over HASH_I or HASH_R: the hash is PKCS#1 v1.5 padded and
// signed as is, without a DigestInfo, as IKEv1 implementations do.
func SignIKEv1RSA(key crypto.Signer, hash []byte) ([]byte, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: IKEv1 RSA signature with a %T key", ErrUnsupportedMethod, key.Public())
	}
	sig, err := key.Sign(rand.Reader, hash, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("auth: IKEv1 RSA signature: %w", err)
	}
	return sig, nil
}

// VerifyIKEv1RSA checks an IKEv1 RSA signature made by SignIKEv1RSA.
func VerifyIKEv1RSA(pub crypto.PublicKey, hash, sig []byte) error {
	rpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: IKEv1 RSA signature with a %T key", ErrUnsupportedMethod, pub)
	}
	if err := rsa.VerifyPKCS1v15(rpub, 0, hash, sig); err != nil {
		return fmt.Errorf("%w: IKEv1 RSA signature does not verify", ErrAuthFailed)
	}
	return nil
}
