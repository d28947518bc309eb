package auth

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	etypeID "github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// MIC tokens (RFC 4121 section 4.2.6.1): a 16-octet header (TOK_ID 04 04,
// flags, five 0xFF filler octets, an 8-octet sequence number) and the
// checksum of the message followed by that header, keyed with the context
// key under key usage 23 (acceptor sign) or 25 (initiator sign, section
// 2). The GSS-API authentication method for IKE uses one MIC per side, over
// HASH_I or HASH_R, in place of a signature (draft-ietf-ipsec-isakmp-gss-
// auth-07 section 3.2). Each side sends exactly one MIC per context, so the
// sequence number is 0 and no sequence window is kept: the IKE nonces,
// not GSS-API sequencing, make the hash fresh.

// GetMIC returns a MIC token over msg made with the context key, flagged
// as sent by the acceptor when acceptor is true. Only the RFC 3961 etypes
// (AES) have RFC 4121 MIC tokens; an RC4-HMAC context (RFC 4757 tokens)
// gives an error.
func (s *KerberosSession) GetMIC(msg []byte, acceptor bool) ([]byte, error) {
	if s.KeyType == etypeID.RC4_HMAC {
		return nil, fmt.Errorf("%w: MIC tokens for RC4-HMAC contexts (RFC 4757) are not supported", ErrKerberos)
	}
	mt := gssapi.MICToken{Payload: msg}
	usage := uint32(keyusage.GSSAPI_INITIATOR_SIGN)
	if acceptor {
		mt.Flags |= gssapi.MICTokenFlagSentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SIGN
	}
	if s.acceptorSubkey {
		mt.Flags |= gssapi.MICTokenFlagAcceptorSubkey
	}
	if err := mt.SetChecksum(s.key(), usage); err != nil {
		return nil, fmt.Errorf("%w: making a MIC: %v", ErrKerberos, err)
	}
	return mt.Marshal()
}

// VerifyMIC checks a MIC token over msg that the peer made: the token must
// be well formed, flagged as sent by the acceptor exactly when fromAcceptor
// is true, and its checksum must verify under the context key (compared in
// constant time). Errors wrap ErrMalformed or ErrAuthFailed.
func (s *KerberosSession) VerifyMIC(msg, token []byte, fromAcceptor bool) error {
	if s.KeyType == etypeID.RC4_HMAC {
		return fmt.Errorf("%w: MIC tokens for RC4-HMAC contexts (RFC 4757) are not supported", ErrKerberos)
	}
	var mt gssapi.MICToken
	if err := mt.Unmarshal(token, fromAcceptor); err != nil {
		return fmt.Errorf("%w: MIC token: %v", ErrMalformed, err)
	}
	if mt.Flags&gssapi.MICTokenFlagSealed != 0 {
		return fmt.Errorf("%w: MIC token with the Sealed flag", ErrMalformed)
	}
	if len(mt.Checksum) == 0 {
		return fmt.Errorf("%w: MIC token without a checksum", ErrMalformed)
	}
	mt.Payload = msg
	usage := uint32(keyusage.GSSAPI_INITIATOR_SIGN)
	if fromAcceptor {
		usage = keyusage.GSSAPI_ACCEPTOR_SIGN
	}
	if ok, err := mt.Verify(s.key(), usage); !ok {
		return fmt.Errorf("%w: Kerberos MIC does not verify: %v", ErrAuthFailed, err)
	}
	return nil
}

func (s *KerberosSession) key() types.EncryptionKey {
	return types.EncryptionKey{KeyType: s.KeyType, KeyValue: s.Key}
}
