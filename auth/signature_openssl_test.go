package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ipsecgo/ipsec/internal/testenv"
)

// TestSignaturesOpenSSL cross-checks the AUTH signatures with an
// independent implementation, the OpenSSL command-line tool: every
// signature this package makes verifies with openssl, and every signature
// openssl makes (wrapped in the RFC 7427 AUTH layout) verifies here. The
// keys are the strongSwan pki keys in testdata.
func TestSignaturesOpenSSL(t *testing.T) {
	openssl := testenv.NeedCommand(t, "openssl", "openssl")
	dir := t.TempDir()
	octets := []byte("InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI")
	data := filepath.Join(dir, "octets")
	if err := os.WriteFile(data, octets, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) error {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}
	keyFile := func(name string) (string, crypto.Signer) {
		p := filepath.Join("testdata/strongswan-pki", name)
		k := must(LoadPrivateKey(p))
		der := must(x509.MarshalPKCS8PrivateKey(k))
		kp := filepath.Join(dir, name+".pk8.pem")
		if err := os.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		pub := must(x509.MarshalPKIXPublicKey(k.Public()))
		pp := filepath.Join(dir, name+".pub.pem")
		if err := os.WriteFile(pp, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
			t.Fatal(err)
		}
		return kp, k
	}
	tests := []struct {
		name string
		key  string
		opts SignatureOptions
		// openssl arguments to sign (prefix; -out is appended) and verify.
		digest []string
		raw    bool // Ed25519: pkeyutl -rawin
	}{
		{"rsa method 1", "moon-rsa.key.der", SignatureOptions{Method: MethodRSASignature}, []string{"-sha1"}, false},
		{"rsa pkcs1 sha256", "moon-rsa.key.der", SignatureOptions{Hash: HashSHA2_256}, []string{"-sha256"}, false},
		{"rsa pkcs1 sha512", "moon-rsa.key.der", SignatureOptions{Hash: HashSHA2_512}, []string{"-sha512"}, false},
		{"rsa pss sha256", "moon-rsa.key.der", SignatureOptions{Hash: HashSHA2_256, RSAPSS: true}, []string{"-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256"}, false},
		{"rsa pss sha384", "moon-rsa.key.der", SignatureOptions{Hash: HashSHA2_384, RSAPSS: true}, []string{"-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48", "-sigopt", "rsa_mgf1_md:sha384"}, false},
		{"ecdsa p384 sha384", "carol-ecdsa.key", SignatureOptions{}, []string{"-sha384"}, false},
		{"ecdsa p256 sha256", "venus-revoked.key", SignatureOptions{}, []string{"-sha256"}, false},
		{"ed25519", "sun-ed25519.key", SignatureOptions{}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			priv, key := keyFile(tc.key)
			pub := filepath.Join(dir, tc.key+".pub.pem")
			a := must(NewSignatureAuthenticator(key, tc.opts))
			authData := must(a.AuthData(nil, octets))
			sig, prefix := authData, []byte(nil)
			if a.Method() == MethodDigitalSignature {
				n := 1 + int(authData[0])
				sig, prefix = authData[n:], authData[:n]
			}
			ours := filepath.Join(dir, "ours.sig")
			if err := os.WriteFile(ours, sig, 0o600); err != nil {
				t.Fatal(err)
			}
			theirs := filepath.Join(dir, "theirs.sig")
			if tc.raw {
				if err := run(t, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", data, "-sigfile", ours); err != nil {
					t.Fatalf("openssl rejects our signature: %v", err)
				}
				if err := run(t, "pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", data, "-out", theirs); err != nil {
					t.Fatal(err)
				}
			} else {
				args := append([]string{"dgst"}, tc.digest...)
				if err := run(t, append(args, "-verify", pub, "-signature", ours, data)...); err != nil {
					t.Fatalf("openssl rejects our signature: %v", err)
				}
				if err := run(t, append(args, "-sign", priv, "-out", theirs, data)...); err != nil {
					t.Fatal(err)
				}
			}
			osig, err := os.ReadFile(theirs)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifySignatureAuthData(key.Public(), a.Method(), append(prefix, osig...), octets, VerifyOptions{}); err != nil {
				t.Fatalf("openssl's signature rejected: %v", err)
			}
		})
	}
	// IKEv1 RSA: raw PKCS#1 v1.5 over HASH_I, no DigestInfo.
	t.Run("ikev1 rsa", func(t *testing.T) {
		_, key := keyFile("moon-rsa.key.der")
		hash := mustHash(HashSHA1, octets)
		sig := must(SignIKEv1RSA(key, hash))
		hf, sf := filepath.Join(dir, "hash"), filepath.Join(dir, "v1.sig")
		_ = os.WriteFile(hf, hash, 0o600)
		_ = os.WriteFile(sf, sig, 0o600)
		if err := run(t, "pkeyutl", "-verify", "-pubin", "-inkey", filepath.Join(dir, "moon-rsa.key.der.pub.pem"), "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", hf, "-sigfile", sf); err != nil {
			t.Fatalf("openssl rejects the IKEv1 signature: %v", err)
		}
	})
}
