package ike

import (
	"github.com/ipsecgo/ipsec/isakmp"

	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

var (
	errIntegrity = errors.New("ike: integrity check of the encrypted payload failed")
	errBadSK     = errors.New("ike: malformed encrypted payload")
	errIVsUsedUp = errors.New("ike: AEAD IV counter exhausted; rekey the IKE SA")
)

// skCrypter protects the Encrypted payload (RFC 7296 3.14) of the messages
// of one IKE SA in one direction: built with SK_ei/SK_ai on the initiator's
// sending side and the responder's receiving side, SK_er/SK_ar on the
// other. It is not safe for concurrent use.
//
// The message bytes are handled as they are on the wire, so the integrity
// and AAD inputs are exactly what RFC 7296 3.14 and RFC 5282 5.1 name: the
// IKE header and everything up to the checksum (CBC), or the IKE header
// through the Encrypted payload's generic header (AEAD).
type skCrypter struct {
	e      *encrAlg
	aead   cipher.AEAD
	salt   [aeadSaltLen]byte
	ivCtr  uint64 // next AEAD explicit IV; unique per key (RFC 5282 3.1)
	block  cipher.Block
	cbcIV  [aesBlockSize]byte
	mac    hash.Hash
	icvLen int
	rand   io.Reader
}

// newSKCrypter builds one direction from its encryption key material (key
// and salt) and, for non-AEAD ciphers, its integrity key. r is the source
// of CBC IVs (nil: crypto/rand).
func newSKCrypter(s *ikeSuite, encKey, integKey []byte, r io.Reader) (*skCrypter, error) {
	if r == nil {
		r = rand.Reader
	}
	e := s.encr
	if len(encKey) != e.keyMaterialLen(s.encrBits) {
		return nil, errors.New("ike: wrong encryption key length")
	}
	c := &skCrypter{e: e, rand: r}
	key := encKey[:len(encKey)-e.saltLen]
	copy(c.salt[:], encKey[len(key):])
	switch e.id {
	case isakmp.EncrAESCBC:
		if s.integ == nil || len(integKey) != s.integ.keyLen {
			return nil, errors.New("ike: AES-CBC needs an integrity key")
		}
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		c.block = b
		c.mac = s.integ.newMAC(integKey)
		c.icvLen = s.integ.icvLen
	case isakmp.EncrAESGCM12, isakmp.EncrAESGCM16:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		a, err := cipher.NewGCMWithTagSize(b, e.icvLen)
		if err != nil {
			return nil, err
		}
		c.aead = a
		c.icvLen = e.icvLen
	case isakmp.EncrChaCha20Poly1305:
		a, err := chacha20poly1305.New(key)
		if err != nil {
			return nil, err
		}
		c.aead = a
		c.icvLen = a.Overhead()
	default:
		return nil, errors.New("ike: unsupported encryption transform")
	}
	return c, nil
}

// plainLen is the length of inner payloads plus padding and the Pad Length
// octet.
func (c *skCrypter) plainLen(innerLen int) int {
	n := innerLen + 1
	if p := c.e.padTo; p > 1 {
		n = (n + p - 1) / p * p
	}
	return n
}

// sealedLen is the length of the Encrypted payload's body (IV, encrypted
// payloads with padding, checksum) for innerLen bytes of inner payloads.
// The caller writes it into the generic payload header and the IKE header
// before calling seal.
func (c *skCrypter) sealedLen(innerLen int) int {
	return c.e.ivLen + c.plainLen(innerLen) + c.icvLen
}

// seal appends the body of the Encrypted payload for the inner payloads to
// msg, which holds the complete message up to and including the Encrypted
// payload's generic header with every length field final. The padding is
// zeros (RFC 7296 3.14 lets the sender choose it) and as short as allowed.
func (c *skCrypter) seal(msg, inner []byte) ([]byte, error) {
	aadEnd := len(msg)
	pl := c.plainLen(len(inner))
	msg = slices.Grow(msg, c.sealedLen(len(inner)))
	var iv []byte
	if c.aead != nil {
		if c.ivCtr == ^uint64(0) {
			return nil, errIVsUsedUp
		}
		msg = binary.BigEndian.AppendUint64(msg, c.ivCtr)
		c.ivCtr++
		iv = msg[aadEnd:]
	} else {
		if _, err := io.ReadFull(c.rand, c.cbcIV[:]); err != nil {
			return nil, err
		}
		msg = append(msg, c.cbcIV[:]...)
		iv = c.cbcIV[:]
	}
	ptStart := len(msg)
	msg = append(msg, inner...)
	for len(msg) < ptStart+pl-1 {
		msg = append(msg, 0)
	}
	msg = append(msg, byte(pl-1-len(inner)))
	pt := msg[ptStart:]
	if c.aead != nil {
		var nonce [aeadSaltLen + aeadIVLen]byte
		copy(nonce[:], c.salt[:])
		copy(nonce[aeadSaltLen:], iv)
		ct := c.aead.Seal(pt[:0], nonce[:], pt, msg[:aadEnd])
		return msg[:ptStart+len(ct)], nil
	}
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(pt, pt)
	c.mac.Reset()
	c.mac.Write(msg)
	var sum [64]byte
	return append(msg, c.mac.Sum(sum[:0])[:c.icvLen]...), nil
}

// open verifies and decrypts the Encrypted payload whose body (the IV)
// starts at bodyOff and runs to the end of msg (RFC 7296 3.14: it is the
// last payload). It decrypts in place and returns the inner payloads, which
// alias msg. The integrity check comes first; any failure returns
// errIntegrity or errBadSK and the caller drops the message.
func (c *skCrypter) open(msg []byte, bodyOff int) ([]byte, error) {
	if bodyOff < 0 || bodyOff > len(msg) {
		return nil, errBadSK
	}
	body := msg[bodyOff:]
	if len(body) < c.e.ivLen+c.icvLen+1 {
		return nil, errBadSK
	}
	iv := body[:c.e.ivLen]
	ct := body[c.e.ivLen:]
	var pt []byte
	if c.aead != nil {
		var nonce [aeadSaltLen + aeadIVLen]byte
		copy(nonce[:], c.salt[:])
		copy(nonce[aeadSaltLen:], iv)
		var err error
		pt, err = c.aead.Open(ct[:0], nonce[:], ct, msg[:bodyOff])
		if err != nil {
			return nil, errIntegrity
		}
	} else {
		icvOff := len(msg) - c.icvLen
		c.mac.Reset()
		c.mac.Write(msg[:icvOff])
		var sum [64]byte
		if !hmac.Equal(c.mac.Sum(sum[:0])[:c.icvLen], msg[icvOff:]) {
			return nil, errIntegrity
		}
		pt = ct[:len(ct)-c.icvLen]
		if len(pt) == 0 || len(pt)%aesBlockSize != 0 {
			return nil, errBadSK
		}
		cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(pt, pt)
	}
	if len(pt) == 0 {
		return nil, errBadSK
	}
	padLen := int(pt[len(pt)-1])
	if padLen+1 > len(pt) {
		return nil, errBadSK
	}
	return pt[:len(pt)-1-padLen], nil
}
