package auth

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// ParseCertificates parses one or more certificates from PEM ("CERTIFICATE"
// blocks; other blocks are ignored) or from DER (one certificate or several
// concatenated).
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if isPEM(data) {
		var certs []*x509.Certificate
		rest := data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: PEM certificate %d: %v", ErrMalformed, len(certs)+1, err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("%w: no CERTIFICATE block in PEM data", ErrMalformed)
		}
		return certs, nil
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%w: DER certificates: %v", ErrMalformed, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no certificate in DER data", ErrMalformed)
	}
	return certs, nil
}

// LoadCertificates reads a PEM or DER file of certificates.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParsePrivateKey parses an unencrypted private key in PEM ("PRIVATE KEY"
// = PKCS#8, "RSA PRIVATE KEY" = PKCS#1, "EC PRIVATE KEY" = SEC 1) or in DER
// of any of those encodings. RSA, ECDSA and Ed25519 keys are supported.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	der := data
	if isPEM(data) {
		rest := data
		der = nil
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			switch block.Type {
			case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
				if _, enc := block.Headers["Proc-Type"]; enc {
					return nil, fmt.Errorf("%w: encrypted PEM private keys are not supported; decrypt it first", ErrUnsupportedMethod)
				}
				der = block.Bytes
			case "ENCRYPTED PRIVATE KEY":
				return nil, fmt.Errorf("%w: encrypted PKCS#8 private keys are not supported; decrypt it first", ErrUnsupportedMethod)
			}
			if der != nil {
				break
			}
		}
		if der == nil {
			return nil, fmt.Errorf("%w: no private key block in PEM data", ErrMalformed)
		}
	}
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			if key, err = x509.ParseECPrivateKey(der); err != nil {
				return nil, fmt.Errorf("%w: private key is neither PKCS#8, PKCS#1 nor SEC 1", ErrMalformed)
			}
		}
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: private key type %T cannot sign", ErrUnsupportedMethod, key)
	}
	return s, nil
}

// LoadPrivateKey reads a PEM or DER private key file.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseCRL parses a certificate revocation list in PEM ("X509 CRL") or DER.
// The signature is checked later, against the issuer, by the CertVerifier.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	der := data
	if isPEM(data) {
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "X509 CRL" {
			return nil, fmt.Errorf("%w: no X509 CRL block in PEM data", ErrMalformed)
		}
		der = block.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: CRL: %v", ErrMalformed, err)
	}
	return crl, nil
}

// LoadCRL reads a PEM or DER CRL file.
func LoadCRL(path string) (*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	crl, err := ParseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return crl, nil
}

func isPEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}
