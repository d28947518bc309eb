package ike

import (
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// FuzzReceiveV1 feeds arbitrary datagrams to established IKEv1 sessions on
// both sides and to AcceptV1. Seeds are the messages of an in-memory
// handshake with a CHILD SA rekey and a delete, strongSwan's captured
// IKEv1 messages, and truncations. Nothing may panic, and nothing that
// fails to authenticate may tear an ISAKMP SA down.
func FuzzReceiveV1(f *testing.F) {
	const ikeP, espP = "aes128-sha256-x25519", "aes128-sha256-x25519"
	p := establishV1(f, pskConfigV1(f, true, ikeP, espP), pskConfigV1(f, false, ikeP, espP))
	if err := p.i.RekeyChild(p.now, p.i.ChildSAs()[0].InboundSPI); err != nil {
		f.Fatal(err)
	}
	p.collect()
	p.run()
	seeds := append(append([][]byte{}, p.wireI...), p.wireR...)
	// And an Aggressive Mode, whose AM1 a responder that allows it
	// answers.
	ai, ar := pskConfigV1(f, true, ikeP, espP), pskConfigV1(f, false, ikeP, espP)
	ai.AggressiveMode, ar.AggressiveMode = true, true
	am := establishV1(f, ai, ar)
	seeds = append(append(seeds, am.wireI...), am.wireR...)
	for _, name := range []string{"ikev1", "ikev1_aggr", "ikev1_cert"} {
		seeds = append(seeds, readCaptureV1(f, "../isakmp/testdata/"+name+".pcap")...)
	}
	for _, w := range seeds {
		f.Add(w)
		f.Add(w[:len(w)/2])
		f.Add(w[:min(len(w), 28)])
	}
	f.Add([]byte{})
	rcfg := pskConfigV1(f, false, ikeP, espP)
	fresh := establishV1(f, pskConfigV1(f, true, ikeP, espP), rcfg)
	f.Fuzz(func(t *testing.T, b []byte) {
		fresh.i.Receive(fresh.now, b)
		fresh.r.Receive(fresh.now, b)
		fresh.i.Datagrams()
		fresh.r.Datagrams()
		for _, cfg := range []*Config{rcfg, ar} {
			if s, err := AcceptV1(cfg, addrR, addrI, fresh.now, b); err == nil {
				s.Datagrams()
				s.Receive(fresh.now, b)
				s.Tick(fresh.now.Add(time.Hour))
			}
		}
		if !fresh.i.Established() || !fresh.r.Established() {
			t.Fatal("unauthenticated input tore down an ISAKMP SA")
		}
	})
}

// FuzzDecryptedV1 fuzzes the IKEv1 receive path after decryption and
// authentication: the plaintext payload chain of an encrypted message goes
// straight into the handler an established session runs on it once the
// CBC layer and HASH have accepted it: informational (notifications,
// deletes, DPD), the Quick Mode responder (QM1) and initiator (QM2)
// decisions, and the phase 1 proof check (MM5). The first input byte picks
// the handler, the second the type of the first payload; seeds are the
// decrypted payloads of strongSwan's captured exchange and of an
// in-memory one. Nothing may panic, and the session must stay consistent:
// established or orderly closed, with no timer stuck in the past.
func FuzzDecryptedV1(f *testing.F) {
	var plains []capturedPlainV1
	for _, name := range []string{"ikev1", "ikev1_cert"} {
		plains = append(plains, decryptCaptureV1(f, name).plain...)
	}
	for _, p := range plains {
		sel := byte(0)
		switch {
		case p.exch == isakmp.ExchangeV1QuickMode:
			sel = 1
		case p.exch == isakmp.ExchangeV1MainMode:
			sel = 3
		}
		body := p.plain
		if sel < 3 {
			// Strip the HASH: the handlers see the payloads after it.
			w := isakmp.NewWalker(isakmp.MajorIKEv1, p.first, body)
			var raw isakmp.RawPayload
			if w.Next(&raw) && raw.Type == isakmp.PayloadV1Hash {
				f.Add(append([]byte{sel, byte(raw.Next)}, body[isakmp.GenericHeaderLen+len(raw.Body):]...))
				f.Add(append([]byte{sel + 1, byte(raw.Next)}, body[isakmp.GenericHeaderLen+len(raw.Body):]...))
			}
			continue
		}
		f.Add(append([]byte{sel, byte(p.first)}, body...))
	}
	const ikeP, espP = "aes128-sha256-x25519", "aes128-sha256-x25519"
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		ps, _, err := isakmp.DecodePayloads(nil, isakmp.MajorIKEv1, isakmp.PayloadType(in[1]), in[2:])
		if err != nil {
			return
		}
		p := establishV1(t, pskConfigV1(t, true, ikeP, espP), pskConfigV1(t, false, ikeP, espP))
		s := p.r
		switch in[0] % 4 {
		case 0:
			_ = s.handleInformational(p.now, s.sa, ps)
		case 1:
			if q, _, refusal := s.decideQuickMode(p.now, s.sa, 12345, ps); refusal == 0 {
				s.installChildV1(p.now, q, q.ch)
				if q.ah != nil {
					s.installChildV1(p.now, q.ah, q.ah.ch)
				}
			}
		case 2:
			s = p.i
			if err := s.startQuickMode(p.now, nil, nil); err != nil {
				t.Fatal(err)
			}
			for _, ex := range s.exchs {
				if q := ex.qm; q != nil && q.nr == nil {
					if err := s.checkQM2(q, ps); err == nil {
						s.installChildV1(p.now, q, s.makeChildV1(p.now, s.sa, q))
					}
				}
			}
		case 3:
			_ = s.verifyProofV1(p.now, s.sa, ps, true)
		}
		s.Datagrams()
		s.Events()
		if !s.Closed() && !s.Established() && !s.orphaned {
			t.Fatal("session neither established nor closed")
		}
		if d := s.Deadline(); !d.IsZero() && d.Before(p.now) {
			t.Fatalf("timer in the past: %v", d.Sub(p.now))
		}
		s.Tick(p.now.Add(24 * time.Hour))
	})
}
