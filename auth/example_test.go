package auth_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// The responder looks up the initiator's pre-shared key by the identity in
// its ID payload and checks its AUTH payload (RFC 7296 section 2.15).
func ExamplePSKStore() {
	store := auth.NewPSKStore(auth.PSKOptions{})
	if err := store.Add(auth.FQDN("left.example.test"), []byte("a long random shared secret 7c1e")); err != nil {
		log.Fatal(err)
	}
	prf := auth.HMACPRF(sha256.New) // the IKE SA's negotiated PRF
	signedOctets := []byte("InitiatorSignedOctets from the ike package")

	// Initiator side: compute AUTH.
	mine, _ := store.Lookup(auth.FQDN("left.example.test"))
	authData, _ := mine.AuthData(prf, signedOctets)

	// Responder side: look up the peer's secret and verify.
	psk, err := store.Lookup(auth.FQDN("LEFT.example.test"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(psk.VerifyAuthData(auth.MethodSharedKeyMIC, authData, prf, signedOctets))

	_, err = auth.NewPSK([]byte("password"), auth.PSKOptions{})
	fmt.Println(err != nil)
	// Output:
	// <nil>
	// true
}

// A responder verifies a peer's CERT payloads against its trusted root and
// the peer's ID, then the AUTH payload with the accepted certificate.
func ExampleCertVerifier() {
	roots, err := auth.LoadCertificates("testdata/strongswan-pki/ca-rsa.crt")
	if err != nil {
		log.Fatal(err)
	}
	v, err := auth.NewCertVerifier(auth.CertVerifierConfig{Roots: roots})
	if err != nil {
		log.Fatal(err)
	}
	leaf, _ := auth.LoadCertificates("testdata/strongswan-pki/carol-ecdsa.crt")
	inter, _ := auth.LoadCertificates("testdata/strongswan-pki/int-ecdsa.crt")
	key, _ := auth.LoadPrivateKey("testdata/strongswan-pki/carol-ecdsa.key")

	// The peer (carol) signs; the CERTREQ it answered named our root.
	signer, _ := auth.NewSignatureAuthenticator(key, auth.SignatureOptions{})
	local, _ := auth.NewLocalCertificate([]*x509.Certificate{leaf[0], inter[0]}, roots, signer)
	requested, _ := auth.ParseCertReqData(auth.AppendCertReqData(nil, roots))
	chosen, ok := auth.SelectCertificate([]*auth.LocalCertificate{local}, requested)
	octets := []byte("ResponderSignedOctets")
	authData, _ := chosen.AuthData(nil, octets)

	// We verify.
	at := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	peer, err := v.Verify(auth.RFC822("carol@strongswan.test"), chosen.CertPayloads(), at)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ok, chosen.Method(), peer.Leaf.Subject.CommonName, len(peer.Chain))
	fmt.Println(peer.VerifyAuthData(chosen.Method(), authData, nil, octets))
	// Output:
	// true DIGITAL_SIGNATURE carol@strongswan.test 3
	// <nil>
}

// Kerberos: the initiator gets a ticket for the responder's host principal
// and sends the AP-REQ token; the responder accepts it with its keytab and
// returns the AP-REP; both sides then hold the same session key.
func ExampleKerberosAcceptor() {
	cfg, err := config.Load("/etc/krb5.conf")
	if err != nil {
		log.Fatal(err)
	}
	cl := client.NewWithPassword("alice", "EXAMPLE.TEST", "password", cfg, client.DisablePAFXFAST(true))
	ini, _ := auth.NewKerberosInitiator(cl, auth.KerberosInitiatorOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ictx, err := ini.InitSecContext(ctx, "host/gw.example.test", time.Now())
	if err != nil {
		log.Fatal(err)
	}

	kt, _ := keytab.Load("/etc/krb5.keytab")
	acc, _ := auth.NewKerberosAcceptor(auth.KerberosAcceptorConfig{Keytab: kt, Service: "host/gw.example.test", Realm: "EXAMPLE.TEST"})
	res, err := acc.Accept(ictx.Token, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	session, err := ictx.ProcessAPRep(res.APRep)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(session.Client, len(session.Key) == len(res.Session.Key))
}
