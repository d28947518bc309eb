package ike

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// algorithmID returns the AlgorithmIdentifier at the front of method-14
// Authentication Data (RFC 7427 section 3: a length octet, then the DER).
func algorithmID(t *testing.T, data []byte) []byte {
	t.Helper()
	if len(data) == 0 || len(data) < 1+int(data[0]) {
		t.Fatalf("authentication data too short: %x", data)
	}
	return data[1 : 1+int(data[0])]
}

// wantAlgorithmID is the AlgorithmIdentifier package auth writes for key
// with opts, the reference the session's choice is compared with.
func wantAlgorithmID(t *testing.T, key crypto.Signer, opts auth.SignatureOptions) []byte {
	t.Helper()
	a, err := auth.NewSignatureAuthenticator(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.AuthData(nil, []byte("octets"))
	if err != nil {
		t.Fatal(err)
	}
	return algorithmID(t, d)
}

func testKeys(t *testing.T) map[string]crypto.Signer {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"rsa": rk, "p256": ek, "ed25519": edk}
}

// TestSignatureHashChoice: with Config.SignatureKey, the hash of an RFC
// 7427 signature follows the peer's SIGNATURE_HASH_ALGORITHMS through
// auth.ChooseHash (RFC 7427 section 4); without the notification, or
// without a common hash, the key's default is used; a configured hash or
// a method with a fixed hash is left alone.
func TestSignatureHashChoice(t *testing.T) {
	keys := testKeys(t)
	all := auth.SupportedHashAlgorithms(false)
	cases := []struct {
		key  string
		opts auth.SignatureOptions
		peer []auth.HashAlgorithm // nil: no notification
		want auth.SignatureOptions
	}{
		{"rsa", auth.SignatureOptions{}, all, auth.SignatureOptions{Hash: auth.HashSHA2_512}},
		{"rsa", auth.SignatureOptions{}, []auth.HashAlgorithm{auth.HashSHA1, auth.HashSHA2_384}, auth.SignatureOptions{Hash: auth.HashSHA2_384}},
		{"rsa", auth.SignatureOptions{RSAPSS: true}, []auth.HashAlgorithm{auth.HashSHA2_256, 9999}, auth.SignatureOptions{RSAPSS: true, Hash: auth.HashSHA2_256}},
		{"rsa", auth.SignatureOptions{}, nil, auth.SignatureOptions{}},
		{"rsa", auth.SignatureOptions{}, []auth.HashAlgorithm{auth.HashSHA1}, auth.SignatureOptions{}},
		{"rsa", auth.SignatureOptions{Hash: auth.HashSHA2_256}, all, auth.SignatureOptions{Hash: auth.HashSHA2_256}},
		{"p256", auth.SignatureOptions{}, []auth.HashAlgorithm{auth.HashSHA2_256, auth.HashSHA2_384}, auth.SignatureOptions{Hash: auth.HashSHA2_384}},
		{"p256", auth.SignatureOptions{Method: auth.MethodDigitalSignature}, all, auth.SignatureOptions{Hash: auth.HashSHA2_512}},
		{"ed25519", auth.SignatureOptions{}, all, auth.SignatureOptions{}},
		{"ed25519", auth.SignatureOptions{}, []auth.HashAlgorithm{auth.HashSHA2_256}, auth.SignatureOptions{}},
	}
	for _, c := range cases {
		key := keys[c.key]
		cfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
		cfg.Auth, cfg.SignatureKey, cfg.SignatureOptions = nil, key, c.opts
		if err := cfg.check(); err != nil {
			t.Fatal(err)
		}
		s, err := newSession(cfg, addrI, addrR)
		if err != nil {
			t.Fatal(err)
		}
		s.handshake = &handshake{}
		if c.peer != nil {
			s.peerSignatureHashes([]isakmp.Payload{notify(isakmp.NotifySignatureHashAlgorithms,
				auth.AppendSignatureHashAlgorithms(nil, c.peer))})
		}
		a, err := s.authenticator()
		if err != nil {
			t.Fatalf("%s %+v peer %v: %v", c.key, c.opts, c.peer, err)
		}
		d, err := a.AuthData(nil, []byte("octets"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := algorithmID(t, d), wantAlgorithmID(t, key, c.want); !bytes.Equal(got, want) {
			t.Errorf("%s %+v peer %v: AlgorithmIdentifier %x, want that of %+v (%x)", c.key, c.opts, c.peer, got, c.want, want)
		}
	}
	// Methods with a fixed hash ignore the list.
	cfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	cfg.Auth, cfg.SignatureKey = nil, keys["p256"]
	cfg.SignatureOptions = auth.SignatureOptions{Method: auth.MethodECDSASHA256P256}
	s, err := newSession(cfg, addrI, addrR)
	if err != nil {
		t.Fatal(err)
	}
	s.handshake = &handshake{peerHashes: []auth.HashAlgorithm{auth.HashSHA2_512}}
	if a, err := s.authenticator(); err != nil || a.Method() != auth.MethodECDSASHA256P256 {
		t.Fatalf("method 9: %v %v", a, err)
	}
	// A malformed notification counts as absent.
	s.handshake = &handshake{}
	s.peerSignatureHashes([]isakmp.Payload{notify(isakmp.NotifySignatureHashAlgorithms, []byte{0, 2, 0})})
	if s.handshake.peerHashes != nil {
		t.Fatalf("malformed list taken: %v", s.handshake.peerHashes)
	}
}

// TestSignatureKeyConfig: exactly one of Auth and SignatureKey, and a key
// that can sign with the options.
func TestSignatureKeyConfig(t *testing.T) {
	keys := testKeys(t)
	cfg := pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
	both := *cfg
	both.SignatureKey = keys["p256"]
	if err := both.check(); err == nil {
		t.Error("Auth and SignatureKey both accepted")
	}
	neither := *cfg
	neither.Auth = nil
	if err := neither.check(); err == nil {
		t.Error("no local credential accepted")
	}
	wrong := neither
	wrong.SignatureKey = keys["ed25519"]
	wrong.SignatureOptions = auth.SignatureOptions{Method: auth.MethodRSASignature}
	if err := wrong.check(); err == nil {
		t.Error("RSA method with an Ed25519 key accepted")
	}
}

// TestHandshakeSignatureHash: both sides authenticate with certificates
// and Config.SignatureKey; each announces SHA2-256/384/512 and Identity,
// so each signs with SHA2-512 (ECDSA, RSA) or Identity (Ed25519), as the
// AUTH payloads on the wire show, and each verifies the other.
func TestHandshakeSignatureHash(t *testing.T) {
	keys := testKeys(t)
	for _, kind := range []string{"p256", "rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			ca := newTestCA(t)
			ikey, rkey := keys[kind], keys["p256"]
			icfg := certConfig(t, pskConfig(t, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16"), ca, ikey, 0)
			rcfg := certConfig(t, pskConfig(t, false, "aes128gcm16-prfsha256-x25519", "aes128gcm16"), ca, rkey, 0)
			icfg.Auth, icfg.SignatureKey = nil, ikey
			rcfg.Auth, rcfg.SignatureKey = nil, rkey
			p := newPair(t, icfg, rcfg)
			p.run()
			if !p.i.Established() || !p.r.Established() {
				t.Fatalf("not established: %v / %v", kinds(p.evI), kinds(p.evR))
			}
			// Decrypt the IKE_AUTH request and response with the keys of
			// the side that received them.
			authOf := func(msg []byte, rx *skCrypter) []byte {
				var m isakmp.Message
				b := bytes.Clone(msg)
				if err := m.Decode(b); err != nil {
					t.Fatal(err)
				}
				sk := m.Payloads[len(m.Payloads)-1].(*isakmp.Encrypted)
				inner, err := rx.open(b, len(b)-len(sk.Data))
				if err != nil {
					t.Fatal(err)
				}
				ps, _, err := isakmp.DecodePayloads(nil, isakmp.MajorIKEv2, sk.Inner, inner)
				if err != nil {
					t.Fatal(err)
				}
				a := find[*isakmp.Auth](ps)
				if a == nil || a.Method != isakmp.AuthMethod(auth.MethodDigitalSignature) {
					t.Fatalf("AUTH payload %+v", a)
				}
				return algorithmID(t, a.Data)
			}
			wantHash := func(key crypto.Signer) auth.SignatureOptions {
				if _, ok := key.(ed25519.PrivateKey); ok {
					return auth.SignatureOptions{}
				}
				return auth.SignatureOptions{Hash: auth.HashSHA2_512}
			}
			if got, want := authOf(p.wireI[1], p.r.sa.rx), wantAlgorithmID(t, ikey, wantHash(ikey)); !bytes.Equal(got, want) {
				t.Errorf("initiator signed with %x, want %x", got, want)
			}
			if got, want := authOf(p.wireR[1], p.i.sa.rx), wantAlgorithmID(t, rkey, wantHash(rkey)); !bytes.Equal(got, want) {
				t.Errorf("responder signed with %x, want %x", got, want)
			}
		})
	}
}

// BenchmarkSignatureKeyAuth measures signing an AUTH payload through
// Config.SignatureKey (a signer made per IKE SA for the hash chosen from
// the peer's list) against the baseline of a fixed Config.Auth signer with
// the same key and hash, both ECDSA P-256 with SHA2-512: the ratio is the
// cost of honouring SIGNATURE_HASH_ALGORITHMS.
func BenchmarkSignatureKeyAuth(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	octets := make([]byte, 600)
	b.Run("baseline-fixed-auth", func(b *testing.B) {
		a, err := auth.NewSignatureAuthenticator(key, auth.SignatureOptions{Hash: auth.HashSHA2_512})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.AuthData(nil, octets); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("signature-key", func(b *testing.B) {
		cfg := pskConfig(b, true, "aes128gcm16-prfsha256-x25519", "aes128gcm16")
		cfg.Auth, cfg.SignatureKey = nil, key
		s, err := newSession(cfg, addrI, addrR)
		if err != nil {
			b.Fatal(err)
		}
		s.handshake = &handshake{peerHashes: auth.SupportedHashAlgorithms(false)}
		b.ReportAllocs()
		for b.Loop() {
			a, err := s.authenticator()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := a.AuthData(nil, octets); err != nil {
				b.Fatal(err)
			}
		}
	})
}
