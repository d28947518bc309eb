// Command overhead answers "what does IPsec cost me?" on this machine,
// the first question administrators ask (a Windows Server 2003 IPsec
// deployment guide quotes it: "I've heard that IPsec presents a
// tremendous overhead and will drag my network down"). For each security
// method (named with -suites, or taken from a policy file with -policy:
// the methods of its rules that negotiate security, AH+ESP bundles
// included) it prints:
//
//   - the bytes added per packet, and as a percentage of goodput, for a
//     packet-size mix (default: the simple IMIX) and for single sizes
//     (default 64, 576 and 1400 bytes), for ESP and AH, transport and
//     tunnel mode, with and without RFC 3948 UDP encapsulation (IPv4);
//   - the CPU time per packet to seal and to open, and the Gbit/s one
//     core protects at that cost, measured live with packages esp and ah,
//     with the ratio to the bare cryptography of the same bytes (the
//     x-baseline metric of esp's benchmarks);
//   - IKE's cost per handshake, per CHILD SA rekey and per IKE SA rekey:
//     messages, bytes on the wire and CPU time, from the library's own
//     sessions exchanging messages in memory.
//
// With -chart FILE.svg or FILE.png it also draws throughput per core and
// overhead per suite with gonum/plot.
//
//	overhead [-suites aes128gcm16,aes128-sha256,ah-sha256 | -policy FILE] [-mix imix|SIZE:WEIGHT,...]
//	         [-sizes 64,576,1400] [-size 1400] [-duration 1s] [-chart out.svg]
//
// CPU figures are per core of this machine, now: on a busy machine they
// are lower bounds of what it can do; the x-baseline ratio is the stable
// part (it is measured alternately with the baseline).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	suites   string
	policy   string
	mix      string
	sizes    string
	size     int
	duration time.Duration
	ike, esp string
	ikeRuns  int
	chart    string
}

func main() {
	var o options
	flag.StringVar(&o.suites, "suites", DefaultSuites, "security methods, comma-separated")
	flag.StringVar(&o.policy, "policy", "", "take the security methods from this policy file (package spd's format) instead of -suites")
	flag.StringVar(&o.mix, "mix", "imix", `packet-size mix: "imix" or SIZE:WEIGHT,...`)
	flag.StringVar(&o.sizes, "sizes", "64,576,1400", "single packet sizes (IPv4 packet bytes)")
	flag.IntVar(&o.size, "size", 1400, "packet size of the CPU measurements")
	flag.DurationVar(&o.duration, "duration", time.Second, "CPU time spent measuring each suite")
	flag.StringVar(&o.ike, "ike", "aes128gcm16-prfsha256-x25519", "IKE proposal of the IKE cost measurement")
	flag.StringVar(&o.esp, "esp", "aes128gcm16", "CHILD SA proposal of the IKE cost measurement")
	flag.IntVar(&o.ikeRuns, "ike-runs", 50, "handshakes (each with a CHILD SA and an IKE SA rekey) to average")
	flag.StringVar(&o.chart, "chart", "", "write a chart to this .svg or .png file")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func parseMix(s string) (Mix, error) {
	if s == "imix" {
		return IMIX, nil
	}
	m := Mix{Name: "custom"}
	for _, f := range strings.Split(s, ",") {
		sz, w, ok := strings.Cut(f, ":")
		size, err1 := strconv.Atoi(sz)
		weight, err2 := strconv.Atoi(w)
		if !ok || err1 != nil || err2 != nil || size < 40 || size > 65535 || weight < 1 {
			return Mix{}, fmt.Errorf("overhead: bad mix entry %q (want SIZE:WEIGHT, size 40 to 65535)", f)
		}
		m.Sizes, m.Weights = append(m.Sizes, size), append(m.Weights, weight)
	}
	return m, nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 40 || n > 65535 {
			return nil, fmt.Errorf("overhead: bad size %q (40 to 65535)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// layoutsFor returns the layouts a suite can use: ESP in both modes with
// and without UDP encapsulation, AH in both modes (AH cannot cross a NAT).
func layoutsFor(s Suite) []Layout {
	if s.AH || s.Bundle {
		return []Layout{{}, {Tunnel: true}}
	}
	return []Layout{{}, {Encap: true}, {Tunnel: true}, {Tunnel: true, Encap: true}}
}

func run(o options, w io.Writer) error {
	suites, err := suitesByName(o.suites)
	if o.policy != "" {
		var skipped []string
		suites, skipped, err = policySuites(o.policy)
		for _, s := range skipped {
			fmt.Fprintf(w, "skipped: %s\n", s)
		}
	}
	if err != nil {
		return err
	}
	mix, err := parseMix(o.mix)
	if err != nil {
		return err
	}
	sizes, err := parseSizes(o.sizes)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "Bytes added per IPv4 packet, and as %% of the original bytes (goodput); mix %s = %s\n\n", mix.Name, mixString(mix))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "suite\tlayout\t"+mix.Name+"\t")
	for _, s := range sizes {
		fmt.Fprintf(tw, "%d B\t", s)
	}
	fmt.Fprintln(tw)
	for _, s := range suites {
		for _, l := range layoutsFor(s) {
			per, pct := MixOverhead(s, l, mix)
			fmt.Fprintf(tw, "%s\t%s\t%.1f B %.1f%%\t", s.Name, l, per, pct)
			for _, size := range sizes {
				n := Overhead(s, l, size)
				fmt.Fprintf(tw, "%d B %.1f%%\t", n, 100*float64(n)/float64(size))
			}
			fmt.Fprintln(tw)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nCPU per %d-byte packet on one core (tunnel mode, measured now for %v each)\n\n", o.size, o.duration)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "suite\tseal ns\topen ns\tseal Gbit/s\topen Gbit/s\tx-baseline\t")
	var rates []Rate
	var overheads []float64
	for _, s := range suites {
		r, err := Measure(s, o.size, o.duration)
		if err != nil {
			return err
		}
		rates = append(rates, r)
		_, pct := MixOverhead(s, Layout{Tunnel: true}, mix)
		overheads = append(overheads, pct)
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t\n", s.Name, r.SealNs, r.OpenNs, r.SealGbps, r.OpenGbps, r.XBaseline)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if o.ikeRuns > 0 {
		c, err := MeasureIKE(o.ike, o.esp, o.ikeRuns)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nIKEv2 cost (IKE %s, ESP %s, PSK; both sides' CPU, mean of %d)\n\n", c.IKE, c.ESP, o.ikeRuns)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "operation\tmessages\tIKE bytes\twire bytes\tCPU\t")
		for _, r := range []struct {
			name string
			c    Cost
		}{{"handshake", c.Handshake}, {"CHILD SA rekey", c.ChildRekey}, {"IKE SA rekey", c.IKERekey}} {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%v\t\n", r.name, r.c.Messages, r.c.Bytes, r.c.WireBytes, r.c.CPU.Round(time.Microsecond))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if o.chart != "" {
		f, err := os.Create(o.chart)
		if err != nil {
			return err
		}
		if err := writeChart(f, chartFormat(o.chart), rates, overheads, mix.Name); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nchart written to %s\n", o.chart)
	}
	return nil
}

func mixString(m Mix) string {
	var parts []string
	for k := range m.Sizes {
		parts = append(parts, fmt.Sprintf("%d x %d B", m.Weights[k], m.Sizes[k]))
	}
	return strings.Join(parts, ", ")
}
