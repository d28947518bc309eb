package main

import (
	"bytes"
	"net"
	"slices"
	"strconv"
	"testing"
)

// TestUDPSent: the namespace's sent count grows by the datagrams sent.
func TestUDPSent(t *testing.T) {
	n0, ok := udpSent()
	if !ok {
		t.Skip("no /proc/net/snmp here")
	}
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 100 {
		if _, err := a.WriteTo([]byte("x"), a.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := udpSent(); n < n0+100 {
		t.Fatalf("sent count grew by %d after 100 sends", n-n0)
	}
}

// TestParseUDPSent reads OutDatagrams from a /proc/net/snmp text (its Udp
// lines as Linux 6.1 prints them) and refuses texts without it.
func TestParseUDPSent(t *testing.T) {
	const text = "Tcp: RtoAlgorithm RtoMin\nTcp: 1 200\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 2212 3 0 2254 0 0 0 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams\nUdpLite: 0 0 0 7\n"
	if n, ok := parseUDPSent([]byte(text)); !ok || n != 2254 {
		t.Fatalf("parseUDPSent = %d, %v; want 2254, true", n, ok)
	}
	for _, bad := range []string{"", "Udp: InDatagrams\nUdp: 5\n", "Udp: OutDatagrams\nUdp: x\n", "Udp: InDatagrams OutDatagrams\n"} {
		if n, ok := parseUDPSent([]byte(bad)); ok {
			t.Errorf("parseUDPSent(%q) = %d, true", bad, n)
		}
	}
}

// FuzzParseUDPSent: any text is parsed without panicking, and a count it
// reports is a field of a "Udp:" line of the text.
func FuzzParseUDPSent(f *testing.F) {
	f.Add([]byte("Udp: InDatagrams OutDatagrams\nUdp: 1 2\n"))
	f.Add([]byte("Udp: OutDatagrams\nUdp: 18446744073709551615\n"))
	f.Add([]byte("Udp: OutDatagrams\r\nUdp:\t7 8\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := parseUDPSent(b)
		if !ok {
			return
		}
		want := strconv.FormatUint(n, 10)
		for line := range bytes.Lines(b) {
			f := bytes.Fields(line)
			if len(f) > 1 && string(f[0]) == "Udp:" && slices.ContainsFunc(f[1:], func(v []byte) bool {
				u, err := strconv.ParseUint(string(v), 10, 64)
				return err == nil && strconv.FormatUint(u, 10) == want
			}) {
				return
			}
		}
		t.Fatalf("parseUDPSent(%q) = %d, which no Udp: line holds", b, n)
	})
}
