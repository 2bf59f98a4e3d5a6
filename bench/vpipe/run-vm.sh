#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM: the vPipe proxy case. A remote client asks the guest's
# proxy, which connects to a remote backend and has the backend's response
# (1 MB or 100 MB) moved to the client, then relays a small upload and
# trailer itself. The guest is a namespace behind tapguest scheduled as a
# vCPU sharing its core with 2 busy VMs at a 30 ms slice (N = 3, the
# ack-offload harness's model, its own load 60%). Two ways each round, in
# an order that turns every round:
#   splice  the proxy splices the response in the guest (vproxy --local)
#   vpipe   vpipe_socket_to_socket: the host's agent pipes it
# Lines go to $1/vpipe.txt:
#   round size mode response_us cpu_ms trailer_us handoff_us [phases_us...
#   state_bytes back_bytes cwnd_handoff cwnd_handback srtt_us]
# (response_us: the client's time for the response; cpu_ms: all CPUs'
# busy time over the run, from /proc/stat; trailer_us: the proxy's time to
# relay the backend's 256 KB trailer itself right after the response: after
# a hand-back its connections restart from the initial window, after an
# in-guest splice they do not; handoff_us: vpipe's hand-off
# both ways, the call's time less the host's moving the bytes; then where
# it went: prepare freeze take transfer give thaw, and the bytes of the
# request that carried the states and of the answer that brought them
# back; the client connection's congestion window at the hand-off and at
# the hand-back, and its smoothed RTT then, which a restore starts afresh).
out=$1 rounds=${BENCH_ROUNDS:-3}
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
cpu_ms() { awk '/^cpu / { print int(($2 + $3 + $4 + $7 + $8) * 1000 / 100) }' /proc/stat; }
topo_build
tapguest_start --vms 3
mod_load
vctl port add dev tap0 > /dev/null
shadow_up
agent_up
run() {
	local round=$1 size=$2 mode=$3 opt= c0 c1 rus tus hus
	local sizes=(--bytes "$size" --trailer $((256 << 10)))
	[ "$mode" = splice ] && opt=--local
	in_remote vproxy backend --listen "$REMOTE_IP:5401" "${sizes[@]}" > "$TMPD/backend.log" 2>&1 &
	local b=$!
	in_guest env VPIPE_HOST_CID=1 vproxy proxy --listen "$GUEST_IP:5400" \
		--backend "$REMOTE_IP:5401" "${sizes[@]}" $opt > "$TMPD/proxy.log" 2>&1 &
	local p=$!
	slowwait 10 grep -q listening "$TMPD/proxy.log"
	slowwait 10 grep -q listening "$TMPD/backend.log"
	c0=$(cpu_ms)
	in_remote vproxy client --connect "$GUEST_IP:5400" "${sizes[@]}" > "$TMPD/client.log" 2>&1 ||
		{ cat "$TMPD"/*.log; exit 1; }
	c1=$(cpu_ms)
	wait $p && wait $b || { cat "$TMPD"/*.log; exit 1; }
	rus=$(sed -n 's/^response [0-9]* bytes in \([0-9]*\) us/\1/p' "$TMPD/client.log")
	tus=$(sed -n 's/^trailer [0-9]* in \([0-9]*\) us/\1/p' "$TMPD/proxy.log")
	hus=$(sed -n 's/.*by host (handoff \(.*\)) in [0-9]* us$/\1/p' "$TMPD/proxy.log" | head -1 |
		grep -o '[0-9]\+' | tr '\n' ' ')
	if [ "$mode" = vpipe ] && [ -z "$hus" ]; then
		cat "$TMPD/proxy.log"; exit 1
	fi
	echo "$round $size $mode $rus $((c1 - c0)) $tus ${hus:--}" | sed "s/ *$//" | tee -a "$out/vpipe.txt"
}
: > "$out/vpipe.txt"
# One run unmeasured first: caches and allocators cold after boot.
run warm $((1 << 20)) vpipe > /dev/null
# BENCH_PROFILE=splice|vpipe: one 100 MB run of that mode under perf
# instead, to $1/profile.txt: where all CPUs' time went, by process and
# object, and by function (a sample every 10 ms of CPU time).
if [ -n "${BENCH_PROFILE:-}" ]; then
	sysctl -qw kernel.kptr_restrict=0 kernel.perf_event_paranoid=-1
	perf record -q -a -e cpu-clock -c 10000000 -o "$TMPD/perf.data" 2> /dev/null &
	p=$!
	sleep 1
	run prof $((100 << 20)) "$BENCH_PROFILE"
	kill -INT $p
	wait $p || true
	perf script -i "$TMPD/perf.data" -F comm,ip,sym,dso 2> /dev/null |
		awk '{ print $1 "\t" $NF "\t" $(NF-1) }' > "$TMPD/samples"
	# top FIELDS LINES: share of the samples by the fields' values.
	top() {
		awk -F '\t' -v k="$1" '{ split(k, i, ","); key = $i[1]; for (j = 2; j in i; j++) key = key " " $i[j]; n[key]++; all++ }
			END { for (key in n) printf "%5.1f%% %s\n", n[key] * 100 / all, key }' "$TMPD/samples" |
			sort -rn | head -"$2"
	}
	{
		echo "# CPU time by process and object"
		top 1,2 25
		echo "# CPU time by function"
		top 3 50
	} > "$out/profile.txt"
	kill "$AGENT_PID"
	exit 0
fi
for r in $(seq 1 "$rounds"); do
	for size in $((1 << 20)) $((100 << 20)); do
		if [ $((r % 2)) = 1 ]; then modes="splice vpipe"; else modes="vpipe splice"; fi
		for m in $modes; do
			run "$r" "$size" "$m"
		done
	done
done
kill "$AGENT_PID"
topo_down
