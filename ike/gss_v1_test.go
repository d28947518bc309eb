package ike

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/internal/krbtest"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// offlineKerberosHost is a KerberosHost that never reaches a KDC: enough
// for configurations whose GSS-API context a test replaces.
func offlineKerberosHost(t testing.TB, principal string) *auth.KerberosHost {
	t.Helper()
	cl := client.NewWithPassword("nobody", "OFFLINE.TEST", "unused password", config.New(), client.DisablePAFXFAST(true))
	ini, err := auth.NewKerberosInitiator(cl, auth.KerberosInitiatorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := auth.NewKerberosAcceptor(auth.KerberosAcceptorConfig{Keytab: keytab.New(), Service: principal, Realm: "OFFLINE.TEST"})
	if err != nil {
		t.Fatal(err)
	}
	return &auth.KerberosHost{Principal: principal + "@OFFLINE.TEST", Initiator: ini, Acceptor: acc}
}

// kerberosConfigV1 turns a PSK test Config into a Kerberos one.
func kerberosConfigV1(t testing.TB, initiator bool, host *auth.KerberosHost, peer string) *Config {
	t.Helper()
	c := pskConfigV1(t, initiator, "aes128-sha256-modp2048", "aes128-sha256")
	c.Auth, c.PeerAuth = nil, nil
	c.Kerberos = &KerberosAuth{Host: host, PeerPrincipal: peer}
	return c
}

// fakeGSS is a GSS-API mechanism that needs two round trips and signs
// with an HMAC over a direction label, for the parts of Main Mode that
// Kerberos (one round trip) does not reach.
type fakeGSS struct {
	initiator bool
	n         int
	done      bool
	badMIC    bool
}

var fakeGSSKey = []byte("fake mechanism context key")

func (f *fakeGSS) step(_ time.Time, in []byte) ([]byte, bool, error) {
	f.n++
	if f.initiator {
		switch {
		case f.n == 1 && in == nil:
			return []byte("I1"), false, nil
		case f.n == 2 && string(in) == "R1":
			return []byte("I2"), false, nil
		case f.n == 3 && string(in) == "R2":
			f.done = true
			return nil, true, nil
		}
	} else {
		switch {
		case f.n == 1 && string(in) == "I1":
			return []byte("R1"), false, nil
		case f.n == 2 && string(in) == "I2":
			f.done = true
			return []byte("R2"), true, nil
		}
	}
	return nil, false, fmt.Errorf("fake mechanism: step %d with %q", f.n, in)
}

func (f *fakeGSS) mic(msg []byte, fromInitiator bool) []byte {
	m := hmac.New(sha256.New, fakeGSSKey)
	fmt.Fprintf(m, "%v|", fromInitiator)
	m.Write(msg)
	return m.Sum(nil)
}

func (f *fakeGSS) getMIC(msg []byte) ([]byte, error) {
	mic := f.mic(msg, f.initiator)
	if f.badMIC {
		mic[0] ^= 1
	}
	return mic, nil
}

func (f *fakeGSS) verifyMIC(msg, mic []byte) error {
	if !hmac.Equal(mic, f.mic(msg, !f.initiator)) {
		return errors.New("fake mechanism: MIC does not verify")
	}
	return nil
}

func (f *fakeGSS) peer() string { return "fake" }

func withGSS(t *testing.T, f func(k *KerberosAuth, initiator bool) gssContext) {
	old := newGSSContext
	newGSSContext = f
	t.Cleanup(func() { newGSSContext = old })
}

// TestKerberosIKEMoreRounds: a GSS-API mechanism that needs a second
// round trip gets it in encrypted HDR*, GSS messages between MM4 and MM5
// (draft section 3.2), and Main Mode and Quick Mode complete.
func TestKerberosIKEMoreRounds(t *testing.T) {
	withGSS(t, func(_ *KerberosAuth, initiator bool) gssContext { return &fakeGSS{initiator: initiator} })
	icfg := kerberosConfigV1(t, true, offlineKerberosHost(t, "host/i"), "host/r")
	rcfg := kerberosConfigV1(t, false, offlineKerberosHost(t, "host/r"), "host/i")
	p := establishV1(t, icfg, rcfg)
	if p.i.sa.method != isakmp.V1AuthGSSKerberos || p.i.sa.gss.rounds != 3 || p.r.sa.gss.rounds != 2 {
		t.Fatalf("method %v, rounds %d/%d", p.i.sa.method, p.i.sa.gss.rounds, p.r.sa.gss.rounds)
	}
	if lastEvent(p.evI, EventChildUp) == nil || lastEvent(p.evR, EventChildUp) == nil {
		t.Fatalf("no CHILD SA: %v / %v", kinds(p.evI), kinds(p.evR))
	}
}

// TestKerberosIKEBadMIC: a HASH_I whose MIC does not verify (here the
// initiator's MIC is corrupted by the mechanism itself, after a good
// context) fails authentication at the responder, which leaves no SA.
func TestKerberosIKEBadMIC(t *testing.T) {
	withGSS(t, func(_ *KerberosAuth, initiator bool) gssContext {
		return &fakeGSS{initiator: initiator, badMIC: initiator}
	})
	icfg := kerberosConfigV1(t, true, offlineKerberosHost(t, "host/i"), "host/r")
	rcfg := kerberosConfigV1(t, false, offlineKerberosHost(t, "host/r"), "host/i")
	p := newPairV1(t, icfg, rcfg)
	p.run()
	f := lastEvent(p.evR, EventAuthFailed)
	if f == nil || !strings.Contains(f.Err.Error(), "MIC does not verify") || p.r.Established() || p.i.Established() {
		t.Fatalf("bad MIC: %v / %v", kinds(p.evI), kinds(p.evR))
	}
}

// TestKerberosIKERealBadMIC: the same with the real Kerberos context of
// an MIT KDC's tickets, its MIC token changed in one octet.
func TestKerberosIKERealBadMIC(t *testing.T) {
	k := krbtest.Start(t,
		krbtest.Principal{Name: "host/a.ipsec.test", Keytab: "a.keytab"},
		krbtest.Principal{Name: "host/b.ipsec.test", Keytab: "b.keytab"})
	conf := k.WriteKrb5Conf(t)
	load := func(p, kt string) *auth.KerberosHost {
		h, err := auth.LoadKerberosHost(auth.KerberosHostConfig{Krb5Conf: conf, Keytab: k.Path(kt), Principal: p})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	withGSS(t, func(k *KerberosAuth, initiator bool) gssContext {
		c := newKerberosContext(k, initiator)
		if initiator {
			return &corruptMIC{c}
		}
		return c
	})
	icfg := kerberosConfigV1(t, true, load("host/a.ipsec.test", "a.keytab"), "host/b.ipsec.test")
	rcfg := kerberosConfigV1(t, false, load("host/b.ipsec.test", "b.keytab"), "host/a.ipsec.test")
	p := &pairV1{t: t, now: time.Now(), rcfg: rcfg}
	s, err := NewInitiatorV1(icfg, addrI, addrR, p.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.i = s
	p.collect()
	p.run()
	f := lastEvent(p.evR, EventAuthFailed)
	if f == nil || !errors.Is(f.Err, auth.ErrAuthFailed) || !strings.Contains(f.Err.Error(), "Kerberos MIC does not verify") || p.r.Established() {
		t.Fatalf("bad MIC: %v / %v (%v)", kinds(p.evI), kinds(p.evR), f)
	}
}

type corruptMIC struct{ gssContext }

func (c *corruptMIC) getMIC(msg []byte) ([]byte, error) {
	mic, err := c.gssContext.getMIC(msg)
	if err == nil {
		mic[len(mic)-1] ^= 1
	}
	return mic, err
}

// TestKerberosIKEAuthOrder: the methods of a rule are offered in its
// order, and the responder takes the first it accepts, as Windows tries
// Kerberos first, then certificates or a pre-shared key.
func TestKerberosIKEAuthOrder(t *testing.T) {
	withGSS(t, func(_ *KerberosAuth, initiator bool) gssContext { return &fakeGSS{initiator: initiator} })
	both := func(initiator bool, host, peer string, order ...AuthKind) *Config {
		c := pskConfigV1(t, initiator, "aes128-sha256-modp2048", "aes128-sha256")
		c.Kerberos = &KerberosAuth{Host: offlineKerberosHost(t, host), PeerPrincipal: peer}
		c.AuthOrder = order
		return c
	}
	pskOnly := func(initiator bool) *Config {
		return pskConfigV1(t, initiator, "aes128-sha256-modp2048", "aes128-sha256")
	}
	for _, c := range []struct {
		name string
		i, r *Config
		want isakmp.V1AuthMethod
	}{
		{"kerberos-first", both(true, "host/i", "host/r", AuthKerberos, AuthPSK), both(false, "host/r", "host/i", AuthPSK, AuthKerberos), isakmp.V1AuthGSSKerberos},
		{"psk-first", both(true, "host/i", "host/r", AuthPSK, AuthKerberos), both(false, "host/r", "host/i"), isakmp.V1AuthPSK},
		{"responder-psk-only", both(true, "host/i", "host/r", AuthKerberos, AuthPSK), pskOnly(false), isakmp.V1AuthPSK},
		{"default-kerberos-first", both(true, "host/i", "host/r"), both(false, "host/r", "host/i"), isakmp.V1AuthGSSKerberos},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := establishV1(t, c.i, c.r)
			if p.i.sa.method != c.want || p.r.sa.method != c.want {
				t.Fatalf("method %v/%v, want %v", p.i.sa.method, p.r.sa.method, c.want)
			}
		})
	}
	// A responder that knows neither method the initiator offers refuses.
	i := both(true, "host/i", "host/r", AuthKerberos)
	p := newPairV1(t, i, pskOnly(false))
	p.run()
	if p.i.Established() || p.r != nil && p.r.Established() {
		t.Fatal("established without a common method")
	}
	// AuthOrder naming an unconfigured method is a configuration error.
	bad := pskOnly(true)
	bad.AuthOrder = []AuthKind{AuthKerberos}
	if _, err := NewInitiatorV1(bad, addrI, addrR, t0, nil); err == nil {
		t.Fatal("AuthOrder with Kerberos unset accepted")
	}
}

// TestKerberosIKEMethod65001: 65001 means Kerberos only with a GSS
// identity attribute or a GSS-API vendor ID; otherwise it is
// XAUTH_INIT_PSK, which the responder does not choose.
func TestKerberosIKEMethod65001(t *testing.T) {
	r := kerberosConfigV1(t, false, offlineKerberosHost(t, "host/r"), "host/i")
	attrs := func(gss bool) []isakmp.Attribute {
		a := []isakmp.Attribute{
			isakmp.TVAttr(uint16(isakmp.V1AttrEncryption), uint16(isakmp.V1EncrAESCBC)),
			isakmp.TVAttr(uint16(isakmp.V1AttrKeyLength), 128),
			isakmp.TVAttr(uint16(isakmp.V1AttrHash), uint16(isakmp.V1HashSHA2256)),
			isakmp.TVAttr(uint16(isakmp.V1AttrGroupDesc), uint16(isakmp.GroupMODP2048)),
			isakmp.TVAttr(uint16(isakmp.V1AttrAuthMethod), uint16(isakmp.V1AuthGSSKerberos)),
		}
		if gss {
			a = append(a, isakmp.TLVAttr(uint16(isakmp.V1AttrGSSIdentityWin2000), []byte("host/i@OFFLINE.TEST")))
		}
		return a
	}
	sa := func(gss bool) *isakmp.V1SA {
		return &isakmp.V1SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.V1Proposal{{
			Number: 1, Protocol: isakmp.ProtocolIKE, Transforms: []isakmp.V1Transform{{Number: 1, ID: isakmp.V1TransformKeyIKE, Attributes: attrs(gss)}}}}}
	}
	methods := []isakmp.V1AuthMethod{isakmp.V1AuthGSSKerberos}
	if _, _, ok := selectPhase1(r, sa(false), methods, false); ok {
		t.Fatal("65001 without GSS identity or vendor ID taken as Kerberos")
	}
	if _, _, ok := selectPhase1(r, sa(false), methods, true); !ok {
		t.Fatal("65001 from a peer with the GSS-API vendor ID refused")
	}
	x, reply, ok := selectPhase1(r, sa(true), methods, false)
	if !ok || x.method != isakmp.V1AuthGSSKerberos {
		t.Fatal("65001 with Windows 2000's GSS identity attribute refused")
	}
	var got []byte
	for _, a := range reply.Proposals[0].Transforms[0].Attributes {
		if isakmp.V1Attr(a.Type) == isakmp.V1AttrGSSIdentity {
			got = a.Data
		}
	}
	if !bytes.Equal(got, []byte("host/r@OFFLINE.TEST")) {
		t.Fatalf("the reply names %q, not the responder", got)
	}
	for _, v := range [][]byte{vidGSSAPI, vidGSSMethod, vidGSSMethod2} {
		if !isGSSVendorID(v) {
			t.Fatal("GSS vendor ID not recognised")
		}
	}
}

// fixedToken is an initiator mechanism whose first token is given.
type fixedToken struct{ tok []byte }

func (f *fixedToken) step(_ time.Time, in []byte) ([]byte, bool, error) {
	if in == nil {
		return f.tok, false, nil
	}
	return nil, false, errors.New("fixed token: no more steps")
}
func (f *fixedToken) getMIC([]byte) ([]byte, error) { return nil, errors.New("fixed token: no MIC") }
func (f *fixedToken) verifyMIC(_, _ []byte) error   { return errors.New("fixed token: no MIC") }
func (f *fixedToken) peer() string                  { return "" }

// FuzzKerberosIKEToken: whatever an initiator puts in MM3's GSS payload,
// the responder's real Kerberos acceptor (with a keytab for its
// principal) never panics and never establishes an ISAKMP SA.
func FuzzKerberosIKEToken(f *testing.F) {
	host := offlineKerberosHost(f, "host/r")
	kt := keytab.New()
	if err := kt.AddEntry("host/r", "OFFLINE.TEST", "r's password", time.Unix(1, 0), 2, 18); err != nil {
		f.Fatal(err)
	}
	acc, err := auth.NewKerberosAcceptor(auth.KerberosAcceptorConfig{Keytab: kt, Service: "host/r", Realm: "OFFLINE.TEST"})
	if err != nil {
		f.Fatal(err)
	}
	host.Acceptor = acc
	f.Add([]byte{0x60, 0x82, 0x01, 0x00, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00, 0x6e})
	f.Add([]byte("I1"))
	f.Add([]byte{0x60, 0x00})
	f.Fuzz(func(t *testing.T, tok []byte) {
		if len(tok) == 0 {
			return // an empty GSS payload is malformed on the wire already
		}
		old := newGSSContext
		newGSSContext = func(k *KerberosAuth, initiator bool) gssContext {
			if initiator {
				return &fixedToken{tok: tok}
			}
			return newKerberosContext(k, false)
		}
		defer func() { newGSSContext = old }()
		icfg := kerberosConfigV1(t, true, offlineKerberosHost(t, "host/i"), "host/r")
		rcfg := kerberosConfigV1(t, false, host, "host/i")
		p := newPairV1(t, icfg, rcfg)
		p.run()
		if p.r != nil && p.r.Established() {
			t.Fatal("established with a made-up AP-REQ")
		}
	})
}

// TestKerberosIKEEndpoints: two of our endpoints on loopback UDP
// authenticate each other with Kerberos in IKEv1 Main Mode (credentials
// from an MIT KDC's keytabs), complete Quick Mode and pass ESP both ways
// in UDP (NAT-T forced); a phase 1 rekey re-authenticates with a new
// AP-REQ and traffic goes on.
func TestKerberosIKEEndpoints(t *testing.T) {
	k := krbtest.Start(t,
		krbtest.Principal{Name: "host/a.ipsec.test", Keytab: "a.keytab"},
		krbtest.Principal{Name: "host/b.ipsec.test", Keytab: "b.keytab"})
	conf := k.WriteKrb5Conf(t)
	load := func(p, kt string) *auth.KerberosHost {
		h, err := auth.LoadKerberosHost(auth.KerberosHostConfig{Krb5Conf: conf, Keytab: k.Path(kt), Principal: p})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	bHost := load("host/b.ipsec.test", "b.keytab")
	icfg := kerberosConfigV1(t, true, load("host/a.ipsec.test", "a.keytab"), "host/b.ipsec.test")
	icfg.ForceUDPEncap = true
	rcfg := kerberosConfigV1(t, false, bHost, "host/a.ipsec.test")
	a, b := newEPPeer(t, nil), newEPPeer(t, rcfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*epPeer{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); p.ep.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	bIKE, _ := b.ep.Addrs()
	spi, err := a.ep.Initiate(ctx, icfg, bIKE, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CHILD SA", func() bool { return a.has(EventChildUp) && b.has(EventChildUp) })
	a.mu.Lock()
	ev := findEvent(a.events, EventChildUp)
	a.mu.Unlock()
	if ev.Child.Version != IKEv1 || ev.Child.EncapLocalPort == 0 {
		t.Fatalf("CHILD SA %+v", ev.Child)
	}
	exchange(t, a, b, 5)

	if err := a.ep.RekeyIKE(ctx, spi); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "phase 1 rekey", func() bool { return a.has(EventIKERekeyed) })
	if a.has(EventAuthFailed) || b.has(EventAuthFailed) {
		t.Fatal("authentication failed")
	}
	exchange(t, a, b, 5)
}
