#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM (benchmark kernel): the transfers, with a guest that always
# runs and with one that runs 10 ms of every 30 ms. Raw results go to $1
# (the run directory).
out=$1 n=${BENCH_TRANSFERS:-1000}
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
	"tcp[tcpflags] & tcp-fin != 0 and dst host $GUEST_IP" > "$out/fins.txt" 2> "$TMPD/dump.err" &
dump=$!
slowwait 5 grep -q listening "$TMPD/dump.err"
python3 "$VASSIST_ROOT/bench/ack-offload/transfers.py" --host-ns "$HOST" --remote-ns "$REMOTE" \
	--guest-ns "$GUEST" --guest-ip $GUEST_IP --n "$n" --out "$out/transfers.jsonl"
sleep 0.5
kill $dump; wait $dump || true
vctl port show dev tap0
topo_down
