package ipsec

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/sad"
)

// mirror returns the peer's view of CHILD SA c: directions swapped.
func mirror(c *ike.ChildSA) *ike.ChildSA {
	m := *c
	m.InboundSPI, m.OutboundSPI = c.OutboundSPI, c.InboundSPI
	m.InboundEncKey, m.OutboundEncKey = c.OutboundEncKey, c.InboundEncKey
	m.InboundIntegKey, m.OutboundIntegKey = c.OutboundIntegKey, c.InboundIntegKey
	m.LocalAddr, m.RemoteAddr = c.RemoteAddr, c.LocalAddr
	m.EncapLocalPort, m.EncapRemotePort = c.EncapRemotePort, c.EncapLocalPort
	return &m
}

// FuzzChildSpecs feeds ChildSpecs CHILD SAs with arbitrary protocols,
// modes, algorithm IDs and key lengths, as a buggy or hostile negotiation
// might produce them. It must never panic; whatever it accepts must work:
// a packet sealed with this side's outbound SA opens with the inbound SA
// built from the peer's (mirrored) view.
func FuzzChildSpecs(f *testing.F) {
	type seed struct {
		proto, mode                       uint8
		encr, keyBits, integ              uint16
		esn                               bool
		encLen, integLen, otherLen, encap uint8
	}
	for _, s := range []seed{
		{3, 0, 20, 256, 0, false, 36, 0, 36, 0},   // ESP AES-GCM-16 tunnel
		{3, 1, 20, 128, 0, true, 20, 0, 20, 1},    // transport, ESN, NAT-T
		{3, 0, 12, 128, 12, false, 16, 32, 16, 1}, // AES-CBC + HMAC-SHA-256
		{3, 0, 28, 0, 0, false, 36, 0, 36, 0},     // ChaCha20-Poly1305
		{2, 0, 0, 0, 12, false, 0, 32, 0, 0},      // AH HMAC-SHA-256 tunnel
		{2, 1, 0, 0, 5, false, 0, 16, 0, 0},       // AH AES-XCBC transport
		{3, 0, 20, 256, 0, false, 35, 0, 36, 0},   // key one byte short
		{3, 0, 12, 128, 12, false, 16, 31, 16, 0}, // integrity key short
		{3, 0, 3, 0, 1, false, 24, 16, 24, 0},     // legacy 3DES + HMAC-MD5
		{1, 0, 20, 256, 0, false, 36, 0, 36, 0},   // IKE is no CHILD SA
		{3, 7, 20, 256, 0, false, 36, 0, 36, 0},   // unknown mode
		{3, 0, 999, 0, 999, false, 0, 0, 0, 0},    // unknown algorithms
		{2, 0, 20, 256, 12, false, 36, 32, 36, 0}, // AH with an encryption transform
	} {
		f.Add(s.proto, s.mode, s.encr, s.keyBits, s.integ, s.esn, s.encLen, s.integLen, s.otherLen, s.encap)
	}
	f.Fuzz(func(t *testing.T, proto, mode uint8, encr, keyBits, integ uint16, esn bool, encLen, integLen, otherLen, encap uint8) {
		key := func(b byte, n uint8) []byte { return bytes.Repeat([]byte{b}, int(n)) }
		c := &ike.ChildSA{
			Protocol: isakmp.ProtocolID(proto), Mode: ike.Mode(mode),
			InboundSPI: 0x1000, OutboundSPI: 0x2000,
			Encr:  ike.Encr{ID: isakmp.EncrID(encr), KeyBits: int(keyBits)},
			Integ: isakmp.IntegID(integ), ESN: esn,
			InboundEncKey: key(1, encLen), InboundIntegKey: key(2, integLen),
			OutboundEncKey: key(3, otherLen), OutboundIntegKey: key(4, integLen),
			LocalAddr: addrI.Addr(), RemoteAddr: addrR.Addr(),
		}
		if encap&1 != 0 {
			c.EncapLocalPort, c.EncapRemotePort = 4500, 61000
		}
		_, out, err := ChildSpecs(c)
		if err != nil {
			return
		}
		peerIn, _, err := ChildSpecs(mirror(c))
		if err != nil {
			// The peer's view differs only in which key is which: with
			// keys of different lengths one side may be refused.
			if encLen == otherLen {
				t.Fatalf("accepted one way, refused the other: %v", err)
			}
			return
		}
		src, dst := hostI, hostR
		if c.Mode == ike.Transport {
			src, dst = addrI.Addr(), addrR.Addr()
		}
		pkt := udp4(src, dst, []byte("fuzz"))
		var wire []byte
		if out.ESP != nil {
			wire, err = out.ESP.Seal(nil, pkt)
		} else {
			wire, err = out.AH.Seal(nil, pkt)
		}
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		var got []byte
		if peerIn.ESP != nil {
			got, err = peerIn.ESP.Open(wire)
		} else {
			got, err = peerIn.AH.Open(wire)
		}
		if err != nil || !bytes.HasSuffix(got, []byte("fuzz")) {
			t.Fatalf("open: %v", err)
		}
	})
}

// FuzzInstallerModel drives an Installer with arbitrary sequences of CHILD
// SAs coming up, being rekeyed and being deleted (in any order, also
// deleting SAs twice or out of turn), and time passing, and checks it
// against a model of which CHILD SAs are alive: every live SA's inbound
// half is installed and mature; a key with live SAs has an outbound SA,
// which once the settle time has passed belongs to a live SA of that key;
// a key without live SAs has none; a deleted SA's inbound half is never
// mature.
func FuzzInstallerModel(f *testing.F) {
	f.Add([]byte{0, 1, 5, 2, 6})       // up, rekey, delete old, settle
	f.Add([]byte{0, 3, 0x10, 1, 2, 2}) // two keys, rekey, deletes
	f.Add([]byte{0, 1, 1, 2, 0x12, 6, 2, 2, 6})
	f.Add([]byte{2, 2, 0, 2, 2, 0, 6})
	f.Fuzz(func(t *testing.T, ops []byte) {
		// Each step checks every SA made so far: keep runs short.
		ops = ops[:min(len(ops), 64)]
		clock := &fakeClock{t: t0}
		db := sad.New(sad.Config{Clock: clock})
		x := newTestInstaller(db, clock)
		type child struct {
			c    *ike.ChildSA
			key  sad.OutboundKey
			live bool
		}
		var all []*child
		next := uint32(0)
		newChild := func(key sad.OutboundKey) *child {
			next++
			ch := &child{c: benchChild(next), key: key, live: true}
			all = append(all, ch)
			return ch
		}
		pickLive := func(b byte) *child {
			var live []*child
			for _, c := range all {
				if c.live {
					live = append(live, c)
				}
			}
			if len(live) == 0 {
				return nil
			}
			return live[int(b)%len(live)]
		}
		settled := true
		for i, op := range ops {
			arg := op >> 3
			var err error
			switch op & 7 {
			case 0, 3: // a new CHILD SA for key 0 or 1
				ch := newChild(sad.OutboundKey{Rule: uint32(arg & 1)})
				err = x.Handle(ike.Event{Kind: ike.EventChildUp, Child: ch.c}, ch.key)
			case 1, 4: // rekey a live SA
				old := pickLive(arg)
				if old == nil {
					continue
				}
				ch := newChild(old.key)
				err = x.Handle(ike.Event{Kind: ike.EventChildRekeyed, Child: ch.c, Old: old.c}, sad.OutboundKey{Rule: 99})
			case 2, 5: // delete any SA, live or not
				if len(all) == 0 {
					continue
				}
				ch := all[int(arg)%len(all)]
				ch.live = false
				settled = false
				err = x.Handle(ike.Event{Kind: ike.EventChildDeleted, Child: ch.c}, sad.OutboundKey{})
			case 6, 7: // time passes beyond the settle time
				clock.add(settle)
				poll(x)
				settled = true
			}
			if err != nil {
				t.Fatalf("op %d (%#x): %v", i, op, err)
			}
			liveKeys := map[sad.OutboundKey][]uint32{}
			for _, c := range all {
				in := db.Inbound(sad.ProtoESP, c.c.InboundSPI, netip.Addr{})
				if c.live {
					liveKeys[c.key] = append(liveKeys[c.key], c.c.OutboundSPI)
					if in == nil || in.State() != sad.StateMature {
						t.Fatalf("op %d: live SA %#x: inbound %v", i, c.c.InboundSPI, in)
					}
				} else if in != nil && in.State() == sad.StateMature {
					t.Fatalf("op %d: deleted SA %#x still mature", i, c.c.InboundSPI)
				}
			}
			for _, key := range []sad.OutboundKey{{Rule: 0}, {Rule: 1}} {
				out := db.Outbound(key)
				spis := liveKeys[key]
				switch {
				case len(spis) == 0 && out != nil:
					t.Fatalf("op %d: key %v has no live SA but outbound %v", i, key, out)
				case len(spis) > 0 && out == nil:
					t.Fatalf("op %d: key %v has live SAs %x but no outbound SA", i, key, spis)
				case len(spis) > 0 && settled && !slices.Contains(spis, out.SPI()):
					t.Fatalf("op %d: key %v sends on %#x, live SAs %x", i, key, out.SPI(), spis)
				}
			}
		}
	})
}
