package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
)

// testCA makes a root and issues leaves for FQDN identities, with the
// IKE extended key usage of RFC 4945 5.1.3.12.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t *testing.T) *testCA { return newTestCAAt(t, t0) }

func newTestCAAt(t *testing.T, at time.Time) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ike test root"},
		NotBefore: at.Add(-time.Hour), NotAfter: at.Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

func (ca *testCA) issue(t *testing.T, name string, key crypto.Signer) []byte {
	return ca.issueAt(t, name, key, ca.cert.NotBefore.Add(time.Hour))
}

func (ca *testCA) issueAt(t *testing.T, name string, key crypto.Signer, at time.Time) []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: at.Add(-time.Hour), NotAfter: at.Add(24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{auth.OIDExtKeyUsageIPsecIKE}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// certConfig turns a PSK test configuration into a certificate one.
func certConfig(t *testing.T, cfg *Config, ca *testCA, key crypto.Signer, method auth.Method) *Config {
	a, err := auth.NewSignatureAuthenticator(key, auth.SignatureOptions{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewCertVerifier(auth.CertVerifierConfig{Roots: []*x509.Certificate{ca.cert}})
	if err != nil {
		t.Fatal(err)
	}
	c := *cfg
	c.Auth = a
	c.PeerAuth = CertPeers(v)
	c.Certificates = [][]byte{ca.issue(t, string(cfg.LocalID.Data), key)}
	c.CertRequestCAs = []*x509.Certificate{ca.cert}
	return &c
}

// TestHandshakeCertificates authenticates both sides with certificates
// chained to a common root: ECDSA (RFC 4754 method 9 and RFC 7427 method
// 14) and RSA (method 1 and 14), each side checking the other's chain and
// identity through package auth.
func TestHandshakeCertificates(t *testing.T) {
	ca := newTestCA(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		ik, rk     crypto.Signer
		imeth, rme auth.Method
	}{
		{"ecdsa-method9", ec, ec2, auth.MethodECDSASHA256P256, auth.MethodECDSASHA256P256},
		{"ecdsa-rfc7427", ec, ec2, auth.MethodDigitalSignature, auth.MethodDigitalSignature},
		{"rsa-method1", rk, ec2, auth.MethodRSASignature, auth.MethodDigitalSignature},
		{"rsa-rfc7427", rk, rk, auth.MethodDigitalSignature, auth.MethodDigitalSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			icfg := certConfig(t, pskConfig(t, true, "aes256gcm16-prfsha256-ecp256", "aes256gcm16"), ca, c.ik, c.imeth)
			rcfg := certConfig(t, pskConfig(t, false, "aes256gcm16-prfsha256-ecp256", "aes256gcm16"), ca, c.rk, c.rme)
			p := newPair(t, icfg, rcfg)
			p.run()
			if !p.i.Established() || !p.r.Established() {
				t.Fatalf("not established: %v (%v) / %v (%v)", kinds(p.evI), errOf(p.evI), kinds(p.evR), errOf(p.evR))
			}
			checkESP(t, findEvent(p.evI, EventChildUp).Child, findEvent(p.evR, EventChildUp).Child)
		})
	}
	// A certificate for another name is refused (RFC 4945 identity check).
	icfg := certConfig(t, pskConfig(t, true, "aes256gcm16-prfsha256-ecp256", "aes256gcm16"), ca, ec, 0)
	icfg.Certificates = [][]byte{ca.issue(t, "someone-else.example", ec)}
	rcfg := certConfig(t, pskConfig(t, false, "aes256gcm16-prfsha256-ecp256", "aes256gcm16"), ca, ec2, 0)
	p := newPair(t, icfg, rcfg)
	p.run()
	if findEvent(p.evR, EventAuthFailed) == nil || p.r.Established() {
		t.Fatalf("wrong certificate accepted: %v", kinds(p.evR))
	}
	// A self-signed certificate outside the trusted root is refused.
	other := newTestCA(t)
	icfg = certConfig(t, pskConfig(t, true, "aes256gcm16-prfsha256-ecp256", "aes256gcm16"), other, ec, 0)
	p = newPair(t, icfg, rcfg)
	p.run()
	if findEvent(p.evR, EventAuthFailed) == nil {
		t.Fatalf("untrusted chain accepted: %v", kinds(p.evR))
	}
}

func errOf(ev []Event) []error {
	var out []error
	for _, e := range ev {
		if e.Err != nil {
			out = append(out, e.Err)
		}
	}
	return out
}
