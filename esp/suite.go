package esp

import (
	"fmt"
	"strconv"
)

// Cipher is an ESP encryption transform, numbered as IKEv2 Transform Type 1
// (IANA "IKEv2 Parameters", Transform Type 1 - Encryption Algorithm IDs).
type Cipher uint16

// Encryption transforms.
const (
	Cipher3DES             Cipher = 3  // RFC 2451; legacy, needs Config.AllowLegacy
	CipherNull             Cipher = 11 // RFC 2410: no confidentiality
	CipherAESCBC           Cipher = 12 // RFC 3602
	CipherAESCTR           Cipher = 13 // RFC 3686
	CipherAESGCM8          Cipher = 18 // RFC 4106, 8-byte ICV
	CipherAESGCM12         Cipher = 19 // RFC 4106, 12-byte ICV
	CipherAESGCM16         Cipher = 20 // RFC 4106, 16-byte ICV
	CipherNullAuthAESGMAC  Cipher = 21 // RFC 4543: authentication only
	CipherChaCha20Poly1305 Cipher = 28 // RFC 7634
)

// Integrity is an ESP integrity transform, numbered as IKEv2 Transform Type 3.
type Integrity uint16

// Integrity transforms. AEAD ciphers take IntegNone.
const (
	IntegNone          Integrity = 0
	IntegHMACMD596     Integrity = 1  // RFC 2403; legacy, needs Config.AllowLegacy
	IntegHMACSHA196    Integrity = 2  // RFC 2404
	IntegHMACSHA256128 Integrity = 12 // RFC 4868
	IntegHMACSHA384192 Integrity = 13 // RFC 4868
	IntegHMACSHA512256 Integrity = 14 // RFC 4868
)

var cipherNames = map[Cipher]string{
	Cipher3DES:             "3des",
	CipherNull:             "null",
	CipherAESCBC:           "aes-cbc",
	CipherAESCTR:           "aes-ctr",
	CipherAESGCM8:          "aes-gcm-8",
	CipherAESGCM12:         "aes-gcm-12",
	CipherAESGCM16:         "aes-gcm-16",
	CipherNullAuthAESGMAC:  "aes-gmac",
	CipherChaCha20Poly1305: "chacha20-poly1305",
}

func (c Cipher) String() string {
	if s, ok := cipherNames[c]; ok {
		return s
	}
	return "cipher(" + strconv.Itoa(int(c)) + ")"
}

var integNames = map[Integrity]string{
	IntegNone:          "none",
	IntegHMACMD596:     "hmac-md5-96",
	IntegHMACSHA196:    "hmac-sha1-96",
	IntegHMACSHA256128: "hmac-sha2-256-128",
	IntegHMACSHA384192: "hmac-sha2-384-192",
	IntegHMACSHA512256: "hmac-sha2-512-256",
}

func (i Integrity) String() string {
	if s, ok := integNames[i]; ok {
		return s
	}
	return "integrity(" + strconv.Itoa(int(i)) + ")"
}

// aead reports whether the cipher provides integrity itself.
func (c Cipher) aead() bool {
	switch c {
	case CipherAESGCM8, CipherAESGCM12, CipherAESGCM16, CipherNullAuthAESGMAC, CipherChaCha20Poly1305:
		return true
	}
	return false
}

// KeySizes returns the valid lengths, in bytes, of Config.CipherKey for c:
// the cipher key followed by the salt or nonce that the cipher's RFC takes
// from the keying material (4 bytes for AES-GCM, AES-GMAC, AES-CTR and
// ChaCha20-Poly1305).
func (c Cipher) KeySizes() []int {
	switch c {
	case Cipher3DES:
		return []int{24}
	case CipherNull:
		return []int{0}
	case CipherAESCBC:
		return []int{16, 24, 32}
	case CipherAESCTR, CipherAESGCM8, CipherAESGCM12, CipherAESGCM16, CipherNullAuthAESGMAC:
		return []int{20, 28, 36} // RFC 3686 section 5.1, RFC 4106 section 8.1, RFC 4543 section 6
	case CipherChaCha20Poly1305:
		return []int{36} // RFC 7634 section 2
	}
	return nil
}

// KeySize returns the length of Config.IntegrityKey for i (0 for IntegNone).
func (i Integrity) KeySize() int {
	switch i {
	case IntegHMACMD596:
		return 16
	case IntegHMACSHA196:
		return 20
	case IntegHMACSHA256128:
		return 32
	case IntegHMACSHA384192:
		return 48
	case IntegHMACSHA512256:
		return 64
	}
	return 0
}

// icvSize returns the truncated ICV length of i.
func (i Integrity) icvSize() int {
	switch i {
	case IntegHMACMD596, IntegHMACSHA196:
		return 12
	case IntegHMACSHA256128:
		return 16
	case IntegHMACSHA384192:
		return 24
	case IntegHMACSHA512256:
		return 32
	}
	return 0
}

func (c Cipher) legacy() bool    { return c == Cipher3DES }
func (i Integrity) legacy() bool { return i == IntegHMACMD596 }

func checkSuite(c Cipher, i Integrity, allowLegacy bool) error {
	if _, ok := cipherNames[c]; !ok {
		return fmt.Errorf("esp: unsupported cipher %v", c)
	}
	if _, ok := integNames[i]; !ok {
		return fmt.Errorf("esp: unsupported integrity algorithm %v", i)
	}
	if (c.legacy() || i.legacy()) && !allowLegacy {
		return fmt.Errorf("esp: %v/%v is a legacy suite; set Config.AllowLegacy to use it", c, i)
	}
	if c.aead() && i != IntegNone {
		return fmt.Errorf("esp: %v provides integrity; integrity must be none, not %v", c, i)
	}
	if !c.aead() && i == IntegNone {
		// RFC 4303 section 3.2: confidentiality-only is allowed but
		// unsafe, and NULL with NULL is forbidden; we support neither.
		return fmt.Errorf("esp: %v needs an integrity algorithm", c)
	}
	return nil
}
