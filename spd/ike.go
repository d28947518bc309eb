package spd

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// This file holds what a rule says about its IKE negotiation, beyond its
// security methods: the key exchange settings (Windows "Key Exchange
// Settings": main mode methods, lifetimes, master key PFS) and the IKE
// versions, the identities, and the key exchange groups. The values are
// IANA numbers, as ike and isakmp use them; spd imports neither, and the
// caller (the root package's driver) translates.

// IKEVersion is an IKE major version: 1 (RFC 2409) or 2 (RFC 7296), the
// numbering of ike.Version. It is a plain value, safe for concurrent use.
type IKEVersion uint8

// IKE versions.
const (
	IKEv1 IKEVersion = 1
	IKEv2 IKEVersion = 2
)

// String returns "ikev1" or "ikev2".
func (v IKEVersion) String() string {
	switch v {
	case IKEv1:
		return "ikev1"
	case IKEv2:
		return "ikev2"
	}
	return fmt.Sprintf("IKEVersion(%d)", uint8(v))
}

// Group is a key exchange method (Diffie-Hellman group or KEM), numbered
// as IKEv2 Transform Type 4 (RFC 7296 section 3.3.2; IANA "Transform Type
// 4 - Key Exchange Method Transform IDs"; the same numbers name IKEv1
// groups, RFC 2409 section 6). Zero is "none". It is a plain value, safe
// for concurrent use.
type Group uint16

// Key exchange methods.
const (
	GroupNone       Group = 0
	GroupMODP768    Group = 1  // RFC 2409 group 1, Windows "Low"; legacy
	GroupMODP1024   Group = 2  // RFC 2409 group 2, Windows "Medium"; legacy
	GroupMODP1536   Group = 5  // RFC 3526
	GroupMODP2048   Group = 14 // RFC 3526, Windows "High (2048)"
	GroupMODP3072   Group = 15 // RFC 3526
	GroupMODP4096   Group = 16 // RFC 3526
	GroupECP256     Group = 19 // RFC 5903
	GroupECP384     Group = 20 // RFC 5903
	GroupECP521     Group = 21 // RFC 5903
	GroupCurve25519 Group = 31 // RFC 8031
	GroupCurve448   Group = 32 // RFC 8031
	GroupMLKEM512   Group = 35 // RFC 9370 additional key exchange, ML-KEM
	GroupMLKEM768   Group = 36
	GroupMLKEM1024  Group = 37
)

var groupNames = []struct {
	g     Group
	names []string
}{
	{GroupMODP768, []string{"modp768", "low"}},
	{GroupMODP1024, []string{"modp1024", "medium"}},
	{GroupMODP1536, []string{"modp1536"}},
	{GroupMODP2048, []string{"modp2048", "high"}},
	{GroupMODP3072, []string{"modp3072"}},
	{GroupMODP4096, []string{"modp4096"}},
	{GroupECP256, []string{"ecp256"}},
	{GroupECP384, []string{"ecp384"}},
	{GroupECP521, []string{"ecp521"}},
	{GroupCurve25519, []string{"x25519", "curve25519"}},
	{GroupCurve448, []string{"x448", "curve448"}},
	{GroupMLKEM512, []string{"mlkem512"}},
	{GroupMLKEM768, []string{"mlkem768"}},
	{GroupMLKEM1024, []string{"mlkem1024"}},
}

// String returns the strongSwan keyword of the group.
func (g Group) String() string {
	if g == GroupNone {
		return "none"
	}
	for _, n := range groupNames {
		if n.g == g {
			return n.names[0]
		}
	}
	return fmt.Sprintf("Group(%d)", uint16(g))
}

// ParseGroup looks up a key exchange method by keyword (strongSwan's, or
// Windows' low, medium and high).
func ParseGroup(s string) (Group, bool) {
	s = strings.ToLower(s)
	for _, n := range groupNames {
		if slices.Contains(n.names, s) {
			return n.g, true
		}
	}
	return 0, false
}

func groupList() string {
	var s []string
	for _, n := range groupNames {
		s = append(s, n.names[0])
	}
	return strings.Join(s, ", ")
}

// PRF is an IKE pseudo-random function, numbered as IKEv2 Transform Type
// 2 (RFC 7296 section 3.3.2). Zero means "the HMAC of the integrity
// algorithm's hash", as IKEv1 and strongSwan derive it. It is a plain
// value, safe for concurrent use.
type PRF uint16

// Pseudo-random functions.
const (
	PRFMD5     PRF = 1 // RFC 2104; legacy
	PRFSHA1    PRF = 2 // RFC 2104
	PRFAESXCBC PRF = 4 // RFC 4434
	PRFSHA256  PRF = 5 // RFC 4868
	PRFSHA384  PRF = 6 // RFC 4868
	PRFSHA512  PRF = 7 // RFC 4868
)

var prfNames = []struct {
	p     PRF
	names []string
}{
	{PRFMD5, []string{"prfmd5", "md5"}},
	{PRFSHA1, []string{"prfsha1", "sha1"}},
	{PRFAESXCBC, []string{"prfaesxcbc", "aes-xcbc", "aesxcbc"}},
	{PRFSHA256, []string{"prfsha256", "sha256"}},
	{PRFSHA384, []string{"prfsha384", "sha384"}},
	{PRFSHA512, []string{"prfsha512", "sha512"}},
}

// String returns the strongSwan keyword of the PRF.
func (p PRF) String() string {
	for _, n := range prfNames {
		if n.p == p {
			return n.names[0]
		}
	}
	return fmt.Sprintf("PRF(%d)", uint16(p))
}

// ParsePRF looks up a PRF by keyword.
func ParsePRF(s string) (PRF, bool) {
	s = strings.ToLower(s)
	for _, n := range prfNames {
		if slices.Contains(n.names, s) {
			return n.p, true
		}
	}
	return 0, false
}

// IKEMethod is one main mode security method (Windows "Key Exchange
// Security Methods"): the transforms of one IKE SA proposal (RFC 7296
// section 3.3, RFC 2409 section 5). It is a value type and safe for
// concurrent reads.
type IKEMethod struct {
	Encryption Encryption
	KeyBits    int // key length in bits, 0 for a transform of fixed length
	// Integrity is IntegrityNone with an AEAD encryption.
	Integrity Integrity
	// PRF is required with an AEAD encryption; zero otherwise means the
	// HMAC of Integrity's hash.
	PRF   PRF
	Group Group
}

// String formats the method as a strongSwan proposal, e.g.
// "aes128-sha256-modp2048" or "aes256gcm16-prfsha384-ecp384".
func (m IKEMethod) String() string {
	var enc string
	switch m.Encryption {
	case EncryptionAESCBC:
		enc = fmt.Sprintf("aes%d", m.KeyBits)
	case EncryptionAESCTR:
		enc = fmt.Sprintf("aes%dctr", m.KeyBits)
	case EncryptionAESGCM16:
		enc = fmt.Sprintf("aes%dgcm16", m.KeyBits)
	case EncryptionChaCha20Poly1305:
		enc = "chacha20poly1305"
	default:
		enc = m.Encryption.Name(m.KeyBits)
	}
	parts := []string{enc}
	if m.Integrity != IntegrityNone {
		parts = append(parts, strings.ReplaceAll(m.Integrity.String(), "-", ""))
	}
	if m.PRF != 0 {
		parts = append(parts, m.PRF.String())
	}
	parts = append(parts, m.Group.String())
	return strings.Join(parts, "-")
}

// Check reports a contradiction in the method, or nil.
func (m IKEMethod) Check() error {
	switch {
	case m.Encryption == 0 || m.Encryption.Name(m.KeyBits) == "":
		return fmt.Errorf("unknown IKE encryption %s with a %d-bit key", m.Encryption, m.KeyBits)
	case m.Encryption == EncryptionNull:
		// RFC 7296 section 3.3.2: ENCR_NULL is not allowed for IKE.
		return fmt.Errorf("IKE needs encryption (null is for ESP only)")
	case m.Encryption.AEAD() && m.Integrity != IntegrityNone:
		return fmt.Errorf("IKE encryption %s is combined-mode (AEAD) and takes no integrity, not %s", m.Encryption.Name(m.KeyBits), m.Integrity)
	case m.Encryption.AEAD() && m.PRF == 0:
		return fmt.Errorf("IKE encryption %s is combined-mode (AEAD) and needs a prf", m.Encryption.Name(m.KeyBits))
	case !m.Encryption.AEAD() && m.Integrity == IntegrityNone:
		return fmt.Errorf("IKE encryption %s needs an integrity algorithm", m.Encryption.Name(m.KeyBits))
	case !m.Integrity.known():
		return fmt.Errorf("unknown IKE integrity %d", m.Integrity)
	case m.PRF != 0 && m.PRF.String() == fmt.Sprintf("PRF(%d)", uint16(m.PRF)):
		return fmt.Errorf("unknown prf %d", m.PRF)
	case m.Group == GroupNone:
		return fmt.Errorf("IKE method without a key exchange group")
	case m.Group.String() == fmt.Sprintf("Group(%d)", uint16(m.Group)):
		return fmt.Errorf("unknown key exchange group %d", m.Group)
	}
	return nil
}

// KeyExchange is how IKE SAs are negotiated: Windows' "Key Exchange
// Settings" of a policy, plus the IKE versions allowed. A rule may carry
// its own (Rule.KeyExchange); otherwise the policy's apply. It is a value
// type and safe for concurrent reads.
type KeyExchange struct {
	// Versions are the IKE versions allowed, in order of preference; an
	// initiator uses the first. Empty means IKEv2 only.
	Versions []IKEVersion
	// Methods are the IKE SA proposals in order of preference; empty
	// leaves them to the caller's defaults.
	Methods []IKEMethod
	// Lifetime is the IKE SA's lifetime (Windows "Authenticate and
	// generate a new key every ... minutes"); zero leaves it to the caller.
	Lifetime time.Duration
	// Sessions limits the CHILD SAs (quick modes) one IKE SA keys before
	// it is renewed (Windows "... every ... sessions"); zero: no limit.
	Sessions uint32
	// MasterKeyPFS is Windows' "Master key perfect forward secrecy": a
	// new IKE SA (and key exchange) for every CHILD SA.
	MasterKeyPFS bool
}

// Check reports a contradiction in the settings, or nil.
func (k *KeyExchange) Check() error {
	seen := 0
	for _, v := range k.Versions {
		if v != IKEv1 && v != IKEv2 {
			return fmt.Errorf("unknown IKE version %d", v)
		}
		if seen&(1<<v) != 0 {
			return fmt.Errorf("IKE version %s listed twice", v)
		}
		seen |= 1 << v
	}
	for i, m := range k.Methods {
		if err := m.Check(); err != nil {
			return fmt.Errorf("key exchange method %d: %w", i+1, err)
		}
	}
	if k.Lifetime < 0 {
		return fmt.Errorf("negative key exchange lifetime")
	}
	return nil
}

func (k *KeyExchange) clone() *KeyExchange {
	if k == nil {
		return nil
	}
	c := *k
	c.Versions = slices.Clone(k.Versions)
	c.Methods = slices.Clone(k.Methods)
	return &c
}

// IDType is an IKE identification type (RFC 7296 section 3.5; RFC 2407
// section 4.6.2 uses the same numbers). It is a plain value, safe for
// concurrent use.
type IDType uint8

// Identification types. Zero means no identity is configured: IKE then
// uses the address (RFC 7296 section 3.5 allows it; Windows does the same
// for pre-shared keys).
const (
	IDIPv4   IDType = 1  // ID_IPV4_ADDR
	IDFQDN   IDType = 2  // ID_FQDN
	IDRFC822 IDType = 3  // ID_RFC822_ADDR (user@domain)
	IDIPv6   IDType = 5  // ID_IPV6_ADDR
	IDDN     IDType = 9  // ID_DER_ASN1_DN, written as a string DN
	IDKeyID  IDType = 11 // ID_KEY_ID
)

// Identity is a local or remote IKE identity of a rule. It is a value
// type, safe for concurrent reads.
type Identity struct {
	Type IDType
	// Value is the address, name, e-mail address, DN ("CN=gw, O=Example")
	// or key ID as written.
	Value string
}

// IsZero reports whether no identity is configured.
func (id Identity) IsZero() bool { return id.Type == 0 }

// String returns the identity in the syntax ParseIdentity reads: the
// value with the type's prefix (e.g. "fqdn:gw.example.com").
func (id Identity) String() string {
	if p, ok := idPrefixes[id.Type]; ok {
		return p + ":" + id.Value
	}
	return ""
}

var idPrefixes = map[IDType]string{
	IDIPv4: "ipv4", IDFQDN: "fqdn", IDRFC822: "email", IDIPv6: "ipv6", IDDN: "dn", IDKeyID: "keyid",
}

// ParseIdentity parses an identity: an explicit type prefix ("ipv4:",
// "ipv6:", "fqdn:", "email:", "dn:", "keyid:"), or, without one, an IP
// address, a DN (it contains "="), "@name" or a host name (FQDN), or
// "user@domain" (RFC 822 address), as strongSwan reads them. The empty
// string is the zero Identity.
func ParseIdentity(s string) (Identity, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Identity{}, nil
	}
	typ := IDType(0)
	if p, v, ok := strings.Cut(s, ":"); ok {
		for t, name := range idPrefixes {
			if strings.EqualFold(p, name) {
				typ, s = t, strings.TrimSpace(v)
			}
		}
	}
	if typ == 0 {
		switch a, err := netip.ParseAddr(s); {
		case err == nil && a.Unmap().Is4():
			typ = IDIPv4
		case err == nil:
			typ = IDIPv6
		case strings.Contains(s, "="):
			typ = IDDN
		case strings.HasPrefix(s, "@"):
			typ, s = IDFQDN, s[1:]
		case strings.Contains(s, "@"):
			typ = IDRFC822
		default:
			typ = IDFQDN
		}
	}
	id := Identity{Type: typ, Value: s}
	return id, id.check()
}

func (id Identity) check() error {
	v := id.Value
	switch id.Type {
	case 0:
		return nil
	case IDIPv4, IDIPv6:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" || a.Unmap().Is4() != (id.Type == IDIPv4) {
			return fmt.Errorf("identity %q is not an IPv%d address", v, map[IDType]int{IDIPv4: 4, IDIPv6: 6}[id.Type])
		}
	case IDFQDN:
		if !validHostname(v) {
			return fmt.Errorf("identity %q is not a host name", v)
		}
	case IDRFC822:
		user, host, ok := strings.Cut(v, "@")
		if !ok || user == "" || !validHostname(host) {
			return fmt.Errorf("identity %q is not an e-mail address (user@domain)", v)
		}
	case IDDN:
		for _, rdn := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(rdn, "=")
			if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(val) == "" {
				return fmt.Errorf("identity %q is not a distinguished name (CN=..., O=...)", v)
			}
		}
	case IDKeyID:
		if v == "" {
			return fmt.Errorf("empty key ID")
		}
	default:
		return fmt.Errorf("unknown identity type %d", id.Type)
	}
	return nil
}

func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
