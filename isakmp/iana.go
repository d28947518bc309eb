package isakmp

import "strconv"

// This file holds the IANA numbers shared by IKEv1 and IKEv2, and those of
// IKEv2. One table per registry, one source of truth: every String method
// reads the table beside its constants. IKEv1-only registries are in
// iana_ikev1.go.
//
// Registries: "Internet Key Exchange Version 2 (IKEv2) Parameters" and
// "Internet Key Exchange (IKE) Attributes" / "ISAKMP Identifiers" at
// https://www.iana.org/assignments/.

func lookup[T ~uint8 | ~uint16 | ~uint32](names map[T]string, v T, kind string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return kind + "(" + strconv.FormatUint(uint64(v), 10) + ")"
}

// ExchangeType is the Exchange Type field of the ISAKMP header
// (RFC 2408 3.1, RFC 7296 3.1). IKEv1 uses 0-33, IKEv2 34 and up.
type ExchangeType uint8

// Exchange types.
const (
	ExchangeNone              ExchangeType = 0
	ExchangeV1Base            ExchangeType = 1  // RFC 2408 4.4
	ExchangeV1IdentityProtect ExchangeType = 2  // RFC 2408 4.5; IKEv1 Main Mode
	ExchangeV1AuthOnly        ExchangeType = 3  // RFC 2408 4.6
	ExchangeV1Aggressive      ExchangeType = 4  // RFC 2408 4.7
	ExchangeV1Informational   ExchangeType = 5  // RFC 2408 4.8
	ExchangeV1Transaction     ExchangeType = 6  // draft-ietf-ipsec-isakmp-mode-cfg (Mode Config, XAUTH)
	ExchangeV1QuickMode       ExchangeType = 32 // RFC 2409 5.5
	ExchangeV1NewGroupMode    ExchangeType = 33 // RFC 2409 5.6
	ExchangeIKESAInit         ExchangeType = 34 // RFC 7296 1.2
	ExchangeIKEAuth           ExchangeType = 35 // RFC 7296 1.2
	ExchangeCreateChildSA     ExchangeType = 36 // RFC 7296 1.3
	ExchangeInformational     ExchangeType = 37 // RFC 7296 1.4
	ExchangeIKESessionResume  ExchangeType = 38 // RFC 5723
	ExchangeGSAAuth           ExchangeType = 39 // RFC 9838 (G-IKEv2)
	ExchangeGSARegistration   ExchangeType = 40 // RFC 9838
	ExchangeGSARekey          ExchangeType = 41 // RFC 9838
	ExchangeIKEIntermediate   ExchangeType = 43 // RFC 9242
	ExchangeIKEFollowupKE     ExchangeType = 44 // RFC 9370
	ExchangeV1MainMode                     = ExchangeV1IdentityProtect
	ExchangeV1ModeConfig                   = ExchangeV1Transaction
	exchangeIKEv2First        ExchangeType = 34
)

var exchangeNames = map[ExchangeType]string{
	ExchangeNone:              "NONE",
	ExchangeV1Base:            "BASE",
	ExchangeV1IdentityProtect: "ID_PROT",
	ExchangeV1AuthOnly:        "AUTH_ONLY",
	ExchangeV1Aggressive:      "AGGRESSIVE",
	ExchangeV1Informational:   "INFORMATIONAL_V1",
	ExchangeV1Transaction:     "TRANSACTION",
	ExchangeV1QuickMode:       "QUICK_MODE",
	ExchangeV1NewGroupMode:    "NEW_GROUP_MODE",
	ExchangeIKESAInit:         "IKE_SA_INIT",
	ExchangeIKEAuth:           "IKE_AUTH",
	ExchangeCreateChildSA:     "CREATE_CHILD_SA",
	ExchangeInformational:     "INFORMATIONAL",
	ExchangeIKESessionResume:  "IKE_SESSION_RESUME",
	ExchangeGSAAuth:           "GSA_AUTH",
	ExchangeGSARegistration:   "GSA_REGISTRATION",
	ExchangeGSARekey:          "GSA_REKEY",
	ExchangeIKEIntermediate:   "IKE_INTERMEDIATE",
	ExchangeIKEFollowupKE:     "IKE_FOLLOWUP_KE",
}

func (e ExchangeType) String() string { return lookup(exchangeNames, e, "ExchangeType") }

// PayloadType is the Next Payload field of the header and of every generic
// payload header (RFC 2408 3.1, RFC 7296 3.2). IKEv1 types are 1-32 (and
// the pre-RFC NAT-T types 130 and 131); IKEv2 types are 33 and up. RFC 7296
// 3.2 keeps 1-32 out of IKEv2 so the two can never be confused.
type PayloadType uint8

// IKEv2 payload types (RFC 7296 3.2 and later RFCs).
const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33 // RFC 7296 3.3
	PayloadKE       PayloadType = 34 // RFC 7296 3.4
	PayloadIDi      PayloadType = 35 // RFC 7296 3.5
	PayloadIDr      PayloadType = 36 // RFC 7296 3.5
	PayloadCERT     PayloadType = 37 // RFC 7296 3.6
	PayloadCERTREQ  PayloadType = 38 // RFC 7296 3.7
	PayloadAUTH     PayloadType = 39 // RFC 7296 3.8
	PayloadNonce    PayloadType = 40 // RFC 7296 3.9
	PayloadNotify   PayloadType = 41 // RFC 7296 3.10
	PayloadDelete   PayloadType = 42 // RFC 7296 3.11
	PayloadVendorID PayloadType = 43 // RFC 7296 3.12
	PayloadTSi      PayloadType = 44 // RFC 7296 3.13
	PayloadTSr      PayloadType = 45 // RFC 7296 3.13
	PayloadSK       PayloadType = 46 // RFC 7296 3.14
	PayloadCP       PayloadType = 47 // RFC 7296 3.15
	PayloadEAP      PayloadType = 48 // RFC 7296 3.16
	PayloadGSPM     PayloadType = 49 // RFC 6467
	PayloadIDg      PayloadType = 50 // RFC 9838
	PayloadGSA      PayloadType = 51 // RFC 9838
	PayloadKD       PayloadType = 52 // RFC 9838
	PayloadSKF      PayloadType = 53 // RFC 7383 2.5
	PayloadPS       PayloadType = 54 // RFC 8019
)

// IKEv1 payload types (RFC 2408 3.1, RFC 3947, RFC 6407).
const (
	PayloadV1SA         PayloadType = 1   // RFC 2408 3.4
	PayloadV1Proposal   PayloadType = 2   // RFC 2408 3.5
	PayloadV1Transform  PayloadType = 3   // RFC 2408 3.6
	PayloadV1KE         PayloadType = 4   // RFC 2408 3.7
	PayloadV1ID         PayloadType = 5   // RFC 2408 3.8, RFC 2407 4.6.2
	PayloadV1CERT       PayloadType = 6   // RFC 2408 3.9
	PayloadV1CR         PayloadType = 7   // RFC 2408 3.10
	PayloadV1Hash       PayloadType = 8   // RFC 2408 3.11
	PayloadV1Sig        PayloadType = 9   // RFC 2408 3.12
	PayloadV1Nonce      PayloadType = 10  // RFC 2408 3.13
	PayloadV1Notify     PayloadType = 11  // RFC 2408 3.14
	PayloadV1Delete     PayloadType = 12  // RFC 2408 3.15
	PayloadV1VendorID   PayloadType = 13  // RFC 2408 3.16
	PayloadV1Attribute  PayloadType = 14  // draft-ietf-ipsec-isakmp-mode-cfg-05 3.2
	PayloadV1SAK        PayloadType = 15  // RFC 6407 (GDOI)
	PayloadV1SAT        PayloadType = 16  // RFC 6407
	PayloadV1KD         PayloadType = 17  // RFC 6407
	PayloadV1SEQ        PayloadType = 18  // RFC 6407
	PayloadV1POP        PayloadType = 19  // RFC 6407
	PayloadV1NATD       PayloadType = 20  // RFC 3947 3.2
	PayloadV1NATOA      PayloadType = 21  // RFC 3947 5.1
	PayloadV1GSS        PayloadType = 129 // draft-ietf-ipsec-isakmp-gss-auth-07 3.3 (private use)
	PayloadV1NATDDraft  PayloadType = 130
	PayloadV1NATOADraft PayloadType = 131
	payloadV1Last       PayloadType = 32
	payloadV2FirstKnown             = PayloadSA
)

var payloadNames = map[PayloadType]string{
	PayloadNone: "NONE",
	PayloadSA:   "SA", PayloadKE: "KE", PayloadIDi: "IDi", PayloadIDr: "IDr",
	PayloadCERT: "CERT", PayloadCERTREQ: "CERTREQ", PayloadAUTH: "AUTH",
	PayloadNonce: "Nonce", PayloadNotify: "N", PayloadDelete: "D",
	PayloadVendorID: "V", PayloadTSi: "TSi", PayloadTSr: "TSr", PayloadSK: "SK",
	PayloadCP: "CP", PayloadEAP: "EAP", PayloadGSPM: "GSPM", PayloadIDg: "IDg",
	PayloadGSA: "GSA", PayloadKD: "KD", PayloadSKF: "SKF", PayloadPS: "PS",
	PayloadV1SA: "SA_V1", PayloadV1Proposal: "P_V1", PayloadV1Transform: "T_V1",
	PayloadV1KE: "KE_V1", PayloadV1ID: "ID_V1", PayloadV1CERT: "CERT_V1",
	PayloadV1CR: "CR_V1", PayloadV1Hash: "HASH_V1", PayloadV1Sig: "SIG_V1",
	PayloadV1Nonce: "NONCE_V1", PayloadV1Notify: "N_V1", PayloadV1Delete: "D_V1",
	PayloadV1VendorID: "VID_V1", PayloadV1Attribute: "ATTR_V1",
	PayloadV1SAK: "SAK_V1", PayloadV1SAT: "SAT_V1", PayloadV1KD: "KD_V1",
	PayloadV1SEQ: "SEQ_V1", PayloadV1POP: "POP_V1", PayloadV1NATD: "NAT-D_V1",
	PayloadV1NATOA: "NAT-OA_V1", PayloadV1NATDDraft: "NAT-D_DRAFT_V1",
	PayloadV1NATOADraft: "NAT-OA_DRAFT_V1", PayloadV1GSS: "GSS_V1",
}

func (p PayloadType) String() string { return lookup(payloadNames, p, "PayloadType") }

// IsIKEv1 reports whether p is a payload type from the IKEv1 range (1-32).
func (p PayloadType) IsIKEv1() bool { return p >= 1 && p <= payloadV1Last }

// ProtocolID is the Protocol ID of a proposal, notification or delete
// payload (RFC 7296 3.3.1; RFC 2407 4.4.1 for IKEv1).
type ProtocolID uint8

// Protocol IDs. IKEv1 calls 1 PROTO_ISAKMP; IKEv2 calls it IKE.
const (
	ProtocolNone   ProtocolID = 0
	ProtocolIKE    ProtocolID = 1
	ProtocolAH     ProtocolID = 2
	ProtocolESP    ProtocolID = 3
	ProtocolIPComp ProtocolID = 4 // IKEv1 only (RFC 2407 4.4.1)
	ProtocolFCESP  ProtocolID = 4 // IKEv2: FC_ESP_HEADER (RFC 4595)
)

var protocolNames = map[ProtocolID]string{
	ProtocolNone: "NONE", ProtocolIKE: "IKE", ProtocolAH: "AH", ProtocolESP: "ESP",
	ProtocolIPComp: "IPCOMP",
}

func (p ProtocolID) String() string { return lookup(protocolNames, p, "ProtocolID") }

// TransformType is the Transform Type of an IKEv2 transform (RFC 7296
// 3.3.2, RFC 9370 for the additional key exchanges).
type TransformType uint8

// IKEv2 transform types.
const (
	TransformENCR   TransformType = 1
	TransformPRF    TransformType = 2
	TransformINTEG  TransformType = 3
	TransformKE     TransformType = 4 // "Diffie-Hellman Group" in RFC 7296, "Key Exchange Method" since RFC 9370
	TransformESN    TransformType = 5 // "Extended Sequence Numbers"; "Sequence Numbers" since RFC 9827
	TransformADDKE1 TransformType = 6 // RFC 9370; ADDKE2..ADDKE7 are 7..12
	TransformADDKE7 TransformType = 12
)

var transformTypeNames = map[TransformType]string{
	TransformENCR: "ENCR", TransformPRF: "PRF", TransformINTEG: "INTEG",
	TransformKE: "KE", TransformESN: "ESN",
	6: "ADDKE1", 7: "ADDKE2", 8: "ADDKE3", 9: "ADDKE4", 10: "ADDKE5", 11: "ADDKE6", 12: "ADDKE7",
}

func (t TransformType) String() string { return lookup(transformTypeNames, t, "TransformType") }

// EncrID is an IKEv2 encryption transform ID (Transform Type 1). IKEv1's
// IPsec DOI ESP transform IDs (RFC 2407 4.4.4) use the same numbers.
type EncrID uint16

// Encryption algorithms (RFC 7296 3.3.2 and the IANA registry).
const (
	EncrDESIV64             EncrID = 1
	EncrDES                 EncrID = 2
	Encr3DES                EncrID = 3
	EncrRC5                 EncrID = 4
	EncrIDEA                EncrID = 5
	EncrCAST                EncrID = 6
	EncrBlowfish            EncrID = 7
	Encr3IDEA               EncrID = 8
	EncrDESIV32             EncrID = 9
	EncrNull                EncrID = 11 // RFC 2410
	EncrAESCBC              EncrID = 12 // RFC 3602
	EncrAESCTR              EncrID = 13 // RFC 3686
	EncrAESCCM8             EncrID = 14 // RFC 4309
	EncrAESCCM12            EncrID = 15
	EncrAESCCM16            EncrID = 16
	EncrAESGCM8             EncrID = 18 // RFC 4106
	EncrAESGCM12            EncrID = 19
	EncrAESGCM16            EncrID = 20
	EncrNullAuthAESGMAC     EncrID = 21 // RFC 4543
	EncrCamelliaCBC         EncrID = 23 // RFC 5529
	EncrCamelliaCTR         EncrID = 24
	EncrCamelliaCCM8        EncrID = 25
	EncrCamelliaCCM12       EncrID = 26
	EncrCamelliaCCM16       EncrID = 27
	EncrChaCha20Poly1305    EncrID = 28 // RFC 7634
	EncrAESCCM8IIV          EncrID = 29 // RFC 8750
	EncrAESGCM16IIV         EncrID = 30 // RFC 8750
	EncrChaCha20Poly1305IIV EncrID = 31 // RFC 8750
)

var encrNames = map[EncrID]string{
	EncrDESIV64: "ENCR_DES_IV64", EncrDES: "ENCR_DES", Encr3DES: "ENCR_3DES",
	EncrRC5: "ENCR_RC5", EncrIDEA: "ENCR_IDEA", EncrCAST: "ENCR_CAST",
	EncrBlowfish: "ENCR_BLOWFISH", Encr3IDEA: "ENCR_3IDEA", EncrDESIV32: "ENCR_DES_IV32",
	EncrNull: "ENCR_NULL", EncrAESCBC: "ENCR_AES_CBC", EncrAESCTR: "ENCR_AES_CTR",
	EncrAESCCM8: "ENCR_AES_CCM_8", EncrAESCCM12: "ENCR_AES_CCM_12", EncrAESCCM16: "ENCR_AES_CCM_16",
	EncrAESGCM8: "ENCR_AES_GCM_8", EncrAESGCM12: "ENCR_AES_GCM_12", EncrAESGCM16: "ENCR_AES_GCM_16",
	EncrNullAuthAESGMAC: "ENCR_NULL_AUTH_AES_GMAC", EncrCamelliaCBC: "ENCR_CAMELLIA_CBC",
	EncrCamelliaCTR: "ENCR_CAMELLIA_CTR", EncrCamelliaCCM8: "ENCR_CAMELLIA_CCM_8",
	EncrCamelliaCCM12: "ENCR_CAMELLIA_CCM_12", EncrCamelliaCCM16: "ENCR_CAMELLIA_CCM_16",
	EncrChaCha20Poly1305: "ENCR_CHACHA20_POLY1305", EncrAESCCM8IIV: "ENCR_AES_CCM_8_IIV",
	EncrAESGCM16IIV: "ENCR_AES_GCM_16_IIV", EncrChaCha20Poly1305IIV: "ENCR_CHACHA20_POLY1305_IIV",
}

func (e EncrID) String() string { return lookup(encrNames, e, "EncrID") }

// IsAEAD reports whether e is a combined-mode algorithm, which takes no
// INTEG transform (RFC 5282 8).
func (e EncrID) IsAEAD() bool {
	switch e {
	case EncrAESCCM8, EncrAESCCM12, EncrAESCCM16, EncrAESGCM8, EncrAESGCM12, EncrAESGCM16,
		EncrNullAuthAESGMAC, EncrCamelliaCCM8, EncrCamelliaCCM12, EncrCamelliaCCM16,
		EncrChaCha20Poly1305, EncrAESCCM8IIV, EncrAESGCM16IIV, EncrChaCha20Poly1305IIV:
		return true
	}
	return false
}

// PRFID is an IKEv2 pseudorandom function transform ID (Transform Type 2).
type PRFID uint16

// Pseudorandom functions (RFC 7296 3.3.2, RFC 4868, RFC 4434, RFC 4615).
const (
	PRFHMACMD5         PRFID = 1
	PRFHMACSHA1        PRFID = 2
	PRFHMACTiger       PRFID = 3
	PRFAES128XCBC      PRFID = 4
	PRFHMACSHA2_256    PRFID = 5
	PRFHMACSHA2_384    PRFID = 6
	PRFHMACSHA2_512    PRFID = 7
	PRFAES128CMAC      PRFID = 8
	PRFHMACStreebog512 PRFID = 9
)

var prfNames = map[PRFID]string{
	PRFHMACMD5: "PRF_HMAC_MD5", PRFHMACSHA1: "PRF_HMAC_SHA1", PRFHMACTiger: "PRF_HMAC_TIGER",
	PRFAES128XCBC: "PRF_AES128_XCBC", PRFHMACSHA2_256: "PRF_HMAC_SHA2_256",
	PRFHMACSHA2_384: "PRF_HMAC_SHA2_384", PRFHMACSHA2_512: "PRF_HMAC_SHA2_512",
	PRFAES128CMAC: "PRF_AES128_CMAC", PRFHMACStreebog512: "PRF_HMAC_STREEBOG_512",
}

func (p PRFID) String() string { return lookup(prfNames, p, "PRFID") }

// IntegID is an IKEv2 integrity transform ID (Transform Type 3). IKEv1's
// IPsec DOI authentication algorithm attribute uses a different table
// (V1AuthAlg).
type IntegID uint16

// Integrity algorithms (RFC 7296 3.3.2, RFC 4868, RFC 4543).
const (
	IntegNone             IntegID = 0
	IntegHMACMD5_96       IntegID = 1
	IntegHMACSHA1_96      IntegID = 2
	IntegDESMAC           IntegID = 3
	IntegKPDKMD5          IntegID = 4
	IntegAESXCBC96        IntegID = 5
	IntegHMACMD5_128      IntegID = 6
	IntegHMACSHA1_160     IntegID = 7
	IntegAESCMAC96        IntegID = 8
	IntegAES128GMAC       IntegID = 9
	IntegAES192GMAC       IntegID = 10
	IntegAES256GMAC       IntegID = 11
	IntegHMACSHA2_256_128 IntegID = 12
	IntegHMACSHA2_384_192 IntegID = 13
	IntegHMACSHA2_512_256 IntegID = 14
)

var integNames = map[IntegID]string{
	IntegNone: "NONE", IntegHMACMD5_96: "AUTH_HMAC_MD5_96", IntegHMACSHA1_96: "AUTH_HMAC_SHA1_96",
	IntegDESMAC: "AUTH_DES_MAC", IntegKPDKMD5: "AUTH_KPDK_MD5", IntegAESXCBC96: "AUTH_AES_XCBC_96",
	IntegHMACMD5_128: "AUTH_HMAC_MD5_128", IntegHMACSHA1_160: "AUTH_HMAC_SHA1_160",
	IntegAESCMAC96: "AUTH_AES_CMAC_96", IntegAES128GMAC: "AUTH_AES_128_GMAC",
	IntegAES192GMAC: "AUTH_AES_192_GMAC", IntegAES256GMAC: "AUTH_AES_256_GMAC",
	IntegHMACSHA2_256_128: "AUTH_HMAC_SHA2_256_128", IntegHMACSHA2_384_192: "AUTH_HMAC_SHA2_384_192",
	IntegHMACSHA2_512_256: "AUTH_HMAC_SHA2_512_256",
}

func (i IntegID) String() string { return lookup(integNames, i, "IntegID") }

// KEGroup is a key exchange method: an IKEv2 Transform Type 4 ID, the Group
// field of an IKEv2 KE payload, and the value of IKEv1's Group Description
// attribute (the two registries share their numbers).
type KEGroup uint16

// Key exchange methods (RFC 7296 3.3.2, RFC 3526, RFC 5903, RFC 5114,
// RFC 6954, RFC 8031, RFC 9385, and ML-KEM from draft-ietf-ipsecme-ikev2-mlkem).
const (
	GroupNone         KEGroup = 0
	GroupMODP768      KEGroup = 1
	GroupMODP1024     KEGroup = 2
	GroupMODP1536     KEGroup = 5
	GroupMODP2048     KEGroup = 14
	GroupMODP3072     KEGroup = 15
	GroupMODP4096     KEGroup = 16
	GroupMODP6144     KEGroup = 17
	GroupMODP8192     KEGroup = 18
	GroupECP256       KEGroup = 19
	GroupECP384       KEGroup = 20
	GroupECP521       KEGroup = 21
	GroupMODP1024S160 KEGroup = 22
	GroupMODP2048S224 KEGroup = 23
	GroupMODP2048S256 KEGroup = 24
	GroupECP192       KEGroup = 25
	GroupECP224       KEGroup = 26
	GroupBrainpool224 KEGroup = 27
	GroupBrainpool256 KEGroup = 28
	GroupBrainpool384 KEGroup = 29
	GroupBrainpool512 KEGroup = 30
	GroupCurve25519   KEGroup = 31
	GroupCurve448     KEGroup = 32
	GroupGOST256      KEGroup = 33
	GroupGOST512      KEGroup = 34
	GroupMLKEM512     KEGroup = 35
	GroupMLKEM768     KEGroup = 36
	GroupMLKEM1024    KEGroup = 37
)

var groupNames = map[KEGroup]string{
	GroupNone: "NONE", GroupMODP768: "MODP_768", GroupMODP1024: "MODP_1024",
	GroupMODP1536: "MODP_1536", GroupMODP2048: "MODP_2048", GroupMODP3072: "MODP_3072",
	GroupMODP4096: "MODP_4096", GroupMODP6144: "MODP_6144", GroupMODP8192: "MODP_8192",
	GroupECP256: "ECP_256", GroupECP384: "ECP_384", GroupECP521: "ECP_521",
	GroupMODP1024S160: "MODP_1024_160", GroupMODP2048S224: "MODP_2048_224",
	GroupMODP2048S256: "MODP_2048_256", GroupECP192: "ECP_192", GroupECP224: "ECP_224",
	GroupBrainpool224: "ECP_224_BP", GroupBrainpool256: "ECP_256_BP",
	GroupBrainpool384: "ECP_384_BP", GroupBrainpool512: "ECP_512_BP",
	GroupCurve25519: "CURVE_25519", GroupCurve448: "CURVE_448",
	GroupGOST256: "GOST3410_2012_256", GroupGOST512: "GOST3410_2012_512",
	GroupMLKEM512: "ML_KEM_512", GroupMLKEM768: "ML_KEM_768", GroupMLKEM1024: "ML_KEM_1024",
}

func (g KEGroup) String() string { return lookup(groupNames, g, "KEGroup") }

// ESNID is an IKEv2 Transform Type 5 ID (RFC 7296 3.3.2).
type ESNID uint16

// Extended sequence number choices.
const (
	ESNNo  ESNID = 0
	ESNYes ESNID = 1
)

func (e ESNID) String() string {
	return lookup(map[ESNID]string{ESNNo: "NO_EXT_SEQ", ESNYes: "EXT_SEQ"}, e, "ESNID")
}

// TransformAttr is an IKEv2 transform attribute type (RFC 7296 3.3.5).
type TransformAttr uint16

// AttrKeyLength is the only IKEv2 transform attribute: the key length in
// bits, in TV format (RFC 7296 3.3.5).
const AttrKeyLength TransformAttr = 14

func (a TransformAttr) String() string {
	return lookup(map[TransformAttr]string{AttrKeyLength: "KEY_LENGTH"}, a, "TransformAttr")
}

// IDType is the ID Type of an identification payload. IKEv2 (RFC 7296
// 3.5) and IKEv1's IPsec DOI (RFC 2407 4.6.2.1) share the numbers; IKEv1
// also has the subnet and range types that IKEv2 dropped.
type IDType uint8

// Identification types.
const (
	IDIPv4Addr       IDType = 1
	IDFQDN           IDType = 2
	IDRFC822Addr     IDType = 3 // IKEv1: ID_USER_FQDN
	IDIPv4AddrSubnet IDType = 4 // IKEv1 only
	IDIPv6Addr       IDType = 5
	IDIPv6AddrSubnet IDType = 6 // IKEv1 only
	IDIPv4AddrRange  IDType = 7 // IKEv1 only
	IDIPv6AddrRange  IDType = 8 // IKEv1 only
	IDDERASN1DN      IDType = 9
	IDDERASN1GN      IDType = 10
	IDKeyID          IDType = 11
	IDFCName         IDType = 12 // RFC 4595
	IDNull           IDType = 13 // RFC 7619
)

var idNames = map[IDType]string{
	IDIPv4Addr: "ID_IPV4_ADDR", IDFQDN: "ID_FQDN", IDRFC822Addr: "ID_RFC822_ADDR",
	IDIPv4AddrSubnet: "ID_IPV4_ADDR_SUBNET", IDIPv6Addr: "ID_IPV6_ADDR",
	IDIPv6AddrSubnet: "ID_IPV6_ADDR_SUBNET", IDIPv4AddrRange: "ID_IPV4_ADDR_RANGE",
	IDIPv6AddrRange: "ID_IPV6_ADDR_RANGE", IDDERASN1DN: "ID_DER_ASN1_DN",
	IDDERASN1GN: "ID_DER_ASN1_GN", IDKeyID: "ID_KEY_ID", IDFCName: "ID_FC_NAME", IDNull: "ID_NULL",
}

func (i IDType) String() string { return lookup(idNames, i, "IDType") }

// AuthMethod is the Auth Method of an IKEv2 AUTH payload (RFC 7296 3.8,
// RFC 4754, RFC 6467, RFC 7619, RFC 7427).
type AuthMethod uint8

// IKEv2 authentication methods.
const (
	AuthRSASig                AuthMethod = 1
	AuthSharedKeyMIC          AuthMethod = 2
	AuthDSSSig                AuthMethod = 3
	AuthECDSASHA256P256       AuthMethod = 9
	AuthECDSASHA384P384       AuthMethod = 10
	AuthECDSASHA512P521       AuthMethod = 11
	AuthGenericSecurePassword AuthMethod = 12
	AuthNull                  AuthMethod = 13
	AuthDigitalSignature      AuthMethod = 14
)

var authNames = map[AuthMethod]string{
	AuthRSASig: "RSA_SIG", AuthSharedKeyMIC: "SHARED_KEY_MIC", AuthDSSSig: "DSS_SIG",
	AuthECDSASHA256P256: "ECDSA_SHA256_P256", AuthECDSASHA384P384: "ECDSA_SHA384_P384",
	AuthECDSASHA512P521: "ECDSA_SHA512_P521", AuthGenericSecurePassword: "GSPAM",
	AuthNull: "NULL", AuthDigitalSignature: "DIGITAL_SIGNATURE",
}

func (a AuthMethod) String() string { return lookup(authNames, a, "AuthMethod") }

// CertEncoding is the Cert Encoding of a CERT or CERTREQ payload (RFC 7296
// 3.6; RFC 2408 3.9 for IKEv1, which shares numbers 1-10).
type CertEncoding uint8

// Certificate encodings.
const (
	CertPKCS7         CertEncoding = 1
	CertPGP           CertEncoding = 2
	CertDNSSignedKey  CertEncoding = 3
	CertX509Sig       CertEncoding = 4
	CertKerberosToken CertEncoding = 6
	CertCRL           CertEncoding = 7
	CertARL           CertEncoding = 8
	CertSPKI          CertEncoding = 9
	CertX509Attr      CertEncoding = 10
	CertRawRSAKey     CertEncoding = 11 // deprecated by RFC 7670
	CertHashURLX509   CertEncoding = 12
	CertHashURLBundle CertEncoding = 13
	CertOCSPContent   CertEncoding = 14 // RFC 4806
	CertRawPublicKey  CertEncoding = 15 // RFC 7670
)

var certNames = map[CertEncoding]string{
	CertPKCS7: "PKCS7_WRAPPED_X509", CertPGP: "PGP", CertDNSSignedKey: "DNS_SIGNED_KEY",
	CertX509Sig: "X509_SIGNATURE", CertKerberosToken: "KERBEROS_TOKEN", CertCRL: "CRL",
	CertARL: "ARL", CertSPKI: "SPKI", CertX509Attr: "X509_ATTRIBUTE", CertRawRSAKey: "RAW_RSA_KEY",
	CertHashURLX509: "HASH_URL_X509", CertHashURLBundle: "HASH_URL_X509_BUNDLE",
	CertOCSPContent: "OCSP_CONTENT", CertRawPublicKey: "RAW_PUBLIC_KEY",
}

func (c CertEncoding) String() string { return lookup(certNames, c, "CertEncoding") }

// TSType is the TS Type of an IKEv2 traffic selector (RFC 7296 3.13.1).
type TSType uint8

// Traffic selector types.
const (
	TSIPv4AddrRange TSType = 7
	TSIPv6AddrRange TSType = 8
	TSFCAddrRange   TSType = 9  // RFC 4595
	TSSecLabel      TSType = 10 // RFC 9478
)

var tsNames = map[TSType]string{
	TSIPv4AddrRange: "TS_IPV4_ADDR_RANGE", TSIPv6AddrRange: "TS_IPV6_ADDR_RANGE",
	TSFCAddrRange: "TS_FC_ADDR_RANGE", TSSecLabel: "TS_SECLABEL",
}

func (t TSType) String() string { return lookup(tsNames, t, "TSType") }

// CfgType is the CFG Type of an IKEv2 CP payload (RFC 7296 3.15) and the
// Type of an IKEv1 attribute payload (Mode Config), which share numbers.
type CfgType uint8

// Configuration payload types.
const (
	CfgRequest CfgType = 1
	CfgReply   CfgType = 2
	CfgSet     CfgType = 3
	CfgAck     CfgType = 4
)

var cfgNames = map[CfgType]string{CfgRequest: "CFG_REQUEST", CfgReply: "CFG_REPLY", CfgSet: "CFG_SET", CfgAck: "CFG_ACK"}

func (c CfgType) String() string { return lookup(cfgNames, c, "CfgType") }

// CfgAttr is an IKEv2 configuration attribute type (RFC 7296 3.15.1 and
// the IANA registry). IKEv1 Mode Config uses 1-15 with the same meaning.
type CfgAttr uint16

// Configuration attributes.
const (
	CfgInternalIP4Address  CfgAttr = 1
	CfgInternalIP4Netmask  CfgAttr = 2
	CfgInternalIP4DNS      CfgAttr = 3
	CfgInternalIP4NBNS     CfgAttr = 4
	CfgInternalIP4DHCP     CfgAttr = 6
	CfgApplicationVersion  CfgAttr = 7
	CfgInternalIP6Address  CfgAttr = 8
	CfgInternalIP6DNS      CfgAttr = 10
	CfgInternalIP6DHCP     CfgAttr = 12
	CfgInternalIP4Subnet   CfgAttr = 13
	CfgSupportedAttributes CfgAttr = 14
	CfgInternalIP6Subnet   CfgAttr = 15
	CfgInternalDNSDomain   CfgAttr = 25 // RFC 8598
	CfgInternalDNSSECTA    CfgAttr = 26 // RFC 8598
)

var cfgAttrNames = map[CfgAttr]string{
	CfgInternalIP4Address: "INTERNAL_IP4_ADDRESS", CfgInternalIP4Netmask: "INTERNAL_IP4_NETMASK",
	CfgInternalIP4DNS: "INTERNAL_IP4_DNS", CfgInternalIP4NBNS: "INTERNAL_IP4_NBNS",
	CfgInternalIP4DHCP: "INTERNAL_IP4_DHCP", CfgApplicationVersion: "APPLICATION_VERSION",
	CfgInternalIP6Address: "INTERNAL_IP6_ADDRESS", CfgInternalIP6DNS: "INTERNAL_IP6_DNS",
	CfgInternalIP6DHCP: "INTERNAL_IP6_DHCP", CfgInternalIP4Subnet: "INTERNAL_IP4_SUBNET",
	CfgSupportedAttributes: "SUPPORTED_ATTRIBUTES", CfgInternalIP6Subnet: "INTERNAL_IP6_SUBNET",
	CfgInternalDNSDomain: "INTERNAL_DNS_DOMAIN", CfgInternalDNSSECTA: "INTERNAL_DNSSEC_TA",
}

func (c CfgAttr) String() string { return lookup(cfgAttrNames, c, "CfgAttr") }
