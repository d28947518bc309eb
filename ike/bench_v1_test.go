package ike

import (
	"crypto/aes"
	"slices"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

var benchProposalsV1 = []struct{ ike, esp string }{
	{"aes128-sha256-modp2048", "aes128-sha256"},
	{"aes256-sha256-ecp256", "aes256gcm16"},
	{"aes128-sha1-x25519", "aes128-sha1"},
}

// handshakeV1 runs Main Mode and Quick Mode between two in-memory sessions.
func handshakeV1(b *testing.B, icfg, rcfg *Config) {
	i, err := NewInitiatorV1(icfg, addrI, addrR, t0, nil)
	if err != nil {
		b.Fatal(err)
	}
	r, err := AcceptV1(rcfg, addrR, addrI, t0, i.Datagrams()[0])
	if err != nil {
		b.Fatal(err)
	}
	for len(i.children) == 0 || len(r.children) == 0 {
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
}

// BenchmarkHandshakeV1 runs IKEv1 Main Mode with a pre-shared key and one
// Quick Mode between two in-memory sessions, then times it alternately
// with BenchmarkHandshakeV1Floor's work for the same proposal and reports
// the median ratio as x-floor (target: at most 2).
func BenchmarkHandshakeV1(b *testing.B) {
	for _, bp := range benchProposalsV1 {
		b.Run(bp.ike, func(b *testing.B) {
			icfg, rcfg := pskConfigV1(b, true, bp.ike, bp.esp), pskConfigV1(b, false, bp.ike, bp.esp)
			b.ReportAllocs()
			for b.Loop() {
				handshakeV1(b, icfg, rcfg)
			}
			floor := newFloorV1(b, bp.ike, bp.esp)
			reportFloorRatio(b, func() { handshakeV1(b, icfg, rcfg) }, floor.run)
		})
	}
}

// BenchmarkHandshakeV1Floor does only the cryptography one such handshake
// cannot avoid, for both sides: key generation and the shared secret,
// SKEYID, SKEYID_d/a/e and the cipher key; HASH_I and HASH_R made by one
// side and checked by the other; HASH(1), HASH(2) and HASH(3) likewise;
// KEYMAT for both directions on both sides; and the CBC encryption and
// decryption of the five encrypted messages (MM5, MM6, QM1, QM2, QM3) at
// their sizes.
func BenchmarkHandshakeV1Floor(b *testing.B) {
	for _, bp := range benchProposalsV1 {
		b.Run(bp.ike, func(b *testing.B) {
			f := newFloorV1(b, bp.ike, bp.esp)
			b.ReportAllocs()
			for b.Loop() {
				f.run()
			}
		})
	}
}

type floorV1 struct {
	b        testing.TB
	g        *dhGroup
	h        *v1HashAlg
	keyLen   int
	childLen int
	psk      *auth.PSK
	ni, nr   []byte
	sai, id  []byte
	msgs     [][]byte
}

func newFloorV1(b testing.TB, ikeP, espP string) *floorV1 {
	prop := mustProposals(b, ikeP, isakmp.ProtocolIKE)[0]
	child := mustProposals(b, espP, isakmp.ProtocolESP)[0]
	key, _ := auth.NewPSK(psk, auth.PSKOptions{})
	f := &floorV1{b: b, g: dhGroupByID(prop.KE[0]), h: v1HashByInteg(prop.Integ[0]), keyLen: prop.Encr[0].KeyBits / 8,
		childLen: childEncrKeyLen(child.Encr[0]) + max(0, childIntegKeyLen(firstOr(child.Integ))), psk: key,
		ni: make([]byte, nonceLenV1), nr: make([]byte, nonceLenV1), sai: make([]byte, 56), id: []byte("\x02\x00\x00\x00initiator.example")}
	// Plaintext sizes of MM5, MM6, QM1, QM2, QM3 (ID + HASH; HASH, SA,
	// nonce, IDs; HASH).
	for _, n := range []int{60, 60, 180, 180, 36} {
		f.msgs = append(f.msgs, make([]byte, n))
	}
	return f
}

func (f *floorV1) run() {
	a, err := f.g.generate(nil)
	if err != nil {
		f.b.Fatal(err)
	}
	c, err := f.g.generate(nil)
	if err != nil {
		f.b.Fatal(err)
	}
	var cky [8]byte
	for side := 0; side < 2; side++ {
		var gxy []byte
		if side == 0 {
			gxy, err = a.sharedSecret(c.public())
		} else {
			gxy, err = c.sharedSecret(a.public())
		}
		if err != nil {
			f.b.Fatal(err)
		}
		k := v1DeriveKeys(f.h, v1SKEYIDPSK(f.h, f.psk, f.ni, f.nr), gxy, cky, cky, f.keyLen)
		// HASH_I and HASH_R: each side makes one and checks the other.
		for range 2 {
			f.h.prf(k.skeyid, a.public(), c.public(), cky[:], cky[:], f.sai, f.id)
		}
		// HASH(1), HASH(2), HASH(3): made by one side, checked by the
		// other: three per side.
		for range 3 {
			f.h.prf(k.a, f.ni, f.msgs[2])
		}
		v1Keymat(f.h, k.d, nil, isakmp.ProtocolESP, 1000, f.ni, f.nr, f.childLen)
		v1Keymat(f.h, k.d, nil, isakmp.ProtocolESP, 2000, f.ni, f.nr, f.childLen)
		blk, err := aes.NewCipher(k.enc)
		if err != nil {
			f.b.Fatal(err)
		}
		cbc := &v1CBC{block: blk}
		iv := v1Phase1IV(f.h, a.public(), c.public(), 16)
		// Each side encrypts its messages and decrypts the peer's: over
		// both sides, every message once each way.
		for j, m := range f.msgs {
			if j%2 == side {
				iv, _ = cbc.seal(iv, m)
				iv = iv[len(iv)-16:]
			} else {
				ct, _ := cbc.seal(iv, m)
				if _, iv, err = cbc.open(iv, ct); err != nil {
					f.b.Fatal(err)
				}
			}
		}
	}
}

// reportFloorRatio times op and its floor alternately, in rounds of about
// five milliseconds each, and reports the median ratio of their times as
// x-floor (the technique of esp's x-baseline: both measured in the same
// stretch of time, so that load from other processes on the machine
// affects both alike).
func reportFloorRatio(b *testing.B, op, floor func()) {
	n := max(3, int(5*time.Millisecond/max(1, b.Elapsed()/time.Duration(b.N))))
	ratios := make([]float64, 21)
	run := func(f func()) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	for r := range ratios {
		var tOp, tBase time.Duration
		if r%2 == 0 {
			tOp, tBase = run(op), run(floor)
		} else {
			tBase, tOp = run(floor), run(op)
		}
		ratios[r] = float64(tOp) / float64(tBase)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "x-floor")
}
