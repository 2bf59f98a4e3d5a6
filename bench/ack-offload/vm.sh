#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM (benchmark kernel): the transfers, then the bridge pps
# rounds. Raw results go to $1 (the run directory).
out=$1 n=${BENCH_TRANSFERS:-1000} rounds=${BENCH_PPS_ROUNDS:-30}
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
mod_load

# --- completion times with a guest that always runs: offload must not slow
# it down (the guest's own acks are then never late) ------------------------
topo_up
vctl port add dev tap0 > /dev/null
python3 "$VASSIST_ROOT/bench/ack-offload/transfers.py" --host-ns "$HOST" --remote-ns "$REMOTE" \
	--guest-ns "$GUEST" --guest-ip $GUEST_IP --n "$((n / 5))" --out "$out/always.jsonl"
topo_down

# --- completion times: guest runs 10 ms of every 30 ms -----------------------
topo_up --active-ms 10 --period-ms 30 --wake-log "$out/wakes.txt"
vctl port add dev tap0 > /dev/null
ip netns exec "$HOST" tcpdump -l -tt -n -i tap0 -Q out \
	"tcp[tcpflags] & tcp-fin != 0 and dst host $GUEST_IP" > "$out/fins.txt" 2> /dev/null &
dump=$!
sleep 1
python3 "$VASSIST_ROOT/bench/ack-offload/transfers.py" --host-ns "$HOST" --remote-ns "$REMOTE" \
	--guest-ns "$GUEST" --guest-ip $GUEST_IP --n "$n" --out "$out/transfers.jsonl"
sleep 0.5
kill $dump; wait $dump || true
vctl port show dev tap0
topo_down

# --- bridge pps: pktgen in the remote netns, 64-byte frames to the guest's
# MAC through the bridge to tap0 (attached, no offload), guest paused: the
# tap drops what its ring cannot hold. Module unloaded and loaded, in
# alternating rounds. ---------------------------------------------------------
topo_up
mac=$(ip -n "$GUEST" -j link show eth0 | json "j[0]['address']")
pid=$(pgrep -f -- "--guest-netns $GUEST ")
kill -USR1 $pid
pg() { ip netns exec "$REMOTE" sh -c "echo '$1' > /proc/net/pktgen/$2"; }
pg "rem_device_all" kpktgend_0
pg "add_device eth0" kpktgend_0
for c in "count 150000" "pkt_size 64" "delay 0" "dst $GUEST_IP" "dst_mac $mac" "clone_skb 0"; do
	pg "$c" eth0
done
ring_out() {
	ip -n "$HOST" -j -s link show tap0 | json "j[0]['stats64']['tx']['packets'] + j[0]['stats64']['tx']['dropped']"
}
: > "$out/pps.txt"
# Pairs in alternating order (unloaded first, then loaded first) so a drift
# of the VM's speed does not favour either; a second after each change lets
# the work insmod/rmmod leave behind (RCU, freeing) finish first.
for i in $(seq "$rounds"); do
	order="unloaded loaded"
	[ $((i % 2)) = 0 ] && order="loaded unloaded"
	for state in $order; do
		if [ "$state" != "${cur:-}" ]; then
			if [ $state = loaded ]; then
				mod_load
				vctl port add dev tap0 > /dev/null
			else
				mod_unload
			fi
			cur=$state
		fi
		sleep 1
		a=$(ring_out) t0=$(date +%s.%N)
		pg start pgctrl
		t1=$(date +%s.%N) b=$(ring_out)
		echo "$state $(python3 -c "print(($b - $a) / ($t1 - $t0))")" | tee -a "$out/pps.txt"
	done
done
kill -USR2 $pid
topo_down
