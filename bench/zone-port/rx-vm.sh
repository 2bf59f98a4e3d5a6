#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM booted with instruction counting (tools/vm/run.sh -i: one
# vCPU, 1 ns = 1 instruction): the CPU cost of receiving frames into a
# userspace consumer through a bridge port. A sender in the remote's
# namespace (rxbench send: AF_PACKET, qdisc bypassed) sends 64-frame bursts
# 3 ms apart (21k pps offered, below every consumer's capacity, so nothing
# is dropped), as a real-time task so that each burst arrives whole while
# the receiver waits, through the veth to the bridge, which forwards them (a
# static fdb entry) out of tap0; the receiver takes them one way per run:
#   base    zone port with no consumer: dropped at the hook (the sender,
#           veth and bridge cost, the same in every run)
#   tap     read() from the tap, a frame per call
#   packet  AF_PACKET TPACKET_V3 ring on the tap
#   zone    vassist zone port, read in place
#   xdp     AF_XDP socket (copy mode, generic XDP) on the peer of a veth
#           port, vxdp0, which the fdb entry points at for the run (a
#           tap's frames toward the guest never pass XDP)
# The CPU time all tasks ran over the run, divided by the frames,
# is the cost per frame; minus base, the cost of receiving. Each mode once
# per round, in an order that turns every round. Lines go to $1/rx.txt:
#   round size mode sent received busy_ns notifications receiver_ns
# (receiver_ns: the receiving process's own CPU time, its system calls
# included; the rest of the receive cost is the kernel's, in the softirq).
out=$1 rounds=${BENCH_ROUNDS:-5} frames=${BENCH_FRAMES:-50000}
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
mac=02:00:00:00:00:99
setup_ns HOST REMOTE
bridge_up
ip -n "$HOST" -batch - <<-EOT
	tuntap add tap0 mode tap
	link set tap0 master br0 up
	link add vxdp0 type veth peer name vxdp1
	link set vxdp0 master br0 up
	link set vxdp1 up
EOT
bridge -n "$HOST" fdb add $mac dev tap0 master static
mod_load
vctl port add dev tap0 > /dev/null
zone_stat() { zone_stat_of tap0 "$1"; }
# The receiver runs in the host's namespace; profiled, without a mount
# namespace of its own (ip netns exec makes one), so that perf finds its
# binary by the path it has here.
in_host=(ip netns exec "$HOST")
[ -z "${BENCH_PROFILE:-}" ] || in_host=(nsenter --net=/run/netns/"$HOST")
run() {
	local round=$1 size=$2 mode=$3 recv=$3 sent busy got notes own
	# Zone turned on afresh: its counters start at zero.
	vctl port set dev tap0 zone off > /dev/null
	case $mode in
	base) vctl port set dev tap0 zone on > /dev/null; recv=tap ;;
	zone) vctl port set dev tap0 zone on > /dev/null ;;
	esac
	local dev=tap0
	[ $mode != xdp ] || dev=vxdp1
	bridge -n "$HOST" fdb replace $mac dev ${dev/vxdp1/vxdp0} master static
	"${in_host[@]}" rxbench recv --dev $dev --mode $recv > "$TMPD/recv" 2>&1 &
	local r=$!
	slowwait 5 grep -q ready "$TMPD/recv"
	sleep 0.5
	read -r sent busy < <(ip netns exec "$REMOTE" rxbench send --dev eth0 --dst-mac $mac \
		--frames "$frames" --size "$size" | sed -n 's/.*sent \([0-9]*\) busy_ns \([0-9]*\).*/\1 \2/p')
	notes=$(zone_stat notifications)
	kill $r
	wait $r || true
	read -r got own < <(sed -n 's/.*frames \([0-9]*\) .*cpu_ns \([0-9]*\).*/\1 \2/p' "$TMPD/recv")
	[ $mode != base ] || got=0 own=0
	echo "$round $size $mode $sent $got $busy $notes $own" | tee -a "$out/rx.txt"
}
# Notification, each way in turn on the same traffic (zone port, 64-byte
# frames, stamped with their sending time); lines go to $1/notify.txt:
#   round kind notify sent received placed notifications p50_ns p90_ns
#   latency     lone frames 2 ms apart: from sending to the consumer taking
#               each one (a consumer asleep when each comes)
#   saturation  256-frame bursts 100 us apart: the CPU busy throughout,
#               the consumer behind; notifications per frame placed
notify_run() {
	local round=$1 kind=$2 mode=$3 sent got notes placed lat args
	vctl port set dev tap0 zone off > /dev/null
	vctl port set dev tap0 zone on notify "$mode" coalesce-usecs 50 > /dev/null
	ip netns exec "$HOST" rxbench recv --dev tap0 --mode zone --latency > "$TMPD/recv" 2>&1 &
	local r=$!
	slowwait 5 grep -q ready "$TMPD/recv"
	sleep 0.5
	case $kind in
	latency) args="--frames 1000 --burst 1 --gap-us 2000" ;;
	saturation) args="--frames $frames --burst 256 --gap-us 100" ;;
	esac
	# shellcheck disable=SC2086 # the options
	sent=$(ip netns exec "$REMOTE" rxbench send --dev eth0 --dst-mac $mac --size 64 --stamp \
		$args | sed -n 's/.*sent \([0-9]*\) .*/\1/p')
	notes=$(zone_stat notifications)
	placed=$(zone_stat frames)
	kill $r
	wait $r || true
	got=$(sed -n 's/.*frames \([0-9]*\) .*/\1/p' "$TMPD/recv")
	lat=$(sed -n 's/.*latency_p50_ns \([0-9]*\) p90_ns \([0-9]*\).*/\1 \2/p' "$TMPD/recv")
	echo "$round $kind $mode $sent $got $placed $notes $lat" | tee -a "$out/notify.txt"
}
modes=(base tap packet zone xdp)
n=${#modes[@]}
: > "$out/rx.txt"
# One run unmeasured first: caches and allocators cold after boot.
run warm 64 zone > /dev/null
# BENCH_PROFILE=mode: one 64-byte run of that mode under perf instead, to
# $1/profile.txt: instructions per frame by process (the sender's softirqs
# are the path to the port) and object, by function, and samples by offset
# in the module's functions (for objdump of the .ko). A sample every
# 10,000 instructions: perf's hrtimer fires no more often, whatever -c
# asks.
if [ -n "${BENCH_PROFILE:-}" ]; then
	sysctl -qw kernel.kptr_restrict=0 kernel.perf_event_paranoid=-1
	perf record -q -a -e cpu-clock -c 10000 -o "$TMPD/perf.data" 2> /dev/null &
	p=$!
	sleep 1
	run prof 64 "$BENCH_PROFILE"
	kill -INT $p
	wait $p || true
	perf script -i "$TMPD/perf.data" --comms rxbench -F pid,ip,sym,symoff,dso 2> /dev/null |
		awk '{ f = $3; sub(/\+0x[0-9a-f]+$/, "", f); print $1, $NF, f, $3 }' > "$TMPD/samples"
	# per_frame FIELDS LINES: instructions per frame by the fields' values.
	per_frame() {
		awk -v f="$frames" -v k="$1" '{ split(k, i, ","); key = $i[1]; for (j = 2; j in i; j++) key = key " " $i[j]; n[key]++ }
			END { for (key in n) printf "%8.0f %s\n", n[key] * 10000 / f, key }' "$TMPD/samples" |
			sort -rn | head -"$2"
	}
	{
		echo "# instructions per frame by process and object"
		per_frame 1,2 12
		echo "# instructions per frame by function"
		per_frame 3 40
		echo "# samples by offset in vassist's functions"
		awk '$2 ~ /vassist/ { n[$4]++ } END { for (k in n) print n[k], k }' "$TMPD/samples" |
			sort -rn | head -80
	} > "$out/profile.txt"
	exit 0
fi
for i in $(seq 0 $((rounds - 1))); do
	for size in 64 1514; do
		for j in $(seq 0 $((n - 1))); do
			k=$(( (i % 2 ? n - 1 - j : j) + i / 2 ))
			run "$i" $size "${modes[k % n]}"
		done
	done
done
notifies=(evi-eoc every-frame timer)
: > "$out/notify.txt"
bridge -n "$HOST" fdb replace $mac dev tap0 master static
for i in $(seq 0 $((rounds - 1))); do
	for kind in latency saturation; do
		for j in 0 1 2; do
			notify_run "$i" $kind "${notifies[(i + j) % 3]}"
		done
	done
done
