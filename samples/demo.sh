#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo (in the test VM): a bridge with a guest's tap port, attached
# with vassistctl, verified TCP transfers through it, then the same with ack
# offload on and the guest descheduled 20 ms of every 30 ms, the port's
# counters and a flow dump taken mid-transfer.
. "$(dirname "$0")/../selftests/lib.sh"
set -e
trap topo_down EXIT
mod_load
topo_up
echo "== vassistctl port add dev tap0"
vctl port add dev tap0
echo "== 8 MiB remote -> guest, 2 MiB guest -> remote"
transfer "$REMOTE" "$GUEST" $GUEST_IP $((8 << 20))
transfer "$GUEST" "$REMOTE" $REMOTE_IP $((2 << 20)) 5202
echo "== vassistctl port show"
vctl port show
echo "== vassistctl -j port show"
vctl -j port show
echo "== ack offload on; the guest runs 10 ms of every 30 ms"
topo_down
topo_up --active-ms 10 --period-ms 30
vctl port add dev tap0 snoop on > /dev/null
transfer "$REMOTE" "$GUEST" $GUEST_IP $((4 << 20)) > "$TMPD/t" &
slowwait 20 stat_at_least to-guest-tcp-segs 200
echo "== vassistctl flow show (mid-transfer)"
vctl flow show
wait $!
cat "$TMPD/t"
echo "== vassistctl port show"
vctl port show
