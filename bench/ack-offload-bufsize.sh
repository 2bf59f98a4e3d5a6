#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Ack offload's buffer size against the 1 MB target: N=3 1 MB transfers
# without offload and with it at buf-size 256 KB .. 4 MB, with and without
# window growth, in one run (bench/ack-offload/bufsize-vm.sh); figures to
# bench/ack-offload-bufsize.txt.
#   BENCH_BUF_TRANSFERS=N (default 210), BENCH_BUF_MODES=off,on@BYTES,...,
#   BENCH_BUF_BYTES=N (default 1000000: the transfer size)
. "$(dirname "$0")/lib.sh"
run=$VASSIST_ROOT/out/bench-ack-offload-bufsize
rm -rf "$run"
bash tools/vm/run.sh -k "$kdir/arch/x86/boot/bzImage" -a tsc=reliable -t 3600 "$run" -- \
	env KO="$mod/vassist.ko" BENCH_BUF_TRANSFERS="${BENCH_BUF_TRANSFERS:-210}" \
	BENCH_BUF_BYTES="${BENCH_BUF_BYTES:-1000000}" \
	BENCH_BUF_MODES="${BENCH_BUF_MODES:-off,on@262144,on@1048576,on@2097152,on@4194304,grow@262144,grow@1048576}" \
	bash bench/ack-offload/bufsize-vm.sh "$run" ||
	{ tail -40 "$run/output"; exit 1; }
bytes=${BENCH_BUF_BYTES:-1000000}
txt=bench/ack-offload-bufsize.txt
[ "$bytes" = 1000000 ] || txt=bench/ack-offload-bufsize-$bytes.txt
{
	echo "# ${BENCH_BUF_BYTES:+BENCH_BUF_BYTES=$bytes }bash bench/ack-offload-bufsize.sh  ($(date -u +%F), $(git rev-parse --short HEAD))"
	python3 bench/ack-offload/bufsize-report.py "$run" "$bytes"
} | tee "$txt"
