// Package keylog reads and writes the IPsec key log that ike.Config's
// KeyLogWriter produces, and converts it into the tables Wireshark uses to
// decrypt IKE and ESP: its IKEv2 decryption table (the
// ikev2_decryption_table user table), its IKEv1 decryption table
// (ikev1_decryption_table) and its ESP SA table (esp_sa).
//
// A key log holds secrets. Anyone who reads it can decrypt and forge the
// traffic of every SA it names for as long as those SAs live. Write it only
// for debugging, to a file only you can read, and delete it afterwards.
//
// # Format
//
// The log is text, one SA per line, like the NSS key log that crypto/tls
// writes. A line is a label followed by NAME=VALUE fields separated by
// single spaces; keys are lower-case hexadecimal, algorithm numbers are
// decimal IANA transform IDs. Lines starting with '#' and empty lines are
// ignored, as are fields a reader does not know (so fields can be added).
//
//	IKEV2 SPII=<16 hex> SPIR=<16 hex> ENCR=<id> SK_EI=<hex> SK_ER=<hex> INTEG=<id> SK_AI=<hex> SK_AR=<hex>
//	IKEV1 CKYI=<16 hex> CKYR=<16 hex> ENCR=<v1 id> KEY=<hex>
//	ESP SPI=<8 hex> SRC=<addr> DST=<addr> ENCR=<id> KEY=<hex> INTEG=<id> IKEY=<hex> ESN=<0|1> ENCAP=<sport>/<dport> MODE=<tunnel|transport>
//	AH SPI=<8 hex> SRC=<addr> DST=<addr> INTEG=<id> IKEY=<hex> ESN=<0|1> MODE=<tunnel|transport>
//
// IKEV2 is one IKE SA (RFC 7296 2.14): its SPIs and the keys that protect
// the Encrypted payload, ENCR and INTEG being IKEv2 Transform Type 1 and 3
// IDs (INTEG=0 for AEAD ciphers, whose SK_E* carry the 4-byte salt after
// the key, RFC 5282 7.1 and RFC 7634 3). The key length is that of the key.
//
// IKEV1 is one ISAKMP SA (RFC 2409): the cookies and the encryption key
// actually given to the cipher (SKEYID_e, expanded or truncated as RFC 2409
// Appendix B says), ENCR being the IKEv1 phase 1 Encryption Algorithm
// attribute value (RFC 2409 Appendix A: 5 = 3DES-CBC, 7 = AES-CBC).
//
// ESP and AH are one direction of a CHILD SA (RFC 4301 4.1): packets from
// SRC to DST (the outer addresses, "-" for any) carry SPI. KEY is esp.Config's
// CipherKey (key and salt); ENCR and INTEG are the numbers of esp.Cipher
// and esp.Integrity (IKEv2 Transform Type 1 and 3 IDs). ENCAP is 0/0 for
// bare ESP, otherwise the UDP ports of RFC 3948 encapsulation.
//
// References:
//   - RFC 7296 2.14, 2.17: the IKE SA and CHILD SA keys.
//   - RFC 2409 Appendix B: the IKEv1 encryption key.
//   - RFC 4303, RFC 4302: ESP and AH SAs; RFC 3948: UDP encapsulation.
//   - Wireshark's ISAKMP and ESP preferences (its user tables
//     ikev2_decryption_table, ikev1_decryption_table and esp_sa).
package keylog
