// Package udpgso has Linux's UDP segmentation offloads for the sockets
// of package ike's endpoint and examples/gateway: UDP_SEGMENT (GSO, Linux
// 4.18: one send carries a run of equal-sized datagrams, the last possibly
// shorter) and UDP_GRO (Linux 5.0: one receive returns a train of them,
// with the datagram size in a control message). Elsewhere there are none.
package udpgso

// Limits of one UDP_SEGMENT send: UDP_MAX_SEGMENTS is 64 before Linux
// 6.6 (128 since), and the UDP length field is 16 bits.
const (
	MaxSegments = 64
	MaxBytes    = 65000
)
