//go:build !linux

package main

import (
	"errors"
	"net/netip"
)

// listenRaw is Linux only, as queued windows are (hold_other.go).
func listenRaw(netip.Addr) (datagramConn, error) {
	return nil, errors.New("queued windows are Linux only")
}
