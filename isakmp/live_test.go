package isakmp

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/swtest"
)

// captureFlag regenerates the golden captures in testdata:
//
//	go test ./isakmp -run TestLiveStrongSwan -isakmp.capture
//
// Without it, TestLiveStrongSwan runs the same scenarios into a temporary
// directory and checks that every live message decodes and re-encodes
// byte-exactly.
var captureFlag = flag.Bool("isakmp.capture", false, "rewrite testdata/*.pcap and the key logs from live strongSwan runs")

// scenario is one strongSwan run: two charons, a swanctl.conf for each,
// and the swanctl commands that produce the exchanges.
type scenario struct {
	name    string
	extra   string // strongswan.conf charon { } additions, both sides
	plugins string // extra plugins to load, both sides
	left    string // initiator swanctl.conf; %L, %R are the addresses
	right   string
	certs   bool                 // install an ECDSA CA and certificates for left.test and right.test
	steps   [][]string           // swanctl commands on the left
	want    map[ExchangeType]int // minimum exchanges (requests + responses) in the capture
}

const pskSecrets = `
secrets {
	ike-1 {
		id-1 = left@test
		id-2 = right.test
		secret = "swtest-psk-not-a-secret"
	}
}
`

var scenarios = []scenario{
	{
		// IKEv2: IKE_SA_INIT, IKE_AUTH with a virtual IP request (CP) and
		// IPv4+IPv6 traffic selectors, CHILD_SA rekey with PFS, IKE SA
		// rekey, and INFORMATIONAL deletes.
		name: "ikev2",
		left: `connections {
	c {
		version = 2
		local_addrs = %L
		remote_addrs = %R
		proposals = aes256gcm16-prfsha256-x25519
		vips = 0.0.0.0
		local { auth = psk
			id = left@test }
		remote { auth = psk
			id = right.test }
		children {
			net {
				remote_ts = 10.99.0.0/24,fd00:99::/64
				esp_proposals = aes256gcm16-x25519
			}
		}
	}
}` + pskSecrets,
		right: `connections {
	c {
		version = 2
		local_addrs = %R
		remote_addrs = %L
		proposals = aes256gcm16-prfsha256-x25519
		pools = p
		local { auth = psk
			id = right.test }
		remote { auth = psk
			id = left@test }
		children {
			net {
				local_ts = 10.99.0.0/24,fd00:99::/64
				esp_proposals = aes256gcm16-x25519
			}
		}
	}
}
pools { p { addrs = 10.98.0.0/28 } }` + pskSecrets,
		steps: [][]string{
			{"--initiate", "--child", "net"},
			{"--rekey", "--child", "net"},
			{"--rekey", "--ike", "c"},
			{"--terminate", "--child", "net"},
			{"--terminate", "--ike", "c"},
		},
		want: map[ExchangeType]int{ExchangeIKESAInit: 2, ExchangeIKEAuth: 2, ExchangeCreateChildSA: 4, ExchangeInformational: 4},
	},
	{
		// IKEv2 with RFC 7383 fragmentation forced by a small fragment
		// size: IKE_AUTH travels in SKF payloads.
		name:  "ikev2_frag",
		extra: "fragment_size = 260",
		left: `connections {
	c {
		version = 2
		local_addrs = %L
		remote_addrs = %R
		fragmentation = force
		proposals = aes128-sha256-prfsha256-ecp256
		local { auth = psk
			id = left@test }
		remote { auth = psk
			id = right.test }
		children { net { local_ts = 10.97.0.0/24
			remote_ts = 10.99.0.0/24
			esp_proposals = aes128-sha256 } }
	}
}` + pskSecrets,
		right: `connections {
	c {
		version = 2
		local_addrs = %R
		remote_addrs = %L
		fragmentation = force
		proposals = aes128-sha256-prfsha256-ecp256
		local { auth = psk
			id = right.test }
		remote { auth = psk
			id = left@test }
		children { net { local_ts = 10.99.0.0/24
			remote_ts = 10.97.0.0/24
			esp_proposals = aes128-sha256 } }
	}
}` + pskSecrets,
		steps: [][]string{
			{"--initiate", "--child", "net"},
			{"--terminate", "--ike", "c"},
		},
		want: map[ExchangeType]int{ExchangeIKESAInit: 2, ExchangeIKEAuth: 4, ExchangeInformational: 2},
	},
	{
		// IKEv1: Main Mode with PSK, Quick Mode with PFS, DPD, deletes.
		name: "ikev1",
		left: `connections {
	c {
		version = 1
		local_addrs = %L
		remote_addrs = %R
		proposals = aes128-sha256-modp2048
		dpd_delay = 1s
		local { auth = psk
			id = left@test }
		remote { auth = psk
			id = right.test }
		children { net { local_ts = 10.97.0.0/24
			remote_ts = 10.99.0.0/24
			esp_proposals = aes128-sha256-modp2048 } }
	}
}` + pskSecrets,
		right: `connections {
	c {
		version = 1
		local_addrs = %R
		remote_addrs = %L
		proposals = aes128-sha256-modp2048
		dpd_delay = 1s
		local { auth = psk
			id = right.test }
		remote { auth = psk
			id = left@test }
		children { net { local_ts = 10.99.0.0/24
			remote_ts = 10.97.0.0/24
			esp_proposals = aes128-sha256-modp2048 } }
	}
}` + pskSecrets,
		steps: [][]string{
			{"--initiate", "--child", "net"},
			{"sleep", "2.5s"},
			{"--terminate", "--ike", "c"},
		},
		want: map[ExchangeType]int{ExchangeV1MainMode: 6, ExchangeV1QuickMode: 3, ExchangeV1Informational: 3},
	},
	{
		// IKEv1 Aggressive Mode with PSK, then Mode Config (the
		// TRANSACTION exchange with the attribute payload) for a virtual
		// IP, then Quick Mode.
		name: "ikev1_aggr",
		// A responder refuses Aggressive Mode with PSK unless told
		// otherwise (it exposes a PSK hash to offline guessing).
		extra: "i_dont_care_about_security_and_use_aggressive_mode_psk = yes",
		left: `connections {
	c {
		version = 1
		aggressive = yes
		local_addrs = %L
		remote_addrs = %R
		proposals = aes256-sha1-modp2048
		vips = 0.0.0.0
		local { auth = psk
			id = left@test }
		remote { auth = psk
			id = right.test }
		children { net { remote_ts = 10.99.0.0/24
			esp_proposals = aes256-sha1 } }
	}
}` + pskSecrets,
		right: `connections {
	c {
		version = 1
		aggressive = yes
		local_addrs = %R
		remote_addrs = %L
		proposals = aes256-sha1-modp2048
		pools = p
		local { auth = psk
			id = right.test }
		remote { auth = psk
			id = left@test }
		children { net { local_ts = 10.99.0.0/24
			esp_proposals = aes256-sha1 } }
	}
}
pools { p { addrs = 10.98.0.0/28 } }` + pskSecrets,
		steps: [][]string{
			{"--initiate", "--child", "net"},
			{"--terminate", "--ike", "c"},
		},
		want: map[ExchangeType]int{ExchangeV1Aggressive: 3, ExchangeV1Transaction: 2, ExchangeV1QuickMode: 3},
	},
	{
		// IKEv2 with a key exchange method the responder refuses
		// (INVALID_KE_PAYLOAD and a retry, RFC 7296 1.2), then EAP-MD5
		// for the initiator (EAP payloads, RFC 7296 2.16) against a
		// certificate-authenticated responder.
		name:    "ikev2_eap",
		certs:   true,
		plugins: "eap-identity eap-md5",
		left: `connections {
	c {
		version = 2
		local_addrs = %L
		remote_addrs = %R
		proposals = aes128-sha256-ecp256-modp2048
		local { auth = eap-md5
			eap_id = left@test
			id = left@test }
		remote { auth = pubkey
			id = right.test }
		children { net { local_ts = 10.97.0.0/24
			remote_ts = 10.99.0.0/24
			esp_proposals = aes128-sha256 } }
	}
}
secrets { eap-1 { id = left@test
	secret = "swtest-eap-not-a-secret" } }`,
		right: `connections {
	c {
		version = 2
		local_addrs = %R
		remote_addrs = %L
		proposals = aes128-sha256-modp2048
		local { auth = pubkey
			certs = right.test.pem
			id = right.test }
		remote { auth = eap-md5
			eap_id = %any
			id = left@test }
		children { net { local_ts = 10.99.0.0/24
			remote_ts = 10.97.0.0/24
			esp_proposals = aes128-sha256 } }
	}
}
secrets { eap-1 { id = left@test
	secret = "swtest-eap-not-a-secret" } }`,
		steps: [][]string{
			{"--initiate", "--child", "net"},
			{"--terminate", "--ike", "c"},
		},
		want: map[ExchangeType]int{ExchangeIKESAInit: 4, ExchangeIKEAuth: 6, ExchangeInformational: 2},
	},
	{
		// IKEv2 with ECDSA certificates: CERTREQ in IKE_SA_INIT and
		// IKE_AUTH, CERT and an RFC 7427 AUTH in IKE_AUTH.
		name:  "ikev2_cert",
		certs: true,
		left: `connections {
	c {
		version = 2
		local_addrs = %L
		remote_addrs = %R
		proposals = aes128gcm16-prfsha256-ecp256
		local { auth = pubkey
			certs = left.test.pem
			id = left.test }
		remote { auth = pubkey
			id = right.test }
		children { net { local_ts = 10.97.0.0/24
			remote_ts = 10.99.0.0/24
			esp_proposals = aes128gcm16 } }
	}
}`,
		right: `connections {
	c {
		version = 2
		local_addrs = %R
		remote_addrs = %L
		proposals = aes128gcm16-prfsha256-ecp256
		local { auth = pubkey
			certs = right.test.pem
			id = right.test }
		remote { auth = pubkey
			id = left.test }
		children { net { local_ts = 10.99.0.0/24
			remote_ts = 10.97.0.0/24
			esp_proposals = aes128gcm16 } }
	}
}`,
		steps: [][]string{
			{"--initiate", "--child", "net"},
			{"--terminate", "--ike", "c"},
		},
		want: map[ExchangeType]int{ExchangeIKESAInit: 2, ExchangeIKEAuth: 2, ExchangeInformational: 2},
	},
	{
		// IKEv1 Main Mode with ECDSA certificates (RFC 4754): CR, CERT and
		// SIG payloads; Quick Mode with AES-GCM ESP.
		name:  "ikev1_cert",
		certs: true,
		left: `connections {
	c {
		version = 1
		local_addrs = %L
		remote_addrs = %R
		proposals = aes128-sha256-ecp256
		local { auth = pubkey
			certs = left.test.pem
			id = left.test }
		remote { auth = pubkey
			id = right.test }
		children { net { local_ts = 10.97.0.0/24
			remote_ts = 10.99.0.0/24
			esp_proposals = aes128gcm16 } }
	}
}`,
		right: `connections {
	c {
		version = 1
		local_addrs = %R
		remote_addrs = %L
		proposals = aes128-sha256-ecp256
		local { auth = pubkey
			certs = right.test.pem
			id = right.test }
		remote { auth = pubkey
			id = left.test }
		children { net { local_ts = 10.99.0.0/24
			remote_ts = 10.97.0.0/24
			esp_proposals = aes128gcm16 } }
	}
}`,
		steps: [][]string{
			{"--initiate", "--child", "net"},
			{"--terminate", "--ike", "c"},
		},
		want: map[ExchangeType]int{ExchangeV1MainMode: 6, ExchangeV1QuickMode: 3, ExchangeV1Informational: 2},
	},
}

// TestLiveStrongSwan runs each scenario between two charons in network
// namespaces, captures the IKE traffic, and checks that every message
// decodes and re-encodes byte-exactly and that the expected exchanges
// occurred. With -isakmp.capture it also replaces the files in testdata.
func TestLiveStrongSwan(t *testing.T) {
	swtest.Require(t)
	swtest.RequireTcpdump(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			if *captureFlag {
				dir = "testdata"
			}
			runScenario(t, sc, dir)
		})
	}
}

func runScenario(t *testing.T, sc scenario, dir string) {
	pair := swtest.NewPair(t)
	// No ESP traffic is sent, so no routes are needed (the namespaces have
	// no default route, which makes route installation fail).
	opts := swtest.Options{Plugins: strings.TrimSpace(swtest.DefaultPlugins + " " + sc.plugins), Extra: "install_routes = no\n\t" + sc.extra, LogLevels: "default = 1\n\t\t\tike = 4\n\t\t\tcfg = 2"}
	// The responder protects 10.99.0.0/24 and fd00:99::/64; libipsec's
	// routes need a source address inside them.
	pair.AddAddr(t, 1, "10.99.0.1/24", "lo")
	pair.AddAddr(t, 1, "fd00:99::1/64", "lo")
	// The initiator's selectors of the non-VIP scenarios: a subnet
	// other than the IKE addresses, which libipsec cannot tunnel.
	pair.AddAddr(t, 0, "10.97.0.1/24", "lo")
	right := pair.StartCharon(t, 1, opts)
	left := pair.StartCharon(t, 0, opts)
	pcap := filepath.Join(dir, sc.name+".pcap")
	capture := pair.StartCapture(t, 0, pcap, "udp port 500 or udp port 4500")
	if sc.certs {
		ca := swtest.NewCA(t, "swtest CA")
		ca.InstallCert(t, left, "left.test")
		ca.InstallCert(t, right, "right.test")
	}
	subst := strings.NewReplacer("%L", pair.Addr[0].String(), "%R", pair.Addr[1].String())
	right.Load(t, subst.Replace(sc.right))
	left.Load(t, subst.Replace(sc.left))
	for _, step := range sc.steps {
		if step[0] == "sleep" {
			d, _ := time.ParseDuration(step[1])
			time.Sleep(d)
			continue
		}
		left.Swanctl(t, step...)
		time.Sleep(300 * time.Millisecond)
	}
	// Wait until the expected exchanges are all on the wire.
	deadline := time.Now().Add(10 * time.Second)
	var counts map[ExchangeType]int
	for {
		counts = countExchanges(t, pcap)
		if covers(counts, sc.want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	capture.Stop()
	if !covers(counts, sc.want) {
		t.Fatalf("capture has exchanges %v, want at least %v", counts, sc.want)
	}
	if *captureFlag {
		keys, err := extractKeys(left.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sc.name+".log"), []byte(keys), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range readCapturesFrom(t, []string{pcap}) {
		checkRoundTrip(t, d)
	}
}

func covers(got, want map[ExchangeType]int) bool {
	for e, n := range want {
		if got[e] < n {
			return false
		}
	}
	return true
}

func countExchanges(t *testing.T, pcap string) map[ExchangeType]int {
	counts := map[ExchangeType]int{}
	for _, d := range readCapturesFrom(t, []string{pcap}) {
		if len(d.message) >= HeaderLen {
			counts[ExchangeType(d.message[18])]++
		}
	}
	return counts
}

func checkRoundTrip(t *testing.T, d capturedDatagram) {
	t.Helper()
	var m Message
	if err := m.Decode(d.message); err != nil {
		t.Errorf("%s #%d: %v\n%x", d.file, d.index, err, d.message)
		return
	}
	out, err := m.Append(nil)
	if err != nil {
		t.Errorf("%s #%d: Append: %v", d.file, d.index, err)
		return
	}
	if string(out) != string(d.message) {
		t.Errorf("%s #%d: re-encoded\n%x\nwant\n%x", d.file, d.index, out, d.message)
	}
}

// extractKeys keeps the lines of charon's level-4 log that carry IKE
// keys (and the hex dumps after them), so that the golden tests can
// decrypt the captured SK payloads, and the lines in which charon names
// the payloads of each message it sent or received, which the golden
// tests compare with this package's decoding. The keys are those of
// throwaway test SAs.
func extractKeys(logPath string) (string, error) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	lines := strings.Split(string(b), "\n")
	keep := false
	for _, l := range lines {
		switch {
		case strings.Contains(l, "[ENC] generating") || strings.Contains(l, "[ENC] parsed") ||
			strings.Contains(l, "[NET] sending packet") || strings.Contains(l, "[NET] received packet") ||
			strings.Contains(l, "[ENC] splitting") || strings.Contains(l, "[ENC] reassembled"):
			keep = false
			fmt.Fprintln(&out, l)
		case strings.Contains(l, " => ") && (strings.Contains(l, " secret => ") || strings.Contains(l, "SKEYID") ||
			strings.Contains(l, "encryption key") || strings.Contains(l, " IV ")):
			keep = true
			fmt.Fprintln(&out, l)
		case keep && isHexDumpLine(l):
			fmt.Fprintln(&out, l)
		default:
			keep = false
		}
	}
	return out.String(), nil
}

func isHexDumpLine(l string) bool {
	i := strings.Index(l, ": ")
	if i < 0 {
		return false
	}
	f := strings.Fields(l[:i])
	if len(f) == 0 {
		return false
	}
	last := f[len(f)-1]
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
