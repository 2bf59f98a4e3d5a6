# SPDX-License-Identifier: GPL-2.0
# Shared locations and pinned versions; sourced by the tools/ scripts.
VASSIST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VASSIST_CACHE=${VASSIST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vassist}
BINDGEN_VERSION=0.73.2
BINDGEN=$VASSIST_CACHE/bindgen/bin/bindgen
LIBCLANG_PATH=/usr/lib/llvm-19/lib
# LLVM 19 first for the kernel build; rustup's cargo for the userspace
# crates even where the caller's PATH lacks it.
PATH=/usr/lib/llvm-19/bin:$PATH:$HOME/.cargo/bin
export VASSIST_ROOT VASSIST_CACHE BINDGEN LIBCLANG_PATH PATH
