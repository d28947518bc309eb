package ike

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// IKEv1 phase 1 authentication (RFC 2409 5, 5.1, 5.4; RFC 4754 for ECDSA).
// localMethodV1 says which method a Config implies; each method is a
// v1Authenticator: how SKEYID is computed, what proves this side's
// identity after its ID payload, and how the peer's proof is checked.
// The GSS-API (Kerberos) method Windows uses (issue 16) plugs in as one
// more v1Authenticator: SKEYID as the signature methods make it, and a GSS
// MIC over HASH_I/HASH_R in place of the signature.

// v1Authenticator is one phase 1 authentication method.
type v1Authenticator interface {
	// skeyid computes SKEYID (RFC 2409 5); psk is the pre-shared key for
	// the PSK method.
	skeyid(sa *isakmpSA, psk *auth.PSK) ([]byte, error)
	// prove returns the payloads after this side's ID: HASH_I/HASH_R or
	// its replacement.
	prove(s *SessionV1, sa *isakmpSA, hash []byte) ([]isakmp.Payload, error)
	// verify checks the peer's proof of hash with the credential PeerAuth
	// returned for the peer's identity.
	verify(sa *isakmpSA, ps []isakmp.Payload, peer auth.PeerAuthenticator, hash []byte) error
}

// v1AuthFor returns the implementation of a method, nil if there is none.
func v1AuthFor(m isakmp.V1AuthMethod) v1Authenticator {
	switch m {
	case isakmp.V1AuthPSK:
		return pskAuthV1{}
	case isakmp.V1AuthRSASig, isakmp.V1AuthECDSA256, isakmp.V1AuthECDSA384, isakmp.V1AuthECDSA521:
		return sigAuthV1{}
	}
	return nil
}

// pskAuthV1 is the pre-shared key method: SKEYID = prf(pre-shared-key,
// Ni_b | Nr_b), proof HASH_I/HASH_R itself.
type pskAuthV1 struct{}

func (pskAuthV1) skeyid(sa *isakmpSA, psk *auth.PSK) ([]byte, error) {
	if psk == nil {
		return nil, fmt.Errorf("%w: no pre-shared key for this peer", ErrAuthenticationFailed)
	}
	return v1SKEYIDPSK(sa.x.hash, psk, sa.ni, sa.nr), nil
}

func (pskAuthV1) prove(_ *SessionV1, _ *isakmpSA, hash []byte) ([]isakmp.Payload, error) {
	return []isakmp.Payload{&isakmp.V1Hash{Data: hash}}, nil
}

func (pskAuthV1) verify(_ *isakmpSA, ps []isakmp.Payload, _ auth.PeerAuthenticator, hash []byte) error {
	hp := find[*isakmp.V1Hash](ps)
	if hp == nil || !hmac.Equal(hp.Data, hash) {
		return fmt.Errorf("%w: HASH does not match (wrong pre-shared key?)", ErrAuthenticationFailed)
	}
	return nil
}

// sigAuthV1 is the RSA (RFC 2409 5.1) and ECDSA (RFC 4754) signature
// methods: SKEYID = prf(Ni_b | Nr_b, g^xy), proof CERT... and SIG over
// HASH_I/HASH_R.
type sigAuthV1 struct{}

func (sigAuthV1) skeyid(sa *isakmpSA, _ *auth.PSK) ([]byte, error) {
	return v1SKEYIDSig(sa.x.hash, sa.ni, sa.nr, sa.gxy), nil
}

func (sigAuthV1) prove(s *SessionV1, sa *isakmpSA, hash []byte) ([]isakmp.Payload, error) {
	var sig []byte
	var err error
	if sa.method == isakmp.V1AuthRSASig {
		sig, err = auth.SignIKEv1RSA(s.cfg.SignatureKey, hash)
	} else {
		sig, err = signECDSAV1(s.cfg.SignatureKey, hash)
	}
	if err != nil {
		return nil, err
	}
	return append(s.appendCerts(nil), &isakmp.V1Sig{Data: sig}), nil
}

func (sigAuthV1) verify(sa *isakmpSA, ps []isakmp.Payload, peer auth.PeerAuthenticator, hash []byte) error {
	sig := find[*isakmp.V1Sig](ps)
	pc, ok := peer.(*auth.PeerCertificate)
	if sig == nil || !ok {
		return fmt.Errorf("%w: no signature or no certificate", ErrAuthenticationFailed)
	}
	var err error
	if sa.method == isakmp.V1AuthRSASig {
		err = auth.VerifyIKEv1RSA(pc.Leaf.PublicKey, hash, sig.Data)
	} else {
		err = verifyECDSAV1(pc.Leaf.PublicKey, sa.method, hash, sig.Data)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuthenticationFailed, err)
	}
	return nil
}

// localMethodV1 returns the phase 1 authentication method a Config
// implies: pre-shared key for an *auth.PSK in Auth, RSA or ECDSA
// signatures (by curve) for a SignatureKey.
func localMethodV1(c *Config) (isakmp.V1AuthMethod, error) {
	if c.SignatureKey != nil {
		switch pub := c.SignatureKey.Public().(type) {
		case *rsa.PublicKey:
			return isakmp.V1AuthRSASig, nil
		case *ecdsa.PublicKey:
			switch pub.Curve {
			case elliptic.P256():
				return isakmp.V1AuthECDSA256, nil
			case elliptic.P384():
				return isakmp.V1AuthECDSA384, nil
			case elliptic.P521():
				return isakmp.V1AuthECDSA521, nil
			}
		}
		return 0, fmt.Errorf("%w: IKEv1 signs with RSA or ECDSA (P-256, P-384, P-521) keys only, have %T",
			errConfig, c.SignatureKey.Public())
	}
	if _, ok := c.Auth.(*auth.PSK); ok {
		return isakmp.V1AuthPSK, nil
	}
	return 0, fmt.Errorf("%w: IKEv1 needs an *auth.PSK as Auth, or a SignatureKey", errConfig)
}

// skeyidV1 computes SKEYID for sa's method (RFC 2409 5). psk is the
// pre-shared key for the PSK method.
func skeyidV1(sa *isakmpSA, psk *auth.PSK) ([]byte, error) {
	a := v1AuthFor(sa.method)
	if a == nil {
		return nil, fmt.Errorf("%w: method %v", ErrNoProposalChosen, sa.method)
	}
	return a.skeyid(sa, psk)
}

// hashIR computes HASH_I (initiator true) or HASH_R (RFC 2409 5):
//
//	HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
//	HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
func hashIR(sa *isakmpSA, initiator bool, idb []byte) []byte {
	if initiator {
		return sa.x.hash.prf(sa.keys.skeyid, sa.gxi, sa.gxr, sa.ckyI[:], sa.ckyR[:], sa.saIb, idb)
	}
	return sa.x.hash.prf(sa.keys.skeyid, sa.gxr, sa.gxi, sa.ckyR[:], sa.ckyI[:], sa.saIb, idb)
}

// idPayloadV1 is the phase 1 ID payload of an identity (RFC 2407 4.6.2:
// protocol and port zero, "ignored").
func idPayloadV1(id auth.Identity) *isakmp.V1ID {
	return &isakmp.V1ID{IDType: isakmp.IDType(id.Type), Data: id.Data}
}

// payloadBody returns a payload's body as it is encoded (without the
// generic header), for the hashes that cover "_b" bodies.
func payloadBody(p isakmp.Payload) ([]byte, error) {
	b, err := isakmp.AppendPayloads(nil, isakmp.MajorIKEv1, []isakmp.Payload{p})
	if err != nil {
		return nil, err
	}
	return b[isakmp.GenericHeaderLen:], nil
}

// proofPayloadsV1 returns this side's ID and proof (MM5/MM6, AM2/AM3):
// ID, HASH for pre-shared keys; ID, CERT..., SIG for signatures (the
// method's v1Authenticator makes what follows the ID).
func (s *SessionV1) proofPayloadsV1(sa *isakmpSA, initiator bool) ([]isakmp.Payload, error) {
	id := idPayloadV1(s.cfg.LocalID)
	idb, err := payloadBody(id)
	if err != nil {
		return nil, err
	}
	a := v1AuthFor(sa.method)
	if a == nil {
		return nil, fmt.Errorf("%w: method %v", ErrNoProposalChosen, sa.method)
	}
	proof, err := a.prove(s, sa, hashIR(sa, initiator, idb))
	if err != nil {
		return nil, err
	}
	return append([]isakmp.Payload{id}, proof...), nil
}

func (s *SessionV1) appendCerts(ps []isakmp.Payload) []isakmp.Payload {
	for _, c := range s.cfg.Certificates {
		ps = append(ps, &isakmp.V1Cert{Encoding: isakmp.CertX509Sig, Data: c})
	}
	return ps
}

// certReqsV1 returns the CERTREQ payloads of MM3/MM4 for the signature
// methods (RFC 2409 5: CR in the KE messages): one per trusted CA named by
// its DER subject (RFC 2408 3.10), or one naming no CA.
func (s *SessionV1) certReqsV1(sa *isakmpSA) []isakmp.Payload {
	if sa.method == isakmp.V1AuthPSK {
		return nil
	}
	if len(s.cfg.CertRequestCAs) == 0 {
		return []isakmp.Payload{&isakmp.V1CertReq{Encoding: isakmp.CertX509Sig}}
	}
	var out []isakmp.Payload
	for _, ca := range s.cfg.CertRequestCAs {
		out = append(out, &isakmp.V1CertReq{Encoding: isakmp.CertX509Sig, CA: ca.RawSubject})
	}
	return out
}

// verifyProofV1 checks the peer's ID (against Config.RemoteID and
// PeerAuth) and its proof with the method's v1Authenticator. For the PSK
// method a wrong key shows as a HASH that does not match.
func (s *SessionV1) verifyProofV1(now time.Time, sa *isakmpSA, ps []isakmp.Payload, peerIsInitiator bool) error {
	idp := find[*isakmp.V1ID](ps)
	if idp == nil {
		return fmt.Errorf("%w: no ID payload", ErrAuthenticationFailed)
	}
	id := auth.Identity{Type: auth.IDType(idp.IDType), Data: bytes.Clone(idp.Data)}
	if err := id.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrAuthenticationFailed, err)
	}
	if s.cfg.RemoteID.Type != 0 && !s.cfg.RemoteID.Equal(id) {
		return fmt.Errorf("%w: peer is %v, expected %v", ErrAuthenticationFailed, id, s.cfg.RemoteID)
	}
	idb, err := payloadBody(idp)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuthenticationFailed, err)
	}
	want := hashIR(sa, peerIsInitiator, idb)
	var certs [][]byte
	for _, p := range ps {
		if c, ok := p.(*isakmp.V1Cert); ok && c.Encoding == isakmp.CertX509Sig {
			certs = append(certs, bytes.Clone(c.Data))
		}
	}
	pa, err := s.cfg.PeerAuth(id, certs, now)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuthenticationFailed, err)
	}
	a := v1AuthFor(sa.method)
	if a == nil {
		return fmt.Errorf("%w: method %v", ErrAuthenticationFailed, sa.method)
	}
	if err := a.verify(sa, ps, pa, want); err != nil {
		return err
	}
	s.peerID = id
	return nil
}

// pskV1 returns the pre-shared key for SKEYID. In Main Mode it must be
// chosen before the peer's identity arrives (RFC 2409 5.4: the key can
// only depend on the peer's address), so it is Config.Auth: the Config
// for this peer, picked by address through GetConfigForRequest. In
// Aggressive Mode the identity comes first and PeerAuth's key for it is
// used when it is a PSK.
func (s *SessionV1) pskV1(now time.Time, sa *isakmpSA) *auth.PSK {
	if sa.aggressive && sa.peerIDb != nil && !sa.initiator {
		id := auth.Identity{Type: auth.IDType(sa.peerIDb[0]), Data: sa.peerIDb[4:]}
		if pa, err := s.cfg.PeerAuth(id, nil, now); err == nil {
			if p, ok := pa.(*auth.PSK); ok {
				return p
			}
		}
	}
	p, _ := s.cfg.Auth.(*auth.PSK)
	return p
}

// signECDSAV1 signs HASH_I or HASH_R for the IKEv1 ECDSA methods (RFC
// 4754 7, 8): the hash is the ECDSA digest as it is, not hashed again (as
// strongSwan does: its log names the scheme ECDSA_WITH_NULL), and the
// signature is r|s, each as long as the curve's order.
func signECDSAV1(key crypto.Signer, h []byte) ([]byte, error) {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: ECDSA method with a %T key", errConfig, key.Public())
	}
	der, err := key.Sign(rand.Reader, h, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("ike: ECDSA signature: %w", err)
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("ike: ECDSA signer returned a malformed signature")
	}
	size := (pub.Curve.Params().BitSize + 7) / 8
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > size*8 || rs.S.BitLen() > size*8 {
		return nil, fmt.Errorf("ike: ECDSA signer returned an out-of-range signature")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}

// verifyECDSAV1 checks a signature made as signECDSAV1 does, with the
// curve the method names.
func verifyECDSAV1(pub any, method isakmp.V1AuthMethod, h, sig []byte) error {
	curve := map[isakmp.V1AuthMethod]elliptic.Curve{isakmp.V1AuthECDSA256: elliptic.P256(),
		isakmp.V1AuthECDSA384: elliptic.P384(), isakmp.V1AuthECDSA521: elliptic.P521()}[method]
	epub, ok := pub.(*ecdsa.PublicKey)
	if !ok || curve == nil || epub.Curve != curve {
		return fmt.Errorf("%w: ECDSA method %v with a %T key", ErrAuthenticationFailed, method, pub)
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return fmt.Errorf("%w: ECDSA signature of %d octets", ErrAuthenticationFailed, len(sig))
	}
	r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
	if !ecdsa.Verify(epub, h, r, s) {
		return fmt.Errorf("%w: ECDSA signature does not verify", ErrAuthenticationFailed)
	}
	return nil
}
