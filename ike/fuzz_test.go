package ike

import (
	"testing"
)

// FuzzReceive feeds arbitrary datagrams to established sessions on both
// sides and to Accept. Seeds are the genuine messages of a handshake, a
// CHILD SA rekey and a delete, plus truncations. Nothing may panic, and
// nothing that fails to verify may change the established state.
func FuzzReceive(f *testing.F) {
	p := establishWith(f, pskConfig(f, true, "aes128-sha256-x25519", "aes128-sha256-x25519"),
		pskConfig(f, false, "aes128-sha256-x25519", "aes128-sha256-x25519"))
	ch := p.i.ChildSAs()[0]
	p.i.RekeyChild(p.now, ch.InboundSPI)
	p.collect()
	p.run()
	for _, w := range append(p.wireI, p.wireR...) {
		f.Add(w)
		f.Add(w[:len(w)/2])
		f.Add(w[:28])
	}
	f.Add([]byte{})
	icfg := pskConfig(f, true, "aes128-sha256-x25519", "aes128-sha256-x25519")
	rcfg := pskConfig(f, false, "aes128-sha256-x25519", "aes128-sha256-x25519")
	fresh := establishWith(f, icfg, rcfg)
	f.Fuzz(func(t *testing.T, b []byte) {
		fresh.i.Receive(fresh.now, b)
		fresh.r.Receive(fresh.now, b)
		fresh.i.Datagrams()
		fresh.r.Datagrams()
		if s, err := Accept(rcfg, addrR, addrI, fresh.now, b); err == nil {
			s.Datagrams()
			s.Receive(fresh.now, b)
		}
		if !fresh.i.Established() || !fresh.r.Established() {
			t.Fatal("unauthenticated input tore down an IKE SA")
		}
	})
}

func establishWith(t testing.TB, icfg, rcfg *Config) *pair {
	p := newPair(t, icfg, rcfg)
	p.run()
	if !p.i.Established() || !p.r.Established() {
		t.Fatal("not established")
	}
	return p
}
