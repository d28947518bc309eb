// Command ikeload measures how many IKEv2 handshakes per second one
// responder ike.Endpoint completes, and the responder's CPU time per
// handshake, against many initiators over real UDP sockets on loopback.
//
// The responder runs in a process of its own (ikeload starts itself again
// with IKELOAD_ROLE=responder and GOMAXPROCS set), so that its CPU time,
// read with getrusage, is its own; the initiators run in the ikeload
// process, from many source addresses 127.77.x.y (all of 127.0.0.0/8 is
// loopback on Linux). Each initiator is a sans-I/O ike.Session driven
// directly over its source's socket: no endpoint machinery on that side.
// Every handshake is IKE_SA_INIT (X25519, AES-128-GCM, PRF-HMAC-SHA-256)
// and IKE_AUTH with a pre-shared key and one CHILD SA (AES-128-GCM), each
// initiator with an identity of its own.
//
// Three responder processes run side by side: A with GOMAXPROCS at the
// smallest of -procs (default 1,2), B and C at the largest. Their
// configuration raises the cookie, half-open and IKE SA thresholds
// (responder.go), so that a benchmark from a few sources is neither
// challenged with cookies nor refused.
//
//   - none: every IKE SA is deleted (an INFORMATIONAL exchange) as soon
//     as it is up. A and B are measured in alternating rounds (handshakes
//     with each in turn, which goes first alternating), so that both see
//     the same machine; gomaxprocs-2/1 is the median over rounds of B's
//     rate over A's.
//   - live-N, for each N of -live (default 10,000 and 100,000): C gets IKE
//     SAs that are kept (the initiators forget them without a Delete; the
//     responder keeps them, DPD and rekeys off) until N are live; then C
//     (N live) and B (none live) are measured in alternating rounds as
//     above, and live-N/none is the median of C's rate over B's.
//
// Each comparison is measured with two loads, reported on lines of their
// own:
//
//   - contended (load.go; initiators on the same cores): initiators
//     running all the time, each source keeping its share of -window
//     handshakes in flight, for stretches totalling -measure. Each
//     initiator spends about as much CPU on a handshake as the responder
//     (two X25519 operations on each side), so on a machine with few cores
//     the initiators take the cores a responder at GOMAXPROCS 2 would use:
//     this load cannot show the responder's scaling there (it measured
//     0.89 to 1.10 on 2 cores).
//   - phased (phased.go; the initiators' cryptography outside the
//     measured windows): rounds of -phased-n handshakes, each exchange
//     (IKE_SA_INIT, IKE_AUTH, the Delete) replayed from -phased-sources
//     addresses 127.78.x.y while the sessions' own work between the
//     exchanges is not timed. On Linux each window is queued: the
//     responder process is held (SIGSTOP) while every request of the
//     exchange is sent, then released (SIGCONT) and timed until the last
//     response arrived (kernel receive timestamps), as a concentrator
//     works through a full queue when its initiators are elsewhere; the
//     initiators' sends, whose loopback delivery the kernel does in the
//     sender's context, are then outside the measured time, and the
//     sources read the responses every few milliseconds from sockets
//     outside Go's network poller. Elsewhere, or with -phased-windowed,
//     the sources keep -phased-window requests in flight with batched
//     system calls instead. The rate is the handshakes established over
//     the sum of the measured windows; a run with failures says so. The
//     report gives the cores the responder and the initiators used in the
//     windows, and the machine's idle and stolen (hypervisor) cores.
//
// The summary line takes the phased ratios.
//
// Between the phased rounds of A against B the tool also measures the
// machine's own ceiling for gomaxprocs-2/1 (ceiling.go): X25519 alone, in
// one goroutine and in two, timed the same way. On a virtual machine two
// vCPUs often do less than twice the work of one; the "machine:" line
// gives that ratio and the share of it the responder reached.
//
// A stretch measures handshakes/s and the responder's CPU time per
// handshake (getrusage in its process). Memory per IKE SA is the growth of
// C's live heap (after a collection) while it filled to the largest N,
// divided by the IKE SAs added; each has one CHILD SA. Timing alternately
// does not make the rates immune to other load on the machine: the report
// shows how many cores the responder and the initiators used.
//
// -cpuprofile DIR writes each responder's CPU, mutex and block profiles
// there, for go tool pprof, and its execution trace, for go tool trace;
// -windows prints a line for each phased window (with the IKE SAs our
// responder's workers handed to each other in it); -contended=false
// measures with the phased load only.
//
// With -charon (root, strongSwan installed), the same initiators then run
// against strongSwan's charon as responder, started by ikeload in a network
// namespace of its own with cookie and block thresholds raised
// (INTEROP.md), its CPU time read from /proc; the report shows both.
//
// The report ends with one line:
//
//	live-100k/none: <ratio>  gomaxprocs-2/1: <ratio>  bytes-per-ike-sa: <n>
//
// The label names the largest live count measured (live-2k in the -quick
// run).
//
//	go run ./examples/ikeload                 # full run (about 2 minutes)
//	go run ./examples/ikeload -quick          # CI-sized
//	sudo go run ./examples/ikeload -charon    # and charon beside it
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options of a run.
type options struct {
	procs    []int         // GOMAXPROCS values of the responder
	live     []int         // live IKE SA counts to measure at
	sources  int           // initiator source addresses
	window   int           // handshakes in flight in total
	measure  time.Duration // length of each measured stretch
	charon   bool          // also measure charon
	charonOn []int         // live counts measured against charon

	// The phased load (phased.go).
	phasedN       int  // handshakes per round
	phasedRounds  int  // alternated rounds per comparison
	phasedSources int  // source addresses
	phasedWindow  int  // requests in flight in total (windowed only)
	windowed      bool // phased windows with requests in flight, not queued

	contended  bool   // also measure with the contended load
	cpuProfile string // directory for the responders' CPU profiles, or ""
	windows    bool   // print each phased window
}

// queued reports whether the phased load queues each window's requests
// while the responder is held (Linux), rather than keeping a window in
// flight.
func (o options) queued() bool { return holdProcess != nil && !o.windowed }

func main() {
	switch os.Getenv(roleEnv) {
	case "responder":
		if err := runResponder(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ikeload responder:", err)
			os.Exit(1)
		}
		return
	case "charon":
		if err := runCharonInner(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ikeload charon:", err)
			os.Exit(1)
		}
		return
	}
	quick := flag.Bool("quick", false, "CI-sized run: 1,000 and 2,000 live SAs, 16 sources, 1 s stretches")
	procs := flag.String("procs", "1,2", "GOMAXPROCS values of the responder, measured in turn")
	live := flag.String("live", "10000,100000", "live IKE SA counts to measure at")
	sources := flag.Int("sources", 200, "initiator source addresses (127.77.x.y)")
	window := flag.Int("window", 400, "handshakes in flight in total (at least one per source)")
	measure := flag.Duration("measure", 5*time.Second, "length of each measured stretch")
	charon := flag.Bool("charon", false, "also measure strongSwan's charon as responder (root; in a network namespace)")
	charonLive := flag.String("charon-live", "10000", "live IKE SA counts measured against charon")
	phasedN := flag.Int("phased-n", 3000, "handshakes per phased round (every half-open SA of a round waits well under 30 s)")
	phasedRounds := flag.Int("phased-rounds", 11, "alternated phased rounds per comparison")
	phasedSources := flag.Int("phased-sources", 32, "initiator source addresses of the phased load (127.78.x.y)")
	phasedWindow := flag.Int("phased-window", 768, "requests in flight in total in the phased load")
	windowed := flag.Bool("phased-windowed", false, "phased windows keep -phased-window requests in flight instead of queueing each window's requests while the responder is held (Linux)")
	contendedFlag := flag.Bool("contended", true, "also measure with the contended load (initiators on the same cores)")
	windows := flag.Bool("windows", false, "print a line for each measured phased window")
	cpuProfile := flag.String("cpuprofile", "", "write each responder's CPU, mutex and block profiles (go tool pprof) and execution trace (go tool trace) into this directory")
	flag.Parse()
	o := options{sources: *sources, window: *window, measure: *measure, charon: *charon,
		phasedN: *phasedN, phasedRounds: *phasedRounds, phasedSources: *phasedSources, phasedWindow: *phasedWindow,
		windowed: *windowed, contended: *contendedFlag, cpuProfile: *cpuProfile, windows: *windows}
	var err error
	if o.procs, err = ints(*procs); err == nil {
		if o.live, err = ints(*live); err == nil {
			o.charonOn, err = ints(*charonLive)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ikeload:", err)
		os.Exit(2)
	}
	if *quick {
		o.live, o.sources, o.window, o.measure, o.charonOn = []int{1000, 2000}, 16, 32, time.Second, []int{1000}
		o.phasedN, o.phasedRounds, o.phasedSources, o.phasedWindow = 500, 3, 16, 128
	}
	if _, err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ikeload:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// roleEnv selects what the process is: unset for the tool, "responder" for
// the responder it starts, "charon" for the part that runs inside charon's
// network namespace.
const roleEnv = "IKELOAD_ROLE"

// profileEnv names the file a responder writes its CPU profile to.
const profileEnv = "IKELOAD_CPUPROFILE"

// queuedTruesize is what a request is taken to cost in the responder's
// socket receive buffer (the kernel charges an skb's true size, about a
// kilobyte for these datagrams on loopback): a queued window holds no
// more requests than the granted buffer over this.
const queuedTruesize = 2048

// The methods of measurement.
const (
	contended = "contended" // load.go: initiators on the same cores, all the time
	phased    = "phased"    // phased.go: initiators' cryptography outside the measured windows
)

// phase is one measured stretch.
type phase struct {
	Name        string  // "none" or "live-N"
	Method      string  // contended or phased
	Live        int64   // responder IKE SAs at the start
	Handshakes  uint64  // completed in the stretch (by the initiators' count)
	Seconds     float64 // wall time of the stretch
	Rate        float64 // handshakes per second
	CPUPerHS    float64 // responder CPU seconds per handshake
	RespCores   float64 // responder CPU seconds per second
	InitCores   float64 // initiator (this process) CPU seconds per second
	IdleCores   float64 // phased: the machine's idle CPU seconds per second (/proc/stat)
	StealCores  float64 // phased: CPU seconds per second the hypervisor gave to others (/proc/stat steal)
	FillRate    float64 // handshakes per second while filling to Live (live phases)
	Failed      uint64  // initiator sessions that closed before completing
	Retransmits uint64

	span float64 // phased: seconds measured, the windows and the reading of their last responses
}

// result is the measurement of one responder configuration.
type result struct {
	Responder     string // "ikeload GOMAXPROCS=n" or "charon"
	Procs         int
	Phases        []phase
	BytesPerIKESA float64 // responder heap (or charon RSS) growth per live IKE SA
}

// run measures, writes the report to w and returns the results.
func run(ctx context.Context, o options, w io.Writer) ([]result, error) {
	how := fmt.Sprintf("%d requests in flight", o.phasedWindow)
	if o.queued() {
		how = "queued windows"
	}
	fmt.Fprintf(w, "ikeload: contended: %d initiator sources, %d handshakes in flight, %v per measurement; phased: %d sources, %s, rounds of %d handshakes; live counts %v, responder GOMAXPROCS %v, %d CPUs\n",
		o.sources, max(o.window, o.sources), o.measure, o.phasedSources, how, o.phasedN, o.live, o.procs, runtime.NumCPU())
	results, sum, err := measureOurs(ctx, o, w)
	if err != nil {
		return results, err
	}
	if o.charon {
		r, err := measureCharon(ctx, o, w)
		if err != nil {
			return results, fmt.Errorf("charon: %w", err)
		}
		results = append(results, r)
	}
	report(w, results, sum)
	return results, nil
}

// summary is what the report's last line says.
type summary struct {
	liveLabel     string  // "live-100k"
	liveRatio     float64 // rate with that many live over the rate with none
	lo, hi        int     // GOMAXPROCS compared
	procsRatio    float64 // rate at hi over rate at lo, none live
	bytesPerIKESA float64
}

// responderProc is a responder process: ikeload itself with
// IKELOAD_ROLE=responder and GOMAXPROCS set.
type responderProc struct {
	procs int
	tgt   target
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
}

func startResponder(ctx context.Context, o options, procs int, label string) (*responderProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"=responder", "GOMAXPROCS="+strconv.Itoa(procs))
	if o.cpuProfile != "" {
		cmd.Env = append(cmd.Env, profileEnv+"="+filepath.Join(o.cpuProfile, fmt.Sprintf("responder-%s-gomaxprocs%d.pprof", label, procs)))
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &responderProc{procs: procs, cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	r.out.Buffer(make([]byte, 1<<16), 1<<20)
	var hello respStats
	if err := readJSON(r.out, &hello); err != nil {
		r.stop()
		return nil, fmt.Errorf("responder did not start: %w", err)
	}
	r.tgt = target{ike: mustAddrPort(hello.IKE), natt: mustAddrPort(hello.NATT), stats: func() (float64, int64, error) {
		s, err := r.query("stats")
		return s.CPU, s.IKESAs, err
	}, moved: func() (uint64, error) {
		s, err := r.query("stats")
		return s.Moved, err
	}}
	if o.queued() {
		pid := cmd.Process.Pid
		r.tgt.hold = func() (func() error, error) { return holdProcess(pid) }
		r.tgt.burst = min(hello.ReadBuffer/queuedTruesize, responderQueueLen)
	}
	return r, nil
}

// query sends a command ("stats", "gc") and reads the answer.
func (r *responderProc) query(cmd string) (respStats, error) {
	var s respStats
	if _, err := fmt.Fprintln(r.in, cmd); err != nil {
		return s, err
	}
	err := readJSON(r.out, &s)
	return s, err
}

// stop ends the responder: it exits at the end of its input; it is killed
// (by its PID) if it has not after 10 s.
func (r *responderProc) stop() {
	r.in.Close()
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }() //nolint:errcheck // exit status is not interesting
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill() //nolint:errcheck // it may just have exited
		<-done
	}
}

// measureOurs measures ike.Endpoint responders: A at the smallest
// GOMAXPROCS of o.procs and B at the largest, timed alternately with no SA
// kept (gomaxprocs ratio); then C, a third at the largest, filled to each
// live count and timed alternately with B (live ratio). Each comparison
// is made with the contended load and then with the phased load; the
// summary takes the phased ratios. Memory per IKE SA is C's heap growth.
func measureOurs(ctx context.Context, o options, w io.Writer) ([]result, summary, error) {
	sum := summary{lo: slices.Min(o.procs), hi: slices.Max(o.procs)}
	a, err := startResponder(ctx, o, sum.lo, "a")
	if err != nil {
		return nil, sum, err
	}
	defer a.stop()
	b := a
	if sum.hi != sum.lo {
		if b, err = startResponder(ctx, o, sum.hi, "b"); err != nil {
			return nil, sum, err
		}
		defer b.stop()
	}
	c, err := startResponder(ctx, o, sum.hi, "c")
	if err != nil {
		return nil, sum, err
	}
	defer c.stop()
	pl, err := newPhasedLoad(o.phasedSources, o.phasedWindow, o.queued())
	if err != nil {
		return nil, sum, err
	}
	defer pl.close()
	if o.windows {
		pl.windows = w
	}
	name := func(r *responderProc) string { return fmt.Sprintf("ikeload GOMAXPROCS=%d", r.procs) }
	ra := result{Responder: name(a), Procs: a.procs}
	rb := result{Responder: name(b), Procs: b.procs}
	rc := result{Responder: name(c) + " (live)", Procs: c.procs}
	rounds, d := o.rounds()
	ratioLabel := fmt.Sprintf("gomaxprocs-%d/%d", sum.hi, sum.lo)

	// The contended load only runs while it is measured or fills: its
	// sources poll, which would cost the initiators CPU in the phased
	// windows.
	if o.contended {
		load, err := newLoad(o)
		if err != nil {
			return nil, sum, err
		}
		pa, pb, ratio, err := load.alternate(ctx, &a.tgt, &b.tgt, "none", "none", rounds, d)
		load.close()
		if err != nil {
			return nil, sum, err
		}
		ra.Phases = append(ra.Phases, pa)
		printPhase(w, ra.Responder, pa)
		if a != b {
			rb.Phases = append(rb.Phases, pb)
			printPhase(w, rb.Responder, pb)
			fmt.Fprintf(w, "%s, contended (initiators on the same cores): %.2f (median of %d alternated rounds)\n", ratioLabel, ratio, rounds)
		}
	}
	probe := newCeiling(sum.lo, sum.hi)
	pa, pb, ratio, err := pl.alternate(ctx, &a.tgt, &b.tgt, "none", "none", o.phasedRounds, o.phasedN, probe)
	if err != nil {
		return nil, sum, err
	}
	if a == b {
		ratio = 1
	}
	sum.procsRatio = ratio
	ra.Phases = append(ra.Phases, pa)
	printPhase(w, ra.Responder, pa)
	if a != b {
		rb.Phases = append(rb.Phases, pb)
		printPhase(w, rb.Responder, pb)
		fmt.Fprintf(w, "%s, phased (initiators' cryptography outside the measured windows): %.2f (median of %d alternated rounds of %d handshakes)\n",
			ratioLabel, ratio, o.phasedRounds, o.phasedN)
		printInitiators(w, pa, pb)
		printShare(w, pa, pb)
		if m := probe.median(); m > 0 {
			fmt.Fprintf(w, "machine: X25519 alone in %d goroutines did %.2fx the work of %d in the same time (median of %d probes between the rounds above): the most %s can be here; the responder reached %.0f%% of it\n",
				sum.hi, m, sum.lo, len(probe.ratios), ratioLabel, 100*ratio/m)
		}
	}

	m0, err := c.query("gc")
	if err != nil {
		return nil, sum, err
	}
	for _, n := range o.live {
		load, err := newLoad(o)
		if err != nil {
			return nil, sum, err
		}
		fill, err := load.fill(ctx, &c.tgt, int64(n))
		if err != nil {
			load.close()
			return nil, sum, err
		}
		if n == o.live[len(o.live)-1] {
			m, err := c.query("gc")
			if err != nil {
				load.close()
				return nil, sum, err
			}
			if m.IKESAs > m0.IKESAs {
				rc.BytesPerIKESA = (float64(m.HeapAlloc) - float64(m0.HeapAlloc)) / float64(m.IKESAs-m0.IKESAs)
			}
		}
		label := "live-" + short(n)
		if o.contended {
			_, pc, ratio, err := load.alternate(ctx, &b.tgt, &c.tgt, "none", label, rounds, d)
			if err != nil {
				load.close()
				return nil, sum, err
			}
			pc.FillRate = fill
			rc.Phases = append(rc.Phases, pc)
			printPhase(w, rc.Responder, pc)
			fmt.Fprintf(w, "%s/none, contended (initiators on the same cores): %.2f (median of %d alternated rounds)\n", label, ratio, rounds)
		}
		load.close()
		_, pc, ratio, err := pl.alternate(ctx, &b.tgt, &c.tgt, "none", label, o.phasedRounds, o.phasedN, nil)
		if err != nil {
			return nil, sum, err
		}
		rc.Phases = append(rc.Phases, pc)
		printPhase(w, rc.Responder, pc)
		fmt.Fprintf(w, "%s/none, phased (initiators' cryptography outside the measured windows): %.2f (median of %d alternated rounds of %d handshakes)\n",
			label, ratio, o.phasedRounds, o.phasedN)
		sum.liveLabel, sum.liveRatio = label, ratio
	}
	sum.bytesPerIKESA = rc.BytesPerIKESA
	results := []result{ra}
	if a != b {
		results = append(results, rb)
	}
	return append(results, rc), sum, nil
}

// printInitiators says how many cores the initiators used in the phased
// windows, which the responder could not have.
func printInitiators(w io.Writer, ps ...phase) {
	most := 0.0
	for _, p := range ps {
		most = max(most, p.InitCores)
	}
	fmt.Fprintf(w, "phased: the initiators (system calls only: sending requests and reading responses) used at most %.2f cores in the measured windows, leaving the responder at most %.2f of %d\n",
		most, float64(runtime.NumCPU())-most, runtime.NumCPU())
}

// printShare says what the responder at the larger GOMAXPROCS (b) made of
// the cores: its CPU time per handshake against a's (1.00: a handshake
// costs no more with more cores), and where the machine's cores went in
// its windows. A ratio below the cores it had is the responder's; one
// limited by what others took is the machine's.
func printShare(w io.Writer, a, b phase) {
	if a.CPUPerHS <= 0 {
		return
	}
	others := max(0, float64(runtime.NumCPU())-b.RespCores-b.InitCores-b.IdleCores-b.StealCores)
	fmt.Fprintf(w, "phased: per handshake the responder at the larger GOMAXPROCS spent %.2fx the CPU time of the smaller; in its windows it used %.2f cores, the initiators %.2f, others %.2f, stolen %.2f, idle %.2f\n",
		b.CPUPerHS/a.CPUPerHS, b.RespCores, b.InitCores, others, b.StealCores, b.IdleCores)
}

// rounds returns how many alternated rounds to time, and their length.
func (o options) rounds() (int, time.Duration) {
	n := 7
	if o.measure < 2*time.Second {
		n = 3
	}
	return n, o.measure / time.Duration(n)
}

// respStats is what the responder process reports, one JSON object a line.
type respStats struct {
	IKE, NATT   string  `json:",omitempty"` // first line: where it listens
	CPU         float64 // user+system CPU seconds so far
	IKESAs      int64
	Established uint64
	HeapAlloc   uint64 // live heap, after a collection for "gc"
	QueueDrops  uint64
	Cookies     uint64
	Refused     uint64
	Moved       uint64 // IKE SAs handed from one worker to another
	ReadBuffer  int    `json:",omitempty"` // first line: the IKE socket's receive buffer, as granted
}

func readJSON(s *bufio.Scanner, v any) error {
	if !s.Scan() {
		if s.Err() != nil {
			return s.Err()
		}
		return io.ErrUnexpectedEOF
	}
	return json.Unmarshal(s.Bytes(), v)
}

// cpuSeconds returns the user and system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// machineTimes returns the machine's idle, stolen and softirq CPU seconds
// so far, summed over its CPUs, from /proc/stat (in USER_HZ, 100 a second
// on Linux); zeros where it cannot be read. Softirq time (network receive
// among it) counts whichever task it interrupted.
func machineTimes() (idle, steal, softirq float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0
	}
	tick := func(i int) float64 {
		n, _ := strconv.ParseFloat(f[i], 64)
		return n / 100
	}
	return tick(4) + tick(5), tick(8), tick(7) // idle + iowait; steal; softirq
}

// runPhases measures "none", then fills to each live count and measures
// again. memory, if set, returns the responder's memory (after a
// collection) and its IKE SA count, for the bytes per IKE SA.
func runPhases(ctx context.Context, o options, tgt target, live []int, res *result, w io.Writer,
	memory func() (float64, int64, error)) error {
	load, err := newLoad(o)
	if err != nil {
		return err
	}
	defer load.close()
	var mem0 float64
	var sas0 int64
	if memory != nil {
		if mem0, sas0, err = memory(); err != nil {
			return err
		}
	}
	ph, err := load.measureChurn(ctx, &tgt, "none")
	if err != nil {
		return err
	}
	res.Phases = append(res.Phases, ph)
	printPhase(w, res.Responder, ph)
	for _, n := range live {
		fill, err := load.fill(ctx, &tgt, int64(n))
		if err != nil {
			return err
		}
		if memory != nil && n == live[len(live)-1] {
			mem, sas, err := memory()
			if err != nil {
				return err
			}
			if sas > sas0 {
				res.BytesPerIKESA = (mem - mem0) / float64(sas-sas0)
			}
		}
		ph, err := load.measureChurn(ctx, &tgt, "live-"+short(n))
		if err != nil {
			return err
		}
		ph.FillRate = fill
		res.Phases = append(res.Phases, ph)
		printPhase(w, res.Responder, ph)
	}
	return nil
}

// short writes 100000 as 100k.
func short(n int) string {
	if n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func printPhase(w io.Writer, who string, p phase) {
	fill := ""
	if p.FillRate > 0 {
		fill = fmt.Sprintf("  (filled at %.0f/s)", p.FillRate)
	}
	machine := ""
	if p.Method == phased {
		others := float64(runtime.NumCPU()) - p.RespCores - p.InitCores - p.IdleCores - p.StealCores
		machine = fmt.Sprintf(", others (processes, interrupts) %.2f cores, idle %.2f, stolen %.2f", max(others, 0), p.IdleCores, p.StealCores)
	}
	fmt.Fprintf(w, "%-30s %-9s %-10s live %7d: %7.0f handshakes/s, %6.0f µs responder CPU each, responder %.2f cores, initiators %.2f cores%s, %d failed, %d retransmits%s\n",
		who, p.Method, p.Name, p.Live, p.Rate, p.CPUPerHS*1e6, p.RespCores, p.InitCores, machine, p.Failed, p.Retransmits, fill)
}

// report prints the summary table and the final line.
func report(w io.Writer, results []result, sum summary) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-30s %-9s %-10s %12s %16s %14s\n", "responder", "method", "phase", "handshakes/s", "µs CPU/handshake", "bytes/IKE SA")
	for _, r := range results {
		for i, p := range r.Phases {
			mem := ""
			if i == len(r.Phases)-1 && r.BytesPerIKESA > 0 {
				mem = fmt.Sprintf("%.0f", r.BytesPerIKESA)
			}
			fmt.Fprintf(w, "%-30s %-9s %-10s %12.0f %16.0f %14s\n", r.Responder, p.Method, p.Name, p.Rate, p.CPUPerHS*1e6, mem)
		}
	}
	label := sum.liveLabel
	if label == "" {
		label = "live-none"
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s/none: %.2f  gomaxprocs-%d/%d: %.2f  bytes-per-ike-sa: %.0f\n",
		label, sum.liveRatio, sum.hi, sum.lo, sum.procsRatio, sum.bytesPerIKESA)
}
