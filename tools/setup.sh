#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Installs everything vassist needs to build its test kernel, the module, the
# userspace tools and to run the test VM. Idempotent: a no-op (well under a
# second) when everything is already there.
set -euo pipefail
. "$(dirname "$0")/lib/paths.sh"

pkgs=(
	# kernel toolchain: Debian's Rust-enabled compiler and LLVM 19
	linux-source-6.12 rustc-web rust-web-src rust-web-clippy
	clang-19 lld-19 llvm-19 libclang-19-dev
	make flex bison bc cpio kmod libelf-dev xz-utils
	# netlink spec tooling (tools/net/ynl of the tree)
	python3-yaml python3-jsonschema
	# test VM and the tools the selftests run inside it
	qemu-system-x86 busybox-static iproute2 iputils-ping iperf3 tcpdump ethtool jq
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# bindgen for the kernel (the kernel's rust/ and the module's own bindings),
# pinned so the cache key below stays meaningful.
if ! "$BINDGEN" --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
	echo "setup: installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet --root "$VASSIST_CACHE/bindgen" \
		bindgen-cli --version "$BINDGEN_VERSION"
fi
