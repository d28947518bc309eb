#!/usr/bin/env bash
# ike-scan (and its psk-crack), the independent IKEv1 implementation the
# ike TestIkeScan* tests probe our responder with: Main Mode and Aggressive
# Mode probes with chosen transform lists (--trans), run inside a network
# namespace the test creates. psk-crack checks our Aggressive Mode HASH_R
# offline against the pre-shared key. Idempotent; starts no daemon.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_packages ike-scan iproute2
echo "ike-scan setup: $(command -v ike-scan) $(command -v psk-crack)"
