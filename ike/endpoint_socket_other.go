//go:build !linux

package ike

// Only Linux has SO_RCVBUFFORCE and SO_SNDBUFFORCE.
const (
	soRcvbufForce = 0
	soSndbufForce = 0
)
