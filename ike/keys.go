package ike

import "github.com/ipsecgo/ipsec/isakmp"

// ikeSAKeys are the seven secrets of RFC 7296 2.14.
type ikeSAKeys struct {
	d, ai, ar, ei, er, pi, pr []byte
}

// ikeSuite is the set of algorithms negotiated for an IKE SA. integ is nil
// for AEAD ciphers.
type ikeSuite struct {
	encr     *encrAlg
	encrBits int
	integ    *integAlg
	prf      *prfAlg
}

// skeyseed computes SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 2.14). For
// AES-XCBC-PRF-128 and AES-CMAC-PRF-128 only the first 64 bits of each
// nonce form the key (same section).
func skeyseed(p *prfAlg, ni, nr, gir []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	if p.id == isakmp.PRFAES128XCBC {
		key = append(key, ni[:min(8, len(ni))]...)
		key = append(key, nr[:min(8, len(nr))]...)
	} else {
		key = append(key, ni...)
		key = append(key, nr...)
	}
	return p.sum(key, gir)
}

// rekeySKEYSEED computes SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
// for an IKE SA created by CREATE_CHILD_SA (RFC 7296 2.18).
func rekeySKEYSEED(p *prfAlg, oldSKd, gir, ni, nr []byte) []byte {
	return p.sum(oldSKd, gir, ni, nr)
}

// deriveIKESAKeys computes
//
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//	    = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// (RFC 7296 2.14). SK_d, SK_pi and SK_pr have the PRF's preferred key
// length; SK_a* the integrity key length (none for AEADs); SK_e* the
// cipher key plus any salt.
func deriveIKESAKeys(s *ikeSuite, skeyseed, ni, nr []byte, spii, spir [8]byte) (ikeSAKeys, error) {
	pl := s.prf.keyLen
	al := 0
	if s.integ != nil {
		al = s.integ.keyLen
	}
	el := s.encr.keyMaterialLen(s.encrBits)
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(seed, ni...)
	seed = append(seed, nr...)
	seed = append(seed, spii[:]...)
	seed = append(seed, spir[:]...)
	km, err := s.prf.prfPlus(skeyseed, seed, 3*pl+2*al+2*el)
	if err != nil {
		return ikeSAKeys{}, err
	}
	var k ikeSAKeys
	take := func(n int) []byte {
		b := km[:n:n]
		km = km[n:]
		return b
	}
	k.d = take(pl)
	k.ai = take(al)
	k.ar = take(al)
	k.ei = take(el)
	k.er = take(el)
	k.pi = take(pl)
	k.pr = take(pl)
	return k, nil
}

// childKeymat computes KEYMAT = prf+(SK_d, Ni | Nr), or
// prf+(SK_d, g^ir (new) | Ni | Nr) when the CREATE_CHILD_SA exchange
// carried a key exchange (gir non-nil), RFC 7296 2.17. The caller takes
// the initiator-to-responder encryption and integrity keys first, then the
// responder-to-initiator ones.
func childKeymat(p *prfAlg, skd, gir, ni, nr []byte, n int) ([]byte, error) {
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(seed, gir...)
	seed = append(seed, ni...)
	seed = append(seed, nr...)
	return p.prfPlus(skd, seed, n)
}
