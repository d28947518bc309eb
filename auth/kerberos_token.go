package auth

import (
	"encoding/asn1"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
)

// oidKerberosV5 is the Kerberos V5 GSS-API mechanism (RFC 4121 section 1).
var oidKerberosV5 = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}

// GSS-API Kerberos token identifiers (RFC 4121 section 4.1).
const (
	tokIDAPReq   uint16 = 0x0100
	tokIDAPRep   uint16 = 0x0200
	tokIDKRBErr  uint16 = 0x0300
	tagGSSFramed        = cbasn1.Tag(0x60) // [APPLICATION 0] constructed (RFC 2743 section 3.1)
)

// appendGSSToken frames a Kerberos message as an RFC 2743 section 3.1
// InitialContextToken: [APPLICATION 0] { thisMech OID, TOK_ID, message }.
func appendGSSToken(dst []byte, tokID uint16, msg []byte) ([]byte, error) {
	b := cryptobyte.NewBuilder(dst)
	b.AddASN1(tagGSSFramed, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidKerberosV5)
		b.AddUint16(tokID)
		b.AddBytes(msg)
	})
	return b.Bytes()
}

// parseGSSToken reads an RFC 2743 section 3.1 framed Kerberos token and
// returns its TOK_ID and the Kerberos message, which aliases token.
func parseGSSToken(token []byte) (uint16, []byte, error) {
	in := cryptobyte.String(token)
	var body cryptobyte.String
	var oid asn1.ObjectIdentifier
	var tokID uint16
	if !in.ReadASN1(&body, tagGSSFramed) || !in.Empty() {
		return 0, nil, fmt.Errorf("%w: GSS-API token is not an [APPLICATION 0] framed token (RFC 2743 section 3.1)", ErrMalformed)
	}
	if !body.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidKerberosV5) {
		return 0, nil, fmt.Errorf("%w: GSS-API token is not for the Kerberos V5 mechanism", ErrMalformed)
	}
	if !body.ReadUint16(&tokID) || len(body) == 0 {
		return 0, nil, fmt.Errorf("%w: GSS-API Kerberos token has no TOK_ID or no message", ErrMalformed)
	}
	return tokID, body, nil
}

// GSS checksum of the AP-REQ authenticator (RFC 4121 section 4.1.1).
const (
	gssChecksumType  = 0x8003
	gssChecksumLen   = 24
	gssFlagMutual    = 2
	gssFlagInteg     = 32
	gssBindingLength = 16
)

// newGSSChecksum returns the 0x8003 checksum value with no channel bindings
// (Bnd all zero) and the given flags; all fields are little-endian.
func newGSSChecksum(flags uint32) []byte {
	c := make([]byte, gssChecksumLen)
	c[0] = gssBindingLength
	c[20], c[21], c[22], c[23] = byte(flags), byte(flags>>8), byte(flags>>16), byte(flags>>24)
	return c
}

// parseGSSChecksum checks the authenticator checksum's type and layout and
// returns the context flags.
func parseGSSChecksum(ck types.Checksum) (uint32, error) {
	if ck.CksumType != gssChecksumType {
		return 0, fmt.Errorf("%w: authenticator checksum type %d, want the GSS-API type 0x8003 (RFC 4121 section 4.1.1)", ErrKerberos, ck.CksumType)
	}
	c := ck.Checksum
	if len(c) < gssChecksumLen {
		return 0, fmt.Errorf("%w: GSS-API authenticator checksum of %d octets, want at least %d", ErrKerberos, len(c), gssChecksumLen)
	}
	lgth := uint32(c[0]) | uint32(c[1])<<8 | uint32(c[2])<<16 | uint32(c[3])<<24
	if lgth != gssBindingLength {
		return 0, fmt.Errorf("%w: GSS-API checksum Lgth %d, want 16", ErrKerberos, lgth)
	}
	return uint32(c[20]) | uint32(c[21])<<8 | uint32(c[22])<<16 | uint32(c[23])<<24, nil
}

// allowedEtype reports whether the package decrypts with etype. The AES
// encryption types are accepted; RC4-HMAC (RFC 4757), the only strong-ish
// type of Windows Server 2003 domains, only if rc4 is set, because RFC 8429
// deprecates it. 3DES (deprecated by RFC 8429) and DES (RFC 6649) never.
func allowedEtype(etype int32, rc4 bool) bool {
	switch etype {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
		return true
	case etypeID.RC4_HMAC:
		return rc4
	}
	return false
}

func etypePolicy(rc4 bool) string {
	if rc4 {
		return "AES or RC4-HMAC"
	}
	return "AES only, RFC 8429; RC4-HMAC needs AllowRC4HMAC"
}

// decrypt checks the encryption type, key size and ciphertext length before
// handing the ciphertext to gokrb5 (whose decryption slices without
// checking), then decrypts and verifies it with usage (RFC 3961 section 5.3).
func decrypt(ed types.EncryptedData, key types.EncryptionKey, usage uint32, rc4 bool) ([]byte, error) {
	if ed.EType != key.KeyType {
		return nil, fmt.Errorf("%w: data encrypted with etype %d, key is etype %d", ErrKerberos, ed.EType, key.KeyType)
	}
	if !allowedEtype(ed.EType, rc4) {
		return nil, fmt.Errorf("%w: encryption type %d is not allowed (%s)", ErrKerberos, ed.EType, etypePolicy(rc4))
	}
	et, err := krbcrypto.GetEtype(ed.EType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKerberos, err)
	}
	if len(key.KeyValue) != et.GetKeyByteSize() {
		return nil, fmt.Errorf("%w: key of %d octets for etype %d", ErrKerberos, len(key.KeyValue), ed.EType)
	}
	if len(ed.Cipher) < et.GetConfounderByteSize()+et.GetHMACBitLength()/8 {
		return nil, fmt.Errorf("%w: ciphertext of %d octets is too short", ErrMalformed, len(ed.Cipher))
	}
	pt, err := krbcrypto.DecryptEncPart(ed, key, usage)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKerberos, err)
	}
	return pt, nil
}
