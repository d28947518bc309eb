package spd

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// EventKind says what an agent event reports. It is a plain value, safe
// for concurrent use.
type EventKind uint8

// Event kinds.
const (
	// EventApplied: a new policy is in force (Policy names it).
	EventApplied EventKind = iota + 1
	// EventRejected: a new policy was bad or unreadable; Err says why and
	// the last good policy stays in force.
	EventRejected
	// EventRuleAdded, EventRuleRemoved and EventRuleChanged describe what
	// an applied policy changed, one event per rule (Rule names it; the
	// default rule is "<default>", the default response rule "<default
	// response>").
	EventRuleAdded
	EventRuleRemoved
	EventRuleChanged
)

var eventNames = [...]string{"", "applied", "rejected", "rule added", "rule removed", "rule changed"}

// String returns a short name of the kind.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one report of the Policy Agent. It is a value, safe for
// concurrent reads.
type Event struct {
	Kind   EventKind
	Time   time.Time
	Policy string // name of the merged policy (EventApplied)
	Rule   string // rule events
	Origin Origin // rule events: where the rule comes from
	Err    error  // EventRejected
}

// String describes the event in one line.
func (e Event) String() string {
	switch e.Kind {
	case EventApplied:
		return fmt.Sprintf("policy %q applied", e.Policy)
	case EventRejected:
		return fmt.Sprintf("policy rejected, last good policy kept: %v", e.Err)
	}
	if strings.HasPrefix(e.Rule, "<") { // the default and default response rules
		return fmt.Sprintf("%s: %s", e.Kind, e.Rule)
	}
	return fmt.Sprintf("%s: %q (%s)", e.Kind, e.Rule, e.Origin)
}

// DefaultPollingInterval is how often an agent checks for policy changes
// when neither its configuration nor the policy says: Windows' default of
// 180 minutes.
const DefaultPollingInterval = 180 * time.Minute

// AgentConfig configures an Agent. NewAgent copies it; it is not read
// concurrently.
type AgentConfig struct {
	// LocalFile and DomainFile are policy files; either may be empty, and
	// a file that does not exist counts as no policy. The domain policy
	// overrides the local one (Merge).
	LocalFile, DomainFile string
	// PollInterval is how often both files (and the host's addresses)
	// are checked. Zero uses the policy's polling_interval, else
	// DefaultPollingInterval.
	PollInterval time.Duration
	// LocalAddrs returns the host's addresses for "my IP address". Nil
	// reads the addresses of the host's interfaces.
	LocalAddrs func() ([]netip.Addr, error)
	// OnEvent, if set, receives every event, in order, from the goroutine
	// that caused it (Run's, or Reload's caller), after the agent's lock
	// is released; it must not block for long.
	OnEvent func(Event)
	// Logger receives the same events as log records; nil discards.
	Logger *slog.Logger
}

// Agent is the Policy Agent: it loads the local and domain policy, merges
// and compiles them, and installs the result in an SPD; Run keeps doing so
// as the files change. It is safe for concurrent use.
type Agent struct {
	cfg AgentConfig
	db  *SPD
	log *slog.Logger

	mu       sync.Mutex // serializes reloads
	applied  [32]byte   // fingerprint of the inputs of the policy in force
	tried    [32]byte   // fingerprint of the last inputs tried
	hasState bool
	lastErr  error   // why the inputs in tried were rejected
	current  *Policy // merged policy in force
}

// NewAgent returns an agent that installs policies in db.
func NewAgent(db *SPD, cfg AgentConfig) (*Agent, error) {
	if db == nil {
		return nil, errors.New("spd: NewAgent needs an SPD")
	}
	if cfg.PollInterval < 0 {
		return nil, errors.New("spd: negative poll interval")
	}
	if cfg.LocalAddrs == nil {
		cfg.LocalAddrs = HostAddrs
	}
	a := &Agent{cfg: cfg, db: db, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return a, nil
}

// HostAddrs returns the unicast addresses of the host's interfaces, the
// default resolution of "my IP address".
func HostAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok {
				x = x.Unmap()
				if !x.IsMulticast() && !x.IsUnspecified() {
					out = append(out, x.WithZone(""))
				}
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

func (a *Agent) emit(e Event) {
	e.Time = time.Now()
	level := slog.LevelInfo
	if e.Kind == EventRejected {
		level = slog.LevelError
	}
	a.log.Log(context.Background(), level, "spd: "+e.String())
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(e)
	}
}

// readPolicyFile returns the file's bytes, or nil if it does not exist.
func readPolicyFile(name string) ([]byte, bool, error) {
	if name == "" {
		return nil, false, nil
	}
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyFileSize+1))
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// Reload checks the policy files and the host's addresses once and, if
// anything changed, installs the new merged policy. It returns nil when
// the policy in force is up to date, and the reason when a new policy was
// rejected (the last good one then stays in force). ctx bounds the wait
// for a concurrent reload.
func (a *Agent) Reload(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	events, err := a.reloadLocked()
	a.mu.Unlock()
	// Events go out after the lock is released, so OnEvent may call the
	// agent.
	for _, e := range events {
		a.emit(e)
	}
	return err
}

func (a *Agent) reloadLocked() ([]Event, error) {
	local, haveLocal, lerr := readPolicyFile(a.cfg.LocalFile)
	domain, haveDomain, derr := readPolicyFile(a.cfg.DomainFile)
	addrs, aerr := a.cfg.LocalAddrs()
	h := sha256.New()
	for _, part := range [][]byte{local, {0}, domain, {0}} {
		h.Write(part)
	}
	fmt.Fprint(h, haveLocal, haveDomain, addrs, lerr, derr, aerr)
	var fp [32]byte
	h.Sum(fp[:0])
	if a.hasState && fp == a.applied {
		a.tried, a.lastErr = fp, nil
		return nil, nil
	}
	if a.hasState && fp == a.tried {
		return nil, a.lastErr // rejected before, and reported then
	}
	a.tried, a.hasState = fp, true

	reject := func(err error) ([]Event, error) {
		a.lastErr = err
		return []Event{{Kind: EventRejected, Err: err}}, err
	}
	switch {
	case lerr != nil:
		return reject(fmt.Errorf("spd: local policy: %w", lerr))
	case derr != nil:
		return reject(fmt.Errorf("spd: domain policy: %w", derr))
	case aerr != nil:
		return reject(fmt.Errorf("spd: resolving my IP address: %w", aerr))
	}
	var lp, dp *Policy
	var err error
	if haveLocal {
		if lp, err = ParsePolicy(a.cfg.LocalFile, local); err != nil {
			return reject(err)
		}
	}
	if haveDomain {
		if dp, err = ParsePolicy(a.cfg.DomainFile, domain); err != nil {
			return reject(err)
		}
	}
	merged := Merge(dp, lp)
	c, err := Compile(merged, CompileOptions{LocalAddrs: addrs})
	if err != nil {
		return reject(err)
	}
	old := a.current
	a.db.Swap(c)
	a.current, a.applied, a.lastErr = merged, fp, nil
	return append([]Event{{Kind: EventApplied, Policy: merged.Name}}, diffPolicies(old, merged)...), nil
}

// diffPolicies reports rule changes between two merged policies, by rule
// name.
func diffPolicies(old, cur *Policy) []Event {
	var out []Event
	if old == nil {
		old = &Policy{}
	}
	oldRules := make(map[string]*Rule, len(old.Rules))
	for i := range old.Rules {
		oldRules[old.Rules[i].Name] = &old.Rules[i]
	}
	seen := make(map[string]bool, len(cur.Rules))
	for i := range cur.Rules {
		r := &cur.Rules[i]
		seen[r.Name] = true
		o, ok := oldRules[r.Name]
		switch {
		case !ok:
			out = append(out, Event{Kind: EventRuleAdded, Rule: r.Name, Origin: r.Origin})
		case !reflect.DeepEqual(o, r):
			out = append(out, Event{Kind: EventRuleChanged, Rule: r.Name, Origin: r.Origin})
		}
	}
	for i := range old.Rules {
		if r := &old.Rules[i]; !seen[r.Name] {
			out = append(out, Event{Kind: EventRuleRemoved, Rule: r.Name, Origin: r.Origin})
		}
	}
	if !reflect.DeepEqual(old.Default, cur.Default) {
		out = append(out, Event{Kind: EventRuleChanged, Rule: "<default>"})
	}
	if !reflect.DeepEqual(old.DefaultResponse, cur.DefaultResponse) {
		out = append(out, Event{Kind: EventRuleChanged, Rule: "<default response>"})
	}
	return out
}

// Policy returns a copy of the merged policy in force, or nil before the
// first successful load.
func (a *Agent) Policy() *Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current == nil {
		return nil
	}
	return a.current.Clone()
}

func (a *Agent) interval() time.Duration {
	if a.cfg.PollInterval > 0 {
		return a.cfg.PollInterval
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current != nil && a.current.PollingInterval > 0 {
		return a.current.PollingInterval
	}
	return DefaultPollingInterval
}

// Run loads the policy, then checks for changes every polling interval
// and at once when the local policy file changes, until ctx is done. It
// returns ctx's error. Rejected policies are reported as events, not
// returned.
func (a *Agent) Run(ctx context.Context) error {
	var changed <-chan struct{}
	if a.cfg.LocalFile != "" {
		w, err := watchFile(a.cfg.LocalFile)
		if err != nil {
			a.log.Warn("spd: cannot watch the local policy file; relying on polling", "file", a.cfg.LocalFile, "err", err)
		} else {
			defer w.Close()
			changed = w.Events()
		}
	}
	_ = a.Reload(ctx)
	t := time.NewTimer(a.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			_ = a.Reload(ctx)
		case <-t.C:
			_ = a.Reload(ctx)
			t.Reset(a.interval())
		}
	}
}
