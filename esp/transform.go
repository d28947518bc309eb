package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ipsecgo/ipsec/internal/aesgcm"
)

// ESP packet layout (RFC 4303 section 2): SPI, sequence number, IV, the
// encrypted payload with its trailer (padding, pad length, next header), ICV.
const (
	hdrLen     = 8 // SPI + sequence number
	trailerLen = 2 // pad length + next header
	saltLen    = 4 // RFC 4106 section 4, RFC 4543 section 3.1, RFC 7634 section 2
	aeadIVLen  = 8 // explicit IV of the counter-based AEADs and AES-CTR
)

type kind uint8

const (
	kindAEAD kind = iota // AES-GCM-12/16, ChaCha20-Poly1305: Go's AEAD as is
	kindGCM8             // AES-GCM with an 8-byte ICV, which crypto/cipher does not offer
	kindGMAC             // AES-GMAC: everything is AAD (RFC 4543 section 3.2)
	kindCBC              // AES-CBC or 3DES-CBC, then an HMAC
	kindCTR              // AES-CTR, then an HMAC
	kindNull             // NULL encryption, then an HMAC
)

// ivBlockMode is a CBC mode whose IV can be reset, so that one instance
// serves many packets (crypto/cipher's CBC modes implement it).
type ivBlockMode interface {
	cipher.BlockMode
	SetIV([]byte)
}

// transform is the immutable crypto state of an SA. Mutable per-packet state
// lives in workers taken from a pool, so that one SA serves many goroutines.
type transform struct {
	kind   kind
	aead   cipher.AEAD  // kindAEAD, kindGCM8 (16-byte tag), kindGMAC
	block  cipher.Block // CBC and CTR cipher; the AES block under GCM8
	ivGen  cipher.Block // CBC: IV_i = E(ivKey, i), unpredictable (RFC 3602 section 3)
	salt   [saltLen]byte
	ivLen  int
	icvLen int
	align  int // the ciphertext's alignment (RFC 4303 section 2.4): 4, 8 or 16
	esn    bool

	newMAC func() hash.Hash // nil for AEADs
	pool   sync.Pool        // of *worker
}

// worker holds the mutable state of one packet operation.
type worker struct {
	mac    hash.Hash
	cbcEnc ivBlockMode
	cbcDec ivBlockMode
	sum    [sha512.Size]byte
	nonce  [12]byte
	aad    [12]byte
	ctr    [aes.BlockSize]byte
	ks     [16 * aes.BlockSize]byte
	buf    []byte // GMAC with ESN, GCM8: grows to the largest packet, then stays
}

func newTransform(c Cipher, key []byte, integ Integrity, ikey []byte, esn bool) (*transform, error) {
	if !slices.Contains(c.KeySizes(), len(key)) {
		return nil, fmt.Errorf("esp: %v key must be %v bytes (key and salt), not %d", c, c.KeySizes(), len(key))
	}
	if len(ikey) != integ.KeySize() {
		return nil, fmt.Errorf("esp: %v key must be %d bytes, not %d", integ, integ.KeySize(), len(ikey))
	}
	t := &transform{esn: esn, align: 4}
	n := len(key) - saltLen
	var err error
	switch c {
	case CipherAESGCM8, CipherAESGCM12, CipherAESGCM16, CipherNullAuthAESGMAC:
		copy(t.salt[:], key[n:])
		t.ivLen, t.icvLen = aeadIVLen, 16
		t.kind = kindAEAD
		switch c {
		case CipherAESGCM8:
			t.kind, t.icvLen = kindGCM8, 8
			// GCM8 decrypts with its own counter over this block (gcmXOR);
			// the other AES-GCM transforms need only the AEAD.
			if t.block, err = aes.NewCipher(key[:n]); err != nil {
				return nil, err
			}
		case CipherAESGCM12:
			t.icvLen = 12
		case CipherNullAuthAESGMAC:
			t.kind = kindGMAC
		}
		tag := max(t.icvLen, 12)
		if c == CipherAESGCM8 {
			tag = 16
		}
		// crypto/cipher's GCM, or the same on VAES and VPCLMULQDQ
		// where the CPU has them (internal/aesgcm).
		t.aead, err = aesgcm.New(key[:n], tag)
	case CipherChaCha20Poly1305:
		copy(t.salt[:], key[32:])
		t.aead, err = chacha20poly1305.New(key[:32])
		t.kind, t.ivLen, t.icvLen = kindAEAD, aeadIVLen, chacha20poly1305.Overhead
	case CipherAESCBC, Cipher3DES:
		t.kind = kindCBC
		if c == Cipher3DES {
			t.block, err = des.NewTripleDESCipher(key)
		} else {
			t.block, err = aes.NewCipher(key)
		}
		if err != nil {
			return nil, err
		}
		t.ivLen, t.align = t.block.BlockSize(), t.block.BlockSize()
		var ivKey [16]byte
		if _, err := rand.Read(ivKey[:]); err != nil {
			return nil, err
		}
		t.ivGen, err = aes.NewCipher(ivKey[:])
	case CipherAESCTR:
		t.kind, t.ivLen = kindCTR, aeadIVLen
		copy(t.salt[:], key[n:])
		t.block, err = aes.NewCipher(key[:n])
	case CipherNull:
		t.kind = kindNull
	}
	if err != nil {
		return nil, err
	}
	if integ != IntegNone {
		t.newMAC, t.icvLen = integrity(integ, ikey)
	}
	t.pool.New = func() any { return t.newWorker() }
	return t, nil
}

// integrity returns the HMAC constructor and ICV length of an integrity
// transform (RFC 2403, RFC 2404, RFC 4868 section 2.1).
func integrity(integ Integrity, key []byte) (func() hash.Hash, int) {
	var h func() hash.Hash
	switch integ {
	case IntegHMACMD596:
		h = md5.New
	case IntegHMACSHA196:
		h = sha1.New
	case IntegHMACSHA256128:
		h = sha256.New
	case IntegHMACSHA384192:
		h = sha512.New384
	case IntegHMACSHA512256:
		h = sha512.New
	}
	k := slices.Clone(key)
	return func() hash.Hash { return hmac.New(h, k) }, integ.icvSize()
}

func (t *transform) newWorker() *worker {
	w := &worker{}
	if t.newMAC != nil {
		w.mac = t.newMAC()
	}
	if t.kind == kindCBC {
		zero := make([]byte, t.block.BlockSize())
		w.cbcEnc = cipher.NewCBCEncrypter(t.block, zero).(ivBlockMode)
		w.cbcDec = cipher.NewCBCDecrypter(t.block, zero).(ivBlockMode)
	}
	return w
}

// overhead returns the bytes ESP adds around a payload of n bytes: header,
// IV, padding to the cipher's alignment, trailer and ICV.
func (t *transform) overhead(n int) int {
	pad := -(n + trailerLen) & (t.align - 1) // align is a power of two
	return hdrLen + t.ivLen + pad + trailerLen + t.icvLen
}

// aadFor writes the AAD of RFC 4106 section 5 / RFC 7634 section 2.1 (SPI,
// then the 32-bit or 64-bit sequence number) into w.aad.
func (t *transform) aadFor(w *worker, spi []byte, seq uint64) []byte {
	buf := w.aad[:]
	copy(buf[:4], spi)
	if t.esn {
		binary.BigEndian.PutUint64(buf[4:12], seq)
		return buf[:12]
	}
	binary.BigEndian.PutUint32(buf[4:8], uint32(seq))
	return buf[:8]
}

// headroom is how many bytes in front of an ESP packet let an AEAD SA work
// without a pooled worker, when the caller has them free for the duration of
// the call (the not yet written outer header of Seal, the dead outer header
// of a tunnel-mode Open): the 12-byte nonce goes at the start, and with ESN
// the SPI moves into the last 4 bytes so that the AAD of RFC 4106 section 5
// (SPI, high and low sequence number) lies in place.
const headroom = 16

// seal protects the ESP packet at pkt[off:] in place. It is laid out in full:
// SPI and sequence number written, room for the IV, the plaintext with its
// trailer, room for the ICV. The off bytes in front are free scratch.
func (t *transform) seal(pkt []byte, off int, seq uint64) {
	if t.kind == kindAEAD && off >= headroom {
		t.sealAEAD(pkt, off, seq)
		return
	}
	w := t.pool.Get().(*worker)
	t.sealWith(w, pkt[off:], seq)
	t.pool.Put(w)
}

// sealAEAD is the AES-GCM-12/16 and ChaCha20-Poly1305 seal (RFC 4106
// section 3.1: the sequence number is the IV, unique under the key), with
// its nonce and AAD in the headroom.
func (t *transform) sealAEAD(pkt []byte, off int, seq uint64) {
	b := pkt[off:]
	binary.BigEndian.PutUint64(b[hdrLen:], seq)
	nonce := t.nonceInto(pkt[:12], seq)
	aad, spi := t.aadInPlace(pkt, off, seq)
	body := b[hdrLen+aeadIVLen : len(b)-t.icvLen]
	t.aead.Seal(body[:0], nonce, body, aad)
	binary.BigEndian.PutUint32(b, spi)
}

// openAEAD is the counterpart of sealAEAD for the ESP packet at pkt[off:].
func (t *transform) openAEAD(pkt []byte, off int, seq uint64) ([]byte, bool) {
	b := pkt[off:]
	nonce := t.nonceInto(pkt[:12], binary.BigEndian.Uint64(b[hdrLen:]))
	aad, spi := t.aadInPlace(pkt, off, seq)
	body := b[hdrLen+aeadIVLen : len(b)-t.icvLen]
	pt, err := t.aead.Open(body[:0], nonce, b[hdrLen+aeadIVLen:], aad)
	binary.BigEndian.PutUint32(b, spi)
	return pt, err == nil
}

// nonceInto writes the 12-byte nonce of RFC 4106 section 4 and RFC 7634
// section 2 (salt, then the 8-byte IV) into buf.
func (t *transform) nonceInto(buf []byte, iv uint64) []byte {
	copy(buf, t.salt[:])
	binary.BigEndian.PutUint64(buf[saltLen:], iv)
	return buf[:12]
}

// aadInPlace returns the AAD of the ESP packet at pkt[off:]: its first 8
// bytes, or with ESN the SPI moved into pkt[off-4:off] followed by the high
// and low halves of the sequence number (RFC 4106 section 5). It returns the
// SPI, which the caller writes back after the AEAD call.
func (t *transform) aadInPlace(pkt []byte, off int, seq uint64) ([]byte, uint32) {
	spi := binary.BigEndian.Uint32(pkt[off:])
	if !t.esn {
		return pkt[off : off+8], spi
	}
	binary.BigEndian.PutUint32(pkt[off-4:], spi)
	binary.BigEndian.PutUint32(pkt[off:], uint32(seq>>32))
	return pkt[off-4 : off+8], spi
}

// sealAEADWith is sealAEAD with the nonce and AAD in a worker.
func (t *transform) sealAEADWith(w *worker, b []byte, seq uint64) {
	binary.BigEndian.PutUint64(b[hdrLen:], seq)
	body := b[hdrLen+aeadIVLen : len(b)-t.icvLen]
	t.aead.Seal(body[:0], t.nonceInto(w.nonce[:], seq), body, t.aadFor(w, b, seq))
}

// openAEADWith is openAEAD with the nonce and AAD in a worker.
func (t *transform) openAEADWith(w *worker, b []byte, seq uint64) ([]byte, bool) {
	nonce := t.nonceInto(w.nonce[:], binary.BigEndian.Uint64(b[hdrLen:]))
	body := b[hdrLen+aeadIVLen : len(b)-t.icvLen]
	pt, err := t.aead.Open(body[:0], nonce, b[hdrLen+aeadIVLen:], t.aadFor(w, b, seq))
	return pt, err == nil
}

func (t *transform) sealWith(w *worker, b []byte, seq uint64) {
	iv := b[hdrLen : hdrLen+t.ivLen]
	body := b[hdrLen+t.ivLen : len(b)-t.icvLen]
	icv := b[len(b)-t.icvLen:]

	switch t.kind {
	case kindAEAD:
		t.sealAEADWith(w, b, seq)
		return
	case kindGCM8, kindGMAC:
		// RFC 4106 section 3.1: the IV must not repeat under a key; the
		// sequence number is such a counter.
		binary.BigEndian.PutUint64(iv, seq)
		nonce := t.nonceInto(w.nonce[:], binary.BigEndian.Uint64(iv))
		switch t.kind {
		case kindGCM8:
			w.buf = t.aead.Seal(w.buf[:0], nonce, body, t.aadFor(w, b, seq))
			copy(b[hdrLen+t.ivLen:], w.buf[:len(body)+8]) // RFC 4106 section 6: the tag's leftmost bytes
		case kindGMAC:
			t.aead.Seal(icv[:0], nonce, nil, t.gmacAAD(w, b[:len(b)-t.icvLen], seq))
		}
		return
	case kindCBC:
		in := w.ks[:aes.BlockSize]
		clear(in)
		binary.BigEndian.PutUint64(in[8:], seq)
		t.ivGen.Encrypt(w.ctr[:], in)
		copy(iv, w.ctr[:])
		w.cbcEnc.SetIV(iv)
		w.cbcEnc.CryptBlocks(body, body)
	case kindCTR:
		binary.BigEndian.PutUint64(iv, seq)
		t.ctrXOR(w, iv, body, 1)
	}
	copy(icv, t.mac(w, b[:len(b)-t.icvLen], seq))
}

// open verifies and decrypts the ESP packet at pkt[off:] in place and returns
// the plaintext (payload and trailer). The caller has checked the lengths.
// The off bytes in front are free scratch, as for seal.
func (t *transform) open(pkt []byte, off int, seq uint64) ([]byte, bool) {
	if t.kind == kindAEAD && off >= headroom {
		return t.openAEAD(pkt, off, seq)
	}
	w := t.pool.Get().(*worker)
	pt, ok := t.openWith(w, pkt[off:], seq)
	t.pool.Put(w)
	return pt, ok
}

func (t *transform) openWith(w *worker, b []byte, seq uint64) ([]byte, bool) {
	iv := b[hdrLen : hdrLen+t.ivLen]
	body := b[hdrLen+t.ivLen : len(b)-t.icvLen]
	icv := b[len(b)-t.icvLen:]

	switch t.kind {
	case kindAEAD:
		return t.openAEADWith(w, b, seq)
	case kindGCM8:
		// crypto/cipher has no 8-byte GCM tags. Decrypt into scratch with
		// the GCM keystream (counter 2 onwards, NIST SP 800-38D 7.2),
		// recompute the full tag, and compare its leftmost 8 bytes; the
		// packet is not touched unless the tag matches.
		nonce := t.nonceInto(w.nonce[:], binary.BigEndian.Uint64(iv))
		w.buf = slices.Grow(w.buf[:0], 2*len(body)+16)[:len(body)]
		copy(w.buf, body)
		t.gcmXOR(w, nonce, w.buf)
		full := t.aead.Seal(w.buf[len(body):len(body)], nonce, w.buf, t.aadFor(w, b, seq))
		if subtle.ConstantTimeCompare(full[len(body):len(body)+8], icv) != 1 {
			return nil, false
		}
		copy(body, w.buf)
		return body, true
	case kindGMAC:
		_, err := t.aead.Open(w.sum[:0], t.nonceInto(w.nonce[:], binary.BigEndian.Uint64(iv)), icv, t.gmacAAD(w, b[:len(b)-t.icvLen], seq))
		return body, err == nil
	}
	// Encrypt-then-MAC: verify first, in constant time (RFC 4303 3.4.4.1).
	if !hmac.Equal(t.mac(w, b[:len(b)-t.icvLen], seq), icv) {
		return nil, false
	}
	switch t.kind {
	case kindCBC:
		w.cbcDec.SetIV(iv)
		w.cbcDec.CryptBlocks(body, body)
	case kindCTR:
		t.ctrXOR(w, iv, body, 1)
	}
	return body, true
}

// mac computes the truncated ICV over the packet up to the ICV, followed,
// with ESN, by the high-order 32 bits of the sequence number (RFC 4303
// section 2.2.1, RFC 4304 section 2).
func (t *transform) mac(w *worker, covered []byte, seq uint64) []byte {
	w.mac.Reset()
	w.mac.Write(covered)
	if t.esn {
		binary.BigEndian.PutUint32(w.aad[:4], uint32(seq>>32))
		w.mac.Write(w.aad[:4])
	}
	return w.mac.Sum(w.sum[:0])[:t.icvLen]
}

// gmacAAD returns the AAD of RFC 4543 section 3.3: the whole packet up to the
// ICV, with the high 32 bits of an extended sequence number inserted after
// the SPI.
func (t *transform) gmacAAD(w *worker, covered []byte, seq uint64) []byte {
	if !t.esn {
		return covered
	}
	w.buf = slices.Grow(w.buf[:0], len(covered)+4)
	w.buf = append(w.buf, covered[:4]...)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(seq>>32))
	return append(w.buf, covered[4:]...)
}

// ctrXOR applies the AES-CTR keystream of RFC 3686 section 4 (nonce, IV,
// 32-bit block counter from first) to b.
func (t *transform) ctrXOR(w *worker, iv []byte, b []byte, first uint32) {
	copy(w.ctr[:4], t.salt[:])
	copy(w.ctr[4:12], iv)
	t.keystreamXOR(w, b, first)
}

// gcmXOR applies the GCM encryption keystream for a 96-bit nonce (NIST SP
// 800-38D: J0 = nonce || 1, the payload uses inc32(J0) onwards).
func (t *transform) gcmXOR(w *worker, nonce []byte, b []byte) {
	copy(w.ctr[:12], nonce)
	t.keystreamXOR(w, b, 2)
}

func (t *transform) keystreamXOR(w *worker, b []byte, counter uint32) {
	for len(b) > 0 {
		n := 0
		for ; n < len(w.ks) && n < len(b); n += aes.BlockSize {
			binary.BigEndian.PutUint32(w.ctr[12:], counter)
			counter++
			t.block.Encrypt(w.ks[n:], w.ctr[:])
		}
		k := subtle.XORBytes(b, b, w.ks[:n])
		b = b[k:]
	}
}
