package ike

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipsecgo/ipsec/isakmp"
)

func TestParseProposals(t *testing.T) {
	good := []struct {
		in    string
		proto isakmp.ProtocolID
		want  Proposal
	}{
		{"aes256gcm16-prfsha256-x25519", isakmp.ProtocolIKE, Proposal{Protocol: isakmp.ProtocolIKE,
			Encr: []Encr{{isakmp.EncrAESGCM16, 256}}, PRF: []isakmp.PRFID{isakmp.PRFHMACSHA2_256},
			KE: []isakmp.KEGroup{isakmp.GroupCurve25519}}},
		// strongSwan adds the PRFs of the integrity algorithms.
		{"aes128-sha256-sha1-modp2048", isakmp.ProtocolIKE, Proposal{Protocol: isakmp.ProtocolIKE,
			Encr:  []Encr{{isakmp.EncrAESCBC, 128}},
			Integ: []isakmp.IntegID{isakmp.IntegHMACSHA2_256_128, isakmp.IntegHMACSHA1_96},
			PRF:   []isakmp.PRFID{isakmp.PRFHMACSHA2_256, isakmp.PRFHMACSHA1},
			KE:    []isakmp.KEGroup{isakmp.GroupMODP2048}}},
		{"AES128GCM16-ESN", isakmp.ProtocolESP, Proposal{Protocol: isakmp.ProtocolESP,
			Encr: []Encr{{isakmp.EncrAESGCM16, 128}}, ESN: []isakmp.ESNID{isakmp.ESNYes}}},
		{"aes256-sha512-ecp384", isakmp.ProtocolESP, Proposal{Protocol: isakmp.ProtocolESP,
			Encr: []Encr{{isakmp.EncrAESCBC, 256}}, Integ: []isakmp.IntegID{isakmp.IntegHMACSHA2_512_256},
			KE: []isakmp.KEGroup{isakmp.GroupECP384}, ESN: []isakmp.ESNID{isakmp.ESNNo}}},
		{"sha256", isakmp.ProtocolAH, Proposal{Protocol: isakmp.ProtocolAH,
			Integ: []isakmp.IntegID{isakmp.IntegHMACSHA2_256_128}, ESN: []isakmp.ESNID{isakmp.ESNNo}}},
	}
	for _, c := range good {
		got, err := ParseProposal(c.in, c.proto)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !equalProposal(got, c.want) {
			t.Errorf("%q: got %+v want %+v", c.in, got, c.want)
		}
		again, err := ParseProposal(got.String(), c.proto)
		if err != nil || !equalProposal(again, got) {
			t.Errorf("%q: String %q does not parse back: %v", c.in, got.String(), err)
		}
	}
	bad := []struct {
		in    string
		proto isakmp.ProtocolID
	}{
		{"", isakmp.ProtocolIKE},
		{"aes128-sha256", isakmp.ProtocolIKE},                       // no KE
		{"aes128-modp2048", isakmp.ProtocolIKE},                     // no PRF, no integrity
		{"aes128gcm16-aes128-prfsha256-x25519", isakmp.ProtocolIKE}, // AEAD mixed with CBC
		{"aes128gcm16-sha256-prfsha256-x25519", isakmp.ProtocolIKE}, // AEAD with integrity
		{"aes128gcm8-prfsha256-x25519", isakmp.ProtocolIKE},         // no 8-byte GCM for IKE
		{"3des-sha1-prfsha1-modp2048", isakmp.ProtocolIKE},          // no 3DES for IKE
		{"aes128-sha256-modp1024", isakmp.ProtocolIKE},              // group 2 not offered
		{"aes128-md4-x25519", isakmp.ProtocolIKE},
		{"aes128", isakmp.ProtocolESP},           // no integrity
		{"aes128-prfsha256", isakmp.ProtocolESP}, // PRF in ESP
		{"esn", isakmp.ProtocolIKE},
		{"aes128", isakmp.ProtocolAH},
		// Parsed by package isakmp, but not implemented here.
		{"camellia128-sha256-modp2048", isakmp.ProtocolIKE},
		{"aes128gcm16-prfsha256-x25519-ke1_mlkem768", isakmp.ProtocolIKE},
		{"aes128ccm16", isakmp.ProtocolESP},
		{"aes128gmac", isakmp.ProtocolAH},
		// Refused by package isakmp: neither confidentiality nor
		// integrity (RFC 4303 3.2).
		{"null", isakmp.ProtocolESP},
	}
	for _, c := range bad {
		if p, err := ParseProposal(c.in, c.proto); err == nil {
			t.Errorf("%q (%v) accepted: %+v", c.in, c.proto, p)
		}
	}
	list, err := ParseProposals("aes256gcm16-prfsha256-x25519, aes128-sha256-modp2048", isakmp.ProtocolIKE)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
}

// TestProposalsFromIsakmp checks that ike parses proposal strings with
// package isakmp's parser: for strings both accept, the wire proposal ike
// sends carries the same transforms, in the same order within each type,
// as isakmp.ParseProposal returns, and String is isakmp.FormatProposal.
func TestProposalsFromIsakmp(t *testing.T) {
	cases := []struct {
		s     string
		proto isakmp.ProtocolID
	}{
		{"aes256gcm16-prfsha384-ecp384-x25519", isakmp.ProtocolIKE},
		{"aes128-aes256-sha256-sha1-modp2048-ecp256", isakmp.ProtocolIKE},
		{"aes256-sha512-prfsha256-prfaesxcbc-modp4096", isakmp.ProtocolIKE},
		{"chacha20poly1305-prfsha256-curve25519", isakmp.ProtocolIKE},
		{"aes128-aesxcbc-modp3072", isakmp.ProtocolIKE},
		{"aes128ctr-aesxcbc", isakmp.ProtocolESP},
		{"aes128gcm12-aes256gcm16-x25519-esn-noesn", isakmp.ProtocolESP},
		{"3des-md5", isakmp.ProtocolESP},
		{"null-sha256", isakmp.ProtocolESP},
		{"aes192gmac", isakmp.ProtocolESP},
		{"sha384-sha512-ecp521", isakmp.ProtocolAH},
	}
	byType := func(w isakmp.Proposal) map[isakmp.TransformType][]isakmp.Transform {
		m := map[isakmp.TransformType][]isakmp.Transform{}
		for _, tr := range w.Transforms {
			m[tr.Type] = append(m[tr.Type], tr)
		}
		return m
	}
	for _, c := range cases {
		p, err := ParseProposal(c.s, c.proto)
		if err != nil {
			t.Errorf("%q: %v", c.s, err)
			continue
		}
		want, err := isakmp.ParseProposal(c.s, c.proto)
		if err != nil {
			t.Fatalf("%q: isakmp: %v", c.s, err)
		}
		got, exp := byType(p.wireProposal(1, nil, true)), byType(want)
		if len(got) != len(exp) {
			t.Errorf("%q: transform types %v, isakmp %v", c.s, got, exp)
		}
		for typ, ts := range exp {
			g := got[typ]
			if len(g) != len(ts) {
				t.Errorf("%q: %v: %v, isakmp %v", c.s, typ, g, ts)
				continue
			}
			for i := range ts {
				kg, _ := g[i].KeyLength()
				kw, _ := ts[i].KeyLength()
				if g[i].ID != ts[i].ID || kg != kw {
					t.Errorf("%q: %v #%d: %+v, isakmp %+v", c.s, typ, i, g[i], ts[i])
				}
			}
		}
		f, err := isakmp.FormatProposal(&want)
		if err != nil || p.String() != f {
			t.Errorf("%q: String %q, FormatProposal %q (%v)", c.s, p.String(), f, err)
		}
	}
}

func equalProposal(a, b Proposal) bool {
	return a.Protocol == b.Protocol && slices.Equal(a.Encr, b.Encr) && slices.Equal(a.Integ, b.Integ) &&
		slices.Equal(a.PRF, b.PRF) && slices.Equal(a.KE, b.KE) && slices.Equal(a.ESN, b.ESN)
}

// TestSelectProposal checks the responder's choice: its own preference
// order wins over the initiator's, and nothing outside its configuration
// is accepted.
func TestSelectProposal(t *testing.T) {
	ours := mustProposals(t, "aes256gcm16-prfsha384-ecp384-x25519,aes128-sha256-modp2048", isakmp.ProtocolIKE)
	theirsP := mustProposals(t, "aes128-sha256-modp2048,aes256gcm16-prfsha256-prfsha384-x25519-ecp384", isakmp.ProtocolIKE)
	var theirs []isakmp.Proposal
	for i := range theirsP {
		theirs = append(theirs, theirsP[i].wireProposal(uint8(i+1), nil, true))
	}
	c, ok := selectProposal(ours, theirs, true, isakmp.GroupNone)
	if !ok || c.num != 2 || c.encr != (Encr{isakmp.EncrAESGCM16, 256}) || c.prf != isakmp.PRFHMACSHA2_384 || c.ke != isakmp.GroupECP384 {
		t.Fatalf("chose %+v", c)
	}
	// With the initiator's KE payload for X25519, X25519 is taken.
	c, _ = selectProposal(ours, theirs, true, isakmp.GroupCurve25519)
	if c.ke != isakmp.GroupCurve25519 {
		t.Fatalf("preferKE ignored: %+v", c)
	}
	// A weaker offer only is refused.
	weak := mustProposals(t, "aes128-sha1-prfsha1-modp2048", isakmp.ProtocolIKE)
	if _, ok := selectProposal(ours, []isakmp.Proposal{weak[0].wireProposal(1, nil, true)}, true, isakmp.GroupNone); ok {
		t.Fatal("accepted a proposal below the configured ones")
	}
	// The chosen set encodes as one transform of each type and is accepted
	// back by the initiator.
	resp := &isakmp.SA{Proposals: []isakmp.Proposal{c.wire(nil)}}
	back, ok := checkAccepted(theirsP, resp, true)
	if !ok || back.encr != c.encr || back.prf != c.prf || back.ke != c.ke {
		t.Fatalf("checkAccepted: %+v %v", back, ok)
	}
	// Two transforms of one type in a response are refused.
	dup := c.wire(nil)
	dup.Transforms = append(dup.Transforms, dup.Transforms[0])
	if _, ok := checkAccepted(theirsP, &isakmp.SA{Proposals: []isakmp.Proposal{dup}}, true); ok {
		t.Fatal("accepted a response with two ENCR transforms")
	}
}

// TestNarrowDifferential compares narrow with a brute-force model over
// small address and port spaces: a point is in the result iff it is in a
// proposed selector and in a configured one.
func TestNarrowDifferential(t *testing.T) {
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	mk := func(a, b, pa, pb int, proto uint8) isakmp.TrafficSelector {
		return isakmp.TrafficSelector{TSType: isakmp.TSIPv4AddrRange, Start: addr(a), End: addr(b),
			StartPort: uint16(pa), EndPort: uint16(pb), IPProtocol: proto}
	}
	rng := uint32(1)
	next := func(n int) int { rng = rng*1664525 + 1013904223; return int(rng>>8) % n }
	in := func(ts []isakmp.TrafficSelector, a, port int, proto uint8) bool {
		for _, s := range ts {
			if s.Start.Compare(addr(a)) <= 0 && addr(a).Compare(s.End) <= 0 &&
				int(s.StartPort) <= port && port <= int(s.EndPort) && (s.IPProtocol == 0 || s.IPProtocol == proto) {
				return true
			}
		}
		return false
	}
	gen := func() []isakmp.TrafficSelector {
		var ts []isakmp.TrafficSelector
		for n := 1 + next(3); n > 0; n-- {
			a, b := next(16), next(16)
			pa, pb := next(8), next(8)
			ts = append(ts, mk(min(a, b), max(a, b), min(pa, pb), max(pa, pb), uint8([]int{0, 6, 17}[next(3)])))
		}
		return ts
	}
	for iter := 0; iter < 2000; iter++ {
		prop, conf := gen(), gen()
		got := narrow(prop, conf)
		for a := 0; a < 16; a++ {
			for port := 0; port < 8; port++ {
				for _, proto := range []uint8{6, 17} {
					want := in(prop, a, port, proto) && in(conf, a, port, proto)
					if in(got, a, port, proto) != want {
						t.Fatalf("iter %d: point %d/%d/%d: narrow %v, model %v\nprop %+v\nconf %+v\ngot %+v",
							iter, a, port, proto, !want, want, prop, conf, got)
					}
				}
			}
		}
		if len(got) > 0 && !covered(got, prop) {
			t.Fatalf("narrowed set not covered by the proposal")
		}
	}
}

// FuzzParseProposals: arbitrary proposal strings never panic, and whatever
// parses formats back to a string that parses to the same proposals.
func FuzzParseProposals(f *testing.F) {
	for _, s := range []string{"aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048,aes256-sha512-ecp521",
		"aes128gcm16-esn-noesn", "sha256", "", "-", ",,", "aes999", "chacha20poly1305-prfsha1-curve25519"} {
		f.Add(s, uint8(isakmp.ProtocolIKE))
		f.Add(s, uint8(isakmp.ProtocolESP))
		f.Add(s, uint8(isakmp.ProtocolAH))
	}
	f.Fuzz(func(t *testing.T, s string, proto uint8) {
		ps, err := ParseProposals(s, isakmp.ProtocolID(proto))
		if err != nil {
			return
		}
		for _, p := range ps {
			again, err := ParseProposal(p.String(), p.Protocol)
			if err != nil || !equalProposal(again, p) {
				t.Fatalf("%q: %q does not round-trip: %v", s, p.String(), err)
			}
		}
	})
}
