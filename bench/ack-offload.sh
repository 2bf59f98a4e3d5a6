#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The ack offload benchmark: builds the benchmark kernel (no KASAN/lockdep,
# with pktgen; cached like the test kernel) and the module for it, runs
# bench/ack-offload/vm.sh in the test VM, and writes the figures to
# bench/ack-offload.txt, ending with the one-line summary.
#   BENCH_TRANSFERS=N (default 1000) BENCH_PPS_ROUNDS=N (default 30)
set -euo pipefail
. "$(dirname "$0")/../tools/lib/paths.sh"
cd "$VASSIST_ROOT"
kdir=$(bash tools/build-kernel.sh bench | tail -1)
mod=$VASSIST_ROOT/out/bench-module
rm -rf "$mod" && mkdir -p "$mod"
cp -r Kbuild rust include "$mod/"
make -s -C "$kdir" M="$mod" LLVM=1 ARCH=x86_64 RUSTC=/usr/bin/rustc BINDGEN="$BINDGEN" \
	LIBCLANG_PATH=/usr/lib/llvm-19/lib modules
cargo build --release --quiet --workspace
run=$VASSIST_ROOT/out/bench-ack-offload
rm -rf "$run"
# tsc=reliable: under TCG the TSC follows the host's clock, but the jiffies
# watchdog (late ticks) marks it unstable and times fall to 4 ms steps.
KO=$mod/vassist.ko bash tools/vm/run.sh -k "$kdir/arch/x86/boot/bzImage" -a tsc=reliable -t 5400 "$run" -- \
	env KO="$mod/vassist.ko" BENCH_TRANSFERS="${BENCH_TRANSFERS:-1000}" \
	BENCH_PPS_ROUNDS="${BENCH_PPS_ROUNDS:-30}" bash bench/ack-offload/vm.sh "$run" ||
	{ tail -40 "$run/output"; exit 1; }
{
	accel=$(cat "$VASSIST_CACHE/accel-$(sha256sum "$kdir/arch/x86/boot/bzImage" | cut -c1-16)")
	echo "# bash bench/ack-offload.sh  ($(date -u +%F), QEMU accel $accel)"
	echo "# test VM: 2 vCPUs, benchmark kernel; guest helper active 10 ms of every 30 ms;"
	echo "# ${BENCH_TRANSFERS:-1000} transfers of 100 KB, blocks of 10 alternating without/with."
	python3 bench/ack-offload/report.py "$run" 10
} | tee bench/ack-offload.txt
