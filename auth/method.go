package auth

import "strconv"

// Method is an IKEv2 authentication method: the "Auth Method" field of the
// AUTH payload (RFC 7296 section 3.8; IANA "IKEv2 Authentication Method").
// Values are immutable and safe for concurrent use.
type Method uint8

// IKEv2 authentication methods implemented or named by this package.
const (
	MethodRSASignature     Method = 1  // RSA Digital Signature: PKCS#1 v1.5 with SHA-1 (RFC 7296 3.8)
	MethodSharedKeyMIC     Method = 2  // Shared Key Message Integrity Code (RFC 7296 2.15)
	MethodDSSSignature     Method = 3  // DSS Digital Signature (not implemented)
	MethodECDSASHA256P256  Method = 9  // ECDSA with SHA-256 on the P-256 curve (RFC 4754)
	MethodECDSASHA384P384  Method = 10 // ECDSA with SHA-384 on the P-384 curve (RFC 4754)
	MethodECDSASHA512P521  Method = 11 // ECDSA with SHA-512 on the P-521 curve (RFC 4754)
	MethodDigitalSignature Method = 14 // Digital Signature (RFC 7427)
	methodLimit            Method = 15 // one past the last named method
)

var methodNames = [...]string{
	MethodRSASignature:     "RSA_DIGITAL_SIGNATURE",
	MethodSharedKeyMIC:     "SHARED_KEY_MIC",
	MethodDSSSignature:     "DSS_DIGITAL_SIGNATURE",
	MethodECDSASHA256P256:  "ECDSA_SHA256_P256",
	MethodECDSASHA384P384:  "ECDSA_SHA384_P384",
	MethodECDSASHA512P521:  "ECDSA_SHA512_P521",
	MethodDigitalSignature: "DIGITAL_SIGNATURE",
}

// String returns the IANA name of m, or "AUTH_METHOD(n)".
func (m Method) String() string {
	if m < methodLimit && methodNames[m] != "" {
		return methodNames[m]
	}
	return "AUTH_METHOD(" + strconv.Itoa(int(m)) + ")"
}
