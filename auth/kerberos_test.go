package auth

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// These tests exercise the AP exchange without a KDC: the ticket is made
// with gokrb5's messages.NewTicket from a keytab made in the test. The
// same code is tested against a real MIT KDC in kerberos_kdc_test.go.

const offRealm = "OFFLINE.TEST"

type offlineKerberos struct {
	kt      *keytab.Keytab
	cname   types.PrincipalName
	sname   types.PrincipalName
	service string
}

func newOfflineKerberos(t testing.TB) *offlineKerberos {
	t.Helper()
	o := &offlineKerberos{
		kt:      keytab.New(),
		cname:   types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice"),
		service: "host/gw.offline.test",
	}
	o.sname = types.NewPrincipalName(nametype.KRB_NT_SRV_INST, o.service)
	for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128} {
		if err := o.kt.AddEntry(o.service, offRealm, "service long-term password", time.Unix(1, 0), 3, et); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.kt.AddEntry("host/other.offline.test", offRealm, "other password", time.Unix(1, 0), 3, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *offlineKerberos) ticket(t testing.TB, sname types.PrincipalName, et int32, start, end time.Time) (messages.Ticket, types.EncryptionKey) {
	t.Helper()
	tkt, key, err := messages.NewTicket(o.cname, offRealm, sname, offRealm, types.NewKrbFlags(), o.kt, et, 3, start, start, end, end)
	if err != nil {
		t.Fatal(err)
	}
	return tkt, key
}

func (o *offlineKerberos) acceptor(t testing.TB, kt *keytab.Keytab) *KerberosAcceptor {
	t.Helper()
	if kt == nil {
		kt = o.kt
	}
	return must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: kt, Service: o.service, Realm: offRealm}))
}

func TestKerberosOfflineExchange(t *testing.T) {
	o := newOfflineKerberos(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128} {
		tkt, key := o.ticket(t, o.sname, et, now.Add(-time.Hour), now.Add(time.Hour))
		ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
		acc := o.acceptor(t, nil)
		res, err := acc.Accept(ictx.Token, now.Add(2*time.Second))
		if err != nil {
			t.Fatalf("etype %d: %v", et, err)
		}
		if res.Session.Client != "alice@"+offRealm || res.Session.Service != o.service+"@"+offRealm || res.APRep == nil {
			t.Fatalf("session %+v", res.Session)
		}
		s, err := ictx.ProcessAPRep(res.APRep)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.Key, res.Session.Key) || s.KeyType != et || bytes.Equal(s.Key, key.KeyValue) {
			t.Fatal("both sides must derive the same subkey, distinct from the ticket session key")
		}
		if _, err := ictx.ProcessAPRep(res.APRep); err == nil {
			t.Fatal("second ProcessAPRep accepted")
		}
	}
}

func TestKerberosOfflineRejects(t *testing.T) {
	o := newOfflineKerberos(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	good := func() (*KerberosInitiatorContext, messages.Ticket) {
		tkt, key := o.ticket(t, o.sname, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(-time.Hour), now.Add(time.Hour))
		return must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false)), tkt
	}
	wrongKT := keytab.New()
	_ = wrongKT.AddEntry(o.service, offRealm, "not the service password", time.Unix(1, 0), 3, etypeID.AES256_CTS_HMAC_SHA1_96)

	t.Run("wrong key", func(t *testing.T) {
		ictx, _ := good()
		_, err := o.acceptor(t, wrongKT).Accept(ictx.Token, now)
		if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "wrong or stale key") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ticket for another principal", func(t *testing.T) {
		other := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "host/other.offline.test")
		tkt, key := o.ticket(t, other, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(-time.Hour), now.Add(time.Hour))
		ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
		_, err := o.acceptor(t, nil).Accept(ictx.Token, now)
		if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "ticket is for host/other.offline.test") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("expired ticket", func(t *testing.T) {
		tkt, key := o.ticket(t, o.sname, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(-2*time.Hour), now.Add(-time.Hour))
		ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
		_, err := o.acceptor(t, nil).Accept(ictx.Token, now)
		if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not yet valid", func(t *testing.T) {
		tkt, key := o.ticket(t, o.sname, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(time.Hour), now.Add(2*time.Hour))
		ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
		_, err := o.acceptor(t, nil).Accept(ictx.Token, now)
		if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "not yet valid") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("clock skew", func(t *testing.T) {
		ictx, _ := good()
		_, err := o.acceptor(t, nil).Accept(ictx.Token, now.Add(6*time.Minute))
		if !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "KRB_AP_ERR_SKEW") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		ictx, _ := good()
		acc := o.acceptor(t, nil)
		if _, err := acc.Accept(ictx.Token, now); err != nil {
			t.Fatal(err)
		}
		if _, err := acc.Accept(ictx.Token, now.Add(time.Second)); !errors.Is(err, ErrReplay) {
			t.Fatalf("got %v", err)
		}
		// A fresh authenticator for the same ticket is fine.
		fresh := must(newInitiatorContext(ictx.tkt(t), ictx.ticketKey, o.cname, offRealm, now.Add(time.Millisecond), false))
		if _, err := acc.Accept(fresh.Token, now.Add(time.Second)); err != nil {
			t.Fatalf("fresh authenticator: %v", err)
		}
	})
	t.Run("tampered authenticator", func(t *testing.T) {
		ictx, _ := good()
		tok := bytes.Clone(ictx.Token)
		tok[len(tok)-3] ^= 1
		if _, err := o.acceptor(t, nil).Accept(tok, now); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("AP-REP for another authenticator", func(t *testing.T) {
		ictx, _ := good()
		res := must(o.acceptor(t, nil).Accept(ictx.Token, now))
		// Another ticket (another session key): the AP-REP does not decrypt.
		later, _ := good()
		if _, err := later.ProcessAPRep(res.APRep); !errors.Is(err, ErrKerberos) {
			t.Fatalf("got %v", err)
		}
		// Same key, other ctime: the AP-REP answers another authenticator.
		ictx.ctime = ictx.ctime.Add(time.Second)
		if _, err := ictx.ProcessAPRep(res.APRep); err == nil || !strings.Contains(err.Error(), "another authenticator") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrong token types", func(t *testing.T) {
		ictx, _ := good()
		res := must(o.acceptor(t, nil).Accept(ictx.Token, now))
		if _, err := o.acceptor(t, nil).Accept(res.APRep, now); !errors.Is(err, ErrMalformed) {
			t.Fatalf("AP-REP as AP-REQ: %v", err)
		}
		ictx2, _ := good()
		if _, err := ictx2.ProcessAPRep(ictx2.Token); !errors.Is(err, ErrMalformed) {
			t.Fatalf("AP-REQ as AP-REP: %v", err)
		}
	})
}

// tkt recovers the ticket from the context's AP-REQ token.
func (c *KerberosInitiatorContext) tkt(t testing.TB) messages.Ticket {
	t.Helper()
	_, msg, err := parseGSSToken(c.Token)
	if err != nil {
		t.Fatal(err)
	}
	var req messages.APReq
	if err := req.Unmarshal(msg); err != nil {
		t.Fatal(err)
	}
	return req.Ticket
}

func TestKerberosReplayCacheConcurrent(t *testing.T) {
	o := newOfflineKerberos(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tkt, key := o.ticket(t, o.sname, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(-time.Hour), now.Add(time.Hour))
	ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
	acc := o.acceptor(t, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := acc.Accept(ictx.Token, now); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, ErrReplay) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of 8 identical AP-REQs accepted, want 1", ok)
	}
}

// FuzzKerberosAccept feeds arbitrary GSS-API tokens to the acceptor and
// arbitrary AP-REP tokens to an initiator context.
func FuzzKerberosAccept(f *testing.F) {
	o := newOfflineKerberos(f)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tkt, key := o.ticket(f, o.sname, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(-time.Hour), now.Add(time.Hour))
	ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
	res := must(o.acceptor(f, nil).Accept(ictx.Token, now))
	f.Add(ictx.Token)
	f.Add(res.APRep)
	f.Add(ictx.Token[:40])
	f.Add([]byte{0x60, 0x03, 0x06, 0x01, 0x00})
	rc4 := must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: o.kt, Service: o.service, Realm: offRealm, AllowRC4HMAC: true}))
	f.Fuzz(func(t *testing.T, token []byte) {
		_, _ = rc4.Accept(token, now)
		acc := o.acceptor(t, nil)
		if _, err := acc.Accept(token, now); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrKerberos) && !errors.Is(err, ErrReplay) {
			t.Fatalf("unexpected error class: %v", err)
		}
		c := *ictx
		c.done = false
		_, _ = c.ProcessAPRep(token)
	})
}

// TestKerberosReplayCacheDifferential compares checkReplay with a simple
// reference model (a list of every accepted authenticator and its expiry)
// over random sequences, including pruning.
func TestKerberosReplayCacheDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	acc := must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: keytab.New(), Service: "host/x", Realm: "R", MaxClockSkew: 10 * time.Second}))
	type entry struct {
		key   string
		until time.Time
	}
	var model []entry
	base := time.Unix(1_900_000_000, 0)
	now := base
	for i := 0; i < 20000; i++ {
		now = now.Add(time.Duration(r.IntN(50)) * time.Millisecond)
		client := []string{"alice@R", "bob@R", "ALICE@R"}[r.IntN(3)]
		ctime := now.Add(-time.Duration(r.IntN(15)) * time.Second).Truncate(time.Second)
		cusec := r.IntN(4)
		key := fmt.Sprintf("%s|%d|%d", strings.ToLower(client), ctime.Unix(), cusec)
		wantReplay := false
		for _, e := range model {
			if e.key == key && !now.After(e.until) {
				wantReplay = true
			}
		}
		err := acc.checkReplay(client, ctime, cusec, now)
		if gotReplay := errors.Is(err, ErrReplay); gotReplay != wantReplay {
			t.Fatalf("step %d: replay=%v, model says %v", i, gotReplay, wantReplay)
		}
		if !wantReplay {
			model = append(model, entry{key, ctime.Add(20 * time.Second)})
		}
	}
	acc.mu.Lock()
	n := len(acc.replay)
	acc.mu.Unlock()
	if n > 5000 {
		t.Fatalf("replay cache holds %d entries; pruning does not work", n)
	}
}

// TestKerberosOfflineRC4HMAC: RC4-HMAC tickets (Windows Server 2003 domain
// controllers issue nothing stronger) are refused by default and accepted
// with AllowRC4HMAC on both sides.
func TestKerberosOfflineRC4HMAC(t *testing.T) {
	o := newOfflineKerberos(t)
	if err := o.kt.AddEntry(o.service, offRealm, "service long-term password", time.Unix(1, 0), 3, etypeID.RC4_HMAC); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tkt, key := o.ticket(t, o.sname, etypeID.RC4_HMAC, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := newInitiatorContext(tkt, key, o.cname, offRealm, now, false); !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "AllowRC4HMAC") {
		t.Fatalf("initiator accepted an RC4 session key by default: %v", err)
	}
	ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, true))
	if _, err := o.acceptor(t, nil).Accept(ictx.Token, now); !errors.Is(err, ErrKerberos) || !strings.Contains(err.Error(), "etype 23") {
		t.Fatalf("acceptor accepted RC4 by default: %v", err)
	}
	acc := must(NewKerberosAcceptor(KerberosAcceptorConfig{Keytab: o.kt, Service: o.service, Realm: offRealm, AllowRC4HMAC: true}))
	res, err := acc.Accept(ictx.Token, now)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ictx.ProcessAPRep(res.APRep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Key, res.Session.Key) || s.KeyType != etypeID.RC4_HMAC {
		t.Fatal("RC4 session keys differ")
	}
}

// BenchmarkKerberosAccept measures Accept (parse, ticket and authenticator
// decryption, checks, replay cache, AP-REP) against its baseline, the two
// gokrb5 decryptions (ticket with the keytab key, authenticator with the
// session key) that any acceptor must do.
func BenchmarkKerberosAccept(b *testing.B) {
	o := newOfflineKerberos(b)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tkt, key := o.ticket(b, o.sname, etypeID.AES256_CTS_HMAC_SHA1_96, now.Add(-time.Hour), now.Add(time.Hour))
	b.Run("baseline-gokrb5-decrypt-ticket+authenticator", func(b *testing.B) {
		ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
		_, msg, _ := parseGSSToken(ictx.Token)
		var req messages.APReq
		if err := req.Unmarshal(msg); err != nil {
			b.Fatal(err)
		}
		skey, _, err := o.kt.GetEncryptionKey(o.sname, offRealm, req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t := req.Ticket
			if err := t.Decrypt(skey); err != nil {
				b.Fatal(err)
			}
			r := req
			if err := r.DecryptAuthenticator(t.DecryptedEncPart.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("KerberosAcceptor.Accept", func(b *testing.B) {
		tokens := make([][]byte, b.N)
		for i := range tokens {
			tokens[i] = must(newInitiatorContext(tkt, key, o.cname, offRealm, now.Add(time.Duration(i)*time.Microsecond), false)).Token
		}
		acc := o.acceptor(b, nil)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := acc.Accept(tokens[i], now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
