#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers of the vassist selftests (in the spirit of
# tools/testing/selftests/net/lib.sh): KTAP output, checks, and the topology
# every test uses:
#
#   netns $REMOTE              netns $HOST                    netns $GUEST
#   eth0 10.0.0.1/24 ---veth--- vrem0 -- br0 -- tap0 ~~tapguest~~ eth0 10.0.0.2/24
#        fd00::1/64                                                fd00::2/64
#
# tap0 is a real tap port on the bridge; tapguest holds its fd as QEMU would
# and moves frames to and from eth0, a tap in the guest's namespace, on an
# optional duty cycle (a descheduled vCPU). setup_ns names the namespaces
# with a random suffix, so a leftover never collides.

VASSIST_ROOT=${VASSIST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=$VASSIST_ROOT/target/release
KO=${KO:-$VASSIST_ROOT/vassist.ko}
CACHE=${VASSIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vassist}
KSRC=$(ls -d "$CACHE"/kernel/src-* 2>/dev/null | tail -1)
SPEC=$VASSIST_ROOT/Documentation/netlink/specs/vassist.yaml
PATH=$BIN:$PATH

REMOTE_IP=10.0.0.1
GUEST_IP=10.0.0.2
REMOTE_IP6=fd00::1
GUEST_IP6=fd00::2
TAPGUEST_PID=
TMPD=$(mktemp -d)

# The kernel tree's own selftest helpers: setup_ns/cleanup_ns,
# busywait/slowwait (net/lib.sh) and the KTAP output
# (kselftest/ktap_helpers.sh).
KSFT=$KSRC/tools/testing/selftests
if [ ! -f "$KSFT/net/lib.sh" ]; then
	echo "1..0 # SKIP the kernel tree's selftest helpers are missing ($KSFT)"
	exit 4
fi
. "$KSFT/net/lib.sh"
. "$KSFT/kselftest/ktap_helpers.sh"

# --- running tests ---------------------------------------------------------
# run_tests [-t NAME]... t_FUNCTION...: runs the tests (those named with -t,
# or all) as one KTAP document. Each runs in a subshell with set -e, its
# output becoming KTAP diagnostics, its namespaces and helpers cleaned up
# when it ends (trap topo_down EXIT); exit 4 means skip.
run_tests() {
	local only=() t
	while [ "${1:-}" = -t ]; do
		only+=("t_${2#t_}")
		shift 2
	done
	local tests=("$@")
	if ((${#only[@]})); then
		for t in "${only[@]}"; do
			[[ " ${tests[*]} " == *" $t "* ]] || { echo "no test ${t#t_}" >&2; exit 1; }
		done
		tests=("${only[@]}")
	fi
	ktap_print_header
	ktap_set_plan "${#tests[@]}"
	mod_load
	for t in "${tests[@]}"; do
		run_test "${t#t_}" "$t"
	done
	ktap_finished
}

# Ends a test (or a script's topology): its helper processes, its
# namespaces and whatever still runs in them.
topo_down() {
	kvm_guests_stop
	tapguest_stop
	cleanup_all_ns > /dev/null
}

run_test() {
	local name=$1 fn=$2 rc=0 out t0=$SECONDS
	# Not in an && / || list: bash ignores set -e inside those, and a
	# failed check must end the test.
	out=$( (set -eE; trap topo_down EXIT
		trap 'echo "failed at line $LINENO: $BASH_COMMAND"; [ -n "${DIAG_DONE:-}" ] || { DIAG_DONE=1; port_diag; }' ERR
		"$fn") 2>&1)
	rc=$?
	[ -n "$out" ] && sed 's/^/# /' <<< "$out"
	echo "# $name took $((SECONDS - t0)) s"
	case $rc in
	0) ktap_test_pass "$name" ;;
	4) ktap_test_skip "$name" ;;
	*) ktap_test_fail "$name" ;;
	esac
}

# The ports' counters and flows when a test fails, once.
port_diag() {
	[ -n "${HOST:-}" ] && lsmod | grep -q '^vassist ' || return 0
	local d
	echo "ports at the failure:"
	for d in $(vctl -j port show 2> /dev/null | jq -r '.[].ifname'); do
		vctl port show dev "$d"
		vctl flow show dev "$d"
	done 2>&1 | sed 's/^/  /'
	# A KVM guest's own account (a crash, a killed agent) is in its console.
	local g
	for g in "${KVM_GUESTS[@]}"; do
		echo "guest $g's console, last lines:"
		tail -n 15 "${GUEST_DIR:-/tmp/vassist-guests}/$g/console" 2>&1 | sed 's/^/  /'
	done
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
# The spec is checked against the genetlink schema by tools/ynl-regen.sh
# (make check, outside the VM); validating it again on every call took
# seconds each in the test VM.
ynl() {
	ip netns exec "$HOST" /usr/bin/python3 "$KSRC/tools/net/ynl/cli.py" --spec "$SPEC" \
		--no-schema "$@"
}
# flow_count: ack offload flows of tap0.
flow_count() { vctl -j flow show dev tap0 | jq length; }
# port_stat NAME: one counter of tap0, e.g. to-guest-tcp-segs.
port_stat() { port_stat_of tap0 "$1"; }
# port_stat_of DEV NAME: one counter of a port (jq: polled, and python
# takes seconds to start in the test VM).
port_stat_of() { vctl -j port show dev "$1" | jq -r ".[0].stats[\"$2\"]"; }
# zone_stat_of DEV NAME: one zone counter of a zone port (0 when off).
zone_stat_of() { vctl -j port show dev "$1" | jq -r ".[0][\"zone-stats\"][\"$2\"] // 0"; }
# check_acked_early SENT MIN [DEV]: the host acked at least MIN of the SENT
# bytes to the guest early. Bytes, not acks: an ack covers one frame, 1 to
# 44 segments as the sender's TSO and GRO made it. A transfer is acked
# early from its start until the flow's buffer holds buf-size (4 MB by
# default, 256 KB in vassist_snoop.sh) or a segment comes out of order
# (loss, or two CPUs racing on one flow); then only once the guest has
# acked all the sender sent, which a long transfer to a busy guest may
# never give. MIN: half of 256 KB per transfer (or the transfer), less
# where the link loses.
check_acked_early() {
	local dev=${3:-tap0} got
	got=$(port_stat_of "$dev" early-acked-bytes)
	echo "$dev acked early: $got of $1 bytes ($((got * 100 / $1))%)," \
		"$(port_stat_of "$dev" early-acks) acks"
	check_ge "$dev early-acked-bytes" "$got" "$2" &&
		check_eq "$dev held-gaps" "$(port_stat_of "$dev" held-gaps)" 0
}
# early_acks_reach N LOG: waits (20 s) for tap0's early acks to reach N;
# fails otherwise, with the transfer's LOG and both ends' sockets.
early_acks_reach() {
	slowwait 20 stat_at_least early-acks "$1" ||
		fail "early-acks $(port_stat early-acks), not $1: $(cat "$2"; in_guest ss -tani; in_remote ss -tani)"
}

# held_emptied: the delivery buffer of tap0 empties once the transfers
# are done (every byte acked early was acked by the guest too).
held_emptied() {
	slowwait 5 stat_at_most held-bytes 0 || fail "held-bytes $(port_stat held-bytes) after the transfers"
}
# short_transfers: five 100 KB transfers remote -> guest; their last
# segments have no later ones to show a hole: only the re-send timer finds
# what the guest lost of them.
short_transfers() {
	local i
	for i in 1 2 3 4 5; do
		transfer "$REMOTE" "$GUEST" $GUEST_IP 100000 $((5210 + i))
	done
}
# lossy_transfers V4_BYTES V6_BYTES MIN_EARLY: remote -> guest over IPv4
# and IPv6, then the short ones, to a guest that loses frames after taking
# them: every transfer verifies, at least MIN_EARLY bytes were acked early,
# some were re-sent from the delivery buffer, which ends empty.
lossy_transfers() {
	transfer "$REMOTE" "$GUEST" $GUEST_IP "$1"
	transfer "$REMOTE" "$GUEST" $GUEST_IP6 "$2" 5202
	short_transfers
	vctl port show dev tap0
	check_acked_early $(($1 + $2 + 500000)) "$3"
	check_ge resends "$(port_stat resends)" 1
	held_emptied
}
# stat_at_least NAME MIN, stat_at_most NAME MAX, flows_at_least MIN:
# conditions to slowwait for.
stat_at_least() { [ "$(port_stat "$1")" -ge "$2" ] 2> /dev/null; }
stat_at_most() { [ "$(port_stat "$1")" -le "$2" ] 2> /dev/null; }
flows_at_least() { [ "$(flow_count)" -ge "$1" ] 2> /dev/null; }

# --- topology --------------------------------------------------------------
# topo_up [tapguest options...]: builds the topology (namespaces named by
# setup_ns into $HOST, $REMOTE, $GUEST) and starts tapguest.
topo_up() {
	topo_build
	tapguest_start "$@"
}

# topo_build: the topology without tapguest.
topo_build() {
	setup_ns HOST REMOTE GUEST
	bridge_up
	ip -n "$HOST" -batch - <<-EOF
		tuntap add tap0 mode tap
		link set tap0 master br0 up
	EOF
	ip netns exec "$GUEST" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv4.tcp_no_metrics_save=1
	ip -n "$GUEST" -batch - <<-EOF
		tuntap add eth0 mode tap
		link set eth0 up
		addr add $GUEST_IP/24 dev eth0
		addr add $GUEST_IP6/64 dev eth0 nodad
	EOF
}

# guest2_build: a second guest namespace, $GUEST2 (10.0.0.3), on tap1 of
# the bridge. tapguest2_start [tapguest options...]: its tapguest
# ($TAPGUEST2_PID, the caller's to stop).
guest2_build() {
	setup_ns GUEST2
	ip -n "$HOST" -batch - <<-EOF
		tuntap add tap1 mode tap
		link set tap1 master br0 up
	EOF
	ip -n "$GUEST2" -batch - <<-EOF
		tuntap add eth0 mode tap
		link set eth0 up
		addr add 10.0.0.3/24 dev eth0
	EOF
}
tapguest2_start() {
	ip netns exec "$HOST" tapguest --host-tap tap1 --guest-netns "$GUEST2" --guest-tap eth0 "$@" \
		> "$TMPD/tapguest2.log" 2>&1 &
	TAPGUEST2_PID=$!
	slowwait 5 grep -q ready "$TMPD/tapguest2.log"
}

# bridge_up: br0 in $HOST with the remote end on vrem0.
# A namespace's ip commands go in one batch: starting a process takes about
# a second in the test VM.
bridge_up() {
	# As KVM hosts usually run (libvirt's advice): bridged frames skip
	# iptables. With it on, vassist sends no early acks (a test checks).
	ip netns exec "$HOST" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0
	ip -n "$HOST" -batch - <<-EOF
		link add br0 type bridge
		link set br0 up
		link add vrem0 type veth peer name eth0 netns $REMOTE
		link set vrem0 master br0 up
	EOF
	# Each connection starts afresh: nothing (ssthresh above all) carried
	# over from the last one to the same address, which would make
	# transfers with and without offload, run in turn, depend on each other.
	ip netns exec "$REMOTE" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv4.tcp_no_metrics_save=1
	ip -n "$REMOTE" -batch - <<-EOF
		link set eth0 up
		addr add $REMOTE_IP/24 dev eth0
		addr add $REMOTE_IP6/64 dev eth0 nodad
	EOF
}

tapguest_start() {
	ip netns exec "$HOST" tapguest --host-tap tap0 --guest-netns "$GUEST" --guest-tap eth0 "$@" \
		> "$TMPD/tapguest.log" 2>&1 &
	TAPGUEST_PID=$!
	slowwait 5 grep -q ready "$TMPD/tapguest.log" && return 0
	cat "$TMPD/tapguest.log" >&2
	fail "tapguest did not start"
}

# --- KVM guests (tools/vm/guest.sh) ------------------------------------------
# kvm_topo_up N: the bridge and N taps (tap0...) for KVM guests, no netns
# guest. kvm_start NAME TAP CID IP IP6 [guest.sh start options]: a guest on
# TAP, QEMU running in $HOST; stopped when the test ends.
KVM_GUESTS=()
GUEST_SH=$VASSIST_ROOT/tools/vm/guest.sh
kvm_topo_up() {
	local reason i
	reason=$(bash "$GUEST_SH" check 2>&1) || { echo "SKIP: $reason"; exit 4; }
	setup_ns HOST REMOTE
	bridge_up
	for i in $(seq 0 $(($1 - 1))); do
		echo "tuntap add tap$i mode tap"
		echo "link set tap$i master br0 up"
	done | ip -n "$HOST" -batch -
}
kvm_start() {
	local name=$1 tap=$2 cid=$3 ip=$4 ip6=$5
	shift 5
	KVM_GUESTS+=("$name")
	bash "$GUEST_SH" start "$name" --netns "$HOST" --tap "$tap" --cid "$cid" \
		--ip "$ip/24" --ip6 "$ip6/64" "$@"
}
kvm_exec() { bash "$GUEST_SH" exec "$@"; }
kvm_guests_stop() {
	local g
	for g in "${KVM_GUESTS[@]}"; do
		bash "$GUEST_SH" stop "$g" || true
	done
	KVM_GUESTS=()
}

tapguest_stop() {
	[ -n "$TAPGUEST_PID" ] || return 0
	kill "$TAPGUEST_PID" 2>/dev/null || true
	wait "$TAPGUEST_PID" 2>/dev/null || true
	TAPGUEST_PID=
}

# --- vPipe ---------------------------------------------------------------
# shadow_up: the shadow namespace $SHADOW, its device vp0 with the guest's
# MAC and addresses and no ARP (the module sets the frames' MACs), and the
# host's end vph0. GUEST_MAC and PEER_MAC for pipe-add.
shadow_up() {
	setup_ns SHADOW
	GUEST_MAC=$(ip -n "$GUEST" -j link show eth0 | jq -r '.[0].address')
	PEER_MAC=$(ip -n "$REMOTE" -j link show eth0 | jq -r '.[0].address')
	ip netns exec "$HOST" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip -n "$HOST" -batch - <<-EOF
		link add vph0 type veth peer name vp0 netns $SHADOW
		link set vph0 up
	EOF
	ip -n "$SHADOW" -batch - <<-EOF
		link set lo up
		link set vp0 address $GUEST_MAC arp off up
		addr add $GUEST_IP/24 dev vp0
		addr add $GUEST_IP6/64 dev vp0 nodad
	EOF
}

# agent_up [ADDRS...]: vassistd in $HOST serving the netns guest, which
# reaches it by vsock loopback (CID 1: the library is told
# VPIPE_HOST_CID=1, as a VM's would default to 2); the guest's addresses
# are ADDRS (default both of its own). Stopped when the test ends.
AGENT_PID=
agent_up() {
	local addrs=("${@:-$GUEST_IP}")
	[ $# = 0 ] && addrs+=("$GUEST_IP6")
	cat > "$TMPD/vassistd.json" <<-EOF
		{ ${AGENT_OPTS:-} "guests": [ { "cid": 1, "port": "tap0", "shadow": "vph0",
		  "netns": "/run/netns/$SHADOW", "mac": "$GUEST_MAC",
		  "addrs": [$(printf '"%s",' "${addrs[@]}" | sed 's/,$//')] } ] }
	EOF
	ip netns exec "$HOST" vassistd --config "$TMPD/vassistd.json" > "$TMPD/vassistd.log" 2>&1 &
	AGENT_PID=$!
	trap 'kill $AGENT_PID 2> /dev/null || true; topo_down' EXIT
	slowwait 5 grep -q listening "$TMPD/vassistd.log" || { cat "$TMPD/vassistd.log"; fail "vassistd did not start"; }
}

# in_remote / in_guest CMD...
in_remote() { ip netns exec "$REMOTE" "$@"; }
in_guest() { ip netns exec "$GUEST" "$@"; }

# on WHERE CMD...: CMD in a namespace, or in KVM guest NAME for kvm:NAME.
on() {
	local where=$1
	shift
	case $where in
	kvm:*) kvm_exec "${where#kvm:}" "$(printf '%q ' "$@")" ;;
	*) ip netns exec "$where" "$@" ;;
	esac
}

# transfer FROM TO TO_ADDR BYTES [PORT]: a verified xfer between namespaces
# or KVM guests (kvm:NAME); prints the receiver's line.
transfer() {
	local from=$1 to=$2 addr=$3 bytes=$4 port=${5:-5201} rpid
	local listen=0.0.0.0
	[[ $addr == *:* ]] && { listen="[::]"; addr="[$addr]"; }
	on "$to" xfer recv --listen "$listen:$port" --bytes "$bytes" --timeout 60 \
		> "$TMPD/recv.$port" 2>&1 &
	rpid=$!
	on "$from" xfer send --connect "$addr:$port" --bytes "$bytes" --timeout 60 \
		> "$TMPD/send.$port" 2>&1 || { cat "$TMPD/send.$port" "$TMPD/recv.$port" >&2; wait $rpid; return 1; }
	wait $rpid || { cat "$TMPD/recv.$port" >&2; return 1; }
	cat "$TMPD/recv.$port"
}
