package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// charonPath is where Debian installs charon.
const charonPath = "/usr/lib/ipsec/charon"

// charonAvailable says why charon cannot be measured here, or "".
func charonAvailable() string {
	if os.Geteuid() != 0 {
		return "needs root (a network namespace for charon)"
	}
	for _, c := range []string{charonPath, "swanctl", "ip", "sh", "mount"} {
		if _, err := exec.LookPath(c); err != nil {
			return c + " not found (Debian packages strongswan-charon, strongswan-swanctl, iproute2)"
		}
	}
	return ""
}

// measureCharon runs the phases against charon: it makes a network
// namespace with loopback up, and runs this program inside it (role
// "charon"), which starts charon there, loads its configuration and
// measures; the namespace is deleted afterwards, also on failure. Charon
// routes nothing here (install_routes = no), and the namespace has no
// route out.
func measureCharon(ctx context.Context, o options, w io.Writer) (result, error) {
	if why := charonAvailable(); why != "" {
		return result{}, errors.New(why)
	}
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	ns := fmt.Sprintf("ikeload%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run() //nolint:errcheck // best effort
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("loopback up: %v: %s", err, out)
	}
	opts, _ := json.Marshal(innerOptions{Sources: o.sources, Window: o.window, Measure: o.measure, Live: o.charonOn})
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), roleEnv+"=charon", "IKELOAD_OPTIONS="+string(opts))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var res result
	var resErr error
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if j, ok := strings.CutPrefix(line, "result "); ok {
			resErr = json.Unmarshal([]byte(j), &res)
			continue
		}
		fmt.Fprintln(w, line)
	}
	if err := cmd.Wait(); err != nil {
		return result{}, fmt.Errorf("in namespace %s: %w", ns, err)
	}
	if resErr == nil && res.Responder == "" {
		resErr = errors.New("no result from the namespace")
	}
	return res, resErr
}

// innerOptions are the options handed to the process in the namespace.
type innerOptions struct {
	Sources, Window int
	Measure         time.Duration
	Live            []int
}

// runCharonInner runs inside the namespace: it starts charon, measures,
// stops charon, and prints the result as a line "result <json>".
func runCharonInner(w io.Writer) error {
	var in innerOptions
	if err := json.Unmarshal([]byte(os.Getenv("IKELOAD_OPTIONS")), &in); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ikeload-charon")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := startCharon(dir)
	if err != nil {
		return err
	}
	defer c.stop()
	lo := netip.MustParseAddr("127.0.0.1")
	tgt := target{ike: netip.AddrPortFrom(lo, 500), natt: netip.AddrPortFrom(lo, 4500), stats: c.stats}
	o := options{sources: in.Sources, window: in.Window, measure: in.Measure}
	res := result{Responder: "charon" + charonVersion()}
	err = runPhases(context.Background(), o, tgt, in.Live, &res, w, func() (float64, int64, error) {
		rss, err := c.rss()
		if err != nil {
			return 0, 0, err
		}
		_, sas, err := c.stats()
		return rss, sas, err
	})
	if err != nil {
		return fmt.Errorf("%w (charon log: %s)", err, c.logTail())
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(w, "result %s\n", b)
	return nil
}

// charon is a running charon.
type charon struct {
	dir  string
	cmd  *exec.Cmd
	pid  int
	vici string
	done chan struct{}
}

// startCharon writes charon's configuration into dir, starts it with /run
// bound to a directory of its own (its pid file path is compiled in), waits
// for its vici socket and loads the connection with swanctl.
func startCharon(dir string) (*charon, error) {
	run := filepath.Join(dir, "run")
	swan := filepath.Join(dir, "swanctl")
	for _, d := range []string{run, swan, filepath.Join(swan, "conf.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	c := &charon{dir: dir, vici: "unix://" + filepath.Join(dir, "charon.vici"), done: make(chan struct{})}
	// Plugins as INTEROP.md says; thresholds raised so that a benchmark
	// from few addresses is not answered with cookies or blocked; IKE SA
	// table sized for many SAs (strongSwan's advice for large setups); log
	// quiet, as ours.
	conf := fmt.Sprintf(`charon {
	load_modular = no
	load = random nonce openssl aes sha1 sha2 hmac gcm curve25519 kdf kernel-libipsec kernel-netlink socket-default vici
	port = 500
	port_nat_t = 4500
	install_routes = no
	install_virtual_ip = no
	cookie_threshold = 1000000
	cookie_threshold_ip = 1000000
	block_threshold = 1000000
	init_limit_half_open = 0
	ikesa_table_size = 4096
	ikesa_table_segments = 16
	filelog {
		charonlog {
			path = %s
			default = 0
			flush_line = yes
		}
	}
	syslog {
		identifier = charon-ikeload
		daemon {
			default = -1
		}
	}
	plugins {
		vici {
			socket = %s
		}
	}
}
`, filepath.Join(dir, "charon.log"), c.vici)
	if err := os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	swanctl := fmt.Sprintf(`connections {
	load {
		version = 2
		local_addrs = 127.0.0.1
		proposals = %s
		unique = never
		rekey_time = 0
		dpd_delay = 0
		local {
			auth = psk
			id = %s
		}
		remote {
			auth = psk
		}
		children {
			load {
				local_ts = %s
				remote_ts = %s
				esp_proposals = %s
				mode = tunnel
				rekey_time = 0
			}
		}
	}
}
secrets {
	ike-load {
		secret = "%s"
	}
}
`, ikeProposal, responderID, netR, netI, childProposal, secret)
	if err := os.WriteFile(filepath.Join(swan, "swanctl.conf"), []byte(swanctl), 0o600); err != nil {
		return nil, err
	}
	// The namespace's mount namespace is private (ip netns exec), so the
	// bind mount stays in it.
	cmd := exec.Command("sh", "-c", "mount --bind '"+run+"' /run && exec "+charonPath)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(dir, "strongswan.conf"))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.cmd, c.pid = cmd, cmd.Process.Pid
	go func() { cmd.Wait(); close(c.done) }() //nolint:errcheck // exit status is not interesting
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := c.swanctl("--stats"); err == nil {
			break
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("charon exited early: %s", c.logTail())
		default:
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("charon did not open its vici socket: %s", c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := c.swanctl("--load-all", "--file", filepath.Join(swan, "swanctl.conf")); err != nil {
		c.stop()
		return nil, fmt.Errorf("swanctl --load-all: %v: %s", err, out)
	}
	return c, nil
}

func (c *charon) swanctl(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swanctl", append(args, "--uri", c.vici)...)
	cmd.Env = append(os.Environ(), "SWANCTL_DIR="+filepath.Join(c.dir, "swanctl"))
	return cmd.CombinedOutput()
}

// stop stops charon (SIGTERM, then SIGKILL), by its PID.
func (c *charon) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

var ikeSAsRe = regexp.MustCompile(`IKE_SAs: (\d+) total`)

// stats returns charon's CPU seconds (from /proc) and its IKE SAs (from
// swanctl --stats).
func (c *charon) stats() (float64, int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name in parentheses; utime and stime are
	// the 14th and 15th fields, in clock ticks (100 per second on Linux).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	out, err := c.swanctl("--stats")
	if err != nil {
		return 0, 0, fmt.Errorf("swanctl --stats: %v: %s", err, out)
	}
	m := ikeSAsRe.FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("swanctl --stats: no IKE SA count in %q", out)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return (ut + st) / 100, n, nil
}

// rss returns charon's resident memory in bytes.
func (c *charon) rss() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func (c *charon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "charon.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// charonVersion returns " 5.9.8" or "".
func charonVersion() string {
	out, err := exec.Command(charonPath, "--version").CombinedOutput()
	f := strings.Fields(string(out))
	if err != nil || len(f) == 0 {
		return ""
	}
	return " " + f[len(f)-1]
}
