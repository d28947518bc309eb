package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/krbtest"
)

// TestKerberosHostKeytabs: two hosts load their computer-account keytabs
// with LoadKerberosHost; each gets a ticket for the other with its own
// keytab and the other accepts it. A keytab without the principal's key,
// a missing krb5.conf and a stopped KDC each give an error saying so.
func TestKerberosHostKeytabs(t *testing.T) {
	k := krbtest.Start(t,
		krbtest.Principal{Name: "host/a.ipsec.test", Keytab: "a.keytab"},
		krbtest.Principal{Name: "host/b.ipsec.test", Keytab: "b.keytab"},
	)
	conf := k.WriteKrb5Conf(t)
	a, err := LoadKerberosHost(KerberosHostConfig{Krb5Conf: conf, Keytab: k.Path("a.keytab"), Principal: "host/a.ipsec.test"})
	if err != nil {
		t.Fatal(err)
	}
	b := must(LoadKerberosHost(KerberosHostConfig{Krb5Conf: conf, Keytab: k.Path("b.keytab"), Principal: "host/b.ipsec.test"}))
	if a.Principal != "host/a.ipsec.test@"+krbtest.Realm {
		t.Fatalf("principal %q", a.Principal)
	}
	for _, c := range []struct{ from, to *KerberosHost }{{a, b}, {b, a}} {
		spn := strings.TrimSuffix(c.to.Principal, "@"+krbtest.Realm)
		ictx, err := c.from.Initiator.InitSecContext(kdcCtx(t), spn, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.to.Acceptor.Accept(ictx.Token, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res.Session.Client != c.from.Principal {
			t.Fatalf("client %q, want %q", res.Session.Client, c.from.Principal)
		}
		if _, err := ictx.ProcessAPRep(res.APRep); err != nil {
			t.Fatal(err)
		}
	}

	_, err = LoadKerberosHost(KerberosHostConfig{Krb5Conf: conf, Keytab: k.Path("b.keytab"), Principal: "host/a.ipsec.test"})
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "b.keytab has no usable key for host/a.ipsec.test@"+krbtest.Realm) {
		t.Fatalf("keytab without the key: %v", err)
	}
	if _, err := LoadKerberosHost(KerberosHostConfig{Krb5Conf: k.Path("nope.conf"), Keytab: k.Path("a.keytab"), Principal: "host/a.ipsec.test"}); err == nil || !strings.Contains(err.Error(), "nope.conf") {
		t.Fatalf("missing krb5.conf: %v", err)
	}

	k.Stop()
	fresh := must(LoadKerberosHost(KerberosHostConfig{Krb5Conf: conf, Keytab: k.Path("a.keytab"), Principal: "host/a.ipsec.test"}))
	_, err = fresh.Initiator.InitSecContext(kdcCtx(t), "host/b.ipsec.test", time.Now())
	if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "KDC") {
		t.Fatalf("KDC down: %v", err)
	}
	t.Logf("KDC down: %v", err)
}
