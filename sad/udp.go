package sad

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipsecgo/ipsec/esp"
	"github.com/ipsecgo/ipsec/internal/ippkt"
)

// ESP in UDP (RFC 3948). Under NAT traversal the IKE endpoint sends and
// receives bare ESP packets (SPI through ICV) on its port-4500 socket: the
// outer IP and UDP headers belong to the socket. SA.SealESP and
// DB.OpenESP are that path, with the same lifetime and counter
// accounting as Seal and Open. Only ESP-only tunnel-mode SAs take it: AH
// cannot cross a NAT, and transport mode would need the original header
// rebuilt by the receiver (RFC 3948 section 3.1.3), which is not done
// here. esp.Classify, which DB.OpenESP calls, is the one demultiplexer of
// port 4500 datagrams (IKE after the non-ESP marker, keepalive, ESP).

var (
	// ErrUDPEncap: the SA cannot be used for ESP in UDP (AH, a bundle,
	// or transport mode).
	ErrUDPEncap = errors.New("sad: ESP in UDP needs an ESP-only tunnel-mode SA")
	// ErrNotESP: a port 4500 datagram that is not ESP (esp.Classify).
	ErrNotESP = errors.New("sad: datagram is not ESP")
	// ErrInner: what an SA decrypted is not the IP packet tunnel mode
	// carries.
	ErrInner = errors.New("sad: decrypted payload is not an IP packet")
)

// BareESP reports whether SealESP can seal with s: an ESP-only SA in
// tunnel mode (no AH bundle; transport mode needs the packet's own IP
// header around the ESP).
func (s *SA) BareESP() bool {
	return s.esp != nil && s.ah == nil && s.esp.Mode() == esp.Tunnel
}

// SealESP protects the IP packet pkt with the outbound tunnel-mode SA s
// and appends to dst the bare ESP packet (SPI through ICV) to send inside
// UDP to the peer's port 4500 (RFC 3948 section 2.1). Bytes of pkt beyond
// its own length are not sent. It counts the packet against the SA's
// lifetime as Seal does.
func (s *SA) SealESP(dst, pkt []byte) ([]byte, error) {
	if s.State() == StateDead {
		return dst, ErrExpired
	}
	if !s.BareESP() {
		return dst, ErrUDPEncap
	}
	h, ok := ippkt.Parse(pkt, ippkt.Upper)
	if !ok {
		return dst, fmt.Errorf("%w: %w", esp.ErrMalformed, ErrInner)
	}
	nh := uint8(ippkt.ProtoIPv4)
	if h.V6() {
		nh = ippkt.ProtoIPv6
	}
	dst, err := s.esp.SealESP(dst, pkt[:h.Total], nh)
	if err != nil {
		if errors.Is(err, esp.ErrSeqExhausted) {
			s.db.hardExpire(s, ReasonSeqExhausted)
		}
		return dst, err
	}
	s.account(h.Total)
	return dst, nil
}

// OpenESP opens a datagram received on UDP port 4500 (RFC 3948 section
// 2.2): it checks with esp.Classify that it is ESP, finds the inbound SA
// by its SPI, verifies and decrypts it in place (ICV first, then the
// replay window), counts it against the SA's lifetime, and returns the
// inner IP packet (aliasing b, without TFC padding) and the SA it came
// through, whose Rule and Allows the caller checks the packet against.
// Errors: ErrNotESP, ErrNotFound (unknown SPI), ErrExpired, ErrUDPEncap,
// ErrInner, and the esp package's (esp.ErrReplay, esp.ErrAuthFailed,
// esp.ErrDummy, ...).
func (db *DB) OpenESP(b []byte) (inner []byte, s *SA, err error) {
	if esp.Classify(b) != esp.KindESP {
		return nil, nil, ErrNotESP
	}
	spi := binary.BigEndian.Uint32(b)
	s = db.Inbound(ProtoESP, spi, netip.Addr{})
	if s == nil {
		return nil, nil, ErrNotFound
	}
	if st := s.State(); st == StateDead || st == StateLarval {
		return nil, s, ErrExpired
	}
	if s.esp == nil || s.ah != nil || s.esp.Mode() != esp.Tunnel {
		return nil, s, ErrUDPEncap
	}
	payload, nh, err := s.esp.OpenESP(b)
	if err != nil {
		return nil, s, err
	}
	h, ok := ippkt.Parse(payload, ippkt.Upper)
	if !ok || h.V6() != (nh == ippkt.ProtoIPv6) || (nh != ippkt.ProtoIPv4 && nh != ippkt.ProtoIPv6) {
		return nil, s, ErrInner
	}
	s.account(h.Total)
	return payload[:h.Total], s, nil
}
