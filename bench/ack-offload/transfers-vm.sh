#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM (benchmark kernel): ack offload in the vSnoop paper's own
# conditions (section II): a guest with 60% CPU load sharing its core
# round-robin with N-1 busy VMs at Xen's 30 ms slice. Raw results go to $1
# (the run directory); report.py makes the figures.
#   BENCH_TRANSFERS (1500): N=3 100 KB transfers, a third each without
#   offload, with it, with it and window growth (BENCH_MODES, off,on,grow);
#   BENCH_MB (150): N=3 1 MB transfers; BENCH_GRID=0 skips Figure 6.
out=$1
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
mod_load
SLICE=30 LOAD=60
# The guest helper's scheduling model (tapguest --vms).
model() { echo --vms "$1" --slice-ms $SLICE --load $LOAD; }

# ping_rtts NAME DEST: 300 pings from the remote at an interval that is no
# multiple of the slice (every phase of a round is sampled); RTTs in ms.
ping_rtts() {
	in_remote ping -n -c 300 -i 0.037 -W 3 "$2" | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' \
		> "$out/rtt-$1.txt"
	echo "rtt $1: $(wc -l < "$out/rtt-$1.txt") replies"
}

# Real contention: N-1 hogs at the same load on CPU 1, beside the guest's
# helper (or vCPU) pinned there, under the kernel's own scheduler.
HOGS=()
hogs_start() {
	local i
	for i in $(seq 2 "$1"); do
		taskset -c 1 hog --load $LOAD &
		HOGS+=($!)
	done
}
hogs_stop() {
	[ ${#HOGS[@]} -eq 0 ] || { kill "${HOGS[@]}"; wait "${HOGS[@]}" 2> /dev/null || true; }
	HOGS=()
}

# --- Figure 1(a): ping RTT to the guest, N = 1, 2, 3, 5 VMs per core ---------
for n in 1 2 3 5; do
	topo_up $(model $n)
	ping_rtts model-$n $GUEST_IP
	topo_down
done
for n in 1 2 3 5; do
	topo_up
	taskset -pc 1 "$TAPGUEST_PID" > /dev/null
	hogs_start $n
	ping_rtts hogs-$n $GUEST_IP
	hogs_stop
	topo_down
done
if bash "$GUEST_SH" check > /dev/null 2>&1; then
	kvm_topo_up 1
	kvm_start g0 tap0 3 $GUEST_IP $GUEST_IP6
	# Every QEMU thread (vCPU, vhost worker) on CPU 1.
	for t in $(pgrep -f "qemu-system.*g0"); do taskset -apc 1 "$t" > /dev/null; done
	for n in 1 2 3 5; do
		hogs_start $n
		ping_rtts kvm-$n $GUEST_IP
		hogs_stop
	done
	# 100 KB transfers into the real guest beside 2 hogs, offload off and
	# on in turn: the receiver's time from accept to its last byte.
	vctl port add dev tap0 > /dev/null
	hogs_start 3
	for i in $(seq 1 ${BENCH_KVM:-40}); do
		mode=$([ $((i % 2)) = 0 ] && echo on || echo off)
		vctl port set dev tap0 snoop $mode > /dev/null
		transfer "$REMOTE" kvm:g0 $GUEST_IP 100000 $((5300 + i)) |
			sed -n "s/.* in \([0-9.]*\) s .*/$mode \1/p" >> "$out/kvm-n3-100000.txt"
	done
	hogs_stop
	vctl -j port show dev tap0 > "$out/kvm-n3-100000.port.json"
	kvm_guests_stop
	topo_down
else
	echo "no nested KVM: the real-guest rows are skipped"
fi

# run_transfers NAME N SIZE COUNT BLOCK: COUNT transfers of SIZE, offload
# switched every BLOCK, with a guest of the model for N; the data segments
# the host hands to the guest's tap and the helper's wake-ups give the
# bound (when the last byte reached the host, then the guest's next turn).
run_transfers() {
	local name=$1 n=$2 size=$3 count=$4 block=$5 dump
	topo_up $(model "$n") --wake-log "$out/$name.wakes"
	[ -z "${PAPER_SENDER:-}" ] || {
		in_remote ip route change 10.0.0.0/24 dev eth0 initcwnd 3
		in_remote sysctl -qw net.ipv4.tcp_congestion_control=reno
	}
	vctl port add dev tap0 > /dev/null
	ip netns exec "$HOST" tcpdump -l -tt -n -B 16384 -i tap0 -Q out \
		"tcp and dst host $GUEST_IP and (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) != 0" \
		> "$out/$name.data" 2> "$TMPD/dump.err" &
	dump=$!
	slowwait 5 grep -q listening "$TMPD/dump.err"
	python3 "$VASSIST_ROOT/bench/ack-offload/transfers.py" --host-ns "$HOST" \
		--remote-ns "$REMOTE" --guest-ns "$GUEST" --guest-ip $GUEST_IP --size "$size" \
		--n "$count" --block "$block" --modes "${BENCH_MODES:-off,on,grow}" \
		--out "$out/$name.jsonl"
	sleep 0.5
	kill $dump
	wait $dump || true
	vctl -j port show dev tap0 > "$out/$name.port.json"
	echo "transfers $name: $(wc -l < "$out/$name.jsonl")"
	topo_down
}

run_transfers n3-100000 3 100000 "${BENCH_TRANSFERS:-1500}" 10
run_transfers n3-1000000 3 1000000 "${BENCH_MB:-150}" 5
PAPER_SENDER=1 run_transfers paper-n3-100000 3 100000 300 10

# --- Figure 6: N x transfer size (the N=3 100 KB and 1 MB cells above) -----
[ "${BENCH_GRID:-1}" = 1 ] || exit 0
for n in 1 2 3 5; do
	run_transfers n$n-10000 $n 10000 60 5
	[ $n = 3 ] || run_transfers n$n-100000 $n 100000 60 5
	[ $n = 3 ] || run_transfers n$n-1000000 $n 1000000 30 5
	# 10 MB transfers vary most (seconds apart at N=3): 4 per mode.
	run_transfers n$n-10000000 $n 10000000 12 1
done
