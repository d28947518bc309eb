package isakmp

import (
	"encoding/binary"
	"fmt"
)

// Wire sizes (RFC 2408 3.1-3.2, RFC 7296 3.1-3.2).
const (
	HeaderLen        = 28 // the fixed ISAKMP header
	GenericHeaderLen = 4  // Next Payload, flags/RESERVED, Payload Length
	SPILen           = 8  // an IKE SPI (an ISAKMP cookie in IKEv1)
	MaxPayloadLen    = 0xffff
)

// Major versions in the header's Version field (high nibble).
const (
	MajorIKEv1 = 1
	MajorIKEv2 = 2
)

// Version byte values as senders write them (major << 4 | minor).
const (
	VersionIKEv1 uint8 = 0x10
	VersionIKEv2 uint8 = 0x20
)

// Flags is the Flags field of the header. IKEv1 and IKEv2 use disjoint bits.
type Flags uint8

// Header flags.
const (
	FlagEncryption Flags = 0x01 // IKEv1 E: payloads after the header are encrypted (RFC 2408 3.1)
	FlagCommit     Flags = 0x02 // IKEv1 C (RFC 2408 3.1)
	FlagAuthOnly   Flags = 0x04 // IKEv1 A (RFC 2408 3.1)
	FlagInitiator  Flags = 0x08 // IKEv2 I: sent by the original initiator (RFC 7296 3.1)
	FlagVersion    Flags = 0x10 // IKEv2 V: sender can speak a higher major version
	FlagResponse   Flags = 0x20 // IKEv2 R: this message is a response
)

func (f Flags) String() string {
	names := [...]string{"E", "C", "A", "I", "V", "R", "0x40", "0x80"}
	s := ""
	for i, n := range names {
		if f&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	if s == "" {
		return "0"
	}
	return s
}

// Header is the fixed 28-byte header of every ISAKMP/IKE message
// (RFC 2408 3.1, RFC 7296 3.1). A Header is a plain value: not safe for
// concurrent mutation, safe to copy.
type Header struct {
	InitiatorSPI [SPILen]byte // IKEv1: Initiator Cookie
	ResponderSPI [SPILen]byte // IKEv1: Responder Cookie
	NextPayload  PayloadType
	Version      uint8 // major version in the high nibble, minor in the low
	Exchange     ExchangeType
	Flags        Flags
	MessageID    uint32
	Length       uint32 // of the whole message including this header
}

// Major returns the major version (RFC 7296 3.1: 2 for IKEv2).
func (h *Header) Major() uint8 { return h.Version >> 4 }

// Minor returns the minor version.
func (h *Header) Minor() uint8 { return h.Version & 0x0f }

// Parse decodes the header at the start of b. It checks that the Length
// field is at least HeaderLen and that b holds that many bytes; it does not
// check the version, which callers answer with INVALID_MAJOR_VERSION
// (RFC 7296 2.5) and so need to see.
func (h *Header) Parse(b []byte) error {
	if len(b) < HeaderLen {
		return truncated("header", HeaderLen, len(b))
	}
	copy(h.InitiatorSPI[:], b[0:8])
	copy(h.ResponderSPI[:], b[8:16])
	h.NextPayload = PayloadType(b[16])
	h.Version = b[17]
	h.Exchange = ExchangeType(b[18])
	h.Flags = Flags(b[19])
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	if h.Length < HeaderLen {
		return malformed("header length %d below %d", h.Length, HeaderLen)
	}
	if uint64(h.Length) > uint64(len(b)) {
		return fmt.Errorf("%w: header length %d, %d bytes present", ErrTruncated, h.Length, len(b))
	}
	return nil
}

// Append appends the header as it stands, Length and NextPayload included.
func (h *Header) Append(b []byte) []byte {
	b = append(b, h.InitiatorSPI[:]...)
	b = append(b, h.ResponderSPI[:]...)
	b = append(b, byte(h.NextPayload), h.Version, byte(h.Exchange), byte(h.Flags))
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// MessageLength returns the Length field of the message starting at b, for
// callers that frame messages on a stream (RFC 8229 TCP encapsulation).
func MessageLength(b []byte) (int, error) {
	if len(b) < HeaderLen {
		return 0, truncated("header", HeaderLen, len(b))
	}
	return int(binary.BigEndian.Uint32(b[24:28])), nil
}
