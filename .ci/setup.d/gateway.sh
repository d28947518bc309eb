#!/usr/bin/env bash
# What examples/gateway needs:
#   - its TestGateway* and TestInteropGatewayStrongSwan tests: iproute2 for
#     the network namespaces, ping (iputils-ping) through the tunnel,
#     tcpdump for the block-rule capture, /dev/net/tun (strongSwan comes
#     from strongswan.sh);
#   - its measurement script examples/gateway/bench/run.sh (not run by CI):
#     iperf3, jq for iperf3's JSON, and wg (wireguard-tools) to configure
#     the wireguard-go it builds from the Go module.
# Idempotent; starts no daemon.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_packages iproute2 iputils-ping tcpdump iperf3 jq wireguard-tools
[ -c /dev/net/tun ] || { echo "gateway setup: /dev/net/tun is missing" >&2; exit 1; }
