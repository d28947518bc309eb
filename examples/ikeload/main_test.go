package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
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
// and 2, SAs deleted at once and kept until 1,000 are live, each measured
// with the contended and the phased load. Every handshake completes, the
// report ends with the summary line, and an IKE SA with one CHILD SA costs
// the responder less than 6 KB of heap. Rates are printed, not checked.
func TestLoadQuick(t *testing.T) {
	o := options{procs: []int{1, 2}, live: []int{1000}, sources: 8, window: 16, measure: 300 * time.Millisecond,
		phasedN: 200, phasedRounds: 3, phasedSources: 8, phasedWindow: 64, contended: true}
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
		var methods []string
		for _, p := range r.Phases {
			methods = append(methods, p.Method)
			if p.Handshakes == 0 || p.Failed != 0 {
				t.Errorf("%s %s %s: %d handshakes, %d failed", r.Responder, p.Method, p.Name, p.Handshakes, p.Failed)
			}
		}
		if !slices.Equal(methods, []string{contended, phased}) {
			t.Errorf("%s: methods %v, want contended then phased", r.Responder, methods)
		}
	}
	live := results[2]
	if live.Phases[1].Live < 1000 {
		t.Errorf("%s: %d IKE SAs live, want 1000", live.Responder, live.Phases[1].Live)
	}
	if !raceEnabled && (live.BytesPerIKESA <= 0 || live.BytesPerIKESA > 6000) {
		t.Errorf("%s: %.0f bytes per IKE SA, want under 6000", live.Responder, live.BytesPerIKESA)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !finalLine.MatchString(last) {
		t.Errorf("last line %q does not have the form of the summary", last)
	}
	wants := []string{"gomaxprocs-2/1, contended (initiators on the same cores): ", "gomaxprocs-2/1, phased (", "phased: the initiators (system calls only"}
	if runtime.GOMAXPROCS(0) >= 2 {
		wants = append(wants, "machine: X25519 alone in 2 goroutines did ")
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestPhasedRound: one phased round against a responder process
// establishes and deletes every IKE SA it starts, and the responder is
// left with none; then a round against a responder with IKE SAs kept
// counts them as live.
func TestPhasedRound(t *testing.T) {
	ctx := context.Background()
	r, err := startResponder(ctx, options{}, 2, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop()
	pl, err := newPhasedLoad(4, 32, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.close()
	const n = 150
	for range 2 {
		p, err := pl.round(ctx, &r.tgt, "none", n)
		if err != nil {
			t.Fatal(err)
		}
		if p.Handshakes != n || p.Failed != 0 || p.Method != phased || p.Seconds <= 0 || p.Rate <= 0 {
			t.Fatalf("round: %+v, want %d handshakes and none failed", p, n)
		}
		st, err := r.query("stats")
		if err != nil {
			t.Fatal(err)
		}
		if st.IKESAs != 0 {
			t.Fatalf("responder has %d IKE SAs after a round that deleted every one", st.IKESAs)
		}
	}
	st, err := r.query("stats")
	if err != nil {
		t.Fatal(err)
	}
	if st.Established != 2*n {
		t.Errorf("responder established %d IKE SAs, want %d", st.Established, 2*n)
	}
}

// TestQueuedRound: rounds of queued windows (the responder held while each
// window's requests are queued, Linux) establish and delete every IKE SA,
// in windows of at most the target's burst: a burst of 40 requests splits
// each exchange of 150 into several windows. Each window's line (-windows)
// gives the IKE SAs moved between the responder's workers in it, and they
// add up to the responder's own count.
func TestQueuedRound(t *testing.T) {
	if holdProcess == nil {
		t.Skip("queued windows are Linux only")
	}
	ctx := context.Background()
	r, err := startResponder(ctx, options{}, 2, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop()
	if r.tgt.hold == nil || r.tgt.burst < 100 {
		t.Fatalf("responder target: hold %v, burst %d; want queued windows of at least 100 requests", r.tgt.hold != nil, r.tgt.burst)
	}
	pl, err := newPhasedLoad(4, 32, true)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.close()
	var lines bytes.Buffer
	pl.windows = &lines
	st0, err := r.query("stats")
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	for _, burst := range []int{r.tgt.burst, 40} {
		tgt := r.tgt
		tgt.burst = burst
		p, err := pl.round(ctx, &tgt, "none", n)
		if err != nil {
			t.Fatal(err)
		}
		if p.Handshakes != n || p.Failed != 0 || p.Retransmits != 0 || p.Seconds <= 0 || p.Seconds > p.span {
			t.Fatalf("burst %d: %+v, want %d handshakes, none failed or sent again, and the windows within the time measured", burst, p, n)
		}
		st, err := r.query("stats")
		if err != nil {
			t.Fatal(err)
		}
		if st.IKESAs != 0 || st.QueueDrops != 0 {
			t.Fatalf("burst %d: responder has %d IKE SAs and %d queue drops after a round that deleted every one", burst, st.IKESAs, st.QueueDrops)
		}
	}
	// Every window's line gives the IKE SAs moved between the
	// responder's workers in it; every move happens in a window.
	st1, err := r.query("stats")
	if err != nil {
		t.Fatal(err)
	}
	var moved uint64
	re := regexp.MustCompile(`responder [0-9.]+ cores, ([0-9]+) IKE SAs moved between its workers;`)
	for line := range strings.Lines(lines.String()) {
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("window line without the moved count: %q", line)
		}
		k, _ := strconv.ParseUint(m[1], 10, 64)
		moved += k
	}
	t.Logf("%d IKE SAs moved between the responder's workers in %d windows", moved, strings.Count(lines.String(), "\n"))
	if lines.Len() == 0 || moved != st1.Moved-st0.Moved {
		t.Fatalf("window lines count %d moves; the responder counted %d\n%s", moved, st1.Moved-st0.Moved, lines.String())
	}
}

// TestHoldProcess: a held process has every thread stopped until it is
// released.
func TestHoldProcess(t *testing.T) {
	if holdProcess == nil {
		t.Skip("holding a process is Linux only")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() {
		cmd.Process.Kill() //nolint:errcheck // it is ours, by PID
		cmd.Wait()         //nolint:errcheck // killed
	}()
	pid := cmd.Process.Pid
	release, err := holdProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if stopped, err := allStopped(pid); err != nil || !stopped {
		t.Fatalf("held: stopped %v, %v", stopped, err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		stopped, err := allStopped(pid)
		if err != nil {
			t.Fatal(err)
		}
		if !stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still stopped 5 s after release")
		}
		time.Sleep(time.Millisecond)
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

// TestCeiling: the probe is made only where the process can run the
// larger count at once; each probe adds one ratio of work per time, and
// the median is that of the ratios.
func TestCeiling(t *testing.T) {
	for _, c := range [][2]int{{0, 1}, {1, 1}, {2, 1}, {1, runtime.GOMAXPROCS(0) + 1}} {
		if newCeiling(c[0], c[1]) != nil {
			t.Errorf("newCeiling(%d, %d) made a probe", c[0], c[1])
		}
	}
	var none *ceiling
	if m := none.median(); m != 0 {
		t.Errorf("a nil probe's median is %v, want 0", m)
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS 1: no second goroutine to probe with")
	}
	c := newCeiling(1, 2)
	for range 3 {
		if err := c.probe(); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.ratios) != 3 {
		t.Fatalf("%d ratios after 3 probes", len(c.ratios))
	}
	for _, r := range c.ratios {
		// Positive, and not beyond what two goroutines can do with
		// timing noise (a virtual machine's was seen at 2.24).
		if r <= 0 || r > 4 {
			t.Errorf("ratio %v out of range", r)
		}
	}
	c.ratios = []float64{1.9, 1.2, 1.7}
	if m := c.median(); m != 1.7 {
		t.Errorf("median %v, want 1.7", m)
	}
}
