// Command gateway is a userspace IPsec gateway over a TUN device: the
// hosts of a protected subnet route through it, and it protects their
// traffic to the subnet behind a peer gateway with ESP in tunnel mode,
// negotiating keys with IKEv2 on demand.
//
// A policy file (the spd YAML, see spd/file.go) decides every packet:
// Block rules drop, Permit rules pass, and the protect rule with a tunnel
// endpoint names the peer, the subnets (its first filter), the ESP
// algorithms, PFS and the pre-shared key. Flags give the rest:
//
//	gateway -policy site-a.yaml -local 192.0.2.1 -tun gw0 \
//	        -addr 10.1.255.1/32 -route 10.2.0.0/16 -initiate
//
// The gateway creates the TUN device and assigns it only the addresses
// and routes it is given (-addr, -route). It answers IKE on -local:500 and
// :4500, initiates when a protected packet finds no SA (or at start with
// -initiate), and carries ESP that IKE did not encapsulate in UDP on the
// data port (-data-port, both gateways alike); ESP that IKE encapsulated
// (RFC 3948, for example with strongSwan, which forces it) goes through
// the IKE endpoint's port 4500. Host-to-host is the same with /32 (or
// /128) filters on the TUN addresses.
//
// On SIGUSR1, and at exit, it prints its SAs and counters (packets, and
// drops by cause) to standard output. Logs go to standard error through
// log/slog.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/ipsecgo/ipsec/examples/gateway/internal/dataplane"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/spd"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		policyFile = fs.String("policy", "", "policy file (spd YAML) `path`")
		local      = fs.String("local", "", "this gateway's `address` on the outside network (IKE and ESP)")
		tunName    = fs.String("tun", "ipsec0", "TUN device `name`")
		mtu        = fs.Int("mtu", 1400, "TUN MTU")
		ikePort    = fs.Uint("ike-port", 500, "IKE UDP port (ours and the peer's)")
		nattPort   = fs.Uint("natt-port", 4500, "NAT-T UDP port (ours and the peer's)")
		dataPort   = fs.Uint("data-port", 4501, "UDP port for ESP that IKE did not encapsulate (ours and the peer's)")
		initiate   = fs.Bool("initiate", false, "start IKE at once instead of on the first protected packet")
		ikeProp    = fs.String("ike-proposal", "aes128gcm16-prfsha256-x25519", "IKE SA proposal; its last part is the PFS group for CHILD SAs")
		childRekey = fs.Duration("child-rekey", 0, "CHILD SA rekey time (0: the rule's lifetime or the ike default)")
		forceEncap = fs.Bool("force-encap", false, "claim a NAT so that ESP is UDP-encapsulated on port 4500 (RFC 3948)")
		workers    = fs.Int("workers", 0, "crypto workers (0: one per CPU)")
		verbose    = fs.Bool("v", false, "debug logs")
		addrs      listFlag
		routes     listFlag
	)
	fs.Var(&addrs, "addr", "`prefix` to assign to the TUN (repeatable)")
	fs.Var(&routes, "route", "`prefix` to route into the TUN (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *policyFile == "" || *local == "" {
		return errors.New("-policy and -local are required")
	}
	localAddr, err := netip.ParseAddr(*local)
	if err != nil {
		return fmt.Errorf("-local: %w", err)
	}
	data, err := os.ReadFile(*policyFile)
	if err != nil {
		return err
	}
	policy, err := spd.ParsePolicy(*policyFile, data)
	if err != nil {
		return err
	}
	t, err := tunnelFromPolicy(policy, tunnelOptions{local: localAddr, ikePort: uint16(*ikePort), nattPort: uint16(*nattPort),
		ikeProposal: *ikeProp, childRekey: *childRekey, forceEncap: *forceEncap})
	if err != nil {
		return err
	}
	compiled, err := spd.Compile(policy, spd.CompileOptions{LocalAddrs: []netip.Addr{localAddr}})
	if err != nil {
		return err
	}
	var db spd.SPD
	db.Swap(compiled)
	e := newEngine(log, &db, t, uint16(*dataPort))

	dev, err := tun.CreateTUN(*tunName, *mtu)
	if err != nil {
		return fmt.Errorf("tun %s: %w", *tunName, err)
	}
	if err := configureTUN(*tunName, addrs, routes); err != nil {
		dev.Close()
		return err
	}
	ep, err := ike.NewEndpoint(ike.EndpointConfig{
		IKEAddr:   netip.AddrPortFrom(localAddr, uint16(*ikePort)),
		NATTAddr:  netip.AddrPortFrom(localAddr, uint16(*nattPort)),
		Responder: t.respond,
		Events:    e.onEvent,
		ESP: func(from netip.AddrPort, pkt []byte) {
			if p := e.plane.Load(); p != nil {
				p.InboundFromEndpoint(from, pkt)
			}
		},
		Logger: log,
	})
	if err != nil {
		dev.Close()
		return err
	}
	e.ep = ep
	plane, err := dataplane.New(dataplane.Config{
		TUN: dev, Bind: conn.NewStdNetBind(), Port: uint16(*dataPort), Crypto: e, Workers: *workers, Logger: log,
		SendEndpoint: func(to netip.AddrPort, pkts [][]byte) error {
			var errs error
			for _, p := range pkts {
				errs = errors.Join(errs, ep.SendESP(to, p))
			}
			return errs
		},
	})
	if err != nil {
		dev.Close()
		return err
	}
	e.plane.Store(plane)
	log.Info("gateway up", "tun", *tunName, "local", localAddr, "peer", t.peer, "rule", t.rule.Name, "data-port", plane.Port())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	wg.Go(func() { e.db.Run(runCtx) })
	wg.Go(func() {
		if err := ep.Run(runCtx); err != nil && runCtx.Err() == nil {
			log.Error("ike endpoint", "err", err)
			cancel()
		}
	})
	wg.Go(func() { e.acquire(runCtx) })
	if *initiate {
		e.wantSA()
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for done := false; !done; {
		select {
		case <-usr1:
			report(stdout, e, plane)
		case <-runCtx.Done():
			done = true
		}
	}
	cancel()
	// Give the endpoint a moment to stop before the plane closes the TUN.
	time.Sleep(50 * time.Millisecond)
	plane.Close()
	wg.Wait()
	report(stdout, e, plane)
	return nil
}

// report prints the IKE SAs, the SA database and the counters.
func report(w io.Writer, e *engine, p *dataplane.Plane) {
	fmt.Fprintln(w, "== IKE SAs")
	e.mu.Lock()
	for _, sa := range e.ikeSAs {
		fmt.Fprintf(w, "%x/%x initiator=%v %v %v %v local=%v remote=%v\n", sa.SPIi, sa.SPIr, sa.Initiator, sa.Encr, sa.PRF, sa.KE, sa.LocalID, sa.RemoteID)
	}
	e.mu.Unlock()
	fmt.Fprintln(w, "== SAD")
	e.db.WriteDump(w)
	fmt.Fprintln(w, "== counters")
	p.Stats().WriteTo(w)
}

// configureTUN brings the device up and gives it the addresses and routes
// it was told to, with ip(8).
func configureTUN(name string, addrs, routes []string) error {
	cmds := [][]string{{"link", "set", "dev", name, "up"}}
	for _, a := range addrs {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fmt.Errorf("-addr: %w", err)
		}
		cmds = append(cmds, []string{"addr", "add", a, "dev", name})
	}
	for _, r := range routes {
		if _, err := netip.ParsePrefix(r); err != nil {
			return fmt.Errorf("-route: %w", err)
		}
		cmds = append(cmds, []string{"route", "add", r, "dev", name})
	}
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}
