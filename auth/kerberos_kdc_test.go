package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/testenv"
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
	kdcRealm      = "IPSEC.TEST"
	kdcService    = "host/server.ipsec.test"
	kdcOther      = "host/other.ipsec.test"
	kdcShort      = "host/short.ipsec.test"
	kdcShortLife  = 2 * time.Minute
	alicePassword = "alice's password 8f2c"
)

type testKDC struct {
	dir      string
	port     int
	krb5conf string
	env      []string
}

// freeLoopbackPort returns a port that is free for both TCP and UDP on
// 127.0.0.1 at the time of the call.
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("no free loopback port")
	return 0
}

func krb5Conf(realm string, port int) string {
	return fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	udp_preference_limit = 1
	dns_canonicalize_hostname = false
	rdns = false
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha256-128
	ticket_lifetime = 10h
	forwardable = false
[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}
[domain_realm]
	.ipsec.test = %[1]s
	ipsec.test = %[1]s
`, realm, port)
}

// startKDC creates a realm with the principals used here and starts
// krb5kdc on 127.0.0.1.
func startKDC(t *testing.T) *testKDC {
	t.Helper()
	krb5kdc := needSbin(t, "krb5kdc", "krb5-kdc")
	kdb5util := needSbin(t, "kdb5_util", "krb5-kdc")
	kadmin := needSbin(t, "kadmin.local", "krb5-admin-server")

	k := &testKDC{dir: t.TempDir(), port: freeLoopbackPort(t)}
	k.krb5conf = krb5Conf(kdcRealm, k.port)
	kdcConf := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[2]d
	kdc_tcp_listen = 127.0.0.1:%[2]d
[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		max_life = 10h
		max_renewable_life = 0
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha256-128:normal
	}
[logging]
	kdc = FILE:%[3]s/kdc.log
	admin_server = FILE:%[3]s/kadmin.log
	default = FILE:%[3]s/krb5.log
`, kdcRealm, k.port, k.dir)
	for name, data := range map[string]string{"krb5.conf": k.krb5conf, "kdc.conf": kdcConf, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(k.dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k.env = append(os.Environ(),
		"KRB5_CONFIG="+filepath.Join(k.dir, "krb5.conf"),
		"KRB5_KDC_PROFILE="+filepath.Join(k.dir, "kdc.conf"),
		"KRB5CCNAME=FILE:"+filepath.Join(k.dir, "ccache"),
	)
	k.run(t, kdb5util, "create", "-s", "-r", kdcRealm, "-P", "throwaway master password")
	for _, q := range []string{
		"addprinc -pw \"" + alicePassword + "\" alice",
		"addprinc -randkey " + kdcService,
		"addprinc -randkey " + kdcOther,
		"addprinc -randkey -maxlife \"2 minutes\" " + kdcShort,
		"ktadd -k " + filepath.Join(k.dir, "stale.keytab") + " " + kdcService,
		"ktadd -k " + filepath.Join(k.dir, "server.keytab") + " " + kdcService,
		"ktadd -k " + filepath.Join(k.dir, "other.keytab") + " " + kdcOther,
		"ktadd -k " + filepath.Join(k.dir, "short.keytab") + " " + kdcShort,
	} {
		k.run(t, kadmin, "-r", kdcRealm, "-q", q)
	}

	logf, err := os.Create(filepath.Join(k.dir, "krb5kdc.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(krb5kdc, "-n", "-r", kdcRealm, "-P", filepath.Join(k.dir, "kdc.pid"))
	cmd.Env = k.env
	cmd.Stdout, cmd.Stderr = logf, logf
	setPdeathsig(cmd) // no KDC outlives a crashed or timed-out test binary
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting krb5kdc: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		// Stop only the KDC this test started, by its PID.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			for _, f := range []string{"krb5kdc.out", "kdc.log"} {
				b, _ := os.ReadFile(filepath.Join(k.dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	// Wait until the KDC accepts TCP connections.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", k.port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(k.dir, "krb5kdc.out"))
			t.Fatalf("krb5kdc exited early: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("krb5kdc did not listen on 127.0.0.1:%d", k.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return k
}

// needSbin finds an MIT Kerberos admin tool on PATH or in /usr/sbin, which
// is not on a normal user's PATH on Debian.
func needSbin(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(filepath.Join("/usr/sbin", name)); err == nil {
		return filepath.Join("/usr/sbin", name)
	}
	return testenv.NeedCommand(t, name, pkg)
}

func (k *testKDC) run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (k *testKDC) keytab(t *testing.T, name string) *keytab.Keytab {
	t.Helper()
	kt, err := keytab.Load(filepath.Join(k.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return kt
}

func (k *testKDC) initiator(t *testing.T, password string) *KerberosInitiator {
	t.Helper()
	cfg, err := config.NewFromString(k.krb5conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword("alice", kdcRealm, password, cfg, client.DisablePAFXFAST(true))
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
	cfg, err := config.NewFromString(krb5Conf(kdcRealm, freeLoopbackPort(t)))
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
	cfg2, err := config.NewFromString(krb5Conf(kdcRealm, l.Addr().(*net.TCPAddr).Port))
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
