#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Window growth against ack offload without it, for a guest that keeps
# running (N=1) and one that runs in turns (N=3), in one run
# (bench/ack-offload/growth-vm.sh); figures to bench/ack-offload-growth.txt.
#   BENCH_GROWTH_CASES=N:BYTES:COUNT,... BENCH_GROWTH_MODES=on,grow
. "$(dirname "$0")/lib.sh"
run=$VASSIST_ROOT/out/bench-ack-offload-growth
rm -rf "$run"
bash tools/vm/run.sh -k "$kdir/arch/x86/boot/bzImage" -a tsc=reliable -t 3600 "$run" -- \
	env KO="$mod/vassist.ko" ${BENCH_GROWTH_CASES:+BENCH_GROWTH_CASES=$BENCH_GROWTH_CASES} \
	${BENCH_GROWTH_MODES:+BENCH_GROWTH_MODES=$BENCH_GROWTH_MODES} \
	bash bench/ack-offload/growth-vm.sh "$run" ||
	{ tail -40 "$run/output"; exit 1; }
{
	echo "# bash bench/ack-offload-growth.sh  ($(date -u +%F), $(git rev-parse --short HEAD))"
	python3 bench/ack-offload/growth-report.py "$run"
} | tee bench/ack-offload-growth.txt
