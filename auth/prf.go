package auth

import (
	"crypto/hmac"
	"hash"
)

// PRF is the IKE SA's negotiated pseudorandom function, prf(key, data),
// supplied by the IKE code (RFC 7296 section 2.13; RFC 2409 section 5). The
// result must be newly allocated or appended to nothing the caller keeps;
// implementations must be safe for concurrent use.
type PRF func(key, data []byte) []byte

// HMACPRF returns the PRF_HMAC_* function over h (RFC 2104; RFC 4868 for
// SHA-2). It is a convenience for callers and tests; the IKE code may pass
// any PRF, including AES-XCBC-PRF-128 or AES-CMAC-PRF-128.
func HMACPRF(h func() hash.Hash) PRF {
	return func(key, data []byte) []byte {
		m := hmac.New(h, key)
		m.Write(data)
		return m.Sum(nil)
	}
}
