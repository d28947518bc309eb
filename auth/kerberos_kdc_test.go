package auth

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/krbtest"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// These tests run against a real MIT Kerberos KDC (Debian krb5-kdc and
// krb5-admin-server). Each test starts its own throwaway realm in a temp
// directory with krb5kdc listening on 127.0.0.1 on a free port, and stops
// it by PID at the end. Without the packages they skip, or fail under
// IPSEC_REQUIRE_INTEROP=1.

const (
	kdcRealm      = krbtest.Realm
	kdcService    = "host/server.ipsec.test"
	kdcOther      = "host/other.ipsec.test"
	kdcShort      = "host/short.ipsec.test"
	kdcShortLife  = 2 * time.Minute
	alicePassword = "alice's password 8f2c"
)

type testKDC struct{ *krbtest.KDC }

// startKDC creates a realm with the principals used here and starts
// krb5kdc on 127.0.0.1 (package krbtest). host/server has two keytabs:
// stale.keytab with its first exported key, server.keytab with the
// current one.
func startKDC(t *testing.T) *testKDC {
	t.Helper()
	k := krbtest.Start(t,
		krbtest.Principal{Name: "alice", Password: alicePassword},
		krbtest.Principal{Name: kdcService, Keytab: "stale.keytab"},
		krbtest.Principal{Name: kdcOther, Keytab: "other.keytab"},
		krbtest.Principal{Name: kdcShort, Keytab: "short.keytab", MaxLife: kdcShortLife},
	)
	k.AddKeytab(t, "server.keytab", kdcService)
	return &testKDC{k}
}

func (k *testKDC) keytab(t *testing.T, name string) *keytab.Keytab { return k.Keytab(t, name) }

func (k *testKDC) initiator(t *testing.T, password string) *KerberosInitiator {
	t.Helper()
	cl := client.NewWithPassword("alice", kdcRealm, password, k.Config(t), client.DisablePAFXFAST(true))
	t.Cleanup(cl.Destroy)
	return must(NewKerberosInitiator(cl, KerberosInitiatorOptions{}))
}

func (k *testKDC) acceptor(t *testing.T, kt *keytab.Keytab, service string) *KerberosAcceptor {
	t.Helper()
	return must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: kt, Service: service, Realm: kdcRealm}))
}

func kdcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestKerberosKDCMutualAuth is the whole exchange against the KDC: alice
// gets a ticket for host/server.ipsec.test, the acceptor verifies the
// AP-REQ with the keytab made by kadmin.local, answers with an AP-REP, and
// both sides hold the same session key.
func TestKerberosKDCMutualAuth(t *testing.T) {
	k := startKDC(t)
	ini := k.initiator(t, alicePassword)
	acc := k.acceptor(t, k.keytab(t, "server.keytab"), kdcService)
	now := time.Now()
	ictx, err := ini.InitSecContext(kdcCtx(t), kdcService, now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := acc.Accept(ictx.Token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Session.Client != "alice@"+kdcRealm || res.Session.Service != kdcService+"@"+kdcRealm {
		t.Fatalf("session %+v", res.Session)
	}
	if res.APRep == nil {
		t.Fatal("no AP-REP for a mutual-auth request")
	}
	s, err := ictx.ProcessAPRep(res.APRep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Key, res.Session.Key) || len(s.Key) == 0 || s.KeyType != res.Session.KeyType {
		t.Fatal("initiator and acceptor session keys differ")
	}
	if s.Service != kdcService+"@"+kdcRealm || s.Flags&gssFlagMutual == 0 {
		t.Fatalf("initiator session %+v", s)
	}
	// A second context with the cached ticket is a new, accepted
	// authenticator with a new key.
	ictx2 := must(ini.InitSecContext(kdcCtx(t), kdcService, time.Now().Add(time.Millisecond)))
	res2, err := acc.Accept(ictx2.Token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(res2.Session.Key, res.Session.Key) {
		t.Fatal("two contexts share a key")
	}
}

// TestKerberosKDCWrongKey: the acceptor's keytab holds a wrong key for the
// right principal and kvno, or a stale key (an older kvno after ktadd
// rekeyed the principal); both are rejected with a clear error.
func TestKerberosKDCWrongKey(t *testing.T) {
	k := startKDC(t)
	ini := k.initiator(t, alicePassword)
	good := k.keytab(t, "server.keytab")
	kvno := good.Entries[0].KVNO
	wrong := keytab.New()
	for _, e := range good.Entries {
		if err := wrong.AddEntry(kdcService, kdcRealm, "guessed password", time.Now(), uint8(kvno), e.Key.KeyType); err != nil {
			t.Fatal(err)
		}
	}
	ictx := must(ini.InitSecContext(kdcCtx(t), kdcService, time.Now()))
	_, err := k.acceptor(t, wrong, kdcService).Accept(ictx.Token, time.Now())
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "wrong or stale key") {
		t.Fatalf("wrong key: %v", err)
	}
	_, err = k.acceptor(t, k.keytab(t, "stale.keytab"), kdcService).Accept(ictx.Token, time.Now())
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "no keytab key") {
		t.Fatalf("stale keytab: %v", err)
	}
	// A wrong client password fails at the KDC, with the KDC's error.
	bad := k.initiator(t, "not alice's password")
	if _, err := bad.InitSecContext(kdcCtx(t), kdcService, time.Now()); !errors.Is(err, ErrKerberos) {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestKerberosKDCOtherPrincipal: a ticket for host/other.ipsec.test is
// refused by the acceptor for host/server.ipsec.test, even when its keytab
// also holds host/other's key.
func TestKerberosKDCOtherPrincipal(t *testing.T) {
	k := startKDC(t)
	ini := k.initiator(t, alicePassword)
	both := k.keytab(t, "server.keytab")
	both.Entries = append(both.Entries, k.keytab(t, "other.keytab").Entries...)
	ictx := must(ini.InitSecContext(kdcCtx(t), kdcOther, time.Now()))
	_, err := k.acceptor(t, both, kdcService).Accept(ictx.Token, time.Now())
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "ticket is for "+kdcOther+"@"+kdcRealm) {
		t.Fatalf("got %v", err)
	}
	// The same token is fine for the principal it was issued for.
	if _, err := k.acceptor(t, both, kdcOther).Accept(ictx.Token, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestKerberosKDCExpiredTicket: host/short.ipsec.test has a 2-minute
// maximum ticket life in the KDC. Its ticket is accepted now, and rejected
// as expired by an acceptor whose clock is past the ticket's end time plus
// the skew (the initiator's authenticator is stamped with the same future
// time, so only the ticket's lifetime can fail). A ticket of the 10-hour
// principal is still accepted at that time.
func TestKerberosKDCExpiredTicket(t *testing.T) {
	k := startKDC(t)
	ini := k.initiator(t, alicePassword)
	acc := k.acceptor(t, k.keytab(t, "short.keytab"), kdcShort)
	now := time.Now()
	ictx := must(ini.InitSecContext(kdcCtx(t), kdcShort, now))
	if _, err := acc.Accept(ictx.Token, time.Now()); err != nil {
		t.Fatalf("fresh short ticket: %v", err)
	}
	later := now.Add(kdcShortLife + DefaultMaxClockSkew + time.Minute)
	ictxLate := must(ini.InitSecContext(kdcCtx(t), kdcShort, later))
	_, err := acc.Accept(ictxLate.Token, later)
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "KRB_AP_ERR_TKT_EXPIRED") {
		t.Fatalf("expired ticket: %v", err)
	}
	long := must(ini.InitSecContext(kdcCtx(t), kdcService, later))
	if _, err := k.acceptor(t, k.keytab(t, "server.keytab"), kdcService).Accept(long.Token, later); err != nil {
		t.Fatalf("10-hour ticket at the same time: %v", err)
	}
}

// TestKerberosKDCReplay: the same AP-REQ presented twice is a replay.
func TestKerberosKDCReplay(t *testing.T) {
	k := startKDC(t)
	ini := k.initiator(t, alicePassword)
	acc := k.acceptor(t, k.keytab(t, "server.keytab"), kdcService)
	ictx := must(ini.InitSecContext(kdcCtx(t), kdcService, time.Now()))
	if _, err := acc.Accept(ictx.Token, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Accept(ictx.Token, time.Now()); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed AP-REQ: %v", err)
	}
}

// TestKerberosUnreachableKDC: with no KDC listening the initiator fails
// with a clear error (connection refused) instead of hanging; with a KDC
// that accepts but never answers, the context deadline ends the wait.
func TestKerberosUnreachableKDC(t *testing.T) {
	cfg, err := config.NewFromString(krbtest.Krb5Conf(kdcRealm, krbtest.FreeLoopbackPort(t)))
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword("alice", kdcRealm, alicePassword, cfg, client.DisablePAFXFAST(true))
	ini := must(NewKerberosInitiator(cl, KerberosInitiatorOptions{}))
	_, err = ini.InitSecContext(kdcCtx(t), kdcService, time.Now())
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "KDC") {
		t.Fatalf("refused: %v", err)
	}
	t.Logf("no KDC: %v", err)

	// A silent KDC on loopback: accepts TCP and reads, never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	cfg2, err := config.NewFromString(krbtest.Krb5Conf(kdcRealm, l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	cl2 := client.NewWithPassword("alice", kdcRealm, alicePassword, cfg2, client.DisablePAFXFAST(true))
	ini2 := must(NewKerberosInitiator(cl2, KerberosInitiatorOptions{}))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = ini2.InitSecContext(ctx, kdcService, time.Now())
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("silent KDC: %v", err)
	}
}
