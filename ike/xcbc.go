package ike

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"hash"
)

// xcbcMAC is AES-XCBC-MAC (RFC 3566 4) as a hash.Hash. The full 128-bit
// output is AES-XCBC-PRF-128 (RFC 4434) when the key has been prepared by
// newXCBCPRF. It is not safe for concurrent use.
type xcbcMAC struct {
	e      cipher.Block // keyed with K1
	k2, k3 [xcbcBlockSize]byte
	state  [xcbcBlockSize]byte
	buf    [xcbcBlockSize]byte
	bufLen int
}

// newXCBCMAC derives K1, K2, K3 from a 128-bit key K (RFC 3566 4, step 1).
// The key is an array, so aes.NewCipher cannot fail.
func newXCBCMAC(key *[xcbcKeySize]byte) *xcbcMAC {
	k, _ := aes.NewCipher(key[:])
	var k1 [xcbcBlockSize]byte
	m := &xcbcMAC{}
	fill := func(dst *[xcbcBlockSize]byte, v byte) {
		var in [xcbcBlockSize]byte
		for i := range in {
			in[i] = v
		}
		k.Encrypt(dst[:], in[:])
	}
	fill(&k1, 0x01)
	fill(&m.k2, 0x02)
	fill(&m.k3, 0x03)
	m.e, _ = aes.NewCipher(k1[:])
	return m
}

// newXCBCPRF applies the key rule of RFC 4434 2: a 128-bit key is used as
// is, a shorter one is padded with zero bits, and a longer one is replaced
// by AES-XCBC-PRF-128 of it under the all-zero key.
func newXCBCPRF(key []byte) hash.Hash {
	var k [xcbcKeySize]byte
	switch {
	case len(key) <= xcbcKeySize:
		copy(k[:], key)
	default:
		z := newXCBCMAC(&k)
		z.Write(key)
		z.Sum(k[:0])
	}
	return newXCBCMAC(&k)
}

func (m *xcbcMAC) Size() int      { return xcbcBlockSize }
func (m *xcbcMAC) BlockSize() int { return xcbcBlockSize }

func (m *xcbcMAC) Reset() {
	m.state = [xcbcBlockSize]byte{}
	m.bufLen = 0
}

// Write processes every block except the last one, which Sum treats
// specially (RFC 3566 4, step 3).
func (m *xcbcMAC) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if m.bufLen == xcbcBlockSize {
			subtle.XORBytes(m.state[:], m.state[:], m.buf[:])
			m.e.Encrypt(m.state[:], m.state[:])
			m.bufLen = 0
		}
		c := copy(m.buf[m.bufLen:], p)
		m.bufLen += c
		p = p[c:]
	}
	return n, nil
}

// Sum appends the 128-bit MAC to b without changing the state.
func (m *xcbcMAC) Sum(b []byte) []byte {
	var last [xcbcBlockSize]byte
	copy(last[:], m.buf[:m.bufLen])
	if m.bufLen == xcbcBlockSize {
		subtle.XORBytes(last[:], last[:], m.k2[:])
	} else {
		last[m.bufLen] = 0x80
		subtle.XORBytes(last[:], last[:], m.k3[:])
	}
	var out [xcbcBlockSize]byte
	subtle.XORBytes(out[:], m.state[:], last[:])
	m.e.Encrypt(out[:], out[:])
	return append(b, out[:]...)
}
