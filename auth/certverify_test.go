package auth

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type certWorld struct {
	root, inter, other *testCA
	leaves             map[string]*x509.Certificate
	keys               map[string]crypto.Signer
}

// newCertWorld makes a root, an intermediate and leaves with RSA, ECDSA and
// Ed25519 keys, plus leaves for every rejection case.
func newCertWorld(t testing.TB) *certWorld {
	t.Helper()
	w := &certWorld{leaves: map[string]*x509.Certificate{}, keys: map[string]crypto.Signer{}}
	w.root = newTestRoot(t, "Test Root CA", testCAKey())
	w.inter = w.root.intermediate(t, "Test Intermediate CA", testIntKey())
	w.other = newTestRoot(t, "Other Root CA", testOtherKey())
	add := func(name string, ca *testCA, tmpl *x509.Certificate, key crypto.Signer) {
		w.leaves[name] = ca.issue(t, tmpl, key.Public())
		w.keys[name] = key
	}
	add("rsa", w.inter, leafTemplate("rsa.example.test"), testRSAKey())
	add("ecdsa", w.inter, leafTemplate("ecdsa.example.test"), testP384Key())
	add("ed25519", w.inter, leafTemplate("ed.example.test"), testEd25519())
	direct := leafTemplate("direct.example.test")
	add("direct", w.root, direct, testP256Key())

	expired := leafTemplate("expired.example.test")
	expired.NotBefore, expired.NotAfter = testNow.AddDate(-2, 0, 0), testNow.AddDate(0, 0, -1)
	add("expired", w.inter, expired, testP256Key())

	future := leafTemplate("future.example.test")
	future.NotBefore = testNow.AddDate(0, 0, 1)
	add("notyetvalid", w.inter, future, testP256Key())

	add("wrongroot", w.other, leafTemplate("rsa.example.test"), testRSAKey())

	ku := leafTemplate("ku.example.test")
	ku.KeyUsage = x509.KeyUsageKeyEncipherment
	add("wrong-keyusage", w.inter, ku, testRSAKey())

	eku := leafTemplate("eku.example.test")
	eku.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	add("tls-eku", w.inter, eku, testP256Key())

	ekuEmail := leafTemplate("email.example.test")
	ekuEmail.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	add("wrong-eku", w.inter, ekuEmail, testP256Key())

	ike := leafTemplate("ike.example.test")
	ike.UnknownExtKeyUsage = append(ike.UnknownExtKeyUsage, oidIPsecIKE)
	ike.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	add("ipsec-ike-eku", w.inter, ike, testP256Key())

	add("revoked", w.inter, leafTemplate("revoked.example.test"), testP256Key())

	// A leaf "issued" by a non-CA end-entity certificate.
	notCA := &testCA{cert: w.leaves["direct"], key: testP256Key()}
	add("issued-by-leaf", notCA, leafTemplate("sub.example.test"), testP256Key())
	return w
}

func (w *certWorld) verifier(t testing.TB, cfg CertVerifierConfig) *CertVerifier {
	t.Helper()
	if cfg.Roots == nil {
		cfg.Roots = []*x509.Certificate{w.root.cert}
	}
	return must(NewCertVerifier(cfg))
}

func (w *certWorld) crl(t testing.TB, ca *testCA, revoked ...*x509.Certificate) *x509.RevocationList {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: testNow.AddDate(0, -1, 0)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                testNow.AddDate(0, 0, -7),
		NextUpdate:                testNow.AddDate(0, 0, 7),
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return must(x509.ParseRevocationList(der))
}

func ders(certs ...*x509.Certificate) [][]byte {
	out := make([][]byte, len(certs))
	for i, c := range certs {
		out[i] = c.Raw
	}
	return out
}

func mustDN(t testing.TB, c *x509.Certificate) Identity {
	return Identity{Type: IDDERASN1DN, Data: c.RawSubject}
}

func TestCertVerifyChains(t *testing.T) {
	w := newCertWorld(t)
	v := w.verifier(t, CertVerifierConfig{})
	octets := []byte("ResponderSignedOctets")
	tests := []struct {
		name  string
		leaf  string
		id    Identity
		inter bool
		err   error
		msg   string
	}{
		{"rsa fqdn", "rsa", FQDN("RSA.example.test"), true, nil, ""},
		{"rsa ipv4", "rsa", IP(netip.MustParseAddr("192.0.2.10")), true, nil, ""},
		{"rsa ipv6", "rsa", IP(netip.MustParseAddr("2001:db8::10")), true, nil, ""},
		{"rsa email", "rsa", RFC822("admin@rsa.example.test"), true, nil, ""},
		{"ecdsa dn", "ecdsa", Identity{}, true, nil, ""},
		{"ed25519 fqdn", "ed25519", FQDN("ed.example.test"), true, nil, ""},
		{"direct under root", "direct", FQDN("direct.example.test"), false, nil, ""},
		{"tls eku refused by default", "tls-eku", FQDN("eku.example.test"), true, ErrCertificate, "extended key usage"},
		{"ipsecIKE eku", "ipsec-ike-eku", FQDN("ike.example.test"), true, nil, ""},
		{"missing intermediate", "rsa", FQDN("rsa.example.test"), false, ErrCertificate, "does not chain to a trusted root"},
		{"expired", "expired", FQDN("expired.example.test"), true, ErrCertificate, "expired or not yet valid"},
		{"not yet valid", "notyetvalid", FQDN("future.example.test"), true, ErrCertificate, "expired or not yet valid"},
		{"wrong root", "wrongroot", FQDN("rsa.example.test"), false, ErrCertificate, "does not chain to a trusted root"},
		{"wrong identity fqdn", "rsa", FQDN("other.example.test"), true, ErrIdentityMismatch, "dNSName"},
		{"wrong identity ip", "rsa", IP(netip.MustParseAddr("192.0.2.11")), true, ErrIdentityMismatch, "iPAddress"},
		{"wrong identity email", "rsa", RFC822("root@rsa.example.test"), true, ErrIdentityMismatch, "rfc822Name"},
		{"wrong identity dn", "rsa", Identity{Type: IDDERASN1DN}, true, ErrIdentityMismatch, "subject"},
		{"key id unsupported", "rsa", KeyID([]byte{1}), true, ErrIdentityMismatch, "cannot be matched"},
		{"wrong key usage", "wrong-keyusage", FQDN("ku.example.test"), true, ErrCertificate, "digitalSignature"},
		{"wrong eku", "wrong-eku", FQDN("email.example.test"), true, ErrCertificate, "extended key usage"},
		{"issued by a leaf", "issued-by-leaf", FQDN("sub.example.test"), true, ErrCertificate, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leaf := w.leaves[tc.leaf]
			id := tc.id
			if id.Type == 0 {
				id = mustDN(t, leaf)
			}
			if tc.name == "wrong identity dn" {
				id = must(DN(pkix.Name{CommonName: "someone else"}))
			}
			certs := ders(leaf)
			if tc.inter {
				certs = append(certs, w.inter.cert.Raw)
			}
			if tc.leaf == "issued-by-leaf" {
				certs = append(certs, w.leaves["direct"].Raw)
			}
			pc, err := v.Verify(id, certs, testNow)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !pc.Leaf.Equal(leaf) || !pc.Chain[len(pc.Chain)-1].Equal(w.root.cert) {
				t.Fatal("wrong chain")
			}
			// The accepted certificate verifies the AUTH payload made
			// with its key, and refuses one made with another key.
			a := must(NewSignatureAuthenticator(w.keys[tc.leaf], SignatureOptions{}))
			data := must(a.AuthData(nil, octets))
			if err := pc.VerifyAuthData(a.Method(), data, nil, octets); err != nil {
				t.Fatalf("AUTH with the certificate's key: %v", err)
			}
			forged := must(NewSignatureAuthenticator(testRSAKey2(), SignatureOptions{}))
			if err := pc.VerifyAuthData(forged.Method(), must(forged.AuthData(nil, octets)), nil, octets); err == nil {
				t.Fatal("AUTH with another key verified")
			}
		})
	}
	// AcceptTLSExtKeyUsage admits serverAuth-only certificates.
	vt := w.verifier(t, CertVerifierConfig{AcceptTLSExtKeyUsage: true})
	if _, err := vt.Verify(FQDN("eku.example.test"), ders(w.leaves["tls-eku"], w.inter.cert), testNow); err != nil {
		t.Errorf("AcceptTLSExtKeyUsage: %v", err)
	}
	if _, err := v.Verify(FQDN("x"), nil, testNow); !errors.Is(err, ErrCertificate) {
		t.Errorf("no certs: %v", err)
	}
	if _, err := v.Verify(FQDN("x"), [][]byte{{0x30, 0x00}}, testNow); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage cert: %v", err)
	}
	if _, err := NewCertVerifier(CertVerifierConfig{}); err == nil {
		t.Error("verifier without roots")
	}
}

func TestCertRevocation(t *testing.T) {
	w := newCertWorld(t)
	interCRL := w.crl(t, w.inter, w.leaves["revoked"])
	rootCRL := w.crl(t, w.root)
	forged := w.crl(t, w.other) // signed by the wrong CA
	forged.RawIssuer = w.inter.cert.RawSubject
	tests := []struct {
		name string
		mode RevocationMode
		crls []*x509.RevocationList
		leaf string
		err  string
	}{
		{"off ignores CRL", RevocationOff, []*x509.RevocationList{interCRL}, "revoked", ""},
		{"revoked", RevocationIfAvailable, []*x509.RevocationList{interCRL}, "revoked", "was revoked"},
		{"not revoked", RevocationIfAvailable, []*x509.RevocationList{interCRL}, "rsa", ""},
		{"no CRL if-available", RevocationIfAvailable, nil, "revoked", ""},
		{"no CRL required", RevocationRequired, nil, "rsa", "no current CRL"},
		{"required with both CRLs", RevocationRequired, []*x509.RevocationList{interCRL, rootCRL}, "rsa", ""},
		{"required, intermediate CRL missing", RevocationRequired, []*x509.RevocationList{rootCRL}, "rsa", "no current CRL"},
		{"forged CRL ignored", RevocationRequired, []*x509.RevocationList{rootCRL, forged}, "rsa", "no current CRL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := w.verifier(t, CertVerifierConfig{Revocation: tc.mode, CRLs: tc.crls})
			leaf := w.leaves[tc.leaf]
			_, err := v.Verify(mustDN(t, leaf), ders(leaf, w.inter.cert), testNow)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	// A stale CRL (past nextUpdate) does not count.
	v := w.verifier(t, CertVerifierConfig{Revocation: RevocationRequired, CRLs: []*x509.RevocationList{interCRL, rootCRL}})
	if _, err := v.Verify(FQDN("rsa.example.test"), ders(w.leaves["rsa"], w.inter.cert), testNow.AddDate(0, 0, 8)); err == nil || !strings.Contains(err.Error(), "no current CRL") {
		t.Fatalf("stale CRL: %v", err)
	}
}

func TestCertReq(t *testing.T) {
	w := newCertWorld(t)
	data := AppendCertReqData(nil, []*x509.Certificate{w.other.cert, w.root.cert})
	if len(data) != 40 {
		t.Fatalf("len %d", len(data))
	}
	hashes, err := ParseCertReqData(data)
	if err != nil || len(hashes) != 2 {
		t.Fatal(hashes, err)
	}
	if hashes[1] != CAHash(w.root.cert) {
		t.Fatal("hash order")
	}
	if _, err := ParseCertReqData(data[:39]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("odd length: %v", err)
	}
	if h, err := ParseCertReqData(nil); err != nil || len(h) != 0 {
		t.Fatalf("empty: %v", err)
	}

	rsaSigner := must(NewSignatureAuthenticator(testRSAKey(), SignatureOptions{}))
	viaInter := must(NewLocalCertificate([]*x509.Certificate{w.leaves["rsa"], w.inter.cert}, []*x509.Certificate{w.root.cert}, rsaSigner))
	viaOther := must(NewLocalCertificate([]*x509.Certificate{w.leaves["wrongroot"]}, []*x509.Certificate{w.other.cert}, rsaSigner))
	locals := []*LocalCertificate{viaOther, viaInter}
	tests := []struct {
		name  string
		req   []*x509.Certificate
		want  *LocalCertificate
		match bool
	}{
		{"root requested", []*x509.Certificate{w.root.cert}, viaInter, true},
		{"intermediate requested", []*x509.Certificate{w.inter.cert}, viaInter, true},
		{"other requested", []*x509.Certificate{w.other.cert}, viaOther, true},
		{"nothing requested", nil, viaOther, true},
		{"unknown CA", []*x509.Certificate{w.leaves["direct"]}, viaOther, false},
	}
	for _, tc := range tests {
		hashes, _ := ParseCertReqData(AppendCertReqData(nil, tc.req))
		got, ok := SelectCertificate(locals, hashes)
		if got != tc.want || ok != tc.match {
			t.Errorf("%s: got %v %v", tc.name, got == viaInter, ok)
		}
	}
	if got := viaInter.CertPayloads(); len(got) != 2 || !bytes.Equal(got[0], w.leaves["rsa"].Raw) {
		t.Error("CertPayloads")
	}
	if _, err := NewLocalCertificate([]*x509.Certificate{w.leaves["ecdsa"]}, nil, rsaSigner); err == nil {
		t.Error("key/certificate mismatch accepted")
	}
	// End to end: the local credential's AUTH verifies at the peer.
	v := w.verifier(t, CertVerifierConfig{})
	pc := must(v.Verify(FQDN("rsa.example.test"), viaInter.CertPayloads(), testNow))
	octets := []byte("octets")
	if err := pc.VerifyAuthData(viaInter.Method(), must(viaInter.AuthData(nil, octets)), nil, octets); err != nil {
		t.Fatal(err)
	}
}

// strongSwan pki certificates (testdata/strongswan-pki, made by gen.sh with
// strongSwan 5.9.8's pki tool). They are valid from 2026-11-27 for ~19
// years; tests verify them at a fixed time.
var pkiNow = time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)

func loadPKI(t testing.TB, name string) []*x509.Certificate {
	t.Helper()
	c, err := LoadCertificates(filepath.Join("testdata/strongswan-pki", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStrongSwanPKICertificates(t *testing.T) {
	root := loadPKI(t, "ca-rsa.crt")[0]
	inter := loadPKI(t, "int-ecdsa.crt")[0]
	crl := must(LoadCRL("testdata/strongswan-pki/int-ecdsa.crl"))
	v := must(NewCertVerifier(CertVerifierConfig{
		Roots: []*x509.Certificate{root}, CRLs: []*x509.RevocationList{crl},
		Revocation: RevocationIfAvailable, AcceptTLSExtKeyUsage: true,
	}))
	strict := must(NewCertVerifier(CertVerifierConfig{Roots: []*x509.Certificate{root}}))
	octets := []byte("signed octets for the strongSwan keys")
	tests := []struct {
		name, cert, key string
		id              Identity
		verifier        *CertVerifier
		err             error
		msg             string
	}{
		{"moon rsa der fqdn", "moon-rsa.crt.der", "moon-rsa.key.der", FQDN("moon.strongswan.test"), v, nil, ""},
		{"moon rsa ipv4", "moon-rsa.crt.der", "moon-rsa.key.der", IP(netip.MustParseAddr("192.0.2.1")), strict, nil, ""},
		{"carol ecdsa email", "carol-ecdsa.crt", "carol-ecdsa.key", RFC822("carol@strongswan.test"), v, nil, ""},
		{"carol ecdsa ipv6", "carol-ecdsa.crt", "carol-ecdsa.key", IP(netip.MustParseAddr("2001:db8::c")), v, nil, ""},
		{"sun ed25519 (serverAuth)", "sun-ed25519.crt", "sun-ed25519.key", FQDN("sun.strongswan.test"), v, nil, ""},
		{"sun ed25519 strict eku", "sun-ed25519.crt", "sun-ed25519.key", FQDN("sun.strongswan.test"), strict, ErrCertificate, "extended key usage"},
		{"venus revoked by pki CRL", "venus-revoked.crt", "venus-revoked.key", FQDN("venus.strongswan.test"), v, ErrCertificate, "was revoked"},
		{"carol wrong identity", "carol-ecdsa.crt", "carol-ecdsa.key", RFC822("dave@strongswan.test"), v, ErrIdentityMismatch, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leaf := loadPKI(t, tc.cert)[0]
			id := tc.id
			pc, err := tc.verifier.Verify(id, ders(leaf, inter), pkiNow)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want %v %q", err, tc.err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			key := must(LoadPrivateKey(filepath.Join("testdata/strongswan-pki", tc.key)))
			a := must(NewSignatureAuthenticator(key, SignatureOptions{}))
			if err := pc.VerifyAuthData(a.Method(), must(a.AuthData(nil, octets)), nil, octets); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Distinguished-name identity as strongSwan would send it (the DER subject).
	carol := loadPKI(t, "carol-ecdsa.crt")[0]
	if _, err := v.Verify(Identity{Type: IDDERASN1DN, Data: carol.RawSubject}, ders(carol, inter), pkiNow); err != nil {
		t.Errorf("DN identity: %v", err)
	}
	// Wrong root: the pki "other" CA does not anchor these certificates.
	other := loadPKI(t, "other-ca.crt")[0]
	vo := must(NewCertVerifier(CertVerifierConfig{Roots: []*x509.Certificate{other}}))
	if _, err := vo.Verify(FQDN("moon.strongswan.test"), ders(loadPKI(t, "moon-rsa.crt.der")[0]), pkiNow); !errors.Is(err, ErrCertificate) {
		t.Errorf("wrong root: %v", err)
	}
	// After the leaf's notAfter (Oct 2045) the certificate is expired.
	if _, err := v.Verify(FQDN("moon.strongswan.test"), ders(loadPKI(t, "moon-rsa.crt.der")[0]), time.Date(2045, 12, 1, 0, 0, 0, 0, time.UTC)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
}

// TestStrongSwanKeyIDIsCAHash checks CAHash against the "keyid" that
// strongSwan's pki --print reports (SHA-1 over the SubjectPublicKeyInfo,
// strongSwan's KEYID_PUBKEY_INFO_SHA1, which charon puts in CERTREQs).
func TestStrongSwanKeyIDIsCAHash(t *testing.T) {
	re := regexp.MustCompile(`(?m)^\s*keyid:\s*([0-9a-f:]+)`)
	for _, name := range []string{"ca-rsa.crt", "int-ecdsa.crt", "other-ca.crt"} {
		txt, err := os.ReadFile(filepath.Join("testdata/strongswan-pki", name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindSubmatch(txt)
		if m == nil {
			t.Fatalf("%s: no keyid in pki --print output", name)
		}
		want := strings.ReplaceAll(string(m[1]), ":", "")
		h := CAHash(loadPKI(t, name)[0])
		if hex.EncodeToString(h[:]) != want {
			t.Errorf("%s: CAHash %x, pki keyid %s", name, h, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadCertificates(write("junk.pem", []byte("-----BEGIN JUNK-----\nAAAA\n-----END JUNK-----\n"))); !errors.Is(err, ErrMalformed) {
		t.Errorf("no cert block: %v", err)
	}
	if _, err := LoadCertificates(write("junk.der", []byte{0x30, 0x03, 0x02, 0x01, 0x01})); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad der: %v", err)
	}
	if _, err := LoadCertificates(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file")
	}
	if _, err := LoadPrivateKey(write("enc.pem", []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))); !errors.Is(err, ErrUnsupportedMethod) {
		t.Errorf("encrypted key: %v", err)
	}
	if _, err := ParsePrivateKey([]byte{1, 2, 3}); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad key: %v", err)
	}
	if _, err := ParseCRL([]byte{1, 2, 3}); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad crl: %v", err)
	}
	// PEM bundle with two certificates and a key in the middle.
	b1, _ := os.ReadFile("testdata/strongswan-pki/int-ecdsa.crt")
	k, _ := os.ReadFile("testdata/strongswan-pki/int-ecdsa.key")
	b2, _ := os.ReadFile("testdata/strongswan-pki/ca-rsa.crt")
	certs, err := ParseCertificates(append(append(b1, k...), b2...))
	if err != nil || len(certs) != 2 {
		t.Errorf("bundle: %d %v", len(certs), err)
	}
	// DER private key (PKCS#1 or PKCS#8 as pki wrote it) and PEM SEC 1.
	for _, name := range []string{"moon-rsa.key.der", "int-ecdsa.key", "sun-ed25519.key", "ca-rsa.key"} {
		if _, err := LoadPrivateKey(filepath.Join("testdata/strongswan-pki", name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzCertVerify feeds arbitrary CERT payload bodies to the verifier.
func FuzzCertVerify(f *testing.F) {
	root := loadPKI(f, "ca-rsa.crt")[0]
	inter := loadPKI(f, "int-ecdsa.crt")[0]
	carol := loadPKI(f, "carol-ecdsa.crt")[0]
	v := must(NewCertVerifier(CertVerifierConfig{Roots: []*x509.Certificate{root}}))
	f.Add(carol.Raw, inter.Raw)
	f.Add(carol.Raw[:100], inter.Raw)
	f.Add([]byte{0x30, 0x82, 0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, leaf, intermediate []byte) {
		_, err := v.Verify(RFC822("carol@strongswan.test"), [][]byte{leaf, intermediate}, pkiNow)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrCertificate) && !errors.Is(err, ErrIdentityMismatch) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

func FuzzParseCertReqData(f *testing.F) {
	f.Add(make([]byte, 40))
	f.Add(make([]byte, 19))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseCertReqData(data)
		if err != nil {
			return
		}
		var b []byte
		for _, x := range h {
			b = append(b, x[:]...)
		}
		if !bytes.Equal(b, data) {
			t.Fatal("round trip differs")
		}
	})
}

// BenchmarkCertVerify measures CertVerifier.Verify against its baseline,
// x509.Certificate.Verify of the same parsed chain.
func BenchmarkCertVerify(b *testing.B) {
	root := loadPKI(b, "ca-rsa.crt")[0]
	inter := loadPKI(b, "int-ecdsa.crt")[0]
	carol := loadPKI(b, "carol-ecdsa.crt")[0]
	pool := x509.NewCertPool()
	pool.AddCert(root)
	ipool := x509.NewCertPool()
	ipool.AddCert(inter)
	b.Run("baseline-x509-parse+Verify", func(b *testing.B) {
		for b.Loop() {
			l := must(x509.ParseCertificate(carol.Raw))
			_ = must(x509.ParseCertificate(inter.Raw))
			if _, err := l.Verify(x509.VerifyOptions{Roots: pool, Intermediates: ipool, CurrentTime: pkiNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CertVerifier.Verify", func(b *testing.B) {
		v := must(NewCertVerifier(CertVerifierConfig{Roots: []*x509.Certificate{root}}))
		id := RFC822("carol@strongswan.test")
		certs := ders(carol, inter)
		for b.Loop() {
			if _, err := v.Verify(id, certs, pkiNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}
