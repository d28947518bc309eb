// Command gateway is a userspace IPsec gateway over a TUN device: the
// hosts of a protected subnet route through it, and it protects their
// traffic to the subnet behind a peer gateway with ESP in tunnel mode,
// negotiating keys with IKEv2 on demand. It is the root package's driver
// plus I/O (package internal/dataplane).
//
// A policy file (the spd YAML, see spd/file.go) decides every packet, and
// a Policy Agent reloads it when it changes (the next packet sees the new
// policy; SAs of rules that went away are deleted):
// Block rules drop, Permit rules pass (a TUN gateway has nowhere to send
// clear packets, so they are counted as "bypass"), and a protect rule
// with a tunnel endpoint names the peer, the subnets, the ESP algorithms,
// PFS, the lifetimes and the pre-shared key. A tunnel is either Windows'
// pair of rules (one per direction, each naming the far tunnel endpoint
// for its direction) or one rule whose filters cover both directions.
// Flags give the rest:
//
//	gateway -policy site-a.yaml -local 192.0.2.1 -tun gw0 -route 10.2.0.0/16
//
// The gateway creates the TUN device and gives it only the addresses and
// routes it is told to (-addr, -route; it brings the link up). It answers
// IKE on -local port 500 and 4500 and initiates when a protected packet
// finds no SA (the packet waits in the driver's queue). ESP travels as
// standard ESP in UDP (RFC 3948) through the IKE endpoint's port 4500:
// IKE claims a NAT so that every CHILD SA is UDP-encapsulated (RFC 7296
// section 2.23), which any peer takes, and UDP lets both sides batch and
// use GSO/GRO where raw ESP (IP protocol 50) cannot. With -data-port N,
// ESP that IKE did not encapsulate goes instead, without its outer IP
// header, in UDP to the peer's port N, which only another of these
// gateways listens on (a little less CPU per byte; see the README).
// Host-to-host is the same with /32 (or /128) filters on the two TUN
// addresses.
//
// On SIGUSR1, and at exit, it prints its IKE SAs, the SAD and its
// counters (packets, drops by cause) on standard output. Logs go to
// standard error through log/slog.
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
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/ipsecgo/ipsec"
	"github.com/ipsecgo/ipsec/examples/gateway/internal/dataplane"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/ipsecgo/ipsec/spd"
)

// socketBuffer is the receive and send buffer of the IKE endpoint's
// sockets: at 1 Gbit/s, 4 MiB is 30 ms of ESP.
const socketBuffer = 4 << 20

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
		dataPort   = fs.Uint("data-port", 0, "UDP port for ESP that IKE did not encapsulate (ours and the peer's, another of these gateways); 0: none, every CHILD SA is UDP-encapsulated on 4500 (RFC 3948)")
		ikeProp    = fs.String("ike-proposal", "aes128gcm16-prfsha256-x25519", "IKE SA proposals")
		forceEncap = fs.Bool("force-encap", false, "claim a NAT so that ESP is UDP-encapsulated on port 4500 (RFC 3948)")
		workers    = fs.Int("workers", 0, "goroutines sharing the crypto of one batch, the reading one included (0: one fewer than the CPUs, at least 1)")
		verbose    = fs.Bool("v", false, "debug logs")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile to `file` until exit")
		addrs      listFlag
		routes     listFlag
	)
	fs.Var(&addrs, "addr", "`prefix` to assign to the TUN (repeatable)")
	fs.Var(&routes, "route", "`prefix` to route into the TUN (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
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
	// The policy file must exist and parse at start (file:line:col
	// errors); afterwards the Policy Agent reloads it when it changes,
	// and the driver applies the new policy from the next packet on.
	data, err := os.ReadFile(*policyFile)
	if err != nil {
		return err
	}
	if _, err := spd.ParsePolicy(*policyFile, data); err != nil {
		return err
	}
	var db spd.SPD
	agent, err := spd.NewAgent(&db, spd.AgentConfig{
		LocalFile:  *policyFile,
		LocalAddrs: func() ([]netip.Addr, error) { return []netip.Addr{localAddr}, nil },
		OnEvent:    func(ev spd.Event) { log.Info("policy", "event", ev.String()) },
	})
	if err != nil {
		return err
	}
	if err := agent.Reload(context.Background()); err != nil {
		return err
	}
	ikeProps, err := ike.ParseProposals(*ikeProp, isakmp.ProtocolIKE)
	if err != nil {
		return fmt.Errorf("-ike-proposal: %w", err)
	}
	e := &engine{log: log, dataPort: uint16(*dataPort)}
	d, err := ipsec.NewDriver(ipsec.DriverConfig{
		SPD:   &db,
		Agent: agent,
		Endpoint: ike.EndpointConfig{
			IKEAddr:  netip.AddrPortFrom(localAddr, uint16(*ikePort)),
			NATTAddr: netip.AddrPortFrom(localAddr, uint16(*nattPort)),
			Events:   e.onEvent,
			ESPBatch: func(from []netip.AddrPort, pkts [][]byte) {
				if p := e.plane.Load(); p != nil {
					p.InboundESPBatch(from, pkts)
				}
			},
			// ESP that IKE encapsulated arrives here too (RFC 3948).
			ReadBuffer: socketBuffer, WriteBuffer: socketBuffer,
			Logger: log,
		},
		Output:        e.output,
		IKEProposals:  ikeProps,
		ForceUDPEncap: *forceEncap || *dataPort == 0,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	e.d = d
	ep := d.Endpoint()

	if *mtu < 576 || *mtu > dataplane.MaxMTU {
		return fmt.Errorf("-mtu %d: outside 576 to %d", *mtu, dataplane.MaxMTU)
	}
	dev, err := tun.CreateTUN(*tunName, *mtu)
	if err != nil {
		return fmt.Errorf("tun %s: %w", *tunName, err)
	}
	if err := configureTUN(*tunName, addrs, routes); err != nil {
		dev.Close()
		return err
	}
	tunIO, err := dataplane.OpenTUN(dev)
	if err != nil {
		dev.Close()
		return err
	}
	udp, err := dataplane.ListenUDP(uint16(*dataPort))
	if err != nil {
		dev.Close()
		return fmt.Errorf("data port %d: %w", *dataPort, err)
	}
	plane, err := dataplane.New(dataplane.Config{
		TUN: tunIO, UDP: udp, Crypto: e, Workers: *workers, Logger: log,
		SendEndpoint: func(to netip.AddrPort, pkts [][]byte) error {
			_, err := ep.SendESPBatch(to, pkts)
			return err
		},
	})
	if err != nil {
		dev.Close()
		udp.Close()
		return err
	}
	e.plane.Store(plane)
	log.Info("gateway up", "tun", *tunName, "local", localAddr, "data-port", plane.Port())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	// The driver (and its IKE endpoint) runs until the plane has stopped
	// taking packets from the TUN, so that none is sealed for a transport
	// already closed.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg.Go(func() {
		if err := d.Run(runCtx); err != nil && runCtx.Err() == nil {
			log.Error("driver", "err", err)
			cancel()
		}
	})
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for done := false; !done; {
		select {
		case <-usr1:
			report(stdout, e, plane)
		case <-ctx.Done():
			done = true
		case <-runCtx.Done():
			done = true
		}
	}
	plane.Close() // ESP the endpoint still hands over is dropped from now on
	cancel()
	wg.Wait()
	report(stdout, e, plane)
	return nil
}

// report prints the IKE SAs, the SA database and the counters.
func report(w io.Writer, e *engine, p *dataplane.Plane) {
	fmt.Fprintln(w, "== IKE SAs")
	for _, sa := range e.d.Endpoint().IKESAs() {
		fmt.Fprintf(w, "%x/%x initiator=%v %v %v %v local=%v remote=%v\n", sa.SPIi, sa.SPIr, sa.Initiator, sa.Encr, sa.PRF, sa.KE, sa.LocalID, sa.RemoteID)
	}
	fmt.Fprintln(w, "== SAD")
	e.d.SAD().WriteDump(w)
	fmt.Fprintln(w, "== counters")
	p.Stats().WriteTo(w)
	ds := e.d.Stats()
	fmt.Fprintf(w, "driver: held=%d acquires=%d", ds.Held, ds.Acquires)
	for r, n := range ds.Drops {
		if n != 0 {
			fmt.Fprintf(w, " %v=%d", ipsec.DropReason(r), n)
		}
	}
	fmt.Fprintln(w)
	// The IKE endpoint's sockets (port 4500 carries ESP too): datagrams
	// lost to full queues or to full receive buffers.
	es := e.d.Endpoint().Stats()
	fmt.Fprintf(w, "endpoint: ike=%d esp=%d queue-drops=%d socket-drops=%d malformed=%d\n",
		es.Received, es.ESPReceived, es.QueueDrops, es.SocketDrops, es.Malformed)
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
