#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM booted with instruction counting (tools/vm/run.sh -i):
# bridge pps of a port without ack offload. pktgen injects 64-byte frames
# for the guest's MAC as if received on the remote's bridge port (vrem0,
# xmit_mode netif_receive: the whole receive, bridge and tap path runs in
# pktgen's own loop, with no backlog queue or softirq deferral to make the
# work vary); the guest is paused, so the tap drops what its ring cannot
# hold (counted as tx_dropped). Three states, each measured once per round,
# in an order that turns every round so none always follows the same one:
# module not loaded; loaded, port not attached; loaded, port attached
# without offload. pps lines go to $1/pps.txt.
out=$1 rounds=${BENCH_PPS_ROUNDS:-10}
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
count=150000
topo_up
mac=$(ip -n "$GUEST" -j link show eth0 | json "j[0]['address']")
pid=$TAPGUEST_PID
kill -USR1 $pid
pg() { ip netns exec "$HOST" sh -c "echo '$1' > /proc/net/pktgen/$2"; }
pg "rem_device_all" kpktgend_0
pg "add_device vrem0" kpktgend_0
for c in "xmit_mode netif_receive" "count $count" "pkt_size 64" "delay 0" "dst $GUEST_IP" \
	"dst_mac $mac" "clone_skb 0"; do
	pg "$c" vrem0
done
enter() {
	case $1 in
	unloaded) mod_unload ;;
	loaded)
		mod_load
		! vctl port show dev tap0 > /dev/null 2>&1 || vctl port del dev tap0 ;;
	attached)
		mod_load
		vctl port show dev tap0 > /dev/null 2>&1 || vctl port add dev tap0 > /dev/null ;;
	esac
}
states=(unloaded loaded attached)
# One run unmeasured first: the first after boot fills the tap's ring and
# finds caches and allocators cold.
pg start pgctrl
: > "$out/pps.txt"
for i in $(seq 0 $((rounds - 1))); do
	for j in 0 1 2; do
		# Rounds run the states forwards then backwards, starting one on.
		k=$(( (i % 2 ? 2 - j : j) + i / 2 ))
		state=${states[k % 3]}
		enter $state
		# Let what insmod/rmmod leave behind (RCU callbacks, frees) finish.
		sleep 1
		pg start pgctrl
		# pktgen times its own loop, which here is the whole path: no shell
		# or process start-up in the figure.
		usec=$(ip netns exec "$HOST" cat /proc/net/pktgen/vrem0 | sed -n 's/.*Result: OK: \([0-9]*\)(.*/\1/p')
		echo "$i $state $(python3 -c "print(round($count / ($usec / 1e6)))")" | tee -a "$out/pps.txt"
	done
done
kill -USR2 $pid
topo_down
