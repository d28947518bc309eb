package auth

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// IDType is an IKE identification type: the "ID Type" field of the IKEv2
// Identification payload (RFC 7296 section 3.5) and the IKEv1 IPsec DOI
// Identification Type (RFC 2407 section 4.6.2.1). The numbers of the types
// used here are the same in both registries. Values are immutable and safe
// for concurrent use.
type IDType uint8

// IKE identification types (IANA "IKEv2 Identification Payload ID Types").
const (
	IDIPv4Addr   IDType = 1  // ID_IPV4_ADDR: 4 octets
	IDFQDN       IDType = 2  // ID_FQDN: a fully qualified domain name, no terminator
	IDRFC822Addr IDType = 3  // ID_RFC822_ADDR: an email address, no terminator
	IDIPv6Addr   IDType = 5  // ID_IPV6_ADDR: 16 octets
	IDDERASN1DN  IDType = 9  // ID_DER_ASN1_DN: DER of an X.500 Name
	IDDERASN1GN  IDType = 10 // ID_DER_ASN1_GN: DER of an X.509 GeneralName
	IDKeyID      IDType = 11 // ID_KEY_ID: opaque octets
	idTypeLimit  IDType = 12 // one past the last named type
)

var idTypeNames = [...]string{
	IDIPv4Addr:   "ID_IPV4_ADDR",
	IDFQDN:       "ID_FQDN",
	IDRFC822Addr: "ID_RFC822_ADDR",
	IDIPv6Addr:   "ID_IPV6_ADDR",
	IDDERASN1DN:  "ID_DER_ASN1_DN",
	IDDERASN1GN:  "ID_DER_ASN1_GN",
	IDKeyID:      "ID_KEY_ID",
}

// String returns the IANA name of t, or "ID_TYPE(n)" for other values.
func (t IDType) String() string {
	if t < idTypeLimit && idTypeNames[t] != "" {
		return idTypeNames[t]
	}
	return "ID_TYPE(" + strconv.Itoa(int(t)) + ")"
}

// Identity is an IKE identity: an ID type and its identification data as
// carried in an ID payload (RFC 7296 section 3.5). It is a plain value; an
// Identity is safe for concurrent use as long as nobody mutates Data.
type Identity struct {
	Type IDType
	Data []byte
}

// FQDN returns an ID_FQDN identity.
func FQDN(name string) Identity { return Identity{Type: IDFQDN, Data: []byte(name)} }

// RFC822 returns an ID_RFC822_ADDR identity.
func RFC822(addr string) Identity { return Identity{Type: IDRFC822Addr, Data: []byte(addr)} }

// KeyID returns an ID_KEY_ID identity.
func KeyID(id []byte) Identity { return Identity{Type: IDKeyID, Data: bytes.Clone(id)} }

// IP returns an ID_IPV4_ADDR or ID_IPV6_ADDR identity for addr. An
// IPv4-mapped IPv6 address is unmapped to ID_IPV4_ADDR. The zone is dropped.
func IP(addr netip.Addr) Identity {
	addr = addr.Unmap()
	if addr.Is4() {
		a := addr.As4()
		return Identity{Type: IDIPv4Addr, Data: a[:]}
	}
	a := addr.As16()
	return Identity{Type: IDIPv6Addr, Data: a[:]}
}

// DN returns an ID_DER_ASN1_DN identity holding the DER encoding of name.
func DN(name pkix.Name) (Identity, error) {
	der, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		return Identity{}, fmt.Errorf("auth: encoding distinguished name: %w", err)
	}
	return Identity{Type: IDDERASN1DN, Data: der}, nil
}

// Validate checks that the identification data is well formed for its type:
// 4 or 16 octets for addresses, a parseable DER Name for ID_DER_ASN1_DN,
// non-empty data otherwise.
func (id Identity) Validate() error {
	switch id.Type {
	case IDIPv4Addr:
		if len(id.Data) != 4 {
			return fmt.Errorf("%w: %v with %d octets, want 4", ErrMalformed, id.Type, len(id.Data))
		}
	case IDIPv6Addr:
		if len(id.Data) != 16 {
			return fmt.Errorf("%w: %v with %d octets, want 16", ErrMalformed, id.Type, len(id.Data))
		}
	case IDDERASN1DN:
		if _, err := id.distinguishedName(); err != nil {
			return err
		}
	default:
		if len(id.Data) == 0 {
			return fmt.Errorf("%w: empty %v", ErrMalformed, id.Type)
		}
	}
	return nil
}

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
func (id Identity) Addr() (netip.Addr, bool) {
	switch {
	case id.Type == IDIPv4Addr && len(id.Data) == 4:
		return netip.AddrFrom4([4]byte(id.Data)), true
	case id.Type == IDIPv6Addr && len(id.Data) == 16:
		return netip.AddrFrom16([16]byte(id.Data)), true
	}
	return netip.Addr{}, false
}

func (id Identity) distinguishedName() (pkix.RDNSequence, error) {
	var rdn pkix.RDNSequence
	rest, err := asn1.Unmarshal(id.Data, &rdn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v is not a DER Name: %v", ErrMalformed, id.Type, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %v has %d trailing octets", ErrMalformed, id.Type, len(rest))
	}
	return rdn, nil
}

// Equal reports whether id and o have the same type and data. FQDN and
// RFC 822 identities compare case-insensitively (DNS names and the domain
// part of mail addresses are case-insensitive; local parts in practice are
// too, and IKE implementations compare them that way).
func (id Identity) Equal(o Identity) bool {
	if id.Type != o.Type {
		return false
	}
	switch id.Type {
	case IDFQDN, IDRFC822Addr:
		return strings.EqualFold(string(id.Data), string(o.Data))
	}
	return bytes.Equal(id.Data, o.Data)
}

// key is the map key used by PSKStore: type plus canonical data.
func (id Identity) key() string {
	d := id.Data
	if id.Type == IDFQDN || id.Type == IDRFC822Addr {
		d = []byte(strings.ToLower(string(d)))
	}
	return string(append([]byte{byte(id.Type)}, d...))
}

// String returns a readable form: "ID_FQDN:gw.example", "ID_IPV4_ADDR:192.0.2.1",
// the RFC 4514 string of a DN, or hex for opaque types.
func (id Identity) String() string {
	var v string
	switch id.Type {
	case IDFQDN, IDRFC822Addr:
		v = strconv.Quote(string(id.Data))
		v = v[1 : len(v)-1]
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := id.Addr(); ok {
			v = a.String()
		} else {
			v = fmt.Sprintf("%x", id.Data)
		}
	case IDDERASN1DN:
		if rdn, err := id.distinguishedName(); err == nil {
			var n pkix.Name
			n.FillFromRDNSequence(&rdn)
			v = n.String()
		} else {
			v = fmt.Sprintf("%x", id.Data)
		}
	default:
		v = fmt.Sprintf("%x", id.Data)
	}
	return id.Type.String() + ":" + v
}
