#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM (benchmark kernel): N=3 1 MB transfers (the guest helper's
# round-robin model, 30 ms slice, 60% load) without offload and with it at
# several buf-size values, with and without window growth, side by side;
# raw results to $1/bufsize.jsonl and the port's counters after.
#   BENCH_BUF_TRANSFERS (210), BENCH_BUF_MODES (see below), BENCH_BUF_BYTES
#   (1000000: the transfer size)
out=$1
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
mod_load
topo_up --vms 3 --slice-ms 30 --load 60
vctl port add dev tap0 > /dev/null
python3 "$VASSIST_ROOT/bench/ack-offload/transfers.py" --host-ns "$HOST" \
	--remote-ns "$REMOTE" --guest-ns "$GUEST" --guest-ip $GUEST_IP --size "${BENCH_BUF_BYTES:-1000000}" \
	--n "${BENCH_BUF_TRANSFERS:-210}" --block 5 \
	--modes "${BENCH_BUF_MODES:-off,on@262144,on@1048576,on@2097152,on@4194304,grow@262144,grow@1048576}" \
	--out "$out/bufsize.jsonl"
vctl -j port show dev tap0 > "$out/bufsize.port.json"
topo_down
