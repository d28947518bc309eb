package ah

import (
	"bytes"
	"errors"
	"testing"
)

// field is one header field of a sealed packet: where it is and how to change
// it.
type field struct {
	name string
	off  int  // offset in the sealed packet
	mask byte // bits to flip
}

// TestMutableFields seals a packet, changes one header field at a time as a
// router might, and opens it (RFC 4302 3.3.3.1, Appendix A). Changes to
// mutable fields must still verify; changes to immutable fields must fail
// the ICV check. The receiver runs without anti-replay so that every
// variant of the one sealed packet is judged by its ICV alone.
func TestMutableFields(t *testing.T) {
	// IPv4 with Router Alert (immutable) then Timestamp (mutable):
	// options start at 20; Router Alert 20..23, Timestamp 24..35.
	v4 := ipv4Packet(append(append([]byte{}, optRouterAlert...), optTimestamp...), payload(40))
	const v4ihl = 36
	v4Mutable := []field{
		{"TOS", 1, 0xff},
		{"DF flag", 6, 0x40},
		{"TTL", 8, 0xff},
		{"checksum", 10, 0xff},
		{"timestamp option pointer", 26, 0x04},
		{"timestamp option data", 30, 0xff},
	}
	v4Immutable := []field{
		{"identification", 4, 0x01},
		{"source", 12, 0x01},
		{"destination", 19, 0x80},
		{"router alert value", 23, 0x01},
		{"AH next header", v4ihl + 0, 0x01},
		{"AH reserved", v4ihl + 2, 0x01},
		{"AH sequence number", v4ihl + 11, 0x02},
		{"payload first", v4ihl + 24, 0x01},
		{"payload last", -1, 0x80},
	}
	// IPv6 with hop-by-hop (Router Alert immutable at 42, option 0x3e
	// mutable with data at 48..51), destination options (immutable data at
	// 60..63) and routing header (56+8 = 64 .. 87). AH at 88.
	ty, e := v6Exts()
	v6 := ipv6Packet(ty, e, payload(40))
	const v6ah = 88
	v6Mutable := []field{
		{"traffic class high", 0, 0x0f},
		{"traffic class low", 1, 0xf0},
		{"flow label", 2, 0xff},
		{"flow label low", 3, 0x01},
		{"hop limit", 7, 0xff},
		{"hop-by-hop mutable option data", 49, 0xff},
	}
	v6Immutable := []field{
		{"version", 0, 0x10},
		{"source", 8, 0x01},
		{"destination", 39, 0x01},
		{"hop-by-hop router alert value", 45, 0x01},
		{"hop-by-hop mutable option type", 46, 0x01},
		{"destination option data", 60, 0x01},
		{"routing header address", 87, 0x01},
		{"routing header type", 66, 0x01},
		{"AH sequence number", v6ah + 11, 0x02},
		{"payload last", -1, 0x80},
	}

	for _, alg := range []Integrity{IntegHMACSHA196, IntegAESXCBC96, IntegAES128GMAC, IntegHMACSHA512256} {
		for _, tc := range []struct {
			name      string
			pkt       []byte
			mut, immu []field
		}{
			{"v4", v4, v4Mutable, v4Immutable},
			{"v6", v6, v6Mutable, v6Immutable},
		} {
			out, in := pair(t, Config{Mode: Transport, Integrity: alg, ReplayWindow: ReplayOff})
			sealed, err := out.Seal(nil, tc.pkt)
			if err != nil {
				t.Fatal(err)
			}
			try := func(f field) error {
				p := bytes.Clone(sealed)
				off := f.off
				if off < 0 {
					off = len(p) - 1
				}
				p[off] ^= f.mask
				_, err := in.Open(p)
				return err
			}
			if err := try(field{"nothing", 0, 0}); err != nil {
				t.Fatalf("%v %s unchanged: %v", alg, tc.name, err)
			}
			for _, f := range tc.mut {
				if err := try(f); err != nil {
					t.Errorf("%v %s: changing mutable %s: %v", alg, tc.name, f.name, err)
				}
			}
			for _, f := range tc.immu {
				err := try(f)
				if err == nil {
					t.Errorf("%v %s: changing immutable %s still verifies", alg, tc.name, f.name)
				} else if f.name != "version" && !errors.Is(err, ErrAuthFailed) {
					t.Errorf("%v %s: changing immutable %s: %v, want ErrAuthFailed", alg, tc.name, f.name, err)
				}
			}
		}
	}
}

// TestZeroMutableFragmentFields covers the IPv4 fields that Open cannot be
// shown with a changed value, because a changed fragment offset or More
// Fragments flag makes the packet a fragment, which is refused before the
// ICV (RFC 4302 3.4.1): the ICV computation itself must ignore them.
func TestZeroMutableFragmentFields(t *testing.T) {
	out, _ := pair(t, Config{Mode: Transport, Integrity: IntegHMACSHA256128})
	sealed, err := out.Seal(nil, ipv4Packet(nil, payload(40)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := parseIP(sealed, true)
	if err != nil {
		t.Fatal(err)
	}
	w := out.auth.newWorker()
	want := bytes.Clone(out.icv(w, sealed, &info, out.ahLen4, 1))
	p := bytes.Clone(sealed)
	p[6] |= 0x3f // More Fragments and fragment offset bits
	p[7] = 0xff
	if got := out.icv(w, p, &info, out.ahLen4, 1); !bytes.Equal(got, want) {
		t.Fatal("fragment fields change the ICV")
	}
	if !bytes.Equal(p[6:8], []byte{0x7f, 0xff}) {
		t.Fatal("icv did not restore the header")
	}
}
