// Command quickstart shows the ESP datapath end to end, in one process and
// without root: two hosts exchange UDP packets protected by manually keyed
// ESP SAs, first in transport mode (host to host), then in tunnel mode
// (gateway to gateway), and print what happened: each SA's counters, a
// replayed and a forged packet being dropped, and the bytes ESP adds per
// packet for each suite.
//
//	go run ./examples/quickstart
package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"text/tabwriter"

	"github.com/ipsecgo/ipsec/esp"
)

// host is one end: an outbound SA for what it sends, an inbound SA for what
// it receives.
type host struct {
	name    string
	addr    netip.Addr
	out, in *esp.SA
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	fmt.Println("== Transport mode: host A <-> host B, AES-256-GCM-16")
	a, b, err := pairOfHosts(esp.Transport, esp.CipherAESGCM16, 36, esp.IntegNone, nil)
	if err != nil {
		return err
	}
	if err := exchange(a, b, 50, a.addr, b.addr); err != nil {
		return err
	}
	printSAs(a, b)

	fmt.Println("\n== Tunnel mode: gateway A <-> gateway B over UDP 4500 (NAT-T), AES-128-CBC + HMAC-SHA-256-128")
	gwA, gwB := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("203.0.113.1")
	a, b, err = pairOfHosts(esp.Tunnel, esp.CipherAESCBC, 16, esp.IntegHMACSHA256128, []netip.Addr{gwA, gwB})
	if err != nil {
		return err
	}
	// The hosts behind the gateways: 10.1.0.5 talks to 10.2.0.7.
	if err := exchange(a, b, 50, netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.2.0.7")); err != nil {
		return err
	}
	if err := attacks(a, b); err != nil {
		return err
	}
	printSAs(a, b)

	fmt.Println("\n== Bytes ESP adds per packet (IPv4; inner packet of 100 / 1400 bytes)")
	return overheadTable()
}

// pairOfHosts makes hosts A and B with one SA each way, keyed with random
// keys as IKE would. gws, in tunnel mode, are the gateways' addresses.
func pairOfHosts(mode esp.Mode, c esp.Cipher, keyLen int, integ esp.Integrity, gws []netip.Addr) (*host, *host, error) {
	a := &host{name: "A", addr: netip.MustParseAddr("192.0.2.1")}
	b := &host{name: "B", addr: netip.MustParseAddr("192.0.2.2")}
	if gws != nil {
		a.addr, b.addr = gws[0], gws[1]
	}
	mk := func(spi uint32, src, dst netip.Addr) (*esp.SA, *esp.SA, error) {
		cfg := esp.Config{SPI: spi, Cipher: c, CipherKey: random(keyLen),
			Integrity: integ, IntegrityKey: random(integ.KeySize()), Mode: mode}
		if mode == esp.Tunnel {
			cfg.TunnelSrc, cfg.TunnelDst = src, dst
			cfg.EncapSrcPort, cfg.EncapDstPort = 4500, 4500
		}
		out, err := esp.NewSA(cfg)
		if err != nil {
			return nil, nil, err
		}
		in, err := esp.NewSA(cfg)
		return out, in, err
	}
	var err error
	var bIn, aIn *esp.SA
	if a.out, bIn, err = mk(0xa0000001, a.addr, b.addr); err != nil {
		return nil, nil, err
	}
	if b.out, aIn, err = mk(0xb0000001, b.addr, a.addr); err != nil {
		return nil, nil, err
	}
	a.in, b.in = aIn, bIn
	return a, b, nil
}

// exchange sends n request/response pairs between the hosts and checks that
// every packet arrives intact.
func exchange(a, b *host, n int, src, dst netip.Addr) error {
	var wire, reply []byte
	for i := range n {
		req := udpPacket(src, dst, 40000, 7, fmt.Appendf(nil, "request %d", i))
		var err error
		if wire, err = a.out.Seal(wire[:0], req); err != nil {
			return err
		}
		got, err := b.in.Open(wire)
		if err != nil {
			return fmt.Errorf("host B could not open request %d: %w", i, err)
		}
		if string(got[28:]) != fmt.Sprintf("request %d", i) {
			return fmt.Errorf("request %d arrived changed", i)
		}
		resp := udpPacket(dst, src, 7, 40000, append([]byte("echo: "), got[28:]...))
		if reply, err = b.out.Seal(reply[:0], resp); err != nil {
			return err
		}
		if _, err := a.in.Open(reply); err != nil {
			return fmt.Errorf("host A could not open reply %d: %w", i, err)
		}
	}
	fmt.Printf("%d requests and %d replies crossed intact\n", n, n)
	return nil
}

// attacks replays one packet and forges another, and shows both dropped.
func attacks(a, b *host) error {
	pkt := udpPacket(netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.2.0.7"), 1, 2, []byte("once"))
	wire, err := a.out.Seal(nil, pkt)
	if err != nil {
		return err
	}
	replayed := append([]byte(nil), wire...)
	if _, err := b.in.Open(wire); err != nil {
		return err
	}
	_, err = b.in.Open(replayed)
	fmt.Printf("replayed packet:  %v\n", err)
	if !errors.Is(err, esp.ErrReplay) {
		return errors.New("replay was not detected")
	}
	forged, _ := a.out.Seal(nil, pkt)
	forged[len(forged)-1] ^= 1
	_, err = b.in.Open(forged)
	fmt.Printf("forged packet:    %v\n", err)
	if !errors.Is(err, esp.ErrAuthFailed) {
		return errors.New("forgery was not detected")
	}
	return nil
}

func printSAs(hosts ...*host) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "host\tdirection\tSPI\tmode\tpackets\tbytes\treplay drops\tICV failures\tmalformed\t")
	for _, h := range hosts {
		for _, d := range []struct {
			dir string
			sa  *esp.SA
		}{{"out", h.out}, {"in", h.in}} {
			s := d.sa.Stats()
			fmt.Fprintf(w, "%s\t%s\t%#08x\t%v\t%d\t%d\t%d\t%d\t%d\t\n", h.name, d.dir, d.sa.SPI(), d.sa.Mode(),
				s.Packets, s.Bytes, s.ReplayDrops, s.AuthFailures, s.Malformed)
		}
	}
	w.Flush()
}

// overheadTable seals one packet per suite and mode and prints how much
// longer it became.
func overheadTable() error {
	suites := []struct {
		name   string
		c      esp.Cipher
		keyLen int
		integ  esp.Integrity
	}{
		{"aes128gcm16", esp.CipherAESGCM16, 20, esp.IntegNone},
		{"aes256gcm16", esp.CipherAESGCM16, 36, esp.IntegNone},
		{"aes128gcm8", esp.CipherAESGCM8, 20, esp.IntegNone},
		{"chacha20poly1305", esp.CipherChaCha20Poly1305, 36, esp.IntegNone},
		{"aes128gmac (no encryption)", esp.CipherNullAuthAESGMAC, 20, esp.IntegNone},
		{"aes128-sha1", esp.CipherAESCBC, 16, esp.IntegHMACSHA196},
		{"aes128-sha256", esp.CipherAESCBC, 16, esp.IntegHMACSHA256128},
		{"aes256-sha512", esp.CipherAESCBC, 32, esp.IntegHMACSHA512256},
		{"aes128ctr-sha256", esp.CipherAESCTR, 20, esp.IntegHMACSHA256128},
	}
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "suite\ttransport 100\ttransport 1400\ttunnel 100\ttunnel 1400\ttunnel+UDP 100\ttunnel+UDP 1400\t")
	for _, s := range suites {
		fmt.Fprintf(w, "%s", s.name)
		for _, m := range []struct {
			mode  esp.Mode
			encap bool
		}{{esp.Transport, false}, {esp.Tunnel, false}, {esp.Tunnel, true}} {
			for _, size := range []int{100, 1400} {
				cfg := esp.Config{SPI: 0x100, Cipher: s.c, CipherKey: random(s.keyLen),
					Integrity: s.integ, IntegrityKey: random(s.integ.KeySize()), Mode: m.mode}
				if m.mode == esp.Tunnel {
					cfg.TunnelSrc, cfg.TunnelDst = src, dst
				}
				if m.encap {
					cfg.EncapSrcPort, cfg.EncapDstPort = 4500, 4500
				}
				sa, err := esp.NewSA(cfg)
				if err != nil {
					return err
				}
				pkt := udpPacket(src, dst, 1, 2, make([]byte, size-28))
				wire, err := sa.Seal(nil, pkt)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "\t+%d", len(wire)-len(pkt))
			}
		}
		fmt.Fprintln(w, "\t")
	}
	return w.Flush()
}

// udpPacket builds an IPv4/UDP packet.
func udpPacket(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:], src.AsSlice())
	copy(p[16:], dst.AsSlice())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], sport)
	binary.BigEndian.PutUint16(p[22:], dport)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
