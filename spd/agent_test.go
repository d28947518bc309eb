package spd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	agentMe   = netip.MustParseAddr("192.0.2.10")
	agentPeer = netip.MustParseAddr("198.51.100.20")
)

func fixedAddrs() ([]netip.Addr, error) { return []netip.Addr{agentMe}, nil }

// policyYAML writes a small policy: one rule per (name, action, subnet).
func policyYAML(name string, rules ...[3]string) string {
	s := fmt.Sprintf("name: %s\nfilter_actions:\n  - name: permit\n    action: permit\n  - name: block\n    action: block\n  - name: negotiate\n    action: negotiate\n    security_methods:\n      - esp: {encryption: aes128-gcm16}\nfilter_lists:\n", name)
	for _, r := range rules {
		s += fmt.Sprintf("  - name: %s\n    filters:\n      - source: me\n        destination: %s\n        mirrored: true\n", r[0], r[2])
	}
	s += "rules:\n"
	for _, r := range rules {
		s += fmt.Sprintf("  - filter_list: %s\n    filter_action: %s\n", r[0], r[1])
		if r[1] == "negotiate" {
			s += "    authentication: [kerberos]\n"
		}
	}
	return s
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	// Write a new file and rename it into place, as editors and Group
	// Policy do, so a reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type eventLog struct {
	mu     sync.Mutex
	events []Event
	ch     chan Event
}

func newEventLog() *eventLog { return &eventLog{ch: make(chan Event, 1024)} }

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
	select {
	case l.ch <- e:
	default:
	}
}

// take returns and forgets the events so far, as "kind:rule" strings.
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		s := e.Kind.String()
		if e.Rule != "" {
			s += ":" + e.Rule
		}
		out = append(out, s)
	}
	l.events = nil
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func newTestAgent(t *testing.T, dir string) (*Agent, *SPD, *eventLog) {
	t.Helper()
	var db SPD
	log := newEventLog()
	a, err := NewAgent(&db, AgentConfig{
		LocalFile:  filepath.Join(dir, "local.yaml"),
		DomainFile: filepath.Join(dir, "domain.yaml"),
		LocalAddrs: fixedAddrs,
		OnEvent:    log.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, &db, log
}

func lookupPeer(db *SPD) Match {
	return db.Lookup(Selector{Src: agentMe, Dst: agentPeer, Protocol: ProtocolTCP, DstPort: 80}, DirOutbound)
}

func TestAgentChangeDetection(t *testing.T) {
	dir := t.TempDir()
	a, db, log := newTestAgent(t, dir)
	ctx := context.Background()
	local := filepath.Join(dir, "local.yaml")

	// No files: the empty policy, default permit.
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if m := lookupPeer(db); !m.Default || m.Rule.Action.Action != ActionBypass {
		t.Fatalf("empty policy: %+v", m)
	}
	log.take()

	writeFile(t, local, policyYAML("v1", [3]string{"Peers", "block", "198.51.100.0/24"}, [3]string{"Lab", "permit", "203.0.113.0/24"}))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := log.take(), []string{"applied", "rule added:Peers", "rule added:Lab"}; !sameStrings(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if m := lookupPeer(db); m.Rule.Name != "Peers" || m.Rule.Action.Action != ActionDiscard {
		t.Fatalf("v1: %s", m.Rule.Name)
	}

	// Unchanged files: nothing happens.
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("events without a change: %v", got)
	}

	// Change one rule, remove one, add one.
	writeFile(t, local, policyYAML("v2", [3]string{"Peers", "negotiate", "198.51.100.0/24"}, [3]string{"Admin", "permit", "198.51.100.20"}))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := log.take(), []string{"applied", "rule changed:Peers", "rule added:Admin", "rule removed:Lab"}; !sameStrings(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	// The host filter to .20 is more specific than the /24.
	if m := lookupPeer(db); m.Rule.Name != "Admin" {
		t.Fatalf("v2: %s", m.Rule.Name)
	}

	// A change of the host's addresses recompiles "me".
	var addrs atomic.Value
	addrs.Store([]netip.Addr{agentMe})
	a.cfg.LocalAddrs = func() ([]netip.Addr, error) { return addrs.Load().([]netip.Addr), nil }
	addrs.Store([]netip.Addr{netip.MustParseAddr("192.0.2.99")})
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); !sameStrings(got, []string{"applied"}) {
		t.Errorf("events after an address change %v", got)
	}
	if m := lookupPeer(db); !m.Default {
		t.Errorf("old address still matches %q", m.Rule.Name)
	}

	// Removing the file removes the policy.
	if err := os.Remove(local); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := log.take(), []string{"applied", "rule removed:Peers", "rule removed:Admin"}; !sameStrings(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestAgentDomainOverridesLocal(t *testing.T) {
	dir := t.TempDir()
	a, db, log := newTestAgent(t, dir)
	ctx := context.Background()
	writeFile(t, filepath.Join(dir, "local.yaml"), policyYAML("Local",
		[3]string{"Peers", "permit", "198.51.100.0/24"},
		[3]string{"Admin", "permit", "198.51.100.20"},
		[3]string{"Lab", "permit", "203.0.113.0/24"}))
	writeFile(t, filepath.Join(dir, "domain.yaml"), policyYAML("Domain",
		[3]string{"Peers", "block", "198.51.100.0/24"}))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	p := a.Policy()
	if p.Name != "Domain" || len(p.Rules) != 3 {
		t.Fatalf("merged policy %q with %d rules", p.Name, len(p.Rules))
	}
	want := []struct {
		name   string
		origin Origin
	}{{"Peers", OriginDomain}, {"Admin", OriginLocal}, {"Lab", OriginLocal}}
	for i, w := range want {
		if p.Rules[i].Name != w.name || p.Rules[i].Origin != w.origin {
			t.Errorf("rule %d: %q from %s, want %q from %s", i, p.Rules[i].Name, p.Rules[i].Origin, w.name, w.origin)
		}
	}
	// The local host rule for .20 is more specific, but the domain rule
	// comes first: Group Policy wins.
	if m := lookupPeer(db); m.Rule.Name != "Peers" || m.Rule.Origin != OriginDomain || m.Rule.Action.Action != ActionDiscard {
		t.Errorf("peer: %q from %s, %s", m.Rule.Name, m.Rule.Origin, m.Rule.Action.Action)
	}
	// Where the domain says nothing, local rules apply.
	lab := db.Lookup(Selector{Src: agentMe, Dst: netip.MustParseAddr("203.0.113.5"), Protocol: ProtocolUDP}, DirOutbound)
	if lab.Rule.Name != "Lab" || lab.Rule.Origin != OriginLocal {
		t.Errorf("lab: %q", lab.Rule.Name)
	}
	// Removing the domain policy brings the local rule back.
	log.take()
	if err := os.Remove(filepath.Join(dir, "domain.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := log.take(), []string{"applied", "rule changed:Peers"}; !sameStrings(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if m := lookupPeer(db); m.Rule.Name != "Admin" {
		t.Errorf("without domain: %q", m.Rule.Name)
	}
}

func TestAgentBadPolicyKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	a, db, log := newTestAgent(t, dir)
	ctx := context.Background()
	local := filepath.Join(dir, "local.yaml")
	writeFile(t, local, policyYAML("good", [3]string{"Peers", "block", "198.51.100.0/24"}))
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	good := db.Active()
	log.take()

	// A bad filter action (unknown algorithm) in an otherwise fine file.
	bad := policyYAML("bad", [3]string{"Peers", "permit", "198.51.100.0/24"}, [3]string{"More", "negotiate", "203.0.113.0/24"})
	bad = replaceOnce(bad, "aes128-gcm16", "aes128-gcm17")
	writeFile(t, local, bad)
	err := a.Reload(ctx)
	pe, ok := IsPolicyError(err)
	if !ok || pe.File != local || pe.Line != 10 || pe.Field != "filter_actions[2].security_methods[0].esp.encryption" {
		t.Fatalf("error %v", err)
	}
	if db.Active() != good {
		t.Fatal("a rejected policy replaced the good one")
	}
	if m := lookupPeer(db); m.Rule.Name != "Peers" || m.Rule.Action.Action != ActionDiscard {
		t.Fatalf("after rejection: %q %s", m.Rule.Name, m.Rule.Action.Action)
	}
	events := log.take()
	if !sameStrings(events, []string{"rejected"}) {
		t.Errorf("events %v", events)
	}
	// Checking again reports the same error but no new event.
	if err2 := a.Reload(ctx); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second reload: %v", err2)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("repeated events %v", got)
	}
	// A domain file that cannot be read is rejected the same way.
	if err := os.Mkdir(filepath.Join(dir, "domain.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, local, policyYAML("good2", [3]string{"Peers", "permit", "198.51.100.0/24"}))
	if err := a.Reload(ctx); err == nil {
		t.Fatal("unreadable domain policy accepted")
	}
	if db.Active() != good {
		t.Fatal("policy changed although the domain file is unreadable")
	}
	if err := os.Remove(filepath.Join(dir, "domain.yaml")); err != nil {
		t.Fatal(err)
	}
	// Fixed: applied.
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if m := lookupPeer(db); m.Rule.Action.Action != ActionBypass {
		t.Fatalf("fixed policy not applied: %s", m.Rule.Action.Action)
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// waitEvent waits for an event of kind k. The deadline is generous: it
// guards against a hang, it does not measure speed.
func waitEvent(t *testing.T, log *eventLog, k EventKind) Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-log.ch:
			if e.Kind == k {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event", k)
		}
	}
}

func runAgent(t *testing.T, a *Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
}

// TestAgentWatchesLocalFile: with a polling interval of an hour, a change
// of the local file is applied at once.
func TestAgentWatchesLocalFile(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "local.yaml")
	writeFile(t, local, policyYAML("v1", [3]string{"Peers", "block", "198.51.100.0/24"}))
	var db SPD
	log := newEventLog()
	a, err := NewAgent(&db, AgentConfig{LocalFile: local, PollInterval: time.Hour, LocalAddrs: fixedAddrs, OnEvent: log.add})
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	waitEvent(t, log, EventApplied)
	writeFile(t, local, policyYAML("v2", [3]string{"Peers", "permit", "198.51.100.0/24"}))
	if e := waitEvent(t, log, EventApplied); e.Policy != "v2" {
		t.Fatalf("applied %q", e.Policy)
	}
	if m := lookupPeer(&db); m.Rule.Action.Action != ActionBypass {
		t.Errorf("after the change: %s", m.Rule.Action.Action)
	}
	// In-place rewrite (truncate and write) is seen too.
	if err := os.WriteFile(local, []byte(policyYAML("v3", [3]string{"Peers", "block", "198.51.100.0/24"})), 0o600); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, log, EventApplied); e.Policy != "v3" {
		t.Fatalf("applied %q", e.Policy)
	}
}

// TestAgentPolls: the domain file is not watched; the polling interval
// picks up its change.
func TestAgentPolls(t *testing.T) {
	dir := t.TempDir()
	var db SPD
	log := newEventLog()
	domain := filepath.Join(dir, "domain.yaml")
	a, err := NewAgent(&db, AgentConfig{DomainFile: domain, PollInterval: 20 * time.Millisecond, LocalAddrs: fixedAddrs, OnEvent: log.add})
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	waitEvent(t, log, EventApplied) // the empty policy
	writeFile(t, domain, policyYAML("gpo", [3]string{"Peers", "block", "198.51.100.0/24"}))
	if e := waitEvent(t, log, EventApplied); e.Policy != "gpo" {
		t.Fatalf("applied %q", e.Policy)
	}
	if m := lookupPeer(&db); m.Rule.Origin != OriginDomain {
		t.Errorf("rule from %s", m.Rule.Origin)
	}
}

// TestAgentConcurrentLookups runs lookups on several goroutines while the
// agent reloads two alternating policies (and bad ones). Every answer must
// be exactly what one of the complete policies says; under -race this
// also checks that lookups and swaps do not race.
func TestAgentConcurrentLookups(t *testing.T) {
	dir := t.TempDir()
	a, db, _ := newTestAgent(t, dir)
	ctx := context.Background()
	local := filepath.Join(dir, "local.yaml")
	// Policy A blocks the /24 and permits the host; policy B negotiates
	// the /24 and blocks the host. A half-built classifier would give
	// some other combination.
	policies := []string{
		policyYAML("A", [3]string{"NetA", "block", "198.51.100.0/24"}, [3]string{"HostA", "permit", "198.51.100.20"}),
		policyYAML("B", [3]string{"NetB", "negotiate", "198.51.100.0/24"}, [3]string{"HostB", "block", "198.51.100.20"}),
		"name: broken\nrules: [\n",
	}
	writeFile(t, local, policies[0])
	if err := a.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	host := Selector{Src: agentMe, Dst: agentPeer, Protocol: ProtocolTCP, DstPort: 80}
	netSel := Selector{Src: netip.MustParseAddr("198.51.100.7"), Dst: agentMe, Protocol: ProtocolUDP, SrcPort: 53}
	valid := map[string]bool{"A/HostA/NetA": true, "B/HostB/NetB": true}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var lookups atomic.Int64
	errc := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := db.Active()
				m1, m2 := c.Lookup(host, DirOutbound), c.Lookup(netSel, DirInbound)
				got := c.policy.Name + "/" + m1.Rule.Name + "/" + m2.Rule.Name
				if !valid[got] {
					select {
					case errc <- got:
					default:
					}
					return
				}
				// The SPD's own lookup must give one of the two answers.
				if m := db.Lookup(host, DirOutbound); m.Rule.Name != "HostA" && m.Rule.Name != "HostB" {
					select {
					case errc <- "SPD.Lookup: " + m.Rule.Name:
					default:
					}
					return
				}
				lookups.Add(1)
			}
		}()
	}
	for i := 0; i < 60; i++ {
		writeFile(t, local, policies[i%3])
		_ = a.Reload(ctx) // the broken one is rejected
	}
	close(stop)
	wg.Wait()
	select {
	case got := <-errc:
		t.Fatalf("inconsistent lookup: %s", got)
	default:
	}
	if lookups.Load() == 0 {
		t.Fatal("no lookups ran")
	}
}

// TestStatWatcher checks the polling fallback used where inotify is not
// available.
func TestStatWatcher(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	writeFile(t, path, "a")
	w := newStatWatcher(path)
	defer w.Close()
	writeFile(t, path, "bb")
	select {
	case <-w.Events():
	case <-time.After(30 * time.Second):
		t.Fatal("no change signalled")
	}
}
