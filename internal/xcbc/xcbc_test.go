package xcbc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// Vectors copied from shared/vectors: RFC 3566 section 4 test cases 1-7
// and the RFC 4434 key-length cases, transcribed from libreswan and checked
// against strongSwan (see the files' transcribed_from fields).
type vector struct {
	ID                               string
	Key, Message, MAC, MAC96, Output string
}

func load(t *testing.T, name string) []vector {
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			ID        string `json:"id"`
			Key       string `json:"key"`
			Message   string `json:"message"`
			MAC       string `json:"mac"`
			MAC96     string `json:"mac_96"`
			PRFOutput string `json:"prf_output"`
		}
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var vs []vector
	for _, v := range f.Vectors {
		vs = append(vs, vector{v.ID, v.Key, v.Message, v.MAC, v.MAC96, v.PRFOutput})
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC3566 computes every test case, feeding the message whole and split
// at every byte, and checks the full MAC and its 96-bit truncation.
func TestRFC3566(t *testing.T) {
	for _, v := range load(t, "rfc3566_aes_xcbc_mac_96.json") {
		k, err := NewKey(unhex(t, v.Key))
		if err != nil {
			t.Fatal(err)
		}
		msg, want := unhex(t, v.Message), unhex(t, v.MAC)
		if !bytes.Equal(want[:12], unhex(t, v.MAC96)) {
			t.Fatalf("%s: vector's 96-bit MAC is not a prefix", v.ID)
		}
		m := NewMAC(k)
		for split := 0; split <= len(msg); split++ {
			m.Reset()
			m.Write(msg[:split])
			m.Write(msg[split:])
			if got := m.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("%s split %d: got %x want %x", v.ID, split, got, want)
			}
		}
	}
}

// TestRFC4434 checks the PRF key rule for 16-, 10- and 18-byte keys.
func TestRFC4434(t *testing.T) {
	for _, v := range load(t, "rfc4434_aes_xcbc_prf_128.json") {
		m := NewMAC(NewPRFKey(unhex(t, v.Key)))
		m.Write(unhex(t, v.Message))
		if got := m.Sum(nil); !bytes.Equal(got, unhex(t, v.Output)) {
			t.Fatalf("%s: got %x want %s", v.ID, got, v.Output)
		}
	}
}

// TestSumKeepsState: Sum does not change the state (hash.Hash contract).
func TestSumKeepsState(t *testing.T) {
	k, _ := NewKey(make([]byte, 16))
	m := NewMAC(k)
	m.Write([]byte("0123456789abcdef0123"))
	a := m.Sum(nil)
	if b := m.Sum(nil); !bytes.Equal(a, b) {
		t.Fatal("second Sum differs")
	}
	m.Write([]byte("x"))
	one := NewMAC(k)
	one.Write([]byte("0123456789abcdef0123x"))
	if !bytes.Equal(m.Sum(nil), one.Sum(nil)) {
		t.Fatal("writing after Sum differs from one write")
	}
}

func TestNoAllocs(t *testing.T) {
	k, _ := NewKey(make([]byte, 16))
	m := NewMAC(k)
	buf := make([]byte, 0, 16)
	msg := make([]byte, 100)
	if n := testing.AllocsPerRun(100, func() {
		m.Reset()
		m.Write(msg)
		m.Sum(buf[:0])
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
	if _, err := NewKey(make([]byte, 15)); err == nil {
		t.Fatal("15-byte key accepted")
	}
}
