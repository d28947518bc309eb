package spd

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Action is what the SPD does with a packet (RFC 4301 section 4.4.1,
// "DISCARD, BYPASS, PROTECT"), with Windows' filter action names in
// brackets: Permit, Block, Negotiate security.
//
// Like every enumeration here it is a plain value, safe for concurrent use.
type Action uint8

// Actions. The zero value is not an action; validation rejects it.
const (
	ActionBypass  Action = 1 // Windows "Permit": send/accept in the clear
	ActionDiscard Action = 2 // Windows "Block": drop silently
	ActionProtect Action = 3 // Windows "Negotiate security": ESP and/or AH
)

// String returns the RFC 4301 name followed by the Windows name.
func (a Action) String() string {
	switch a {
	case ActionBypass:
		return "BYPASS (permit)"
	case ActionDiscard:
		return "DISCARD (block)"
	case ActionProtect:
		return "PROTECT (negotiate security)"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// actionRank orders actions for equally specific filters: block, then
// negotiate, then permit, the most restrictive first.
func (a Action) rank() int {
	switch a {
	case ActionDiscard:
		return 0
	case ActionProtect:
		return 1
	}
	return 2
}

// Encryption is an ESP encryption transform, numbered as IKEv2 Transform
// Type 1 (RFC 7296 section 3.3.2; IANA "Transform Type 1 - Encryption
// Algorithm Transform IDs"), the numbering esp.Cipher and isakmp use. The
// key length is a separate attribute (SecurityMethod.ESPKeyBits). Zero is
// not a transform.
//
// It is a plain value, safe for concurrent use.
type Encryption uint16

// Encryption transforms. EncryptionNull is ESP with NULL encryption (RFC
// 2410): integrity only.
const (
	EncryptionDES              Encryption = 2  // RFC 2405; legacy
	Encryption3DES             Encryption = 3  // RFC 2451
	EncryptionNull             Encryption = 11 // RFC 2410
	EncryptionAESCBC           Encryption = 12 // RFC 3602
	EncryptionAESCTR           Encryption = 13 // RFC 3686
	EncryptionAESGCM16         Encryption = 20 // RFC 4106, 16-octet ICV
	EncryptionChaCha20Poly1305 Encryption = 28 // RFC 7634
)

// encryptionNames is the one table of policy-file names: an algorithm
// with its key length in bits (0: fixed by the transform). The first
// name of each pair is the canonical one; the others are aliases.
var encryptionNames = []struct {
	e     Encryption
	bits  int
	names []string
}{
	{EncryptionNull, 0, []string{"none", "null"}},
	{EncryptionDES, 0, []string{"des", "des-cbc"}},
	{Encryption3DES, 0, []string{"3des", "3des-cbc", "des3"}},
	{EncryptionAESCBC, 128, []string{"aes128-cbc", "aes128", "aes-cbc-128"}},
	{EncryptionAESCBC, 192, []string{"aes192-cbc", "aes192", "aes-cbc-192"}},
	{EncryptionAESCBC, 256, []string{"aes256-cbc", "aes256", "aes-cbc-256"}},
	{EncryptionAESCTR, 128, []string{"aes128-ctr", "aes128ctr"}},
	{EncryptionAESCTR, 192, []string{"aes192-ctr", "aes192ctr"}},
	{EncryptionAESCTR, 256, []string{"aes256-ctr", "aes256ctr"}},
	{EncryptionAESGCM16, 128, []string{"aes128-gcm16", "aes128gcm16", "aes128-gcm"}},
	{EncryptionAESGCM16, 192, []string{"aes192-gcm16", "aes192gcm16", "aes192-gcm"}},
	{EncryptionAESGCM16, 256, []string{"aes256-gcm16", "aes256gcm16", "aes256-gcm"}},
	{EncryptionChaCha20Poly1305, 0, []string{"chacha20-poly1305", "chacha20poly1305"}},
}

// String returns the IANA name of the transform, without key length.
func (e Encryption) String() string {
	switch e {
	case EncryptionDES:
		return "ENCR_DES"
	case Encryption3DES:
		return "ENCR_3DES"
	case EncryptionNull:
		return "ENCR_NULL"
	case EncryptionAESCBC:
		return "ENCR_AES_CBC"
	case EncryptionAESCTR:
		return "ENCR_AES_CTR"
	case EncryptionAESGCM16:
		return "ENCR_AES_GCM_16"
	case EncryptionChaCha20Poly1305:
		return "ENCR_CHACHA20_POLY1305"
	}
	return fmt.Sprintf("Encryption(%d)", uint16(e))
}

// Name returns the policy-file name of the transform with key length
// bits, e.g. "aes128-gcm16", or "" if the pair is not one this package
// knows.
func (e Encryption) Name(bits int) string {
	for _, n := range encryptionNames {
		if n.e == e && n.bits == bits {
			return n.names[0]
		}
	}
	return ""
}

// AEAD reports whether the transform provides integrity itself (RFC 4106,
// RFC 7634), so ESP must not add an integrity transform.
func (e Encryption) AEAD() bool {
	return e == EncryptionAESGCM16 || e == EncryptionChaCha20Poly1305
}

// ParseEncryption looks up an encryption transform by policy-file name
// and returns it with its key length in bits (0 when fixed).
func ParseEncryption(s string) (e Encryption, keyBits int, ok bool) {
	s = strings.ToLower(s)
	for _, n := range encryptionNames {
		if slices.Contains(n.names, s) {
			return n.e, n.bits, true
		}
	}
	return 0, 0, false
}

// Integrity is an ESP or AH integrity transform, numbered as IKEv2
// Transform Type 3 (RFC 7296 section 3.3.2; IANA "Transform Type 3 -
// Integrity Algorithm Transform IDs"), the numbering esp.Integrity,
// ah.Integrity and isakmp use. IntegrityNone (0) is IANA's NONE.
//
// It is a plain value, safe for concurrent use.
type Integrity uint16

// Integrity transforms.
const (
	IntegrityNone    Integrity = 0
	IntegrityMD5     Integrity = 1  // HMAC-MD5-96, RFC 2403
	IntegritySHA1    Integrity = 2  // HMAC-SHA1-96, RFC 2404
	IntegrityAESXCBC Integrity = 5  // AES-XCBC-MAC-96, RFC 3566
	IntegritySHA256  Integrity = 12 // HMAC-SHA-256-128, RFC 4868
	IntegritySHA384  Integrity = 13 // HMAC-SHA-384-192, RFC 4868
	IntegritySHA512  Integrity = 14 // HMAC-SHA-512-256, RFC 4868
)

var integrityNames = []struct {
	i     Integrity
	names []string
}{
	{IntegrityNone, []string{"none"}},
	{IntegrityMD5, []string{"md5", "hmac-md5-96"}},
	{IntegritySHA1, []string{"sha1", "hmac-sha1-96"}},
	{IntegrityAESXCBC, []string{"aes-xcbc", "aesxcbc", "aes-xcbc-mac-96"}},
	{IntegritySHA256, []string{"sha256", "hmac-sha2-256-128"}},
	{IntegritySHA384, []string{"sha384", "hmac-sha2-384-192"}},
	{IntegritySHA512, []string{"sha512", "hmac-sha2-512-256"}},
}

// String returns the canonical policy-file name.
func (i Integrity) String() string {
	for _, n := range integrityNames {
		if n.i == i {
			return n.names[0]
		}
	}
	return fmt.Sprintf("Integrity(%d)", uint16(i))
}

func (i Integrity) known() bool {
	for _, n := range integrityNames {
		if n.i == i {
			return true
		}
	}
	return false
}

// ParseIntegrity looks up an integrity transform by name.
func ParseIntegrity(s string) (Integrity, bool) {
	s = strings.ToLower(s)
	for _, n := range integrityNames {
		if slices.Contains(n.names, s) {
			return n.i, true
		}
	}
	return 0, false
}

// SecurityMethod is one entry of a filter action's ordered list of
// security methods (Windows "IP Security Method"): ESP, AH, or AH with
// ESP, and the session key lifetimes. It is a value type and safe for
// concurrent reads.
type SecurityMethod struct {
	// UseESP and UseAH select the protocols; both means AH+ESP.
	UseESP bool
	UseAH  bool
	// ESPEncryption, ESPKeyBits (its key length in bits, 0 for a
	// transform of fixed length) and ESPIntegrity apply when UseESP is
	// set.
	ESPEncryption Encryption
	ESPKeyBits    int
	ESPIntegrity  Integrity
	// AHIntegrity applies when UseAH is set.
	AHIntegrity Integrity
	// Lifetime and LifetimeKB rekey the SA after this time or this many
	// kilobytes (Windows "Generate a new key every"); zero means no limit
	// of that kind.
	Lifetime   time.Duration
	LifetimeKB uint64
}

// Default session key lifetimes used by the policy file when a method
// names none.
const (
	DefaultLifetime   = time.Hour
	DefaultLifetimeKB = 100000
)

// String formats the method the way netsh shows it, e.g.
// "ESP[3des,sha1] <3600 secs/100000 kb>".
func (m SecurityMethod) String() string {
	var b strings.Builder
	if m.UseAH {
		fmt.Fprintf(&b, "AH[%s]", m.AHIntegrity)
	}
	if m.UseESP {
		if m.UseAH {
			b.WriteString("+")
		}
		fmt.Fprintf(&b, "ESP[%s,%s]", m.ESPEncryption.Name(m.ESPKeyBits), m.ESPIntegrity)
	}
	fmt.Fprintf(&b, " <%d secs/%d kb>", int64(m.Lifetime/time.Second), m.LifetimeKB)
	return b.String()
}

// Check reports a contradiction in the method, or nil.
func (m SecurityMethod) Check() error {
	if !m.UseESP && !m.UseAH {
		return fmt.Errorf("method uses neither ESP nor AH")
	}
	if m.UseESP {
		if m.ESPEncryption == 0 {
			return fmt.Errorf("ESP encryption not set (null for none)")
		}
		if m.ESPEncryption.Name(m.ESPKeyBits) == "" {
			return fmt.Errorf("unknown ESP encryption %s with a %d-bit key", m.ESPEncryption, m.ESPKeyBits)
		}
		if !m.ESPIntegrity.known() {
			return fmt.Errorf("unknown ESP integrity %d", m.ESPIntegrity)
		}
		if m.ESPEncryption.AEAD() && m.ESPIntegrity != IntegrityNone {
			// RFC 7296 section 3.3: an AEAD transform must not be
			// combined with an integrity transform.
			return fmt.Errorf("ESP %s is combined-mode (AEAD) and takes no integrity, not %s", m.ESPEncryption, m.ESPIntegrity)
		}
		if m.ESPEncryption == EncryptionNull && m.ESPIntegrity == IntegrityNone {
			// RFC 4303 section 3.2: ESP needs confidentiality or integrity.
			return fmt.Errorf("ESP with neither encryption nor integrity")
		}
	}
	if m.UseAH {
		if m.AHIntegrity == IntegrityNone || !m.AHIntegrity.known() {
			return fmt.Errorf("AH needs an integrity algorithm")
		}
	}
	if m.Lifetime < 0 {
		return fmt.Errorf("negative lifetime")
	}
	return nil
}

// FilterAction says what happens to traffic that matches a rule's filter
// list (Windows "Filter Action"). It is a value type and safe for
// concurrent reads.
type FilterAction struct {
	Name        string
	Description string
	Action      Action
	// Methods are the security methods in order of preference; PROTECT
	// only.
	Methods []SecurityMethod
	// PFS asks for session key perfect forward secrecy: a fresh
	// Diffie-Hellman exchange for every CHILD SA (RFC 7296 section 1.3).
	PFS bool
	// PFSGroup is the key exchange group of that exchange; GroupNone
	// (with PFS) means the IKE SA's group, as Windows does.
	PFSGroup Group
	// AcceptUnsecured is Windows' "Accept unsecured communication, but
	// always respond using IPsec": an inbound clear packet is accepted,
	// and replies are protected.
	AcceptUnsecured bool
	// FallbackToClear is Windows' "Allow unsecured communication with
	// non-IPsec-aware computers": if the peer never answers IKE, traffic
	// goes in the clear.
	FallbackToClear bool
}

// AuthKind is an authentication method of IKE (Windows "Authentication
// Methods"). It is a plain value, safe for concurrent use.
type AuthKind uint8

// Authentication kinds.
const (
	AuthKerberos     AuthKind = 1 // Kerberos V5 (GSS-API)
	AuthCertificate  AuthKind = 2 // X.509 certificate from a trusted root CA
	AuthPreSharedKey AuthKind = 3 // pre-shared key (RFC 7296 section 2.15)
)

// String returns the policy-file keyword.
func (k AuthKind) String() string {
	switch k {
	case AuthKerberos:
		return "kerberos"
	case AuthCertificate:
		return "certificate"
	case AuthPreSharedKey:
		return "preshared_key"
	}
	return fmt.Sprintf("AuthKind(%d)", uint8(k))
}

// AuthMethod is one authentication method of a rule. It is a value type
// and safe for concurrent reads.
type AuthMethod struct {
	Kind AuthKind
	// RootCA names the trusted root certification authority
	// (AuthCertificate), e.g. "CN=Contoso Root CA".
	RootCA string
	// PreSharedKey is the secret (AuthPreSharedKey). Dumps never show it.
	PreSharedKey string
	// PreSharedKeyRef names a secret the caller looks up (a keyring
	// entry), instead of PreSharedKey, so that the policy file need not
	// hold it.
	PreSharedKeyRef string
	// Principal is the Kerberos principal of the peer (AuthKerberos), e.g.
	// "host/gw.example.com@EXAMPLE.COM"; empty: derived by the caller
	// from the peer's name.
	Principal string
}

// String describes the method without revealing a pre-shared key.
func (m AuthMethod) String() string {
	switch m.Kind {
	case AuthCertificate:
		return "certificate (root CA " + m.RootCA + ")"
	case AuthPreSharedKey:
		if m.PreSharedKeyRef != "" {
			return "preshared_key (ref " + m.PreSharedKeyRef + ")"
		}
		return "preshared_key (hidden)"
	case AuthKerberos:
		if m.Principal != "" {
			return "kerberos (" + m.Principal + ")"
		}
	}
	return m.Kind.String()
}
