//go:build !linux

package main

import "time"

// threadCPU falls back to the wall clock where there is no per-thread CPU
// clock.
func threadCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }
