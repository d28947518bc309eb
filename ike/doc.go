// Package ike negotiates IPsec security associations with IKEv2 (RFC 7296)
// and IKEv1 (RFC 2409).
//
// It sits between the wire format in package isakmp and the transforms in
// packages esp and ah: the caller feeds a Session the IKE datagrams it
// receives and the current time, and collects the datagrams to send and
// Events such as EventChildUp, whose ChildSA carries the keys, SPIs,
// algorithms, traffic selectors and lifetimes to install (in package sad,
// or directly as esp.Config values). The session does no I/O and starts no
// goroutines or timers: Deadline says when Tick must be called next.
//
// An initiator is made with NewInitiator; a responder with Accept, from
// the first IKE_SA_INIT request:
//
//	s, _ := ike.NewInitiator(cfg, local, remote, time.Now())
//	for _, d := range s.Datagrams() { conn.WriteTo(d, remote) }
//	// on each datagram from the peer:
//	s.Receive(time.Now(), datagram)
//	for _, ev := range s.Events() { ... ev.Kind, ev.Child ... }
//	// when time.Now() passes s.Deadline():
//	s.Tick(time.Now())
//
// What the session does:
//
//   - IKE_SA_INIT with proposal selection in the responder's order of
//     preference (nothing outside its configuration is accepted),
//     INVALID_KE_PAYLOAD and a retry with the requested group, COOKIE
//     answers, NAT detection notifications;
//   - IKE_AUTH with pre-shared keys or signatures through package auth
//     (ID, CERT, AUTH), the first CHILD SA with traffic selector narrowing,
//     tunnel or transport mode (USE_TRANSPORT_MODE), ESP or AH; with
//     Config.SignatureKey, RFC 7427 signatures use the hash chosen from
//     the peer's SIGNATURE_HASH_ALGORITHMS;
//   - errors (RFC 7296 2.21): AUTHENTICATION_FAILED in the IKE_AUTH
//     response, or, when the initiator cannot verify the responder, in a
//     protected INFORMATIONAL; INVALID_MAJOR_VERSION for requests of a
//     higher IKE version (Accept, Endpoint) and, from the Endpoint and
//     rate-limited, INVALID_IKE_SPI for requests on unknown IKE SAs, both
//     unprotected one-way responses (1.5);
//   - CREATE_CHILD_SA: CHILD SA rekeying, with a new key exchange when the
//     CHILD proposals name a group (PFS), INVALID_KE_PAYLOAD retries,
//     IKE SA rekeying, and simultaneous rekeys of either resolved by the
//     nonce rule (RFC 7296 2.8.1, 2.8.2);
//   - INFORMATIONAL: deletes of CHILD and IKE SAs, liveness checks;
//   - reliability: a window of one request, retransmission with
//     exponential back-off (strongSwan's 4 s, factor 1.8, 5 tries by
//     default), retransmitted requests answered from the cached response,
//     messages failing their integrity check dropped and counted;
//   - lifetimes: CHILD and IKE SAs rekeyed before expiry, with jitter.
//
// Config.KeyLogWriter, like crypto/tls's, writes the keys of every IKE SA
// and of both directions of every CHILD SA to a file, for debugging with
// Wireshark (package ike/keylog documents the lines and converts them
// into Wireshark's decryption tables) or examples/decrypt. That file
// holds secrets: whoever reads it can decrypt the traffic of those SAs.
//
// Proposals can be written in strongSwan's syntax (ParseProposals, which
// uses package isakmp's parser and keeps what this package implements).
//
// IKEv1 lives beside IKEv2, as crypto/tls keeps TLS 1.2 beside 1.3: the
// files named *_v1.go hold SessionV1 (NewInitiatorV1, AcceptV1), which
// takes and gives the same datagrams, Config, Events and ChildSA values as
// Session, so nothing above this package cares which version negotiated an
// SA (ChildSA.Version says). It does:
//
//   - Main Mode (RFC 2409 5) with pre-shared keys and RSA or ECDSA (RFC
//     4754) signatures with CERT/CERTREQ and chains checked by package
//     auth; Aggressive Mode (5.4) with pre-shared keys only when
//     Config.AggressiveMode is set on both sides;
//   - the key schedule: SKEYID for the PSK and signature methods,
//     SKEYID_d/a/e, the cipher key expanded per Appendix B, the phase 1 IV
//     chain and a fresh IV per Quick Mode and informational exchange,
//     HASH_I/HASH_R and HASH(1)-(3);
//   - Quick Mode (5.5) for ESP or AH in tunnel or transport mode, and
//     AH+ESP bundles as Windows offers them (CHILD proposals naming both
//     AH and ESP offer one; a responder accepts one), IDci/IDcr
//     from the first selector of Config.LocalTS/RemoteTS (the responder
//     may narrow them), PFS when the CHILD proposals name a group,
//     lifetimes in seconds and kilobytes with RESPONDER-LIFETIME, and the
//     commit bit (RFC 2408 3.1) answered with CONNECTED;
//   - informational exchanges: deletes of IPsec and ISAKMP SAs both ways,
//     INITIAL-CONTACT, DPD (RFC 3706) R-U-THERE/ACK;
//   - NAT-T (RFC 3947, and draft 02 as Windows XP/2003 speak it): vendor
//     IDs, NAT-D in MM3/MM4, UDPEncap for the move to port 4500, the
//     UDP-encapsulated modes and NAT-OA for transport mode; the Microsoft
//     vendor ID;
//   - retransmission with back-off of every message that expects an
//     answer, retransmitted messages answered from the cache;
//   - rekeying: a new Quick Mode before a CHILD SA expires
//     (EventChildRekeyed, then the old one deleted), a new Main Mode before
//     the ISAKMP SA expires (EventIKERekeyed; the IPsec SAs stay).
//
// Proposals: AES-CBC for phase 1 with SHA-1 or SHA-2 hashes and the groups
// above; for ESP also AES-GCM. Windows Server 2003's defaults (3DES,
// HMAC-MD5, MODP-1024) need Config.AllowLegacyV1 and ParseProposalsV1;
// DES and MODP-768 are never negotiated. Not implemented for IKEv1: Mode
// Config and XAUTH.
//
// Kerberos, as Windows domain members authenticate each other, is the
// GSS-API method of draft-ietf-ipsec-isakmp-gss-auth-07 in Main Mode
// (gss_v1.go, Config.Kerberos): authentication method 65001 with the GSS
// identity attribute (16384, or Windows 2000's 32001) and the GSS-API
// vendor IDs; the initiator's AP-REQ in MM3 and the acceptor's AP-REP in
// MM4 (GSS token payload 129), more round trips in encrypted GSS messages
// if a mechanism needs them; SKEYID as for signatures; the HASH payloads
// carry the context's RFC 4121 MIC over HASH_I/HASH_R, which include the
// GSS tokens of their side. Credentials come from a keytab and krb5.conf
// (auth.LoadKerberosHost); the acceptor's replay cache can survive
// restarts. Config.AuthOrder lists a rule's methods in its order of
// preference, as Windows tries Kerberos, then certificates or a PSK.
//
// Not implemented: EAP, IKE fragmentation (RFC 7383), MOBIKE.
//
// Endpoint is the I/O driver around sessions, built for a gateway with
// many peers on the open internet. NewEndpoint checks its
// EndpointConfig, Listen binds the UDP sockets for IKE (port 500) and NAT
// traversal (4500), Run serves until its context ends or Close, and
// Shutdown deletes every IKE SA first. Datagrams are dispatched by the
// ISAKMP major version (IKEv2 sessions, and IKEv1 sessions where built
// in) and by SPI through sharded tables; sessions are spread over one
// worker goroutine per core (a new IKE SA to whichever worker is free;
// a worker with a backlog hands IKE SAs to an idle one), each with a
// timer heap, so that the cost of a datagram or a timer does not grow
// with the number of IKE SAs and key exchanges run on every core while
// each IKE SA's messages stay in order. It moves sessions to port 4500
// with the non-ESP marker when NAT
// is detected (or forced with Config.ForceUDPEncap), sends NAT
// keepalives, and hands UDP-encapsulated ESP to the caller, never ahead
// of an IKE message from the same peer that arrived before it. Commands
// (Initiate, CreateChild, RekeyChild, DeleteChild, RekeyIKE, CloseIKE)
// find an IKE SA by this side's SPI. Its defences, on by default and
// counted in EndpointStats: COOKIEs (RFC 7296 2.6) once 30 IKE SAs, or 3
// from one address, are half-open; at most 5 half-open IKE SAs per
// address, 4096 in all, and a cap on all IKE SAs, all checked before any
// key exchange; half-open SAs dropped after 30 s; per-address buckets
// for unprotected error replies; a bounded CERTREQ list; a cap on CHILD
// SAs per IKE SA (Config.MaxChildSAs) and on retired IKE SAs; sized and
// counted input queues and socket buffers. Reads and writes are batched
// (recvmmsg, sendmmsg).
//
// Underneath is the cryptographic core: the PRFs HMAC-SHA1,
// HMAC-SHA2-256/384/512 and AES-XCBC-PRF-128 with prf+; SKEYSEED and the
// IKE SA keys, the rekeyed SKEYSEED, CHILD SA KEYMAT; key exchange with
// MODP groups 14, 15, 16, ECP groups 19, 20, 21 and Curve25519 (31) with
// the public value checks of RFC 6989; protection of the Encrypted payload
// with AES-GCM (16- and 12-octet ICVs), ChaCha20-Poly1305, and AES-CBC with
// HMAC-SHA1/SHA2 or AES-XCBC-96. The MODP exponentiation uses math/big,
// which is not constant time.
//
// References:
//   - RFC 7296 (IKEv2): 1.2-1.4 the exchanges, 2.1-2.4 message IDs,
//     retransmission and liveness, 2.6 cookies, 2.7 proposal selection,
//     2.8 and 2.8.1 rekeying and collisions, 2.9 traffic selectors,
//     2.13 prf+, 2.14 SKEYSEED and the IKE SA keys, 2.15 AUTH, 2.17 CHILD
//     SA keying material, 2.18 rekeying the IKE SA, 2.21 error handling,
//     2.23 NAT detection, 2.25 exchange collisions, 3 the payloads;
//     1.5 and 2.5 unprotected error responses (INVALID_IKE_SPI,
//     INVALID_MAJOR_VERSION), 1.3 NO_ADDITIONAL_SAS.
//   - RFC 2409 (IKEv1): 5 Main Mode and the key schedule, 5.1 signatures,
//     5.4 Aggressive Mode, 5.5 Quick Mode, 5.7 informational exchanges,
//     Appendix B key expansion and IVs; RFC 2408 (ISAKMP) 3.1 the commit
//     bit, 3.15 Delete, 4.8 informational; RFC 2407 4.5 and 4.6.3 (IPsec
//     DOI attributes, RESPONDER-LIFETIME, INITIAL-CONTACT); RFC 3947
//     (NAT-T for IKEv1); RFC 3706 (DPD); RFC 4754 7 (ECDSA in IKEv1).
//   - draft-ietf-ipsec-isakmp-gss-auth-07 3.1-3.3 (the GSS-API
//     authentication method for IKEv1, Kerberos as Windows uses it), RFC
//     4121 4.2.6.1 (its MIC tokens).
//   - RFC 3948 (UDP encapsulation: non-ESP marker, NAT keepalives),
//     RFC 7427 section 4 (SIGNATURE_HASH_ALGORITHMS), RFC 4945 (certificates, in
//     package auth).
//   - RFC 2104 and RFC 2404 (HMAC, HMAC-SHA-1-96), RFC 4868 (HMAC-SHA2 for
//     IPsec), RFC 3566 (AES-XCBC-MAC-96), RFC 4434 (AES-XCBC-PRF-128).
//   - RFC 3526 (MODP groups 14-16), RFC 5903 (ECP groups 19-21),
//     RFC 8031 (Curve25519 for IKEv2), RFC 6989 (public value checks).
//   - RFC 3602 (AES-CBC), RFC 5282 (AES-GCM in IKEv2), RFC 7634
//     (ChaCha20-Poly1305 in IKEv2), RFC 8247 (algorithm requirements).
package ike
