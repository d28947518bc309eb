package ipsec

import (
	"bytes"
	"testing"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

// benchChild returns the n-th CHILD SA of a series, with its own SPIs.
func benchChild(n uint32) *ike.ChildSA {
	return &ike.ChildSA{
		Protocol: isakmp.ProtocolESP, Mode: ike.Tunnel,
		InboundSPI: 0x10000 + 2*n, OutboundSPI: 0x10001 + 2*n,
		Encr:          ike.Encr{ID: isakmp.EncrAESGCM16, KeyBits: 128},
		InboundEncKey: bytes.Repeat([]byte{1}, 20), OutboundEncKey: bytes.Repeat([]byte{2}, 20),
		LocalAddr: addrI.Addr(), RemoteAddr: addrR.Addr(),
	}
}

// BenchmarkRekey measures one CHILD SA rekey as the SAD sees it: install
// the new SA and retire the old one. The baseline makes the same sad calls
// directly (ChildSpecs, AddInbound, AddOutbound, RetireInbound); the
// Installer adds its bookkeeping from two IKE events and one poll after the
// settle time (on a fake clock). Both then delete the
// retired inbound SA at once, as if its grace period had passed, so that
// the database keeps one SA each way.
func BenchmarkRekey(b *testing.B) {
	b.Run("baseline=sad-calls", func(b *testing.B) {
		db := sad.New(sad.Config{Clock: &fakeClock{t: t0}})
		var prev *ike.ChildSA
		for i := 0; b.Loop(); i++ {
			c := benchChild(uint32(i))
			in, out, err := ChildSpecs(c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := db.AddInbound(in); err != nil {
				b.Fatal(err)
			}
			if _, err := db.AddOutbound(ruleKey, out); err != nil {
				b.Fatal(err)
			}
			if prev != nil {
				if err := db.RetireInbound(sad.ProtoESP, prev.InboundSPI, grace); err != nil {
					b.Fatal(err)
				}
				if err := db.DeleteInbound(sad.ProtoESP, prev.InboundSPI); err != nil {
					b.Fatal(err)
				}
			}
			prev = c
		}
	})
	b.Run("installer", func(b *testing.B) {
		clock := &fakeClock{t: t0}
		db := sad.New(sad.Config{Clock: clock})
		x := newTestInstaller(db, clock)
		var prev *ike.ChildSA
		for i := 0; b.Loop(); i++ {
			c := benchChild(uint32(i))
			kind := ike.EventChildUp
			if prev != nil {
				kind = ike.EventChildRekeyed
			}
			if err := x.Handle(ike.Event{Kind: kind, Child: c, Old: prev}, ruleKey); err != nil {
				b.Fatal(err)
			}
			if prev != nil {
				if err := x.Handle(ike.Event{Kind: ike.EventChildDeleted, Child: prev}, ruleKey); err != nil {
					b.Fatal(err)
				}
				// No packet arrives on the new SA here: it takes over
				// when the settle time has passed.
				clock.add(settle)
				poll(x)
				if db.Outbound(ruleKey).SPI() != c.OutboundSPI {
					b.Fatal("no switch")
				}
				// The retired inbound SA would leave after the grace
				// period; remove it now so both runs keep one SA.
				if err := db.DeleteInbound(sad.ProtoESP, prev.InboundSPI); err != nil {
					b.Fatal(err)
				}
			}
			prev = c
		}
	})
}
