package sad

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipsecgo/ipsec/ah"
	"github.com/ipsecgo/ipsec/esp"
)

// FuzzBundleOpen feeds arbitrary bytes to the AH+ESP bundle's Open (AH
// verification, then ESP): it must never panic, must fail with one of the
// transforms' sentinel errors, and whatever it accepts must lie within the
// input.
func FuzzBundleOpen(f *testing.F) {
	tx, rx := New(Config{}), New(Config{})
	eo, ei := espPair(f, 0x6001)
	ao, ai := ahPair(f, 0x6002, ah.ReplayOff)
	out, err := tx.AddOutbound(OutboundKey{}, Spec{ESP: eo, AH: ao})
	if err != nil {
		f.Fatal(err)
	}
	in, err := rx.AddInbound(Spec{ESP: ei, AH: ai, Lifetime: &Lifetime{}})
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 1, 60, 500} {
		s, err := out.Seal(nil, udpPacket(n, 1))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(s[:len(s)-3])
		bad := bytes.Clone(s)
		bad[len(bad)/2] ^= 0x10
		f.Add(bad)
	}
	f.Add([]byte{})
	f.Add([]byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := bytes.Clone(data)
		got, err := in.Open(p)
		if err != nil {
			for _, e := range []error{ah.ErrMalformed, ah.ErrAuthFailed, ah.ErrReplay, ah.ErrWrongSPI,
				esp.ErrMalformed, esp.ErrAuthFailed, esp.ErrReplay, esp.ErrWrongSPI, esp.ErrDummy} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		if len(got) > len(p) {
			t.Fatalf("accepted %x -> %x", data, got)
		}
	})
}
