package ike

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/internal/swtest"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The IKEv1 interop harness (issue 13, Evidence): charon 5.9.8 in one
// network namespace of an internal/swtest pair, our Endpoint (IKEv1
// sessions, dispatched by the ISAKMP major version) in the other. ESP
// between the protected subnets is real, sealed and opened by package esp
// on our side and by libipsec (charon's userspace ESP, over its TUN
// device) on charon's, and counted at both ends. libipsec takes only
// UDP-encapsulated tunnel-mode ESP, so every test forces NAT-T (encap =
// yes on charon's side, except in TestInteropV1NATT, and
// Config.ForceUDPEncap on ours).

// v1Opts describes one interop case.
type v1Opts struct {
	ike, esp string // proposals in strongSwan's syntax, the same on both sides
	// auth is "psk" (the default), "rsa" or "ecdsa" (certificates from a
	// common CA, RSA 2048 or ECDSA P-256 keys).
	auth       string
	aggressive bool
	transport  bool
	// charonInitiates: charon starts the ISAKMP SA; otherwise we do.
	charonInitiates bool
	// swExtra goes into charon's connection.
	swExtra string
	mutate  func(*Config)
	// noWait: return without waiting for the CHILD SA.
	noWait bool
	// swNoEncap leaves encap = yes out of charon's connection: only our
	// side forces UDP encapsulation.
	swNoEncap bool
	// legacy sets Config.AllowLegacyV1 (3DES, HMAC-MD5, MODP-1024).
	legacy bool
}

// v1Env is one running interop case.
type v1Env struct {
	t      *testing.T
	o      v1Opts
	pair   *swtest.Pair
	charon *swtest.Charon
	ours   *Endpoint
	ourIP  netip.Addr
	swIP   netip.Addr
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	events  []Event
	in      map[uint32]*esp.SA
	out     map[uint32]*esp.SA
	current uint32  // outbound SPI of the newest CHILD SA
	spi     [8]byte // our cookie of the newest ISAKMP SA

	fromSW atomic.Int64 // datagrams from charon's subnet opened by us
	toSW   atomic.Int64 // datagrams we sealed that arrived in charon's subnet
	swConn *net.UDPConn
}

const v1PSK = "interop-v1-pre-shared-key-0123456789"

func newV1(t *testing.T, o v1Opts) *v1Env {
	t.Helper()
	swtest.Require(t)
	e := &v1Env{t: t, o: o, in: map[uint32]*esp.SA{}, out: map[uint32]*esp.SA{}}
	e.pair = swtest.NewPair(t)
	e.ourIP, e.swIP = e.pair.Addr[0], e.pair.Addr[1]
	e.pair.AddAddr(t, 1, swHost.String()+"/24", "lo")
	global := ""
	if o.aggressive {
		// charon refuses Aggressive Mode with PSK as responder otherwise
		// (INTEROP.md).
		global += "\n\ti_dont_care_about_security_and_use_aggressive_mode_psk = yes"
	}
	e.charon = e.pair.StartCharon(t, 1, swtest.Options{Extra: global, LogLevels: "default = 1\n\t\t\tike = 2\n\t\t\tesp = 2"})

	cfg := e.config()
	if o.auth == "rsa" || o.auth == "ecdsa" {
		e.setupCerts(cfg)
	}
	if o.mutate != nil {
		o.mutate(cfg)
	}
	epc := EndpointConfig{
		IKEAddr:  netip.AddrPortFrom(e.ourIP, 500),
		NATTAddr: netip.AddrPortFrom(e.ourIP, 4500),
		Events:   e.onEvent,
		ESP:      e.onESP,
	}
	// Always a responder too: charon's phase 1 rekey is a new Main Mode
	// from its side, whoever started the first.
	epc.Responder = cfg
	e.ctx, e.cancel = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	e.ours = startV1Ours(t, e.ctx, &wg, e.pair.NS[0], epc)
	if err := inNetns(e.pair.NS[1], func() error {
		var err error
		e.swConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(swHost, swPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); e.readSW() }()
	t.Cleanup(func() {
		e.cancel()
		e.swConn.Close()
		wg.Wait()
		if t.Failed() {
			e.mu.Lock()
			t.Logf("our events: %v, errors %v", kinds(e.events), errOf(e.events))
			e.mu.Unlock()
		}
	})

	e.charon.Load(t, e.swanctlConf())
	if o.charonInitiates && o.transport {
		// charon negotiates, then fails to install the SA (libipsec has
		// tunnel mode only), so its initiate fails; the test reads the log.
		e.charon.SwanctlErr("--initiate", "--child", "net")
	} else if o.charonInitiates {
		e.charon.Swanctl(t, "--initiate", "--child", "net")
	} else {
		spi, err := e.ours.Initiate(e.ctx, cfg, netip.AddrPortFrom(e.swIP, 500), nil)
		if err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		e.spi = spi
		e.mu.Unlock()
	}
	if !o.noWait {
		e.waitEvent(EventChildUp, 1)
	}
	return e
}

// config is our side's Config: IKEv1 only, the case's proposals, our
// subnet and charon's, NAT-T forced.
func (e *v1Env) config() *Config {
	cfg := pskConfigWith(e.t, "left.example", "right.example", []byte(v1PSK), "aes128-sha256-modp2048", e.o.esp)
	cfg.KeyExchange = KeyExchangeIKEv1
	// IKEv1's proposal parser: it also takes Windows Server 2003's 3DES,
	// MD5 and MODP-1024, usable with AllowLegacyV1.
	p, err := ParseProposalsV1(e.o.ike, isakmp.ProtocolIKE)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.IKEProposals, cfg.AllowLegacyV1 = p, e.o.legacy
	cfg.LocalTS = []isakmp.TrafficSelector{SelectorFromPrefix(ourNet)}
	cfg.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(swNet)}
	cfg.ForceUDPEncap = true // libipsec needs UDP-encapsulated ESP
	cfg.RetransmitTimeout = time.Second
	cfg.RetransmitTries = 3
	if e.o.transport {
		cfg.Mode = Transport
		// In transport mode the selectors are the hosts themselves.
		cfg.LocalTS = []isakmp.TrafficSelector{SelectorFromPrefix(netip.PrefixFrom(e.ourIP, 32))}
		cfg.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(netip.PrefixFrom(e.swIP, 32))}
	}
	if e.o.aggressive {
		cfg.AggressiveMode = true
	}
	return cfg
}

func (e *v1Env) swanctlConf() string {
	o := e.o
	authSection := `local {
			auth = psk
			id = right.example
		}
		remote {
			auth = psk
			id = left.example
		}`
	if o.auth == "rsa" || o.auth == "ecdsa" {
		authSection = `send_cert = always
		local {
			auth = pubkey
			certs = right.pem
			id = right.example
		}
		remote {
			auth = pubkey
			id = left.example
		}`
	}
	mode, lts, rts := "tunnel", swNet.String(), ourNet.String()
	if o.transport {
		mode, lts, rts = "transport", e.swIP.String()+"/32", e.ourIP.String()+"/32"
	}
	aggressive, encap := "no", "yes"
	if o.aggressive {
		aggressive = "yes"
	}
	if o.swNoEncap {
		encap = "no"
	}
	return fmt.Sprintf(`connections {
	gw {
		version = 1
		aggressive = %s
		local_addrs = %s
		remote_addrs = %s
		encap = %s
		proposals = %s
		rekey_time = 0
		reauth_time = 0
		%s
		%s
		children {
			net {
				local_ts = %s
				remote_ts = %s
				esp_proposals = %s
				mode = %s
				rekey_time = 0
				start_action = none
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = left.example
		id-2 = right.example
		secret = "%s"
	}
}
`, aggressive, e.swIP, e.ourIP, encap, o.ike, o.swExtra, authSection, lts, rts, o.esp, mode, v1PSK)
}

// setupCerts makes a CA and a certificate for each side with keys of the
// case's kind, installs charon's in its swanctl directory and switches our
// Config to signatures checked through package auth.
func (e *v1Env) setupCerts(cfg *Config) {
	t := e.t
	ca := newTestCAAt(t, time.Now()) // charon checks validity against the real clock
	newKey := func() crypto.Signer {
		if e.o.auth == "rsa" {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ours, theirs := newKey(), newKey()
	method := auth.MethodECDSASHA256P256 // RFC 4754
	if e.o.auth == "rsa" {
		method = auth.MethodRSASignature
	}
	*cfg = *certConfig(t, cfg, ca, ours, method)
	// IKEv1 signs with the key itself: the method (RSA or ECDSA by
	// curve) follows from the key (RFC 2409 5.1, RFC 4754).
	cfg.Auth, cfg.SignatureKey = nil, ours
	cfg.Certificates = [][]byte{ca.issueAt(t, "left.example", ours, time.Now())}
	pk, err := x509.MarshalPKCS8PrivateKey(theirs)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	e.charon.AddFile(t, "x509ca", "ca.pem", pemOf("CERTIFICATE", ca.cert.Raw))
	e.charon.AddFile(t, "x509", "right.pem", pemOf("CERTIFICATE", ca.issueAt(t, "right.example", theirs, time.Now())))
	e.charon.AddFile(t, "private", "right.pem", pemOf("PRIVATE KEY", pk))
}

func (e *v1Env) onEvent(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	switch ev.Kind {
	case EventIKEUp, EventIKERekeyed:
		if ev.IKE.Initiator {
			e.spi = ev.IKE.SPIi
		} else {
			e.spi = ev.IKE.SPIr
		}
	case EventChildUp, EventChildRekeyed:
		if ev.Child.Version != IKEv1 {
			e.t.Errorf("CHILD SA with version %v", ev.Child.Version)
		}
		in, out := espConfigs(ev.Child)
		in.AllowLegacy, out.AllowLegacy = e.o.legacy, e.o.legacy // 3DES ESP
		in.EncapSrcPort, in.EncapDstPort = ev.Child.EncapRemotePort, ev.Child.EncapLocalPort
		out.EncapSrcPort, out.EncapDstPort = ev.Child.EncapLocalPort, ev.Child.EncapRemotePort
		a, err := esp.NewSA(in)
		if err != nil {
			e.t.Errorf("inbound SA: %v", err)
			return
		}
		b, err := esp.NewSA(out)
		if err != nil {
			e.t.Errorf("outbound SA: %v", err)
			return
		}
		e.in[in.SPI], e.out[out.SPI] = a, b
		e.current = out.SPI
	case EventChildDeleted:
		delete(e.in, ev.Child.InboundSPI)
		delete(e.out, ev.Child.OutboundSPI)
	}
}

// onESP opens ESP from charon: a tunnel-mode inner IPv4/UDP datagram from
// its subnet to ours.
func (e *v1Env) onESP(from netip.AddrPort, pkt []byte) {
	if len(pkt) < 8 {
		return
	}
	spi := binary.BigEndian.Uint32(pkt)
	e.mu.Lock()
	sa := e.in[spi]
	e.mu.Unlock()
	if sa == nil {
		return
	}
	inner, next, err := sa.OpenESP(pkt)
	if err != nil || next != 4 || len(inner) < 28 {
		return
	}
	src, dst := netip.AddrFrom4([4]byte(inner[12:16])), netip.AddrFrom4([4]byte(inner[16:20]))
	if src == swHost && dst == ourHost && bytes.HasPrefix(inner[28:], []byte("from charon")) {
		e.fromSW.Add(1)
	}
}

func (e *v1Env) readSW() {
	buf := make([]byte, 2048)
	for {
		n, from, err := e.swConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if from.Addr() == ourHost && bytes.HasPrefix(buf[:n], []byte("from go")) {
			e.toSW.Add(1)
		}
	}
}

// traffic sends datagrams each way between the protected subnets until n
// have arrived each way, counted on both sides: on charon's side the
// kernel routes them through libipsec's TUN device, on ours package esp
// seals and opens them on the NAT-T socket.
func (e *v1Env) traffic(n int) {
	e.t.Helper()
	from, to := e.fromSW.Load(), e.toSW.Load()
	swNATT := netip.AddrPortFrom(e.swIP, 4500)
	deadline := time.Now().Add(15 * time.Second)
	for e.fromSW.Load() < from+int64(n) || e.toSW.Load() < to+int64(n) {
		if time.Now().After(deadline) {
			e.t.Fatalf("traffic: %d of %d datagrams from charon arrived, %d of %d to charon\n%s\ncharon's IKE log:\n%s",
				e.fromSW.Load()-from, n, e.toSW.Load()-to, n, e.swSAs(), e.ikeLog(60))
		}
		// libipsec's TUN route may need a moment after a CHILD SA
		// appears; keep sending until n arrived each way (the counts
		// take duplicates).
		{
			for i := 0; i < n; i++ {
				// Until charon has installed its route into libipsec's TUN
				// device (after the last Quick Mode message, or a rekey),
				// its subnet has no route to ours: try again.
				if _, err := e.swConn.WriteToUDPAddrPort([]byte("from charon"), netip.AddrPortFrom(ourHost, 4000)); err != nil &&
					!errors.Is(err, unix.ENETUNREACH) {
					e.t.Fatalf("send in charon's namespace: %v", err)
				}
				e.mu.Lock()
				sa := e.out[e.current]
				e.mu.Unlock()
				if sa == nil {
					e.t.Fatal("traffic: no outbound CHILD SA")
				}
				pkt, err := sa.SealESP(nil, ipv4UDPTo(ourHost, swHost, swPort, []byte("from go")), 4)
				if err != nil {
					e.t.Fatal(err)
				}
				if err := e.ours.SendESP(swNATT, pkt); err != nil {
					e.t.Fatal(err)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *v1Env) count(k EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return countEvents(e.events, k)
}

func (e *v1Env) waitEvent(k EventKind, n int) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.count(k) < n {
		if time.Now().After(deadline) {
			e.mu.Lock()
			ev, errs := kinds(e.events), errOf(e.events)
			e.mu.Unlock()
			e.t.Fatalf("waiting for %d x %v; events %v, errors %v\ncharon's IKE log:\n%s", n, k, ev, errs, e.ikeLog(60))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastEvent returns the newest event of kind k.
func (e *v1Env) lastEvent(k EventKind) Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.events) - 1; i >= 0; i-- {
		if e.events[i].Kind == k {
			return e.events[i]
		}
	}
	e.t.Fatalf("no %v event", k)
	return Event{}
}

func (e *v1Env) cookie() [8]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spi
}

// inbound returns the inbound SPI of our newest CHILD SA.
func (e *v1Env) inbound() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.events) - 1; i >= 0; i-- {
		if k := e.events[i].Kind; k == EventChildUp || k == EventChildRekeyed {
			return e.events[i].Child.InboundSPI
		}
	}
	e.t.Fatal("no CHILD SA")
	return 0
}

// ikeLog returns the last n lines of charon's log about IKE (not the
// ESP packets libipsec logs one by one).
func (e *v1Env) ikeLog(n int) string {
	log, _ := os.ReadFile(e.charon.LogPath())
	var keep []string
	for _, l := range strings.Split(string(log), "\n") {
		for _, tag := range []string{"[IKE]", "[ENC]", "[CFG]", "[CHD]", "[KNL]", "[NET]"} {
			if strings.Contains(l, tag) {
				keep = append(keep, l)
				break
			}
		}
	}
	return lastLines(strings.Join(keep, "\n"), n)
}

// sameISAKMP waits until both sides have exactly one ISAKMP SA, the
// same one (our cookies in charon's list).
func (e *v1Env) sameISAKMP(when string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sas := e.swSAs()
		ours := e.ours.IKESAs()
		if len(ours) == 1 && strings.Count(sas, "ESTABLISHED") == 1 &&
			strings.Contains(sas, fmt.Sprintf("%x_i", ours[0].SPIi[:])) && strings.Contains(sas, fmt.Sprintf("%x_r", ours[0].SPIr[:])) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: we have %d ISAKMP SAs (%+v), charon:\n%s", when, len(ours), ours, sas)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLine reports whether a line of charon's log contains all of subs.
func (e *v1Env) logLine(subs ...string) bool {
	log, _ := os.ReadFile(e.charon.LogPath())
	for _, l := range strings.Split(string(log), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			return true
		}
	}
	return false
}

func (e *v1Env) swSAs() string { return e.charon.Swanctl(e.t, "--list-sas") }

// waitSW polls charon's SAs until ok accepts them.
func (e *v1Env) waitSW(what string, ok func(sas string) bool) string {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		sas := e.swSAs()
		if ok(sas) {
			return sas
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("charon: %s; it has:\n%s\nIKE log:\n%s", what, sas, e.ikeLog(60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSW checks charon's view: one IKEv1 SA, ESTABLISHED, and a CHILD SA
// installed in UDP-encapsulated tunnel mode.
func (e *v1Env) checkSW() string {
	e.t.Helper()
	return e.waitSW("an established IKEv1 SA with a TUNNEL-in-UDP CHILD SA", func(sas string) bool {
		return strings.Contains(sas, "ESTABLISHED, IKEv1") && strings.Contains(sas, "INSTALLED, TUNNEL-in-UDP")
	})
}

func dirName(charonInitiates bool) string {
	if charonInitiates {
		return "charon-initiates"
	}
	return "we-initiate"
}

// TestInteropV1MainModePSK: Main Mode with a pre-shared key and Quick
// Mode, both directions, with and without PFS (a Quick Mode KE when the
// ESP proposal names a group), AES-CBC and AES-GCM ESP, MODP, ECP and
// Curve25519 groups, and Windows Server 2003's 3DES/SHA1/MODP-1024 with
// Config.AllowLegacyV1; ESP carries datagrams both ways, counted on both
// sides. NAT-T is forced: charon lists the CHILD SA as TUNNEL-in-UDP and
// IKE runs on port 4500.
func TestInteropV1MainModePSK(t *testing.T) {
	for _, c := range []struct {
		ike, esp    string
		pfs, legacy bool
	}{
		{"aes128-sha256-modp2048", "aes128-sha256", false, false},
		{"aes256-sha256-ecp256", "aes256gcm16-ecp256", true, false},
		{"aes128-sha1-x25519", "aes128-sha1-x25519", true, false},
		{"aes256-sha384-modp3072", "aes256-sha384-modp3072", true, false}, // RFC 4868 SHA-384
		// Windows Server 2003's defaults, with Config.AllowLegacyV1.
		{"3des-sha1-modp1024", "3des-sha1", false, true},
	} {
		for _, charonInitiates := range []bool{false, true} {
			t.Run(c.ike+"/"+c.esp+"/"+dirName(charonInitiates), func(t *testing.T) {
				e := newV1(t, v1Opts{ike: c.ike, esp: c.esp, charonInitiates: charonInitiates, legacy: c.legacy})
				e.traffic(5)
				sas := e.checkSW()
				if !strings.Contains(sas, "[4500]") {
					t.Errorf("IKE did not move to port 4500:\n%s", sas)
				}
				up := e.lastEvent(EventChildUp)
				if (up.Child.PFS != isakmp.GroupNone) != c.pfs {
					t.Errorf("PFS group %v for ESP proposal %s", up.Child.PFS, c.esp)
				}
				if up.Child.EncapLocalPort != 4500 || up.Child.EncapRemotePort != 4500 {
					t.Errorf("ESP encapsulation ports %d/%d", up.Child.EncapLocalPort, up.Child.EncapRemotePort)
				}
			})
		}
	}
}

// TestInteropV1Certificates: Main Mode with RSA (2048) and ECDSA (P-256,
// RFC 4754) certificates from a common CA, both directions: CERT and SIG
// payloads, chains checked against the CA, identities matched.
func TestInteropV1Certificates(t *testing.T) {
	for _, kind := range []string{"rsa", "ecdsa"} {
		for _, charonInitiates := range []bool{false, true} {
			t.Run(kind+"/"+dirName(charonInitiates), func(t *testing.T) {
				e := newV1(t, v1Opts{ike: "aes128-sha256-ecp256", esp: "aes128gcm16", auth: kind, charonInitiates: charonInitiates})
				e.traffic(3)
				e.checkSW()
				up := e.lastEvent(EventIKEUp)
				if string(up.IKE.RemoteID.Data) != "right.example" {
					t.Fatalf("peer identity %v", up.IKE.RemoteID)
				}
				// charon's names for IKEv1 signatures: PKCS#1 v1.5 over the bare
				// hash, RFC 4754 ECDSA over the bare hash.
				want := map[string]string{"rsa": "RSA_EMSA_PKCS1_NULL", "ecdsa": "ECDSA_WITH_NULL"}[kind]
				if !e.charon.WaitLog("authentication of 'left.example' with "+want+" successful", 5*time.Second) {
					log, _ := os.ReadFile(e.charon.LogPath())
					t.Fatalf("charon did not verify our %s:\n%s", want, lastLines(string(log), 40))
				}
			})
		}
	}
}

// TestInteropV1Aggressive: Aggressive Mode with a pre-shared key, both
// directions (charon's responder needs
// i_dont_care_about_security_and_use_aggressive_mode_psk).
func TestInteropV1Aggressive(t *testing.T) {
	for _, charonInitiates := range []bool{false, true} {
		t.Run(dirName(charonInitiates), func(t *testing.T) {
			e := newV1(t, v1Opts{ike: "aes256-sha256-modp2048", esp: "aes256-sha256", aggressive: true, charonInitiates: charonInitiates})
			e.traffic(3)
			e.checkSW()
			if !e.charon.WaitLog("AGGRESSIVE", time.Second) {
				t.Fatal("charon's log shows no AGGRESSIVE exchange")
			}
		})
	}
}

// TestInteropV1TransportMode: Quick Mode in transport mode (with NAT-T,
// UDP-encapsulated transport mode and NAT-OA, RFC 3947 5.2), both
// directions. libipsec implements tunnel mode only, so charon refuses to
// install the SA after the negotiation ("only tunnel mode is
// supported" in its log as "IPsec SA: unsupported mode"); the evidence is the negotiated SA on our side and charon's
// log up to its install.
func TestInteropV1TransportMode(t *testing.T) {
	for _, charonInitiates := range []bool{false, true} {
		t.Run(dirName(charonInitiates), func(t *testing.T) {
			e := newV1(t, v1Opts{ike: "aes128-sha256-modp2048", esp: "aes128-sha256", transport: true,
				charonInitiates: charonInitiates, noWait: charonInitiates})
			if !e.charon.WaitLog("IPsec SA: unsupported mode", 10*time.Second) {
				log, _ := os.ReadFile(e.charon.LogPath())
				t.Fatalf("charon did not reach the install of the transport-mode SA:\n%s", lastLines(string(log), 40))
			}
			// Transport mode with NAT-T sends NAT-OA payloads (RFC 3947
			// 5.2) in the first two Quick Mode messages: charon parses
			// ours, in our request or our response.
			want := "parsed QUICK_MODE request"
			if charonInitiates {
				want = "parsed QUICK_MODE response"
			}
			if !e.logLine(want, "NAT-OA NAT-OA") {
				log, _ := os.ReadFile(e.charon.LogPath())
				t.Fatalf("charon's log has no %q with NAT-OA:\n%s", want, lastLines(string(log), 40))
			}
			if !charonInitiates {
				up := e.lastEvent(EventChildUp)
				if up.Child.Mode != Transport || up.Child.EncapLocalPort != 4500 {
					t.Fatalf("mode %v, encapsulation port %d", up.Child.Mode, up.Child.EncapLocalPort)
				}
			}
		})
	}
}

// TestInteropV1RekeyChild: Quick Mode rekeys, first ours and then
// charon's, with PFS, with traffic before and after each; in the end both
// sides keep one CHILD SA.
func TestInteropV1RekeyChild(t *testing.T) {
	for _, charonInitiates := range []bool{false, true} {
		t.Run(dirName(charonInitiates), func(t *testing.T) {
			e := newV1(t, v1Opts{ike: "aes128-sha256-modp2048", esp: "aes128-sha256-modp2048", charonInitiates: charonInitiates})
			e.traffic(3)
			if err := e.ours.RekeyChild(e.ctx, e.cookie(), e.inbound()); err != nil {
				t.Fatal(err)
			}
			e.waitEvent(EventChildRekeyed, 1)
			e.traffic(3)
			e.charon.Swanctl(t, "--rekey", "--child", "net")
			e.waitEvent(EventChildRekeyed, 2)
			e.traffic(3)
			e.waitSW("one CHILD SA after the rekeys", func(sas string) bool { return strings.Count(sas, "INSTALLED") == 1 })
			e.mu.Lock()
			for _, ev := range e.events {
				if ev.Kind == EventChildRekeyed && ev.Child.PFS == isakmp.GroupNone {
					t.Errorf("rekey without PFS: %+v", ev.Child)
				}
			}
			e.mu.Unlock()
		})
	}
}

// TestInteropV1RekeyIKE: a new Main Mode replaces the ISAKMP SA, first
// from our side and then from charon's (strongSwan reauthenticates for an
// IKEv1 rekey); the CHILD SA keeps carrying traffic, and a Quick Mode
// rekey works over the new ISAKMP SA.
func TestInteropV1RekeyIKE(t *testing.T) {
	for _, charonInitiates := range []bool{false, true} {
		t.Run(dirName(charonInitiates), func(t *testing.T) {
			e := newV1(t, v1Opts{ike: "aes256-sha256-ecp256", esp: "aes256gcm16", charonInitiates: charonInitiates})
			e.traffic(3)
			if err := e.ours.RekeyIKE(e.ctx, e.cookie()); err != nil {
				t.Fatal(err)
			}
			e.waitEvent(EventIKERekeyed, 1)
			e.sameISAKMP("after our rekey")
			if !e.charon.WaitLog("detected reauth of existing IKE_SA, adopting 1 children", 5*time.Second) {
				t.Fatalf("charon did not move the CHILD SA to the new ISAKMP SA:\n%s", e.ikeLog(40))
			}
			e.traffic(3)
			e.charon.Swanctl(t, "--rekey", "--ike", "gw")
			e.waitEvent(EventIKERekeyed, 2)
			e.sameISAKMP("after charon's rekey")
			e.traffic(3)
			e.charon.Swanctl(t, "--rekey", "--child", "net")
			e.waitEvent(EventChildRekeyed, 1)
			e.traffic(3)
			if n := e.count(EventIKEDown); n != 0 {
				t.Fatalf("%d IKE down events", n)
			}
		})
	}
}

// TestInteropV1DPD: charon's R-U-THERE (RFC 3706) is answered, ours is
// answered by charon, and when charon dies our side declares it dead.
func TestInteropV1DPD(t *testing.T) {
	t.Run("charon-checks", func(t *testing.T) {
		e := newV1(t, v1Opts{ike: "aes128-sha256-modp2048", esp: "aes128-sha256", swExtra: "dpd_delay = 1s"})
		if !e.charon.WaitLog("received DPD vendor ID", time.Second) {
			t.Error("charon saw no DPD vendor ID from us")
		}
		time.Sleep(3 * time.Second)
		log, _ := os.ReadFile(e.charon.LogPath())
		// charon logs R-U-THERE as N(DPD) and its ACK as N(DPD_ACK).
		if n := bytes.Count(log, []byte("N(DPD_ACK)")); n < 2 {
			t.Fatalf("charon got %d R-U-THERE-ACKs:\n%s", n, lastLines(string(log), 40))
		}
		e.checkSW()
		e.traffic(2)
	})
	t.Run("our-checks-and-dead-peer", func(t *testing.T) {
		e := newV1(t, v1Opts{ike: "aes128-sha256-modp2048", esp: "aes128-sha256", mutate: func(c *Config) {
			c.DPDInterval = 500 * time.Millisecond
			c.RetransmitTimeout = 500 * time.Millisecond
			c.RetransmitBase = 1.2
			c.RetransmitTries = 3
		}})
		time.Sleep(2 * time.Second)
		if !e.logLine("parsed INFORMATIONAL_V1 request", "N(DPD)") || !e.logLine("generating INFORMATIONAL_V1 request", "N(DPD_ACK)") ||
			e.count(EventPeerDead) != 0 {
			log, _ := os.ReadFile(e.charon.LogPath())
			t.Fatalf("our R-U-THERE: dead events %d\n%s", e.count(EventPeerDead), lastLines(string(log), 40))
		}
		e.traffic(2)
		// Stop the charon that swtest started for this test, by its PID.
		if err := unix.Kill(e.charon.PID, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e.waitEvent(EventPeerDead, 1)
		e.waitEvent(EventIKEDown, 1)
	})
}

// TestInteropV1Delete deletes the CHILD SA and then the ISAKMP SA, from
// each side (Informational exchanges with Delete payloads, RFC 2408
// 3.15).
func TestInteropV1Delete(t *testing.T) {
	for _, ours := range []bool{true, false} {
		name := "we-delete"
		if !ours {
			name = "charon-deletes"
		}
		t.Run(name, func(t *testing.T) {
			e := newV1(t, v1Opts{ike: "aes128-sha256-modp2048", esp: "aes128-sha256", charonInitiates: !ours})
			e.traffic(2)
			if ours {
				if err := e.ours.DeleteChild(e.ctx, e.cookie(), e.inbound()); err != nil {
					t.Fatal(err)
				}
			} else {
				e.charon.Swanctl(t, "--terminate", "--child", "net")
			}
			e.waitEvent(EventChildDeleted, 1)
			e.waitSW("the CHILD SA gone, the ISAKMP SA kept", func(sas string) bool {
				return !strings.Contains(sas, "INSTALLED") && strings.Contains(sas, "ESTABLISHED")
			})
			if ours {
				if err := e.ours.CloseIKE(e.ctx, e.cookie()); err != nil {
					t.Fatal(err)
				}
			} else {
				e.charon.Swanctl(t, "--terminate", "--ike", "gw")
			}
			e.waitEvent(EventIKEDown, 1)
			e.waitSW("the ISAKMP SA gone", func(sas string) bool { return !strings.Contains(sas, "gw:") })
			if n := len(e.ours.IKESAs()); n != 0 {
				t.Fatalf("we still have %d IKE SAs", n)
			}
		})
	}
}

// TestInteropV1NATT: with NAT-T forced on our side only (charon without
// encap = yes), charon detects a NAT from our NAT-D hashes (RFC 3947
// 3.2), both sides move IKE to port 4500 and ESP is UDP-encapsulated.
func TestInteropV1NATT(t *testing.T) {
	for _, charonInitiates := range []bool{false, true} {
		t.Run(dirName(charonInitiates), func(t *testing.T) {
			e := newV1(t, v1Opts{ike: "aes128-sha256-modp2048", esp: "aes128-sha256", charonInitiates: charonInitiates, swNoEncap: true})
			e.traffic(2)
			sas := e.checkSW()
			if !strings.Contains(sas, fmt.Sprintf("%s[4500]", e.ourIP)) {
				t.Fatalf("charon does not talk to our port 4500:\n%s", sas)
			}
			up := e.lastEvent(EventIKEUp)
			if !up.IKE.LocalNAT && !up.IKE.RemoteNAT {
				t.Fatalf("no NAT reported: %+v", up.IKE)
			}
		})
	}
}

// startV1Ours starts our side in namespace ns: an Endpoint bound to
// epc's addresses there, served until ctx is done (wg tracks it).
func startV1Ours(t *testing.T, ctx context.Context, wg *sync.WaitGroup, ns string, epc EndpointConfig) *Endpoint {
	t.Helper()
	ep, err := NewEndpoint(epc)
	if err != nil {
		t.Fatal(err)
	}
	// The sockets belong to the namespace of the thread that opens them.
	if err := inNetns(ns, ep.Listen); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); ep.Run(ctx) }()
	t.Cleanup(func() { ep.Close() })
	return ep
}
