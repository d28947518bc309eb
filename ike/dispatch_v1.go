package ike

import (
	"net/netip"
	"time"
)

// The endpoint's IKEv1 constructors (endpoint_session.go): the Endpoint
// dispatches IKEv1 datagrams (ISAKMP major version 1) to SessionV1, which
// has every method of its session interface.
var _ session = (*SessionV1)(nil)

func init() {
	newInitiatorV1Session = func(cfg *Config, local, remote netip.AddrPort, now time.Time, req *ChildRequest) (session, error) {
		s, err := NewInitiatorV1(cfg, local, remote, now, req)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	acceptV1Session = func(cfg *Config, local, remote netip.AddrPort, now time.Time, datagram []byte) (session, error) {
		s, err := AcceptV1(cfg, local, remote, now, datagram)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// checkVersions validates c for the version it is used with: an IKEv1-only
// Config as SessionV1 does (which allows Windows Server 2003's algorithms
// with AllowLegacyV1), any other as an IKEv2 Session does.
func (c *Config) checkVersions() error {
	if c.KeyExchange == KeyExchangeIKEv1 {
		return c.checkV1()
	}
	return c.check()
}
