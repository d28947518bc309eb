#!/usr/bin/env bash
# Packages for ah's TestScapyInterop and sad's TestBundleScapy: Scapy's IPsec module (python3-scapy,
# with python3-cryptography for its HMACs), an independent implementation of
# RFC 4302 AH that the test checks sealed and opened packets against, run as
# /usr/bin/python3 (the Debian interpreter, whatever python3 is on PATH).
# Idempotent; starts no daemon.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_packages python3 python3-scapy python3-cryptography
/usr/bin/python3 -c "import scapy.layers.ipsec"
