#!/bin/sh
# Regenerates the certificates in this directory with strongSwan's pki tool
# (Debian package strongswan-pki; made with strongSwan 5.9.8). The tests in
# auth/certverify_test.go read the committed files; they do not run pki.
# Usage: cd auth/testdata/strongswan-pki && sh gen.sh
set -eu
pki() { command pki "$@" 2>/dev/null; }
O="C=CH, O=ipsecgo test"

# Root CA (RSA 3072), 20 years.
pki --gen --type rsa --size 3072 --outform pem > ca-rsa.key
pki --self --ca --lifetime 7300 --in ca-rsa.key --type rsa --dn "$O, CN=strongSwan Root CA" --outform pem > ca-rsa.crt

# Intermediate CA (ECDSA P-256) under the root.
pki --gen --type ecdsa --size 256 --outform pem > int-ecdsa.key
pki --pub --in int-ecdsa.key --type priv | pki --issue --cacert ca-rsa.crt --cakey ca-rsa.key --ca \
	--dn "$O, CN=strongSwan Intermediate CA" --lifetime 7000 --crl http://crl.invalid/int.crl --outform pem > int-ecdsa.crt

# RSA leaf directly under the root: FQDN and IPv4 SANs, iKEIntermediate EKU.
pki --gen --type rsa --size 2048 --outform der > moon-rsa.key.der
pki --pub --in moon-rsa.key.der --type priv | pki --issue --cacert ca-rsa.crt --cakey ca-rsa.key \
	--dn "$O, CN=moon.strongswan.test" --san moon.strongswan.test --san 192.0.2.1 \
	--flag ikeIntermediate --lifetime 6900 --outform der > moon-rsa.crt.der

# ECDSA P-384 leaf under the intermediate: email and IPv6 SANs, no EKU.
pki --gen --type ecdsa --size 384 --outform pem > carol-ecdsa.key
pki --pub --in carol-ecdsa.key --type priv | pki --issue --cacert int-ecdsa.crt --cakey int-ecdsa.key \
	--dn "$O, CN=carol@strongswan.test" --san carol@strongswan.test --san 2001:db8::c \
	--lifetime 6900 --outform pem > carol-ecdsa.crt

# Ed25519 leaf under the intermediate, serverAuth EKU only (TLS-style).
pki --gen --type ed25519 --outform pem > sun-ed25519.key
pki --pub --in sun-ed25519.key --type priv | pki --issue --cacert int-ecdsa.crt --cakey int-ecdsa.key \
	--dn "$O, CN=sun.strongswan.test" --san sun.strongswan.test --flag serverAuth \
	--lifetime 6900 --outform pem > sun-ed25519.crt

# A leaf under the intermediate that the intermediate's CRL revokes.
pki --gen --type ecdsa --size 256 --outform pem > venus-revoked.key
pki --pub --in venus-revoked.key --type priv | pki --issue --cacert int-ecdsa.crt --cakey int-ecdsa.key \
	--dn "$O, CN=venus.strongswan.test" --san venus.strongswan.test \
	--lifetime 6900 --outform pem > venus-revoked.crt
pki --signcrl --cacert int-ecdsa.crt --cakey int-ecdsa.key --lifetime 6800 \
	--reason key-compromise --cert venus-revoked.crt --outform pem > int-ecdsa.crl

# A second, unrelated root (for wrong-root tests).
pki --gen --type ecdsa --size 256 --outform pem > other-ca.key
pki --self --ca --lifetime 7300 --in other-ca.key --type ecdsa --dn "$O, CN=Other Root CA" --outform pem > other-ca.crt

for f in *.crt moon-rsa.crt.der; do pki --print --in "$f" > "$f.txt"; done
pki --print --type crl --in int-ecdsa.crl > int-ecdsa.crl.txt
