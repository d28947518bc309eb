package esp

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzSAs are receivers of different shapes; each fuzz input is offered to
// all of them.
func fuzzSAs(t testing.TB) (senders, receivers []*SA) {
	cfgs := []Config{suiteConfig(0), suiteConfig(10), suiteConfig(6), suiteConfig(4)}
	cfgs[0].Mode, cfgs[0].TunnelSrc, cfgs[0].TunnelDst = Tunnel, v4a, v4b
	cfgs[1].EncapSrcPort, cfgs[1].EncapDstPort = 4500, 4500
	cfgs[2].ESN = true
	cfgs[3].Mode, cfgs[3].TunnelSrc, cfgs[3].TunnelDst, cfgs[3].ReplayWindow = Tunnel, v6a, v6b, ReplayOff
	for _, c := range cfgs {
		out, in := pair(t, c)
		senders, receivers = append(senders, out), append(receivers, in)
	}
	return senders, receivers
}

// FuzzOpen feeds arbitrary packets to Open: it must never panic, must fail
// with one of the documented errors, and what it delivers must parse as an
// IP packet.
func FuzzOpen(f *testing.F) {
	senders, _ := fuzzSAs(f)
	for _, s := range senders {
		for _, p := range [][]byte{ipv4Packet(v4a, v4b, 0), ipv4Packet(v4a, v4b, 100), ipv6Packet(v6a, v6b, 30, protoHopByHop)} {
			if s.mode == Transport && p[0]>>4 == 6 {
				continue
			}
			b, err := s.Seal(nil, p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(b[:len(b)-1])
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		_, receivers := fuzzSAs(t)
		for _, r := range receivers {
			got, err := r.Open(bytes.Clone(pkt))
			if err != nil {
				for _, e := range []error{ErrMalformed, ErrWrongSPI, ErrReplay, ErrAuthFailed, ErrDummy} {
					if errors.Is(err, e) {
						return
					}
				}
				t.Fatalf("undocumented error %v", err)
			}
			if _, ok := parseIP(got, false); !ok {
				t.Fatalf("delivered a packet that is not IP: %x", got)
			}
		}
	})
}

// FuzzRoundTrip seals arbitrary IP payloads and checks that Open returns
// them unchanged.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint8(17), true)
	f.Add([]byte{}, uint8(6), false)
	f.Fuzz(func(t *testing.T, payload []byte, proto uint8, v6 bool) {
		if len(payload) > 60000 {
			return
		}
		senders, receivers := fuzzSAs(t)
		for i, s := range senders {
			if proto == protoNoNext && s.mode == Transport {
				continue // next header 59 inside ESP marks a dummy packet (RFC 4303 2.6)
			}
			var p []byte
			if !v6 {
				p = ipv4Packet(v4a, v4b, 0)[:20]
				p[9] = proto
			} else {
				p = ipv6Packet(v6a, v6b, 0)[:40]
				p[6] = proto
			}
			switch proto {
			case protoUDP, protoTCP, protoHopByHop, protoRouting, protoFragment, protoDstOpts:
				// Keep the NAT checksum fixup and IPv6 extension headers
				// (which need a valid layout) out of this test.
				if len(p) == 20 {
					p[9] = 200
				} else {
					p[6] = 200
				}
			}
			p = append(p, payload...)
			if p[0]>>4 == 4 {
				p[2], p[3] = byte(len(p)>>8), byte(len(p))
				fixV4(p)
			} else {
				n := len(p) - 40
				if n == 0 {
					continue // IPv6 payload length 0 means a jumbogram
				}
				p[4], p[5] = byte(n>>8), byte(n)
			}
			sealed, err := s.Seal(nil, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := receivers[i].Open(sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, p) {
				t.Fatalf("round trip changed the packet:\n got %x\nwant %x", got, p)
			}
		}
	})
}

// FuzzClassify: the UDP 4500 demultiplexer never panics and its answer is
// consistent with the first bytes.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{0xff})
	f.Add(make([]byte, 40))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		k := Classify(b)
		switch k {
		case KindKeepalive:
			if len(b) != 1 {
				t.Fatal("keepalive longer than a byte")
			}
		case KindIKE:
			if len(b) < 32 || !bytes.Equal(b[:4], NonESPMarker[:]) {
				t.Fatal("IKE without marker and header")
			}
		case KindESP:
			if len(b) < 8 || bytes.Equal(b[:4], NonESPMarker[:]) {
				t.Fatal("ESP with zero SPI or short")
			}
		}
	})
}
