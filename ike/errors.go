package ike

import "errors"

// Errors callers branch on with errors.Is. Protocol refusals also wrap the
// NotifyError sent or received (for example NotifyError(
// isakmp.NotifyNoProposalChosen)), so a caller can tell "the peer refused"
// from "we refused" by the notification as well as by the sentinel.
var (
	// ErrNoProposalChosen: no proposal of one side was acceptable to the
	// other (IKE SA or, IKEv1, ISAKMP SA).
	ErrNoProposalChosen = errors.New("ike: no acceptable proposal")
	// ErrAuthenticationFailed: the peer's identity or AUTH/HASH/SIG did
	// not verify, or the peer reported AUTHENTICATION_FAILED.
	ErrAuthenticationFailed = errors.New("ike: authentication failed")
	// ErrChildSA: a CHILD SA (IKEv1: IPsec SA) could not be negotiated;
	// the error also wraps the NotifyError concerned.
	ErrChildSA = errors.New("ike: CHILD SA negotiation failed")
	// ErrHandshake: the peer's handshake messages were unusable
	// (missing payloads, wrong sizes, proposals we never offered).
	ErrHandshake = errors.New("ike: invalid handshake message")
	// ErrClosed: the session is closed.
	ErrClosed = errors.New("ike: session closed")
	// ErrNotEstablished: the request needs an established IKE SA.
	ErrNotEstablished = errors.New("ike: the IKE SA is not established")
	// ErrNoChild: no CHILD SA has that SPI.
	ErrNoChild = errors.New("ike: no such CHILD SA")
)
