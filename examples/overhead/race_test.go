//go:build race

package main

// raceEnabled: the race detector slows the Go code of esp and ah, not
// the assembly of the baselines, so ratios widen.
const raceEnabled = true
