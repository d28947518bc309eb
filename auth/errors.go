package auth

import "errors"

// Sentinel errors that callers branch on with errors.Is. Errors returned by
// this package wrap one of these with context a person can act on.
var (
	// ErrAuthFailed means a proof (a PSK AUTH value or a signature) did not
	// verify. The wrapped message never includes secret material.
	ErrAuthFailed = errors.New("auth: authentication failed")

	// ErrUnknownPeer means no credential is configured for the peer's
	// identity.
	ErrUnknownPeer = errors.New("auth: no credential for peer identity")

	// ErrWeakSecret means a pre-shared key is shorter than the configured
	// minimum and the caller did not explicitly allow short secrets.
	ErrWeakSecret = errors.New("auth: pre-shared key too short")

	// ErrUnsupportedMethod means an authentication method, signature
	// algorithm or hash is not implemented or not allowed by configuration.
	ErrUnsupportedMethod = errors.New("auth: unsupported authentication method")

	// ErrMalformed means bytes received from the peer (AUTH data, a CERT or
	// CERTREQ payload body, a notify body, a GSS-API token) could not be
	// parsed.
	ErrMalformed = errors.New("auth: malformed input")

	// ErrCertificate means the peer's certificate chain was rejected (no
	// chain to a trusted root, expired, revoked, wrong key usage).
	ErrCertificate = errors.New("auth: certificate rejected")

	// ErrIdentityMismatch means the IKE identity does not match the
	// certificate's subject or subjectAltName, or the Kerberos principal.
	ErrIdentityMismatch = errors.New("auth: identity does not match credential")

	// ErrKerberos means a Kerberos exchange failed (KDC unreachable or
	// refused, ticket invalid, AP-REQ or AP-REP rejected).
	ErrKerberos = errors.New("auth: kerberos failure")

	// ErrReplay means a Kerberos authenticator was seen before within the
	// clock-skew window (RFC 4120 section 3.2.3).
	ErrReplay = errors.New("auth: replayed kerberos authenticator")
)
