package ike

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"

	"github.com/ipsecgo/ipsec/internal/xcbc"
	"github.com/ipsecgo/ipsec/isakmp"
)

const (
	maxPRFPlusRounds  = 255
	xcbcKeySize       = xcbc.KeySize
	xcbcPRFOutputSize = xcbc.Size
)

var errPRFPlusTooLong = errors.New("ike: prf+ output longer than 255 PRF blocks")

// prfAlg describes one IKEv2 pseudorandom function (RFC 7296 2.13).
type prfAlg struct {
	id   isakmp.PRFID
	name string // strongSwan proposal keyword
	// size is the output length; for the HMAC PRFs it is also the preferred
	// key length (RFC 7296 2.13: "the preferred key size is the size of the
	// output"), for AES-XCBC-PRF-128 the key is 128 bits (RFC 4434).
	size   int
	keyLen int
	newMAC func(key []byte) hash.Hash
}

var prfAlgs = []*prfAlg{
	{id: isakmp.PRFHMACSHA1, name: "prfsha1", size: sha1.Size, keyLen: sha1.Size,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha1.New, k) }},
	{id: isakmp.PRFAES128XCBC, name: "prfaesxcbc", size: xcbcPRFOutputSize, keyLen: xcbcKeySize,
		newMAC: newXCBCPRF},
	{id: isakmp.PRFHMACSHA2_256, name: "prfsha256", size: sha256.Size, keyLen: sha256.Size,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha256.New, k) }},
	{id: isakmp.PRFHMACSHA2_384, name: "prfsha384", size: sha512.Size384, keyLen: sha512.Size384,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha512.New384, k) }},
	{id: isakmp.PRFHMACSHA2_512, name: "prfsha512", size: sha512.Size, keyLen: sha512.Size,
		newMAC: func(k []byte) hash.Hash { return hmac.New(sha512.New, k) }},
}

func prfByID(id isakmp.PRFID) *prfAlg {
	for _, p := range prfAlgs {
		if p.id == id {
			return p
		}
	}
	return nil
}

// sum returns prf(key, data[0] | data[1] | ...).
func (p *prfAlg) sum(key []byte, data ...[]byte) []byte {
	h := p.newMAC(key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(make([]byte, 0, p.size))
}

// prfPlus implements prf+ of RFC 7296 2.13:
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01)
//	T2 = prf (K, T1 | S | 0x02)
//
// and returns its first n bytes. The counter is one octet, so at most 255
// blocks can be produced; longer requests fail.
func (p *prfAlg) prfPlus(key, seed []byte, n int) ([]byte, error) {
	if n < 0 || n > maxPRFPlusRounds*p.size {
		return nil, errPRFPlusTooLong
	}
	out := make([]byte, 0, (n+p.size-1)/p.size*p.size)
	h := p.newMAC(key)
	var prev []byte
	for i := 1; len(out) < n; i++ {
		h.Reset()
		h.Write(prev)
		h.Write(seed)
		h.Write([]byte{byte(i)})
		start := len(out)
		out = h.Sum(out)
		prev = out[start:]
	}
	return out[:n], nil
}

// newXCBCPRF is AES-XCBC-PRF-128 (RFC 4434) as a hash.Hash: AES-XCBC-MAC
// (RFC 3566) under a key prepared by RFC 4434's key rule. With a 128-bit key
// it is also the untruncated AES-XCBC-96 integrity MAC.
func newXCBCPRF(key []byte) hash.Hash { return xcbc.NewMAC(xcbc.NewPRFKey(key)) }
