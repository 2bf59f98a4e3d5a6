#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo (in the test VM): a bridge with a guest's tap port, attached
# with vassistctl, a verified TCP transfer from a remote host to the guest
# through it, and the port's counters.
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
