package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	gofasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/client"
	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultMaxClockSkew is the Kerberos clock skew allowance used when none
// is configured (the customary 5 minutes; RFC 4120 section 1.6).
const DefaultMaxClockSkew = 5 * time.Minute

// KerberosSession is the outcome of a Kerberos GSS-API context
// establishment: the authenticated principals and the context key that the
// IKE code binds into its proof. It is a plain value, safe for concurrent
// reads.
type KerberosSession struct {
	// Client is the initiator's principal, "name@REALM".
	Client string
	// Service is the acceptor's principal, "host/name@REALM".
	Service string
	// Key is the context key (RFC 4121 section 2): the acceptor's subkey if
	// its AP-REP carried one (MIT's acceptor sends one; this package's
	// acceptor does not), else the initiator's authenticator subkey (which
	// this package always sends), else the ticket session key.
	Key []byte
	// KeyType is the Kerberos encryption type number of Key.
	KeyType int32
	// Flags are the GSS-API context flags the initiator asked for (RFC 2744).
	Flags uint32
	// acceptorSubkey: Key is the acceptor's subkey (RFC 4121 section
	// 4.2.2, the AcceptorSubkey flag of MIC and Wrap tokens).
	acceptorSubkey bool
}

// KerberosInitiator obtains service tickets with a gokrb5 client and builds
// GSS-API AP-REQ tokens (RFC 4121 section 4.1). It is safe for concurrent
// use (gokrb5 clients are).
type KerberosInitiator struct {
	cl   *client.Client
	log  *slog.Logger
	opts KerberosInitiatorOptions
}

// KerberosInitiatorOptions are the optional settings of a
// KerberosInitiator. It is a plain value, copied by NewKerberosInitiator.
type KerberosInitiatorOptions struct {
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// AllowRC4HMAC accepts RC4-HMAC (etype 23) session keys, as issued by
	// Windows Server 2003 domain controllers, which have no AES. RFC 8429
	// deprecates RC4; by default only AES session keys are used.
	AllowRC4HMAC bool
	// FreshTickets gets a new ticket from the KDC for every context (a
	// new login with the client's keytab or password, then a TGS
	// exchange) instead of reusing the client's cached service ticket:
	// two KDC round trips per context, for deployments that want every
	// IKE SA, rekeys included, authenticated by a ticket issued for it.
	FreshTickets bool
}

// NewKerberosInitiator wraps a gokrb5 client made with client.NewWithPassword
// or client.NewWithKeytab (it logs in on first use).
func NewKerberosInitiator(cl *client.Client, opts KerberosInitiatorOptions) (*KerberosInitiator, error) {
	if cl == nil || cl.Credentials == nil {
		return nil, fmt.Errorf("auth: kerberos initiator needs a gokrb5 client with credentials")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &KerberosInitiator{cl: cl, log: logger, opts: opts}, nil
}

// KerberosInitiatorContext is an initiator's half-open context, waiting for
// the acceptor's AP-REP. It is not safe for concurrent use.
type KerberosInitiatorContext struct {
	// Token is the GSS-API AP-REQ token to send to the acceptor.
	Token      []byte
	ticketKey  types.EncryptionKey
	subkey     types.EncryptionKey
	ctime      time.Time
	cusec      int
	client     string
	service    string
	flags      uint32
	rc4        bool
	done       bool
	sessionOut *KerberosSession
}

// InitSecContext gets a service ticket for spn (Windows uses
// "host/<name>") from the KDC, then builds an AP-REQ with the mutual
// authentication flag and a fresh subkey, timestamped now (RFC 4120 section
// 3.2.2; RFC 4121 section 4.1). Only obtaining the ticket blocks; it stops
// when ctx is done, and then returns an error wrapping ErrKerberos
// (gokrb5's own network timeouts end the abandoned request later).
func (k *KerberosInitiator) InitSecContext(ctx context.Context, spn string, now time.Time) (*KerberosInitiatorContext, error) {
	type result struct {
		tkt messages.Ticket
		key types.EncryptionKey
		err error
	}
	cl := k.cl
	if k.opts.FreshTickets {
		cl = freshClient(k.cl)
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		if r.err = cl.AffirmLogin(); r.err == nil {
			r.tkt, r.key, r.err = cl.GetServiceTicket(spn)
		}
		if cl != k.cl {
			cl.Destroy()
		}
		ch <- r
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: getting a ticket for %s: %v", ErrKerberos, spn, ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: getting a ticket for %s from the KDC: %v", ErrKerberos, spn, r.err)
	}
	k.log.Debug("kerberos service ticket", "spn", spn, "etype", r.key.KeyType)
	return newInitiatorContext(r.tkt, r.key, k.cl.Credentials.CName(), k.cl.Credentials.Domain(), now, k.opts.AllowRC4HMAC)
}

// freshClient is a new client with cl's credentials and configuration and
// no tickets: its first request logs in again.
func freshClient(cl *client.Client) *client.Client {
	c := cl.Credentials
	if c.HasKeytab() {
		return client.NewWithKeytab(c.UserName(), c.Domain(), c.Keytab(), cl.Config, client.DisablePAFXFAST(true))
	}
	return client.NewWithPassword(c.UserName(), c.Domain(), c.Password(), cl.Config, client.DisablePAFXFAST(true))
}

// newInitiatorContext builds the AP-REQ for a ticket and its session key.
func newInitiatorContext(tkt messages.Ticket, key types.EncryptionKey, cname types.PrincipalName, crealm string, now time.Time, rc4 bool) (*KerberosInitiatorContext, error) {
	if !allowedEtype(key.KeyType, rc4) {
		return nil, fmt.Errorf("%w: the KDC issued a session key of etype %d (%s)", ErrKerberos, key.KeyType, etypePolicy(rc4))
	}
	et, err := krbcrypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKerberos, err)
	}
	subkey, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return nil, fmt.Errorf("%w: generating subkey: %v", ErrKerberos, err)
	}
	// Kerberos times have one-second resolution plus cusec (RFC 4120
	// section 5.2.3); keep exactly what is sent so the AP-REP can be
	// matched.
	now = now.UTC()
	ctime := now.Truncate(time.Second)
	cusec := int(now.Sub(ctime) / time.Microsecond)
	var seq [4]byte
	if _, err := rand.Read(seq[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKerberos, err)
	}
	fl := uint32(gssFlagMutual | gssFlagInteg)
	auth := types.Authenticator{
		AVNO:      iana.PVNO,
		CRealm:    crealm,
		CName:     cname,
		Cksum:     types.Checksum{CksumType: gssChecksumType, Checksum: newGSSChecksum(fl)},
		Cusec:     cusec,
		CTime:     ctime,
		SubKey:    subkey,
		SeqNumber: int64(binary.BigEndian.Uint32(seq[:]) & 0x3fffffff),
	}
	ab, err := auth.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: encoding authenticator: %v", ErrKerberos, err)
	}
	encAuth, err := krbcrypto.GetEncryptedData(ab, key, keyusage.AP_REQ_AUTHENTICATOR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypting authenticator: %v", ErrKerberos, err)
	}
	apreq := messages.APReq{
		PVNO:                   iana.PVNO,
		MsgType:                msgtype.KRB_AP_REQ,
		APOptions:              types.NewKrbFlags(),
		Ticket:                 tkt,
		EncryptedAuthenticator: encAuth,
	}
	types.SetFlag(&apreq.APOptions, flags.APOptionMutualRequired)
	msg, err := apreq.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: encoding AP-REQ: %v", ErrKerberos, err)
	}
	token, err := appendGSSToken(nil, tokIDAPReq, msg)
	if err != nil {
		return nil, fmt.Errorf("%w: framing AP-REQ: %v", ErrKerberos, err)
	}
	return &KerberosInitiatorContext{
		Token:     token,
		ticketKey: key,
		subkey:    subkey,
		ctime:     ctime,
		cusec:     cusec,
		client:    cname.PrincipalNameString() + "@" + crealm,
		service:   tkt.SName.PrincipalNameString() + "@" + tkt.Realm,
		flags:     fl,
		rc4:       rc4,
	}, nil
}

// ProcessAPRep verifies the acceptor's AP-REP token (RFC 4120 section
// 3.2.5: it must decrypt with the ticket session key and echo the
// authenticator's ctime and cusec) and returns the established session.
// A KRB-ERROR token from the acceptor is reported as an error wrapping
// ErrKerberos.
func (c *KerberosInitiatorContext) ProcessAPRep(token []byte) (*KerberosSession, error) {
	if c.done {
		return nil, fmt.Errorf("%w: context already established", ErrKerberos)
	}
	tokID, msg, err := parseGSSToken(token)
	if err != nil {
		return nil, err
	}
	switch tokID {
	case tokIDAPRep:
	case tokIDKRBErr:
		var ke messages.KRBError
		if err := ke.Unmarshal(msg); err != nil {
			return nil, fmt.Errorf("%w: undecodable KRB-ERROR from acceptor: %v", ErrMalformed, err)
		}
		return nil, fmt.Errorf("%w: acceptor returned KRB-ERROR %d: %s", ErrKerberos, ke.ErrorCode, ke.EText)
	default:
		return nil, fmt.Errorf("%w: expected an AP-REP token, got TOK_ID %#04x", ErrMalformed, tokID)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("%w: AP-REP: %v", ErrMalformed, err)
	}
	pt, err := decrypt(rep.EncPart, c.ticketKey, keyusage.AP_REP_ENCPART, c.rc4)
	if err != nil {
		return nil, fmt.Errorf("AP-REP does not decrypt with the session key: %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(pt); err != nil {
		return nil, fmt.Errorf("%w: EncAPRepPart: %v", ErrMalformed, err)
	}
	if !part.CTime.Equal(c.ctime) || part.Cusec != c.cusec {
		return nil, fmt.Errorf("%w: AP-REP answers another authenticator (ctime %s.%06d, sent %s.%06d)", ErrKerberos, part.CTime.UTC().Format(time.RFC3339), part.Cusec, c.ctime.Format(time.RFC3339), c.cusec)
	}
	key := c.subkey
	if len(part.Subkey.KeyValue) > 0 {
		if !allowedEtype(part.Subkey.KeyType, c.rc4) {
			return nil, fmt.Errorf("%w: acceptor subkey of etype %d", ErrKerberos, part.Subkey.KeyType)
		}
		key = part.Subkey // RFC 4121 section 2: the acceptor's subkey wins
	}
	acceptorSubkey := len(part.Subkey.KeyValue) > 0
	c.done = true
	c.sessionOut = &KerberosSession{
		Client: c.client, Service: c.service,
		Key: bytes.Clone(key.KeyValue), KeyType: key.KeyType, Flags: c.flags,
		acceptorSubkey: acceptorSubkey,
	}
	return c.sessionOut, nil
}

// KerberosAcceptorConfig configures a KerberosAcceptor. It is a plain value,
// copied by NewKerberosAcceptor; the Keytab must not be mutated afterwards.
type KerberosAcceptorConfig struct {
	// Keytab holds the service principal's long-term keys.
	Keytab *keytab.Keytab
	// Service is the accepted service principal without realm, for example
	// "host/gw.example.test". AP-REQs with a ticket for any other principal
	// are rejected even if the keytab has its key.
	Service string
	// Realm is the service principal's realm.
	Realm string
	// MaxClockSkew bounds clock differences and the replay-cache lifetime;
	// zero means DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// ReplayCacheFile, if set, keeps the replay cache in this file as well
	// as in memory, so that an AP-REQ seen before a restart of the
	// acceptor is still refused after it (RFC 4120 section 3.2.3). Each
	// accepted authenticator is synced to it before Accept returns. Give
	// each acceptor its own file.
	ReplayCacheFile string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// AllowRC4HMAC accepts tickets and keys of etype 23 (RC4-HMAC, RFC
	// 4757), as issued by Windows Server 2003 domain controllers. RFC 8429
	// deprecates RC4; by default only AES is accepted.
	AllowRC4HMAC bool
}

// KerberosAcceptor verifies GSS-API AP-REQ tokens with a keytab, keeps a
// replay cache, and answers with AP-REP tokens (RFC 4120 section 3.2.3,
// RFC 4121 section 4.1). It is safe for concurrent use.
type KerberosAcceptor struct {
	cfg     KerberosAcceptorConfig
	sname   types.PrincipalName
	log     *slog.Logger
	mu      sync.Mutex
	replay  map[string]time.Time // authenticator identity -> forget after
	inserts int
	file    *replayFile // nil without ReplayCacheFile
}

// NewKerberosAcceptor validates cfg and returns an acceptor.
func NewKerberosAcceptor(cfg KerberosAcceptorConfig) (*KerberosAcceptor, error) {
	if cfg.Keytab == nil || cfg.Service == "" || cfg.Realm == "" {
		return nil, fmt.Errorf("auth: kerberos acceptor needs a keytab, a service principal and a realm")
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sname, realm := types.ParseSPNString(cfg.Service)
	if realm != "" {
		return nil, fmt.Errorf("auth: give the service principal %q without realm; the realm is %q", cfg.Service, cfg.Realm)
	}
	a := &KerberosAcceptor{cfg: cfg, sname: sname, log: logger, replay: make(map[string]time.Time)}
	if cfg.ReplayCacheFile != "" {
		f, err := openReplayFile(cfg.ReplayCacheFile, a.replay, time.Now())
		if err != nil {
			return nil, err
		}
		a.file = f
	}
	return a, nil
}

// Close closes the replay cache file, if there is one. The acceptor must
// not be used afterwards.
func (a *KerberosAcceptor) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.file == nil || a.file.f == nil {
		return nil
	}
	err := a.file.f.Close()
	a.file.f = nil
	return err
}

// KerberosAcceptResult is what Accept returns for a valid AP-REQ. It is a
// plain value, safe for concurrent reads.
type KerberosAcceptResult struct {
	// Session holds the authenticated client and the context key.
	Session *KerberosSession
	// APRep is the GSS-API AP-REP token to send back for mutual
	// authentication; nil if the initiator did not ask for it.
	APRep []byte
}

// Accept verifies a GSS-API AP-REQ token at time now: the ticket decrypts
// with the keytab key of the configured service principal, is within its
// validity, the authenticator decrypts with the ticket's session key, names
// the ticket's client, is within the clock skew, is not a replay, and
// carries the GSS-API checksum (RFC 4120 section 3.2.3; RFC 4121 section
// 4.1.1). Errors wrap ErrMalformed, ErrKerberos or ErrReplay; their text is
// for local logs, not for the peer.
func (a *KerberosAcceptor) Accept(token []byte, now time.Time) (*KerberosAcceptResult, error) {
	tokID, msg, err := parseGSSToken(token)
	if err != nil {
		return nil, err
	}
	if tokID != tokIDAPReq {
		return nil, fmt.Errorf("%w: expected an AP-REQ token, got TOK_ID %#04x", ErrMalformed, tokID)
	}
	var req messages.APReq
	if err := req.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("%w: AP-REQ: %v", ErrMalformed, err)
	}
	tkt := &req.Ticket
	// The ticket must be for us (checked before any key lookup, and before
	// gokrb5 code that indexes the name).
	if !tkt.SName.Equal(a.sname) || tkt.Realm != a.cfg.Realm {
		return nil, fmt.Errorf("%w: ticket is for %s@%s, not %s@%s", ErrKerberos, tkt.SName.PrincipalNameString(), tkt.Realm, a.cfg.Service, a.cfg.Realm)
	}
	if types.IsFlagSet(&req.APOptions, flags.APOptionUseSessionKey) {
		return nil, fmt.Errorf("%w: user-to-user AP-REQ is not supported", ErrKerberos)
	}
	rc4 := a.cfg.AllowRC4HMAC
	if !allowedEtype(tkt.EncPart.EType, rc4) {
		return nil, fmt.Errorf("%w: ticket encrypted with etype %d (%s)", ErrKerberos, tkt.EncPart.EType, etypePolicy(rc4))
	}
	skey, _, err := a.cfg.Keytab.GetEncryptionKey(a.sname, a.cfg.Realm, tkt.EncPart.KVNO, tkt.EncPart.EType)
	if err != nil {
		return nil, fmt.Errorf("%w: no keytab key for %s kvno %d etype %d (KRB_AP_ERR_NOKEY)", ErrKerberos, a.cfg.Service, tkt.EncPart.KVNO, tkt.EncPart.EType)
	}
	pt, err := decrypt(tkt.EncPart, skey, keyusage.KDC_REP_TICKET, rc4)
	if err != nil {
		return nil, fmt.Errorf("ticket does not decrypt with the keytab key for %s (wrong or stale key, KRB_AP_ERR_BAD_INTEGRITY): %w", a.cfg.Service, err)
	}
	var etp messages.EncTicketPart
	if err := etp.Unmarshal(pt); err != nil {
		return nil, fmt.Errorf("%w: EncTicketPart: %v", ErrMalformed, err)
	}
	skew := a.cfg.MaxClockSkew
	// RFC 4120 section 3.2.3: KRB_AP_ERR_TKT_NYV and KRB_AP_ERR_TKT_EXPIRED.
	start := etp.StartTime
	if start.IsZero() {
		start = etp.AuthTime
	}
	if types.IsFlagSet(&etp.Flags, flags.Invalid) || start.Sub(now) > skew {
		return nil, fmt.Errorf("%w: ticket not yet valid (starts %s, now %s)", ErrKerberos, start.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.Sub(etp.EndTime) > skew {
		return nil, fmt.Errorf("%w: ticket expired at %s (now %s, skew %s; KRB_AP_ERR_TKT_EXPIRED)", ErrKerberos, etp.EndTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
	}
	ab, err := decrypt(req.EncryptedAuthenticator, etp.Key, keyusage.AP_REQ_AUTHENTICATOR, rc4)
	if err != nil {
		return nil, fmt.Errorf("authenticator does not decrypt with the ticket session key: %w", err)
	}
	var auth types.Authenticator
	if err := auth.Unmarshal(ab); err != nil {
		return nil, fmt.Errorf("%w: authenticator: %v", ErrMalformed, err)
	}
	if !auth.CName.Equal(etp.CName) || auth.CRealm != etp.CRealm {
		return nil, fmt.Errorf("%w: authenticator client %s@%s differs from the ticket's %s@%s (KRB_AP_ERR_BADMATCH)", ErrKerberos, auth.CName.PrincipalNameString(), auth.CRealm, etp.CName.PrincipalNameString(), etp.CRealm)
	}
	ct := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ct); d > skew || -d > skew {
		return nil, fmt.Errorf("%w: authenticator time %s is more than %s from now %s (KRB_AP_ERR_SKEW)", ErrKerberos, ct.UTC().Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}
	gflags, err := parseGSSChecksum(auth.Cksum)
	if err != nil {
		return nil, err
	}
	client := auth.CName.PrincipalNameString() + "@" + auth.CRealm
	if err := a.checkReplay(client, auth.CTime, auth.Cusec, now); err != nil {
		return nil, err
	}
	key := etp.Key
	if len(auth.SubKey.KeyValue) > 0 {
		if !allowedEtype(auth.SubKey.KeyType, rc4) {
			return nil, fmt.Errorf("%w: authenticator subkey of etype %d", ErrKerberos, auth.SubKey.KeyType)
		}
		key = auth.SubKey
	}
	res := &KerberosAcceptResult{Session: &KerberosSession{
		Client:  client,
		Service: a.cfg.Service + "@" + a.cfg.Realm,
		Key:     bytes.Clone(key.KeyValue),
		KeyType: key.KeyType,
		Flags:   gflags,
	}}
	if types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired) || gflags&gssFlagMutual != 0 {
		if res.APRep, err = makeAPRep(etp.Key, auth.CTime, auth.Cusec); err != nil {
			return nil, err
		}
	}
	a.log.Debug("kerberos AP-REQ accepted", "client", client, "mutual", res.APRep != nil)
	return res, nil
}

// checkReplay records the authenticator (client, ctime, cusec) and rejects
// one seen before (RFC 4120 section 3.2.3). Entries are forgotten once
// they are older than the clock skew, when their AP-REQs would be rejected
// anyway.
func (a *KerberosAcceptor) checkReplay(client string, ctime time.Time, cusec int, now time.Time) error {
	key := fmt.Sprintf("%s|%d|%d", strings.ToLower(client), ctime.Unix(), cusec)
	a.mu.Lock()
	defer a.mu.Unlock()
	if until, ok := a.replay[key]; ok && !now.After(until) {
		return fmt.Errorf("%w: from %s at %s.%06d", ErrReplay, client, ctime.UTC().Format(time.RFC3339), cusec)
	}
	a.inserts++
	if a.inserts >= 1024 {
		a.inserts = 0
		for k, until := range a.replay {
			if now.After(until) {
				delete(a.replay, k)
			}
		}
	}
	until := ctime.Add(2 * a.cfg.MaxClockSkew)
	a.replay[key] = until
	if a.file != nil {
		if err := a.file.add(key, until, a.replay); err != nil {
			// Not recorded durably: refuse rather than accept an AP-REQ
			// that a restart could accept again.
			delete(a.replay, key)
			return fmt.Errorf("%w: %v", ErrKerberos, err)
		}
	}
	return nil
}

// makeAPRep builds the GSS-API AP-REP token: EncAPRepPart {ctime, cusec,
// seq-number} encrypted with the ticket session key, key usage 12 (RFC
// 4120 section 5.5.2).
func makeAPRep(ticketKey types.EncryptionKey, ctime time.Time, cusec int) ([]byte, error) {
	var seq [4]byte
	if _, err := rand.Read(seq[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKerberos, err)
	}
	part := messages.EncAPRepPart{
		CTime:          ctime,
		Cusec:          cusec,
		SequenceNumber: int64(binary.BigEndian.Uint32(seq[:])&0x3fffffff) + 1,
	}
	pb, err := gofasn1.Marshal(part)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding EncAPRepPart: %v", ErrKerberos, err)
	}
	pb = asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart)
	enc, err := krbcrypto.GetEncryptedData(pb, ticketKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypting AP-REP: %v", ErrKerberos, err)
	}
	rep := messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: enc}
	rb, err := gofasn1.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding AP-REP: %v", ErrKerberos, err)
	}
	rb = asn1tools.AddASNAppTag(rb, asnAppTag.APREP)
	return appendGSSToken(nil, tokIDAPRep, rb)
}
