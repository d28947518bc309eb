#!/usr/bin/env bash
# tshark (Wireshark 4.0) for the ike TestKeyLog* tests, which decrypt
# captures of our IKEv2 and ESP traffic with tables made from the key log;
# tcpdump makes those captures, ethtool turns off veth checksum offload.
# Non-interactive: the wireshark-common debconf question (may non-root
# users capture) is answered "no" without asking.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
need_packages tshark tcpdump ethtool iproute2
