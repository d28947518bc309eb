package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// TestKerberosReplayCacheSurvivesRestart: an AP-REQ accepted by one
// acceptor is refused as a replay by a new acceptor on the same replay
// cache file, as long as it would be inside the clock skew; a crash's
// torn last line is ignored; a corrupt line fails with file and line.
func TestKerberosReplayCacheSurvivesRestart(t *testing.T) {
	o := newOfflineKerberos(t)
	now := time.Now()
	tkt, key := o.ticket(t, o.sname, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(-time.Hour), now.Add(time.Hour))
	ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
	path := filepath.Join(t.TempDir(), "rcache")
	cfg := KerberosAcceptorConfig{Keytab: o.kt, Service: o.service, Realm: offRealm, ReplayCacheFile: path}

	first := must(NewKerberosAcceptor(cfg))
	if _, err := first.Accept(ictx.Token, now); err != nil {
		t.Fatal(err)
	}
	first.Close()

	second := must(NewKerberosAcceptor(cfg))
	if _, err := second.Accept(ictx.Token, now.Add(time.Second)); !errors.Is(err, ErrReplay) {
		t.Fatalf("AP-REQ replayed to a restarted acceptor: %v", err)
	}
	// Without the file, a restarted acceptor cannot know.
	if _, err := must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: o.kt, Service: o.service, Realm: offRealm})).Accept(ictx.Token, now); err != nil {
		t.Fatalf("in-memory acceptor: %v", err)
	}
	// A fresh authenticator is still accepted after the restart.
	fresh := must(newInitiatorContext(tkt, key, o.cname, offRealm, now.Add(time.Millisecond), false))
	if _, err := second.Accept(fresh.Token, now); err != nil {
		t.Fatal(err)
	}
	second.Close()

	// A torn last line (a crash while appending) is ignored.
	f := must(os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0))
	f.WriteString("17000000")
	f.Close()
	third := must(NewKerberosAcceptor(cfg))
	if _, err := third.Accept(fresh.Token, now); !errors.Is(err, ErrReplay) {
		t.Fatalf("after a torn line: %v", err)
	}
	third.Close()
	if b := must(os.ReadFile(path)); strings.Count(string(b), "\n") != 2 {
		t.Fatalf("compacted file:\n%s", b)
	}

	// Entries past their time are dropped when the file is read.
	expired := filepath.Join(t.TempDir(), "old")
	os.WriteFile(expired, appendReplayLine(nil, "alice@X|1|2", now.Add(-time.Minute)), 0o600)
	a := must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: o.kt, Service: o.service, Realm: offRealm, ReplayCacheFile: expired}))
	if len(a.replay) != 0 {
		t.Fatalf("expired entries loaded: %v", a.replay)
	}
	a.Close()

	// A corrupt complete line is an error naming the file and line.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte(string(appendReplayLine(nil, "k", now.Add(time.Hour)))+"not a line\n"), 0o600)
	_, err := NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: o.kt, Service: o.service, Realm: offRealm, ReplayCacheFile: bad})
	if err == nil || !strings.Contains(err.Error(), bad+":2") {
		t.Fatalf("corrupt file: %v", err)
	}
}

// TestKerberosReplayCacheFileCompaction: many accepts with the clock
// moving on keep the file near the size of the live entries.
func TestKerberosReplayCacheFileCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rcache")
	o := newOfflineKerberos(t)
	acc := must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: o.kt, Service: o.service, Realm: offRealm, ReplayCacheFile: path, MaxClockSkew: time.Second}))
	defer acc.Close()
	base := time.Unix(1_900_000_000, 0)
	for i := range 5000 {
		now := base.Add(time.Duration(i) * 10 * time.Millisecond)
		if err := acc.checkReplay("alice@R", now, i, now); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Count(string(must(os.ReadFile(path))), "\n")
	if lines > 2*len(acc.replay)+1024+1 {
		t.Fatalf("file has %d lines for %d entries", lines, len(acc.replay))
	}
}
