package esp

// Kind is what a datagram received on UDP port 4500 carries (RFC 3948
// section 2).
type Kind uint8

const (
	// KindInvalid: too short or otherwise not a valid 4500 datagram.
	KindInvalid Kind = iota
	// KindKeepalive: a NAT-keepalive, a single 0xff byte (RFC 3948 2.3).
	KindKeepalive
	// KindIKE: an IKE message after the 4-byte non-ESP marker (RFC 3948
	// 2.2); the message starts at offset 4.
	KindIKE
	// KindESP: an ESP packet; its first 4 bytes are a non-zero SPI.
	KindESP
)

func (k Kind) String() string {
	switch k {
	case KindKeepalive:
		return "keepalive"
	case KindIKE:
		return "ike"
	case KindESP:
		return "esp"
	}
	return "invalid"
}

// NonESPMarker is the 4 zero bytes in front of IKE messages on port 4500.
var NonESPMarker = [4]byte{}

// ikeHeaderLen is the length of the IKE header that must follow the marker.
const ikeHeaderLen = 28

// Classify demultiplexes a UDP datagram received on port 4500 (RFC 3948
// section 2, RFC 7296 section 2.23). It reads only the first bytes of b.
func Classify(b []byte) Kind {
	switch {
	case len(b) == 1 && b[0] == 0xff:
		return KindKeepalive
	case len(b) < 4:
		return KindInvalid
	case [4]byte(b[:4]) == NonESPMarker:
		if len(b) < 4+ikeHeaderLen {
			return KindInvalid
		}
		return KindIKE
	case len(b) < hdrLen:
		return KindInvalid
	}
	return KindESP
}
