//go:build !linux

package krbtest

import "os/exec"

// SetPdeathsig is a no-op where the kernel has no parent-death signal; the
// tests' cleanups still stop the helpers they started.
func SetPdeathsig(*exec.Cmd) {}
