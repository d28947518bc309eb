package ike

import (
	"github.com/ipsecgo/ipsec/isakmp"

	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

const (
	aesBlockSize = 16
	aeadIVLen    = 8 // RFC 5282 3.1, RFC 7634 2
	aeadSaltLen  = 4 // RFC 5282 7.1, RFC 7634 3
	chachaKeyLen = 32
)

// encrAlg describes an encryption transform for the IKE SA's SK payload.
// It is immutable.
type encrAlg struct {
	id      isakmp.EncrID
	name    string // strongSwan keyword stem: "aes" + bits (+ "gcm16"), "chacha20poly1305"
	keyBits []int  // allowed Key Length attribute values; nil: no attribute (fixed key)
	fixed   int    // key length in bytes when keyBits is nil
	aead    bool
	icvLen  int // AEAD tag length
	ivLen   int
	// padTo is the alignment of IV-less plaintext + pad length octet:
	// the block size for CBC, 1 for the AEADs (RFC 5282 3.2, RFC 7634 2).
	padTo int
	// saltLen is appended to the key in the keying material (RFC 5282 7.1,
	// RFC 7634 3).
	saltLen int
}

var encrAlgs = []*encrAlg{
	{id: isakmp.EncrAESCBC, name: "aes", keyBits: []int{128, 192, 256}, ivLen: aesBlockSize, padTo: aesBlockSize},
	{id: isakmp.EncrAESGCM16, name: "gcm16", keyBits: []int{128, 192, 256}, aead: true, icvLen: 16, ivLen: aeadIVLen, padTo: 1, saltLen: aeadSaltLen},
	{id: isakmp.EncrAESGCM12, name: "gcm12", keyBits: []int{128, 192, 256}, aead: true, icvLen: 12, ivLen: aeadIVLen, padTo: 1, saltLen: aeadSaltLen},
	{id: isakmp.EncrChaCha20Poly1305, name: "chacha20poly1305", fixed: chachaKeyLen, aead: true, icvLen: 16, ivLen: aeadIVLen, padTo: 1, saltLen: aeadSaltLen},
}

func encrByID(id isakmp.EncrID) *encrAlg {
	for _, e := range encrAlgs {
		if e.id == id {
			return e
		}
	}
	return nil
}

// keyMaterialLen is the length of SK_ei/SK_er for a key of keyBits bits
// (ignored for fixed-key ciphers), salt included.
func (e *encrAlg) keyMaterialLen(keyBits int) int {
	if e.keyBits == nil {
		return e.fixed + e.saltLen
	}
	return keyBits/8 + e.saltLen
}

// integAlg describes an integrity transform (RFC 7296 3.3.2). It is
// immutable.
type integAlg struct {
	id     isakmp.IntegID
	name   string // strongSwan keyword
	keyLen int
	icvLen int
	newMAC func(key []byte) hash.Hash
}

var integAlgs = []*integAlg{
	{id: isakmp.IntegHMACSHA1_96, name: "sha1", keyLen: sha1.Size, icvLen: 12,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha1.New, k) }},
	{id: isakmp.IntegAESXCBC96, name: "aesxcbc", keyLen: xcbcKeySize, icvLen: 12,
		newMAC: func(k []byte) hash.Hash { return newXCBCPRF(k) }},
	{id: isakmp.IntegHMACSHA2_256_128, name: "sha256", keyLen: sha256.Size, icvLen: 16,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha256.New, k) }},
	{id: isakmp.IntegHMACSHA2_384_192, name: "sha384", keyLen: sha512.Size384, icvLen: 24,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha512.New384, k) }},
	{id: isakmp.IntegHMACSHA2_512_256, name: "sha512", keyLen: sha512.Size, icvLen: 32,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha512.New, k) }},
}

func integByID(id isakmp.IntegID) *integAlg {
	for _, a := range integAlgs {
		if a.id == id {
			return a
		}
	}
	return nil
}
