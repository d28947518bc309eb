package spd

import (
	"fmt"
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

// Encryption is an ESP encryption transform (IKEv2 transform type 1, RFC
// 7296 section 3.3.2; IANA "Transform Type 1" registry), with key length.
//
// It is a plain value, safe for concurrent use.
type Encryption uint8

// Encryption transforms. EncryptionNone is ESP with NULL encryption
// (RFC 2410): integrity only.
const (
	EncryptionNone Encryption = iota
	EncryptionDES
	Encryption3DES
	EncryptionAES128CBC
	EncryptionAES192CBC
	EncryptionAES256CBC
	EncryptionAES128CTR
	EncryptionAES256CTR
	EncryptionAES128GCM16
	EncryptionAES256GCM16
	EncryptionChaCha20Poly1305
	numEncryption
)

var encryptionInfo = [numEncryption]struct {
	names  []string // first is canonical; others are accepted aliases
	ikev2  uint16   // IANA IKEv2 transform ID
	keyLen int      // key length in bits (0: fixed by the transform)
	aead   bool
}{
	EncryptionNone:             {[]string{"none", "null"}, 11, 0, false},
	EncryptionDES:              {[]string{"des", "des-cbc"}, 2, 0, false},
	Encryption3DES:             {[]string{"3des", "3des-cbc", "des3"}, 3, 0, false},
	EncryptionAES128CBC:        {[]string{"aes128-cbc", "aes128", "aes-cbc-128"}, 12, 128, false},
	EncryptionAES192CBC:        {[]string{"aes192-cbc", "aes192", "aes-cbc-192"}, 12, 192, false},
	EncryptionAES256CBC:        {[]string{"aes256-cbc", "aes256", "aes-cbc-256"}, 12, 256, false},
	EncryptionAES128CTR:        {[]string{"aes128-ctr", "aes128ctr"}, 13, 128, false},
	EncryptionAES256CTR:        {[]string{"aes256-ctr", "aes256ctr"}, 13, 256, false},
	EncryptionAES128GCM16:      {[]string{"aes128-gcm16", "aes128gcm16", "aes128-gcm"}, 20, 128, true},
	EncryptionAES256GCM16:      {[]string{"aes256-gcm16", "aes256gcm16", "aes256-gcm"}, 20, 256, true},
	EncryptionChaCha20Poly1305: {[]string{"chacha20-poly1305", "chacha20poly1305"}, 28, 256, true},
}

// String returns the canonical policy-file name.
func (e Encryption) String() string {
	if e < numEncryption {
		return encryptionInfo[e].names[0]
	}
	return fmt.Sprintf("Encryption(%d)", uint8(e))
}

// IKEv2 returns the IANA IKEv2 transform ID and key length in bits (0 when
// the transform has no Key Length attribute).
func (e Encryption) IKEv2() (id uint16, keyBits int) {
	if e >= numEncryption {
		return 0, 0
	}
	return encryptionInfo[e].ikev2, encryptionInfo[e].keyLen
}

// AEAD reports whether the transform provides integrity itself (RFC 4106,
// RFC 7634), so ESP must not add an integrity transform.
func (e Encryption) AEAD() bool { return e < numEncryption && encryptionInfo[e].aead }

// ParseEncryption looks up an encryption transform by name.
func ParseEncryption(s string) (Encryption, bool) {
	s = strings.ToLower(s)
	for i, info := range encryptionInfo {
		for _, n := range info.names {
			if n == s {
				return Encryption(i), true
			}
		}
	}
	return 0, false
}

// Integrity is an ESP or AH integrity transform (IKEv2 transform type 3,
// RFC 7296 section 3.3.2; IANA "Transform Type 3" registry).
//
// It is a plain value, safe for concurrent use.
type Integrity uint8

// Integrity transforms.
const (
	IntegrityNone    Integrity = iota
	IntegrityMD5               // HMAC-MD5-96, RFC 2403
	IntegritySHA1              // HMAC-SHA1-96, RFC 2404
	IntegrityAESXCBC           // AES-XCBC-MAC-96, RFC 3566
	IntegritySHA256            // HMAC-SHA-256-128, RFC 4868
	IntegritySHA384            // HMAC-SHA-384-192, RFC 4868
	IntegritySHA512            // HMAC-SHA-512-256, RFC 4868
	numIntegrity
)

var integrityInfo = [numIntegrity]struct {
	names []string
	ikev2 uint16
}{
	IntegrityNone:    {[]string{"none"}, 0},
	IntegrityMD5:     {[]string{"md5", "hmac-md5-96"}, 1},
	IntegritySHA1:    {[]string{"sha1", "hmac-sha1-96"}, 2},
	IntegrityAESXCBC: {[]string{"aes-xcbc", "aesxcbc", "aes-xcbc-mac-96"}, 5},
	IntegritySHA256:  {[]string{"sha256", "hmac-sha2-256-128"}, 12},
	IntegritySHA384:  {[]string{"sha384", "hmac-sha2-384-192"}, 13},
	IntegritySHA512:  {[]string{"sha512", "hmac-sha2-512-256"}, 14},
}

// String returns the canonical policy-file name.
func (i Integrity) String() string {
	if i < numIntegrity {
		return integrityInfo[i].names[0]
	}
	return fmt.Sprintf("Integrity(%d)", uint8(i))
}

// IKEv2 returns the IANA IKEv2 transform ID (0 for none).
func (i Integrity) IKEv2() uint16 {
	if i >= numIntegrity {
		return 0
	}
	return integrityInfo[i].ikev2
}

// ParseIntegrity looks up an integrity transform by name.
func ParseIntegrity(s string) (Integrity, bool) {
	s = strings.ToLower(s)
	for i, info := range integrityInfo {
		for _, n := range info.names {
			if n == s {
				return Integrity(i), true
			}
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
	// ESPEncryption and ESPIntegrity apply when UseESP is set.
	ESPEncryption Encryption
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
		fmt.Fprintf(&b, "ESP[%s,%s]", m.ESPEncryption, m.ESPIntegrity)
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
		if m.ESPEncryption >= numEncryption {
			return fmt.Errorf("unknown ESP encryption %d", m.ESPEncryption)
		}
		if m.ESPIntegrity >= numIntegrity {
			return fmt.Errorf("unknown ESP integrity %d", m.ESPIntegrity)
		}
		if m.ESPEncryption.AEAD() && m.ESPIntegrity != IntegrityNone {
			// RFC 7296 section 3.3: an AEAD transform must not be
			// combined with an integrity transform.
			return fmt.Errorf("ESP %s is combined-mode (AEAD) and takes no integrity, not %s", m.ESPEncryption, m.ESPIntegrity)
		}
		if m.ESPEncryption == EncryptionNone && m.ESPIntegrity == IntegrityNone {
			// RFC 4303 section 3.2: ESP needs confidentiality or integrity.
			return fmt.Errorf("ESP with neither encryption nor integrity")
		}
	}
	if m.UseAH {
		if m.AHIntegrity == IntegrityNone || m.AHIntegrity >= numIntegrity {
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
}

// String describes the method without revealing a pre-shared key.
func (m AuthMethod) String() string {
	switch m.Kind {
	case AuthCertificate:
		return "certificate (root CA " + m.RootCA + ")"
	case AuthPreSharedKey:
		return "preshared_key (hidden)"
	}
	return m.Kind.String()
}
