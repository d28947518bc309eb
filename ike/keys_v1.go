package ike

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"hash"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// IKEv1 key material (RFC 2409 section 5 and Appendix B). IKEv1 has no
// separate PRF transform here: the prf is the HMAC of the negotiated hash
// (RFC 2409 section 4), and the hash itself makes the phase 1 IV and NAT-D.

// v1HashAlg is a phase 1 hash algorithm (RFC 2409 Appendix A; RFC 4868
// for SHA-2). It is immutable.
type v1HashAlg struct {
	id     isakmp.V1HashAlg
	integ  isakmp.IntegID // the Config.IKEProposals integrity algorithm that names it
	size   int
	new    func() hash.Hash
	legacy bool
}

var v1Hashes = []*v1HashAlg{
	{id: isakmp.V1HashSHA1, integ: isakmp.IntegHMACSHA1_96, size: sha1.Size, new: sha1.New},
	{id: isakmp.V1HashSHA2256, integ: isakmp.IntegHMACSHA2_256_128, size: sha256.Size, new: sha256.New},
	{id: isakmp.V1HashSHA2384, integ: isakmp.IntegHMACSHA2_384_192, size: sha512.Size384, new: sha512.New384},
	{id: isakmp.V1HashSHA2512, integ: isakmp.IntegHMACSHA2_512_256, size: sha512.Size, new: sha512.New},
	// MD5 only with Config.AllowLegacyV1: Windows Server 2003 offers it.
	{id: isakmp.V1HashMD5, integ: isakmp.IntegHMACMD5_96, size: md5.Size, new: md5.New, legacy: true},
}

func v1HashByID(id isakmp.V1HashAlg) *v1HashAlg {
	return lookupV1(v1Hashes, func(h *v1HashAlg) bool { return h.id == id })
}

func v1HashByInteg(i isakmp.IntegID) *v1HashAlg {
	return lookupV1(v1Hashes, func(h *v1HashAlg) bool { return h.integ == i })
}

// lookupV1 returns the first entry of an algorithm table that match
// accepts, or nil.
func lookupV1[T any](table []*T, match func(*T) bool) *T {
	for _, a := range table {
		if match(a) {
			return a
		}
	}
	return nil
}

// prf is HMAC with the hash (RFC 2409 section 4: the default prf).
func (h *v1HashAlg) prf(key []byte, data ...[]byte) []byte {
	m := hmac.New(h.new, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(make([]byte, 0, h.size))
}

func (h *v1HashAlg) sum(data ...[]byte) []byte {
	m := h.new()
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(make([]byte, 0, h.size))
}

func (h *v1HashAlg) authPRF() auth.PRF {
	return func(key, data []byte) []byte { return h.prf(key, data) }
}

// v1CipherAlg is a phase 1 CBC cipher (RFC 2409 Appendix A, RFC 3602 for
// AES). It is immutable.
type v1CipherAlg struct {
	id      isakmp.V1Encr
	encr    isakmp.EncrID // the Config.IKEProposals cipher that names it
	keyBits []int         // nil: fixed key of fixed bytes, no Key Length attribute
	fixed   int
	legacy  bool
	newCBC  func(key []byte) (cipher.Block, error)
}

var v1Ciphers = []*v1CipherAlg{
	{id: isakmp.V1EncrAESCBC, encr: isakmp.EncrAESCBC, keyBits: []int{128, 192, 256}, newCBC: aes.NewCipher},
	// 3DES only with Config.AllowLegacyV1 (Windows Server 2003's default).
	{id: isakmp.V1Encr3DESCBC, encr: isakmp.Encr3DES, fixed: 24, legacy: true, newCBC: des.NewTripleDESCipher},
}

func v1CipherByID(id isakmp.V1Encr) *v1CipherAlg {
	return lookupV1(v1Ciphers, func(c *v1CipherAlg) bool { return c.id == id })
}

func v1CipherByEncr(e isakmp.EncrID) *v1CipherAlg {
	return lookupV1(v1Ciphers, func(c *v1CipherAlg) bool { return c.encr == e })
}

func (c *v1CipherAlg) keyLen(bits int) int {
	if c.keyBits == nil {
		return c.fixed
	}
	return bits / 8
}

// v1Keys are the phase 1 secrets of RFC 2409 section 5 and the cipher key
// taken from SKEYID_e (Appendix B).
type v1Keys struct {
	skeyid, d, a, e, enc []byte
}

// v1SKEYIDSig computes SKEYID for the signature methods (RFC 2409 5):
//
//	SKEYID = prf(Ni_b | Nr_b, g^xy)
//
// A GSS-API method (issue 16) computes it the same way.
func v1SKEYIDSig(h *v1HashAlg, ni, nr, gxy []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	return h.prf(append(append(key, ni...), nr...), gxy)
}

// v1SKEYIDPSK computes SKEYID = prf(pre-shared-key, Ni_b | Nr_b) (RFC 2409
// 5) with package auth's PSK, which never hands its secret out.
func v1SKEYIDPSK(h *v1HashAlg, psk *auth.PSK, ni, nr []byte) []byte {
	return psk.SKEYID(h.authPRF(), ni, nr)
}

// v1DeriveKeys computes, from SKEYID (RFC 2409 5),
//
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//
// and the encryption key of encLen bytes from SKEYID_e (Appendix B).
func v1DeriveKeys(h *v1HashAlg, skeyid, gxy []byte, ckyI, ckyR [8]byte, encLen int) v1Keys {
	k := v1Keys{skeyid: skeyid}
	k.d = h.prf(skeyid, gxy, ckyI[:], ckyR[:], []byte{0})
	k.a = h.prf(skeyid, k.d, gxy, ckyI[:], ckyR[:], []byte{1})
	k.e = h.prf(skeyid, k.a, gxy, ckyI[:], ckyR[:], []byte{2})
	k.enc = v1ExpandKey(h, k.e, encLen)
	return k
}

// v1ExpandKey takes an n-byte cipher key from SKEYID_e (RFC 2409 Appendix
// B): its first n bytes if it is long enough, otherwise the first n bytes
// of
//
//	Ka = K1 | K2 | K3 ...,  K1 = prf(SKEYID_e, 0),  K2 = prf(SKEYID_e, K1), ...
func v1ExpandKey(h *v1HashAlg, skeyidE []byte, n int) []byte {
	if len(skeyidE) >= n {
		return append([]byte(nil), skeyidE[:n]...)
	}
	out := make([]byte, 0, n+h.size)
	k := h.prf(skeyidE, []byte{0})
	out = append(out, k...)
	for len(out) < n {
		k = h.prf(skeyidE, k)
		out = append(out, k...)
	}
	return out[:n]
}

// v1Phase1IV is the first IV of phase 1, hash(g^xi | g^xr) truncated to
// the block size (RFC 2409 Appendix B).
func v1Phase1IV(h *v1HashAlg, gxi, gxr []byte, blockLen int) []byte {
	return h.sum(gxi, gxr)[:blockLen]
}

// v1Phase2IV is the first IV of a Quick Mode or informational exchange:
// hash(last phase 1 CBC output block | M-ID) truncated to the block size
// (RFC 2409 Appendix B).
func v1Phase2IV(h *v1HashAlg, lastP1Block []byte, mid uint32, blockLen int) []byte {
	return h.sum(lastP1Block, binary.BigEndian.AppendUint32(nil, mid))[:blockLen]
}

// v1Keymat computes n bytes of Quick Mode KEYMAT for one direction (RFC
// 2409 5.5), spi being the SPI of the receiving side of that direction:
//
//	KEYMAT = K1 | K2 | ...
//	K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//	K2 = prf(SKEYID_d, K1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) ...
//
// gqm is nil without PFS.
func v1Keymat(h *v1HashAlg, skeyidD, gqm []byte, proto isakmp.ProtocolID, spi uint32, ni, nr []byte, n int) []byte {
	seed := make([]byte, 0, len(gqm)+5+len(ni)+len(nr))
	seed = append(seed, gqm...)
	seed = append(seed, byte(proto))
	seed = binary.BigEndian.AppendUint32(seed, spi)
	seed = append(append(seed, ni...), nr...)
	return v1ExpandSeeded(h, skeyidD, seed, n)
}

// v1ExpandSeeded is the Quick Mode form of Appendix B expansion: n bytes
// of K1 | K2 | ..., K1 = prf(key, seed), Kn = prf(key, Kn-1 | seed).
func v1ExpandSeeded(h *v1HashAlg, key, seed []byte, n int) []byte {
	out := make([]byte, 0, n+h.size)
	var k []byte
	for len(out) < n {
		k = h.prf(key, k, seed)
		out = append(out, k...)
	}
	return out[:n]
}

var errV1Decrypt = errors.New("ike: IKEv1 ciphertext is not a whole number of blocks")

// v1CBC encrypts and decrypts IKEv1 message bodies (RFC 2408 3.1, RFC 2409
// 5.3 and Appendix B) and keeps the IV chain: each message's last
// ciphertext block is the next message's IV.
type v1CBC struct {
	block cipher.Block
}

// seal pads plain (RFC 2409 5.3: zeros, the last octet the number of
// padding octets before it) and encrypts it with iv; it returns the
// ciphertext and the next IV.
func (c *v1CBC) seal(iv, plain []byte) (ct, next []byte) {
	bs := c.block.BlockSize()
	pad := bs - len(plain)%bs
	ct = make([]byte, len(plain)+pad)
	copy(ct, plain)
	ct[len(ct)-1] = byte(pad - 1)
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(ct, ct)
	return ct, append([]byte(nil), ct[len(ct)-bs:]...)
}

// open decrypts ct with iv into a new slice and returns it and the next IV
// (the last ciphertext block). Padding is left for the payload walker,
// which reports where the payload chain ends.
func (c *v1CBC) open(iv, ct []byte) (plain, next []byte, err error) {
	bs := c.block.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, nil, errV1Decrypt
	}
	plain = make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(plain, ct)
	return plain, append([]byte(nil), ct[len(ct)-bs:]...), nil
}
