package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/testenv"
)

// TestMain lets the test binary play the roles the tool starts itself in:
// the responder process and the process in charon's namespace.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var finalLine = regexp.MustCompile(`^live-[0-9k]+/none: [0-9.]+  gomaxprocs-2/1: [0-9.]+  bytes-per-ike-sa: [0-9]+$`)

// TestLoadQuick is the CI-sized run: the responder process at GOMAXPROCS 1
// and 2, SAs deleted at once and kept until 1,000 are live. Every
// handshake completes, the report ends with the summary line, and an IKE
// SA with one CHILD SA costs the responder less than 6 KB of heap. Rates
// are printed, not checked.
func TestLoadQuick(t *testing.T) {
	o := options{procs: []int{1, 2}, live: []int{1000}, sources: 8, window: 16, measure: 300 * time.Millisecond}
	var out bytes.Buffer
	results, err := run(context.Background(), o, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results, want GOMAXPROCS 1, 2 and 2 with SAs live", len(results))
	}
	for _, r := range results {
		if len(r.Phases) != 1 {
			t.Fatalf("%s: %d phases", r.Responder, len(r.Phases))
		}
		for _, p := range r.Phases {
			if p.Handshakes == 0 || p.Failed != 0 {
				t.Errorf("%s %s: %d handshakes, %d failed", r.Responder, p.Name, p.Handshakes, p.Failed)
			}
		}
	}
	live := results[2]
	if live.Phases[0].Live < 1000 {
		t.Errorf("%s: %d IKE SAs live, want 1000", live.Responder, live.Phases[0].Live)
	}
	if !raceEnabled && (live.BytesPerIKESA <= 0 || live.BytesPerIKESA > 6000) {
		t.Errorf("%s: %.0f bytes per IKE SA, want under 6000", live.Responder, live.BytesPerIKESA)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !finalLine.MatchString(last) {
		t.Errorf("last line %q does not have the form of the summary", last)
	}
}

// TestLoadCharon runs the same rig against strongSwan's charon in a
// network namespace (root only).
func TestLoadCharon(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, charonPath, "strongswan-charon")
	testenv.NeedCommand(t, "swanctl", "strongswan-swanctl")
	o := options{sources: 8, window: 16, measure: 300 * time.Millisecond, charonOn: []int{200}}
	var out bytes.Buffer
	r, err := measureCharon(context.Background(), o, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Phases) != 2 || r.Phases[0].Handshakes == 0 || r.Phases[1].Live < 200 {
		t.Fatalf("charon result %+v", r)
	}
}
