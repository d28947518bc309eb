package ike

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/internal/swtest"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The strongSwan interop harness: charon 5.9.8 runs in one network
// namespace of an internal/swtest pair, our Endpoint in the other, each
// with a protected subnet. Traffic between the subnets is real: on
// charon's side the kernel routes UDP datagrams into libipsec's TUN device
// (userspace ESP), on ours the test seals and opens ESP with package esp
// on the endpoint's NAT-T socket. Everything is removed by t.Cleanup.

var (
	ourNet   = netip.MustParsePrefix("10.98.1.0/24")
	swNet    = netip.MustParsePrefix("10.98.2.0/24")
	ourHost  = netip.MustParseAddr("10.98.1.1")
	swHost   = netip.MustParseAddr("10.98.2.1")
	swPort   = uint16(5000)
	interopK = "interop pre-shared key, long enough"
)

// inNetns runs f on an OS thread that has entered namespace ns. Sockets
// that f creates belong to ns. The thread is never returned to the
// scheduler: it ends with the goroutine.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// interop is one test environment.
type interop struct {
	t      *testing.T
	pair   *swtest.Pair
	charon *swtest.Charon
	ep     *Endpoint
	ourIP  netip.Addr // our IKE address
	swIP   netip.Addr // charon's
	cancel context.CancelFunc
	ctx    context.Context

	mu      sync.Mutex
	events  []Event
	in      map[uint32]*esp.SA
	out     map[uint32]*esp.SA
	current uint32
	spi     [8]byte // our SPI of the current IKE SA

	fromSW atomic.Int64 // datagrams from charon's subnet opened by us
	toSW   atomic.Int64 // datagrams we sent that arrived in charon's subnet
	swConn *net.UDPConn
}

type interopOpts struct {
	ike, esp string // proposals (the same strings on both sides)
	// swExtra goes into charon's connection; swChildExtra into its child.
	swExtra, swChildExtra string
	// charonInitiates: charon starts the IKE SA; otherwise we do.
	charonInitiates bool
	mutate          func(*Config)
	// certs switches both sides to certificate authentication with keys
	// of this kind ("ecdsa" or "rsa").
	certs string
	// signatureKey makes our side sign through Config.SignatureKey (the
	// hash chosen from charon's SIGNATURE_HASH_ALGORITHMS).
	signatureKey bool
	// noWait: newInterop returns without waiting for the CHILD SA.
	noWait bool
}

func newInterop(t *testing.T, o interopOpts) *interop {
	swtest.Require(t)
	e := &interop{t: t, in: map[uint32]*esp.SA{}, out: map[uint32]*esp.SA{}}
	e.pair = swtest.NewPair(t)
	e.ourIP, e.swIP = e.pair.Addr[0], e.pair.Addr[1]
	e.pair.AddAddr(t, 1, swHost.String()+"/24", "lo")
	e.charon = e.pair.StartCharon(t, 1, swtest.Options{})

	cfg := e.config(o)
	if o.certs != "" {
		e.setupCerts(cfg, o.certs, o.signatureKey)
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
	if o.charonInitiates {
		epc.Responder = cfg
	}
	if err := inNetns(e.pair.NS[0], func() error {
		var err error
		if e.ep, err = NewEndpoint(epc); err != nil {
			return err
		}
		return e.ep.Listen()
	}); err != nil {
		t.Fatal(err)
	}
	if err := inNetns(e.pair.NS[1], func() error {
		var err error
		e.swConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(swHost, swPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.ep.Run(e.ctx) }()
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

	e.charon.Load(t, e.swanctlConf(o))
	if o.charonInitiates {
		e.charon.Swanctl(t, "--initiate", "--child", "net")
	} else {
		spi, err := e.ep.Initiate(e.ctx, cfg, netip.AddrPortFrom(e.swIP, 500), nil)
		if err != nil {
			t.Fatal(err)
		}
		e.setSPI(spi)
	}
	if !o.noWait {
		e.waitEvent(EventChildUp, 1)
	}
	return e
}

func (e *interop) setSPI(spi [8]byte) {
	e.mu.Lock()
	e.spi = spi
	e.mu.Unlock()
}

func (e *interop) config(o interopOpts) *Config {
	cfg := pskConfigWith(e.t, "left.example", "right.example", []byte(interopK), o.ike, o.esp)
	cfg.LocalTS = []isakmp.TrafficSelector{SelectorFromPrefix(ourNet)}
	cfg.RemoteTS = []isakmp.TrafficSelector{SelectorFromPrefix(swNet)}
	cfg.ForceUDPEncap = true // libipsec needs UDP-encapsulated ESP
	cfg.RetransmitTimeout = time.Second
	cfg.RetransmitTries = 3
	return cfg
}

func (e *interop) swanctlConf(o interopOpts) string {
	authSection := `local {
			auth = psk
			id = right.example
		}
		remote {
			auth = psk
			id = left.example
		}`
	if o.certs != "" {
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
	return fmt.Sprintf(`connections {
	gw {
		version = 2
		local_addrs = %s
		remote_addrs = %s
		encap = yes
		proposals = %s
		rekey_time = 0
		%s
		%s
		children {
			net {
				local_ts = %s
				remote_ts = %s
				esp_proposals = %s
				mode = tunnel
				rekey_time = 0
				start_action = none
				%s
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
`, e.swIP, e.ourIP, o.ike, o.swExtra, authSection, swNet, ourNet, o.esp, o.swChildExtra, interopK)
}

func (e *interop) onEvent(ev Event) {
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
		in, out := espConfigs(ev.Child)
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
func (e *interop) onESP(from netip.AddrPort, pkt []byte) {
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

func (e *interop) readSW() {
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

// setupCerts makes a CA and a certificate for each side, writes charon's
// into a swanctl directory (x509ca, x509, private) that swanctl --load-all
// reads through SWANCTL_DIR, and switches our configuration to signatures
// (RFC 7427) with certificate chain checks through package auth.
func (e *interop) setupCerts(cfg *Config, kind string, signatureKey bool) {
	t := e.t
	ca := newTestCAAt(t, time.Now()) // charon checks validity against the real clock
	newKey := func() crypto.Signer {
		if kind == "rsa" {
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
	*cfg = *certConfig(t, cfg, ca, ours, auth.MethodDigitalSignature)
	if signatureKey {
		cfg.Auth, cfg.SignatureKey = nil, ours
	}
	dir := e.charon.Dir + "/swanctl"
	for _, d := range []string{"x509ca", "x509", "private"} {
		if err := os.MkdirAll(dir+"/"+d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pk, err := x509.MarshalPKCS8PrivateKey(theirs)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(dir+"/x509ca/ca.pem", "CERTIFICATE", ca.cert.Raw)
	write(dir+"/x509/right.pem", "CERTIFICATE", ca.issueAt(t, "right.example", theirs, time.Now()))
	write(dir+"/private/right.pem", "PRIVATE KEY", pk)
	t.Setenv("SWANCTL_DIR", dir)
}

// traffic sends n datagrams each way between the protected subnets and
// waits until all have arrived, counted on both sides.
func (e *interop) traffic(n int) {
	e.t.Helper()
	from, to := e.fromSW.Load(), e.toSW.Load()
	_, swNATT := netip.AddrPortFrom(e.swIP, 500), netip.AddrPortFrom(e.swIP, 4500)
	deadline := time.Now().Add(15 * time.Second)
	sent := 0
	for e.fromSW.Load() < from+int64(n) || e.toSW.Load() < to+int64(n) {
		if time.Now().After(deadline) {
			e.t.Fatalf("traffic: %d of %d datagrams from charon arrived, %d of %d to charon\n%s",
				e.fromSW.Load()-from, n, e.toSW.Load()-to, n, e.charon.Swanctl(e.t, "--list-sas"))
		}
		// libipsec's TUN route may need a moment after a CHILD SA appears;
		// keep sending until n arrived each way (duplicates are fine).
		if sent < 4*n {
			for i := 0; i < n; i++ {
				if _, err := e.swConn.WriteToUDPAddrPort([]byte("from charon"), netip.AddrPortFrom(ourHost, 4000)); err != nil {
					e.t.Fatalf("send in charon's namespace: %v", err)
				}
				e.mu.Lock()
				sa := e.out[e.current]
				e.mu.Unlock()
				pkt, err := sa.SealESP(nil, ipv4UDPTo(ourHost, swHost, swPort, []byte("from go")), 4)
				if err != nil {
					e.t.Fatal(err)
				}
				if err := e.ep.SendESP(swNATT, pkt); err != nil {
					e.t.Fatal(err)
				}
			}
			sent += n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ipv4UDPTo(src, dst netip.Addr, dport uint16, payload []byte) []byte {
	p := ipv4UDP(src, dst, payload)
	binary.BigEndian.PutUint16(p[22:], dport)
	return p
}

func (e *interop) count(k EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return countEvents(e.events, k)
}

func (e *interop) waitEvent(k EventKind, n int) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.count(k) < n {
		if time.Now().After(deadline) {
			e.mu.Lock()
			ev := kinds(e.events)
			errs := errOf(e.events)
			e.mu.Unlock()
			log, _ := os.ReadFile(e.charon.LogPath())
			e.t.Fatalf("waiting for %d x %v; events %v, errors %v\ncharon log:\n%s", n, k, ev, errs, lastLines(string(log), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// session runs f on our session.
func (e *interop) session(f func(now time.Time, s *Session)) {
	e.t.Helper()
	e.mu.Lock()
	spi := e.spi
	e.mu.Unlock()
	if err := e.ep.Session(e.ctx, spi, f); err != nil {
		e.t.Fatal(err)
	}
}

// swSAs returns charon's view of its SAs.
func (e *interop) swSAs() string { return e.charon.Swanctl(e.t, "--list-sas") }

// TestInteropPSK: IKEv2 with PSK in both directions (our initiator with
// charon responding, charon initiating to our responder), for X25519,
// ECP-256 and MODP-2048 with AES-GCM and AES-CBC+HMAC-SHA2 IKE proposals,
// and a tunnel-mode CHILD SA over UDP 4500 carrying datagrams both ways,
// counted on both sides.
func TestInteropPSK(t *testing.T) {
	for _, c := range []struct{ ike, esp string }{
		{"aes256gcm16-prfsha256-x25519", "aes256gcm16"},
		{"aes128gcm16-prfsha256-ecp256", "aes128gcm16"},
		{"aes128-sha256-modp2048", "aes128-sha256"},
		{"aes256-sha384-x25519", "aes256-sha256"},
		{"chacha20poly1305-prfsha256-x25519", "aes256gcm16"},
		{"aes256gcm16-prfsha512-modp3072", "aes128gcm16"}, // libipsec has no ESN
	} {
		for _, charonInitiates := range []bool{false, true} {
			name := c.ike + "/we-initiate"
			if charonInitiates {
				name = c.ike + "/charon-initiates"
			}
			t.Run(name, func(t *testing.T) {
				e := newInterop(t, interopOpts{ike: c.ike, esp: c.esp, charonInitiates: charonInitiates})
				e.traffic(5)
				if sas := e.swSAs(); !strings.Contains(sas, "ESTABLISHED") || !strings.Contains(sas, "INSTALLED") {
					t.Fatalf("charon's SAs:\n%s", sas)
				}
			})
		}
	}
}

// TestInteropRekeyChild rekeys the CHILD SA with PFS (a new X25519 or
// MODP-2048 exchange), once from our side and once from charon's, with
// traffic before and after each rekey; the old SAs are deleted on both
// sides.
func TestInteropRekeyChild(t *testing.T) {
	for _, c := range []struct{ ike, esp string }{
		{"aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519"},
		{"aes128-sha256-modp2048", "aes128-sha256-modp2048"},
	} {
		for _, charonInitiates := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/charon-initiated-%v", c.esp, charonInitiates), func(t *testing.T) {
				e := newInterop(t, interopOpts{ike: c.ike, esp: c.esp, charonInitiates: charonInitiates})
				e.traffic(3)
				e.session(func(now time.Time, s *Session) {
					if err := s.RekeyChild(now, s.ChildSAs()[0].InboundSPI); err != nil {
						t.Error(err)
					}
				})
				e.waitEvent(EventChildRekeyed, 1)
				e.waitEvent(EventChildDeleted, 1)
				e.traffic(3)
				e.charon.Swanctl(t, "--rekey", "--child", "net")
				e.waitEvent(EventChildRekeyed, 2)
				e.waitEvent(EventChildDeleted, 2)
				e.traffic(3)
				e.mu.Lock()
				for _, ev := range e.events {
					if ev.Kind == EventChildRekeyed && ev.Child.PFS == isakmp.GroupNone {
						t.Errorf("rekey without PFS: %+v", ev.Child)
					}
				}
				e.mu.Unlock()
				if sas := e.swSAs(); strings.Count(sas, "INSTALLED") != 1 {
					t.Fatalf("charon should have exactly one CHILD SA:\n%s", sas)
				}
			})
		}
	}
}

// TestInteropRekeyIKE rekeys the IKE SA from our side and from charon's;
// the CHILD SA keeps carrying traffic, and a CHILD SA rekey over the new
// IKE SA works.
func TestInteropRekeyIKE(t *testing.T) {
	for _, charonInitiates := range []bool{false, true} {
		t.Run(fmt.Sprintf("charon-initiated-%v", charonInitiates), func(t *testing.T) {
			e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha384-ecp256", esp: "aes256gcm16-ecp256", charonInitiates: charonInitiates})
			e.traffic(3)
			e.session(func(now time.Time, s *Session) {
				if err := s.RekeyIKE(now); err != nil {
					t.Error(err)
				}
			})
			e.waitEvent(EventIKERekeyed, 1)
			e.traffic(3)
			e.charon.Swanctl(t, "--rekey", "--ike", "gw")
			e.waitEvent(EventIKERekeyed, 2)
			e.traffic(3)
			e.charon.Swanctl(t, "--rekey", "--child", "net")
			e.waitEvent(EventChildRekeyed, 1)
			e.traffic(3)
			if sas := e.swSAs(); strings.Count(sas, "ESTABLISHED") != 1 {
				t.Fatalf("charon should have exactly one IKE SA:\n%s", sas)
			}
			if e.count(EventIKEDown) != 0 {
				t.Fatal("IKE SA went down")
			}
		})
	}
}

// TestInteropDPD: charon's liveness checks (dpd_delay) are answered, ours
// (DPDInterval) are answered by charon, and when charon dies our side
// declares the peer dead after its retransmissions.
func TestInteropDPD(t *testing.T) {
	t.Run("charon-checks", func(t *testing.T) {
		e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-x25519", esp: "aes256gcm16", swExtra: "dpd_delay = 1s"})
		var before, after Stats
		e.session(func(_ time.Time, s *Session) { before = s.Stats() })
		time.Sleep(2500 * time.Millisecond)
		e.session(func(_ time.Time, s *Session) { after = s.Stats() })
		if !e.charon.WaitLog("sending DPD request", time.Second) {
			t.Fatal("charon sent no DPD request")
		}
		if after.Received-before.Received < 2 || after.Sent-before.Sent < 2 {
			t.Fatalf("charon's liveness checks not answered: before %+v after %+v", before, after)
		}
		if sas := e.swSAs(); !strings.Contains(sas, "ESTABLISHED") {
			t.Fatalf("charon:\n%s", sas)
		}
		e.traffic(2)
	})
	t.Run("our-checks-and-dead-peer", func(t *testing.T) {
		e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-x25519", esp: "aes256gcm16",
			mutate: func(c *Config) {
				c.DPDInterval = 500 * time.Millisecond
				c.RetransmitTimeout = 500 * time.Millisecond
				c.RetransmitBase = 1.2
				c.RetransmitTries = 3
			}})
		var id0, id1 uint32
		e.session(func(_ time.Time, s *Session) { id0 = s.sa.nextReqID })
		time.Sleep(2 * time.Second)
		e.session(func(_ time.Time, s *Session) { id1 = s.sa.nextReqID })
		if id1-id0 < 2 || e.count(EventPeerDead) != 0 {
			t.Fatalf("our liveness checks: message IDs %d -> %d, events %d dead", id0, id1, e.count(EventPeerDead))
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

// TestInteropDelete deletes the CHILD SA and then the IKE SA, from each
// side.
func TestInteropDelete(t *testing.T) {
	for _, ours := range []bool{true, false} {
		t.Run(fmt.Sprintf("we-delete-%v", ours), func(t *testing.T) {
			e := newInterop(t, interopOpts{ike: "aes128-sha256-x25519", esp: "aes128-sha256", charonInitiates: !ours})
			e.traffic(2)
			if ours {
				e.session(func(now time.Time, s *Session) {
					if err := s.DeleteChild(now, s.ChildSAs()[0].InboundSPI); err != nil {
						t.Error(err)
					}
				})
			} else {
				e.charon.Swanctl(t, "--terminate", "--child", "net")
			}
			e.waitEvent(EventChildDeleted, 1)
			if sas := e.swSAs(); strings.Contains(sas, "INSTALLED") || !strings.Contains(sas, "ESTABLISHED") {
				t.Fatalf("after the CHILD delete charon has:\n%s", sas)
			}
			if ours {
				e.session(func(now time.Time, s *Session) { s.Close(now) })
			} else {
				e.charon.Swanctl(t, "--terminate", "--ike", "gw")
			}
			e.waitEvent(EventIKEDown, 1)
			deadline := time.Now().Add(5 * time.Second)
			for strings.Contains(e.swSAs(), "gw:") {
				if time.Now().After(deadline) {
					t.Fatalf("charon still has the IKE SA:\n%s", e.swSAs())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestInteropCertificates authenticates with ECDSA (P-256) and RSA (2048)
// certificates from a common CA, RFC 7427 signatures, in both directions.
func TestInteropCertificates(t *testing.T) {
	for _, kind := range []string{"ecdsa", "rsa"} {
		for _, charonInitiates := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/charon-initiates-%v", kind, charonInitiates), func(t *testing.T) {
				e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-ecp256", esp: "aes256gcm16",
					certs: kind, charonInitiates: charonInitiates})
				e.traffic(3)
				sas := e.swSAs()
				if !strings.Contains(sas, "ESTABLISHED") {
					t.Fatalf("charon:\n%s", sas)
				}
				e.mu.Lock()
				up := findEvent(e.events, EventIKEUp)
				e.mu.Unlock()
				if string(up.IKE.RemoteID.Data) != "right.example" {
					t.Fatalf("peer identity %v", up.IKE.RemoteID)
				}
			})
		}
	}
}

// TestInteropSignatureHash: with Config.SignatureKey our side signs with
// the strongest hash in charon's SIGNATURE_HASH_ALGORITHMS (RFC 7427
// section 4), SHA2-512, and charon verifies it, as its log says.
func TestInteropSignatureHash(t *testing.T) {
	for _, c := range []struct{ kind, scheme string }{
		{"ecdsa", "ECDSA_WITH_SHA512_DER"}, {"rsa", "RSA_EMSA_PKCS1_SHA2_512"},
	} {
		for _, charonInitiates := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/charon-initiates-%v", c.kind, charonInitiates), func(t *testing.T) {
				e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-ecp256", esp: "aes256gcm16",
					certs: c.kind, signatureKey: true, charonInitiates: charonInitiates})
				e.traffic(1)
				want := "authentication of 'left.example' with " + c.scheme + " successful"
				if !e.charon.WaitLog(want, 10*time.Second) {
					log, _ := os.ReadFile(e.charon.LogPath())
					t.Fatalf("charon did not log %q:\n%s", want, lastLines(string(log), 30))
				}
			})
		}
	}
}

// TestInteropInitiatorAuthFailed: charon accepts our AUTH, but we hold
// another key for charon, so its AUTH does not verify. We report that in
// a protected INFORMATIONAL with N(AUTHENTICATION_FAILED) (RFC 7296
// 2.21.2); charon parses it and deletes its IKE SA.
func TestInteropInitiatorAuthFailed(t *testing.T) {
	e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-x25519", esp: "aes256gcm16", noWait: true,
		mutate: func(cfg *Config) {
			store := auth.NewPSKStore(auth.PSKOptions{})
			if err := store.Add(auth.FQDN("right.example"), []byte("not the key charon uses, but long")); err != nil {
				t.Fatal(err)
			}
			cfg.PeerAuth = PSKPeers(store)
		}})
	e.waitEvent(EventAuthFailed, 1)
	e.waitEvent(EventIKEDown, 1)
	if !e.charon.WaitLog("INFORMATIONAL request 2 [ N(AUTH_FAILED) ]", 10*time.Second) {
		log, _ := os.ReadFile(e.charon.LogPath())
		t.Fatalf("charon did not receive our AUTHENTICATION_FAILED:\n%s", lastLines(string(log), 30))
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Contains(e.swSAs(), "gw:") {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(e.charon.LogPath())
			t.Fatalf("charon keeps its IKE SA:\n%s\nlog:\n%s", e.swSAs(), lastLines(string(log), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e.count(EventChildUp) != 0 {
		t.Fatal("CHILD SA installed despite the failed authentication")
	}
}

// TestInteropSimultaneousRekey makes CHILD SA rekeys from both sides
// cross on the wire (RFC 7296 2.8.1): our CREATE_CHILD_SA request is held
// back until charon's own rekey request has arrived and been answered,
// then released. Both sides must settle on one CHILD SA, the one the nonce
// rule keeps, and it must carry traffic. Repeated to see both outcomes of
// the rule.
func TestInteropSimultaneousRekey(t *testing.T) {
	e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-x25519", esp: "aes256gcm16-x25519",
		mutate: func(c *Config) { c.RetransmitTimeout = 5 * time.Second }})
	e.traffic(2)
	var held [][]byte
	var holding atomic.Bool
	// Called from the session's worker, as e.session's functions are.
	e.ep.setHoldIKE(func(msg []byte) bool {
		var h isakmp.Header
		if !holding.Load() || h.Parse(msg) != nil || h.Exchange != isakmp.ExchangeCreateChildSA || h.Flags&isakmp.FlagResponse != 0 {
			return false
		}
		held = append(held, append([]byte(nil), msg...))
		return true
	})
	for round := 0; round < 4; round++ {
		ups := e.count(EventChildUp)
		holding.Store(true)
		e.session(func(now time.Time, s *Session) { s.RekeyChild(now, s.ChildSAs()[0].InboundSPI) })
		e.charon.Swanctl(t, "--rekey", "--child", "net")
		// We answered charon's request while ours was held: the collision
		// path reports the SA charon made as a new CHILD SA.
		e.waitEvent(EventChildUp, ups+1)
		holding.Store(false)
		var msgs [][]byte
		e.session(func(time.Time, *Session) { msgs, held = held, nil })
		if len(msgs) == 0 {
			t.Fatal("our rekey request was not held")
		}
		if _, err := e.ep.natt.WriteToUDPAddrPort(append([]byte{0, 0, 0, 0}, msgs[0]...), netip.AddrPortFrom(e.swIP, 4500)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			var n int
			var idle bool
			e.session(func(_ time.Time, s *Session) { n, idle = len(s.ChildSAs()), !busy(s) })
			sas := e.swSAs()
			if n == 1 && idle && strings.Count(sas, "INSTALLED") == 1 && !strings.Contains(sas, "REKEYED") && !strings.Contains(sas, "DELETING") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: we have %d CHILD SAs, charon:\n%s", round, n, sas)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var ours ChildSA
		e.session(func(_ time.Time, s *Session) { ours = s.ChildSAs()[0] })
		if sas := e.swSAs(); !strings.Contains(sas, fmt.Sprintf("%08x", ours.InboundSPI)) {
			t.Fatalf("round %d: charon does not have our survivor %08x:\n%s", round, ours.InboundSPI, sas)
		}
		e.traffic(2)
	}
}

// TestInteropSimultaneousIKERekey makes IKE SA rekeys from both sides
// cross (RFC 7296 2.8.2, 2.25.2). Our request is held back until charon's
// has arrived; in "peer-first" our answer goes out at once, so charon
// finishes first, deletes the old SA, and we adopt its new one; in
// "both-finish" our answer is held too and sent after our request, so
// both sides see both exchanges complete and must pick the same survivor
// by the nonce rule. Either way both end with one IKE SA that still
// carries the CHILD SA and can rekey it.
func TestInteropSimultaneousIKERekey(t *testing.T) {
	for _, both := range []bool{false, true} {
		name := "peer-first"
		if both {
			name = "both-finish"
		}
		t.Run(name, func(t *testing.T) { interopCrossingIKERekey(t, both) })
	}
}

func interopCrossingIKERekey(t *testing.T, holdAnswer bool) {
	e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-x25519", esp: "aes256gcm16",
		mutate: func(c *Config) { c.RetransmitTimeout = 5 * time.Second }})
	e.traffic(2)
	var requests, answers [][]byte
	var holding atomic.Bool
	// Called from the session's worker, as e.session's functions are.
	e.ep.setHoldIKE(func(msg []byte) bool {
		var h isakmp.Header
		if !holding.Load() || h.Parse(msg) != nil || h.Exchange != isakmp.ExchangeCreateChildSA {
			return false
		}
		if h.Flags&isakmp.FlagResponse == 0 {
			requests = append(requests, append([]byte(nil), msg...))
			return true
		}
		if holdAnswer {
			answers = append(answers, append([]byte(nil), msg...))
			return true
		}
		return false
	})
	holding.Store(true)
	e.session(func(now time.Time, s *Session) { s.RekeyIKE(now) })
	e.charon.Swanctl(t, "--rekey", "--ike", "gw")
	take := func(what *[][]byte) []byte {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var msg []byte
			e.session(func(time.Time, *Session) {
				if len(*what) > 0 {
					msg = (*what)[0]
					*what = nil
				}
			})
			if msg != nil {
				return msg
			}
			if time.Now().After(deadline) {
				t.Fatal("nothing was held")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	send := func(msg []byte) {
		if _, err := e.ep.natt.WriteToUDPAddrPort(append([]byte{0, 0, 0, 0}, msg...), netip.AddrPortFrom(e.swIP, 4500)); err != nil {
			t.Fatal(err)
		}
	}
	if holdAnswer {
		answer := take(&answers) // charon's request has been answered
		holding.Store(false)
		send(take(&requests))
		time.Sleep(100 * time.Millisecond)
		send(answer)
	} else {
		// Without holding the answer, charon's rekey completes first; wait
		// until charon has answered... (our answer went out already).
		time.Sleep(300 * time.Millisecond)
		holding.Store(false)
		send(take(&requests))
	}
	e.waitEvent(EventIKERekeyed, 1)
	deadline := time.Now().Add(20 * time.Second)
	for {
		sas := e.swSAs()
		var idle bool
		// A redundant SA that charon abandoned without a Delete may stay
		// retired on our side until it times out; it does not matter.
		e.session(func(_ time.Time, s *Session) { idle = !busy(s) && s.pending == nil })
		if idle && strings.Count(sas, "ESTABLISHED") == 1 && !strings.Contains(sas, "REKEYING") && !strings.Contains(sas, "DELETING") {
			break
		}
		if time.Now().After(deadline) {
			var st string
			e.session(func(now time.Time, s *Session) { st = timers(s, now) + fmt.Sprintf(" spis %x", s.localSPIs()) })
			t.Fatalf("idle %v; ours: %s\ncharon:\n%s", idle, st, sas)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var spiI, spiR [8]byte
	e.session(func(_ time.Time, s *Session) { spiI, spiR = s.SPIs() })
	if sas := e.swSAs(); !strings.Contains(sas, fmt.Sprintf("%x_i", spiI[:])) || !strings.Contains(sas, fmt.Sprintf("%x_r", spiR[:])) {
		t.Fatalf("charon's IKE SA is not ours (%x/%x):\n%s", spiI, spiR, sas)
	}
	e.traffic(2)
	e.charon.Swanctl(t, "--rekey", "--child", "net")
	e.waitEvent(EventChildRekeyed, 1)
	e.traffic(2)
	if e.count(EventIKEDown) != 0 || e.count(EventIKERekeyed) != 1 {
		t.Fatalf("events: %d down, %d rekeyed", e.count(EventIKEDown), e.count(EventIKERekeyed))
	}
}
