// Package auth holds the credentials that IKE uses to authenticate peers:
// pre-shared keys, X.509 certificates chaining to trusted roots, and
// Kerberos (the three methods of Windows Server 2003 IPsec). It computes and
// verifies the proofs over the octets each protocol signs; it does not parse
// IKE messages and imports none of this module's other packages.
//
// # Where it sits
//
// The ike package assembles the signed octets of RFC 7296 section 2.15
// (InitiatorSignedOctets / ResponderSignedOctets) and calls an Authenticator
// for the local AUTH payload and a PeerAuthenticator for the peer's:
//
//   - pre-shared keys: a PSKStore looked up by the peer's Identity gives a
//     *PSK (SHARED_KEY_MIC, and the IKEv1 SKEYID of RFC 2409 section 5);
//   - certificates: a CertVerifier checks the CERT payloads' chain against
//     trusted roots and the peer's ID, giving a *PeerCertificate that
//     verifies RSA (method 1), ECDSA (methods 9-11) and RFC 7427 Digital
//     Signature (method 14) AUTH data; a SignatureAuthenticator signs;
//     CERTREQ payload bodies are built by CertReqData and answered by
//     SelectCertificate;
//   - Kerberos: a KerberosInitiator obtains a service ticket and builds a
//     GSS-API AP-REQ token (RFC 4121); a KerberosAcceptor verifies it with a
//     keytab and answers with an AP-REP; both sides end with the same
//     session key for the IKE code to bind into its proof, and
//     KerberosSession.GetMIC/VerifyMIC make and check RFC 4121 MIC tokens
//     with it (checked both ways against MIT's gss-sample programs).
//     LoadKerberosHost reads a host's keytab and krb5.conf (a keytab
//     without the principal's key is refused at start-up); the acceptor's
//     replay cache can be kept in a file so that it survives restarts.
//     AES encryption types only by default; RC4-HMAC, all that Windows
//     Server 2003 domain controllers offer, is an explicit option (RFC 8429
//     deprecates it; RC4 contexts have no MIC tokens here).
//
// Everything except obtaining Kerberos tickets is sans-I/O: the current
// time is an argument and nothing blocks.
//
// # Example
//
//	store := auth.NewPSKStore(auth.PSKOptions{})
//	_ = store.Add(auth.FQDN("gw.example"), secret)
//	psk, err := store.Lookup(peerID)           // from the peer's ID payload
//	err = psk.VerifyAuthData(method, data, prf, signedOctets)
//
// References:
//   - RFC 7296 section 2.15 (AUTH payload computation), 3.5 (ID payload
//     types), 3.6-3.8 (CERT, CERTREQ, AUTH payloads)
//   - RFC 2409 section 5 (IKEv1 SKEYID for pre-shared keys; signatures)
//   - RFC 4754 (ECDSA authentication methods 9-11, r||s encoding)
//   - RFC 7427 (Digital Signature method 14, SIGNATURE_HASH_ALGORITHMS),
//     RFC 8420 (Ed25519 in IKEv2), RFC 4055 (RSASSA-PSS parameters)
//   - RFC 4945 (PKI profile for IKE: identity matching, key usage, EKU)
//   - RFC 5280 (certificate path validation, CRLs)
//   - RFC 4120 (Kerberos AP exchange, replay cache), RFC 4121 (Kerberos
//     GSS-API mechanism tokens, 4.2.6.1 MIC tokens), RFC 2743 section 3.1
//     (token framing)
package auth
