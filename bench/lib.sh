# SPDX-License-Identifier: GPL-2.0
# Sourced by the benchmarks: builds the benchmark kernel (no KASAN/lockdep,
# with pktgen; cached like the test kernel), the module for it and the
# userspace tools. Sets $kdir (the kernel's build tree) and $mod (the
# module's directory, vassist.ko in it).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../tools/lib/paths.sh"
cd "$VASSIST_ROOT"
kdir=$(bash tools/build-kernel.sh bench | tail -1)
mod=$VASSIST_ROOT/out/bench-module
rm -rf "$mod" && mkdir -p "$mod"
cp -r Kbuild rust include "$mod/"
make -s -C "$kdir" M="$mod" LLVM=1 ARCH=x86_64 RUSTC=/usr/bin/rustc BINDGEN="$BINDGEN" \
	LIBCLANG_PATH=/usr/lib/llvm-19/lib modules
cargo build --release --quiet --workspace
