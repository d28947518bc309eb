//go:build !linux

package auth

import "os/exec"

// setPdeathsig is a no-op where the kernel has no parent-death signal; the
// tests' Cleanup functions still stop their helpers by PID.
func setPdeathsig(*exec.Cmd) {}
