package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// TestKerberosMICRoundTrip: each side's MIC over a message verifies on
// the other side, and only there: not for another message, not with the
// direction flag reversed, not when a header or checksum octet changes,
// not under another context's key. MIT's gss_get_mic and gss_verify_mic
// check the same tokens in kerberos_mit_test.go.
func TestKerberosMICRoundTrip(t *testing.T) {
	o := newOfflineKerberos(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128} {
		tkt, key := o.ticket(t, o.sname, et, now.Add(-time.Hour), now.Add(time.Hour))
		ictx := must(newInitiatorContext(tkt, key, o.cname, offRealm, now, false))
		res := must(o.acceptor(t, nil).Accept(ictx.Token, now))
		ini := must(ictx.ProcessAPRep(res.APRep))
		acc := res.Session
		msg := []byte("HASH_I of some IKE SA")

		for _, c := range []struct {
			name         string
			from, to     *KerberosSession
			fromAcceptor bool
		}{{"initiator", ini, acc, false}, {"acceptor", acc, ini, true}} {
			mic := must(c.from.GetMIC(msg, c.fromAcceptor))
			if err := c.to.VerifyMIC(msg, mic, c.fromAcceptor); err != nil {
				t.Fatalf("etype %d, %s MIC: %v", et, c.name, err)
			}
			if err := c.to.VerifyMIC(append([]byte("x"), msg...), mic, c.fromAcceptor); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("%s MIC over another message: %v", c.name, err)
			}
			if err := c.to.VerifyMIC(msg, mic, !c.fromAcceptor); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s MIC with the direction reversed: %v", c.name, err)
			}
			for i := range mic {
				bad := append([]byte(nil), mic...)
				bad[i] ^= 0x40
				if err := c.to.VerifyMIC(msg, bad, c.fromAcceptor); err == nil {
					t.Fatalf("%s MIC with octet %d changed was accepted", c.name, i)
				}
			}
			for n := range 17 {
				if err := c.to.VerifyMIC(msg, mic[:n], c.fromAcceptor); err == nil {
					t.Fatalf("%s MIC cut to %d octets was accepted", c.name, n)
				}
			}
			other := &KerberosSession{Key: make([]byte, len(c.to.Key)), KeyType: c.to.KeyType}
			if err := other.VerifyMIC(msg, mic, c.fromAcceptor); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("%s MIC under another key: %v", c.name, err)
			}
		}
	}
	rc4 := &KerberosSession{Key: make([]byte, 16), KeyType: etypeID.RC4_HMAC}
	if _, err := rc4.GetMIC([]byte("m"), false); !errors.Is(err, ErrKerberos) {
		t.Fatalf("RC4-HMAC MIC: %v", err)
	}
}

// FuzzKerberosVerifyMIC: arbitrary tokens never panic and never verify.
func FuzzKerberosVerifyMIC(f *testing.F) {
	s := &KerberosSession{Key: make([]byte, 32), KeyType: etypeID.AES256_CTS_HMAC_SHA1_96}
	good := must(s.GetMIC([]byte("msg"), true))
	f.Add([]byte("msg"), good, true)
	f.Add([]byte("msg"), good[:16], false)
	f.Add([]byte{}, []byte{4, 4, 0, 0xff, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, msg, token []byte, fromAcceptor bool) {
		err := s.VerifyMIC(msg, token, fromAcceptor)
		if err == nil {
			want := must(s.GetMIC(msg, fromAcceptor))
			if string(want) != string(token) {
				t.Fatalf("a token other than the MIC verified")
			}
		}
	})
}
