// Package krbtest starts a throwaway MIT Kerberos KDC for tests: a realm in
// a temporary directory, krb5kdc listening on 127.0.0.1 on a free port,
// principals and keytabs made with kadmin.local, and the KDC stopped by its
// PID when the test ends. Tests of package auth (the GSS-API tokens) and
// package ike (Kerberos inside IKEv1) share it.
//
// Without the Debian packages krb5-kdc and krb5-admin-server the tests
// skip, or fail under IPSEC_REQUIRE_INTEROP=1 (package testenv).
package krbtest

import (
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
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Realm is the realm every KDC of this package serves.
const Realm = "IPSEC.TEST"

// Principal is one principal to create: a password for users, or a random
// key exported to a keytab file named Keytab (in the KDC's directory) for
// services and hosts. MaxLife, if set, caps its tickets' lifetime.
type Principal struct {
	Name     string // without realm, for example "host/a.ipsec.test"
	Password string
	Keytab   string // file name for a random-key principal's keytab
	MaxLife  time.Duration
}

// KDC is a running krb5kdc. Its fields are read-only.
type KDC struct {
	Dir      string // the realm's files, keytabs included
	Port     int
	Krb5Conf string // the krb5.conf text pointing at this KDC
	env      []string
	cmd      *exec.Cmd
	exited   chan error
}

// FreeLoopbackPort returns a port that is free for both TCP and UDP on
// 127.0.0.1 at the time of the call.
func FreeLoopbackPort(t testing.TB) int {
	t.Helper()
	for range 20 {
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

// Krb5Conf returns a krb5.conf for realm with its KDC on 127.0.0.1:port,
// AES only, no DNS.
func Krb5Conf(realm string, port int) string {
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

// NeedSbin finds an MIT Kerberos admin tool on PATH or in /usr/sbin, which
// is not on a normal user's PATH on Debian; it skips (or fails) the test
// without it.
func NeedSbin(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(filepath.Join("/usr/sbin", name)); err == nil {
		return filepath.Join("/usr/sbin", name)
	}
	return testenv.NeedCommand(t, name, pkg)
}

// Start creates the realm with the given principals and starts krb5kdc.
// The KDC is stopped, by its PID, when the test ends; its logs are printed
// if the test failed.
func Start(t testing.TB, principals ...Principal) *KDC {
	t.Helper()
	krb5kdc := NeedSbin(t, "krb5kdc", "krb5-kdc")
	kdb5util := NeedSbin(t, "kdb5_util", "krb5-kdc")
	kadmin := NeedSbin(t, "kadmin.local", "krb5-admin-server")

	k := &KDC{Dir: t.TempDir(), Port: FreeLoopbackPort(t)}
	k.Krb5Conf = Krb5Conf(Realm, k.Port)
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
`, Realm, k.Port, k.Dir)
	for name, data := range map[string]string{"krb5.conf": k.Krb5Conf, "kdc.conf": kdcConf, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(k.Dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k.env = append(os.Environ(),
		"KRB5_CONFIG="+filepath.Join(k.Dir, "krb5.conf"),
		"KRB5_KDC_PROFILE="+filepath.Join(k.Dir, "kdc.conf"),
		"KRB5CCNAME=FILE:"+filepath.Join(k.Dir, "ccache"),
	)
	k.run(t, kdb5util, "create", "-s", "-r", Realm, "-P", "throwaway master password")
	for _, p := range principals {
		var q string
		switch {
		case p.Password != "":
			q = "addprinc -pw \"" + p.Password + "\""
		default:
			q = "addprinc -randkey"
		}
		if p.MaxLife > 0 {
			q += fmt.Sprintf(" -maxlife \"%d seconds\"", int(p.MaxLife.Seconds()))
		}
		k.run(t, kadmin, "-r", Realm, "-q", q+" "+p.Name)
		if p.Keytab != "" {
			k.run(t, kadmin, "-r", Realm, "-q", "ktadd -k "+k.Path(p.Keytab)+" "+p.Name)
		}
	}
	k.start(t, krb5kdc)
	return k
}

// AddKeytab exports principal's keys into the keytab file name; on an
// existing principal this makes new keys (a new kvno), so an older keytab
// becomes stale.
func (k *KDC) AddKeytab(t testing.TB, name, principal string) {
	t.Helper()
	k.run(t, NeedSbin(t, "kadmin.local", "krb5-admin-server"), "-r", Realm, "-q", "ktadd -k "+k.Path(name)+" "+principal)
}

func (k *KDC) start(t testing.TB, krb5kdc string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(k.Dir, "krb5kdc.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(krb5kdc, "-n", "-r", Realm, "-P", filepath.Join(k.Dir, "kdc.pid"))
	cmd.Env = k.env
	cmd.Stdout, cmd.Stderr = logf, logf
	SetPdeathsig(cmd) // no KDC outlives a crashed or timed-out test binary
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting krb5kdc: %v", err)
	}
	k.cmd = cmd
	k.exited = make(chan error, 1)
	exited := k.exited
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		k.Stop()
		if t.Failed() {
			for _, f := range []string{"krb5kdc.out", "kdc.log"} {
				b, _ := os.ReadFile(filepath.Join(k.Dir, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	// Wait until the KDC accepts TCP connections.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", k.Port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(k.Dir, "krb5kdc.out"))
			t.Fatalf("krb5kdc exited early: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("krb5kdc did not listen on 127.0.0.1:%d", k.Port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the KDC (the one this test started, by its PID) and waits for
// it; tests of an unreachable KDC call it early. Calling it twice is safe.
func (k *KDC) Stop() {
	if k.cmd == nil {
		return
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.exited
	}
	k.cmd = nil
}

// Path returns the path of a file in the KDC's directory.
func (k *KDC) Path(name string) string { return filepath.Join(k.Dir, name) }

// Config parses Krb5Conf for gokrb5.
func (k *KDC) Config(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.NewFromString(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// WriteKrb5Conf writes Krb5Conf to the KDC's directory and returns its path.
func (k *KDC) WriteKrb5Conf(t testing.TB) string {
	t.Helper()
	p := k.Path("krb5.conf")
	if err := os.WriteFile(p, []byte(k.Krb5Conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Keytab loads the keytab file name from the KDC's directory.
func (k *KDC) Keytab(t testing.TB, name string) *keytab.Keytab {
	t.Helper()
	kt, err := keytab.Load(k.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	return kt
}

// Run runs an MIT tool with this realm's environment (KRB5_CONFIG,
// KRB5_KDC_PROFILE, KRB5CCNAME) and returns its output; it fails the test
// on error.
func (k *KDC) Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	return k.run(t, name, args...)
}

// Env is the environment for MIT tools that use this realm.
func (k *KDC) Env() []string { return k.env }

func (k *KDC) run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
