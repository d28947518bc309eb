package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
)

var prfByName = map[string]func() hash.Hash{
	"hmac-sha1":   sha1.New,
	"hmac-sha256": sha256.New,
	"hmac-sha384": sha512.New384,
	"hmac-sha512": sha512.New,
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// TestPSKKnownAnswer checks AUTH and SKEYID against values computed with an
// independent implementation (CPython hmac; see the file's "source").
func TestPSKKnownAnswer(t *testing.T) {
	raw, err := os.ReadFile("testdata/psk_python_crosscheck.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			PRF, Secret, SignedOctets, Auth, NiB, NrB, SKEYID string
		}
	}
	// Field names in the JSON use snake case.
	raw = []byte(strings.NewReplacer(`"signed_octets"`, `"SignedOctets"`, `"ni_b"`, `"NiB"`, `"nr_b"`, `"NrB"`).Replace(string(raw)))
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != 4 {
		t.Fatalf("got %d vectors, want 4", len(f.Vectors))
	}
	for _, v := range f.Vectors {
		t.Run(v.PRF, func(t *testing.T) {
			prf := HMACPRF(prfByName[v.PRF])
			p, err := NewPSK(unhex(t, v.Secret), PSKOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.AuthData(prf, unhex(t, v.SignedOctets))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != v.Auth {
				t.Errorf("AUTH = %x, want %s", got, v.Auth)
			}
			if err := p.VerifyAuthData(MethodSharedKeyMIC, unhex(t, v.Auth), prf, unhex(t, v.SignedOctets)); err != nil {
				t.Errorf("VerifyAuthData: %v", err)
			}
			if got := p.SKEYID(prf, unhex(t, v.NiB), unhex(t, v.NrB)); hex.EncodeToString(got) != v.SKEYID {
				t.Errorf("SKEYID = %x, want %s", got, v.SKEYID)
			}
		})
	}
}

// TestPSKDifferential compares AuthData with a direct composition of
// crypto/hmac on random inputs.
func TestPSKDifferential(t *testing.T) {
	for i := 0; i < 50; i++ {
		secret := make([]byte, 16+i)
		octets := make([]byte, i*7)
		rand.Read(secret)
		rand.Read(octets)
		p, err := NewPSK(secret, PSKOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("Key Pad for IKEv2"))
		m2 := hmac.New(sha256.New, m.Sum(nil))
		m2.Write(octets)
		want := m2.Sum(nil)
		got, _ := p.AuthData(HMACPRF(sha256.New), octets)
		if !hmac.Equal(got, want) {
			t.Fatalf("case %d: got %x want %x", i, got, want)
		}
	}
}

func TestPSKVerifyRejects(t *testing.T) {
	prf := HMACPRF(sha256.New)
	p, _ := NewPSK([]byte("0123456789abcdef0123"), PSKOptions{})
	other, _ := NewPSK([]byte("0123456789abcdef0124"), PSKOptions{})
	octets := []byte("signed octets")
	good, _ := p.AuthData(prf, octets)
	wrongKey, _ := other.AuthData(prf, octets)
	tests := []struct {
		name   string
		method Method
		data   []byte
		octets []byte
		want   error
	}{
		{"ok", MethodSharedKeyMIC, good, octets, nil},
		{"wrong key", MethodSharedKeyMIC, wrongKey, octets, ErrAuthFailed},
		{"wrong octets", MethodSharedKeyMIC, good, []byte("signed octetz"), ErrAuthFailed},
		{"truncated", MethodSharedKeyMIC, good[:len(good)-1], octets, ErrAuthFailed},
		{"empty", MethodSharedKeyMIC, nil, octets, ErrAuthFailed},
		{"wrong method", MethodRSASignature, good, octets, ErrUnsupportedMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.VerifyAuthData(tc.method, tc.data, prf, tc.octets)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := p.VerifyAuthData(MethodSharedKeyMIC, good, nil, octets); !errors.Is(err, ErrUnsupportedMethod) {
		t.Fatalf("nil PRF: got %v", err)
	}
}

func TestPSKMinimumLength(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		opts   PSKOptions
		ok     bool
	}{
		{"default minimum met", "0123456789abcdef", PSKOptions{}, true},
		{"default minimum short", "0123456789abcde", PSKOptions{}, false},
		{"custom minimum", "0123456789abcdef", PSKOptions{MinLength: 32}, false},
		{"short allowed", "secret", PSKOptions{AllowShort: true}, true},
		{"empty never", "", PSKOptions{AllowShort: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPSK([]byte(tc.secret), tc.opts)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrWeakSecret) {
				t.Fatalf("err = %v, want ErrWeakSecret", err)
			}
			if err != nil && tc.secret != "" && !strings.Contains(err.Error(), "offline") {
				t.Errorf("error does not say why: %v", err)
			}
		})
	}
}

func TestPSKStore(t *testing.T) {
	s := NewPSKStore(PSKOptions{})
	secret := []byte("a-secret-of-sufficient-length")
	ids := []Identity{
		FQDN("GW.Example.test"),
		RFC822("peer@example.test"),
		IP(netip.MustParseAddr("192.0.2.7")),
		IP(netip.MustParseAddr("2001:db8::7")),
		KeyID([]byte{1, 2, 3}),
	}
	for _, id := range ids {
		if err := s.Add(id, secret); err != nil {
			t.Fatalf("Add(%v): %v", id, err)
		}
	}
	if s.Len() != len(ids) {
		t.Fatalf("Len = %d", s.Len())
	}
	for _, id := range ids {
		if _, err := s.Lookup(id); err != nil {
			t.Errorf("Lookup(%v): %v", id, err)
		}
	}
	if _, err := s.Lookup(FQDN("gw.example.TEST")); err != nil {
		t.Errorf("FQDN lookup is not case-insensitive: %v", err)
	}
	if _, err := s.Lookup(IP(netip.MustParseAddr("::ffff:192.0.2.7"))); err != nil {
		t.Errorf("mapped IPv4 lookup: %v", err)
	}
	if _, err := s.Lookup(Identity{Type: IDKeyID, Data: []byte("GW.Example.test")}); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("type must be part of the key, got %v", err)
	}
	if err := s.Add(FQDN("weak.example"), []byte("short")); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("weak secret accepted: %v", err)
	}
	if err := s.Add(Identity{Type: IDIPv4Addr, Data: []byte{1, 2, 3}}, secret); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad identity accepted: %v", err)
	}
	s.Remove(ids[0])
	if _, err := s.Lookup(ids[0]); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("after Remove: %v", err)
	}
	// The store must copy the secret.
	buf := []byte("mutable-secret-0123456789")
	_ = s.Add(FQDN("copy.example"), buf)
	p1, _ := s.Lookup(FQDN("copy.example"))
	a1, _ := p1.AuthData(HMACPRF(sha256.New), []byte("x"))
	buf[0] ^= 0xff
	a2, _ := p1.AuthData(HMACPRF(sha256.New), []byte("x"))
	if !hmac.Equal(a1, a2) {
		t.Error("store aliases the caller's secret")
	}
}

func TestPSKStoreConcurrent(t *testing.T) {
	s := NewPSKStore(PSKOptions{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := IP(netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i)}))
				if err := s.Add(id, []byte("0123456789abcdef")); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Lookup(id); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if s.Len() != 800 {
		t.Fatalf("Len = %d", s.Len())
	}
}

// BenchmarkPSKAuth measures AuthData against its baseline, the two raw HMAC
// computations it is made of.
func BenchmarkPSKAuth(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	octets := make([]byte, 600)
	b.Run("baseline-raw-hmac", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(ikev2KeyPad))
			m2 := hmac.New(sha256.New, m.Sum(nil))
			m2.Write(octets)
			_ = m2.Sum(nil)
		}
	})
	b.Run("AuthData", func(b *testing.B) {
		p, _ := NewPSK(secret, PSKOptions{})
		prf := HMACPRF(sha256.New)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = p.AuthData(prf, octets)
		}
	})
	b.Run("StoreLookup+VerifyAuthData", func(b *testing.B) {
		s := NewPSKStore(PSKOptions{})
		id := FQDN("peer.example.test")
		_ = s.Add(id, secret)
		for i := 0; i < 1000; i++ {
			_ = s.Add(IP(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})), secret)
		}
		prf := HMACPRF(sha256.New)
		p, _ := s.Lookup(id)
		good, _ := p.AuthData(prf, octets)
		b.ReportAllocs()
		for b.Loop() {
			p, _ := s.Lookup(id)
			if err := p.VerifyAuthData(MethodSharedKeyMIC, good, prf, octets); err != nil {
				b.Fatal(err)
			}
		}
	})
}
