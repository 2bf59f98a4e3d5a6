#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM (benchmark kernel): window growth against offload without
# it, side by side in blocks of 5, for a guest that keeps running (N=1) and
# one that runs in turns (N=3: the guest helper's round-robin model, 30 ms
# slice, 60% load). Per case: the transfers ($1/CASE.jsonl) and what each
# mode's blocks changed in the port's counters, the sender's and the
# guest's TCP counters ($1/CASE.stats.json).
#   BENCH_GROWTH_CASES (N:BYTES:COUNT,...), BENCH_GROWTH_MODES (on,grow)
out=$1
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
mod_load
cases=${BENCH_GROWTH_CASES:-3:100000:100,3:1000000:40,1:1000000:40,1:10000000:20}
for spec in ${cases//,/ }; do
	IFS=: read -r n size count <<< "$spec"
	if [ "$n" = 1 ]; then topo_up; else topo_up --vms "$n" --slice-ms 30 --load 60; fi
	vctl port add dev tap0 > /dev/null
	python3 "$VASSIST_ROOT/bench/ack-offload/transfers.py" --host-ns "$HOST" \
		--remote-ns "$REMOTE" --guest-ns "$GUEST" --guest-ip $GUEST_IP --size "$size" \
		--n "$count" --block 5 --modes "${BENCH_GROWTH_MODES:-on,grow}" \
		--out "$out/n$n-$size.jsonl" --stats "$out/n$n-$size.stats.json"
	echo "growth n$n-$size: $(wc -l < "$out/n$n-$size.jsonl")"
	topo_down
done
