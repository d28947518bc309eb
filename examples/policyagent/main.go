// Command policyagent loads an IPsec policy the way the Windows Policy
// Agent does (a local policy file, optionally overridden by a domain
// policy file), prints the policy in force in the manner of "netsh ipsec
// static show all", and answers lookups for a few packets.
//
// Usage:
//
//	policyagent [-local file] [-domain file] [-me addr,...] [-default name] [-watch]
//	            [-lookup "out|in src dst proto [sport dport]"]...
//
// Without -local it uses the Windows default policy named by -default
// (the Server (Request Security) policy unless told otherwise). With
// -watch it keeps running, reloads when the files change, and prints the
// events until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipsecgo/ipsec/spd"
)

type lookups []string

func (l *lookups) String() string     { return strings.Join(*l, "; ") }
func (l *lookups) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "policyagent:", err)
		os.Exit(1)
	}
}

func run() error {
	local := flag.String("local", "", "local policy file (YAML)")
	domain := flag.String("domain", "", "domain policy file (YAML); overrides the local policy")
	me := flag.String("me", "", "comma-separated addresses for \"my IP address\" (default: this host's)")
	def := flag.String("default", "Server (Request Security)", "Windows default policy to use without -local: "+strings.Join(spd.DefaultPolicyNames(), ", "))
	watch := flag.Bool("watch", false, "keep running, reload on changes, print events")
	poll := flag.Duration("poll", 0, "polling interval with -watch (default: the policy's)")
	var qs lookups
	flag.Var(&qs, "lookup", `a packet to look up: "out|in SRC DST PROTO [SPORT DPORT]" (repeatable)`)
	flag.Parse()

	addrs := spd.HostAddrs
	if *me != "" {
		var list []netip.Addr
		for _, s := range strings.Split(*me, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-me: %w", err)
			}
			list = append(list, a)
		}
		addrs = func() ([]netip.Addr, error) { return list, nil }
	}
	if *local == "" {
		data, err := spd.DefaultPolicyFile(*def)
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "policyagent")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*local = filepath.Join(dir, "local.yaml")
		if err := os.WriteFile(*local, data, 0o600); err != nil {
			return err
		}
	}

	var db spd.SPD
	agent, err := spd.NewAgent(&db, spd.AgentConfig{
		LocalFile:    *local,
		DomainFile:   *domain,
		PollInterval: *poll,
		LocalAddrs:   addrs,
		OnEvent:      func(e spd.Event) { fmt.Printf("[%s] %s\n", e.Time.Format(time.TimeOnly), e) },
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := agent.Reload(ctx); err != nil {
		return err
	}
	fmt.Println()
	if err := db.Active().Dump(os.Stdout); err != nil {
		return err
	}
	if len(qs) == 0 {
		qs = defaultLookups(db.Active().LocalAddrs())
	}
	fmt.Println()
	for _, q := range qs {
		sel, dir, err := parseLookup(q)
		if err != nil {
			return err
		}
		m := db.Lookup(sel, dir)
		how := ""
		if m.Mirrored {
			how = " (mirrored)"
		}
		fmt.Printf("lookup %-48s -> %s, rule %q%s\n", q, m.Rule.Action.Action, m.Rule.Name, how)
	}
	if !*watch {
		return nil
	}
	fmt.Println("\nwatching for policy changes; interrupt to stop")
	if err := agent.Run(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// defaultLookups asks about TCP and ICMP traffic of this host.
func defaultLookups(me []netip.Addr) []string {
	self := "192.0.2.1"
	if len(me) > 0 {
		self = me[0].String()
	}
	peer := "198.51.100.7"
	if len(me) > 0 && me[0].Is6() {
		peer = "2001:db8::7"
	}
	return []string{
		"out " + self + " " + peer + " tcp 50000 445",
		"in " + peer + " " + self + " tcp 445 50000",
		"in " + peer + " " + self + " icmp 8 0",
		"out " + peer + " " + peer + " udp 53 53",
	}
}

// parseLookup reads "out|in SRC DST PROTO [SPORT DPORT]"; for ICMP the
// last two are type and code.
func parseLookup(s string) (spd.Selector, spd.Direction, error) {
	f := strings.Fields(s)
	if len(f) != 4 && len(f) != 6 {
		return spd.Selector{}, 0, fmt.Errorf("lookup %q: want \"out|in SRC DST PROTO [SPORT DPORT]\"", s)
	}
	var dir spd.Direction
	switch f[0] {
	case "out":
		dir = spd.DirOutbound
	case "in":
		dir = spd.DirInbound
	default:
		return spd.Selector{}, 0, fmt.Errorf("lookup %q: direction must be out or in", s)
	}
	var sel spd.Selector
	var err error
	if sel.Src, err = netip.ParseAddr(f[1]); err != nil {
		return sel, 0, fmt.Errorf("lookup %q: %w", s, err)
	}
	if sel.Dst, err = netip.ParseAddr(f[2]); err != nil {
		return sel, 0, fmt.Errorf("lookup %q: %w", s, err)
	}
	p, ok := spd.ParseProtocol(f[3])
	if !ok {
		return sel, 0, fmt.Errorf("lookup %q: unknown protocol %q", s, f[3])
	}
	sel.Protocol = p
	if len(f) == 6 {
		a, err1 := strconv.ParseUint(f[4], 10, 16)
		b, err2 := strconv.ParseUint(f[5], 10, 16)
		if err1 != nil || err2 != nil {
			return sel, 0, fmt.Errorf("lookup %q: bad ports", s)
		}
		sel.SrcPort, sel.DstPort = uint16(a), uint16(b)
		if p.IsICMP() {
			if a > 255 || b > 255 {
				return sel, 0, fmt.Errorf("lookup %q: ICMP type and code are 0-255", s)
			}
			sel.ICMPType, sel.ICMPCode = uint8(a), uint8(b)
		}
	}
	return sel, dir, nil
}
