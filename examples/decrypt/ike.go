package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ipsecgo/ipsec/ike/keylog"
)

// Decryption of the IKEv2 Encrypted payload (RFC 7296 3.14) with the keys
// of a key log line: AES-CBC or 3DES-CBC with an HMAC (RFC 7296 3.14),
// AES-GCM (RFC 5282) and ChaCha20-Poly1305 (RFC 7634).

var errIKEIntegrity = errors.New("decrypt: IKE message integrity check failed")

// Transform IDs (IANA IKEv2 Transform Types 1 and 3).
const (
	encr3DES     = 3
	encrAESCBC   = 12
	encrAESGCM8  = 18
	encrAESGCM12 = 19
	encrAESGCM16 = 20
	encrChaCha   = 28
)

func integ(id uint16) (func() hash.Hash, int, bool) {
	switch id {
	case 2:
		return sha1.New, 12, true
	case 12:
		return sha256.New, 16, true
	case 13:
		return sha512.New384, 24, true
	case 14:
		return sha512.New, 32, true
	}
	return nil, 0, false
}

// openSK verifies and decrypts the Encrypted payload of msg, whose body
// (IV, ciphertext, ICV) starts at bodyOff and runs to the end of msg, with
// the keys of one direction. It returns the inner payloads' bytes
// without padding.
func openSK(encr uint16, ekey []byte, integID uint16, ikey []byte, msg []byte, bodyOff int) ([]byte, error) {
	if bodyOff < 0 || bodyOff > len(msg) {
		return nil, fmt.Errorf("decrypt: Encrypted payload outside the message")
	}
	body := msg[bodyOff:]
	switch encr {
	case encrAESGCM8, encrAESGCM12, encrAESGCM16, encrChaCha:
		if len(ekey) < 4+16 {
			return nil, fmt.Errorf("decrypt: AEAD key of %d bytes", len(ekey))
		}
		key, salt := ekey[:len(ekey)-4], ekey[len(ekey)-4:]
		var aead cipher.AEAD
		var err error
		if encr == encrChaCha {
			aead, err = chacha20poly1305.New(key)
		} else {
			var b cipher.Block
			if b, err = aes.NewCipher(key); err == nil {
				tag := map[uint16]int{encrAESGCM8: 8, encrAESGCM12: 12, encrAESGCM16: 16}[encr]
				aead, err = cipher.NewGCMWithTagSize(b, tag)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("decrypt: %w", err)
		}
		const ivLen = 8 // RFC 5282 3.1, RFC 7634 2
		if len(body) < ivLen+aead.Overhead()+1 {
			return nil, fmt.Errorf("decrypt: Encrypted payload of %d bytes is too short", len(body))
		}
		nonce := append(append(make([]byte, 0, 12), salt...), body[:ivLen]...)
		// RFC 5282 5.1: the associated data runs from the IKE header to
		// the end of the Encrypted payload's generic header.
		pt, err := aead.Open(nil, nonce, body[ivLen:], msg[:bodyOff])
		if err != nil {
			return nil, errIKEIntegrity
		}
		return unpad(pt)
	case encrAESCBC, encr3DES:
		newMAC, icvLen, ok := integ(integID)
		if !ok {
			return nil, fmt.Errorf("decrypt: integrity transform %d not supported", integID)
		}
		var b cipher.Block
		var err error
		if encr == encr3DES {
			b, err = des.NewTripleDESCipher(ekey)
		} else {
			b, err = aes.NewCipher(ekey)
		}
		if err != nil {
			return nil, fmt.Errorf("decrypt: %w", err)
		}
		bs := b.BlockSize()
		if len(body) < bs+bs+icvLen || (len(body)-bs-icvLen)%bs != 0 {
			return nil, fmt.Errorf("decrypt: Encrypted payload of %d bytes does not fit the cipher", len(body))
		}
		// RFC 7296 3.14: the ICV covers the message from the IKE header
		// through the ciphertext.
		m := hmac.New(newMAC, ikey)
		m.Write(msg[:len(msg)-icvLen])
		if subtle.ConstantTimeCompare(m.Sum(nil)[:icvLen], msg[len(msg)-icvLen:]) != 1 {
			return nil, errIKEIntegrity
		}
		ct := body[bs : len(body)-icvLen]
		pt := make([]byte, len(ct))
		cipher.NewCBCDecrypter(b, body[:bs]).CryptBlocks(pt, ct)
		return unpad(pt)
	}
	return nil, fmt.Errorf("decrypt: IKE encryption transform %d not supported", encr)
}

// unpad removes the padding and the Pad Length octet (RFC 7296 3.14).
func unpad(pt []byte) ([]byte, error) {
	if len(pt) == 0 || int(pt[len(pt)-1])+1 > len(pt) {
		return nil, fmt.Errorf("decrypt: bad IKE padding")
	}
	return pt[:len(pt)-1-int(pt[len(pt)-1])], nil
}

// openIKE tries the keys of sa on msg sent by the initiator or not.
func openIKE(sa *keylog.IKEv2SA, fromInitiator bool, msg []byte, bodyOff int) ([]byte, error) {
	if fromInitiator {
		return openSK(sa.Encr, sa.SKei, sa.Integ, sa.SKai, msg, bodyOff)
	}
	return openSK(sa.Encr, sa.SKer, sa.Integ, sa.SKar, msg, bodyOff)
}
