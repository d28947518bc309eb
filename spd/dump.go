package spd

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Dump writes the compiled policy in the spirit of Windows' "netsh ipsec
// static show all": the policy, then every rule with its filter list,
// filter action and authentication methods, then the default response
// rule. Pre-shared keys are never shown.
func (c *Classifier) Dump(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := &c.policy
	yesNo := func(b bool) string {
		if b {
			return "YES"
		}
		return "NO"
	}
	field := func(indent int, name, format string, args ...any) {
		fmt.Fprintf(bw, "%s%-*s: %s\n", strings.Repeat(" ", indent), 24-indent, name, fmt.Sprintf(format, args...))
	}
	field(0, "Policy Name", "%s", p.Name)
	if p.Description != "" {
		field(0, "Description", "%s", p.Description)
	}
	if p.PollingInterval > 0 {
		field(0, "Polling Interval", "%d minutes", int64(p.PollingInterval/time.Minute))
	}
	field(0, "Default Action", "%s", c.def.Action.Action)
	me := "(none)"
	if len(c.local) > 0 {
		s := make([]string, len(c.local))
		for i, a := range c.local {
			s[i] = a.String()
		}
		me = strings.Join(s, ", ")
	}
	field(0, "My IP Address", "%s", me)
	enabled := 0
	for i := range p.Rules {
		if !p.Rules[i].Disabled {
			enabled++
		}
	}
	field(0, "Rules", "%d (%d enabled), %d compiled filters", len(p.Rules), enabled, len(c.entries))
	dumpKeyExchange(field, &p.KeyExchange)

	for i := range p.Rules {
		r := &p.Rules[i]
		fmt.Fprintf(bw, "\nRule ID : %d\n%s\n", i+1, strings.Repeat("-", 72))
		dumpRule(bw, field, yesNo, r)
	}
	if dr := p.DefaultResponse; dr != nil {
		fmt.Fprintf(bw, "\nDefault Response Rule\n%s\n", strings.Repeat("-", 72))
		dumpRule(bw, field, yesNo, dr)
	} else {
		fmt.Fprintf(bw, "\nDefault Response Rule   : NO\n")
	}
	return bw.Flush()
}

func dumpRule(bw *bufio.Writer, field func(int, string, string, ...any), yesNo func(bool) string, r *Rule) {
	field(0, "Rule Name", "%s", r.Name)
	if r.ID != "" {
		field(0, "Rule Identity", "%s", r.ID)
	}
	field(0, "Source", "%s policy", r.Origin)
	field(0, "Activated", "%s", yesNo(!r.Disabled))
	if r.Priority != 0 {
		field(0, "Priority", "%d", r.Priority)
	} else {
		field(0, "Priority", "none (most specific filter first)")
	}
	if r.TunnelMode() {
		field(0, "Tunnel Endpoint", "%s (tunnel mode)", r.Tunnel)
		if r.TunnelLocal.IsValid() {
			field(0, "Local Tunnel Endpoint", "%s", r.TunnelLocal)
		}
	} else {
		field(0, "Tunnel Endpoint", "NONE (transport mode)")
	}
	auth := make([]string, len(r.Auth))
	for i, a := range r.Auth {
		auth[i] = a.String()
	}
	if len(auth) == 0 {
		auth = []string{"NONE"}
	}
	field(0, "Auth Methods", "%s", strings.Join(auth, "; "))
	if !r.LocalID.IsZero() {
		field(0, "Local Identity", "%s", r.LocalID)
	}
	if !r.RemoteID.IsZero() {
		field(0, "Remote Identity", "%s", r.RemoteID)
	}
	if r.KeyExchange != nil {
		dumpKeyExchange(field, r.KeyExchange)
	}

	fmt.Fprintf(bw, "\nFilterList\n")
	if r.Filters.Name == "" && len(r.Filters.Filters) == 0 {
		field(2, "FilterList Name", "<Dynamic>")
	} else {
		field(2, "FilterList Name", "%s", r.Filters.Name)
		if r.Filters.Description != "" {
			field(2, "Description", "%s", r.Filters.Description)
		}
		field(2, "Filters", "%d", len(r.Filters.Filters))
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  Mirrored\tDirection\tSource\tDestination\tProtocol\tSrcPort\tDstPort\tICMP\tDescription")
		for _, f := range r.Filters.Filters {
			sp, dp, icmp := "-", "-", "-"
			if f.Protocol.HasPorts() || f.Protocol == ProtocolAny {
				sp, dp = strings.ToUpper(f.SourcePort.String()), strings.ToUpper(f.DestinationPort.String())
			}
			if f.Protocol.IsICMP() {
				icmp = strings.ToUpper(f.ICMP.String())
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", yesNo(f.Mirrored), strings.ToUpper(Direction(f.Direction.mask()).String()),
				strings.ToUpper(f.Source.String()), strings.ToUpper(f.Destination.String()), f.Protocol, sp, dp, icmp, f.Description)
		}
		tw.Flush()
	}

	a := &r.Action
	fmt.Fprintf(bw, "\nFilterAction\n")
	field(2, "FilterAction Name", "%s", a.Name)
	if a.Description != "" {
		field(2, "Description", "%s", a.Description)
	}
	field(2, "Action", "%s", a.Action)
	if a.Action == ActionProtect {
		field(2, "AcceptUnsecure", "%s", yesNo(a.AcceptUnsecured))
		field(2, "Soft (fall back)", "%s", yesNo(a.FallbackToClear))
		if a.PFS && a.PFSGroup != GroupNone {
			field(2, "QMPFS", "YES (%s)", a.PFSGroup)
		} else {
			field(2, "QMPFS", "%s", yesNo(a.PFS))
		}
		fmt.Fprintf(bw, "  Security Methods\n")
		for _, m := range a.Methods {
			fmt.Fprintf(bw, "    %s\n", m)
		}
	}
}

// dumpKeyExchange writes key exchange settings that differ from the zero
// value (the caller's defaults).
func dumpKeyExchange(field func(int, string, string, ...any), k *KeyExchange) {
	if len(k.Versions) > 0 {
		v := make([]string, len(k.Versions))
		for i, x := range k.Versions {
			v[i] = strings.ToUpper(x.String())
		}
		field(0, "IKE Versions", "%s", strings.Join(v, ", "))
	}
	if k.Lifetime > 0 || k.Sessions > 0 {
		field(0, "MM Lifetime", "%d secs/%d sessions", int64(k.Lifetime/time.Second), k.Sessions)
	}
	if k.MasterKeyPFS {
		field(0, "MMPFS", "YES")
	}
	for i, m := range k.Methods {
		field(0, fmt.Sprintf("MM Method %d", i+1), "%s", m)
	}
}
