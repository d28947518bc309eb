// Package esp implements the IP Encapsulating Security Payload (RFC 4303):
// the transform that encrypts and authenticates IP packets for one Security
// Association.
//
// In the library's data flow, esp sits after the policy lookup (package spd)
// and the SA lookup (package sad): outbound, the caller hands a packet that
// policy says to protect to [SA.Seal]; inbound, the caller finds the SA by
// the packet's SPI and hands the packet to [SA.Open], then checks the inner
// packet against policy. Keys come from IKE (package ike) or from manual
// keying.
//
// An [SA] is built from a [Config]: SPI, cipher and integrity transforms
// (numbered as in IKEv2), keys, transport or tunnel mode, Extended Sequence
// Numbers, the anti-replay window, TFC padding and UDP encapsulation. It is
// safe for concurrent use: many goroutines may Seal on one outbound SA, and
// many may Open on one inbound SA. Seal appends to a caller-supplied buffer
// and Open works in place; neither allocates in steady state.
//
//	out, _ := esp.NewSA(esp.Config{SPI: 0x1001, Cipher: esp.CipherAESGCM16,
//		CipherKey: key36, Mode: esp.Tunnel, TunnelSrc: a, TunnelDst: b})
//	wire, err := out.Seal(buf[:0], ipPacket)
//	...
//	inner, err := in.Open(wire) // in: the peer's SA with the same Config
//	if errors.Is(err, esp.ErrReplay) { ... }
//
// [SA.SealESP] and [SA.OpenESP] work on the bare ESP packet (SPI to ICV),
// for callers that send it themselves, for example in UDP datagrams to port
// 4500 where [Classify] tells ESP from IKE and NAT keepalives.
//
// Outbound sequence numbers come from an atomic counter that never wraps:
// when the space is used up, Seal returns [ErrSeqExhausted] and the SA must
// be rekeyed. Inbound, the replay window (package internal/replay, shared
// with AH) is checked before the ICV and updated only after it verifies; it
// takes no lock. Per packet, Seal costs two atomic adds (sequence number and
// counters) and Open one compare-and-swap and one atomic add; the AEAD's
// nonce and AAD are built in the packet's header room, so there is no
// per-packet state to share between goroutines. [SA.SealBatch] seals many
// packets with two atomic adds in all (a run of consecutive sequence
// numbers is reserved at once), for several cores sealing on one SA: those
// adds on one cache line are what the cores otherwise contend for.
//
// AES-GCM and AES-GMAC run on package internal/aesgcm: on a CPU with VAES
// and VPCLMULQDQ on AVX-512 it seals sixteen blocks a loop and reduces
// GHASH once per run of 32 blocks: about 3x crypto/cipher's GCM sealing
// a 1400-byte packet, 2 to 3x opening it; elsewhere it is crypto/cipher's
// GCM.
//
// References:
//   - RFC 4303: IP Encapsulating Security Payload (sections 2, 3.1, 3.3,
//     3.4, Appendix A for ESN inference)
//   - RFC 4304: Extended Sequence Number addendum
//   - RFC 4106: AES-GCM in ESP; RFC 4543: AES-GMAC in ESP
//   - RFC 7634: ChaCha20-Poly1305 in IKE and IPsec
//   - RFC 3602: AES-CBC; RFC 3686: AES-CTR; RFC 2410: NULL encryption;
//     RFC 2451: 3DES-CBC (legacy)
//   - RFC 2404: HMAC-SHA-1-96; RFC 4868: HMAC-SHA-256/384/512;
//     RFC 2403: HMAC-MD5-96 (legacy)
//   - RFC 3948: UDP encapsulation of ESP
//   - RFC 4301 section 5.1.2: tunnel header construction; RFC 6040: ECN
//   - RFC 6479: the anti-replay bitmap design
package esp
