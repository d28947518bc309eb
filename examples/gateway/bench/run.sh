#!/usr/bin/env bash
# Measures examples/gateway side by side with the bare veth, wireguard-go
# and strongSwan's userspace ESP (charon with kernel-libipsec), in one rig:
#
#   namespace A                              namespace B
#   10.1.0.1/32 on lo  -- tunnel over veth -- 10.2.0.1/32 on lo
#   (protected subnet    192.168.77.1/24      (protected subnet
#    10.1.0.0/24)        192.168.77.2/24       10.2.0.0/24)
#
# For each candidate: iperf3 TCP (TCP_SECONDS, default 20) and UDP at a
# fixed offered load (UDP_RATE, default 400M, UDP_SECONDS, default 10,
# 1300-byte datagrams) from 10.1.0.1 to 10.2.0.1. Packets/s for TCP are the
# bytes received over the MSS iperf3 used; CPU seconds per GB are the
# user+system time of the tunnel's own processes (both sides) over the
# bytes received (the bare veth has no such process).
#
# Run as root on Linux from the repository root:
#
#   examples/gateway/bench/run.sh
#
# It prints one table and ends with the line
#   gateway/wireguard-go TCP: <ratio>  gateway/libipsec TCP: <ratio>
# (ratios of the AES-GCM-128 gateway's TCP Mbit/s). Traffic stays inside the
# two namespaces it creates; they and every process it started (by PID)
# are removed on exit. ONLY="veth gw-aes gw-chacha wg libipsec" limits the
# candidates; ROUNDS=n runs them all n times in turn (so that a change in
# the machine's load hits every candidate alike) and reports the means.
set -euo pipefail

TCP_SECONDS=${TCP_SECONDS:-20}
UDP_SECONDS=${UDP_SECONDS:-10}
UDP_RATE=${UDP_RATE:-400M}
ONLY=${ONLY:-"veth gw-aes gw-chacha wg libipsec"}
ROUNDS=${ROUNDS:-1}
GATEWAY_FLAGS=${GATEWAY_FLAGS:-} # more flags for both gateways, e.g. -force-encap
PSK="bench pre-shared key, not a secret"

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespaces)" >&2; exit 1; }
for c in ip iperf3 go jq; do command -v $c >/dev/null || { echo "run.sh: $c missing" >&2; exit 1; }; done

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TMP=$(mktemp -d /tmp/gwbench.XXXXXX)
ID=$$
NSA=gwb${ID}a
NSB=gwb${ID}b
VA=gwv${ID}a
VB=gwv${ID}b
PIDS=()

cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	[ "${KEEP:-}" = 1 ] && echo "run.sh: kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

inA() { ip netns exec "$NSA" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }

# start NS LOG CMD...: runs CMD in namespace NS in the background and
# records its PID (ip netns exec execs CMD, so the PID is CMD's).
start() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 &
	PIDS+=($!)
	LASTPID=$!
}

# stop_pids PID...: stops processes this script started and forgets them.
stop_pids() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		local keep=()
		for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
		PIDS=("${keep[@]}")
	done
}

setup_rig() {
	ip netns add "$NSA"
	ip netns add "$NSB"
	ip link add "$VA" netns "$NSA" type veth peer name "$VB" netns "$NSB"
	inA ip link set lo up
	inB ip link set lo up
	inA ip addr add 192.168.77.1/24 dev "$VA"
	inB ip addr add 192.168.77.2/24 dev "$VB"
	inA ip link set "$VA" up
	inB ip link set "$VB" up
	inA ip addr add 10.1.0.1/32 dev lo
	inB ip addr add 10.2.0.1/32 dev lo
	# iperf3 server for every run.
	start "$NSB" "$TMP/iperf3-server.log" iperf3 -s -B 10.2.0.1
	IPERF_PID=$LASTPID
}

# cpu_ticks PID...: user+system clock ticks of the processes, summed.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		if [ -r "/proc/$p/stat" ]; then
			t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
		fi
	done
	echo $t
}

wait_ping() {
	for _ in $(seq 100); do
		if inA ping -c1 -W1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	echo "run.sh: $1: no ping through the tunnel" >&2
	return 1
}

HZ=$(getconf CLK_TCK)
ROWS=()

# measure NAME PID...: the TCP and UDP runs through the current setup;
# appends a row "name tcp_mbps tcp_pps tcp_cpu udp_mbps udp_pps udp_loss udp_cpu".
measure() {
	local name=$1
	shift
	local c0 c1 j
	c0=$(cpu_ticks "$@")
	j=$(inA iperf3 -c 10.2.0.1 -B 10.1.0.1 -t "$TCP_SECONDS" -O 1 -J 2>/dev/null || true)
	c1=$(cpu_ticks "$@")
	local tcp_bps tcp_bytes mss tcp_secs
	tcp_bps=$(jq -r '.end.sum_received.bits_per_second // 0' <<<"$j")
	tcp_bytes=$(jq -r '.end.sum_received.bytes // 0' <<<"$j")
	tcp_secs=$(jq -r '.end.sum_received.seconds // 1' <<<"$j")
	mss=$(jq -r '.start.tcp_mss_default // 1448' <<<"$j")
	local tcp_cpu
	tcp_cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v b="$tcp_bytes" -v n=$# 'BEGIN{ if (n==0 || b==0) print "-"; else printf "%.2f", (t/hz)/(b/1e9) }')
	local tcp_pps
	tcp_pps=$(awk -v b="$tcp_bytes" -v m="$mss" -v s="$tcp_secs" 'BEGIN{ printf "%.0f", b/m/s }')

	c0=$(cpu_ticks "$@")
	j=$(inA iperf3 -c 10.2.0.1 -B 10.1.0.1 -u -b "$UDP_RATE" -l 1300 -w 4M -t "$UDP_SECONDS" -J 2>/dev/null || true)
	c1=$(cpu_ticks "$@")
	local udp_bps udp_bytes udp_loss udp_pkts udp_secs
	udp_bps=$(jq -r '(.end.sum_received.bits_per_second // .end.sum.bits_per_second // 0)' <<<"$j")
	udp_bytes=$(jq -r '(.end.sum_received.bytes // .end.sum.bytes // 0)' <<<"$j")
	udp_secs=$(jq -r '(.end.sum_received.seconds // .end.sum.seconds // 1)' <<<"$j")
	udp_loss=$(jq -r '(.end.sum_received.lost_percent // .end.sum.lost_percent // 100)' <<<"$j")
	udp_pkts=$(awk -v b="$udp_bytes" -v s="$udp_secs" 'BEGIN{ printf "%.0f", b/1300/s }')
	local udp_cpu
	udp_cpu=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v b="$udp_bytes" -v n=$# 'BEGIN{ if (n==0 || b==0) print "-"; else printf "%.2f", (t/hz)/(b/1e9) }')
	ROWS+=("$name $(awk -v x="$tcp_bps" 'BEGIN{printf "%.0f", x/1e6}') $tcp_pps $tcp_cpu $(awk -v x="$udp_bps" 'BEGIN{printf "%.0f", x/1e6}') $udp_pkts $(awk -v x="$udp_loss" 'BEGIN{printf "%.1f", x}') $udp_cpu")
	echo "run.sh: $name done" >&2
}

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

run_veth() {
	inA ip route add 10.2.0.0/24 via 192.168.77.2
	inB ip route add 10.1.0.0/24 via 192.168.77.1
	wait_ping veth || return 1
	measure "veth"
	inA ip route del 10.2.0.0/24
	inB ip route del 10.1.0.0/24
}

gateway_policy() { # SIDE(a|b) SUITE
	local me peer mine theirs
	if [ "$1" = a ]; then me=192.168.77.1 peer=192.168.77.2 mine=10.1.0.0/24 theirs=10.2.0.0/24
	else me=192.168.77.2 peer=192.168.77.1 mine=10.2.0.0/24 theirs=10.1.0.0/24; fi
	# One rule carries both directions' filters; its tunnel endpoint is
	# the peer (Windows' pair of rules, one per direction, works as well;
	# see the gateway's tests).
	cat <<EOF
name: bench site $1
default_action: permit
filter_lists:
  - name: tunnel
    filters:
      - {source: $mine, destination: $theirs}
      - {source: $theirs, destination: $mine}
filter_actions:
  - name: Tunnel
    action: protect
    pfs: true
    security_methods:
      - esp: {encryption: $2}
        # Windows' default of 100000 KB would rekey every half second at
        # these rates; wireguard-go rekeys every two minutes.
        lifetime: {seconds: 3600, kilobytes: 50000000}
rules:
  - name: tunnel
    filter_list: tunnel
    filter_action: Tunnel
    tunnel: $peer
    authentication:
      - preshared_key: $PSK
EOF
}

run_gateway() { # NAME SUITE
	gateway_policy a "$2" >"$TMP/a.yaml"
	gateway_policy b "$2" >"$TMP/b.yaml"
	start "$NSB" "$TMP/$1-b.log" "$TMP/gateway" -policy "$TMP/b.yaml" -local 192.168.77.2 -tun gwb -route 10.1.0.0/24 $GATEWAY_FLAGS
	local pb=$LASTPID
	start "$NSA" "$TMP/$1-a.log" "$TMP/gateway" -policy "$TMP/a.yaml" -local 192.168.77.1 -tun gwa -route 10.2.0.0/24 $GATEWAY_FLAGS
	local pa=$LASTPID
	wait_ping "$1" || { cat "$TMP/$1-a.log" "$TMP/$1-b.log" >&2; stop_pids "$pa" "$pb"; return 1; }
	measure "$1" "$pa" "$pb"
	stop_pids "$pa" "$pb" # each prints its SAs and counters at exit
	echo "--- $1 counters (A, B):" >&2
	sed -n '/^== counters/,$p' "$TMP/$1-a.log" | grep -v level= >&2 || true
	sed -n '/^== counters/,$p' "$TMP/$1-b.log" | grep -v level= >&2 || true
}

run_wg() {
	local ka kb pa pb
	ka=$(wg genkey)
	kb=$(wg genkey)
	echo "$ka" >"$TMP/wga.key"
	echo "$kb" >"$TMP/wgb.key"
	start "$NSA" "$TMP/wg-a.log" env WG_PROCESS_FOREGROUND=1 "$TMP/wireguard-go" -f wga
	pa=$LASTPID
	start "$NSB" "$TMP/wg-b.log" env WG_PROCESS_FOREGROUND=1 "$TMP/wireguard-go" -f wgb
	pb=$LASTPID
	for _ in $(seq 50); do [ -S /var/run/wireguard/wga.sock ] && [ -S /var/run/wireguard/wgb.sock ] && break; sleep 0.1; done
	inA wg set wga private-key "$TMP/wga.key" listen-port 51820 peer "$(wg pubkey <<<"$kb")" allowed-ips 10.2.0.0/24 endpoint 192.168.77.2:51820
	inB wg set wgb private-key "$TMP/wgb.key" listen-port 51820 peer "$(wg pubkey <<<"$ka")" allowed-ips 10.1.0.0/24 endpoint 192.168.77.1:51820
	inA ip link set wga up
	inB ip link set wgb up
	inA ip route add 10.2.0.0/24 dev wga
	inB ip route add 10.1.0.0/24 dev wgb
	wait_ping wireguard-go || { stop_pids "$pa" "$pb"; return 1; }
	measure "wireguard-go" "$pa" "$pb"
	stop_pids "$pa" "$pb"
}

charon_conf() { # DIR
	cat <<EOF
charon {
	load_modular = no
	load = random nonce openssl aes sha1 sha2 hmac gcm curve25519 gmp pem pkcs1 pkcs8 x509 pubkey revocation constraints kdf kernel-libipsec kernel-netlink socket-default vici
	port = 500
	port_nat_t = 4500
	filelog {
		charonlog {
			path = $1/charon.log
			append = no
			default = 1
		}
	}
	syslog {
		identifier = charon-gwbench
		daemon { default = -1 }
		auth { default = -1 }
	}
	plugins {
		vici { socket = unix://$1/charon.vici }
	}
}
EOF
}

swanctl_conf() { # ME PEER MINE THEIRS
	cat <<EOF
connections {
	bench {
		version = 2
		local_addrs = $1
		remote_addrs = $2
		proposals = aes128gcm16-prfsha256-x25519
		local { auth = psk
			id = $1 }
		remote { auth = psk
			id = $2 }
		children {
			bench {
				local_ts = $3
				remote_ts = $4
				esp_proposals = aes128gcm16-x25519
				mode = tunnel
			}
		}
	}
}
secrets {
	ike-bench {
		id-a = 192.168.77.1
		id-b = 192.168.77.2
		secret = "$PSK"
	}
}
EOF
}

run_libipsec() {
	local side ns dir pids=()
	for side in a b; do
		ns=$NSA
		[ $side = b ] && ns=$NSB
		dir=$TMP/charon-$side
		mkdir -p "$dir/run" "$dir/swanctl"
		charon_conf "$dir" >"$dir/strongswan.conf"
		if [ $side = a ]; then swanctl_conf 192.168.77.1 192.168.77.2 10.1.0.0/24 10.2.0.0/24 >"$dir/swanctl/swanctl.conf"
		else swanctl_conf 192.168.77.2 192.168.77.1 10.2.0.0/24 10.1.0.0/24 >"$dir/swanctl/swanctl.conf"; fi
		# A private /run per charon: its pid file path is compiled in.
		start "$ns" "$dir/stderr.log" env STRONGSWAN_CONF="$dir/strongswan.conf" sh -c "mount --bind '$dir/run' /run && exec /usr/lib/ipsec/charon"
		pids+=("$LASTPID")
	done
	for side in a b; do
		dir=$TMP/charon-$side
		ns=$NSA
		[ $side = b ] && ns=$NSB
		for _ in $(seq 100); do
			STRONGSWAN_CONF="$dir/strongswan.conf" SWANCTL_DIR="$dir/swanctl" ip netns exec "$ns" swanctl --stats --uri "unix://$dir/charon.vici" >/dev/null 2>&1 && break
			sleep 0.1
		done
		STRONGSWAN_CONF="$dir/strongswan.conf" SWANCTL_DIR="$dir/swanctl" ip netns exec "$ns" swanctl --load-all --uri "unix://$dir/charon.vici" >/dev/null 2>&1
	done
	dir=$TMP/charon-a
	STRONGSWAN_CONF="$dir/strongswan.conf" SWANCTL_DIR="$dir/swanctl" inA swanctl --initiate --child bench --uri "unix://$dir/charon.vici" >/dev/null
	wait_ping libipsec || { tail -20 "$TMP/charon-a/charon.log" >&2; stop_pids "${pids[@]}"; return 1; }
	measure "libipsec" "${pids[@]}"
	stop_pids "${pids[@]}"
}

echo "run.sh: building the gateway and wireguard-go into $TMP" >&2
(cd "$ROOT" && go build -o "$TMP/gateway" ./examples/gateway)
# wireguard-go from its Go module (the module root is its main package),
# at the version this module's go.mod requires; nothing of it is kept.
(cd "$ROOT" && go build -o "$TMP/wireguard-go" golang.zx2c4.com/wireguard)

setup_rig
# try NAME CMD...: a candidate that fails gets a row of dashes, and the
# others still run.
try() {
	local name=$1
	shift
	if ! "$@"; then
		echo "run.sh: $name failed" >&2
		ROWS+=("$name - - - - - - -")
	fi
}
for round in $(seq "$ROUNDS"); do
	echo "run.sh: round $round of $ROUNDS" >&2
	if want veth; then try veth run_veth; fi
	if want gw-aes; then try gateway-aes128gcm run_gateway gateway-aes128gcm aes128-gcm16; fi
	if want gw-chacha; then try gateway-chacha20 run_gateway gateway-chacha20 chacha20-poly1305; fi
	if want wg; then try wireguard-go run_wg; fi
	if want libipsec; then try libipsec run_libipsec; fi
done

# Each candidate's figures are the means over the rounds it completed.
mapfile -t ROWS < <(printf '%s\n' "${ROWS[@]}" | awk '
	{ if (!($1 in n)) { order[++k] = $1; n[$1] = 0 }
	  if ($2 == "-") next
	  n[$1]++; for (i = 2; i <= 8; i++) { if ($i == "-") dash[$1, i] = 1; else sum[$1, i] += $i } }
	END { for (j = 1; j <= k; j++) { c = order[j]; line = c
		for (i = 2; i <= 8; i++) {
			if (n[c] == 0 || dash[c, i]) v = "-"
			else if (i == 4 || i == 8) v = sprintf("%.2f", sum[c, i] / n[c])
			else if (i == 7) v = sprintf("%.1f", sum[c, i] / n[c])
			else v = sprintf("%.0f", sum[c, i] / n[c])
			line = line " " v }
		print line } }')

# The table.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="" || a=="-" || b=="" || b=="-" || b==0) print "-"; else printf "%.2f", a/b }'; }

echo
printf "%-20s %10s %10s %10s   %10s %10s %8s %10s   %8s %8s\n" "" "TCP" "TCP" "TCP" "UDP $UDP_RATE" "UDP" "UDP" "UDP" "TCP x" "TCP x"
printf "%-20s %10s %10s %10s   %10s %10s %8s %10s   %8s %8s\n" "candidate" "Mbit/s" "pkt/s" "CPU s/GB" "Mbit/s" "pkt/s" "loss %" "CPU s/GB" "wg-go" "libipsec"
WG=""
LI=""
for r in "${ROWS[@]}"; do
	set -- $r
	[ "$1" = wireguard-go ] && WG=$2
	[ "$1" = libipsec ] && LI=$2
done
for r in "${ROWS[@]}"; do
	set -- $r
	printf "%-20s %10s %10s %10s   %10s %10s %8s %10s   %8s %8s\n" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$(ratio "$2" "$WG")" "$(ratio "$2" "$LI")"
done
GW=""
for r in "${ROWS[@]}"; do
	set -- $r
	[ "$1" = gateway-aes128gcm ] && GW=$2
done
echo
echo "gateway/wireguard-go TCP: $(ratio "$GW" "$WG")  gateway/libipsec TCP: $(ratio "$GW" "$LI")"
