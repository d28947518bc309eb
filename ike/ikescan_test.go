package ike

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/internal/swtest"
	"github.com/ipsecgo/ipsec/internal/testenv"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The ike-scan tests (issue 13, Evidence): ike-scan 1.9.5, an independent
// IKEv1 implementation, probes our IKEv1 responder across a veth pair
// between two network namespaces (internal/swtest; no charon). ike-scan
// sends the first message of Main Mode or Aggressive Mode with the
// transforms a test lists (--trans=enc[/bits],hash,auth,group, RFC 2409
// Appendix A numbers) and prints what the responder chose; in Aggressive
// Mode it also records the responder's HASH_R, which psk-crack (from the
// same package) checks offline against the pre-shared key.

// ikeScanResult is one host's answer as ike-scan 1.9.5 prints it (its
// default one-line format, not -M): the kind of answer, the SA attributes
// of the transform the responder chose, the vendor IDs, and the
// Aggressive Mode payloads.
type ikeScanResult struct {
	Host string
	// Kind is "Main Mode Handshake", "Aggressive Mode Handshake" or
	// "Notify".
	Kind string
	// Notify is the notify message type and name ("14 (NO-PROPOSAL-CHOSEN)").
	Notify string
	// SA holds the attributes of SA=(...): Enc, KeyLength, Hash, Group,
	// Auth, LifeType, LifeDuration.
	SA map[string]string
	// VIDs are the vendor IDs ike-scan recognised, by its name for them
	// (the part in parentheses), or the hex when it knows none.
	VIDs []string
	// ID is the responder's identity payload of Aggressive Mode, as
	// "Type=ID_FQDN, Value=right.example".
	ID string
	// Payloads lists the other payloads with their sizes, as
	// "KeyExchange(128 bytes)", "Nonce(32 bytes)", "Hash(20 bytes)".
	Payloads []string
}

// parseIkeScan reads ike-scan's output: one result per line that starts
// with an address and a tab. Lines it does not recognise are skipped.
func parseIkeScan(out string) []ikeScanResult {
	var res []ikeScanResult
	for _, line := range strings.Split(out, "\n") {
		host, rest, ok := strings.Cut(line, "\t")
		if !ok || host == "" || strings.ContainsAny(host, " ") {
			continue
		}
		r := ikeScanResult{Host: host, SA: map[string]string{}}
		switch {
		case strings.HasPrefix(rest, "Main Mode Handshake returned "):
			r.Kind, rest = "Main Mode Handshake", strings.TrimPrefix(rest, "Main Mode Handshake returned ")
		case strings.HasPrefix(rest, "Aggressive Mode Handshake returned "):
			r.Kind, rest = "Aggressive Mode Handshake", strings.TrimPrefix(rest, "Aggressive Mode Handshake returned ")
		case strings.HasPrefix(rest, "Notify message "):
			r.Kind = "Notify"
			rest = strings.TrimPrefix(rest, "Notify message ")
			n, after, _ := strings.Cut(rest, ")")
			r.Notify, rest = n+")", after
		default:
			continue
		}
		for _, item := range splitIkeScanItems(rest) {
			name, body, _ := strings.Cut(item, "(")
			body = strings.TrimSuffix(body, ")")
			switch {
			case name == "SA=":
				for _, kv := range strings.Fields(body) {
					if k, v, ok := strings.Cut(kv, "="); ok {
						r.SA[k] = v
					}
				}
			case strings.HasPrefix(name, "VID="):
				if body != "" {
					r.VIDs = append(r.VIDs, body)
				} else {
					r.VIDs = append(r.VIDs, strings.TrimSpace(strings.TrimPrefix(name, "VID=")))
				}
			case name == "ID":
				r.ID = body
			case name == "HDR=":
			default:
				r.Payloads = append(r.Payloads, item)
			}
		}
		res = append(res, r)
	}
	return res
}

// splitIkeScanItems splits "HDR=(a) SA=(b c) VID=x (name) Hash(20 bytes)"
// at the spaces outside parentheses, joining a bare VID with the name in
// parentheses that follows it.
func splitIkeScanItems(s string) []string {
	var items []string
	depth, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch s[i] {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case ' ', '\t':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		if tok := strings.TrimSpace(s[start:i]); tok != "" {
			if n := len(items); n > 0 && strings.HasPrefix(tok, "(") && strings.HasPrefix(items[n-1], "VID=") && !strings.Contains(items[n-1], "(") {
				items[n-1] += " " + tok
			} else {
				items = append(items, tok)
			}
		}
		start = i + 1
	}
	// A VID joined with its name reads "VID=hex (name)": keep the name.
	for i, it := range items {
		if hex, name, ok := strings.Cut(it, " ("); ok && strings.HasPrefix(hex, "VID=") {
			items[i] = "VID=(" + name
		}
	}
	return items
}

// TestIkeScanParse checks the parser on ike-scan 1.9.5 output recorded
// against strongSwan 5.9.8 (charon) in a network namespace.
func TestIkeScanParse(t *testing.T) {
	out := "Starting ike-scan 1.9.5 with 1 hosts (http://www.nta-monitor.com/tools/ike-scan/)\n" +
		"10.233.7.2\tMain Mode Handshake returned HDR=(CKY-R=3f1a3e2105a54c27) SA=(Enc=AES KeyLength=256 Hash=SHA2-256 Group=14:modp2048 Auth=PSK LifeType=Seconds LifeDuration=28800) VID=09002689dfd6b712 (XAUTH) VID=afcad71368a1f1c96b8696fc77570100 (Dead Peer Detection v1.0)\n" +
		"10.233.7.2\tAggressive Mode Handshake returned HDR=(CKY-R=fc1dab40f3a284ab) SA=(Enc=3DES Hash=SHA1 Group=2:modp1024 Auth=PSK LifeType=Seconds LifeDuration=28800) KeyExchange(128 bytes) Nonce(32 bytes) ID(Type=ID_FQDN, Value=right.example) VID=09002689dfd6b712 (XAUTH) VID=afcad71368a1f1c96b8696fc77570100 (Dead Peer Detection v1.0) Hash(20 bytes)\n" +
		"10.233.7.2\tNotify message 14 (NO-PROPOSAL-CHOSEN) HDR=(CKY-R=68b7ec0375625e93, msgid=ab77f9a1)\n" +
		"10.233.7.2\tMain Mode Handshake returned HDR=(CKY-R=3f1a3e2105a54c27) SA=(Enc=3DES Hash=MD5 Group=2:modp1024 Auth=PSK LifeType=Seconds LifeDuration(4)=0x00007080) VID=4a131c81070358455c5728f20e95452f\n" +
		"\n" +
		"Ending ike-scan 1.9.5: 1 hosts scanned in 0.039 seconds (25.76 hosts/sec).  1 returned handshake; 0 returned notify\n"
	got := parseIkeScan(out)
	want := []ikeScanResult{
		{Host: "10.233.7.2", Kind: "Main Mode Handshake",
			SA:   map[string]string{"Enc": "AES", "KeyLength": "256", "Hash": "SHA2-256", "Group": "14:modp2048", "Auth": "PSK", "LifeType": "Seconds", "LifeDuration": "28800"},
			VIDs: []string{"XAUTH", "Dead Peer Detection v1.0"}},
		{Host: "10.233.7.2", Kind: "Aggressive Mode Handshake",
			SA:       map[string]string{"Enc": "3DES", "Hash": "SHA1", "Group": "2:modp1024", "Auth": "PSK", "LifeType": "Seconds", "LifeDuration": "28800"},
			VIDs:     []string{"XAUTH", "Dead Peer Detection v1.0"},
			ID:       "Type=ID_FQDN, Value=right.example",
			Payloads: []string{"KeyExchange(128 bytes)", "Nonce(32 bytes)", "Hash(20 bytes)"}},
		{Host: "10.233.7.2", Kind: "Notify", Notify: "14 (NO-PROPOSAL-CHOSEN)", SA: map[string]string{}},
		{Host: "10.233.7.2", Kind: "Main Mode Handshake",
			SA:   map[string]string{"Enc": "3DES", "Hash": "MD5", "Group": "2:modp1024", "Auth": "PSK", "LifeType": "Seconds", "LifeDuration(4)": "0x00007080"},
			VIDs: []string{"4a131c81070358455c5728f20e95452f"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

const ikeScanPSK = "ikescan-psk-without-spaces-0123456789" // psk-crack reads words

// ikeScanEnv runs our IKEv1 responder with cfg on the right-hand namespace
// of a new pair; ike-scan runs on the left.
type ikeScanEnv struct {
	pair *swtest.Pair
	ours *Endpoint
}

func newIkeScanEnv(t *testing.T, mutate func(*Config)) *ikeScanEnv {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	testenv.NeedCommand(t, "ike-scan", "ike-scan")
	testenv.NeedCommand(t, "psk-crack", "ike-scan")
	e := &ikeScanEnv{pair: swtest.NewPair(t)}
	cfg := pskConfigWith(t, "right.example", "left.example", []byte(ikeScanPSK),
		"aes256-sha256-modp2048,aes128-sha256-modp2048,aes128-sha1-modp2048", "aes128-sha256")
	cfg.KeyExchange = KeyExchangeIKEv1
	cfg.LocalTS = []isakmp.TrafficSelector{SelectorFromPrefix(swNet)}
	cfg.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(ourNet)}
	if mutate != nil {
		mutate(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	e.ours = startV1Ours(t, ctx, &wg, e.pair.NS[1], EndpointConfig{
		IKEAddr:   netip.AddrPortFrom(e.pair.Addr[1], 500),
		NATTAddr:  netip.AddrPortFrom(e.pair.Addr[1], 4500),
		Responder: cfg,
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return e
}

// scan runs ike-scan against our responder with args and returns its one
// result, failing unless there is exactly one.
func (e *ikeScanEnv) scan(t *testing.T, args ...string) ikeScanResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// One try with a short timeout: the responder answers at once or not
	// at all, and a retry would only duplicate the answer.
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.pair.NS[0], "ike-scan",
		"--retry=2", "--timeout=1000"}, append(args, e.pair.Addr[1].String())...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ike-scan %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	res := parseIkeScan(string(out))
	if len(res) != 1 {
		t.Fatalf("ike-scan %s: %d results:\n%s", strings.Join(args, " "), len(res), out)
	}
	t.Logf("ike-scan %s:\n%s", strings.Join(args, " "), out)
	return res[0]
}

// checkSA compares the transform ike-scan says we chose with want
// (ike-scan's names: Enc, KeyLength, Hash, Group, Auth).
func checkSA(t *testing.T, r ikeScanResult, kind string, want map[string]string) {
	t.Helper()
	if r.Kind != kind {
		t.Fatalf("got %q (notify %q), want %s", r.Kind, r.Notify, kind)
	}
	for k, v := range want {
		if r.SA[k] != v {
			t.Errorf("SA %s = %q, want %q (SA %v)", k, r.SA[k], v, r.SA)
		}
	}
	if _, ok := want["KeyLength"]; !ok && r.SA["KeyLength"] != "" {
		t.Errorf("unexpected KeyLength %s", r.SA["KeyLength"])
	}
}

// crack runs psk-crack on ike-scan's --pskcrack file with a dictionary
// holding a wrong key and ours: our HASH_R must match ours, which checks
// SKEYID and HASH_R (RFC 2409 5) independently of our code.
func crack(t *testing.T, file, hash string) {
	t.Helper()
	dict := filepath.Join(t.TempDir(), "words")
	if err := os.WriteFile(dict, []byte("not-the-key\n"+ikeScanPSK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("psk-crack", "-d", dict, file).CombinedOutput()
	if err != nil {
		t.Fatalf("psk-crack: %v\n%s", err, out)
	}
	if want := `key "` + ikeScanPSK + `" matches ` + hash; !strings.Contains(string(out), want) {
		t.Fatalf("psk-crack did not find our key (%q):\n%s", want, out)
	}
}

// TestIkeScanMainMode: ike-scan's Main Mode probe (message 1 with the
// listed transforms) gets message 2 from our responder with the one
// transform our configuration accepts, whatever its place in the list;
// an offer we accept nothing of gets NO-PROPOSAL-CHOSEN (RFC 2408 3.14.1).
func TestIkeScanMainMode(t *testing.T) {
	e := newIkeScanEnv(t, nil)
	for _, c := range []struct {
		name  string
		trans []string
		want  map[string]string // nil: NO-PROPOSAL-CHOSEN
	}{
		{"aes128-sha256-modp2048", []string{"5,2,1,2", "7/128,4,1,14"},
			map[string]string{"Enc": "AES", "KeyLength": "128", "Hash": "SHA2-256", "Group": "14:modp2048", "Auth": "PSK"}},
		{"aes256-sha256-modp2048-last", []string{"7/128,4,1,15", "7/256,2,1,2", "7/256,4,1,14"},
			map[string]string{"Enc": "AES", "KeyLength": "256", "Hash": "SHA2-256", "Group": "14:modp2048", "Auth": "PSK"}},
		{"aes128-sha1-modp2048", []string{"7/128,2,1,14"},
			map[string]string{"Enc": "AES", "KeyLength": "128", "Hash": "SHA1", "Group": "14:modp2048", "Auth": "PSK"}},
		{"nothing-acceptable", []string{"1,1,1,1", "5,1,1,2", "7/128,1,1,14"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--vendor=4a131c81070358455c5728f20e95452f"} // RFC 3947 NAT-T
			for _, tr := range c.trans {
				args = append(args, "--trans="+tr)
			}
			r := e.scan(t, args...)
			if c.want == nil {
				if r.Kind != "Notify" || !strings.HasPrefix(r.Notify, "14 ") {
					t.Fatalf("got %q %q, want Notify 14 (NO-PROPOSAL-CHOSEN)", r.Kind, r.Notify)
				}
				return
			}
			checkSA(t, r, "Main Mode Handshake", c.want)
			for _, vid := range []string{"RFC 3947 NAT-T", "Dead Peer Detection v1.0"} {
				if !slices.Contains(r.VIDs, vid) {
					t.Errorf("no %s vendor ID in %q", vid, r.VIDs)
				}
			}
		})
	}
}

// TestIkeScanAggressiveMode: ike-scan's Aggressive Mode probe (SA, KE,
// nonce and ID) gets message 2 with the chosen transform, our KE, nonce,
// ID and HASH_R; psk-crack finds our pre-shared key from that HASH_R.
func TestIkeScanAggressiveMode(t *testing.T) {
	e := newIkeScanEnv(t, func(c *Config) { c.AggressiveMode = true })
	file := filepath.Join(t.TempDir(), "psk")
	r := e.scan(t, "-A", "--id=left.example", "--idtype=2", "--dhgroup=14",
		"--trans=7/256,5,1,14", "--trans=7/128,2,1,14", "--pskcrack="+file) // SHA2-384 is not in our Config
	checkSA(t, r, "Aggressive Mode Handshake",
		map[string]string{"Enc": "AES", "KeyLength": "128", "Hash": "SHA1", "Group": "14:modp2048", "Auth": "PSK"})
	if r.ID != "Type=ID_FQDN, Value=right.example" {
		t.Errorf("ID %q", r.ID)
	}
	want := []string{"KeyExchange(256 bytes)", "Hash(20 bytes)"}
	for _, p := range want {
		if !slices.Contains(r.Payloads, p) {
			t.Errorf("no %s in %q", p, r.Payloads)
		}
	}
	crack(t, file, "SHA1")
}

// Windows Server 2003's default IKE security methods, in its order
// (3DES/SHA1 and 3DES/MD5 with MODP-1024, then DES with MODP-768), as
// ike-scan --trans values, and its vendor ID (MS NT5 ISAKMPOAKLEY,
// version 4).
var windows2003 = []string{"--trans=5,2,1,2", "--trans=5,1,1,2", "--trans=1,2,1,1", "--trans=1,1,1,1",
	"--vendor=1e2b516905991c7d7c96fcbfb587e46100000004"}

// TestIkeScanWindows2003: with the legacy switch on, Windows Server
// 2003's proposal list gets 3DES/SHA1/MODP-1024 in Main Mode, and 3DES/MD5
// in Aggressive Mode (HASH_R checked by psk-crack); DES and MODP-768 are
// never chosen; without the switch the same list gets NO-PROPOSAL-CHOSEN.
func TestIkeScanWindows2003(t *testing.T) {
	t.Run("legacy", func(t *testing.T) {
		e := newIkeScanEnv(t, func(c *Config) {
			v1Legacy(t, c)
			c.AggressiveMode = true
		})
		r := e.scan(t, windows2003...)
		checkSA(t, r, "Main Mode Handshake", map[string]string{"Enc": "3DES", "Hash": "SHA1", "Group": "2:modp1024", "Auth": "PSK"})
		// Microsoft's vendor ID, by which Windows recognises the peer.
		if !slices.Contains(r.VIDs, "Windows-2003-or-XP-SP2") {
			t.Errorf("no Microsoft vendor ID in %q", r.VIDs)
		}
		r = e.scan(t, "--trans=5,1,1,2", "--trans=1,1,1,1", "--trans=1,1,1,2")
		checkSA(t, r, "Main Mode Handshake", map[string]string{"Enc": "3DES", "Hash": "MD5", "Group": "2:modp1024", "Auth": "PSK"})
		file := filepath.Join(t.TempDir(), "psk")
		r = e.scan(t, "-A", "--id=left.example", "--idtype=2", "--dhgroup=2", "--trans=1,1,1,2", "--trans=5,1,1,2", "--pskcrack="+file)
		checkSA(t, r, "Aggressive Mode Handshake", map[string]string{"Enc": "3DES", "Hash": "MD5", "Group": "2:modp1024", "Auth": "PSK"})
		crack(t, file, "MD5")
	})
	t.Run("no-legacy", func(t *testing.T) {
		e := newIkeScanEnv(t, nil)
		r := e.scan(t, windows2003...)
		if r.Kind != "Notify" || !strings.HasPrefix(r.Notify, "14 ") {
			t.Fatalf("got %q %q, want Notify 14 (NO-PROPOSAL-CHOSEN)", r.Kind, r.Notify)
		}
	})
}

// v1Legacy turns on Config.AllowLegacyV1 and adds Windows Server 2003's
// algorithms (3DES, HMAC-SHA1 and HMAC-MD5, MODP-1024) to the IKE
// proposals.
func v1Legacy(t *testing.T, c *Config) {
	c.AllowLegacyV1 = true
	p, err := ParseProposalsV1("3des-sha1-md5-modp1024", isakmp.ProtocolIKE)
	if err != nil {
		t.Fatal(err)
	}
	c.IKEProposals = append(c.IKEProposals, p...)
}

// TestIkeScanSignatures: a Main Mode probe that offers RSA signature
// authentication (--auth=3, RFC 2409 Appendix A) next to pre-shared keys
// gets the RSA transform from a responder whose Config signs with an RSA
// key, and NO-PROPOSAL-CHOSEN from one with a pre-shared key when it
// offers only signatures: the method is part of the transform choice.
func TestIkeScanSignatures(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := newIkeScanEnv(t, func(c *Config) {
		*c = *certConfig(t, c, newTestCAAt(t, time.Now()), key, auth.MethodRSASignature)
		c.Auth, c.SignatureKey = nil, key
	})
	r := e.scan(t, "--auth=3", "--trans=7/128,4,1,14", "--trans=7/128,4,3,14")
	checkSA(t, r, "Main Mode Handshake", map[string]string{"Enc": "AES", "KeyLength": "128", "Hash": "SHA2-256", "Group": "14:modp2048", "Auth": "RSA_Sig"})

	psk := newIkeScanEnv(t, nil)
	r = psk.scan(t, "--auth=3", "--trans=7/128,4,3,14")
	if r.Kind != "Notify" || !strings.HasPrefix(r.Notify, "14 ") {
		t.Fatalf("got %q %q, want Notify 14 (NO-PROPOSAL-CHOSEN)", r.Kind, r.Notify)
	}
}
