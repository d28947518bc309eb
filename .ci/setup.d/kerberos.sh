#!/usr/bin/env bash
# Installs what the auth package's interop tests need:
#   - MIT Kerberos KDC and kadmin.local (krb5-kdc, krb5-admin-server) for the
#     TestKerberos* tests, which start their own throwaway KDC on 127.0.0.1;
#   - MIT gss-client and gss-server (krb5-gss-samples), the independent
#     GSS-API implementation the TestKerberosMIT*/OurInitiatorToMIT* tests
#     exchange tokens with (loopback and a socket pair only);
#   - strongSwan's pki tool (strongswan-pki), used only to regenerate the
#     certificates kept in auth/testdata (the tests read the committed files);
#   - openssl, the independent implementation TestSignaturesOpenSSL checks
#     the AUTH signatures against.
# Idempotent. Starts no system KDC or kadmind: the tests run their own
# krb5kdc with their own config.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_packages krb5-kdc krb5-admin-server krb5-user krb5-gss-samples strongswan-pki openssl
echo "kerberos setup: krb5kdc=$(command -v krb5kdc) kdb5_util=$(command -v kdb5_util) kadmin.local=$(command -v kadmin.local) pki=$(command -v pki)"
