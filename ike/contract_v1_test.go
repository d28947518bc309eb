package ike

import (
	"net/netip"
	"time"
)

// sessionV1Contract is the method set the endpoint drives an IKEv1 session
// through (coord CONTRACT.md); this assertion keeps SessionV1 to it.
type sessionV1Contract interface {
	Receive(now time.Time, datagram []byte)
	Tick(now time.Time)
	Deadline() time.Time
	Datagrams() [][]byte
	Events() []Event
	Closed() bool
	Established() bool
	Path() (local, remote netip.AddrPort)
	SetPath(local, remote netip.AddrPort)
	UDPEncap() bool
	Stats() Stats
	localSPIs() [][8]byte
	Close(now time.Time)
	CreateChildRequest(now time.Time, req ChildRequest) error
	RekeyChild(now time.Time, inboundSPI uint32) error
	DeleteChild(now time.Time, inboundSPI uint32) error
	RekeyIKE(now time.Time) error
	Info() IKESAInfo
}

var _ sessionV1Contract = (*SessionV1)(nil)

var (
	_ = NewInitiatorV1 // func(*Config, netip.AddrPort, netip.AddrPort, time.Time, *ChildRequest) (*SessionV1, error)
	_ = AcceptV1       // func(*Config, netip.AddrPort, netip.AddrPort, time.Time, []byte) (*SessionV1, error)
)
