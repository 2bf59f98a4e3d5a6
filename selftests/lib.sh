#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers of the vassist selftests (in the spirit of
# tools/testing/selftests/net/lib.sh): KTAP output, checks, and the topology
# every test uses:
#
#   netns "$REMOTE"            netns "$HOST"                  netns "$GUEST"
#   eth0 10.0.0.1/24 ---veth--- vrem0 -- br0 -- tap0 ~~tapguest~~ eth0 10.0.0.2/24
#        fd00::1/64                                                fd00::2/64
#
# tap0 is a real tap port on the bridge; tapguest holds its fd as QEMU would
# and moves frames to and from eth0, a tap in the guest's namespace, on an
# optional duty cycle (a descheduled vCPU). Names carry the test's PID so a
# leftover never collides.

VASSIST_ROOT=${VASSIST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=$VASSIST_ROOT/target/release
KO=${KO:-$VASSIST_ROOT/vassist.ko}
CACHE=${VASSIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vassist}
KSRC=$(ls -d "$CACHE"/kernel/src-* 2>/dev/null | tail -1)
SPEC=$VASSIST_ROOT/Documentation/netlink/specs/vassist.yaml
PATH=$BIN:$PATH

HOST=vh-$$
REMOTE=vr-$$
GUEST=vg-$$
REMOTE_IP=10.0.0.1
GUEST_IP=10.0.0.2
REMOTE_IP6=fd00::1
GUEST_IP6=fd00::2
TAPGUEST_PID=
TMPD=$(mktemp -d)

# --- KTAP ------------------------------------------------------------------
KTAP_N=0
KTAP_PASS=0
KTAP_FAIL=0
KTAP_SKIP=0

ktap_header() { echo "TAP version 13"; }
ktap_plan() { echo "1..$1"; }
ktap_result() { # ok|not ok, name, [directive]
	KTAP_N=$((KTAP_N + 1))
	echo "$1 $KTAP_N $2${3:+ # $3}"
}

# run_test NAME FUNCTION: runs FUNCTION in a subshell with set -e; its
# output becomes KTAP diagnostics. Exit 4 means skip.
run_test() {
	local name=$1 fn=$2 rc=0 out
	# Not in an && / || list: bash ignores set -e inside those, and a
	# failed check must end the test.
	out=$( (set -eE; trap 'echo "failed at line $LINENO: $BASH_COMMAND"' ERR; "$fn") 2>&1)
	rc=$?
	[ -n "$out" ] && sed 's/^/# /' <<< "$out"
	case $rc in
	0) ktap_result ok "$name"; KTAP_PASS=$((KTAP_PASS + 1)) ;;
	4) ktap_result ok "$name" SKIP; KTAP_SKIP=$((KTAP_SKIP + 1)) ;;
	*) ktap_result "not ok" "$name"; KTAP_FAIL=$((KTAP_FAIL + 1)) ;;
	esac
}

ktap_finish() {
	echo "# totals: pass:$KTAP_PASS fail:$KTAP_FAIL skip:$KTAP_SKIP"
	[ "$KTAP_FAIL" = 0 ]
}

# --- checks ----------------------------------------------------------------
fail() { echo "FAIL: $*" >&2; return 1; }

# check_eq WHAT GOT WANT
check_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
# check_ge WHAT GOT MIN
check_ge() { [ "$2" -ge "$3" ] 2>/dev/null || fail "$1: got '$2', want >= $3"; }
# check_le WHAT GOT MAX
check_le() { [ "$2" -le "$3" ] 2>/dev/null || fail "$1: got '$2', want <= $3"; }

# expect_fail WANT_TEXT CMD...: CMD must fail and say WANT_TEXT.
expect_fail() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "'$*' succeeded, expected failure ($want): $out"
	fi
	grep -qF -- "$want" <<< "$out" || fail "'$*' said '$out', expected '$want'"
}

# json FILTER: reads JSON on stdin, prints a Python expression over it (j).
json() { /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# --- the module ------------------------------------------------------------
mod_load() { lsmod | grep -q '^vassist ' || insmod "$KO"; }
mod_unload() { ! lsmod | grep -q '^vassist ' || rmmod vassist; }

# vctl ARGS...: vassistctl in the bridge's namespace.
vctl() { ip netns exec "$HOST" vassistctl "$@"; }
# ynl ARGS...: the kernel tree's ynl CLI with our spec, in the bridge's netns.
ynl() {
	ip netns exec "$HOST" /usr/bin/python3 "$KSRC/tools/net/ynl/cli.py" --spec "$SPEC" \
		--schema "$KSRC/Documentation/netlink/genetlink.yaml" "$@"
}
# flow_count: ack offload flows of tap0.
flow_count() { vctl -j flow show dev tap0 | json 'len(j)'; }
# port_stat NAME: one counter of tap0, e.g. to-guest-tcp-segs.
port_stat() { vctl -j port show dev tap0 | json "j[0]['stats']['$1']"; }

# --- topology --------------------------------------------------------------
# topo_up [tapguest options...]: builds the topology and starts tapguest.
topo_up() {
	ip netns add "$HOST"
	ip netns add "$REMOTE"
	ip netns add "$GUEST"
	local h="ip -n $HOST" r="ip -n $REMOTE" g="ip -n $GUEST"
	$h link set lo up
	# As KVM hosts usually run (libvirt's advice): bridged frames skip
	# iptables. With it on, vassist sends no early acks (a test checks).
	ip netns exec "$HOST" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0
	$h link add br0 type bridge
	$h link set br0 up
	$h link add vrem0 type veth peer name eth0 netns "$REMOTE"
	$h link set vrem0 master br0 up
	$h tuntap add tap0 mode tap
	$h link set tap0 master br0 up
	$g tuntap add eth0 mode tap
	for ns in "$REMOTE" "$GUEST"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
		ip -n "$ns" link set lo up
		ip -n "$ns" link set eth0 up
	done
	$r addr add $REMOTE_IP/24 dev eth0
	$r addr add $REMOTE_IP6/64 dev eth0 nodad
	$g addr add $GUEST_IP/24 dev eth0
	$g addr add $GUEST_IP6/64 dev eth0 nodad
	tapguest_start "$@"
}

tapguest_start() {
	ip netns exec "$HOST" tapguest --host-tap tap0 --guest-netns "$GUEST" --guest-tap eth0 "$@" \
		> "$TMPD/tapguest.log" 2>&1 &
	TAPGUEST_PID=$!
	local i
	for i in $(seq 100); do
		grep -q ready "$TMPD/tapguest.log" && return 0
		sleep 0.05
	done
	cat "$TMPD/tapguest.log" >&2
	fail "tapguest did not start"
}

tapguest_stop() {
	[ -n "$TAPGUEST_PID" ] || return 0
	kill "$TAPGUEST_PID" 2>/dev/null || true
	wait "$TAPGUEST_PID" 2>/dev/null || true
	TAPGUEST_PID=
}

topo_down() {
	tapguest_stop
	# A tapguest started inside a test's subshell.
	pkill -f -- "--guest-netns $GUEST " 2>/dev/null || true
	local ns
	for ns in "$HOST" "$REMOTE" "$GUEST"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

# in_remote / in_guest CMD...
in_remote() { ip netns exec "$REMOTE" "$@"; }
in_guest() { ip netns exec "$GUEST" "$@"; }

# transfer FROM_NS TO_NS TO_ADDR BYTES [PORT]: a verified xfer; prints the
# receiver's line.
transfer() {
	local from=$1 to=$2 addr=$3 bytes=$4 port=${5:-5201} rpid
	local listen=0.0.0.0
	[[ $addr == *:* ]] && { listen="[::]"; addr="[$addr]"; }
	ip netns exec "$to" xfer recv --listen "$listen:$port" --bytes "$bytes" --timeout 60 \
		> "$TMPD/recv.$port" 2>&1 &
	rpid=$!
	ip netns exec "$from" xfer send --connect "$addr:$port" --bytes "$bytes" --timeout 60 \
		> "$TMPD/send.$port" 2>&1 || { cat "$TMPD/send.$port" "$TMPD/recv.$port" >&2; wait $rpid; return 1; }
	wait $rpid || { cat "$TMPD/recv.$port" >&2; return 1; }
	cat "$TMPD/recv.$port"
}
