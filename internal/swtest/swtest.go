package swtest

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/testenv"
)

// Paths of the Debian strongSwan binaries.
const (
	CharonPath  = "/usr/lib/ipsec/charon"
	SwanctlPath = "/usr/sbin/swanctl"
)

// DefaultPlugins is the plugin list INTEROP.md establishes for these
// machines: kernel-libipsec before kernel-netlink, so ESP runs in
// userspace over a TUN device.
const DefaultPlugins = "random nonce openssl aes sha1 sha2 hmac gcm curve25519 gmp pem pkcs1 pkcs8 x509 pubkey revocation constraints kdf kernel-libipsec kernel-netlink socket-default vici"

// Require skips (or fails under IPSEC_REQUIRE_INTEROP=1) unless the test
// runs as root with ip, charon, swanctl available.
func Require(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	testenv.NeedCommand(t, CharonPath, "strongswan-charon")
	testenv.NeedCommand(t, SwanctlPath, "strongswan-swanctl")
}

// RequireTcpdump additionally requires tcpdump for captures.
func RequireTcpdump(t testing.TB) string {
	t.Helper()
	return testenv.NeedCommand(t, "tcpdump", "tcpdump")
}

var pairSeq atomic.Uint32

// Pair is two network namespaces joined by a veth pair. Index 0 is the
// "left" host, index 1 the "right". A Pair is not safe for concurrent
// configuration; its fields are read-only after NewPair.
type Pair struct {
	NS   [2]string     // namespace names
	Veth [2]string     // interface names inside each namespace
	Addr [2]netip.Addr // the address of each side on the veth
}

// NewPair creates the namespaces, the veth pair and the addresses, and
// registers their removal with t.Cleanup.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, pairSeq.Add(1))
	n := int(pairSeq.Load()%60) * 4
	p := &Pair{
		NS:   [2]string{"swt" + id + "l", "swt" + id + "r"},
		Veth: [2]string{"swl" + id, "swr" + id},
		Addr: [2]netip.Addr{
			netip.AddrFrom4([4]byte{10, 231, byte(os.Getpid() % 250), byte(n + 1)}),
			netip.AddrFrom4([4]byte{10, 231, byte(os.Getpid() % 250), byte(n + 2)}),
		},
	}
	for _, ns := range p.NS {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	run(t, "ip", "link", "add", p.Veth[0], "netns", p.NS[0], "type", "veth", "peer", "name", p.Veth[1], "netns", p.NS[1])
	for i := range 2 {
		run(t, "ip", "-n", p.NS[i], "link", "set", "lo", "up")
		run(t, "ip", "-n", p.NS[i], "addr", "add", p.Addr[i].String()+"/30", "dev", p.Veth[i])
		run(t, "ip", "-n", p.NS[i], "link", "set", p.Veth[i], "up")
	}
	return p
}

// AddAddr adds prefix (for example "10.99.0.1/24") to dev ("lo" or the
// veth) in namespace side, for traffic selectors whose routes need a local
// source address. It is removed with the namespace.
func (p *Pair) AddAddr(t testing.TB, side int, prefix, dev string) {
	t.Helper()
	run(t, "ip", "-n", p.NS[side], "addr", "add", prefix, "dev", dev)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Options configures one charon.
type Options struct {
	// Plugins overrides DefaultPlugins.
	Plugins string
	// Extra is inserted verbatim into the charon { } section of
	// strongswan.conf (for example "fragment_size = 300").
	Extra string
	// LogLevels is the filelog level list, default "default = 1". Level 4
	// for ike logs the IKE keys, which lets a capture be decrypted.
	LogLevels string
}

// Charon is one running charon in a namespace of a Pair. Methods are
// safe to call from the test goroutine only.
type Charon struct {
	NS   string
	Addr netip.Addr
	Dir  string // config, log, vici socket and bind-mounted /run
	Vici string // the vici URI
	PID  int
	cmd  *exec.Cmd
	done chan struct{}
}

// StartCharon starts charon in namespace side (0 or 1) of p and waits
// until its vici socket accepts swanctl. It is stopped by t.Cleanup.
func (p *Pair) StartCharon(t testing.TB, side int, o Options) *Charon {
	t.Helper()
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Charon{NS: p.NS[side], Addr: p.Addr[side], Dir: dir, Vici: "unix://" + filepath.Join(dir, "charon.vici"), done: make(chan struct{})}
	plugins := o.Plugins
	if plugins == "" {
		plugins = DefaultPlugins
	}
	levels := o.LogLevels
	if levels == "" {
		levels = "default = 1"
	}
	conf := fmt.Sprintf(`charon {
	load_modular = no
	load = %s
	port = 500
	port_nat_t = 4500
	retransmit_tries = 3
	retransmit_timeout = 1.0
	retransmit_base = 1.4
	filelog {
		charonlog {
			path = %s
			time_format = %%b %%e %%T
			append = no
			flush_line = yes
			%s
		}
	}
	syslog {
		identifier = charon-swtest
		daemon {
			default = -1
		}
		auth {
			default = -1
		}
	}
	plugins {
		vici {
			socket = %s
		}
	}
	%s
}
`, plugins, filepath.Join(dir, "charon.log"), levels, c.Vici, o.Extra)
	if err := os.WriteFile(c.confPath(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// ip netns exec gives charon its own mount namespace; binding a private
	// directory over /run keeps the compiled-in /run/charon.pid apart from
	// other instances (INTEROP.md).
	cmd := exec.Command("ip", "netns", "exec", c.NS, "sh", "-c",
		"mount --bind "+shellQuote(run)+" /run && exec "+CharonPath)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.confPath())
	stderr := &syncWriter{b: new(bytes.Buffer)}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start charon: %v", err)
	}
	c.cmd, c.PID = cmd, cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "charon.log"))
			t.Logf("charon in %s (pid %d) output:\n%s\nlog tail:\n%s", c.NS, c.PID, stderr.String(), tail(log, 60))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "charon.vici")); err == nil {
			if _, err := c.swanctl(context.Background(), "--stats"); err == nil {
				return c
			}
		}
		select {
		case <-c.done:
			t.Fatalf("charon in %s exited early:\n%s", c.NS, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("charon in %s did not open its vici socket:\n%s", c.NS, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Charon) confPath() string { return filepath.Join(c.Dir, "strongswan.conf") }

// LogPath is charon's log file.
func (c *Charon) LogPath() string { return filepath.Join(c.Dir, "charon.log") }

func (c *Charon) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(c.PID, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(c.PID, syscall.SIGKILL)
		<-c.done
	}
}

// SwanctlDir is the swanctl directory of this charon (SWANCTL_DIR for
// every swanctl call): swanctl.conf, and the credential subdirectories
// x509ca, x509 and private that --load-all reads.
func (c *Charon) SwanctlDir() string { return filepath.Join(c.Dir, "swanctl") }

// AddFile writes a credential (for example AddFile(t, "x509", "me.pem",
// pemBytes)) into a subdirectory of SwanctlDir, for Load to pick up.
func (c *Charon) AddFile(t testing.TB, subdir, name string, data []byte) {
	t.Helper()
	dir := filepath.Join(c.SwanctlDir(), subdir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Load writes swanctl.conf with the given content into SwanctlDir and
// loads it with the credentials added by AddFile (swanctl --load-all).
func (c *Charon) Load(t testing.TB, swanctlConf string) {
	t.Helper()
	if err := os.MkdirAll(c.SwanctlDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.SwanctlDir(), "swanctl.conf")
	if err := os.WriteFile(path, []byte(swanctlConf), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Swanctl(t, "--load-all", "--file", path)
}

// Swanctl runs swanctl against this charon's vici socket, failing the
// test on error. It gives up after 30 seconds.
func (c *Charon) Swanctl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.swanctl(ctx, args...)
	if err != nil {
		t.Fatalf("swanctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// SwanctlErr runs swanctl like Swanctl but returns its error instead of
// failing the test, for commands that are expected to fail (an initiate
// whose CHILD SA charon cannot install, say).
func (c *Charon) SwanctlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.swanctl(ctx, args...)
	return string(out), err
}

func (c *Charon) swanctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, SwanctlPath, append(args, "--uri", c.Vici)...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.confPath(), "SWANCTL_DIR="+c.SwanctlDir())
	return cmd.CombinedOutput()
}

// Capture is a running tcpdump writing a pcap file.
type Capture struct {
	Path string
	cmd  *exec.Cmd
	done chan struct{}
	err  bytes.Buffer
}

// StartCapture runs tcpdump on the veth of side in p, writing packets that
// match filter to path, and waits until it listens. Stop it with Stop
// (t.Cleanup also stops it).
func (p *Pair) StartCapture(t testing.TB, side int, path, filter string) *Capture {
	t.Helper()
	tcpdump := RequireTcpdump(t)
	c := &Capture{Path: path, done: make(chan struct{})}
	c.cmd = exec.Command("ip", "netns", "exec", p.NS[side], tcpdump, "-i", p.Veth[side], "--immediate-mode", "-U", "-n", "-s", "0", "-w", path, filter)
	c.cmd.Stderr = &syncWriter{b: &c.err}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.stderr(), "listening on") {
		select {
		case <-c.done:
			t.Fatalf("tcpdump exited: %s", c.stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", c.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// Stop ends the capture (SIGINT, so tcpdump flushes) and waits for it.
func (c *Capture) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *Capture) stderr() string {
	return c.cmd.Stderr.(*syncWriter).String()
}

func tail(b []byte, lines int) string {
	s := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(s) > lines {
		s = s[len(s)-lines:]
	}
	return strings.Join(s, "\n")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// WaitLog polls charon's log until it contains substr or the timeout
// passes, and reports whether it appeared.
func (c *Charon) WaitLog(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(c.LogPath())
		if bytes.Contains(b, []byte(substr)) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
