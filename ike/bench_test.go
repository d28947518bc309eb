package ike

import (
	"testing"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

var benchProposals = []struct{ ike, esp string }{
	{"aes256gcm16-prfsha256-x25519", "aes256gcm16"},
	{"aes128-sha256-modp2048", "aes128-sha256"},
}

// BenchmarkHandshake runs a complete IKE_SA_INIT and IKE_AUTH with one
// CHILD SA between two in-memory sessions with PSK authentication. Compare
// it with BenchmarkHandshakeFloor for the same proposal: the ratio is the
// cost of everything that is not unavoidable cryptography.
func BenchmarkHandshake(b *testing.B) {
	for _, bp := range benchProposals {
		b.Run(bp.ike, func(b *testing.B) {
			icfg := pskConfig(b, true, bp.ike, bp.esp)
			rcfg := pskConfig(b, false, bp.ike, bp.esp)
			b.ReportAllocs()
			for b.Loop() {
				i, err := NewInitiator(icfg, addrI, addrR, t0)
				if err != nil {
					b.Fatal(err)
				}
				req := i.Datagrams()
				r, err := Accept(rcfg, addrR, addrI, t0, req[0])
				if err != nil {
					b.Fatal(err)
				}
				for !i.Established() || !r.Established() {
					moved := false
					for _, d := range r.Datagrams() {
						i.Receive(t0, d)
						moved = true
					}
					for _, d := range i.Datagrams() {
						r.Receive(t0, d)
						moved = true
					}
					if !moved {
						b.Fatal("handshake stalled")
					}
				}
				if len(i.ChildSAs()) != 1 || len(r.ChildSAs()) != 1 {
					b.Fatal("no CHILD SA")
				}
			}
		})
	}
}

// BenchmarkHandshakeFloor does only the cryptography that one such
// handshake cannot avoid, for both sides: key generation and the shared
// secret, SKEYSEED and the IKE SA keys, the CHILD SA KEYMAT, and the four
// AUTH computations (each side makes its own and checks the peer's, each
// with its MACedID, RFC 7296 2.15).
func BenchmarkHandshakeFloor(b *testing.B) {
	for _, bp := range benchProposals {
		b.Run(bp.ike, func(b *testing.B) {
			prop := mustProposals(b, bp.ike, isakmp.ProtocolIKE)[0]
			child := mustProposals(b, bp.esp, isakmp.ProtocolESP)[0]
			g := dhGroupByID(prop.KE[0])
			suite := &ikeSuite{encr: ikeEncr(prop.Encr[0]), encrBits: prop.Encr[0].KeyBits, prf: prfByID(prop.PRF[0])}
			if len(prop.Integ) > 0 {
				suite.integ = integByID(prop.Integ[0])
			}
			keyLen := 2 * (childEncrKeyLen(child.Encr[0]) + max(0, childIntegKeyLen(firstOr(child.Integ))))
			key, _ := auth.NewPSK(psk, auth.PSKOptions{})
			ni, nr := make([]byte, nonceLen), make([]byte, nonceLen)
			msg1, msg2 := make([]byte, 300), make([]byte, 300)
			idRest := []byte("\x02\x00\x00\x00initiator.example")
			var spiI, spiR [8]byte
			b.ReportAllocs()
			for b.Loop() {
				a, err := g.generate(nil)
				if err != nil {
					b.Fatal(err)
				}
				c, err := g.generate(nil)
				if err != nil {
					b.Fatal(err)
				}
				for side := 0; side < 2; side++ {
					var gir []byte
					if side == 0 {
						gir, err = a.sharedSecret(c.public())
					} else {
						gir, err = c.sharedSecret(a.public())
					}
					if err != nil {
						b.Fatal(err)
					}
					keys, err := deriveIKESAKeys(suite, skeyseed(suite.prf, ni, nr, gir), ni, nr, spiI, spiR)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := childKeymat(suite.prf, keys.d, nil, ni, nr, keyLen); err != nil {
						b.Fatal(err)
					}
					prf := func(k, d []byte) []byte { return suite.prf.sum(k, d) }
					for _, m := range [][]byte{msg1, msg2} {
						octets := append(append(append([]byte{}, m...), nr...), suite.prf.sum(keys.pi, idRest)...)
						if _, err := key.AuthData(prf, octets); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}

func firstOr(v []isakmp.IntegID) isakmp.IntegID {
	if len(v) == 0 {
		return isakmp.IntegNone
	}
	return v[0]
}
