package ah

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// xcbcKey holds the keys AES-XCBC-MAC derives from the 128-bit key K
// (RFC 3566 section 4, steps 1-2): K1 keys the block cipher, K2 and K3 are
// XORed into a complete or a padded last block.
type xcbcKey struct {
	k1     cipher.Block
	k2, k3 [aes.BlockSize]byte
}

func newXCBC(key []byte) (*xcbcKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var k1 [aes.BlockSize]byte
	x := new(xcbcKey)
	for i := range k1 {
		k1[i] = 0x01
		x.k2[i] = 0x02
		x.k3[i] = 0x03
	}
	b.Encrypt(k1[:], k1[:])
	b.Encrypt(x.k2[:], x.k2[:])
	b.Encrypt(x.k3[:], x.k3[:])
	if x.k1, err = aes.NewCipher(k1[:]); err != nil {
		return nil, err
	}
	return x, nil
}

// xcbcState is one MAC computation in progress. It lives in a pooled worker
// so that a MAC does not allocate.
type xcbcState struct {
	e   [aes.BlockSize]byte // E[i-1], the chaining value
	buf [aes.BlockSize]byte // the block not yet processed
	n   int                 // bytes in buf
}

func (s *xcbcState) reset() {
	s.e = [aes.BlockSize]byte{}
	s.n = 0
}

// write absorbs p. A full block is only processed once more input follows,
// because the last block is treated differently (RFC 3566 section 4, step 3).
func (s *xcbcState) write(k *xcbcKey, p []byte) {
	for len(p) > 0 {
		if s.n == aes.BlockSize {
			subtle.XORBytes(s.e[:], s.e[:], s.buf[:])
			k.k1.Encrypt(s.e[:], s.e[:])
			s.n = 0
		}
		c := copy(s.buf[s.n:], p)
		s.n += c
		p = p[c:]
	}
}

// sum finishes the MAC and returns the full 128-bit value in s.e
// (RFC 3566 section 4, steps 4-5).
func (s *xcbcState) sum(k *xcbcKey) []byte {
	if s.n == aes.BlockSize {
		subtle.XORBytes(s.e[:], s.e[:], s.buf[:])
		subtle.XORBytes(s.e[:], s.e[:], k.k2[:])
	} else {
		s.buf[s.n] = 0x80
		clear(s.buf[s.n+1:])
		subtle.XORBytes(s.e[:], s.e[:], s.buf[:])
		subtle.XORBytes(s.e[:], s.e[:], k.k3[:])
	}
	k.k1.Encrypt(s.e[:], s.e[:])
	return s.e[:]
}
