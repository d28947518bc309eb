package isakmp

// IKEv1 registries: "ISAKMP Identifiers", "Internet Key Exchange (IKE)
// Attributes" and "IPsec DOI" at https://www.iana.org/assignments/.

// DOI is a Domain of Interpretation (RFC 2408 3.4, RFC 2407 4.2).
type DOI uint32

// Domains of interpretation.
const (
	DOIISAKMP DOI = 0
	DOIIPsec  DOI = 1 // RFC 2407
	DOIGDOI   DOI = 2 // RFC 6407
)

func (d DOI) String() string {
	return lookup(map[DOI]string{DOIISAKMP: "ISAKMP", DOIIPsec: "IPSEC", DOIGDOI: "GDOI"}, d, "DOI")
}

// Situation is the IPsec DOI situation bitmask (RFC 2407 4.2).
type Situation uint32

// IPsec DOI situations.
const (
	SitIdentityOnly Situation = 0x01
	SitSecrecy      Situation = 0x02
	SitIntegrity    Situation = 0x04
)

func (s Situation) String() string {
	return lookup(map[Situation]string{SitIdentityOnly: "SIT_IDENTITY_ONLY", SitSecrecy: "SIT_SECRECY", SitIntegrity: "SIT_INTEGRITY"}, s, "Situation")
}

// V1TransformKeyIKE is the only transform ID of protocol ISAKMP
// (RFC 2407 4.4.2).
const V1TransformKeyIKE uint8 = 1

// V1AHTransform is an IPsec DOI AH transform ID (RFC 2407 4.4.3 and the
// registry). ESP transform IDs share the EncrID numbers (RFC 2407 4.4.4).
type V1AHTransform uint8

// AH transform IDs.
const (
	V1AHMD5        V1AHTransform = 2
	V1AHSHA        V1AHTransform = 3
	V1AHDES        V1AHTransform = 4
	V1AHSHA2_256   V1AHTransform = 5
	V1AHSHA2_384   V1AHTransform = 6
	V1AHSHA2_512   V1AHTransform = 7
	V1AHRIPEMD     V1AHTransform = 8
	V1AHAESXCBCMAC V1AHTransform = 9
	V1AHRSA        V1AHTransform = 10
	V1AHAES128GMAC V1AHTransform = 11
	V1AHAES192GMAC V1AHTransform = 12
	V1AHAES256GMAC V1AHTransform = 13
)

var v1AHNames = map[V1AHTransform]string{
	2: "AH_MD5", 3: "AH_SHA", 4: "AH_DES", 5: "AH_SHA2_256", 6: "AH_SHA2_384", 7: "AH_SHA2_512",
	8: "AH_RIPEMD", 9: "AH_AES_XCBC_MAC", 10: "AH_RSA", 11: "AH_AES_128_GMAC",
	12: "AH_AES_192_GMAC", 13: "AH_AES_256_GMAC",
}

func (t V1AHTransform) String() string { return lookup(v1AHNames, t, "V1AHTransform") }

// V1Attr is an IKEv1 phase 1 (ISAKMP SA) attribute class (RFC 2409
// appendix A).
type V1Attr uint16

// Phase 1 attribute classes.
const (
	V1AttrEncryption   V1Attr = 1 // V1Encr
	V1AttrHash         V1Attr = 2 // V1Hash
	V1AttrAuthMethod   V1Attr = 3 // V1AuthMethod
	V1AttrGroupDesc    V1Attr = 4 // KEGroup
	V1AttrGroupType    V1Attr = 5 // 1 MODP, 2 ECP, 3 EC2N
	V1AttrGroupPrime   V1Attr = 6
	V1AttrGroupGenOne  V1Attr = 7
	V1AttrGroupGenTwo  V1Attr = 8
	V1AttrGroupCurveA  V1Attr = 9
	V1AttrGroupCurveB  V1Attr = 10
	V1AttrLifeType     V1Attr = 11 // V1LifeType
	V1AttrLifeDuration V1Attr = 12
	V1AttrPRF          V1Attr = 13
	V1AttrKeyLength    V1Attr = 14 // bits
	V1AttrFieldSize    V1Attr = 15
	V1AttrGroupOrder   V1Attr = 16
	// V1AttrGSSIdentity carries the sender's GSS-API identity name (for
	// Kerberos, its principal) in a phase 1 transform of the GSS-API
	// authentication method (draft-ietf-ipsec-isakmp-gss-auth-07 3.3);
	// Windows 2000 has been seen sending it as V1AttrGSSIdentityWin2000.
	V1AttrGSSIdentity        V1Attr = 16384
	V1AttrGSSIdentityWin2000 V1Attr = 32001
)

var v1AttrNames = map[V1Attr]string{
	1: "ENCRYPTION_ALGORITHM", 2: "HASH_ALGORITHM", 3: "AUTH_METHOD", 4: "GROUP_DESCRIPTION",
	5: "GROUP_TYPE", 6: "GROUP_PRIME", 7: "GROUP_GENERATOR_ONE", 8: "GROUP_GENERATOR_TWO",
	9: "GROUP_CURVE_A", 10: "GROUP_CURVE_B", 11: "LIFE_TYPE", 12: "LIFE_DURATION",
	13: "PRF", 14: "KEY_LENGTH", 15: "FIELD_SIZE", 16: "GROUP_ORDER",
	16384: "GSS_IDENTITY_NAME", 32001: "GSS_IDENTITY_NAME_WIN2000",
}

func (a V1Attr) String() string { return lookup(v1AttrNames, a, "V1Attr") }

// V1Encr is a phase 1 Encryption Algorithm value (RFC 2409 appendix A,
// RFC 3602 for AES).
type V1Encr uint16

// Phase 1 encryption algorithms.
const (
	V1EncrDESCBC      V1Encr = 1
	V1EncrIDEACBC     V1Encr = 2
	V1EncrBlowfishCBC V1Encr = 3
	V1EncrRC5CBC      V1Encr = 4
	V1Encr3DESCBC     V1Encr = 5
	V1EncrCASTCBC     V1Encr = 6
	V1EncrAESCBC      V1Encr = 7
	V1EncrCamelliaCBC V1Encr = 8
)

var v1EncrNames = map[V1Encr]string{
	1: "DES_CBC", 2: "IDEA_CBC", 3: "BLOWFISH_CBC", 4: "RC5_R16_B64_CBC", 5: "3DES_CBC",
	6: "CAST_CBC", 7: "AES_CBC", 8: "CAMELLIA_CBC",
}

func (e V1Encr) String() string { return lookup(v1EncrNames, e, "V1Encr") }

// V1HashAlg is a phase 1 Hash Algorithm value (RFC 2409 appendix A,
// RFC 4868 for SHA-2).
type V1HashAlg uint16

// Phase 1 hash algorithms.
const (
	V1HashMD5     V1HashAlg = 1
	V1HashSHA1    V1HashAlg = 2
	V1HashTiger   V1HashAlg = 3
	V1HashSHA2256 V1HashAlg = 4
	V1HashSHA2384 V1HashAlg = 5
	V1HashSHA2512 V1HashAlg = 6
)

var v1HashNames = map[V1HashAlg]string{1: "MD5", 2: "SHA", 3: "TIGER", 4: "SHA2_256", 5: "SHA2_384", 6: "SHA2_512"}

func (h V1HashAlg) String() string { return lookup(v1HashNames, h, "V1HashAlg") }

// V1AuthMethod is a phase 1 Authentication Method value (RFC 2409
// appendix A, RFC 4754, draft-ietf-ipsec-isakmp-hybrid-auth/XAUTH).
type V1AuthMethod uint16

// Phase 1 authentication methods.
const (
	V1AuthPSK           V1AuthMethod = 1
	V1AuthDSS           V1AuthMethod = 2
	V1AuthRSASig        V1AuthMethod = 3
	V1AuthRSAEnc        V1AuthMethod = 4
	V1AuthRSAEncRevised V1AuthMethod = 5
	V1AuthECDSA256      V1AuthMethod = 9
	V1AuthECDSA384      V1AuthMethod = 10
	V1AuthECDSA521      V1AuthMethod = 11
	V1AuthHybridInitRSA V1AuthMethod = 64221
	V1AuthXAUTHInitPSK  V1AuthMethod = 65001
	// V1AuthGSSKerberos is the value Windows 2000, XP and Server 2003
	// send for Kerberos (the GSS-API method of draft-ietf-ipsec-isakmp-
	// gss-auth-07). It is the same number as V1AuthXAUTHInitPSK in the
	// private range; which one a transform means follows from its
	// context: a transform that carries a GSS identity attribute
	// (V1AttrGSSIdentity or V1AttrGSSIdentityWin2000), or comes from a
	// peer that sent a GSS-API vendor ID, means Kerberos.
	V1AuthGSSKerberos  V1AuthMethod = 65001
	V1AuthXAUTHRespPSK V1AuthMethod = 65002
	V1AuthXAUTHInitRSA V1AuthMethod = 65005
	V1AuthXAUTHRespRSA V1AuthMethod = 65006
)

var v1AuthNames = map[V1AuthMethod]string{
	1: "PRE_SHARED_KEY", 2: "DSS_SIGNATURES", 3: "RSA_SIGNATURES", 4: "RSA_ENCRYPTION",
	5: "RSA_ENCRYPTION_REVISED", 9: "ECDSA_SHA256_P256", 10: "ECDSA_SHA384_P384",
	11: "ECDSA_SHA512_P521", 64221: "HYBRID_INIT_RSA", 65001: "XAUTH_INIT_PSK",
	65002: "XAUTH_RESP_PSK", 65005: "XAUTH_INIT_RSA", 65006: "XAUTH_RESP_RSA",
}

func (a V1AuthMethod) String() string { return lookup(v1AuthNames, a, "V1AuthMethod") }

// V1LifeType is the unit of a Life Duration (RFC 2409 appendix A; the same
// numbers for the IPsec DOI SA Life Type, RFC 2407 4.5).
type V1LifeType uint16

// Life types.
const (
	V1LifeSeconds   V1LifeType = 1
	V1LifeKilobytes V1LifeType = 2
)

func (l V1LifeType) String() string {
	return lookup(map[V1LifeType]string{1: "SECONDS", 2: "KILOBYTES"}, l, "V1LifeType")
}

// V1IPsecAttr is an IPsec DOI SA attribute type, used in phase 2 (Quick
// Mode) transforms (RFC 2407 4.5).
type V1IPsecAttr uint16

// IPsec DOI attributes.
const (
	V1IPsecLifeType       V1IPsecAttr = 1 // V1LifeType
	V1IPsecLifeDuration   V1IPsecAttr = 2
	V1IPsecGroupDesc      V1IPsecAttr = 3 // KEGroup, for PFS
	V1IPsecEncapMode      V1IPsecAttr = 4 // V1EncapMode
	V1IPsecAuthAlg        V1IPsecAttr = 5 // V1AuthAlg
	V1IPsecKeyLength      V1IPsecAttr = 6
	V1IPsecKeyRounds      V1IPsecAttr = 7
	V1IPsecCompDictSize   V1IPsecAttr = 8
	V1IPsecCompPrivateAlg V1IPsecAttr = 9
	V1IPsecECNTunnel      V1IPsecAttr = 10 // RFC 3168
	V1IPsecESN            V1IPsecAttr = 11 // RFC 4304
)

var v1IPsecAttrNames = map[V1IPsecAttr]string{
	1: "SA_LIFE_TYPE", 2: "SA_LIFE_DURATION", 3: "GROUP_DESCRIPTION", 4: "ENCAPSULATION_MODE",
	5: "AUTH_ALGORITHM", 6: "KEY_LENGTH", 7: "KEY_ROUNDS", 8: "COMPRESS_DICTIONARY_SIZE",
	9: "COMPRESS_PRIVATE_ALGORITHM", 10: "ECN_TUNNEL", 11: "EXTENDED_SEQUENCE_NUMBER",
}

func (a V1IPsecAttr) String() string { return lookup(v1IPsecAttrNames, a, "V1IPsecAttr") }

// V1EncapMode is the IPsec DOI Encapsulation Mode (RFC 2407 4.5, RFC 3947
// 5.1 for the UDP-encapsulated modes; 61443 and 61444 are the
// draft-ietf-ipsec-nat-t-ike values still sent by some peers).
type V1EncapMode uint16

// Encapsulation modes.
const (
	V1EncapTunnel            V1EncapMode = 1
	V1EncapTransport         V1EncapMode = 2
	V1EncapUDPTunnel         V1EncapMode = 3
	V1EncapUDPTransport      V1EncapMode = 4
	V1EncapUDPTunnelDraft    V1EncapMode = 61443
	V1EncapUDPTransportDraft V1EncapMode = 61444
)

var v1EncapNames = map[V1EncapMode]string{
	1: "TUNNEL", 2: "TRANSPORT", 3: "UDP_ENCAPSULATED_TUNNEL", 4: "UDP_ENCAPSULATED_TRANSPORT",
	61443: "UDP_ENCAPSULATED_TUNNEL_DRAFT", 61444: "UDP_ENCAPSULATED_TRANSPORT_DRAFT",
}

func (m V1EncapMode) String() string { return lookup(v1EncapNames, m, "V1EncapMode") }

// V1AuthAlg is the IPsec DOI Authentication Algorithm attribute value
// (RFC 2407 4.5, RFC 4868, RFC 4543).
type V1AuthAlg uint16

// IPsec DOI authentication algorithms.
const (
	V1AuthAlgHMACMD5    V1AuthAlg = 1
	V1AuthAlgHMACSHA1   V1AuthAlg = 2
	V1AuthAlgDESMAC     V1AuthAlg = 3
	V1AuthAlgKPDK       V1AuthAlg = 4
	V1AuthAlgHMACSHA256 V1AuthAlg = 5
	V1AuthAlgHMACSHA384 V1AuthAlg = 6
	V1AuthAlgHMACSHA512 V1AuthAlg = 7
	V1AuthAlgHMACRIPEMD V1AuthAlg = 8
	V1AuthAlgAESXCBC    V1AuthAlg = 9
	V1AuthAlgSigRSA     V1AuthAlg = 10
	V1AuthAlgAES128GMAC V1AuthAlg = 11
	V1AuthAlgAES192GMAC V1AuthAlg = 12
	V1AuthAlgAES256GMAC V1AuthAlg = 13
)

var v1AuthAlgNames = map[V1AuthAlg]string{
	1: "HMAC_MD5", 2: "HMAC_SHA", 3: "DES_MAC", 4: "KPDK", 5: "HMAC_SHA2_256", 6: "HMAC_SHA2_384",
	7: "HMAC_SHA2_512", 8: "HMAC_RIPEMD", 9: "AES_XCBC_MAC", 10: "SIG_RSA",
	11: "AES_128_GMAC", 12: "AES_192_GMAC", 13: "AES_256_GMAC",
}

func (a V1AuthAlg) String() string { return lookup(v1AuthAlgNames, a, "V1AuthAlg") }
