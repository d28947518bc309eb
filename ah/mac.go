package ah

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"

	"github.com/ipsecgo/ipsec/internal/aesgcm"
	"github.com/ipsecgo/ipsec/internal/xcbc"
)

// GMAC sizes (RFC 4543 sections 3.1 and 4).
const (
	gmacSaltLen = 4
	gmacIVLen   = 8
	gmacTagLen  = 16
)

// authenticator computes an ICV. Its methods are safe for concurrent use:
// per-computation state lives in the worker passed in.
type authenticator struct {
	alg    Integrity
	p      params
	newMAC func() hash.Hash // HMAC algorithms and AES-XCBC-MAC-96
	gcm    cipher.AEAD      // AES-GMAC: GCM with empty plaintext
	salt   [gmacSaltLen]byte
}

func newAuthenticator(alg Integrity, key []byte) (*authenticator, error) {
	p, ok := algParams(alg)
	if !ok {
		return nil, errors.New("ah: unsupported integrity algorithm " + alg.String())
	}
	if len(key) != p.keyLen {
		return nil, errors.New("ah: wrong integrity key length for " + alg.String())
	}
	a := &authenticator{alg: alg, p: p}
	k := append([]byte(nil), key...)
	if h := hmacHash(alg); h != nil {
		a.newMAC = func() hash.Hash { return hmac.New(h, k) }
	}
	switch alg {
	case IntegAESXCBC96:
		x, err := xcbc.NewKey(k)
		if err != nil {
			return nil, err
		}
		a.newMAC = func() hash.Hash { return xcbc.NewMAC(x) }
	case IntegAES128GMAC, IntegAES192GMAC, IntegAES256GMAC:
		n := len(k) - gmacSaltLen
		var err error
		if a.gcm, err = aesgcm.New(k[:n], aesgcm.TagSize); err != nil {
			return nil, err
		}
		copy(a.salt[:], k[n:])
	}
	return a, nil
}

// hmacHash returns the hash of an HMAC algorithm, or nil.
func hmacHash(alg Integrity) func() hash.Hash {
	switch alg {
	case IntegHMACMD596:
		return md5.New
	case IntegHMACSHA196:
		return sha1.New
	case IntegHMACSHA256128:
		return sha256.New
	case IntegHMACSHA384192:
		return sha512.New384
	case IntegHMACSHA512256:
		return sha512.New
	}
	return nil
}

// worker holds the scratch state of one ICV computation. SAs keep workers in
// a sync.Pool, so that steady-state processing does not allocate.
type worker struct {
	h     hash.Hash
	sum   [sha512.Size]byte
	nonce [12]byte
	seqHi [4]byte // ESN high-order bits appended for the ICV
	save  []byte  // the header bytes that are zeroed during the computation
	aad   []byte  // GMAC with ESN: packet followed by the high-order sequence bits
}

func (a *authenticator) newWorker() *worker {
	w := &worker{}
	if a.newMAC != nil {
		w.h = a.newMAC()
	}
	return w
}

// compute returns the full-length MAC of data followed by tail (nil, or the
// high-order 32 bits of an extended sequence number, which RFC 4302 section
// 3.3.3.2.2 appends after the packet for the ICV computation only). For
// GMAC, iv is the 8-byte explicit IV (RFC 4543 section 3.1). The result
// aliases w and is at least a.p.icvLen bytes long.
func (a *authenticator) compute(w *worker, data, tail, iv []byte) []byte {
	switch {
	case a.newMAC != nil:
		w.h.Reset()
		w.h.Write(data)
		w.h.Write(tail)
		return w.h.Sum(w.sum[:0])
	default:
		// RFC 4543 section 3.2: the nonce is the salt followed by the IV;
		// everything is authenticated data and nothing is encrypted.
		copy(w.nonce[:gmacSaltLen], a.salt[:])
		copy(w.nonce[gmacSaltLen:], iv)
		aad := data
		if len(tail) > 0 {
			w.aad = append(append(w.aad[:0], data...), tail...)
			aad = w.aad
		}
		return a.gcm.Seal(w.sum[:0], w.nonce[:], nil, aad)
	}
}
