package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/ike"
	"github.com/ipsecgo/ipsec/isakmp"
)

// responderEndpoint returns the responder under test: an ike.Endpoint on
// 127.0.0.1 (ephemeral ports) that accepts every initiator with the load's
// pre-shared key. DPD, rekeys and NAT keepalives are off so that live SAs
// cost nothing but memory while they wait; the admission thresholds are
// raised as strongSwan's are for this rig (INTEROP.md: a benchmark from few
// sources must not be answered with cookies or blocked), and the socket
// buffers are large.
func responderEndpoint() (*ike.Endpoint, error) {
	psk, err := auth.NewPSK(secret, auth.PSKOptions{})
	if err != nil {
		return nil, err
	}
	ikeProps, err := ike.ParseProposals(ikeProposal, isakmp.ProtocolIKE)
	if err != nil {
		return nil, err
	}
	childProps, err := ike.ParseProposals(childProposal, isakmp.ProtocolESP)
	if err != nil {
		return nil, err
	}
	cfg := &ike.Config{
		LocalID:      auth.FQDN(responderID),
		Auth:         psk,
		PeerAuth:     func(auth.Identity, [][]byte, time.Time) (auth.PeerAuthenticator, error) { return psk, nil },
		IKEProposals: ikeProps, ChildProposals: childProps,
		LocalTS:  []isakmp.TrafficSelector{ike.SelectorFromPrefix(netR)},
		RemoteTS: []isakmp.TrafficSelector{ike.SelectorFromPrefix(netI)},
		IKERekey: -1, ChildRekey: 24 * time.Hour,
	}
	lo := netip.MustParseAddr("127.0.0.1")
	const many = 1 << 22
	return ike.NewEndpoint(ike.EndpointConfig{
		IKEAddr: netip.AddrPortFrom(lo, 0), NATTAddr: netip.AddrPortFrom(lo, 0),
		Responder:       cfg,
		Keepalive:       -1,
		CookieThreshold: many, CookieThresholdPerSource: many,
		MaxHalfOpenPerSource: many, MaxHalfOpen: many, MaxIKESAs: many,
		ReadBuffer: 16 << 20, WriteBuffer: 16 << 20,
		QueueLen: responderQueueLen,
	})
}

// responderQueueLen is the responder's worker queue length: long enough
// for a queued window (phased.go), whose requests all arrive at once.
const responderQueueLen = 16384

// runResponder is the responder process: it prints where it listens as
// a JSON line, then answers each line of in ("stats", or "gc" for stats
// after a collection) with a JSON line, and exits at the end of in.
func runResponder(in io.Reader, out io.Writer) error {
	if path := os.Getenv(profileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		// And where its goroutines waited, on locks (mutex) and on
		// anything (block), and its execution trace (go tool trace), in
		// files beside the CPU profile.
		runtime.SetMutexProfileFraction(10)
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		defer writeProfiles(path)
		tf, err := os.Create(path + ".trace")
		if err != nil {
			return err
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			return err
		}
		defer trace.Stop()
	}
	ep, err := responderEndpoint()
	if err != nil {
		return err
	}
	if err := ep.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ep.Run(ctx) //nolint:errcheck // ends with Close
	}()
	defer func() {
		cancel()
		ep.Close()
		wg.Wait()
	}()
	ikeAddr, natt := ep.Addrs()
	enc := json.NewEncoder(out)
	if err := enc.Encode(respStats{IKE: ikeAddr.String(), NATT: natt.String(), ReadBuffer: ep.Stats().ReadBuffer}); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var ms runtime.MemStats
		switch sc.Text() {
		case "gc":
			runtime.GC()
			runtime.ReadMemStats(&ms)
		case "stats":
		default:
			return fmt.Errorf("unknown command %q", sc.Text())
		}
		st := ep.Stats()
		if err := enc.Encode(respStats{
			CPU: cpuSeconds(), IKESAs: st.IKESAs, Established: st.Established, HeapAlloc: ms.HeapAlloc,
			QueueDrops: st.QueueDrops, Cookies: st.CookiesSent,
			Refused: st.PerSourceRefused + st.HalfOpenRefused + st.IKESARefused, Moved: st.Moved,
		}); err != nil {
			return err
		}
	}
	return sc.Err()
}

// writeProfiles writes the mutex and block profiles beside the CPU
// profile at path (path.mutex, path.block).
func writeProfiles(path string) {
	for _, name := range []string{"mutex", "block"} {
		f, err := os.Create(path + "." + name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ikeload responder:", err)
			continue
		}
		if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
			fmt.Fprintln(os.Stderr, "ikeload responder:", err)
		}
		f.Close()
	}
}
