package aesgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

const (
	// NonceSize is the GCM nonce the AEAD takes (SP 800-38D 8.2.1; RFC
	// 4106 section 4: salt and IV).
	NonceSize = 12
	// TagSize is the full GCM tag; New takes 12 to 16.
	TagSize = 16
	// MinTagSize is the shortest tag New takes (crypto/cipher's bound).
	MinTagSize = 12
)

// New returns AES-GCM keyed with key (16, 24 or 32 bytes) and producing
// tagSize-byte tags: the vector implementation where Fast reports true,
// else crypto/cipher's GCM (without the instructions, under the purego
// build tag, and in FIPS 140-3 mode). The AEAD is safe for concurrent
// use.
func New(key []byte, tagSize int) (cipher.AEAD, error) {
	if tagSize < MinTagSize || tagSize > TagSize {
		return nil, fmt.Errorf("aesgcm: tag size %d is outside %d to %d", tagSize, MinTagSize, TagSize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if !Fast() {
		return cipher.NewGCMWithTagSize(b, tagSize)
	}
	return newGCM(b, key, tagSize), nil
}

// Fast reports whether New returns the vector implementation on this CPU.
func Fast() bool { return useAsm }
