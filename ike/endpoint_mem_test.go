package ike

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// handshakeOver runs one IKEv2 handshake from a bare initiator Session
// over c to target and reports whether it was established. The session
// is dropped afterwards: only the responder keeps state.
func handshakeOver(t testing.TB, c *net.UDPConn, cfg *Config, target netip.AddrPort) bool {
	la := c.LocalAddr().(*net.UDPAddr).AddrPort()
	s, err := NewInitiator(cfg, la, target, time.Now())
	if err != nil {
		t.Error(err)
		return false
	}
	buf := make([]byte, 4096)
	for range 4 {
		for _, d := range s.Datagrams() {
			if _, err := c.WriteToUDPAddrPort(d, target); err != nil {
				t.Error(err)
				return false
			}
		}
		if s.Established() || s.Closed() {
			break
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		s.Receive(time.Now(), buf[:n])
	}
	return s.Established() && len(s.ChildSAs()) == 1
}

// TestEndpointMemoryPerIKESA measures the responder's live heap per
// established IKE SA with one CHILD SA (X25519, AES-GCM, PSK): n
// handshakes from bare initiator sessions that are dropped at once, the
// heap measured after a collection before and after. The target
// is under 6 KB.
func TestEndpointMemoryPerIKESA(t *testing.T) {
	n := 2000
	if testing.Short() || raceEnabled {
		n = 300
	}
	rcfg := pskConfig(t, false, floodSuite, "aes128gcm16")
	icfg := pskConfig(t, true, floodSuite, "aes128gcm16")
	resp := floodResponder(t, EndpointConfig{Responder: rcfg, MaxHalfOpenPerSource: -1, CookieThreshold: -1, CookieThresholdPerSource: -1})
	target, _ := resp.Addrs()
	conns := floodSockets(t, 4, 2)
	// Warm up: the first handshake makes the lazily built tables.
	if !handshakeOver(t, conns[0], icfg, target) {
		t.Fatal("warm-up handshake failed")
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			for range n / len(conns) {
				if !handshakeOver(t, c, icfg, target) {
					t.Error("handshake failed")
					return
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "the responder's IKE SAs", func() bool { return resp.Stats().Established == uint64(n+1) })
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := (int64(ms.HeapAlloc) - int64(before)) / int64(n)
	st := resp.Stats()
	t.Logf("bytes-per-ike-sa: %d (%d IKE SAs with one CHILD SA each, %d live)", per, n, st.IKESAs)
	if st.IKESAs != int64(n+1) {
		t.Fatalf("%d IKE SAs live, want %d", st.IKESAs, n+1)
	}
	if per > 6000 {
		t.Errorf("%d bytes per established IKE SA, target under 6 KB", per)
	}
}
