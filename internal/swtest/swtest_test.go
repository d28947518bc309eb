package swtest

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestPairLifecycle starts a pair with a charon on each side, checks the
// namespaces, addresses and daemons, and after the subtest's cleanup checks
// that all of it is gone.
func TestPairLifecycle(t *testing.T) {
	Require(t)
	var p *Pair
	var pids []int
	t.Run("up", func(t *testing.T) {
		p = NewPair(t)
		for i := range 2 {
			out, err := exec.Command("ip", "-n", p.NS[i], "-4", "addr", "show", "dev", p.Veth[i]).CombinedOutput()
			if err != nil || !strings.Contains(string(out), p.Addr[i].String()+"/30") {
				t.Fatalf("namespace %s: %v\n%s", p.NS[i], err, out)
			}
			c := p.StartCharon(t, i, Options{})
			if out := c.Swanctl(t, "--stats"); !strings.Contains(out, "uptime") {
				t.Fatalf("swanctl --stats: %s", out)
			}
			pids = append(pids, c.PID)
		}
	})
	if p == nil {
		return
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("charon %d still running after cleanup", pid)
		}
	}
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	for _, ns := range p.NS {
		if strings.Contains(string(out), ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}
