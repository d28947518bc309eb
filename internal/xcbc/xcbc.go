package xcbc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// Size is the block size and the length of the untruncated MAC.
const Size = aes.BlockSize

// KeySize is the length of an AES-XCBC-MAC key (RFC 3566 section 4).
const KeySize = 16

var errKeySize = errors.New("xcbc: key must be 16 bytes")

// Key holds K1, K2 and K3 derived from a 128-bit key K (RFC 3566 section 4,
// steps 1 and 2): K1 keys the block cipher; K2 and K3 are XORed into a
// complete or a padded last block. Key is immutable and safe for concurrent
// use.
type Key struct {
	k1     cipher.Block
	k2, k3 [Size]byte
}

// NewKey derives the keys of AES-XCBC-MAC from a 16-byte key.
func NewKey(key []byte) (*Key, error) {
	if len(key) != KeySize {
		return nil, errKeySize
	}
	k, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var k1 [Size]byte
	x := new(Key)
	for i := range k1 {
		k1[i], x.k2[i], x.k3[i] = 0x01, 0x02, 0x03
	}
	k.Encrypt(k1[:], k1[:])
	k.Encrypt(x.k2[:], x.k2[:])
	k.Encrypt(x.k3[:], x.k3[:])
	if x.k1, err = aes.NewCipher(k1[:]); err != nil {
		return nil, err
	}
	return x, nil
}

// NewPRFKey applies the key rule of AES-XCBC-PRF-128 (RFC 4434 section 2):
// a 128-bit key is used as is, a shorter one is padded with zero bits, and a
// longer one is replaced by AES-XCBC-MAC of it under the all-zero key.
func NewPRFKey(key []byte) *Key {
	var k [KeySize]byte
	if len(key) <= KeySize {
		copy(k[:], key)
	} else {
		zero, _ := NewKey(k[:])
		m := NewMAC(zero)
		m.Write(key)
		m.Sum(k[:0])
	}
	x, _ := NewKey(k[:]) // 16 bytes: cannot fail
	return x
}

// MAC is one AES-XCBC-MAC computation. It implements hash.Hash with the
// full 128-bit output; AH and ESP truncate it to 96 bits. Not safe for
// concurrent use.
type MAC struct {
	key *Key
	e   [Size]byte // E[i-1], the chaining value
	buf [Size]byte // the block not yet processed
	n   int        // bytes in buf
	out [Size]byte // Sum's scratch, so that Sum does not allocate
}

// NewMAC starts a computation under key.
func NewMAC(key *Key) *MAC { return &MAC{key: key} }

// Size returns the MAC length, 16.
func (m *MAC) Size() int { return Size }

// BlockSize returns 16.
func (m *MAC) BlockSize() int { return Size }

// Reset starts over.
func (m *MAC) Reset() {
	m.e = [Size]byte{}
	m.n = 0
}

// Write absorbs p. A full block is processed only once more input follows,
// because the last block is treated differently (RFC 3566 section 4,
// step 3).
func (m *MAC) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if m.n == Size {
			subtle.XORBytes(m.e[:], m.e[:], m.buf[:])
			m.key.k1.Encrypt(m.e[:], m.e[:])
			m.n = 0
		}
		c := copy(m.buf[m.n:], p)
		m.n += c
		p = p[c:]
	}
	return n, nil
}

// Sum appends the 128-bit MAC to b (RFC 3566 section 4, steps 3 to 5)
// without changing the state.
func (m *MAC) Sum(b []byte) []byte {
	copy(m.out[:], m.buf[:m.n])
	if m.n == Size {
		subtle.XORBytes(m.out[:], m.out[:], m.key.k2[:])
	} else {
		m.out[m.n] = 0x80
		clear(m.out[m.n+1:])
		subtle.XORBytes(m.out[:], m.out[:], m.key.k3[:])
	}
	subtle.XORBytes(m.out[:], m.out[:], m.e[:])
	m.key.k1.Encrypt(m.out[:], m.out[:])
	return append(b, m.out[:]...)
}
