package ike

import (
	"bytes"
	"context"

	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike/keylog"
	"github.com/ipsecgo/ipsec/internal/swtest"
	"github.com/ipsecgo/ipsec/internal/testenv"
)

// The key log checked by an independent reader: two of our sessions in two
// network namespaces (an internal/swtest pair) negotiate over real UDP
// sockets, exchange ESP over a raw socket (protocol 50) or inside UDP 4500,
// tcpdump captures the veth, and tshark 4.0 decrypts the capture with
// Wireshark tables made from the key log by package keylog.

// ktSide is one side of the namespace pair: its sockets and session.
type ktSide struct {
	ns        string
	addr      netip.Addr
	ike, natt *net.UDPConn
	raw       *net.IPConn
	s         *Session
	cfg       *Config
	initiator bool
	events    []Event
}

type ktDatagram struct {
	side int
	natt bool
	from netip.AddrPort
	data []byte
}

// ktNet is the pair of sides and the datagrams they received.
type ktNet struct {
	t     *testing.T
	pair  *swtest.Pair
	sides [2]*ktSide
	in    chan ktDatagram
}

func newKTNet(t *testing.T, icfg, rcfg *Config) *ktNet {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "iproute2")
	swtest.RequireTcpdump(t)
	n := &ktNet{t: t, in: make(chan ktDatagram, 64)}
	n.pair = swtest.NewPair(t)
	for i, cfg := range []*Config{icfg, rcfg} {
		sd := &ktSide{ns: n.pair.NS[i], addr: n.pair.Addr[i], cfg: cfg, initiator: i == 0}
		ktTxOff(n.pair, i)
		err := inNetns(sd.ns, func() error {
			var err error
			if sd.ike, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(sd.addr, 500))); err != nil {
				return err
			}
			if sd.natt, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(sd.addr, 4500))); err != nil {
				return err
			}
			sd.raw, err = net.ListenIP("ip4:50", &net.IPAddr{IP: sd.addr.AsSlice()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*net.UDPConn{sd.ike, sd.natt} {
			t.Cleanup(func() { c.Close() })
			go func() {
				buf := make([]byte, 65536)
				for {
					k, from, err := c.ReadFromUDPAddrPort(buf)
					if err != nil {
						return
					}
					n.in <- ktDatagram{side: i, natt: c == sd.natt, from: from, data: bytes.Clone(buf[:k])}
				}
			}()
		}
		t.Cleanup(func() { sd.raw.Close() })
		n.sides[i] = sd
	}
	return n
}

// capture runs tcpdump on side 0's veth into path until the returned
// function is called.
func (n *ktNet) capture(path string) func() { return startKTCapture(n.t, n.pair, path) }

// startKTCapture captures UDP and ESP on side 0's veth of pair into path.
func startKTCapture(t *testing.T, pair *swtest.Pair, path string) func() {
	tcpdump := swtest.RequireTcpdump(t)
	// --immediate-mode: without it packets wait in the kernel buffer for
	// up to a second and are lost when tcpdump is interrupted. -Z root: Debian's tcpdump otherwise drops to its own user, which
	// cannot write into the test's private temporary directory.
	cmd := exec.Command("ip", "netns", "exec", pair.NS[0], tcpdump, "-Z", "root", "-i", pair.Veth[0],
		"--immediate-mode", "-U", "-n", "-s", "0", "-w", path, "udp or ip proto 50")
	var stderr ktBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("tcpdump: %s", stderr.String())
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "listening on"); {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return stop
}

// ktBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type ktBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *ktBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *ktBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ktTxOff turns transmit checksum offload off on side i's veth: tshark
// checks the outer UDP checksums, which veth offload leaves unfilled
// (INTEROP.md).
func ktTxOff(pair *swtest.Pair, i int) {
	if ethtool, err := exec.LookPath("ethtool"); err == nil {
		_ = exec.Command("ip", "netns", "exec", pair.NS[i], ethtool, "-K", pair.Veth[i], "tx", "off").Run()
	}
}

// flush sends what the session of sd queued: on port 4500 with the non-ESP
// marker once the session has moved there (RFC 3948 2.2, RFC 7296 2.23).
func (n *ktNet) flush(sd *ktSide) {
	s := sd.s
	sd.events = append(sd.events, s.Events()...)
	dgs := s.Datagrams()
	local, remote := s.Path()
	if sd.initiator && s.UDPEncap() && local.Port() == 500 && !s.Established() {
		// RFC 7296 2.23: the initiator moves to 4500 after IKE_SA_INIT.
		local, remote = netip.AddrPortFrom(local.Addr(), 4500), netip.AddrPortFrom(remote.Addr(), 4500)
		s.SetPath(local, remote)
	}
	for _, d := range dgs {
		var err error
		if local.Port() == 4500 {
			_, err = sd.natt.WriteToUDPAddrPort(append(make([]byte, 4), d...), remote)
		} else {
			_, err = sd.ike.WriteToUDPAddrPort(d, remote)
		}
		if err != nil {
			n.t.Fatal(err)
		}
	}
}

// handshake runs the initiator until both sides have a CHILD SA.
func (n *ktNet) handshake() (ci, cr *ChildSA) {
	t := n.t
	i, r := n.sides[0], n.sides[1]
	var err error
	i.s, err = NewInitiator(i.cfg, netip.AddrPortFrom(i.addr, 500), netip.AddrPortFrom(r.addr, 500), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n.flush(i)
	deadline := time.After(15 * time.Second)
	for ci == nil || cr == nil {
		select {
		case d := <-n.in:
			sd := n.sides[d.side]
			data := d.data
			if d.natt {
				if esp.Classify(data) != esp.KindIKE {
					continue
				}
				data = data[4:]
			}
			local := netip.AddrPortFrom(sd.addr, 500)
			if d.natt {
				local = netip.AddrPortFrom(sd.addr, 4500)
			}
			if sd.s == nil {
				if sd.s, err = Accept(sd.cfg, local, d.from, time.Now(), data); err != nil {
					t.Fatal(err)
				}
			} else {
				if d.natt {
					sd.s.SetPath(local, d.from)
				}
				sd.s.Receive(time.Now(), data)
			}
			n.flush(sd)
		case <-deadline:
			t.Fatalf("no CHILD SA: initiator events %v, responder events %v", kinds(i.events), kinds(r.events))
		}
		if ev := findEvent(i.events, EventChildUp); ev != nil {
			ci = ev.Child
		}
		if ev := findEvent(r.events, EventChildUp); ev != nil {
			cr = ev.Child
		}
	}
	return ci, cr
}

// ktInnerUDP builds an IPv4/UDP packet with valid checksums.
func ktInnerUDP(t *testing.T, src, dst netip.Addr, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Id: 7}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 47000} // decoded as data: tshark shows data.data
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sendESP seals count inner packets with sd's outbound SA of c and sends
// them to the peer: inside UDP when the CHILD SA is encapsulated, else
// as IP protocol 50.
func (n *ktNet) sendESP(sd *ktSide, c *ChildSA, src, dst netip.Addr, count int) {
	t := n.t
	_, out := espConfigs(c)
	sa, err := esp.NewSA(out)
	if err != nil {
		t.Fatal(err)
	}
	for k := range count {
		pkt := ktInnerUDP(t, src, dst, fmt.Appendf(nil, "keylog test datagram %d from %v", k, src))
		b, err := sa.SealESP(nil, pkt, 4)
		if err != nil {
			t.Fatal(err)
		}
		if c.EncapLocalPort != 0 {
			_, err = sd.natt.WriteToUDPAddrPort(b, netip.AddrPortFrom(c.RemoteAddr, c.EncapRemotePort))
		} else {
			_, err = sd.raw.WriteToIP(b, &net.IPAddr{IP: c.RemoteAddr.AsSlice()})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tshark runs tshark on capture with the Wireshark tables made from
// keyLog, in a throwaway configuration directory, and returns its output.
func tsharkDecrypt(t *testing.T, capture string, keyLog []byte, args ...string) string {
	t.Helper()
	tshark := testenv.NeedCommand(t, "tshark", "tshark")
	l, err := keylog.Parse(bytes.NewReader(keyLog))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	dir := filepath.Join(home, "wireshark")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var ikeTab, espTab bytes.Buffer
	if err := keylog.WriteIKEv2Table(&ikeTab, l); err != nil {
		t.Fatal(err)
	}
	if err := keylog.WriteESPTable(&espTab, l); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{keylog.IKEv2TableName: ikeTab.Bytes(), keylog.ESPTableName: espTab.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"-n", "-r", capture,
		"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE",
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}, args...)
	cmd := exec.CommandContext(ctx, tshark, full...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", full, err, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "UAT") || strings.Contains(s, "invalid") {
		t.Fatalf("tshark did not accept the tables:\n%s\nIKEv2 table:\n%s\nESP table:\n%s", s, ikeTab.String(), espTab.String())
	}
	return string(out)
}

func testKeyLogTshark(t *testing.T, ikeProps, espProps string, encap bool) {
	testenv.NeedCommand(t, "tshark", "tshark")
	var logI, logR bytes.Buffer
	icfg := pskConfig(t, true, ikeProps, espProps)
	rcfg := pskConfig(t, false, ikeProps, espProps)
	icfg.KeyLogWriter, rcfg.KeyLogWriter = &logI, &logR
	icfg.ForceUDPEncap = encap
	n := newKTNet(t, icfg, rcfg)
	capPath := filepath.Join(t.TempDir(), "keylog.pcap")
	stopCapture := n.capture(capPath)
	ci, cr := n.handshake()
	if (ci.EncapLocalPort != 0) != encap {
		t.Fatalf("CHILD SA encapsulation ports %d/%d, want encapsulation %v", ci.EncapLocalPort, ci.EncapRemotePort, encap)
	}
	const perSide = 3
	n.sendESP(n.sides[0], ci, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), perSide)
	n.sendESP(n.sides[1], cr, netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.1.0.1"), perSide)
	time.Sleep(300 * time.Millisecond)
	stopCapture()

	// Both sides logged the same SAs.
	li, err := keylog.Parse(bytes.NewReader(logI.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	lr, err := keylog.Parse(bytes.NewReader(logR.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.IKEv2) != 1 || len(lr.IKEv2) != 1 || len(li.Child) != 2 || len(lr.Child) != 2 {
		t.Fatalf("key logs: initiator %d IKE SAs and %d CHILD SA directions, responder %d and %d; want 1 and 2",
			len(li.IKEv2), len(li.Child), len(lr.IKEv2), len(lr.Child))
	}
	if a, b := keylog.AppendIKEv2(nil, &li.IKEv2[0]), keylog.AppendIKEv2(nil, &lr.IKEv2[0]); !bytes.Equal(a, b) {
		t.Fatalf("the two sides log different IKE SAs:\n%s%s", a, b)
	}
	if a, b := keylog.AppendChild(nil, &li.Child[0]), keylog.AppendChild(nil, &lr.Child[1]); !bytes.Equal(a, b) {
		t.Fatalf("initiator inbound and responder outbound differ:\n%s%s", a, b)
	}

	// IKE_AUTH (exchange type 35): both messages decrypted, with the
	// payloads RFC 7296 1.2 puts in them.
	auth := tsharkDecrypt(t, capPath, logI.Bytes(), "-Y", "isakmp.exchangetype == 35", "-V")
	for _, want := range []string{
		"Payload: Identification - Initiator", "Payload: Identification - Responder",
		"Payload: Authentication", "Payload: Security Association",
		"Payload: Traffic Selector - Initiator", "Payload: Traffic Selector - Responder",
		"initiator.example", "responder.example",
	} {
		if !strings.Contains(auth, want) {
			t.Errorf("tshark's IKE_AUTH dissection lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("tshark output:\n%s", lastLines(auth, 120))
	}

	// ESP: every packet decrypted, its ICV good, the inner IPv4 header
	// and UDP datagram with good checksums.
	fields := tsharkDecrypt(t, capPath, logI.Bytes(), "-d", "udp.port==47000,data", "-Y", "esp", "-T", "fields", "-E", "separator=|",
		"-e", "esp.spi", "-e", "esp.icv_good", "-e", "ip.src", "-e", "ip.dst",
		"-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "udp.dstport", "-e", "data.data")
	lines := strings.Split(strings.TrimSpace(fields), "\n")
	if len(lines) != 2*perSide {
		t.Fatalf("tshark shows %d ESP packets, want %d:\n%s", len(lines), 2*perSide, fields)
	}
	for _, line := range lines {
		f := strings.Split(line, "|")
		if len(f) != 8 {
			t.Fatalf("tshark line %q", line)
		}
		srcs, dsts := strings.Split(f[2], ","), strings.Split(f[3], ",")
		inner := len(srcs) == 2 && len(dsts) == 2 &&
			(srcs[1] == "10.1.0.1" && dsts[1] == "10.2.0.1" || srcs[1] == "10.2.0.1" && dsts[1] == "10.1.0.1")
		ipGood := f[4] == "1,1" // outer and inner header checksums (PROTO_CHECKSUM_E_GOOD)
		udpStatus := strings.Split(f[5], ",")
		udpGood := udpStatus[len(udpStatus)-1] == "1" && !strings.Contains(f[5], "0")
		ports := strings.Split(f[6], ",")
		if f[1] != "1" || !inner || !ipGood || !udpGood || ports[len(ports)-1] != "47000" ||
			!strings.Contains(string(ktDecodeHex(f[7])), "keylog test datagram") {
			t.Errorf("ESP packet not decrypted and verified: %s", line)
		}
	}
}

func ktDecodeHex(s string) []byte {
	var b []byte
	_, err := fmt.Sscanf(s, "%x", &b)
	if err != nil {
		return nil
	}
	return b
}

// TestKeyLogTsharkAESGCM: AES-GCM for IKE and ESP, ESP bare (protocol 50).
func TestKeyLogTsharkAESGCM(t *testing.T) {
	testKeyLogTshark(t, "aes256gcm16-prfsha256-x25519", "aes128gcm16", false)
}

// TestKeyLogTsharkAESCBC: AES-CBC with HMAC-SHA2 for IKE and ESP, ESP
// inside UDP 4500 (RFC 3948).
func TestKeyLogTsharkAESCBC(t *testing.T) {
	testKeyLogTshark(t, "aes128-sha256-prfsha256-x25519", "aes256-sha384", true)
}

// TestKeyLogTsharkStrongSwan: with strongSwan as the peer (the ike interop
// harness: charon with libipsec's userspace ESP in UDP 4500), our key log
// decrypts in tshark what charon sends as well as what we send: the
// CREATE_CHILD_SA exchange of a CHILD SA rekey (with its SA, nonce and
// TS payloads) and the ESP of the new CHILD SA both ways.
func TestKeyLogTsharkStrongSwan(t *testing.T) {
	testenv.NeedCommand(t, "tshark", "tshark")
	var keys ktBuffer
	e := newInterop(t, interopOpts{ike: "aes256gcm16-prfsha256-x25519", esp: "aes128-sha256",
		mutate: func(c *Config) { c.KeyLogWriter = &keys }})
	ktTxOff(e.pair, 0)
	ktTxOff(e.pair, 1)
	capPath := filepath.Join(t.TempDir(), "strongswan.pcap")
	stop := startKTCapture(t, e.pair, capPath)
	e.session(func(now time.Time, s *Session) {
		if err := s.RekeyChild(now, s.ChildSAs()[0].InboundSPI); err != nil {
			t.Error(err)
		}
	})
	e.waitEvent(EventChildRekeyed, 1)
	e.traffic(3)
	time.Sleep(300 * time.Millisecond)
	stop()

	keyLog := []byte(keys.String())
	cc := tsharkDecrypt(t, capPath, keyLog, "-Y", "isakmp.exchangetype == 36", "-V")
	for _, want := range []string{"Payload: Security Association", "Payload: Nonce",
		"Payload: Traffic Selector - Initiator", "Payload: Traffic Selector - Responder"} {
		if strings.Count(cc, want) < 2 {
			t.Errorf("tshark's CREATE_CHILD_SA dissection has %q fewer than twice (request and response)", want)
		}
	}
	if t.Failed() {
		t.Fatalf("key log:\n%s\ntshark output:\n%s", keyLog, lastLines(cc, 80))
	}
	fields := tsharkDecrypt(t, capPath, keyLog, "-Y", "esp", "-T", "fields", "-E", "separator=|",
		"-e", "esp.icv_good", "-e", "ip.src", "-e", "data.data")
	var fromCharon, fromUs int
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 || f[0] != "1" {
			t.Errorf("ESP packet not verified: %q", line)
			continue
		}
		switch {
		case strings.HasPrefix(f[1], e.swIP.String()+","+swHost.String()):
			fromCharon++
		case strings.HasPrefix(f[1], e.ourIP.String()+","+ourHost.String()):
			fromUs++
		}
	}
	if fromCharon < 3 || fromUs < 3 {
		t.Fatalf("tshark decrypted %d ESP packets from charon and %d from us, want 3 each:\n%s", fromCharon, fromUs, fields)
	}
}
