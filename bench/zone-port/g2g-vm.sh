#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the test VM, after rx-vm.sh: two guests (tapguest --zone, each in its
# own namespace) on two zone ports of one bridge, and a verified TCP
# transfer from one to the other. The copies of the payload are counted,
# not assumed: the bytes the sending port copied (each frame's headers,
# into the skb; the rest is referenced in place) and the bytes the
# receiving port placed (its one copy), against the bytes sent. Then the
# same two guests on plain taps, for the transfer's time. Lines go to
# $1/g2g.txt:
#   zone sent_bytes copied_bytes placed_bytes ms
#   tap  - - - ms
out=$1 bytes=$((8 << 20))
. "$(dirname "$0")/../../selftests/lib.sh"
set -e
: > "$out/g2g.txt"
mod_load
for kind in zone tap; do
	topo_build
	guest2_build
	zone=()
	if [ $kind = zone ]; then
		vctl port add dev tap0 zone on > /dev/null
		vctl port add dev tap1 zone on > /dev/null
		zone=(--zone)
	fi
	tapguest_start "${zone[@]}"
	tapguest2_start "${zone[@]}"
	ms=$(transfer "$GUEST" "$GUEST2" 10.0.0.3 $bytes | sed -n 's/.* in \([0-9.]*\) s .*/\1/p' |
		awk '{ printf "%d", $1 * 1000 }')
	if [ $kind = zone ]; then
		echo "zone $(zone_stat_of tap0 tx-bytes) $(zone_stat_of tap0 tx-copied-bytes)" \
			"$(zone_stat_of tap1 bytes) $ms" | tee -a "$out/g2g.txt"
	else
		echo "tap - - - $ms" | tee -a "$out/g2g.txt"
	fi
	kill $TAPGUEST2_PID
	wait $TAPGUEST2_PID || true
	topo_down
done
