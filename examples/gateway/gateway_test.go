package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/swtest"
	"github.com/ipsecgo/ipsec/internal/testenv"
)

// The tests below run two gateways (or a gateway and charon) in two
// network namespaces that swtest.NewPair joins with a veth; each
// namespace has its protected subnet's address on lo (10.1.0.1 behind
// side 0, 10.2.0.1 behind side 1). Traffic between the subnets is made by
// this test binary itself, re-run inside a namespace as a helper process
// (TestMain runs helperMain when GATEWAY_HELPER is set).

const (
	hostA = "10.1.0.1"
	hostB = "10.2.0.1"
	netA  = "10.1.0.0/24"
	netB  = "10.2.0.0/24"
	psk   = "gateway test pre-shared key, long enough"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_HELPER") != "" {
		os.Exit(helperMain())
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// gatewayBinary builds the gateway once per test run.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "gateway-test")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "gateway"), ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "gateway")
}

// needRig skips (or fails under IPSEC_REQUIRE_INTEROP=1) without root and
// the tools the rig uses.
func needRig(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	testenv.NeedCommand(t, "ping", "iputils-ping")
	testenv.Need(t, fileExists("/dev/net/tun"), "no /dev/net/tun")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// policyYAML is a site's policy: one Negotiate rule whose filters cover
// both directions between the subnets, tunnelled to peer (or, with
// windows, Windows' pair of tunnel rules: one per direction, each naming
// the far tunnel endpoint for its direction), plus extra filter lists,
// actions and rules (YAML fragments).
type policyYAML struct {
	mine, theirs, peer string
	windows            bool
	me                 string // this gateway's address, for windows
	suite              string // ESP encryption
	lifetime           int    // seconds, 0 for the default
	extraLists         string
	extraRules         string
}

func (p policyYAML) String() string {
	life := ""
	if p.lifetime > 0 {
		life = fmt.Sprintf("\n        lifetime: {seconds: %d, kilobytes: 50000000}", p.lifetime)
	}
	suite := p.suite
	if suite == "" {
		suite = "aes128-gcm16"
	}
	if p.windows {
		p.extraLists = fmt.Sprintf(`  - name: inbound
    filters:
      - {source: %s, destination: %s}
`, p.theirs, p.mine) + p.extraLists
		p.extraRules = fmt.Sprintf(`  - name: tunnel in
    filter_list: inbound
    filter_action: Tunnel
    tunnel: %s
    authentication:
      - preshared_key: %s
`, p.me, psk) + p.extraRules
	}
	back := fmt.Sprintf("\n      - {source: %s, destination: %s}", p.theirs, p.mine)
	if p.windows {
		back = ""
	}
	return fmt.Sprintf(`name: gateway test
default_action: permit
filter_lists:
  - name: tunnel
    filters:
      - {source: %[1]s, destination: %[2]s}%[9]s
%[6]s
filter_actions:
  - name: Tunnel
    action: protect
    pfs: true
    security_methods:
      - esp: {encryption: %[4]s}%[5]s
  - name: Block
    action: block
rules:
  - name: tunnel
    filter_list: tunnel
    filter_action: Tunnel
    tunnel: %[3]s
    authentication:
      - preshared_key: %[8]s
%[7]s`, p.mine, p.theirs, p.peer, suite, life, p.extraLists, p.extraRules, psk, back)
}

// gw is a gateway process in a namespace.
type gw struct {
	policy string // the policy file, which the gateway reloads when it changes
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startGateway runs the gateway of side in p with policy pol, routing the
// other side's subnet into its TUN.
func startGateway(t *testing.T, p *swtest.Pair, side int, pol policyYAML, args ...string) *gw {
	t.Helper()
	route := netB
	if side == 1 {
		route = netA
	}
	return runGateway(t, p, side, pol, append([]string{"-route", route}, args...)...)
}

// runGateway runs the gateway of side in p with policy pol and the TUN gw0,
// with more flags.
func runGateway(t *testing.T, p *swtest.Pair, side int, pol policyYAML, args ...string) *gw {
	t.Helper()
	bin := gatewayBinary(t)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(pol.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"netns", "exec", p.NS[side], bin, "-policy", path, "-local", p.Addr[side].String(), "-tun", "gw0"}, args...)
	if os.Getenv("GATEWAY_TEST_DEBUG") == "1" {
		all = append(all, "-v")
	}
	g := &gw{policy: path, cmd: exec.Command("ip", all...), out: &lockedBuffer{}, done: make(chan struct{})}
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway %d output:\n%s", side, g.out.String())
		}
	})
	return g
}

// stop ends the gateway (SIGTERM, so it prints its report) and waits.
func (g *gw) stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// counters returns the gateway's counters after it stopped: the last
// "outbound:", "inbound:" and "driver:" lines of its report, as
// "direction cause" -> count.
func (g *gw) counters(t *testing.T) map[string]uint64 {
	t.Helper()
	g.stop()
	m := map[string]uint64{}
	re := regexp.MustCompile(`([a-z-]+)=(\d+)`)
	sc := bufio.NewScanner(strings.NewReader(g.out.String()))
	for sc.Scan() {
		line := sc.Text()
		dir, rest, ok := strings.Cut(line, ": ")
		if !ok || (dir != "outbound" && dir != "inbound" && dir != "driver" && dir != "endpoint") {
			continue
		}
		for _, kv := range re.FindAllStringSubmatch(rest, -1) {
			n, _ := strconv.ParseUint(kv[2], 10, 64)
			m[dir+" "+kv[1]] = n
		}
	}
	return m
}

// newRig makes the namespaces and the protected subnets' addresses.
func newRig(t *testing.T) *swtest.Pair {
	t.Helper()
	p := swtest.NewPair(t)
	p.AddAddr(t, 0, hostA+"/32", "lo")
	p.AddAddr(t, 1, hostB+"/32", "lo")
	return p
}

// pingThrough pings from one protected subnet to the other until a reply
// comes (the first packets wait for IKE) or the deadline passes.
func pingThrough(t *testing.T, p *swtest.Pair, side int) {
	t.Helper()
	src, dst := hostA, hostB
	if side == 1 {
		src, dst = hostB, hostA
	}
	pingHosts(t, p, side, src, dst)
}

// pingHosts pings dst from src in the namespace of side until a reply
// comes or the deadline passes.
func pingHosts(t *testing.T, p *swtest.Pair, side int, src, dst string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command("ip", "netns", "exec", p.NS[side], "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", src, dst).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping %s -> %s: %v\n%s", src, dst, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// helper runs this test binary as a helper process in namespace ns.
func helper(t *testing.T, ns string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// transfer sends n bytes over TCP from the side `from` to the other side's
// protected address, paced over about `over`, and checks that the
// receiver saw exactly what was sent (length and SHA-256).
func transfer(t *testing.T, p *swtest.Pair, from int, n int, over time.Duration, port int) {
	t.Helper()
	src, dst := hostA, hostB
	if from == 1 {
		src, dst = hostB, hostA
	}
	transferHosts(t, p, from, src, dst, n, over, port)
}

// transferHosts is transfer between any two addresses: src in the
// namespace of side from, dst in the other.
func transferHosts(t *testing.T, p *swtest.Pair, from int, src, dst string, n int, over time.Duration, port int) {
	t.Helper()
	srv := helper(t, p.NS[1-from], "GATEWAY_HELPER=tcp-server", "HELPER_LISTEN="+net.JoinHostPort(dst, strconv.Itoa(port)))
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()
	finished := false
	defer func() {
		if !finished {
			_ = srv.Process.Kill()
			<-srvDone
		}
	}()
	time.Sleep(200 * time.Millisecond) // let it listen
	cli := helper(t, p.NS[from], "GATEWAY_HELPER=tcp-client", "HELPER_LOCAL="+src,
		"HELPER_DIAL="+net.JoinHostPort(dst, strconv.Itoa(port)), "HELPER_BYTES="+strconv.Itoa(n),
		"HELPER_PACE="+over.String())
	out, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("tcp client: %v\n%s", err, out)
	}
	select {
	case err := <-srvDone:
		finished = true
		if err != nil {
			t.Fatalf("tcp server: %v\n%s", err, srvOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("tcp server did not finish:\n%s", srvOut.String())
	}
	sent, got := strings.TrimSpace(string(out)), strings.TrimSpace(srvOut.String())
	if sent != got || !strings.HasPrefix(sent, strconv.Itoa(n)+" ") {
		t.Fatalf("transfer %s -> %s: sent %q, received %q", src, dst, sent, got)
	}
	t.Logf("TCP %s -> %s: %s", src, dst, sent)
}

// helperMain is a helper process: a TCP sender or receiver that reports
// the byte count and SHA-256 of the stream, or a UDP sender.
func helperMain() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "helper:", err); return 1 }
	switch os.Getenv("GATEWAY_HELPER") {
	case "tcp-server":
		l, err := net.Listen("tcp", os.Getenv("HELPER_LISTEN"))
		if err != nil {
			return fail(err)
		}
		c, err := l.Accept()
		if err != nil {
			return fail(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			return fail(err)
		}
		fmt.Printf("%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
	case "tcp-client":
		n, _ := strconv.Atoi(os.Getenv("HELPER_BYTES"))
		pace, _ := time.ParseDuration(os.Getenv("HELPER_PACE"))
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(os.Getenv("HELPER_LOCAL"))}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", os.Getenv("HELPER_DIAL"))
		if err != nil {
			return fail(err)
		}
		rng := rand.NewChaCha8([32]byte{1, 2, 3})
		h := sha256.New()
		buf := make([]byte, 64<<10)
		chunks := (n + len(buf) - 1) / len(buf)
		start := time.Now()
		for i, left := 0, n; left > 0; i++ {
			b := buf[:min(left, len(buf))]
			_, _ = rng.Read(b)
			h.Write(b)
			if _, err := c.Write(b); err != nil {
				return fail(err)
			}
			left -= len(b)
			if pace > 0 {
				if d := time.Until(start.Add(pace * time.Duration(i+1) / time.Duration(chunks))); d > 0 {
					time.Sleep(d)
				}
			}
		}
		if err := c.Close(); err != nil {
			return fail(err)
		}
		fmt.Printf("%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
	case "udp-send":
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(os.Getenv("HELPER_LOCAL"))}}
		c, err := d.Dial("udp", os.Getenv("HELPER_DIAL"))
		if err != nil {
			return fail(err)
		}
		count, _ := strconv.Atoi(os.Getenv("HELPER_COUNT"))
		for i := range count {
			_, _ = fmt.Fprintf(c, "datagram %d", i)
			time.Sleep(5 * time.Millisecond)
		}
		c.Close()
	default:
		return fail(fmt.Errorf("unknown helper %q", os.Getenv("GATEWAY_HELPER")))
	}
	return 0
}

// sitePolicies returns the two gateways' policies for p.
func sitePolicies(p *swtest.Pair, suite string, lifetime int) (a, b policyYAML) {
	a = policyYAML{mine: netA, theirs: netB, peer: p.Addr[1].String(), suite: suite, lifetime: lifetime}
	b = policyYAML{mine: netB, theirs: netA, peer: p.Addr[0].String(), suite: suite, lifetime: lifetime}
	return a, b
}

// noLoss fails if a gateway dropped packets for a cause that means data
// was lost on the way (rather than refused by policy or kept while IKE
// negotiated).
func noLoss(t *testing.T, name string, c map[string]uint64) {
	t.Helper()
	for _, k := range []string{"inbound auth", "inbound replay", "inbound unknown-spi", "inbound selector",
		"inbound malformed", "inbound tun-write", "outbound no-sa", "outbound expired", "outbound send",
		"outbound other", "driver queue-full", "driver negotiation", "driver no-sa", "driver open", "driver replay", "driver seal"} {
		if c[k] != 0 {
			t.Errorf("gateway %s: %s=%d", name, k, c[k])
		}
	}
	// What the kernel dropped for full socket buffers, TCP recovers:
	// reported, not a failure (it depends on the machine's load).
	if n := c["endpoint socket-drops"] + c["inbound socket"]; n != 0 {
		t.Logf("gateway %s: %d datagrams dropped by the kernel (full socket buffers)", name, n)
	}
}

// TestGatewayPingTCP: two gateways pass ping and TCP both ways between
// the protected subnets, with each suite the bench measures (standard ESP
// in UDP on port 4500, the default) and over the data port; the policies
// write the tunnel as Windows does, one rule per direction.
func TestGatewayPingTCP(t *testing.T) {
	needRig(t)
	for _, c := range []struct {
		name, suite string
		args        []string
	}{
		{"aes128-gcm16", "aes128-gcm16", nil},
		{"chacha20-poly1305", "chacha20-poly1305", nil},
		{"aes128-gcm16/data-port", "aes128-gcm16", []string{"-data-port", "4501"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newRig(t)
			pa, pb := sitePolicies(p, c.suite, 0)
			pa.windows, pa.me = true, p.Addr[0].String()
			pb.windows, pb.me = true, p.Addr[1].String()
			a := startGateway(t, p, 0, pa, c.args...)
			b := startGateway(t, p, 1, pb, c.args...)
			pingThrough(t, p, 0)
			pingThrough(t, p, 1)
			transfer(t, p, 0, 16<<20, 0, 5001)
			transfer(t, p, 1, 16<<20, 0, 5002)
			// SIGUSR1 prints the SAs and counters without stopping.
			if err := a.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(a.out.String(), "== counters") {
				if time.Now().After(deadline) {
					t.Fatal("no report after SIGUSR1")
				}
				time.Sleep(20 * time.Millisecond)
			}
			ca, cb := a.counters(t), b.counters(t)
			noLoss(t, "A", ca)
			noLoss(t, "B", cb)
			if ca["outbound packets"] == 0 || cb["inbound packets"] == 0 {
				t.Errorf("no packets counted: A %v, B %v", ca, cb)
			}
		})
	}
}

// TestGatewayBlockRule: a Block rule (UDP to port 9999 between the
// subnets) is enforced on the wire. The gateway starts without it (the
// flow is carried, as ESP); the rule is then added to the policy file,
// the Policy Agent reloads it, and from then on a capture on the veth
// sees no packet of that flow at all between the gateways (nor in the
// clear), while the same flow to another port is still carried.
func TestGatewayBlockRule(t *testing.T) {
	needRig(t)
	swtest.RequireTcpdump(t)
	p := newRig(t)
	pa, pb := sitePolicies(p, "", 0)
	a := startGateway(t, p, 0, pa)
	b := startGateway(t, p, 1, pb)
	pingThrough(t, p, 0)

	count := func(port, n int) int {
		path := filepath.Join(t.TempDir(), "cap.pcap")
		// The capture takes everything (immediate mode: with the default
		// buffer timeout, packets still in the kernel's ring when tcpdump
		// stops are lost); the filter is applied when it is read.
		c := startCapture(t, p.NS[0], p.Veth[0], path)
		out, err := helper(t, p.NS[0], "GATEWAY_HELPER=udp-send", "HELPER_LOCAL="+hostA,
			"HELPER_DIAL="+net.JoinHostPort(hostB, strconv.Itoa(port)), "HELPER_COUNT="+strconv.Itoa(n)).CombinedOutput()
		if err != nil {
			t.Fatalf("udp sender: %v\n%s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
		c.stop()
		// Everything between the two gateways' addresses except IKE and
		// NAT keepalives (ESP in UDP on 4500 is the datagrams whose
		// first 4 bytes, the SPI, are not zero, RFC 3948 section 2.2),
		// and anything addressed to the protected subnet in the clear.
		filter := fmt.Sprintf("ip and ((host %s and ((udp port 4500 and udp[4:2] > 12 and udp[8:4] != 0) or not (port 500 or port 4500))) or net %s)", p.Addr[1], netB)
		lines, err := exec.Command("tcpdump", "-r", path, "-n", filter).Output()
		if err != nil {
			t.Fatalf("tcpdump -r: %v", err)
		}
		t.Logf("port %d: %d packets, first:\n%s", port, strings.Count(string(lines), "\n"), firstLines(string(lines), 2))
		return strings.Count(string(lines), "\n")
	}
	// Port 9999 and 9998 are closed at B: its ICMP errors make some of the
	// connected sender's writes fail, so not all 50 leave.
	if got := count(9999, 50); got < 25 {
		t.Fatalf("before the block rule: %d packets of the flow on the wire, want at least 25", got)
	}

	reloads := strings.Count(a.out.String(), "msg=policy")
	pa.extraLists = fmt.Sprintf(`  - name: blocked
    filters:
      - {source: %s, destination: %s, protocol: udp, destination_port: 9999, mirrored: true}
`, netA, netB)
	pa.extraRules = `  - name: no udp 9999
    filter_list: blocked
    filter_action: Block
`
	if err := os.WriteFile(a.policy, []byte(pa.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(a.out.String(), "msg=policy") == reloads {
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not reload its policy")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := count(9999, 50); got != 0 {
		t.Errorf("blocked flow: %d packets on the wire, want 0", got)
	}
	if got := count(9998, 50); got < 25 {
		t.Errorf("permitted flow: %d packets on the wire, want at least 25", got)
	}
	ca, cb := a.counters(t), b.counters(t)
	t.Logf("A: %v\nB: %v", ca, cb)
	if ca["outbound blocked"] != 50 {
		t.Errorf("gateway A counted %d blocked packets, want 50", ca["outbound blocked"])
	}
	noLoss(t, "A", ca)
	noLoss(t, "B", cb)
}

// capture is a tcpdump writing every packet of one interface to a file.
type capture struct {
	cmd  *exec.Cmd
	errs *lockedBuffer
}

func startCapture(t *testing.T, ns, dev, path string) *capture {
	t.Helper()
	tcpdump := swtest.RequireTcpdump(t)
	c := &capture{cmd: exec.Command("ip", "netns", "exec", ns, tcpdump, "-i", dev, "--immediate-mode", "-U", "-n", "-s", "0", "-w", path), errs: &lockedBuffer{}}
	c.cmd.Stderr = c.errs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.errs.String(), "listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", c.errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// stop ends the capture (SIGINT, so that tcpdump flushes) and returns
// what tcpdump said.
func (c *capture) stop() string {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		_ = c.cmd.Wait()
	}
	return c.errs.String()
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestGatewayRekeyNoLoss: CHILD SAs live 16 seconds (the driver rekeys
// them, with PFS, at 90% of that less up to 10% jitter, 13 to 14.4 s); a
// TCP transfer paced over 18 seconds crosses a rekey and arrives whole, and neither gateway lost a
// packet on the way (no ESP dropped for an unknown SPI, a failed ICV or
// the replay window, nothing held or dropped for want of an SA).
func TestGatewayRekeyNoLoss(t *testing.T) {
	needRig(t)
	p := newRig(t)
	pa, pb := sitePolicies(p, "", 16)
	a := startGateway(t, p, 0, pa)
	b := startGateway(t, p, 1, pb)
	pingThrough(t, p, 0)
	transfer(t, p, 0, 32<<20, 18*time.Second, 5003)
	ca, cb := a.counters(t), b.counters(t)
	noLoss(t, "A", ca)
	noLoss(t, "B", cb)
	// Both sides have a rekey timer; when they fire together one rekey
	// wins (RFC 7296 2.8.1), so count the rekeys that happened at all.
	logs := a.out.String() + b.out.String()
	if !regexp.MustCompile(`kind=child-rekeyed rule=tunnel .* pfs=CURVE_25519`).MatchString(logs) {
		t.Errorf("no CHILD SA rekey with PFS in the logs")
	}
}

// TestInteropGatewayStrongSwan: our gateway (side 0) against strongSwan's
// charon with kernel-libipsec (side 1) as the other site: IKEv2 with a
// pre-shared key, ESP in UDP (charon's libipsec forces RFC 3948
// encapsulation), ping and TCP both ways between the protected subnets,
// and a CHILD SA rekey with PFS (X25519) in the middle of a transfer,
// started by our side (CHILD SAs live 12 seconds under our policy).
func TestInteropGatewayStrongSwan(t *testing.T) {
	needRig(t)
	swtest.Require(t)
	p := newRig(t)
	c := p.StartCharon(t, 1, swtest.Options{})
	c.Load(t, fmt.Sprintf(`connections {
	gw {
		version = 2
		local_addrs = %[1]s
		remote_addrs = %[2]s
		proposals = aes128gcm16-prfsha256-x25519
		local {
			auth = psk
			id = %[1]s
		}
		remote {
			auth = psk
			id = %[2]s
		}
		children {
			gw {
				local_ts = %[3]s
				remote_ts = %[4]s
				esp_proposals = aes128gcm16-x25519
				mode = tunnel
			}
		}
	}
}
secrets {
	ike-gw {
		id-a = %[1]s
		id-b = %[2]s
		secret = "%[5]s"
	}
}
`, p.Addr[1], p.Addr[0], netB, netA, psk))
	pa, _ := sitePolicies(p, "", 12)
	a := startGateway(t, p, 0, pa)
	pingThrough(t, p, 0) // our gateway initiates on the first packet
	pingThrough(t, p, 1)
	transfer(t, p, 1, 4<<20, 0, 5004)
	transfer(t, p, 0, 24<<20, 14*time.Second, 5005) // crosses our rekey
	pingThrough(t, p, 1)
	sas := c.Swanctl(t, "--list-sas")
	ca := a.counters(t)
	noLoss(t, "A", ca)
	logs := a.out.String()
	if !strings.Contains(logs, "udp-encap=true") {
		t.Errorf("the CHILD SA is not UDP-encapsulated; charon's libipsec needs that")
	}
	if !regexp.MustCompile(`kind=child-rekeyed rule=tunnel .* pfs=CURVE_25519`).MatchString(logs) {
		t.Errorf("no CHILD SA rekey with PFS in our gateway's logs")
	}
	if !strings.Contains(sas, "INSTALLED") || !strings.Contains(sas, "CURVE_25519") {
		t.Errorf("charon's SAs after the rekey:\n%s", sas)
	}
	t.Logf("charon --list-sas:\n%s", sas)
}

// TestGatewayHostToHost: host-to-host over the TUN addresses: each gateway
// gives its TUN one address (-addr) and routes the other's into it, and
// the policy protects the traffic between those two hosts (tunnel mode
// with /32 selectors). Ping and TCP pass both ways.
func TestGatewayHostToHost(t *testing.T) {
	needRig(t)
	p := swtest.NewPair(t)
	const hA, hB = "10.9.0.1", "10.9.0.2"
	pa := policyYAML{mine: hA + "/32", theirs: hB + "/32", peer: p.Addr[1].String()}
	pb := policyYAML{mine: hB + "/32", theirs: hA + "/32", peer: p.Addr[0].String()}
	gws := [2]*gw{
		runGateway(t, p, 0, pa, "-addr", hA+"/32", "-route", hB+"/32"),
		runGateway(t, p, 1, pb, "-addr", hB+"/32", "-route", hA+"/32"),
	}
	deadline := time.Now().Add(20 * time.Second)
	for side, dst := range []string{hB, hA} {
		for {
			out, err := exec.Command("ip", "netns", "exec", p.NS[side], "ping", "-c", "3", "-i", "0.2", "-W", "1", dst).CombinedOutput()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ping %s from side %d: %v\n%s", dst, side, err, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// TCP from the TUN address of A to that of B.
	srv := helper(t, p.NS[1], "GATEWAY_HELPER=tcp-server", "HELPER_LISTEN="+net.JoinHostPort(hB, "5006"))
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	out, err := helper(t, p.NS[0], "GATEWAY_HELPER=tcp-client", "HELPER_LOCAL="+hA,
		"HELPER_DIAL="+net.JoinHostPort(hB, "5006"), "HELPER_BYTES="+strconv.Itoa(4<<20)).CombinedOutput()
	if err != nil {
		_ = srv.Process.Kill()
		_ = srv.Wait()
		t.Fatalf("tcp client: %v\n%s", err, out)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("tcp server: %v\n%s", err, srvOut.String())
	}
	if strings.TrimSpace(string(out)) != strings.TrimSpace(srvOut.String()) {
		t.Fatalf("sent %q, received %q", out, srvOut.String())
	}
	noLoss(t, "A", gws[0].counters(t))
	noLoss(t, "B", gws[1].counters(t))
}

// TestGatewayIPv6Inner: IPv6 subnets behind each gateway (fd01::/64 and
// fd02::/64, inner next header 41 in ESP, RFC 4303 2.6) over the IPv4
// veth: ping and TCP both ways.
func TestGatewayIPv6Inner(t *testing.T) {
	needRig(t)
	p := swtest.NewPair(t)
	const h6A, h6B, n6A, n6B = "fd01::1", "fd02::1", "fd01::/64", "fd02::/64"
	p.AddAddr(t, 0, h6A+"/128", "lo")
	p.AddAddr(t, 1, h6B+"/128", "lo")
	pa := policyYAML{mine: n6A, theirs: n6B, peer: p.Addr[1].String()}
	pb := policyYAML{mine: n6B, theirs: n6A, peer: p.Addr[0].String()}
	a := runGateway(t, p, 0, pa, "-route", n6B)
	b := runGateway(t, p, 1, pb, "-route", n6A)
	pingHosts(t, p, 0, h6A, h6B)
	pingHosts(t, p, 1, h6B, h6A)
	transferHosts(t, p, 0, h6A, h6B, 8<<20, 0, 5007)
	transferHosts(t, p, 1, h6B, h6A, 8<<20, 0, 5008)
	noLoss(t, "A", a.counters(t))
	noLoss(t, "B", b.counters(t))
}

// TestGatewayRFC3948: with -data-port 0 (the default, given here
// explicitly) two gateways use only standard ESP in UDP on port 4500 (RFC
// 3948; IKE is told to claim a NAT): ping and TCP both ways, and every
// CHILD SA is UDP-encapsulated.
func TestGatewayRFC3948(t *testing.T) {
	needRig(t)
	p := newRig(t)
	pa, pb := sitePolicies(p, "", 0)
	a := startGateway(t, p, 0, pa, "-data-port", "0")
	b := startGateway(t, p, 1, pb, "-data-port", "0")
	pingThrough(t, p, 0)
	pingThrough(t, p, 1)
	transfer(t, p, 0, 8<<20, 0, 5009)
	transfer(t, p, 1, 8<<20, 0, 5010)
	ca, cb := a.counters(t), b.counters(t)
	noLoss(t, "A", ca)
	noLoss(t, "B", cb)
	logs := a.out.String() + b.out.String()
	if strings.Contains(logs, "udp-encap=false") || !strings.Contains(logs, "udp-encap=true") {
		t.Errorf("CHILD SAs not all UDP-encapsulated")
	}
}
