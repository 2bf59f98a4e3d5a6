#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The zone-port benchmark: builds the benchmark kernel (no KASAN/lockdep;
# cached like the test kernel) and the module for it, runs
# bench/zone-port/rx-vm.sh and g2g-vm.sh in the test VM with instruction
# counting, and writes the figures to bench/zone-port.txt, ending with the
# summary line.
#   BENCH_ROUNDS=N (default 5) BENCH_FRAMES=N (default 50000 per run)
#   BENCH_PROFILE=zone|tap|...: profiles one run of that receiver with
#   perf instead, and prints the report (bench/zone-port.txt untouched)
. "$(dirname "$0")/lib.sh"
run=$VASSIST_ROOT/out/bench-zone-port
rm -rf "$run"
bash tools/vm/run.sh -k "$kdir/arch/x86/boot/bzImage" -i -t 5400 "$run" -- \
	env KO="$mod/vassist.ko" BENCH_ROUNDS="${BENCH_ROUNDS:-5}" BENCH_FRAMES="${BENCH_FRAMES:-50000}" \
	BENCH_PROFILE="${BENCH_PROFILE:-}" bash -c "bash bench/zone-port/rx-vm.sh $run &&
		{ [ -n \"\$BENCH_PROFILE\" ] || bash bench/zone-port/g2g-vm.sh $run; }" ||
	{ tail -40 "$run/output"; exit 1; }
[ -z "${BENCH_PROFILE:-}" ] || { cat "$run/profile.txt"; exit 0; }
{
	echo "# bash bench/zone-port.sh  ($(date -u +%F), on $(git rev-parse --short HEAD);"
	echo "# test VM: 1 vCPU, TCG with -icount: 1 ns = 1 guest instruction; benchmark kernel)"
	python3 bench/zone-port/report.py "$run/rx.txt" "$run/notify.txt" "$run/g2g.txt"
} | tee bench/zone-port.txt
