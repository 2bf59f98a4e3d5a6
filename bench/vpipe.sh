#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The vPipe benchmark: builds the benchmark kernel and the module for it,
# runs bench/vpipe/run-vm.sh in the test VM (TCG, real time), and writes
# the figures to bench/vpipe.txt, ending with the summary line.
#   BENCH_ROUNDS=N (default 3)
#   BENCH_PROFILE=splice|vpipe: profiles one 100 MB run of that mode with
#   perf instead, and prints the report (bench/vpipe.txt untouched)
. "$(dirname "$0")/lib.sh"
run=$VASSIST_ROOT/out/bench-vpipe
rm -rf "$run"
bash tools/vm/run.sh -k "$kdir/arch/x86/boot/bzImage" -t 5400 "$run" -- \
	env KO="$mod/vassist.ko" BENCH_ROUNDS="${BENCH_ROUNDS:-3}" BENCH_PROFILE="${BENCH_PROFILE:-}" \
	bash bench/vpipe/run-vm.sh "$run" ||
	{ tail -40 "$run/output"; exit 1; }
[ -z "${BENCH_PROFILE:-}" ] || { cat "$run/profile.txt"; exit 0; }
{
	echo "# bash bench/vpipe.sh  ($(date -u +%F), on $(git rev-parse --short HEAD);"
	echo "# test VM: TCG, real time; the guest a namespace behind tapguest --vms 3,"
	echo "# i.e. a vCPU sharing its core with 2 busy VMs at a 30 ms slice)"
	python3 bench/vpipe/report.py "$run/vpipe.txt"
} | tee bench/vpipe.txt
