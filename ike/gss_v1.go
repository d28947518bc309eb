package ike

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// Kerberos inside IKEv1, as Windows 2000, XP and Server 2003 authenticate
// domain members: the GSS-API authentication method of
// draft-ietf-ipsec-isakmp-gss-auth-07 (Piper and Swander, 2001) in Main
// Mode, with Kerberos V5 (RFC 4121) as the GSS-API mechanism.
//
//	Initiator                           Responder
//	HDR, SA(auth 65001, GSS id)   -->
//	                              <--   HDR, SA(auth 65001, GSS id)
//	HDR, KE, Ni, GSS(AP-REQ)      -->
//	                              <--   HDR, KE, Nr, GSS(AP-REP)
//	[HDR*, GSS                    -->                 more round trips,
//	                              <--   HDR*, GSS]    if the mechanism needs them
//	HDR*, IDii, HASH(MIC(HASH_I)) -->
//	                              <--   HDR*, IDir, HASH(MIC(HASH_R))
//
// SKEYID is computed as for signatures, prf(Ni_b | Nr_b, g^xy) (draft
// section 3.1). HASH_I and HASH_R are RFC 2409's, computed over the GSS
// tokens the hashing side sent appended (section 3.2, so that the tokens
// are bound to the IKE SA), and what goes into the HASH payload is the GSS
// context's MIC token (RFC 4121 section 4.2.6.1) over that hash, in place
// of a signature. (KAME's racoon, written against an earlier version of
// the draft, wraps the hash with gss_wrap instead.)

// Vendor IDs of GSS-capable peers. Windows sends MS NT5 ISAKMPOAKLEY
// followed by a 4-octet version (2 Windows 2000, 3 XP, 4 Server 2003).
// Draft -07 gives the hash of "A GSS-API Authentication Method for IKE"
// with a newline appended; implementations have used both.
var (
	vidGSSAPI     = md5Sum("GSSAPI")
	vidGSSMethod  = md5Sum("A GSS-API Authentication Method for IKE")
	vidGSSMethod2 = md5Sum("A GSS-API Authentication Method for IKE\n")
)

func md5Sum(s string) []byte {
	h := md5.Sum([]byte(s))
	return h[:]
}

// isGSSVendorID reports whether a vendor ID payload announces the GSS-API
// authentication method.
func isGSSVendorID(vid []byte) bool {
	for _, v := range [][]byte{vidGSSAPI, vidGSSMethod, vidGSSMethod2} {
		if string(vid) == string(v) {
			return true
		}
	}
	return false
}

// DefaultKDCTimeout bounds how long an initiator waits for the KDC when it
// needs a service ticket for a peer.
const DefaultKDCTimeout = 5 * time.Second

// maxGSSRounds bounds the GSS token round trips of one Main Mode, so that
// a peer cannot keep a half-open IKE SA busy with tokens.
const maxGSSRounds = 4

// ErrKerberosPeer is returned (wrapped) when the peer authenticated with
// Kerberos as a principal that the configuration does not name.
var ErrKerberosPeer = errors.New("ike: kerberos peer principal not allowed")

// KerberosAuth configures the Kerberos (GSS-API) authentication method of
// IKEv1 Main Mode. It is a plain value; the Host it points to is safe for
// concurrent use.
type KerberosAuth struct {
	// Host holds this host's credentials (its computer account's keytab).
	Host *auth.KerberosHost
	// PeerPrincipal is the peer's service principal, "host/name" (the
	// realm is Host's unless given as "host/name@REALM"). An initiator
	// asks the KDC for a ticket to it; a responder accepts only a client
	// of that name, unless Peers is set.
	PeerPrincipal string
	// Peers, for a responder that serves several peers with one Config,
	// lists the client principals it accepts.
	Peers []string
	// KDCTimeout bounds the wait for a service ticket; zero means
	// DefaultKDCTimeout. The first Main Mode to a peer waits for the KDC
	// in the endpoint's worker; tickets are cached afterwards.
	KDCTimeout time.Duration
}

func (k *KerberosAuth) check() error {
	if k.Host == nil || k.Host.Initiator == nil || k.Host.Acceptor == nil {
		return fmt.Errorf("%w: Kerberos needs the host's credentials (auth.LoadKerberosHost)", errConfig)
	}
	if k.PeerPrincipal == "" && len(k.Peers) == 0 {
		return fmt.Errorf("%w: Kerberos needs the peer's principal", errConfig)
	}
	return nil
}

// realm is the realm of this host's principal.
func (k *KerberosAuth) realm() string {
	_, r, _ := strings.Cut(k.Host.Principal, "@")
	return r
}

// qualify adds this host's realm to a principal given without one.
func (k *KerberosAuth) qualify(p string) string {
	if strings.Contains(p, "@") {
		return p
	}
	return p + "@" + k.realm()
}

// allowed reports whether a responder accepts the client principal
// (compared case-insensitively, as Windows compares principal names).
func (k *KerberosAuth) allowed(client string) error {
	names := k.Peers
	if len(names) == 0 {
		names = []string{k.PeerPrincipal}
	}
	for _, n := range names {
		if strings.EqualFold(k.qualify(n), client) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s authenticated, but the configuration names %s", ErrKerberosPeer, client, strings.Join(names, ", "))
}

// gssContext is one side of a GSS-API context establishment inside Main
// Mode. It is not safe for concurrent use; a session owns it.
type gssContext interface {
	// step consumes the peer's token (nil for an initiator's first step)
	// and returns the token to send (nil for none) and whether the
	// context is established.
	step(now time.Time, in []byte) (out []byte, done bool, err error)
	// getMIC and verifyMIC protect HASH_I and HASH_R once established.
	getMIC(msg []byte) ([]byte, error)
	verifyMIC(msg, mic []byte) error
	// peer is the authenticated peer principal, "name@REALM".
	peer() string
}

// newGSSContext makes the GSS-API context of a Main Mode; tests replace
// it to exercise mechanisms with more round trips, or bad MICs.
var newGSSContext = newKerberosContext

// newKerberosContext returns the Kerberos side of the IKE initiator (the
// GSS-API initiator) or responder (the acceptor).
func newKerberosContext(k *KerberosAuth, initiator bool) gssContext {
	if initiator {
		return &krbInitiator{cfg: k}
	}
	return &krbAcceptor{cfg: k}
}

// krbInitiator gets a service ticket for the peer and sends an AP-REQ
// with mutual authentication; the peer's AP-REP completes the context.
type krbInitiator struct {
	cfg  *KerberosAuth
	ictx *auth.KerberosInitiatorContext
	sess *auth.KerberosSession
}

func (c *krbInitiator) step(now time.Time, in []byte) ([]byte, bool, error) {
	switch {
	case c.ictx == nil:
		if in != nil {
			return nil, false, fmt.Errorf("%w: a GSS token before ours", auth.ErrMalformed)
		}
		timeout := c.cfg.KDCTimeout
		if timeout <= 0 {
			timeout = DefaultKDCTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		spn, _, _ := strings.Cut(c.cfg.PeerPrincipal, "@")
		ictx, err := c.cfg.Host.Initiator.InitSecContext(ctx, spn, now)
		if err != nil {
			return nil, false, err
		}
		c.ictx = ictx
		return ictx.Token, false, nil
	case c.sess == nil:
		sess, err := c.ictx.ProcessAPRep(in)
		if err != nil {
			return nil, false, err
		}
		if want := c.cfg.qualify(c.cfg.PeerPrincipal); !strings.EqualFold(sess.Service, want) {
			return nil, false, fmt.Errorf("%w: the AP-REP is from %s, not %s", ErrKerberosPeer, sess.Service, want)
		}
		c.sess = sess
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("%w: a GSS token after the context was established", auth.ErrMalformed)
}

func (c *krbInitiator) getMIC(msg []byte) ([]byte, error) { return c.sess.GetMIC(msg, false) }
func (c *krbInitiator) verifyMIC(msg, mic []byte) error   { return c.sess.VerifyMIC(msg, mic, true) }
func (c *krbInitiator) peer() string                      { return c.sess.Service }

// krbAcceptor accepts the initiator's AP-REQ with the host's keytab and
// answers with an AP-REP.
type krbAcceptor struct {
	cfg  *KerberosAuth
	sess *auth.KerberosSession
}

func (c *krbAcceptor) step(now time.Time, in []byte) ([]byte, bool, error) {
	if c.sess != nil {
		return nil, false, fmt.Errorf("%w: a GSS token after the context was established", auth.ErrMalformed)
	}
	res, err := c.cfg.Host.Acceptor.Accept(in, now)
	if err != nil {
		return nil, false, err
	}
	if err := c.cfg.allowed(res.Session.Client); err != nil {
		return nil, false, err
	}
	if res.APRep == nil {
		return nil, false, fmt.Errorf("%w: the initiator did not ask for mutual authentication", auth.ErrKerberos)
	}
	c.sess = res.Session
	return res.APRep, true, nil
}

func (c *krbAcceptor) getMIC(msg []byte) ([]byte, error) { return c.sess.GetMIC(msg, true) }
func (c *krbAcceptor) verifyMIC(msg, mic []byte) error   { return c.sess.VerifyMIC(msg, mic, false) }
func (c *krbAcceptor) peer() string                      { return c.sess.Client }

// AuthKind names an authentication method independently of the IKE
// version. It is a plain value, safe for concurrent use.
type AuthKind uint8

// Authentication methods for Config.AuthOrder.
const (
	AuthPSK         AuthKind = iota + 1 // Config.Auth is an *auth.PSK
	AuthCertificate                     // Config.SignatureKey with Certificates
	AuthKerberos                        // Config.Kerberos (IKEv1 only)
)

func (k AuthKind) String() string {
	switch k {
	case AuthPSK:
		return "psk"
	case AuthCertificate:
		return "certificate"
	case AuthKerberos:
		return "kerberos"
	}
	return fmt.Sprintf("auth(%d)", uint8(k))
}

// localMethodsV1 returns the phase 1 authentication methods a Config
// offers (initiator) and accepts (responder), in order of preference: as
// Config.AuthOrder lists them, or else Kerberos first (if set), then the
// method Auth or SignatureKey implies. Windows tries a rule's methods in
// its order the same way: each method is one set of transforms in the
// phase 1 proposal, and the responder takes the first it accepts.
func localMethodsV1(c *Config) ([]isakmp.V1AuthMethod, error) {
	if c.Auth != nil && c.SignatureKey != nil {
		return nil, fmt.Errorf("%w: set Auth or SignatureKey, not both", errConfig)
	}
	if (c.Auth != nil || c.SignatureKey != nil) && c.PeerAuth == nil {
		return nil, fmt.Errorf("%w: PeerAuth is required with Auth or SignatureKey", errConfig)
	}
	if c.Kerberos != nil {
		if err := c.Kerberos.check(); err != nil {
			return nil, err
		}
	}
	order := c.AuthOrder
	if len(order) == 0 {
		if c.Kerberos != nil {
			order = append(order, AuthKerberos)
		}
		switch {
		case c.SignatureKey != nil:
			order = append(order, AuthCertificate)
		case c.Auth != nil:
			order = append(order, AuthPSK)
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%w: IKEv1 needs Kerberos, an *auth.PSK as Auth, or a SignatureKey", errConfig)
	}
	var out []isakmp.V1AuthMethod
	for _, k := range order {
		var m isakmp.V1AuthMethod
		switch k {
		case AuthKerberos:
			if c.Kerberos == nil {
				return nil, fmt.Errorf("%w: AuthOrder names Kerberos, but Kerberos is not set", errConfig)
			}
			m = isakmp.V1AuthGSSKerberos
		case AuthCertificate:
			if c.SignatureKey == nil {
				return nil, fmt.Errorf("%w: AuthOrder names certificates, but SignatureKey is not set", errConfig)
			}
			var err error
			if m, err = localMethodV1(c); err != nil {
				return nil, err
			}
		case AuthPSK:
			if _, ok := c.Auth.(*auth.PSK); !ok {
				return nil, fmt.Errorf("%w: AuthOrder names a pre-shared key, but Auth is not an *auth.PSK", errConfig)
			}
			m = isakmp.V1AuthPSK
		default:
			return nil, fmt.Errorf("%w: unknown AuthKind %d", errConfig, k)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// gssIdentityAttrs is the GSS identity attribute of this side's Kerberos
// transforms: its principal name (draft section 3.3).
func gssIdentityAttrs(cfg *Config, method isakmp.V1AuthMethod) []isakmp.Attribute {
	if method != isakmp.V1AuthGSSKerberos || cfg.Kerberos == nil {
		return nil
	}
	return []isakmp.Attribute{isakmp.TLVAttr(uint16(isakmp.V1AttrGSSIdentity), []byte(cfg.Kerberos.Host.Principal))}
}

func isGSSIdentity(a *isakmp.Attribute) bool {
	t := isakmp.V1Attr(a.Type)
	return t == isakmp.V1AttrGSSIdentity || t == isakmp.V1AttrGSSIdentityWin2000
}

// withoutGSSIdentity drops the GSS identity attributes: each side names
// itself there, so the responder's chosen transform differs from the
// offered one in that attribute only.
func withoutGSSIdentity(attrs []isakmp.Attribute) []isakmp.Attribute {
	out := make([]isakmp.Attribute, 0, len(attrs))
	for i := range attrs {
		if !isGSSIdentity(&attrs[i]) {
			out = append(out, attrs[i])
		}
	}
	return out
}

// replyTransform is the chosen transform as the responder returns it: the
// offered one, with the responder's own GSS identity for Kerberos.
func replyTransform(cfg *Config, t *isakmp.V1Transform, method isakmp.V1AuthMethod) isakmp.V1Transform {
	if method != isakmp.V1AuthGSSKerberos {
		return *t
	}
	r := *t
	r.Attributes = append(withoutGSSIdentity(t.Attributes), gssIdentityAttrs(cfg, method)...)
	return r
}

// vendorIDs are the vendor IDs of our phase 1 messages: NAT-T, DPD and
// Microsoft's, plus the GSS-API ones when Kerberos is configured.
func (s *SessionV1) vendorIDs() []isakmp.Payload {
	ps := vendorIDsV1()
	if s.cfg.Kerberos != nil {
		ps = append(ps, &isakmp.V1VendorID{Data: vidGSSMethod}, &isakmp.V1VendorID{Data: vidGSSAPI})
	}
	return ps
}

// gssState is the GSS-API context of one Main Mode.
type gssState struct {
	ctx         gssContext
	sent, recvd []byte // the tokens each side sent, concatenated (HASH_I, HASH_R)
	done        bool
	rounds      int
}

// gssStep runs the GSS-API context one step with the GSS payloads of the
// peer's message (nil for the initiator's first step) and returns the GSS
// payload to send, or nil.
func (s *SessionV1) gssStep(now time.Time, sa *isakmpSA, peer []isakmp.Payload) ([]isakmp.Payload, error) {
	if sa.gss == nil {
		if s.cfg.Kerberos == nil {
			return nil, fmt.Errorf("%w: the peer chose Kerberos, which is not configured", ErrAuthenticationFailed)
		}
		sa.gss = &gssState{ctx: newGSSContext(s.cfg.Kerberos, sa.initiator)}
	}
	g := sa.gss
	var in []byte
	for _, p := range peer {
		if t, ok := p.(*isakmp.V1GSS); ok {
			in = append(in, t.Token...)
		}
	}
	if peer != nil && in == nil {
		return nil, fmt.Errorf("%w: no GSS token from the peer", ErrAuthenticationFailed)
	}
	if g.done || g.rounds >= maxGSSRounds {
		return nil, fmt.Errorf("%w: GSS token after the context was established, or more than %d rounds", ErrAuthenticationFailed, maxGSSRounds)
	}
	g.rounds++
	g.recvd = append(g.recvd, in...)
	out, done, err := g.ctx.step(now, in)
	if err != nil {
		return nil, fmt.Errorf("%w: kerberos: %w", ErrAuthenticationFailed, err)
	}
	g.done = done
	if out == nil {
		return nil, nil
	}
	g.sent = append(g.sent, out...)
	return []isakmp.Payload{&isakmp.V1GSS{Token: out}}, nil
}

// sendGSSRound sends HDR*, GSS: one more token of a mechanism that needs
// more round trips after MM3/MM4 (draft section 3.2), encrypted with the
// phase 1 keys. The initiator stays in v1MMSent5 until the responder's
// answer completes the context.
func (s *SessionV1) sendGSSRound(now time.Time, sa *isakmpSA, sum [32]byte, tok []isakmp.Payload) error {
	out, err := s.sealPhase1(sa, isakmp.ExchangeV1MainMode, tok)
	if err != nil {
		return err
	}
	s.lastRecv = now
	sa.exch.received(sum)
	sa.state = v1MMSent5
	s.arm(now, sa.exch, out, sa.initiator)
	return nil
}

// answerGSSRound is the responder's side of a GSS round in the encrypted
// part of Main Mode: HDR*, GSS in, HDR*, GSS out.
func (s *SessionV1) answerGSSRound(now time.Time, sa *isakmpSA, sum [32]byte, ps []isakmp.Payload, next []byte) error {
	tok, err := s.gssStep(now, sa, ps)
	if err != nil {
		return s.authFailed(err)
	}
	sa.iv = next
	if tok == nil {
		return s.authFailed(fmt.Errorf("%w: the GSS context needs a token we do not have", ErrAuthenticationFailed))
	}
	out, err := s.sealPhase1(sa, isakmp.ExchangeV1MainMode, tok)
	if err != nil {
		return err
	}
	s.lastRecv = now
	sa.exch.received(sum)
	s.arm(now, sa.exch, out, false)
	return nil
}

// continueGSSRound is the initiator's side: the responder's GSS token
// either asks for another round or completes the context, and then MM5
// follows.
func (s *SessionV1) continueGSSRound(now time.Time, sa *isakmpSA, sum [32]byte, ps []isakmp.Payload, next []byte) error {
	tok, err := s.gssStep(now, sa, ps)
	if err != nil {
		return s.authFailed(err)
	}
	sa.iv = next
	if tok != nil {
		return s.sendGSSRound(now, sa, sum, tok)
	}
	if !sa.gss.done {
		return s.authFailed(fmt.Errorf("%w: the GSS context is not established", ErrAuthenticationFailed))
	}
	out, err := s.proofPayloadsV1(sa, true)
	if err != nil {
		return err
	}
	msg, err := s.sealPhase1(sa, isakmp.ExchangeV1MainMode, out)
	if err != nil {
		return err
	}
	s.lastRecv = now
	sa.exch.received(sum)
	s.arm(now, sa.exch, msg, true)
	return nil
}

// gssAuthV1 is the GSS-API method as a v1Authenticator: SKEYID as for
// signatures (draft section 3.1), and the GSS context's MIC over
// HASH_I/HASH_R in the HASH payload in place of a signature (3.2). hashIR
// appends the hashing side's GSS tokens to its ID payload body.
type gssAuthV1 struct{}

func (gssAuthV1) skeyid(sa *isakmpSA, _ *auth.PSK) ([]byte, error) {
	return v1SKEYIDSig(sa.x.hash, sa.ni, sa.nr, sa.gxy), nil
}

func (gssAuthV1) prove(_ *SessionV1, sa *isakmpSA, hash []byte) ([]isakmp.Payload, error) {
	if sa.gss == nil || !sa.gss.done {
		return nil, fmt.Errorf("%w: the GSS context is not established", ErrAuthenticationFailed)
	}
	mic, err := sa.gss.ctx.getMIC(hash)
	if err != nil {
		return nil, err
	}
	return []isakmp.Payload{&isakmp.V1Hash{Data: mic}}, nil
}

func (gssAuthV1) verify(sa *isakmpSA, ps []isakmp.Payload, _ auth.PeerAuthenticator, hash []byte) error {
	if sa.gss == nil || !sa.gss.done {
		return fmt.Errorf("%w: the GSS context is not established", ErrAuthenticationFailed)
	}
	hp := find[*isakmp.V1Hash](ps)
	if hp == nil {
		return fmt.Errorf("%w: no HASH payload", ErrAuthenticationFailed)
	}
	if err := sa.gss.ctx.verifyMIC(hash, hp.Data); err != nil {
		return fmt.Errorf("%w: %w", ErrAuthenticationFailed, err)
	}
	return nil
}

// tokensOf returns the GSS tokens this side sent (ours) or received.
func (g *gssState) tokensOf(ours bool) []byte {
	if ours {
		return g.sent
	}
	return g.recvd
}
