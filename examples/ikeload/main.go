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
// Phases, for each GOMAXPROCS value of the responder (-procs, default 1
// and 2, in the same run):
//
//   - none: every IKE SA is deleted (an INFORMATIONAL exchange) as soon
//     as it is up; handshakes/s and CPU per handshake over -measure.
//   - live-N, for each N of -live (default 10,000 and 100,000): IKE SAs
//     are kept (the initiators forget them without a Delete; the
//     responder keeps them, DPD and rekeys off) until N are live, then
//     the rate and CPU are measured as in "none" with N SAs live.
//
// Memory per IKE SA is the growth of the responder's live heap (after a
// collection) from none to the largest N, divided by the IKE SAs added;
// each has one CHILD SA.
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
// live-100k/none is the rate with the largest -live count of SAs live over
// the rate with none (at the largest GOMAXPROCS); gomaxprocs-2/1 is the
// "none" rate at the largest GOMAXPROCS over that at the smallest. The
// label names the live count measured (live-2k in the -quick run).
//
//	go run ./examples/ikeload                 # full run (a few minutes)
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
	"runtime"
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
}

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
	window := flag.Int("window", 128, "handshakes in flight in total")
	measure := flag.Duration("measure", 5*time.Second, "length of each measured stretch")
	charon := flag.Bool("charon", false, "also measure strongSwan's charon as responder (root; in a network namespace)")
	charonLive := flag.String("charon-live", "10000", "live IKE SA counts measured against charon")
	flag.Parse()
	o := options{sources: *sources, window: *window, measure: *measure, charon: *charon}
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

// phase is one measured stretch.
type phase struct {
	Name        string  // "none" or "live-N"
	Live        int64   // responder IKE SAs at the start
	Handshakes  uint64  // completed in the stretch (by the initiators' count)
	Seconds     float64 // wall time of the stretch
	Rate        float64 // handshakes per second
	CPUPerHS    float64 // responder CPU seconds per handshake
	RespCores   float64 // responder CPU seconds per second
	InitCores   float64 // initiator (this process) CPU seconds per second
	FillRate    float64 // handshakes per second while filling to Live (live phases)
	Failed      uint64  // initiator sessions that closed before completing
	Retransmits uint64
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
	fmt.Fprintf(w, "ikeload: %d initiator sources, %d handshakes in flight, %v per measurement, live counts %v, responder GOMAXPROCS %v, %d CPUs\n",
		o.sources, o.window, o.measure, o.live, o.procs, runtime.NumCPU())
	var results []result
	for _, p := range o.procs {
		r, err := measureOurs(ctx, o, p, w)
		if err != nil {
			return results, fmt.Errorf("GOMAXPROCS=%d: %w", p, err)
		}
		results = append(results, r)
	}
	if o.charon {
		r, err := measureCharon(ctx, o, w)
		if err != nil {
			return results, fmt.Errorf("charon: %w", err)
		}
		results = append(results, r)
	}
	report(w, o, results)
	return results, nil
}

// measureOurs runs the phases against an ike.Endpoint responder with
// GOMAXPROCS=procs in a child process.
func measureOurs(ctx context.Context, o options, procs int, w io.Writer) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"=responder", "GOMAXPROCS="+strconv.Itoa(procs))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return result{}, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		in.Close() // the responder exits at the end of its input
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	out := bufio.NewScanner(outPipe)
	out.Buffer(make([]byte, 1<<16), 1<<20)
	var hello respStats
	if err := readJSON(out, &hello); err != nil {
		return result{}, fmt.Errorf("responder did not start: %w", err)
	}
	q := func(cmd string) (respStats, error) {
		var s respStats
		if _, err := fmt.Fprintln(in, cmd); err != nil {
			return s, err
		}
		err := readJSON(out, &s)
		return s, err
	}
	tgt := target{ike: mustAddrPort(hello.IKE), natt: mustAddrPort(hello.NATT), stats: func() (cpu float64, live int64, err error) {
		s, err := q("stats")
		return s.CPU, s.IKESAs, err
	}}
	res := result{Responder: fmt.Sprintf("ikeload GOMAXPROCS=%d", procs), Procs: procs}
	err = runPhases(ctx, o, tgt, o.live, &res, w, func() (float64, int64, error) {
		s, err := q("gc")
		return float64(s.HeapAlloc), s.IKESAs, err
	})
	return res, err
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

// runPhases measures "none", then fills to each live count and measures
// again. memory, if set, returns the responder's memory (after a
// collection) and its IKE SA count, for the bytes per IKE SA.
func runPhases(ctx context.Context, o options, tgt target, live []int, res *result, w io.Writer,
	memory func() (float64, int64, error)) error {
	load, err := newLoad(o, tgt)
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
	ph, err := load.measureChurn(ctx, "none")
	if err != nil {
		return err
	}
	res.Phases = append(res.Phases, ph)
	printPhase(w, res.Responder, ph)
	for _, n := range live {
		fill, err := load.fill(ctx, int64(n))
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
		ph, err := load.measureChurn(ctx, "live-"+short(n))
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
	fmt.Fprintf(w, "%-22s %-10s live %7d: %7.0f handshakes/s, %6.0f µs responder CPU each, responder %.2f cores, initiators %.2f cores, %d failed, %d retransmits%s\n",
		who, p.Name, p.Live, p.Rate, p.CPUPerHS*1e6, p.RespCores, p.InitCores, p.Failed, p.Retransmits, fill)
}

// report prints the summary table and the final line.
func report(w io.Writer, o options, results []result) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-22s %-10s %12s %16s %14s\n", "responder", "phase", "handshakes/s", "µs CPU/handshake", "bytes/IKE SA")
	for _, r := range results {
		for i, p := range r.Phases {
			mem := ""
			if i == len(r.Phases)-1 && r.BytesPerIKESA > 0 {
				mem = fmt.Sprintf("%.0f", r.BytesPerIKESA)
			}
			fmt.Fprintf(w, "%-22s %-10s %12.0f %16.0f %14s\n", r.Responder, p.Name, p.Rate, p.CPUPerHS*1e6, mem)
		}
	}
	var lo, hi *result
	for i := range results {
		r := &results[i]
		if r.Procs == 0 {
			continue
		}
		if lo == nil || r.Procs < lo.Procs {
			lo = r
		}
		if hi == nil || r.Procs > hi.Procs {
			hi = r
		}
	}
	if hi == nil || len(hi.Phases) == 0 {
		return
	}
	liveRatio, label := 0.0, "live-none"
	if last := hi.Phases[len(hi.Phases)-1]; len(hi.Phases) > 1 && hi.Phases[0].Rate > 0 {
		liveRatio, label = last.Rate/hi.Phases[0].Rate, last.Name
	}
	procsRatio := 0.0
	if lo.Phases[0].Rate > 0 {
		procsRatio = hi.Phases[0].Rate / lo.Phases[0].Rate
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s/none: %.2f  gomaxprocs-%d/%d: %.2f  bytes-per-ike-sa: %.0f\n",
		label, liveRatio, hi.Procs, lo.Procs, procsRatio, hi.BytesPerIKESA)
}
