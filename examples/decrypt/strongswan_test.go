package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/sys/unix"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/internal/swtest"
	"github.com/ipsecgo/ipsec/isakmp"
)

// The decryptor checked on traffic we did not produce: two strongSwan
// charons (internal/swtest, one per network namespace) negotiate IKEv2
// and carry UDP datagrams through libipsec's userspace ESP (in UDP 4500,
// INTEROP.md); tcpdump captures the veth; the decryptor reads the capture
// with the keys from the initiator charon's log at ike/chd level 4.

func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
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

// startTcpdump captures side 0's veth of p into path until the returned
// function is called. --immediate-mode: otherwise packets wait in the
// kernel buffer and are lost when tcpdump is interrupted.
func startTcpdump(t *testing.T, p *swtest.Pair, path string) func() {
	tcpdump := swtest.RequireTcpdump(t)
	cmd := exec.Command("ip", "netns", "exec", p.NS[0], tcpdump, "-Z", "root", "--immediate-mode", "-i", p.Veth[0],
		"-U", "-n", "-s", "0", "-w", path, "udp")
	var stderr lockedBuffer
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

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const swConf = `connections {
	gw {
		version = 2
		local_addrs = %s
		remote_addrs = %s
		encap = yes
		proposals = %s
		local {
			auth = psk
			id = %s
		}
		remote {
			auth = psk
			id = %s
		}
		children {
			net {
				local_ts = %s
				remote_ts = %s
				esp_proposals = %s
				mode = tunnel
				start_action = none
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = left.test
		id-2 = right.test
		secret = "decrypt test pre-shared key"
	}
}
`

func TestDecryptStrongSwan(t *testing.T) {
	swtest.Require(t)
	swtest.RequireTcpdump(t)
	for _, c := range []struct{ name, ike, esp string }{
		{"aes-gcm", "aes256gcm16-prfsha256-x25519", "aes256gcm16"},
		{"aes-cbc-sha256", "aes128-sha256-x25519", "aes128-sha256"},
	} {
		t.Run(c.name, func(t *testing.T) { testDecryptStrongSwan(t, c.ike, c.esp) })
	}
}

func testDecryptStrongSwan(t *testing.T, ikeProps, espProps string) {
	p := swtest.NewPair(t)
	nets := [2]string{"10.96.1.0/24", "10.96.2.0/24"}
	hosts := [2]netip.Addr{netip.MustParseAddr("10.96.1.1"), netip.MustParseAddr("10.96.2.1")}
	p.AddAddr(t, 0, hosts[0].String()+"/24", "lo")
	p.AddAddr(t, 1, hosts[1].String()+"/24", "lo")
	opts := swtest.Options{LogLevels: "default = 1\n\t\t\tike = 4\n\t\t\tchd = 4\n\t\t\tcfg = 1"}
	right := p.StartCharon(t, 1, opts)
	left := p.StartCharon(t, 0, opts)
	dir := t.TempDir()
	capPath := filepath.Join(dir, "strongswan.pcap")
	stop := startTcpdump(t, p, capPath)
	right.Load(t, fmt.Sprintf(swConf, p.Addr[1], p.Addr[0], ikeProps, "right.test", "left.test", nets[1], nets[0], espProps))
	left.Load(t, fmt.Sprintf(swConf, p.Addr[0], p.Addr[1], ikeProps, "left.test", "right.test", nets[0], nets[1], espProps))
	left.Swanctl(t, "--initiate", "--child", "net")

	// UDP datagrams both ways through the tunnel.
	const perSide = 4
	var conns [2]*net.UDPConn
	for i := range 2 {
		if err := inNetns(p.NS[i], func() error {
			var err error
			conns[i], err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(hosts[i], 7000)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
	}
	for k := range perSide {
		for i := range 2 {
			msg := fmt.Sprintf("through strongSwan %d from side %d", k, i)
			if _, err := conns[i].WriteToUDPAddrPort([]byte(msg), netip.AddrPortFrom(hosts[1-i], 7000)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	stop()

	var stdout bytes.Buffer
	out := filepath.Join(dir, "inner.pcap")
	if err := run(capPath, left.LogPath(), out, "", true, &stdout); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	text := stdout.String()
	logKeys, _ := os.ReadFile(left.LogPath())
	d := decryptFiles(t, capPath, left.LogPath())
	var espPackets, icv uint64
	for _, s := range d.Summary() {
		espPackets += s.Packets
		icv += s.ICVFailures + s.Replays
	}
	if espPackets != 2*perSide || icv != 0 {
		t.Fatalf("decrypted %d ESP packets (want %d), %d ICV failures or replays:\n%s\nlog has %d bytes", espPackets, 2*perSide, icv, text, len(logKeys))
	}
	authSeen := 0
	for _, m := range d.IKE {
		if m.Exchange.String() == "IKE_AUTH" {
			authSeen++
			if !strings.Contains(m.String(), "AUTH") || !strings.Contains(m.String(), "TSi") {
				t.Errorf("IKE_AUTH decrypted without its payloads: %v", m)
			}
		}
	}
	if authSeen < 2 {
		t.Fatalf("%d IKE_AUTH messages decrypted:\n%s", authSeen, text)
	}
	t.Logf("decrypt -v output:\n%s", text)
	inner, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if !bytes.Contains(inner, fmt.Appendf(nil, "through strongSwan %d from side %d", perSide-1, i)) {
			t.Fatalf("inner pcap lacks side %d's datagrams:\n%s", i, text)
		}
	}
}

// decryptFiles runs the decryptor on files and returns it.
func decryptFiles(t *testing.T, capPath, keyPath string) *Decryptor {
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	l, err := loadKeys(kb)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecryptor(l)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(capPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := decryptCapture(d, f, func(gopacket.CaptureInfo, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDecryptStrongSwanAndUs: strongSwan as one side and our ike.Session
// (over its own sockets, NAT-T forced) as the other; the capture decrypts
// with charon's keys: the IKE_AUTH exchange, the ESP we seal and the ESP
// charon's libipsec seals.
func TestDecryptStrongSwanAndUs(t *testing.T) {
	swtest.Require(t)
	swtest.RequireTcpdump(t)
	p := swtest.NewPair(t)
	ourHost, swHost := netip.MustParseAddr("10.96.1.1"), netip.MustParseAddr("10.96.2.1")
	p.AddAddr(t, 1, swHost.String()+"/24", "lo")
	right := p.StartCharon(t, 1, swtest.Options{LogLevels: "default = 1\n\t\t\tike = 4\n\t\t\tchd = 4\n\t\t\tcfg = 1"})
	right.Load(t, fmt.Sprintf(swConf, p.Addr[1], p.Addr[0], "aes128-sha256-x25519", "right.test", "left.test",
		"10.96.2.0/24", "10.96.1.0/24", "aes128gcm16"))
	capPath := filepath.Join(t.TempDir(), "mixed.pcap")
	stop := startTcpdump(t, p, capPath)

	// Our side: sockets on 500 and 4500 in namespace 0.
	var ikeConn, nattConn, swConn *net.UDPConn
	if err := inNetns(p.NS[0], func() error {
		var err error
		if ikeConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Addr[0], 500))); err != nil {
			return err
		}
		nattConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Addr[0], 4500)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ikeConn.Close()
	defer nattConn.Close()
	if err := inNetns(p.NS[1], func() error {
		var err error
		swConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(swHost, 7000)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer swConn.Close()
	type dgram struct {
		natt bool
		data []byte
	}
	in := make(chan dgram, 16)
	for _, c := range []*net.UDPConn{ikeConn, nattConn} {
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				in <- dgram{c == nattConn, bytes.Clone(buf[:n])}
			}
		}()
	}
	cfg, err := sessionConfig("aes128-sha256-x25519", "aes128gcm16", "left.test", "right.test", "10.96.1.0/24", "10.96.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ForceUDPEncap = true // libipsec only does ESP in UDP (INTEROP.md)
	s, err := ike.NewInitiator(cfg, netip.AddrPortFrom(p.Addr[0], 500), netip.AddrPortFrom(p.Addr[1], 500), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var child *ike.ChildSA
	flush := func() {
		local, remote := s.Path()
		if s.UDPEncap() && local.Port() == 500 && !s.Established() {
			local, remote = netip.AddrPortFrom(local.Addr(), 4500), netip.AddrPortFrom(remote.Addr(), 4500)
			s.SetPath(local, remote) // RFC 7296 2.23
		}
		for _, d := range s.Datagrams() {
			if local.Port() == 4500 {
				_, _ = nattConn.WriteToUDPAddrPort(append(make([]byte, 4), d...), remote)
			} else {
				_, _ = ikeConn.WriteToUDPAddrPort(d, remote)
			}
		}
		for _, ev := range s.Events() {
			if ev.Kind == ike.EventChildUp {
				child = ev.Child
			}
		}
	}
	flush()
	deadline := time.After(15 * time.Second)
	for child == nil {
		select {
		case d := <-in:
			data := d.data
			if d.natt {
				if len(data) < 4 || !bytes.Equal(data[:4], make([]byte, 4)) {
					continue
				}
				data = data[4:]
			}
			s.Receive(time.Now(), data)
			flush()
		case <-deadline:
			t.Fatal("no CHILD SA with charon")
		}
	}
	out, err := esp.NewSA(esp.Config{SPI: child.OutboundSPI, Cipher: esp.Cipher(child.Encr.ID), CipherKey: child.OutboundEncKey,
		Integrity: esp.Integrity(child.Integ), IntegrityKey: child.OutboundIntegKey, Mode: esp.Tunnel,
		TunnelSrc: child.LocalAddr, TunnelDst: child.RemoteAddr})
	if err != nil {
		t.Fatal(err)
	}
	// Datagrams both ways until charon's side has received ours and
	// charon's replies have crossed the capture.
	const n = 3
	got := make(chan struct{}, 64)
	go func() {
		buf := make([]byte, 2048)
		for {
			k, _, err := swConn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if bytes.HasPrefix(buf[:k], []byte("from us")) {
				got <- struct{}{}
			}
		}
	}()
	received := 0
	for k := 0; received < n && k < 100; k++ {
		pkt := innerUDP(t, ourHost, swHost, "from us")
		binary.BigEndian.PutUint16(pkt[22:], 7000)
		pkt[26], pkt[27] = 0, 0 // no UDP checksum: the port changed
		b, err := out.SealESP(nil, pkt, 4)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nattConn.WriteToUDPAddrPort(b, netip.AddrPortFrom(p.Addr[1], 4500)); err != nil {
			t.Fatal(err)
		}
		if _, err := swConn.WriteToUDPAddrPort([]byte("from charon"), netip.AddrPortFrom(ourHost, 7000)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			received++
		case <-time.After(100 * time.Millisecond):
		}
	}
	if received < n {
		t.Fatalf("charon delivered %d of our datagrams", received)
	}
	time.Sleep(300 * time.Millisecond)
	stop()

	d := decryptFiles(t, capPath, right.LogPath())
	var fromUs, fromCharon uint64
	for _, sa := range d.Summary() {
		if sa.ICVFailures+sa.Replays != 0 {
			t.Errorf("SA %08x: %+v", sa.SPI, sa.Stats)
		}
		switch sa.SPI {
		case child.OutboundSPI:
			fromUs = sa.Packets
		case child.InboundSPI:
			fromCharon = sa.Packets
		}
	}
	if fromUs < n || fromCharon < n {
		var sum bytes.Buffer
		d.WriteSummary(&sum)
		t.Fatalf("decrypted %d ESP packets from us and %d from charon, want at least %d each:\n%s", fromUs, fromCharon, n, sum.String())
	}
	auth := 0
	for _, m := range d.IKE {
		if m.Exchange == isakmp.ExchangeIKEAuth && strings.Contains(m.String(), "AUTH") {
			auth++
		}
	}
	if auth != 2 {
		t.Fatalf("%d IKE_AUTH messages decrypted: %v", auth, d.IKE)
	}
}

// sessionConfig is a PSK configuration for our side of the strongSwan test.
func sessionConfig(ikeProps, espProps, local, remote, lnet, rnet string) (*ike.Config, error) {
	secret := []byte("decrypt test pre-shared key")
	key, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		return nil, err
	}
	store := auth.NewPSKStore(auth.PSKOptions{})
	if err := store.Add(auth.FQDN(remote), secret); err != nil {
		return nil, err
	}
	ip, err := ike.ParseProposals(ikeProps, isakmp.ProtocolIKE)
	if err != nil {
		return nil, err
	}
	ep, err := ike.ParseProposals(espProps, isakmp.ProtocolESP)
	if err != nil {
		return nil, err
	}
	return &ike.Config{LocalID: auth.FQDN(local), RemoteID: auth.FQDN(remote), Auth: key, PeerAuth: ike.PSKPeers(store),
		IKEProposals: ip, ChildProposals: ep, RetransmitTimeout: time.Second,
		LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(lnet))},
		RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netip.MustParsePrefix(rnet))}}, nil
}
