package ah

import "strconv"

// Integrity identifies an AH integrity algorithm by its IKEv2 Transform Type 3
// ID (IANA "Transform Type 3 - Integrity Algorithm Transform IDs"), the same
// numbering esp uses, so that a negotiated CHILD SA maps onto either package.
// It is a plain value, safe for concurrent use.
type Integrity uint16

// Integrity algorithms AH implements.
const (
	// IntegHMACMD596 is HMAC-MD5-96 (RFC 2403). Legacy: it is refused unless
	// Config.AllowLegacy is set (Windows Server 2003 offers it).
	IntegHMACMD596 Integrity = 1
	// IntegHMACSHA196 is HMAC-SHA1-96 (RFC 2404).
	IntegHMACSHA196 Integrity = 2
	// IntegAESXCBC96 is AES-XCBC-MAC-96 (RFC 3566).
	IntegAESXCBC96 Integrity = 5
	// IntegAES128GMAC is AES-GMAC with a 128-bit key (RFC 4543).
	IntegAES128GMAC Integrity = 9
	// IntegAES192GMAC is AES-GMAC with a 192-bit key (RFC 4543).
	IntegAES192GMAC Integrity = 10
	// IntegAES256GMAC is AES-GMAC with a 256-bit key (RFC 4543).
	IntegAES256GMAC Integrity = 11
	// IntegHMACSHA256128 is HMAC-SHA-256-128 (RFC 4868).
	IntegHMACSHA256128 Integrity = 12
	// IntegHMACSHA384192 is HMAC-SHA-384-192 (RFC 4868).
	IntegHMACSHA384192 Integrity = 13
	// IntegHMACSHA512256 is HMAC-SHA-512-256 (RFC 4868).
	IntegHMACSHA512256 Integrity = 14
)

// String returns the algorithm name in the lower-case form esp uses.
func (i Integrity) String() string {
	switch i {
	case IntegHMACMD596:
		return "hmac-md5-96"
	case IntegHMACSHA196:
		return "hmac-sha1-96"
	case IntegAESXCBC96:
		return "aes-xcbc-96"
	case IntegAES128GMAC:
		return "aes-128-gmac"
	case IntegAES192GMAC:
		return "aes-192-gmac"
	case IntegAES256GMAC:
		return "aes-256-gmac"
	case IntegHMACSHA256128:
		return "hmac-sha2-256-128"
	case IntegHMACSHA384192:
		return "hmac-sha2-384-192"
	case IntegHMACSHA512256:
		return "hmac-sha2-512-256"
	}
	return "integrity(" + strconv.Itoa(int(i)) + ")"
}

// params describes the sizes an algorithm uses.
type params struct {
	keyLen int  // bytes of keying material (GMAC: AES key plus 4-byte salt)
	icvLen int  // bytes of ICV (truncated MAC or GMAC tag)
	ivLen  int  // bytes of explicit IV carried before the ICV (GMAC only)
	legacy bool // refused unless AllowLegacy
}

// algParams returns the sizes of i, or false if AH does not implement it.
// Key sizes: RFC 2403 2, RFC 2404 2, RFC 3566 2.1, RFC 4868 2.1.1 (the key is
// as long as the hash output), RFC 4543 6 (AES key followed by a 4-octet
// salt, the same keying material as in ESP).
func algParams(i Integrity) (params, bool) {
	switch i {
	case IntegHMACMD596:
		return params{keyLen: 16, icvLen: 12, legacy: true}, true
	case IntegHMACSHA196:
		return params{keyLen: 20, icvLen: 12}, true
	case IntegAESXCBC96:
		return params{keyLen: 16, icvLen: 12}, true
	case IntegAES128GMAC:
		return params{keyLen: 16 + gmacSaltLen, icvLen: 16, ivLen: gmacIVLen}, true
	case IntegAES192GMAC:
		return params{keyLen: 24 + gmacSaltLen, icvLen: 16, ivLen: gmacIVLen}, true
	case IntegAES256GMAC:
		return params{keyLen: 32 + gmacSaltLen, icvLen: 16, ivLen: gmacIVLen}, true
	case IntegHMACSHA256128:
		return params{keyLen: 32, icvLen: 16}, true
	case IntegHMACSHA384192:
		return params{keyLen: 48, icvLen: 24}, true
	case IntegHMACSHA512256:
		return params{keyLen: 64, icvLen: 32}, true
	}
	return params{}, false
}

// KeySize returns the length of keying material the algorithm takes, or 0 if
// AH does not implement it. For AES-GMAC this includes the 4-byte salt.
func (i Integrity) KeySize() int {
	p, _ := algParams(i)
	return p.keyLen
}

// ICVSize returns the length of the algorithm's ICV, without the GMAC IV and
// without alignment padding, or 0 if AH does not implement it.
func (i Integrity) ICVSize() int {
	p, _ := algParams(i)
	return p.icvLen
}

// Mode is the AH mode of an SA (RFC 4302 section 3.1). Its values are the
// Encapsulation Mode numbers of RFC 2407 section 4.5, as in esp, ike and
// isakmp; zero is not a mode, and Config.Mode must be set. It is a plain
// value, safe for concurrent use.
type Mode uint8

// AH modes.
const (
	// Tunnel puts the whole inner packet after a new outer header and AH
	// (RFC 4302 section 3.1.2).
	Tunnel Mode = 1
	// Transport inserts AH after the IP header (RFC 4302 section 3.1.1).
	Transport Mode = 2
)

// String returns "transport" or "tunnel".
func (m Mode) String() string {
	switch m {
	case Transport:
		return "transport"
	case Tunnel:
		return "tunnel"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}
