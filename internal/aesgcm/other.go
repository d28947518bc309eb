//go:build !amd64 || purego

package aesgcm

import "crypto/cipher"

// useAsm: there is no vector implementation for this platform (or the
// purego build tag asked for none), so New returns crypto/cipher's GCM.
const useAsm = false

// newGCM is New's vector branch, never taken without the assembly.
func newGCM(b cipher.Block, _ []byte, tagSize int) cipher.AEAD {
	g, err := cipher.NewGCMWithTagSize(b, tagSize)
	if err != nil {
		panic(err) // New checked the tag size
	}
	return g
}
