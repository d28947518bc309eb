package ike

import (
	"github.com/ipsecgo/ipsec/isakmp"

	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"io"
	"math/big"
	"strings"
)

var (
	errBadKEData   = errors.New("ike: invalid key exchange public value")
	errBadKELength = errors.New("ike: key exchange public value has the wrong length")
)

type dhKind uint8

const (
	dhMODP dhKind = iota + 1
	dhECP
	dhX25519
)

// dhGroup is one key exchange method. It is immutable and safe for
// concurrent use.
type dhGroup struct {
	id     isakmp.KEGroup
	name   string // strongSwan proposal keyword
	kind   dhKind
	pubLen int // length of the Key Exchange Data (RFC 7296 3.4)

	// MODP: prime and the length of the private exponent in bits.
	p       *big.Int
	pMinus1 *big.Int
	expBits int

	// ECP and X25519.
	curve ecdh.Curve
}

func mustPrime(hex string) *big.Int {
	p, ok := new(big.Int).SetString(strings.Join(strings.Fields(hex), ""), 16)
	if !ok {
		panic("ike: bad built-in MODP prime") // constant input, checked by TestMODPPrimes
	}
	return p
}

func newMODP(id isakmp.KEGroup, name, hex string, expBits int) *dhGroup {
	p := mustPrime(hex)
	return &dhGroup{id: id, name: name, kind: dhMODP, pubLen: (p.BitLen() + 7) / 8,
		p: p, pMinus1: new(big.Int).Sub(p, big.NewInt(1)), expBits: expBits}
}

// The private exponent lengths follow RFC 3526 8, which estimates the
// strength of groups 14, 15 and 16 at 110-160, 130-210 and 150-240 bits and
// asks for an exponent of at least twice that: we take twice the upper end.
var dhGroups = []*dhGroup{
	newMODP(isakmp.GroupMODP2048, "modp2048", modp2048Hex, 320),
	newMODP(isakmp.GroupMODP3072, "modp3072", modp3072Hex, 420),
	newMODP(isakmp.GroupMODP4096, "modp4096", modp4096Hex, 480),
	{id: isakmp.GroupECP256, name: "ecp256", kind: dhECP, pubLen: 64, curve: ecdh.P256()},
	{id: isakmp.GroupECP384, name: "ecp384", kind: dhECP, pubLen: 96, curve: ecdh.P384()},
	{id: isakmp.GroupECP521, name: "ecp521", kind: dhECP, pubLen: 132, curve: ecdh.P521()},
	{id: isakmp.GroupCurve25519, name: "x25519", kind: dhX25519, pubLen: 32, curve: ecdh.X25519()},
}

func dhGroupByID(id isakmp.KEGroup) *dhGroup {
	for _, g := range dhGroups {
		if g.id == id {
			return g
		}
	}
	return nil
}

// keyExchange is one side's ephemeral key pair. It is not safe for
// concurrent use.
type keyExchange struct {
	group *dhGroup
	pub   []byte
	x     *big.Int         // MODP private exponent
	priv  *ecdh.PrivateKey // ECP and X25519
}

// generate makes a fresh key pair. rand may be nil for crypto/rand. The
// elliptic-curve groups always use crypto/ecdh's secure randomness (Go
// 1.26 ignores the reader passed to GenerateKey).
func (g *dhGroup) generate(r io.Reader) (*keyExchange, error) {
	if r == nil {
		r = rand.Reader
	}
	k := &keyExchange{group: g}
	switch g.kind {
	case dhMODP:
		buf := make([]byte, (g.expBits+7)/8)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		buf[0] |= 0x80 // full-length exponent, never 0 or 1
		k.x = new(big.Int).SetBytes(buf)
		y := new(big.Int).Exp(big.NewInt(2), k.x, g.p)
		k.pub = y.FillBytes(make([]byte, g.pubLen))
	default:
		priv, err := g.curve.GenerateKey(r)
		if err != nil {
			return nil, err
		}
		k.setECDH(priv)
	}
	return k, nil
}

func (k *keyExchange) setECDH(priv *ecdh.PrivateKey) {
	k.priv = priv
	pub := priv.PublicKey().Bytes()
	if k.group.kind == dhECP {
		pub = pub[1:] // RFC 5903 7: x | y without the SEC1 0x04 prefix
	}
	k.pub = pub
}

// public returns the Key Exchange Data to send (RFC 7296 3.4).
func (k *keyExchange) public() []byte { return k.pub }

// sharedSecret computes g^ir from the peer's Key Exchange Data, after the
// checks of RFC 6989:
//   - MODP (2.1): the value must be exactly as long as the prime (RFC 7296
//     3.4 pads it with leading zeros) and 1 < y < p-1; the RFC 3526 primes
//     are safe primes, for which that range check is all that is needed
//     (RFC 6989 2.2). The secret is padded to the length of the prime
//     (RFC 7296 2.14).
//   - ECP (2.3): the point must be on the curve (crypto/ecdh checks it);
//     the secret is the x coordinate only (RFC 5903 7, as corrected by
//     errata 9).
//   - Curve25519 (RFC 8031 2.3): an all-zero result is rejected.
func (k *keyExchange) sharedSecret(peer []byte) ([]byte, error) {
	g := k.group
	if len(peer) != g.pubLen {
		return nil, errBadKELength
	}
	switch g.kind {
	case dhMODP:
		y := new(big.Int).SetBytes(peer)
		if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(g.pMinus1) >= 0 {
			return nil, errBadKEData
		}
		z := new(big.Int).Exp(y, k.x, g.p)
		return z.FillBytes(make([]byte, g.pubLen)), nil
	case dhECP:
		enc := make([]byte, 1+len(peer))
		enc[0] = 4
		copy(enc[1:], peer)
		pk, err := g.curve.NewPublicKey(enc)
		if err != nil {
			return nil, errBadKEData
		}
		s, err := k.priv.ECDH(pk)
		if err != nil {
			return nil, errBadKEData
		}
		return s, nil
	default:
		pk, err := g.curve.NewPublicKey(peer)
		if err != nil {
			return nil, errBadKEData
		}
		s, err := k.priv.ECDH(pk) // fails on an all-zero result
		if err != nil {
			return nil, errBadKEData
		}
		return s, nil
	}
}

// modp1024 is the Oakley group 2 of RFC 2409 6.2, for IKEv1 peers that
// know nothing better (Windows Server 2003's default) and only with
// Config.AllowLegacyV1; it is not in dhGroups, so IKEv2 never uses it.
var modp1024 = newMODP(isakmp.GroupMODP1024, "modp1024", modp1024Hex, 256)
