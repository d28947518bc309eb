package auth

// Authenticator produces the local side's proof for an IKEv2 AUTH payload
// (RFC 7296 section 2.15): the Authentication Data over the signed octets
// that the IKE code assembled (InitiatorSignedOctets or
// ResponderSignedOctets, which already include prf(SK_p, RestOfIDPayload)).
//
// Implementations in this package are safe for concurrent use.
type Authenticator interface {
	// Method is the value for the AUTH payload's Auth Method field.
	Method() Method
	// AuthData returns the AUTH payload's Authentication Data. prf is the
	// IKE SA's negotiated PRF; signature methods ignore it.
	AuthData(prf PRF, signedOctets []byte) ([]byte, error)
}

// PeerAuthenticator checks the peer's AUTH payload against a credential
// already bound to the peer's identity: a pre-shared key from a PSKStore
// lookup, or a certificate chain accepted by a CertVerifier.
//
// Implementations in this package are safe for concurrent use.
type PeerAuthenticator interface {
	// VerifyAuthData returns nil if authData is a valid proof with method
	// over signedOctets, and an error wrapping ErrAuthFailed,
	// ErrUnsupportedMethod or ErrMalformed otherwise.
	VerifyAuthData(method Method, authData []byte, prf PRF, signedOctets []byte) error
}
