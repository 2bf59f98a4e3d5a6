#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Real KVM guests behind vassist ports: QEMU inside the test VM (nested KVM),
# a virtio-net NIC on a tap of the bridge moved by vhost-net (or by QEMU with
# vhost off), a Linux guest kernel with its own TCP stack:
#
#   netns $REMOTE               netns $HOST
#   eth0 10.0.0.1/24 ---veth--- vrem0 -- br0 -- tap0 == QEMU/KVM guest g0 10.0.0.2
#                                            \-- tap1 == QEMU/KVM guest g1 10.0.0.3
#
# Skipped where nested KVM is not available (tools/vm/guest.sh check).
. "$(dirname "$0")/lib.sh"

G0_IP=10.0.0.2 G0_IP6=fd00::2 G1_IP=10.0.0.3 G1_IP6=fd00::3

# Transfers both ways through tap0 with vhost on or off; with ack offload
# the second round's early acks come from the host, and every byte still
# arrives.
both_ways() { # VHOST
	kvm_topo_up 1
	kvm_start g0 tap0 3 $G0_IP $G0_IP6 --vhost "$1"
	vctl port add dev tap0 > /dev/null
	transfer "$REMOTE" kvm:g0 $G0_IP $((4 << 20))
	transfer kvm:g0 "$REMOTE" $REMOTE_IP $((4 << 20)) 5202
	check_ge to-guest-tcp-segs "$(port_stat to-guest-tcp-segs)" 2000
	check_ge from-guest-bytes "$(port_stat from-guest-bytes)" $((4 << 20))
	vctl port set dev tap0 snoop on > /dev/null
	transfer "$REMOTE" kvm:g0 $G0_IP $((8 << 20)) 5203
	transfer "$REMOTE" kvm:g0 $G0_IP6 $((2 << 20)) 5204
	transfer kvm:g0 "$REMOTE" $REMOTE_IP $((2 << 20)) 5205
	vctl port show dev tap0
	check_acked_early 10485760 262144
	check_eq early-ack-errors "$(port_stat early-ack-errors)" 0
	check_ge flows-ended "$(port_stat flows-ended)" 2
}

t_vhost_net_both_ways() { both_ways on; }
t_qemu_virtio_net_both_ways() { both_ways off; }

# Two guests on one bridge, each port attached with ack offload: the remote
# sends to both at once, and one guest sends to the other across the bridge.
t_two_guests_one_bridge() {
	kvm_topo_up 2
	kvm_start g0 tap0 3 $G0_IP $G0_IP6
	kvm_start g1 tap1 4 $G1_IP $G1_IP6
	vctl port add dev tap0 snoop on > /dev/null
	vctl port add dev tap1 snoop on > /dev/null
	transfer "$REMOTE" kvm:g0 $G0_IP $((4 << 20)) 5201 > "$TMPD/a" &
	local a=$!
	transfer "$REMOTE" kvm:g1 $G1_IP $((4 << 20)) 5202
	wait $a
	cat "$TMPD/a"
	transfer kvm:g0 kvm:g1 $G1_IP $((2 << 20)) 5203
	local d sent=4194304
	for d in tap0 tap1; do
		# tap1's guest also got g0's 2 MB.
		[ $d = tap1 ] && sent=6291456
		check_acked_early $sent 131072 $d
		check_eq "$d early-ack-errors" "$(port_stat_of $d early-ack-errors)" 0
	done
}

# The ring rule with vhost-net as the tap's reader, end to end, and the
# delivery buffer behind it. vhost takes frames from the tap's ring into a
# batch of its own (up to 64); the tap counts them in tx_packets as it
# delivers them; a GSO frame the tap takes whole (vhost turns TSO on for a
# virtio-net guest) is one entry. With an 8-entry ring and a 4 MB window
# (buf-size 4 MB), the guest is stopped for 3 s, by SIGSTOP to QEMU
# (freeze) or by QEMU's monitor (pause: vhost stops, puts its batch back
# into the ring, and QEMU purges its queue when vhost starts again). Bytes
# acked early were lost on the way into the guest there (seen: 7389264 and
# 7875904 of 8388608 bytes, then no progress, the guest's duplicate ACKs
# behind the host's ack dropped as redundant); the delivery buffer re-sends
# them. SNOOP=off runs the same without ack offload.
stopped_guest() { # freeze|pause
	kvm_topo_up 1
	ip -n "$HOST" link set tap0 txqueuelen 8
	kvm_start g0 tap0 3 $G0_IP $G0_IP6
	kvm_exec g0 sysctl -qw net.ipv4.tcp_rmem="'4096 8388608 16777216'"
	in_remote sysctl -qw net.ipv4.tcp_wmem="4096 16384 16777216"
	vctl port add dev tap0 snoop "${SNOOP:-on}" buf-size 4194304 ring-margin 2 > /dev/null
	transfer "$REMOTE" kvm:g0 $G0_IP $((8 << 20)) > "$TMPD/a" &
	local a=$! i est max=0 resume=thaw
	[ "$1" = freeze ] || resume=resume
	slowwait 30 stat_at_least to-guest-tcp-segs 1000
	bash "$GUEST_SH" "$1" g0
	for i in $(seq 10); do
		est=$(port_stat ring-estimate)
		[ "$est" -le "$max" ] || max=$est
		sleep 0.3
	done
	bash "$GUEST_SH" $resume g0
	wait $a || { vctl port show dev tap0; ip -n "$HOST" -s link show tap0; fail "transfer broke"; }
	cat "$TMPD/a"
	vctl port show dev tap0
	echo "guest stopped 3 s ($1): ring estimate at most $max of 8"
	check_le "ring estimate" "$max" 8
	check_eq early-ack-errors "$(port_stat early-ack-errors)" 0
	held_emptied
}
t_acked_bytes_survive_a_frozen_vhost_guest() { stopped_guest freeze; }
t_acked_bytes_survive_a_paused_vhost_guest() { stopped_guest pause; }

# The port goes while a guest runs: detached mid-transfer, attached again,
# the module unloaded mid-transfer, and at last the tap device deleted
# under QEMU. Every transfer still completes; the kernel log stays clean.
t_detach_rmmod_and_tap_removal_under_a_guest() {
	kvm_topo_up 1
	kvm_start g0 tap0 3 $G0_IP $G0_IP6
	vctl port add dev tap0 snoop on > /dev/null
	transfer "$REMOTE" kvm:g0 $G0_IP $((8 << 20)) > "$TMPD/a" &
	local a=$!
	slowwait 30 stat_at_least early-acks 10
	vctl port del dev tap0
	wait $a
	cat "$TMPD/a"
	vctl port add dev tap0 snoop on > /dev/null
	transfer "$REMOTE" kvm:g0 $G0_IP $((8 << 20)) 5202 > "$TMPD/b" &
	local b=$!
	slowwait 30 stat_at_least early-acks 10
	rmmod vassist
	wait $b
	cat "$TMPD/b"
	insmod "$KO"
	vctl port add dev tap0 snoop on > /dev/null
	ip -n "$HOST" link del tap0
	check_eq "ports after the tap went" "$(vctl -j port show | json 'len(j)')" 0
	kvm_exec g0 true
}

tests=(t_vhost_net_both_ways t_qemu_virtio_net_both_ways t_two_guests_one_bridge
	t_acked_bytes_survive_a_frozen_vhost_guest t_acked_bytes_survive_a_paused_vhost_guest
	t_detach_rmmod_and_tap_removal_under_a_guest)
run_tests "$@" "${tests[@]}"
