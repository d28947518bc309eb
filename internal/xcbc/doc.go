// Package xcbc is AES-XCBC-MAC, shared by AH's AES-XCBC-MAC-96 integrity
// transform and IKEv2's AES-XCBC-PRF-128 and AES-XCBC-96.
//
// A Key holds the three keys derived from the 128-bit key and is immutable;
// a MAC is one computation's state, a hash.Hash that does not allocate once
// made.
//
// References:
//   - RFC 3566: The AES-XCBC-MAC-96 Algorithm and Its Use With IPsec
//   - RFC 4434: The AES-XCBC-PRF-128 Algorithm for IKE (the key rule)
package xcbc
