package main

// The machine's own ceiling for gomaxprocs-2/1.
//
// On a virtual machine two vCPUs need not do twice the work of one: the
// host may run them on sibling hyperthreads, share their caches with
// other guests, or slow one of them for a while. The ceiling probe
// measures what the cores give to work that shares nothing: X25519 key
// agreements (the responder's largest cost), the same count in each of
// lo goroutines and then of hi (the GOMAXPROCS compared), timed by the
// wall clock as the responder's windows are. It runs in this process
// between the phased rounds of the gomaxprocs comparison, while both
// responders are idle, so that its median over rounds is taken under the
// same conditions as the responder's ratio.

import (
	"crypto/ecdh"
	"crypto/rand"
	"runtime"
	"slices"
	"sync"
	"time"
)

// ceilingOps is the X25519 operations per goroutine in one probe: about
// 50 ms on a 2.6 GHz core, long enough for the timer, short enough that a
// probe per round costs little.
const ceilingOps = 1000

// ceiling collects the probes' ratios: the work of hi goroutines over
// the work of lo in the same time.
type ceiling struct {
	lo, hi int
	ratios []float64
}

// newCeiling returns a probe of hi goroutines against lo, or nil if this
// process cannot run hi at once.
func newCeiling(lo, hi int) *ceiling {
	if lo < 1 || hi <= lo || hi > runtime.GOMAXPROCS(0) {
		return nil
	}
	return &ceiling{lo: lo, hi: hi}
}

// probe times lo goroutines and hi, each doing ceilingOps agreements,
// lo first in every other probe so that neither always runs first.
func (c *ceiling) probe() error {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pub := k.PublicKey()
	work := func() {
		for range ceilingOps {
			k.ECDH(pub) //nolint:errcheck // a valid key pair: cannot fail
		}
	}
	timed := func(goroutines int) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		for range goroutines {
			wg.Go(work)
		}
		wg.Wait()
		return time.Since(start)
	}
	var lo, hi time.Duration
	if len(c.ratios)%2 == 0 {
		lo, hi = timed(c.lo), timed(c.hi)
	} else {
		hi, lo = timed(c.hi), timed(c.lo)
	}
	c.ratios = append(c.ratios, float64(c.hi)/float64(c.lo)*lo.Seconds()/hi.Seconds())
	return nil
}

// median returns the median ratio (0 before any probe, or for a nil
// probe).
func (c *ceiling) median() float64 {
	if c == nil || len(c.ratios) == 0 {
		return 0
	}
	r := slices.Sorted(slices.Values(c.ratios))
	return r[len(r)/2]
}
