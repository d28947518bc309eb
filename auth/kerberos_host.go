package auth

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// KerberosHostConfig names a host's Kerberos credentials the way Windows
// keeps them for a domain member's computer account: a principal such as
// "host/gw1.example.test" whose keys are in a keytab, and the krb5.conf
// that says where the realm's KDCs are. The same principal is the IKE
// initiator's client name (it logs in with the keytab to get tickets for
// its peers) and the IKE responder's service name (it accepts tickets for
// itself). It is a plain value.
type KerberosHostConfig struct {
	Krb5Conf  string // path of a krb5.conf, as gokrb5 reads it
	Keytab    string // path of the keytab holding Principal's keys
	Principal string // without realm, for example "host/gw1.example.test"
	// Realm is the principal's realm; empty means krb5.conf's
	// default_realm.
	Realm string
	// MaxClockSkew bounds the clock difference accepted in tickets and
	// authenticators; zero means DefaultMaxClockSkew (5 minutes).
	MaxClockSkew time.Duration
	// ReplayCacheFile keeps the acceptor's replay cache across restarts
	// (KerberosAcceptorConfig.ReplayCacheFile); empty keeps it in memory
	// only.
	ReplayCacheFile string
	// AllowRC4HMAC accepts RC4-HMAC keys (Windows Server 2003 domains).
	AllowRC4HMAC bool
	// FreshTickets gets a new service ticket from the KDC for every
	// context instead of the cached one
	// (KerberosInitiatorOptions.FreshTickets).
	FreshTickets bool
	Logger       *slog.Logger
}

// KerberosHost is a host's Kerberos credentials: an initiator that gets
// service tickets for peers, and an acceptor for tickets to this host. It
// is safe for concurrent use.
type KerberosHost struct {
	Principal string // "host/name@REALM"
	Initiator *KerberosInitiator
	Acceptor  *KerberosAcceptor
}

// LoadKerberosHost reads cfg's krb5.conf and keytab and checks that the
// keytab holds a key for the principal, so that a wrong file is reported
// at start-up, with the file's name, rather than at the first peer. It
// does not contact the KDC: an unreachable KDC is reported, as an error
// wrapping ErrKerberos that names the KDC, when the first ticket is
// needed.
func LoadKerberosHost(cfg KerberosHostConfig) (*KerberosHost, error) {
	if cfg.Principal == "" || cfg.Keytab == "" || cfg.Krb5Conf == "" {
		return nil, fmt.Errorf("auth: kerberos host needs a krb5.conf, a keytab and a principal")
	}
	conf, err := config.Load(cfg.Krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("auth: kerberos: krb5.conf %s: %v", cfg.Krb5Conf, err)
	}
	realm := cfg.Realm
	if realm == "" {
		realm = conf.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, fmt.Errorf("auth: kerberos: no realm given and %s has no default_realm", cfg.Krb5Conf)
	}
	if _, r := types.ParseSPNString(cfg.Principal); r != "" {
		return nil, fmt.Errorf("auth: kerberos: give the principal %q without realm; the realm is %q", cfg.Principal, realm)
	}
	kt, err := keytab.Load(cfg.Keytab)
	if err != nil {
		return nil, fmt.Errorf("auth: kerberos: keytab %s: %v", cfg.Keytab, err)
	}
	if !keytabHas(kt, cfg.Principal, realm, cfg.AllowRC4HMAC) {
		return nil, fmt.Errorf("%w: keytab %s has no usable key for %s@%s", ErrKerberos, cfg.Keytab, cfg.Principal, realm)
	}
	cl := client.NewWithKeytab(cfg.Principal, realm, kt, conf, client.DisablePAFXFAST(true))
	ini, err := NewKerberosInitiator(cl, KerberosInitiatorOptions{Logger: cfg.Logger, AllowRC4HMAC: cfg.AllowRC4HMAC, FreshTickets: cfg.FreshTickets})
	if err != nil {
		return nil, err
	}
	acc, err := NewKerberosAcceptor(KerberosAcceptorConfig{
		Keytab: kt, Service: cfg.Principal, Realm: realm, MaxClockSkew: cfg.MaxClockSkew,
		ReplayCacheFile: cfg.ReplayCacheFile, Logger: cfg.Logger, AllowRC4HMAC: cfg.AllowRC4HMAC,
	})
	if err != nil {
		return nil, err
	}
	return &KerberosHost{Principal: cfg.Principal + "@" + realm, Initiator: ini, Acceptor: acc}, nil
}

// keytabHas reports whether kt has a key of an allowed etype for
// principal@realm.
func keytabHas(kt *keytab.Keytab, principal, realm string, rc4 bool) bool {
	want := strings.Split(principal, "/")
	for _, e := range kt.Entries {
		if e.Principal.Realm == realm && strings.Join(e.Principal.Components, "/") == strings.Join(want, "/") && allowedEtype(e.Key.KeyType, rc4) {
			return true
		}
	}
	return false
}
