# SPDX-License-Identifier: GPL-2.0
# Shared locations and pinned versions; sourced by the tools/ scripts.
VASSIST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VASSIST_CACHE=${VASSIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vassist}
BINDGEN_VERSION=0.73.2
BINDGEN=$VASSIST_CACHE/bindgen/bin/bindgen
LIBCLANG_PATH=/usr/lib/llvm-19/lib
# LLVM 19 for the kernel build, and rustup's cargo and rustc for the
# userspace crates ahead of Debian's /usr/bin/rustc, which is the kernel's
# (its build names it: RUSTC=/usr/bin/rustc), even where the caller's PATH
# lacks ~/.cargo/bin or puts /usr/bin first.
PATH=/usr/lib/llvm-19/bin:$HOME/.cargo/bin:$PATH
export VASSIST_ROOT VASSIST_CACHE BINDGEN LIBCLANG_PATH PATH
