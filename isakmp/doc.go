// Package isakmp is the wire format of ISAKMP messages: the header and
// every payload of IKEv1 and IKEv2, and the IANA numbers they carry. It has
// no crypto and no state; the ike package builds the negotiation on it.
//
// In the data flow, a UDP datagram on port 500 (or on 4500 after the
// four-byte non-ESP marker) is handed to Message.Decode; the ike package
// reads the payloads, decrypts the SK payload's Data, and decodes the
// plaintext with DecodePayloads. Outbound, it builds payloads, encodes the
// inner chain with AppendPayloads, encrypts it into an Encrypted payload
// and calls Message.Append.
//
// Decoding is zero-copy: byte slices in decoded values alias the input, and
// a Message reuses its payload values between calls, so a long-lived
// Message decodes without allocating. Parse is the copying convenience.
// Every length is checked against its container before slicing, and counts
// against the bytes that must hold them; bad input returns an error
// wrapping ErrTruncated, ErrMalformed, ErrVersion or
// ErrWrongVersionPayload, or a *CriticalPayloadError, and never panics.
// Encoding appends to a caller's buffer and back-patches lengths; a decoded
// message re-encodes to the same bytes when its RESERVED fields are zero,
// as RFC 7296 3.2 and RFC 2408 3.2 require senders to send them.
//
// Concurrency: the IANA number types are plain integers and the package
// has no global mutable state, so all functions are safe for concurrent
// use; a decoded Message and its payloads are ordinary values that one
// goroutine may mutate or several may read.
//
// Proposal strings in the strongSwan/libreswan style
// ("aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048"; for ESP
// "aes256gcm16-x25519" or "aes128-sha256") convert to and from SA
// proposals with ParseProposal and FormatProposal (IKEv2) and
// ParseV1Proposal and FormatV1Proposal (IKEv1). The subpackage
// isakmp/gopacketlayer decodes ISAKMP in packet captures (UDP 500, and
// 4500 behind the non-ESP marker).
//
// Example, reading the proposals of an IKE_SA_INIT request:
//
//	var m isakmp.Message
//	if err := m.Decode(datagram); err != nil {
//		return err // count and drop
//	}
//	for _, p := range m.Payloads {
//		if sa, ok := p.(*isakmp.SA); ok {
//			for _, prop := range sa.Proposals {
//				s, _ := isakmp.FormatProposal(&prop)
//				fmt.Println(prop.Protocol, s) // IKE aes256gcm16-prfsha256-x25519
//			}
//		}
//	}
//
// References:
//   - RFC 2408 ISAKMP: 3.1 header, 3.2 generic payload header, 3.3 data
//     attributes, 3.4-3.16 payloads.
//   - RFC 2407 IPsec DOI: 4.2 situation, 4.4 transform IDs, 4.5 attributes,
//     4.6 SA, ID and notification payload contents.
//   - RFC 2409 IKEv1: appendix A attribute classes and values.
//   - RFC 3947 NAT-T for IKEv1: 3.2 NAT-D, 5.1 NAT-OA, 4 UDP encapsulation
//     modes; RFC 3948 2.2 non-ESP marker, 2.3 NAT keepalive.
//   - RFC 3706 DPD: 5 R-U-THERE notifications.
//   - RFC 7296 IKEv2: 2.5 version numbers and critical payloads, 3.1-3.16
//     header and payloads.
//   - RFC 7383 IKEv2 fragmentation: 2.5 the SKF payload.
//   - RFC 9370 additional key exchanges; draft-ietf-ipsecme-ikev2-mlkem
//     (ML-KEM transform IDs); RFC 8031 (Curve25519, group 31).
//   - draft-ietf-ipsec-isakmp-mode-cfg-05: IKEv1 attribute payload.
//   - IANA registries "Internet Key Exchange Version 2 (IKEv2) Parameters",
//     "Internet Key Exchange (IKE) Attributes" and "ISAKMP Identifiers".
package isakmp
