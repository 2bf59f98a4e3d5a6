#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The ack offload benchmark: builds the benchmark kernel (no KASAN/lockdep,
# with pktgen; cached like the test kernel) and the module for it, runs
# bench/ack-offload/transfers-vm.sh and pps-vm.sh in the test VM, and
# writes the figures to bench/ack-offload.txt, ending with the one-line
# summary.
#   BENCH_TRANSFERS=N (default 1500) BENCH_MB=N (default 150) BENCH_GRID=0|1
#   BENCH_MODES=off,on,grow (port settings compared: no offload, offload,
#   offload with window growth)
#   BENCH_PPS_ROUNDS=N (default 12)
#   BENCH_PARTS=transfers,pps (default both; a part left out is reported
#   from its last run, kept in out/, and the header says so)
. "$(dirname "$0")/../tools/lib/paths.sh"
run=$VASSIST_ROOT/out/bench-ack-offload
parts=${BENCH_PARTS:-transfers,pps}
# The report needs both parts: one left out must have run before here.
for part in transfers pps; do
	dir=$run; [ $part = transfers ] || dir=$run-pps
	if [[ ,$parts, != *,$part,* && ! -d $dir ]]; then
		echo "ack-offload: BENCH_PARTS leaves out $part, which has no run in $dir to report" >&2
		exit 1
	fi
done
. "$(dirname "$0")/lib.sh"
# tsc=reliable: under TCG the TSC follows the host's clock, but the jiffies
# watchdog (late ticks) marks it unstable and times fall to 4 ms steps.
vm() { bash tools/vm/run.sh -k "$kdir/arch/x86/boot/bzImage" -a tsc=reliable -t 5400 "$@"; }
if [[ ,$parts, == *,transfers,* ]]; then
	rm -rf "$run"
	KO=$mod/vassist.ko vm "$run" -- \
		env KO="$mod/vassist.ko" BENCH_TRANSFERS="${BENCH_TRANSFERS:-1500}" \
		BENCH_MB="${BENCH_MB:-150}" BENCH_GRID="${BENCH_GRID:-1}" BENCH_MODES="${BENCH_MODES:-off,on,grow}" \
		bash bench/ack-offload/transfers-vm.sh "$run" ||
		{ tail -40 "$run/output"; exit 1; }
	git rev-parse --short HEAD > "$run/commit"
fi
# pps in a second boot that counts instructions (-i): under plain TCG the
# host's noise is larger than the cost measured.
if [[ ,$parts, == *,pps,* ]]; then
	rm -rf "$run-pps"
	KO=$mod/vassist.ko vm -i "$run-pps" -- \
		env KO="$mod/vassist.ko" BENCH_PPS_ROUNDS="${BENCH_PPS_ROUNDS:-12}" \
		bash bench/ack-offload/pps-vm.sh "$run-pps" ||
		{ tail -40 "$run-pps/output"; exit 1; }
	git rev-parse --short HEAD > "$run-pps/commit"
fi
{
	accel=$(cat "$VASSIST_CACHE/accel-$(sha256sum "$kdir/arch/x86/boot/bzImage" | cut -c1-16)")
	echo "# bash bench/ack-offload.sh  ($(date -u +%F), QEMU accel $accel; pps: TCG with -icount)"
	echo "# test VM: 2 vCPUs, benchmark kernel; transfers remote -> guest timed and verified at"
	echo "# the guest's application, offload switched off/on every block of transfers."
	echo "# transfers measured on $(cat "$run/commit" 2>/dev/null || echo '?'), pps on $(cat "$run-pps/commit" 2>/dev/null || echo '?')."
	python3 bench/ack-offload/report.py "$run" "$run-pps/pps.txt"
} | tee bench/ack-offload.txt
