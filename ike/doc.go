// Package ike negotiates IPsec security associations with IKEv2 (RFC 7296).
//
// It sits between the wire format in package isakmp and the transforms in
// packages esp and ah: the caller feeds it received IKE datagrams and the
// current time, and gets back datagrams to send and events such as "CHILD
// SA established", whose keys, SPIs, algorithms and traffic selectors the
// caller installs in package sad. The core does no I/O and starts no
// goroutines or timers.
//
// This file set currently holds the cryptographic core of IKEv2:
//
//   - the pseudorandom functions HMAC-SHA1, HMAC-SHA2-256/384/512 and
//     AES-XCBC-PRF-128, and prf+;
//   - SKEYSEED and the IKE SA keys SK_d, SK_ai/ar, SK_ei/er, SK_pi/pr, the
//     rekeyed SKEYSEED, and CHILD SA KEYMAT;
//   - key exchange with MODP groups 14, 15, 16, ECP groups 19, 20, 21 and
//     Curve25519 (31), with the public-value checks of RFC 6989;
//   - protection of the Encrypted (SK) payload with AES-GCM (16- and
//     12-octet ICVs), ChaCha20-Poly1305, and AES-CBC with HMAC-SHA1/SHA2 or
//     AES-XCBC-96.
//
// The MODP exponentiation uses math/big, which is not constant time.
//
// References:
//   - RFC 7296 (IKEv2): 2.13 prf+, 2.14 SKEYSEED and the IKE SA keys,
//     2.17 CHILD SA keying material, 2.18 rekeying the IKE SA, 3.4 Key
//     Exchange payload, 3.14 Encrypted payload.
//   - RFC 2104 and RFC 2404 (HMAC, HMAC-SHA-1-96), RFC 4868 (HMAC-SHA2 for
//     IPsec), RFC 3566 (AES-XCBC-MAC-96), RFC 4434 (AES-XCBC-PRF-128).
//   - RFC 3526 (MODP groups 14-16), RFC 5903 (ECP groups 19-21),
//     RFC 8031 (Curve25519 for IKEv2), RFC 6989 (public value checks).
//   - RFC 3602 (AES-CBC), RFC 5282 (AES-GCM in IKEv2), RFC 7634
//     (ChaCha20-Poly1305 in IKEv2), RFC 8247 (algorithm requirements).
package ike
