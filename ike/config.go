package ike

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Mode is the encapsulation mode of a CHILD SA. It is a plain value, safe
// for concurrent use.
type Mode uint8

// CHILD SA modes, numbered as RFC 2407 section 4.5's Encapsulation Mode
// (the numbering esp.Mode and ah.Mode use). Tunnel is the default of RFC
// 7296 1.3.1, and a Config whose Mode is zero (unset) asks for it;
// Transport is requested with the USE_TRANSPORT_MODE notification. A
// ChildSA's Mode is always Tunnel or Transport.
const (
	Tunnel    Mode = 1
	Transport Mode = 2
)

func (m Mode) String() string {
	switch m {
	case Transport:
		return "transport"
	case Tunnel:
		return "tunnel"
	}
	return "unset"
}

// Defaults, taken from strongSwan's where the RFC leaves the choice open.
const (
	DefaultRetransmitTimeout = 4 * time.Second // strongSwan retransmit_timeout
	DefaultRetransmitBase    = 1.8             // strongSwan retransmit_base
	DefaultRetransmitTries   = 5               // strongSwan retransmit_tries
	DefaultChildRekey        = time.Hour       // strongSwan children.rekey_time
	DefaultIKERekey          = 4 * time.Hour   // strongSwan rekey_time
	DefaultMaxChildSAs       = 64              // CHILD SAs per IKE SA
	nonceLen                 = 32              // RFC 7296 2.10: at least 128 bits and half the PRF key size
	minNonceLen              = 16              // RFC 7296 3.9
	maxNonceLen              = 256             // RFC 7296 3.9
)

// PeerAuthFunc returns the credential that checks the AUTH payload of the
// peer that claims identity id and sent the DER certificates certs (empty
// for pre-shared keys). It returns an error to refuse the peer. Sessions
// call it from their own goroutine; a PeerAuthFunc shared by several
// sessions must be safe for concurrent use.
type PeerAuthFunc func(id auth.Identity, certs [][]byte, now time.Time) (auth.PeerAuthenticator, error)

// PSKPeers returns a PeerAuthFunc that looks the peer's identity up in
// store.
func PSKPeers(store *auth.PSKStore) PeerAuthFunc {
	return func(id auth.Identity, _ [][]byte, _ time.Time) (auth.PeerAuthenticator, error) {
		p, err := store.Lookup(id)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// CertPeers returns a PeerAuthFunc that accepts peers whose certificate
// chain (from their CERT payloads) v accepts for the identity they claim.
func CertPeers(v *auth.CertVerifier) PeerAuthFunc {
	return func(id auth.Identity, certs [][]byte, now time.Time) (auth.PeerAuthenticator, error) {
		p, err := v.Verify(id, certs, now)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// Config configures the sessions with one peer. A Config must not be
// changed after it has been passed to NewInitiator or Accept; it is then
// safe for concurrent use by the sessions that share it.
type Config struct {
	// LocalID is sent in IDi or IDr. RemoteID, if set, is the identity the
	// peer must prove; it is also sent as IDr by an initiator.
	LocalID  auth.Identity
	RemoteID auth.Identity

	// Auth makes the local AUTH payload; PeerAuth finds the credential
	// that checks the peer's.
	Auth     auth.Authenticator
	PeerAuth PeerAuthFunc
	// SignatureKey, set instead of Auth, signs the local AUTH payload
	// with SignatureOptions. For RFC 7427 digital signatures (method 14)
	// without a fixed SignatureOptions.Hash, each IKE SA signs with the
	// hash auth.ChooseHash picks from the peer's SIGNATURE_HASH_ALGORITHMS
	// (RFC 7427 section 4); a peer that sent none, or none that fits the
	// key, gets the key's default hash (auth.SignatureOptions).
	SignatureKey     crypto.Signer
	SignatureOptions auth.SignatureOptions
	// Certificates is the DER certificate chain sent in CERT payloads
	// (leaf first) when Auth is a signature authenticator.
	Certificates [][]byte
	// CertRequestCAs are the trusted CAs announced in CERTREQ payloads
	// (RFC 7296 3.7: SHA-1 hashes of their public keys), asking the peer
	// for a certificate chain to one of them.
	CertRequestCAs []*x509.Certificate

	// IKEProposals and ChildProposals in preference order. The responder
	// accepts only what is listed here (RFC 7296 2.7): these are the
	// minimums. ChildProposals with key exchange methods make CHILD SA
	// rekeys use PFS.
	IKEProposals   []Proposal
	ChildProposals []Proposal

	// LocalTS and RemoteTS are the traffic selectors of the CHILD SA
	// (RFC 7296 2.9), this side's and the peer's.
	LocalTS, RemoteTS []isakmp.TrafficSelector
	Mode              Mode

	// ChildRekey is when a CHILD SA is rekeyed (its soft lifetime, less a
	// random jitter of up to RekeyJitter); ChildLifetime is its hard
	// lifetime. Zero means DefaultChildRekey and 110% of ChildRekey.
	ChildRekey, ChildLifetime time.Duration
	// IKERekey is when the IKE SA is rekeyed; zero means DefaultIKERekey,
	// negative means never.
	IKERekey time.Duration
	// RekeyJitter is the largest random amount subtracted from rekey
	// times; zero means 10% of the rekey time, negative none.
	RekeyJitter time.Duration

	// DPDInterval is how long the peer may be silent before a liveness
	// check (an empty INFORMATIONAL request, RFC 7296 2.4); zero turns it
	// off.
	DPDInterval time.Duration

	// Retransmission of requests (RFC 7296 2.1): the first timeout, the
	// factor by which it grows, and the number of retransmissions before
	// the peer is declared dead.
	RetransmitTimeout time.Duration
	RetransmitBase    float64
	RetransmitTries   int

	// ForceUDPEncap makes this side claim to be behind a NAT (a random
	// NAT_DETECTION_SOURCE_IP hash, as strongSwan's encap=yes does), so
	// that both sides move to UDP port 4500 and encapsulate ESP in UDP
	// (RFC 3948) even without a NAT.
	ForceUDPEncap bool

	// InitialContact asks the peer to delete older IKE SAs with this
	// identity (RFC 7296 2.4).
	InitialContact bool

	// MaxChildSAs caps the CHILD SAs of one IKE SA (rekeyed ones waiting
	// for their Delete not counted): a request for one more is answered
	// NO_ADDITIONAL_SAS (RFC 7296 1.3). Zero means DefaultMaxChildSAs,
	// negative no limit.
	MaxChildSAs int

	// Cookies, if set, makes responders demand COOKIEs under load (RFC
	// 7296 2.6).
	Cookies *CookieJar

	// KeyExchange says which IKE versions this Config allows; the zero
	// value is IKEv2 only.
	KeyExchange KeyExchange

	// Kerberos authenticates IKEv1 Main Mode with Kerberos, the GSS-API
	// method Windows domain members use (see KerberosAuth); it may be set
	// beside Auth or SignatureKey, and AuthOrder says which is tried
	// first.
	Kerberos *KerberosAuth
	// AuthOrder lists, for IKEv1, the authentication methods offered (as
	// initiator) and accepted (as responder), in order of preference, as
	// Windows tries a rule's methods; each must be configured. Empty
	// means Kerberos first (if set), then the method of Auth or
	// SignatureKey.
	AuthOrder []AuthKind

	// AllowLegacyV1 lets IKEv1 offer and accept 3DES, HMAC-MD5 and
	// MODP-1024 (Oakley group 2), the defaults of Windows Server 2003,
	// so that such a peer can be reached. Off by default: 3DES has a
	// 64-bit block (RFC 8221) and MODP-1024 is below today's minimum
	// (RFC 8247). DES and MODP-768 are never negotiated.
	AllowLegacyV1 bool
	// AggressiveMode lets an IKEv1 initiator use Aggressive Mode (RFC
	// 2409 5.4) and a responder accept it; pre-shared keys only. Off by
	// default, as in strongSwan: its second message exposes a hash an
	// eavesdropper can test guesses of the pre-shared key against.
	AggressiveMode bool
	// QuickModeCommit makes an IKEv1 initiator set the commit bit on
	// Quick Mode (RFC 2408 3.1, RFC 2409 5.5), as Windows does: the
	// responder confirms with CONNECTED once it has installed the IPsec
	// SAs, and only then is the CHILD SA reported here, so that traffic
	// sent on it at once is not lost.
	QuickModeCommit bool
	// ChildLifetimeKilobytes is the IKEv1 CHILD SA (IPsec SA) lifetime in
	// kilobytes (RFC 2407 4.5); zero sends none.
	ChildLifetimeKilobytes uint64

	// GetConfigForRequest, if set on a responder's Config, chooses the
	// Config for each request, as crypto/tls's Config.GetConfigForClient
	// does: on the first message of an IKE SA (only the version and the
	// addresses are known) for the IKE proposals; when the peer's
	// identity arrives, for authentication; and for each CHILD SA
	// request, for its proposals, selectors, mode and lifetimes. It
	// returns nil to keep the current Config, or an error to refuse the
	// request (answered as the version's RFC says: NO_PROPOSAL_CHOSEN,
	// AUTHENTICATION_FAILED or TS_UNACCEPTABLE). On an initiator's Config
	// it is consulted for the CHILD SAs the peer requests. The Config it returns is
	// used as it is: its own GetConfigForRequest is not called. It is
	// called from the endpoint's workers and must be safe for concurrent
	// use.
	GetConfigForRequest func(*ConfigRequest) (*Config, error)

	// Tag is the caller's name for this Config (the root package's
	// driver puts a policy rule's identity here). It is copied into every
	// ChildSA negotiated with this Config.
	Tag string

	// SPI allocates inbound CHILD SA SPIs (for example from package sad);
	// nil picks random SPIs of 256 and up.
	SPI func() (uint32, error)

	// Rand is the source of nonces, SPIs, jitter and MODP exponents; nil
	// is crypto/rand. It must not fail: a session cannot continue without
	// randomness and panics if Rand returns an error. (Elliptic-curve keys
	// always come from crypto/ecdh's own source.)
	Rand io.Reader
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger

	// KeyLogWriter, if set, receives the keys of every IKE SA and CHILD
	// SA negotiated with this Config, one line per IKE SA and per CHILD
	// SA direction, in the format of package ike/keylog, which converts
	// it into Wireshark's decryption tables. Like crypto/tls's
	// Config.KeyLogWriter it is for debugging only: the file holds
	// secrets that decrypt (and forge) all the traffic of those SAs.
	// Writes from all sessions are serialized.
	KeyLogWriter io.Writer
}

var errConfig = errors.New("ike: invalid configuration")

// check validates the configuration for use by a session.
func (c *Config) check() error {
	if (c.Auth == nil) == (c.SignatureKey == nil) || c.PeerAuth == nil {
		return fmt.Errorf("%w: PeerAuth and one of Auth and SignatureKey are required", errConfig)
	}
	if c.SignatureKey != nil {
		if _, err := auth.NewSignatureAuthenticator(c.SignatureKey, c.SignatureOptions); err != nil {
			return fmt.Errorf("%w: SignatureKey: %w", errConfig, err)
		}
	}
	if err := c.LocalID.Validate(); err != nil {
		return fmt.Errorf("%w: LocalID: %v", errConfig, err)
	}
	if len(c.IKEProposals) == 0 || len(c.IKEProposals) > 255 || len(c.ChildProposals) > 255 {
		return fmt.Errorf("%w: between 1 and 255 IKE proposals are required", errConfig)
	}
	for i := range c.IKEProposals {
		p := &c.IKEProposals[i]
		if p.Protocol != isakmp.ProtocolIKE {
			return fmt.Errorf("%w: IKE proposal %d has protocol %v", errConfig, i+1, p.Protocol)
		}
		if err := p.validate(); err != nil {
			return err
		}
	}
	if err := c.checkChild(); err != nil {
		return err
	}
	if c.RetransmitBase != 0 && c.RetransmitBase < 1 {
		return fmt.Errorf("%w: RetransmitBase below 1", errConfig)
	}
	return nil
}

func (c *Config) retransmitTimeout() time.Duration {
	if c.RetransmitTimeout > 0 {
		return c.RetransmitTimeout
	}
	return DefaultRetransmitTimeout
}

func (c *Config) retransmitBase() float64 {
	if c.RetransmitBase >= 1 {
		return c.RetransmitBase
	}
	return DefaultRetransmitBase
}

func (c *Config) retransmitTries() int {
	if c.RetransmitTries > 0 {
		return c.RetransmitTries
	}
	return DefaultRetransmitTries
}

func (c *Config) childRekey() time.Duration {
	if c.ChildRekey > 0 {
		return c.ChildRekey
	}
	return DefaultChildRekey
}

func (c *Config) childLifetime() time.Duration {
	if c.ChildLifetime > 0 {
		return c.ChildLifetime
	}
	return c.childRekey() * 11 / 10
}

func (c *Config) ikeRekey() time.Duration {
	switch {
	case c.IKERekey > 0:
		return c.IKERekey
	case c.IKERekey < 0:
		return 0
	}
	return DefaultIKERekey
}

// ikeLifetimeV1 is the ISAKMP SA lifetime an IKEv1 session proposes:
// its hard lifetime, the rekey time plus 10% (as childLifetime), or a day
// when IKE SA rekeying is off.
func (c *Config) ikeLifetimeV1() time.Duration {
	if r := c.ikeRekey(); r > 0 {
		return r * 11 / 10
	}
	return 24 * time.Hour
}

func (c *Config) maxChildSAs() int {
	switch {
	case c.MaxChildSAs > 0:
		return c.MaxChildSAs
	case c.MaxChildSAs < 0:
		return 0
	}
	return DefaultMaxChildSAs
}

func (c *Config) jitter(rekey time.Duration) time.Duration {
	switch {
	case c.RekeyJitter > 0:
		return min(c.RekeyJitter, rekey/2)
	case c.RekeyJitter < 0:
		return 0
	}
	return rekey / 10
}
