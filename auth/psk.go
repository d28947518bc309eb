package auth

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"sync"
)

// DefaultMinPSKLength is the shortest pre-shared key, in octets, that
// NewPSK and PSKStore accept unless short secrets are explicitly allowed.
//
// RFC 7296 section 2.15 warns that a pre-shared key "needs to contain as much
// unpredictability as the strongest key being negotiated" and that one
// derived from a password is open to offline dictionary attack by anyone
// who sees (or actively provokes) an AUTH payload. 16 octets is 128 bits:
// the strength of the weakest commonly negotiated cipher (AES-128).
const DefaultMinPSKLength = 16

// ikev2KeyPad is the constant of RFC 7296 section 2.15, 17 ASCII octets
// without a terminating NUL.
const ikev2KeyPad = "Key Pad for IKEv2"

// PSKOptions controls which secrets are accepted. It is a plain value, safe
// for concurrent use.
type PSKOptions struct {
	// MinLength is the minimum secret length in octets. Zero means
	// DefaultMinPSKLength.
	MinLength int
	// AllowShort accepts secrets shorter than MinLength (but never an empty
	// secret). Use it only for interoperability with existing peers whose
	// secrets cannot be changed; the shared secret is then guessable
	// offline from one captured AUTH payload.
	AllowShort bool
}

func (o PSKOptions) check(secret []byte) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: the secret is empty", ErrWeakSecret)
	}
	min := o.MinLength
	if min <= 0 {
		min = DefaultMinPSKLength
	}
	if len(secret) < min && !o.AllowShort {
		return fmt.Errorf("%w: %d octets, need at least %d: an IKE AUTH payload lets an eavesdropper test guesses of the secret offline (RFC 7296 section 2.15), so a short secret is as weak as its guessability; use a longer random secret or set PSKOptions.AllowShort", ErrWeakSecret, len(secret), min)
	}
	return nil
}

// PSK is a pre-shared key credential. It is the local Authenticator and the
// PeerAuthenticator for method SHARED_KEY_MIC, and derives the IKEv1 SKEYID
// for pre-shared key authentication. A PSK is immutable and safe for
// concurrent use.
type PSK struct {
	secret []byte
}

// NewPSK copies secret into a new PSK after checking its length against
// opts.
func NewPSK(secret []byte, opts PSKOptions) (*PSK, error) {
	if err := opts.check(secret); err != nil {
		return nil, err
	}
	return &PSK{secret: bytes.Clone(secret)}, nil
}

// Method returns MethodSharedKeyMIC.
func (p *PSK) Method() Method { return MethodSharedKeyMIC }

// AuthData computes the IKEv2 AUTH value of RFC 7296 section 2.15:
//
//	AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
func (p *PSK) AuthData(prf PRF, signedOctets []byte) ([]byte, error) {
	if prf == nil {
		return nil, fmt.Errorf("%w: SHARED_KEY_MIC needs the IKE SA's PRF", ErrUnsupportedMethod)
	}
	return prf(prf(p.secret, []byte(ikev2KeyPad)), signedOctets), nil
}

// VerifyAuthData recomputes the AUTH value and compares it with authData in
// constant time (RFC 7296 section 2.15).
func (p *PSK) VerifyAuthData(method Method, authData []byte, prf PRF, signedOctets []byte) error {
	if method != MethodSharedKeyMIC {
		return fmt.Errorf("%w: peer used %v where a pre-shared key is configured", ErrUnsupportedMethod, method)
	}
	want, err := p.AuthData(prf, signedOctets)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, authData) {
		return fmt.Errorf("%w: SHARED_KEY_MIC does not match", ErrAuthFailed)
	}
	return nil
}

// SKEYID returns the IKEv1 SKEYID for pre-shared key authentication
// (RFC 2409 section 5):
//
//	SKEYID = prf(pre-shared-key, Ni_b | Nr_b)
//
// niB and nrB are the bodies of the initiator's and responder's Nonce
// payloads.
func (p *PSK) SKEYID(prf PRF, niB, nrB []byte) []byte {
	data := make([]byte, 0, len(niB)+len(nrB))
	data = append(append(data, niB...), nrB...)
	return prf(p.secret, data)
}

// PSKStore holds pre-shared keys by peer identity. It is safe for
// concurrent use.
type PSKStore struct {
	opts PSKOptions
	mu   sync.RWMutex
	keys map[string]*PSK
}

// NewPSKStore returns an empty store that checks every added secret with
// opts.
func NewPSKStore(opts PSKOptions) *PSKStore {
	return &PSKStore{opts: opts, keys: make(map[string]*PSK)}
}

// Add stores (or replaces) the secret for the peer identity id. The secret
// is copied. It returns an error wrapping ErrWeakSecret for a short secret
// and ErrMalformed for an invalid identity.
func (s *PSKStore) Add(id Identity, secret []byte) error {
	if err := id.Validate(); err != nil {
		return err
	}
	p, err := NewPSK(secret, s.opts)
	if err != nil {
		return fmt.Errorf("secret for %v: %w", id, err)
	}
	s.mu.Lock()
	s.keys[id.key()] = p
	s.mu.Unlock()
	return nil
}

// Remove deletes the secret for id, if any.
func (s *PSKStore) Remove(id Identity) {
	s.mu.Lock()
	delete(s.keys, id.key())
	s.mu.Unlock()
}

// Len returns the number of stored secrets.
func (s *PSKStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// Lookup returns the secret configured for the peer identity id (as sent
// in the peer's ID payload). FQDN and RFC 822 identities match
// case-insensitively. It returns an error wrapping ErrUnknownPeer if none is
// configured.
func (s *PSKStore) Lookup(id Identity) (*PSK, error) {
	s.mu.RLock()
	p := s.keys[id.key()]
	s.mu.RUnlock()
	if p == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownPeer, id)
	}
	return p, nil
}
