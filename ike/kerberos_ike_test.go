package ike_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/ipsecgo/ipsec/internal/testenv"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/internal/krbtest"
	"github.com/ipsecgo/ipsec/isakmp"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Kerberos inside IKEv1 Main Mode (draft-ietf-ipsec-isakmp-gss-auth-07)
// between two of our sessions, each with its computer account's keytab
// from a real MIT KDC (internal/krbtest), as two Windows domain members
// authenticate each other. Without krb5-kdc the tests skip, or fail
// under IPSEC_REQUIRE_INTEROP=1.

const (
	krbA     = "host/a.ipsec.test"
	krbB     = "host/b.ipsec.test"
	krbC     = "host/c.ipsec.test"
	krbShort = "host/short.ipsec.test"
)

var (
	krbAddrA = netip.MustParseAddrPort("192.0.2.1:500")
	krbAddrB = netip.MustParseAddrPort("192.0.2.2:500")
)

func startKrbRealm(t *testing.T) *krbtest.KDC {
	t.Helper()
	return krbtest.Start(t,
		krbtest.Principal{Name: krbA, Keytab: "a.keytab"},
		krbtest.Principal{Name: krbB, Keytab: "b-stale.keytab"},
		krbtest.Principal{Name: krbC, Keytab: "c.keytab"},
		krbtest.Principal{Name: krbShort, Keytab: "short.keytab", MaxLife: 2 * time.Minute},
	)
}

// krbHost loads a host's credentials from the KDC's files.
func krbHost(t *testing.T, k *krbtest.KDC, principal, keytab, rcache string) *auth.KerberosHost {
	t.Helper()
	return krbHostWith(t, k, auth.KerberosHostConfig{Keytab: k.Path(keytab), Principal: principal, ReplayCacheFile: rcache})
}

func krbHostWith(t *testing.T, k *krbtest.KDC, c auth.KerberosHostConfig) *auth.KerberosHost {
	t.Helper()
	c.Krb5Conf = k.WriteKrb5Conf(t)
	h, err := auth.LoadKerberosHost(c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// krbConfig is an IKEv1 Config that authenticates with Kerberos only.
func krbConfig(t *testing.T, host *auth.KerberosHost, peer, local, remote, lnet, rnet string) *ike.Config {
	t.Helper()
	c := v1Config(t, local, remote, lnet, rnet, "aes256-sha256-modp2048", "aes256gcm16,aes128-sha256")
	c.Auth, c.PeerAuth = nil, nil
	c.Kerberos = &ike.KerberosAuth{Host: host, PeerPrincipal: peer}
	return c
}

// krbRun drives an initiator and a responder to quiescence, each with its
// own clock, through a wire that may change a datagram on its way. As at a
// responder's endpoint, a Main Mode with new cookies (a phase 1 rekey)
// gets a new responder session; rs is the newest.
type krbRun struct {
	is, rs   *ike.SessionV1
	byCky    map[[8]byte]*ike.SessionV1 // responder sessions by initiator cookie
	evI, evR []ike.Event
	wire     [][]byte // every datagram, in order
	rcfg     *ike.Config
	nowI     time.Time
	nowR     time.Time
	acceptE  error
	tamper   func(fromInitiator bool, b []byte) []byte
}

func newKrbRun(t *testing.T, icfg, rcfg *ike.Config, nowI, nowR time.Time) *krbRun {
	t.Helper()
	r := &krbRun{rcfg: rcfg, nowI: nowI, nowR: nowR, byCky: map[[8]byte]*ike.SessionV1{}}
	var err error
	if r.is, err = ike.NewInitiatorV1(icfg, krbAddrA, krbAddrB, nowI, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *krbRun) run(t *testing.T) *krbRun {
	t.Helper()
	for range 40 {
		moved := false
		for _, d := range r.is.Datagrams() {
			moved = true
			d = r.pass(true, d)
			cky := [8]byte(d[:8])
			if rs := r.byCky[cky]; rs != nil {
				rs.Receive(r.nowR, d)
				continue
			}
			s, err := ike.AcceptV1(r.rcfg, krbAddrB, krbAddrA, r.nowR, d)
			if err != nil {
				r.acceptE = err
				continue
			}
			r.rs, r.byCky[cky] = s, s
		}
		r.evI = append(r.evI, r.is.Events()...)
		for _, rs := range r.byCky {
			for _, d := range rs.Datagrams() {
				moved = true
				r.is.Receive(r.nowI, r.pass(false, d))
			}
			r.evR = append(r.evR, rs.Events()...)
		}
		r.evI = append(r.evI, r.is.Events()...)
		if !moved {
			return r
		}
	}
	t.Fatal("no quiescence")
	return r
}

func (r *krbRun) pass(fromI bool, d []byte) []byte {
	d = bytes.Clone(d)
	if r.tamper != nil {
		d = r.tamper(fromI, d)
	}
	r.wire = append(r.wire, bytes.Clone(d))
	return d
}

func eventOf(ev []ike.Event, k ike.EventKind) *ike.Event {
	for i := range ev {
		if ev[i].Kind == k {
			return &ev[i]
		}
	}
	return nil
}

// gssTokens returns the GSS token payloads (type 129) of the unencrypted
// Main Mode messages on the wire, in order.
func gssTokens(t *testing.T, wire [][]byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, d := range wire {
		var m isakmp.Message
		if err := m.Decode(d); err != nil || m.Header.Flags&isakmp.FlagEncryption != 0 {
			continue
		}
		for _, p := range m.Payloads {
			if g, ok := p.(*isakmp.V1GSS); ok {
				out = append(out, bytes.Clone(g.Token))
			}
		}
	}
	return out
}

// TestKerberosIKEMainMode: host a and host b authenticate each other with
// Kerberos in Main Mode (AP-REQ in MM3, AP-REP in MM4, MICs over HASH_I
// and HASH_R in MM5/MM6), complete Quick Mode, and their CHILD SA carries
// ESP both ways. A phase 1 rekey re-authenticates with a new AP-REQ.
func TestKerberosIKEMainMode(t *testing.T) {
	k := startKrbRealm(t)
	k.AddKeytab(t, "b.keytab", krbB)
	// a gets a new ticket for every Main Mode (FreshTickets), as the
	// phase 1 rekey below checks in the KDC's log.
	a := krbHostWith(t, k, auth.KerberosHostConfig{Keytab: k.Path("a.keytab"), Principal: krbA, FreshTickets: true})
	b := krbHost(t, k, krbB, "b.keytab", "")
	icfg := krbConfig(t, a, krbB, "a.ipsec.test", "b.ipsec.test", "10.1.0.0/16", "10.2.0.0/16")
	rcfg := krbConfig(t, b, krbA, "b.ipsec.test", "a.ipsec.test", "10.2.0.0/16", "10.1.0.0/16")
	now := time.Now()
	r := newKrbRun(t, icfg, rcfg, now, now).run(t)
	tickets := issuedTickets(t, k, krbA, krbB)
	if !r.is.Established() || r.rs == nil || !r.rs.Established() {
		t.Fatalf("not established: %v / %v (%v)", r.evI, r.evR, r.acceptE)
	}
	ci, cr := childOf(r.evI), childOf(r.evR)
	if ci == nil || cr == nil {
		t.Fatalf("no CHILD SA: %v / %v", r.evI, r.evR)
	}
	sealOpen(t, ci, cr)
	sealOpen(t, cr, ci)

	toks := gssTokens(t, r.wire)
	if len(toks) != 2 || toks[0][0] != 0x60 {
		t.Fatalf("want an AP-REQ in MM3 and an AP-REP in MM4, got %d GSS payloads", len(toks))
	}
	for _, d := range r.wire[:2] {
		if !bytes.Contains(d, []byte(b.Principal)) && !bytes.Contains(d, []byte(a.Principal)) {
			t.Fatal("MM1/MM2 do not name the GSS identities")
		}
	}

	// Phase 1 rekey from the initiator: a new Main Mode, a new AP-REQ.
	if err := r.is.RekeyIKE(now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	r.nowI, r.nowR = now.Add(time.Second), now.Add(time.Second)
	before := len(r.wire)
	r.run(t)
	if !r.is.Established() || !r.rs.Established() || eventOf(r.evI, ike.EventAuthFailed) != nil ||
		eventOf(r.evI, ike.EventIKERekeyed) == nil {
		t.Fatalf("after rekey: %v / %v", r.evI, r.evR)
	}
	again := gssTokens(t, r.wire[before:])
	if len(again) != 2 || bytes.Equal(again[0], toks[0]) {
		t.Fatalf("the rekey did not re-authenticate with a new AP-REQ (%d GSS payloads)", len(again))
	}
	if n := issuedTickets(t, k, krbA, krbB); tickets != 1 || n != 2 {
		t.Fatalf("the KDC issued %d tickets for the first Main Mode and %d in all; want 1, then a fresh one for the rekey", tickets, n)
	}
}

// issuedTickets counts the service tickets the KDC's log says it issued
// to client for service (MIT krb5kdc: "TGS_REQ ... ISSUE: ... client for
// service").
func issuedTickets(t *testing.T, k *krbtest.KDC, client, service string) int {
	t.Helper()
	b, err := os.ReadFile(k.Path("kdc.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := client + "@" + krbtest.Realm + " for " + service + "@" + krbtest.Realm
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "TGS_REQ") && strings.Contains(l, "ISSUE") && strings.Contains(l, want) {
			n++
		}
	}
	return n
}

// krbFails runs one exchange that must fail authentication, and checks
// that no SA is left: no IKE SA or CHILD SA event, neither side
// established.
func krbFails(t *testing.T, r *krbRun, want string) {
	t.Helper()
	r.run(t)
	for _, ev := range [][]ike.Event{r.evI, r.evR} {
		if eventOf(ev, ike.EventIKEUp) != nil || eventOf(ev, ike.EventChildUp) != nil {
			t.Fatalf("an SA came up: %v / %v", r.evI, r.evR)
		}
	}
	if r.is.Established() || r.rs != nil && r.rs.Established() {
		t.Fatal("a side is established")
	}
	var msgs []string
	for _, ev := range append(append([]ike.Event(nil), r.evI...), r.evR...) {
		if ev.Kind == ike.EventAuthFailed && ev.Err != nil {
			msgs = append(msgs, ev.Err.Error())
			if !errors.Is(ev.Err, ike.ErrAuthenticationFailed) {
				t.Errorf("auth-failed error does not wrap ErrAuthenticationFailed: %v", ev.Err)
			}
		}
	}
	if !strings.Contains(strings.Join(msgs, "\n"), want) {
		t.Fatalf("want an authentication failure with %q, got %q", want, msgs)
	}
	t.Logf("refused: %s", strings.Join(msgs, " | "))
}

// TestKerberosIKERefusals: each way Kerberos authentication can fail ends
// the Main Mode with a clear reason and no SA.
func TestKerberosIKERefusals(t *testing.T) {
	k := startKrbRealm(t)
	k.AddKeytab(t, "b.keytab", krbB) // b-stale.keytab now holds an old kvno
	a := krbHost(t, k, krbA, "a.keytab", "")
	b := krbHost(t, k, krbB, "b.keytab", "")
	now := time.Now()
	cfgs := func(ah, bh *auth.KerberosHost, peerOfA, peerOfB string) (*ike.Config, *ike.Config) {
		return krbConfig(t, ah, peerOfA, "a.ipsec.test", "b.ipsec.test", "10.1.0.0/16", "10.2.0.0/16"),
			krbConfig(t, bh, peerOfB, "b.ipsec.test", "a.ipsec.test", "10.2.0.0/16", "10.1.0.0/16")
	}

	t.Run("wrong-keytab-key", func(t *testing.T) {
		stale := krbHost(t, k, krbB, "b-stale.keytab", "")
		i, r := cfgs(a, stale, krbB, krbA)
		krbFails(t, newKrbRun(t, i, r, now, now), "no keytab key for "+krbB)
	})
	t.Run("ticket-for-another-service", func(t *testing.T) {
		// a asks for host/c; b has c's key in its keytab too, yet refuses.
		both := krbHost(t, k, krbB, "b.keytab", "")
		both.Acceptor = must(auth.NewKerberosAcceptor(auth.KerberosAcceptorConfig{
			Keytab: mergeKeytabs(t, k, "b.keytab", "c.keytab"), Service: krbB, Realm: krbtest.Realm}))
		i, r := cfgs(a, both, krbC, krbA)
		krbFails(t, newKrbRun(t, i, r, now, now), "ticket is for "+krbC)
	})
	t.Run("peer-not-in-policy", func(t *testing.T) {
		// b accepts only host/c: a's valid ticket names a principal the
		// rule does not.
		i, r := cfgs(a, b, krbB, krbC)
		krbFails(t, newKrbRun(t, i, r, now, now), "kerberos peer principal not allowed")
	})
	t.Run("expired-ticket", func(t *testing.T) {
		short := krbHost(t, k, krbShort, "short.keytab", "")
		i, r := cfgs(a, short, krbShort, krbA)
		later := now.Add(2*time.Minute + auth.DefaultMaxClockSkew + time.Minute)
		krbFails(t, newKrbRun(t, i, r, later, later), "KRB_AP_ERR_TKT_EXPIRED")
	})
	t.Run("clock-skew", func(t *testing.T) {
		i, r := cfgs(a, b, krbB, krbA)
		krbFails(t, newKrbRun(t, i, r, now, now.Add(auth.DefaultMaxClockSkew+time.Minute)), "KRB_AP_ERR_SKEW")
	})
	t.Run("tampered-gss-token", func(t *testing.T) {
		i, r := cfgs(a, b, krbB, krbA)
		run := newKrbRun(t, i, r, now, now)
		run.tamper = func(fromI bool, d []byte) []byte {
			if tok := gssTokens(t, [][]byte{d}); fromI && len(tok) == 1 {
				at := bytes.Index(d, tok[0]) + len(tok[0]) - 20 // inside the encrypted authenticator
				d[at] ^= 1
			}
			return d
		}
		krbFails(t, run, "does not decrypt")
	})
	t.Run("kdc-down", func(t *testing.T) {
		k2 := startKrbRealm(t)
		a2 := krbHost(t, k2, krbA, "a.keytab", "")
		i, r := cfgs(a2, b, krbB, krbA)
		k2.Stop()
		krbFails(t, newKrbRun(t, i, r, now, now), "KDC")
	})
}

// TestKerberosIKEReplay: an MM3 (with its AP-REQ) recorded from a good
// exchange and replayed into a new Main Mode is refused by the acceptor's
// replay cache, also after the responder restarts with the same cache
// file.
func TestKerberosIKEReplay(t *testing.T) {
	k := startKrbRealm(t)
	k.AddKeytab(t, "b.keytab", krbB)
	rcache := t.TempDir() + "/b.rcache"
	a := krbHost(t, k, krbA, "a.keytab", "")
	b := krbHost(t, k, krbB, "b.keytab", rcache)
	icfg := krbConfig(t, a, krbB, "a.ipsec.test", "b.ipsec.test", "10.1.0.0/16", "10.2.0.0/16")
	rcfg := krbConfig(t, b, krbA, "b.ipsec.test", "a.ipsec.test", "10.2.0.0/16", "10.1.0.0/16")
	now := time.Now()
	good := newKrbRun(t, icfg, rcfg, now, now).run(t)
	if !good.rs.Established() {
		t.Fatalf("first exchange: %v", good.evR)
	}
	mm1, mm3 := good.wire[0], good.wire[2]

	replay := func(t *testing.T, rcfg *ike.Config) {
		t.Helper()
		rs, err := ike.AcceptV1(rcfg, krbAddrB, krbAddrA, now, mm1)
		if err != nil {
			t.Fatal(err)
		}
		mm2 := rs.Datagrams()
		if len(mm2) != 1 {
			t.Fatal("no MM2")
		}
		forged := bytes.Clone(mm3)
		copy(forged[8:16], mm2[0][8:16]) // the new responder cookie
		rs.Receive(now.Add(time.Second), forged)
		ev := rs.Events()
		f := eventOf(ev, ike.EventAuthFailed)
		if f == nil || !errors.Is(f.Err, auth.ErrReplay) || rs.Established() {
			t.Fatalf("replayed AP-REQ: %v", ev)
		}
		t.Logf("refused: %v", f.Err)
	}
	t.Run("same-acceptor", func(t *testing.T) { replay(t, rcfg) })
	t.Run("after-restart", func(t *testing.T) {
		b.Acceptor.Close()
		restarted := krbHost(t, k, krbB, "b.keytab", rcache)
		replay(t, krbConfig(t, restarted, krbA, "b.ipsec.test", "a.ipsec.test", "10.2.0.0/16", "10.1.0.0/16"))
	})
}

func mergeKeytabs(t *testing.T, k *krbtest.KDC, names ...string) *keytab.Keytab {
	t.Helper()
	kt := k.Keytab(t, names[0])
	for _, n := range names[1:] {
		kt.Entries = append(kt.Entries, k.Keytab(t, n).Entries...)
	}
	return kt
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestKerberosIKETokensDecodedByTshark: the GSS payloads of a real
// Kerberos Main Mode, taken from the exchange's datagrams, are read by an
// independent decoder. tshark's ISAKMP dissector does not know payload
// 129, so each token goes to its GSS-API and Kerberos dissectors inside
// an HTTP Negotiate header (RFC 4559) in a pcap the test writes; with the
// responder's keytab tshark also decrypts the ticket. It must see an
// AP-REQ (msg-type 14) for host/b from host/a and an AP-REP (15).
func TestKerberosIKETokensDecodedByTshark(t *testing.T) {
	tshark := testenv.NeedCommand(t, "tshark", "tshark")
	k := startKrbRealm(t)
	k.AddKeytab(t, "b.keytab", krbB)
	a, b := krbHost(t, k, krbA, "a.keytab", ""), krbHost(t, k, krbB, "b.keytab", "")
	icfg := krbConfig(t, a, krbB, "a.ipsec.test", "b.ipsec.test", "10.1.0.0/16", "10.2.0.0/16")
	rcfg := krbConfig(t, b, krbA, "b.ipsec.test", "a.ipsec.test", "10.2.0.0/16", "10.1.0.0/16")
	now := time.Now()
	r := newKrbRun(t, icfg, rcfg, now, now).run(t)
	toks := gssTokens(t, r.wire)
	if len(toks) != 2 || !r.rs.Established() {
		t.Fatalf("%d GSS payloads", len(toks))
	}
	pcap := filepath.Join(t.TempDir(), "tokens.pcap")
	writeNegotiatePcap(t, pcap, toks[0], toks[1])
	out, err := exec.Command(tshark, "-n", "-r", pcap,
		"-o", "kerberos.decrypt:TRUE", "-o", "kerberos.file:"+k.Path("b.keytab"),
		"-T", "fields", "-E", "separator=|", "-e", "kerberos.msg_type", "-e", "kerberos.SNameString",
		"-e", "kerberos.CNameString", "-e", "kerberos.realm").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var rows []string
	for _, l := range lines {
		if strings.Contains(l, "|") {
			rows = append(rows, l)
		}
	}
	t.Logf("tshark:\n%s", strings.Join(rows, "\n"))
	if len(rows) != 2 {
		t.Fatalf("want two decoded packets, got:\n%s", out)
	}
	req, rep := rows[0], rows[1]
	if !strings.HasPrefix(req, "14|") || !strings.Contains(req, "host,b.ipsec.test") ||
		!strings.Contains(req, "host,a.ipsec.test") || !strings.Contains(req, krbtest.Realm) {
		t.Fatalf("AP-REQ as tshark reads it: %q", req)
	}
	if !strings.HasPrefix(rep, "15|") {
		t.Fatalf("AP-REP as tshark reads it: %q", rep)
	}
}

// writeNegotiatePcap writes an HTTP request carrying req in
// "Authorization: Negotiate" and a response carrying rep in
// "WWW-Authenticate: Negotiate", over one TCP connection on 127.0.0.1.
func writeNegotiatePcap(t *testing.T, path string, req, rep []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeIPv4); err != nil {
		t.Fatal(err)
	}
	msgs := []struct {
		from    bool
		payload string
	}{
		{true, "GET / HTTP/1.1\r\nHost: b.ipsec.test\r\nAuthorization: Negotiate " + base64.StdEncoding.EncodeToString(req) + "\r\n\r\n"},
		{false, "HTTP/1.1 200 OK\r\nWWW-Authenticate: Negotiate " + base64.StdEncoding.EncodeToString(rep) + "\r\nContent-Length: 0\r\n\r\n"},
	}
	seq := map[bool]uint32{true: 1000, false: 5000}
	for i, m := range msgs {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 2)}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: seq[m.from], Ack: seq[!m.from], ACK: true, PSH: true, Window: 65535}
		if !m.from {
			ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, tcp, gopacket.Payload(m.payload)); err != nil {
			t.Fatal(err)
		}
		seq[m.from] += uint32(len(m.payload))
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1_800_000_000+int64(i), 0), CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
}
