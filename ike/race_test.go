//go:build race

package ike

// raceEnabled scales down tests that measure or load: the race detector
// multiplies time and memory.
const raceEnabled = true
