package isakmp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// refPayload is one payload as the reference walker finds it.
type refPayload struct {
	typ        PayloadType
	start, end int // body offsets in the walked buffer
	critical   bool
}

// refWalk is the reference model for Walker: the payload chain rules of
// RFC 2408 3.2 and RFC 7296 3.2/3.14 written out as plainly as possible,
// with no attention to speed or allocation.
func refWalk(major uint8, first PayloadType, b []byte) (ps []refPayload, consumed int, ok bool) {
	if major != 1 && major != 2 {
		return nil, 0, false
	}
	next, off := int(first), 0
	for next != 0 {
		if off+4 > len(b) {
			return ps, off, false
		}
		length := int(b[off+2])*256 + int(b[off+3])
		if length < 4 || off+length > len(b) {
			return ps, off, false
		}
		if major == 2 && next >= 1 && next <= 32 {
			return ps, off, false
		}
		if major == 1 && next >= 33 && next <= 54 {
			return ps, off, false
		}
		encrypted := major == 2 && (next == 46 || next == 53)
		if encrypted && off+length != len(b) {
			return ps, off, false // SK and SKF must be last
		}
		ps = append(ps, refPayload{PayloadType(next), off + 4, off + length, major == 2 && b[off+1] >= 0x80})
		nextNext := int(b[off])
		off += length
		if encrypted {
			return ps, off, true
		}
		next = nextNext
	}
	return ps, off, true
}

// compareWalk runs Walker and the reference on the same input and reports
// any difference.
func compareWalk(t *testing.T, major uint8, first PayloadType, b []byte) {
	t.Helper()
	want, wantN, wantOK := refWalk(major, first, b)
	w := NewWalker(major, first, b)
	var got []refPayload
	var p RawPayload
	for w.Next(&p) {
		start := w.Offset() - len(p.Body)
		got = append(got, refPayload{p.Type, start, start + len(p.Body), p.Critical})
	}
	gotOK := w.Err() == nil
	if gotOK != wantOK || len(got) != len(want) || (wantOK && w.Offset() != wantN) {
		t.Fatalf("major %d first %v %x:\nWalker %v ok=%v n=%d (%v)\nreference %v ok=%v n=%d", major, first, b, got, gotOK, w.Offset(), w.Err(), want, wantOK, wantN)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("payload %d: Walker %+v, reference %+v", i, got[i], want[i])
		}
	}
}

// TestWalkerDifferential compares Walker with the reference model on the
// captured messages, random messages, and random mutations of both.
func TestWalkerDifferential(t *testing.T) {
	var inputs [][]byte
	for _, m := range goldenMessages(t) {
		if !isV1Encrypted(m) {
			inputs = append(inputs, m)
		}
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 200 {
		m := randV2Message(r)
		if r.IntN(2) == 0 {
			m = randV1Message(r)
			if m.Ciphertext != nil {
				continue
			}
		}
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	for _, b := range inputs {
		major, first, body := b[17]>>4, PayloadType(b[16]), b[HeaderLen:]
		compareWalk(t, major, first, body)
		for range 30 {
			c := bytes.Clone(body)
			for range 1 + r.IntN(3) {
				if len(c) == 0 {
					break
				}
				c[r.IntN(len(c))] = byte(r.Uint32())
			}
			if r.IntN(4) == 0 && len(c) > 0 {
				c = c[:r.IntN(len(c))]
			}
			compareWalk(t, major, first, c)
		}
	}
}
