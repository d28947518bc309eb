package ah

import (
	"bytes"
	"errors"
	"testing"
)

func fuzzSAs(t testing.TB) (tout, tin, uout, uin *SA) {
	tout, tin = pair(t, Config{Mode: Transport, Integrity: IntegHMACSHA196, ReplayWindow: ReplayOff, ESN: true})
	uout, uin = pair(t, Config{Integrity: IntegAES128GMAC, ReplayWindow: ReplayOff, Mode: Tunnel, TunnelSrc: v6Src, TunnelDst: v6Dst})
	return
}

func fuzzSeeds(f *testing.F, tout, uout *SA) {
	for _, pc := range pktCases {
		p := pc.pkt()
		for _, sa := range []*SA{tout, uout} {
			s, err := sa.Seal(nil, p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(s)
			f.Add(s[:len(s)-1])
			f.Add(s[:len(s)/2])
			bad := bytes.Clone(s)
			bad[len(bad)-1] ^= 1
			f.Add(bad)
		}
		f.Add(p)
	}
	f.Add([]byte{})
	f.Add([]byte{0x45})
	f.Add([]byte{0x60, 0, 0, 0, 0, 0, 51, 0})
}

// FuzzOpen feeds arbitrary bytes to Open in both modes: it must never
// panic, and whatever it accepts must be an IP packet within the input.
func FuzzOpen(f *testing.F) {
	tout, tin, uout, uin := fuzzSAs(f)
	fuzzSeeds(f, tout, uout)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, sa := range []*SA{tin, uin} {
			p := bytes.Clone(data)
			got, err := sa.Open(p)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuthFailed) && !errors.Is(err, ErrWrongSPI) && !errors.Is(err, ErrReplay) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if len(got) == 0 || len(got) > len(p) || (got[0]>>4 != 4 && got[0]>>4 != 6) {
				t.Fatalf("accepted %x -> %x", data, got)
			}
		}
	})
}

// FuzzSeal seals arbitrary bytes: a packet that Seal accepts must open to
// exactly the packet sealed (the input cut to its IP length, with a correct
// IPv4 header checksum).
func FuzzSeal(f *testing.F) {
	tout, tin, uout, uin := fuzzSAs(f)
	fuzzSeeds(f, tout, uout)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range [][2]*SA{{tout, tin}, {uout, uin}} {
			s, err := p[0].Seal(nil, data)
			if err != nil {
				continue
			}
			got, err := p[1].Open(s)
			if err != nil {
				t.Fatalf("sealed %x does not open: %v", data, err)
			}
			want := data[:len(got)]
			if got[0]>>4 == 4 && p[0].mode == Transport {
				// Seal and Open rewrite the IPv4 header checksum, which
				// the input need not have had right.
				want = bytes.Clone(want)
				want[10], want[11] = got[10], got[11]
			}
			if !bytes.Equal(want, got) {
				t.Fatalf("sealed %x opened to %x", data, got)
			}
		}
	})
}
