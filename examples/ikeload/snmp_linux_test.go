package main

import (
	"net"
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
