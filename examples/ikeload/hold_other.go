//go:build !linux

package main

// holdProcess is Linux only (it reads /proc to know when every thread has
// stopped); elsewhere the phased load keeps its window of requests in
// flight instead of queueing them.
var holdProcess func(pid int) (release func() error, err error)

// allStopped is never called here (holdProcess is nil).
func allStopped(int) (bool, error) { return false, nil }

// udpSent is not known here.
func udpSent() (uint64, bool) { return 0, false }
