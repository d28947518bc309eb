package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOverheadMatchesSealedPackets: the byte overhead the meter computes
// from the RFCs equals the growth of real packets sealed by esp and ah, for
// every suite, mode, encapsulation and a range of sizes (all paddings),
// and the sealed packets open again.
func TestOverheadMatchesSealedPackets(t *testing.T) {
	sizes := []int{40, 41, 42, 43, 44, 45, 46, 47, 48, 64, 100, 576, 1399, 1400, 1500}
	for _, s := range Suites {
		for _, l := range layoutsFor(s) {
			sl, err := newSealer(s, l)
			if err != nil {
				t.Fatalf("%s %v: %v", s.Name, l, err)
			}
			for _, size := range sizes {
				pkt := ipv4UDP(size)
				sealed, err := sl.seal(nil, pkt)
				if err != nil {
					t.Fatalf("%s %v %d: %v", s.Name, l, size, err)
				}
				if got, want := Overhead(s, l, size), len(sealed)-size; got != want {
					t.Errorf("%s %v %d bytes: model says %d bytes added, sealing added %d", s.Name, l, size, got, want)
				}
				opened, err := sl.open(sealed)
				if err != nil || !bytes.Equal(opened, pkt) {
					t.Fatalf("%s %v %d: open: %v", s.Name, l, size, err)
				}
			}
		}
	}
}

// TestMixOverhead: the mix figures are the weighted means of the single
// sizes' figures.
func TestMixOverhead(t *testing.T) {
	s, _ := suitesByName("aes128-sha256")
	l := Layout{Tunnel: true, Encap: true}
	per, pct := MixOverhead(s[0], l, IMIX)
	var added, orig float64
	for k, size := range IMIX.Sizes {
		added += float64(IMIX.Weights[k] * Overhead(s[0], l, size))
		orig += float64(IMIX.Weights[k] * size)
	}
	if per != added/12 || pct != 100*added/orig {
		t.Fatalf("mix %.2f B %.2f%%, want %.2f B %.2f%%", per, pct, added/12, 100*added/orig)
	}
	if _, err := parseMix("40:1,1500:0"); err == nil {
		t.Fatal("zero weight accepted")
	}
	if m, err := parseMix("100:3,1000:1"); err != nil || len(m.Sizes) != 2 {
		t.Fatal(m, err)
	}
}

// TestMeasuredRatesAgainstBaseline: the live measurement's seal time
// stays within a loose band of the bare cryptography of the same bytes,
// the x-baseline metric esp's BenchmarkSeal reports (at 1400 bytes it is
// close to 1: the cipher dominates). A sanity band for a shared machine,
// not a timing assertion: it catches a meter that measures nothing, or
// the wrong thing.
func TestMeasuredRatesAgainstBaseline(t *testing.T) {
	suites, err := suitesByName("aes128gcm16,aes128-sha256,ah-sha256")
	if err != nil {
		t.Fatal(err)
	}
	upper := 4.0
	if raceEnabled {
		upper = 25
	}
	for _, s := range suites {
		r, err := Measure(s, 1400, 60*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if r.XBaseline < 0.25 || r.XBaseline > upper {
			t.Errorf("%s: seal is %.2f times its baseline", s.Name, r.XBaseline)
		}
		if r.SealNs <= 0 || r.OpenNs <= 0 || r.SealGbps != 1400*8/r.SealNs {
			t.Errorf("%s: %+v", s.Name, r)
		}
	}
}

// TestIKECost: the byte counts are those of the exchanges RFC 7296
// describes (two round trips for a handshake; CREATE_CHILD_SA and an
// INFORMATIONAL Delete for each rekey), the same on every run, and the
// CPU time is measured.
func TestIKECost(t *testing.T) {
	a, err := MeasureIKE("aes128gcm16-prfsha256-x25519", "aes128gcm16", 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MeasureIKE("aes128gcm16-prfsha256-x25519", "aes128gcm16", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]Cost{{a.Handshake, b.Handshake}, {a.ChildRekey, b.ChildRekey}, {a.IKERekey, b.IKERekey}} {
		if c[0].Messages != 4 || c[0].Bytes != c[1].Bytes || c[0].WireBytes != c[0].Bytes+4*28 || c[0].CPU <= 0 {
			t.Errorf("cost %+v / %+v", c[0], c[1])
		}
	}
	// The handshake carries two KE payloads of 32 bytes (X25519) and two
	// nonces of 32 bytes: at least that, plus four IKE headers.
	if a.Handshake.Bytes < 4*28+2*32+2*32 {
		t.Errorf("handshake of %d bytes", a.Handshake.Bytes)
	}
	// With PFS the CHILD SA rekey carries two more KE payloads.
	p, err := MeasureIKE("aes128gcm16-prfsha256-x25519", "aes128gcm16-x25519", 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.ChildRekey.Bytes < a.ChildRekey.Bytes+2*32 {
		t.Errorf("rekey with PFS %d bytes, without %d", p.ChildRekey.Bytes, a.ChildRekey.Bytes)
	}
}

// TestRunAndChart: the command prints the three tables and writes SVG
// and PNG charts made by gonum/plot.
func TestRunAndChart(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{"svg", "png"} {
		path := filepath.Join(dir, "chart."+ext)
		var out bytes.Buffer
		o := options{suites: "aes128gcm16,aes128-sha1,ah-sha1", mix: "imix", sizes: "64,1400", size: 256,
			duration: 10 * time.Millisecond, ike: "aes128gcm16-prfsha256-x25519", esp: "aes128gcm16", ikeRuns: 1, chart: path}
		if err := run(o, &out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"tunnel+udp", "ah-sha1", "x-baseline", "handshake", "IKE SA rekey", "chart written"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if ext == "svg" && !bytes.Contains(b[:min(len(b), 200)], []byte("<svg")) ||
			ext == "png" && !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s chart starts %q", ext, b[:min(len(b), 16)])
		}
	}
	if err := run(options{suites: "rot13"}, &bytes.Buffer{}); err == nil {
		t.Error("unknown suite accepted")
	}
}

// TestPolicySuites: -policy takes the security methods from a policy
// file, AH+ESP bundles included; the model's overhead of each, bundles too,
// equals the growth of really sealed packets; DES, which package esp does
// not implement, is reported as skipped.
func TestPolicySuites(t *testing.T) {
	policy := `name: Meter test
filter_lists:
  - name: All
    filters:
      - {source: me, destination: any, mirrored: true}
filter_actions:
  - name: Secure
    action: protect
    security_methods:
      - esp: {encryption: aes256-gcm16}
      - esp: {encryption: aes128-cbc, integrity: sha256}
        ah: sha1
      - ah: sha256
      - esp: {encryption: des, integrity: md5}
      - esp: {encryption: aes128-gcm16}
rules:
  - name: All
    filter_list: All
    filter_action: Secure
    authentication: [{preshared_key: "a secret"}]
`
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	suites, skipped, err := policySuites(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range suites {
		names = append(names, s.Name)
	}
	if strings.Join(names, " ") != "esp:aes256-gcm16/none esp:aes128-cbc/sha256+ah:sha1 ah:sha256 esp:aes128-gcm16/none" ||
		len(skipped) != 1 || !strings.Contains(skipped[0], "des") {
		t.Fatalf("suites %v, skipped %v", names, skipped)
	}
	for _, s := range suites {
		for _, l := range layoutsFor(s) {
			sl, err := newSealer(s, l)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			for _, size := range []int{40, 57, 576, 1400} {
				pkt := ipv4UDP(size)
				sealed, err := sl.seal(nil, pkt)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := Overhead(s, l, size), len(sealed)-size; got != want {
					t.Errorf("%s %v %d: model %d, sealed %d", s.Name, l, size, got, want)
				}
				if opened, err := sl.open(sealed); err != nil || !bytes.Equal(opened, pkt) {
					t.Fatalf("%s %v %d: open: %v", s.Name, l, size, err)
				}
			}
		}
	}
	if _, err := Measure(suites[1], 1400, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
