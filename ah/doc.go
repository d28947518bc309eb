// Package ah implements the IP Authentication Header (RFC 4302): data
// origin authentication, integrity and anti-replay for IP packets, without
// confidentiality. In Windows Server 2003 terms it is the "sign" (AH)
// security method, and with ESP the "AH+ESP" method.
//
// An SA seals outbound IP packets (inserting AH in transport mode, adding an
// outer header and AH in tunnel mode) and opens inbound ones (verifying the
// ICV, then the anti-replay window, then removing AH). The ICV covers the IP
// header with its mutable fields zeroed (IPv4 TOS, flags, fragment offset,
// TTL, checksum and mutable options; IPv6 traffic class, flow label, hop
// limit and the data of extension-header options marked as changing en
// route), the AH header with its ICV zeroed, and the payload.
//
// The API mirrors package esp: NewSA(Config), Seal appending to dst, Open in
// place, Stats, and the same sentinel errors (ErrReplay, ErrAuthFailed,
// ErrMalformed, ErrWrongSPI, ErrSeqExhausted). The anti-replay window is
// the one esp uses (internal/replay). Seal and Open do not allocate in
// steady state. Combining AH with ESP (ESP then AH on output) is done by
// package sad, which holds both kinds of SA.
//
// Sealing packets whose ICV would have to be computed over a predicted
// final form (an IPv4 source route option, an IPv6 routing header with
// segments left) is not implemented and fails with ErrUnsupported; such
// packets are still verified on input, where they arrive in final form.
// Fragments are refused: AH works on whole datagrams.
//
// Example:
//
//	out, _ := ah.NewSA(ah.Config{Mode: ah.Transport, SPI: spi, Integrity: ah.IntegHMACSHA256128, IntegrityKey: key})
//	pkt, err := out.Seal(buf[:0], ipPacket)
//	...
//	in, _ := ah.NewSA(ah.Config{Mode: ah.Transport, SPI: spi, Integrity: ah.IntegHMACSHA256128, IntegrityKey: key})
//	inner, err := in.Open(received) // errors.Is(err, ah.ErrReplay) etc.
//
// References:
//   - RFC 4302, IP Authentication Header: sections 2 (format), 3.1 (placement
//     in transport and tunnel mode), 3.3.2 (sequence numbers), 3.3.3 (ICV
//     computation, mutable fields), 3.4 (inbound processing), Appendix A
//     (IPv4 option and IPv6 extension header mutability).
//   - RFC 4301 section 5.1.2 (tunnel header construction).
//   - RFC 4304 / RFC 4302 section 2.5.1 (extended sequence numbers).
//   - RFC 2403 (HMAC-MD5-96, legacy), RFC 2404 (HMAC-SHA-1-96), RFC 4868
//     (HMAC-SHA-256-128, HMAC-SHA-384-192, HMAC-SHA-512-256), RFC 3566
//     (AES-XCBC-MAC-96), RFC 4543 section 4 and errata 3643 (AES-GMAC in AH).
//   - RFC 8200 section 4 (IPv6 extension headers and option types).
package ah
