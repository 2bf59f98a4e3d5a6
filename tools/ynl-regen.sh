#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generates the uapi header and the kernel policy/ops tables from
# Documentation/netlink/specs/vassist.yaml with the kernel tree's own ynl
# generator, as net/core/netdev-genl-gen.c is made. With --check, fails
# (and prints the diff) when the committed files differ from the spec.
set -euo pipefail
. "$(dirname "$0")/lib/paths.sh"
ksrc=${KSRC:-$(ls -d "$VASSIST_CACHE"/kernel/src-* | tail -1)}
gen=$ksrc/tools/net/ynl/ynl-gen-c.py
spec=$VASSIST_ROOT/Documentation/netlink/specs/vassist.yaml

# The generator wants a kernel-shaped tree: the schema beside the specs'
# folder and a MAINTAINERS file at the top (it names the spec by its path
# below that).
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/Documentation/netlink/specs"
touch "$stage/MAINTAINERS"
cp "$spec" "$stage/Documentation/netlink/specs/"
cp "$ksrc/Documentation/netlink/genetlink.yaml" "$stage/Documentation/netlink/"

out=$stage/out
mkdir "$out"
run() { /usr/bin/python3 "$gen" --spec "$stage/Documentation/netlink/specs/vassist.yaml" "$@"; }
run --mode uapi --header -o "$out/vassist.h"
run --mode kernel --header -o "$out/vassist_nl_gen.h"
run --mode kernel --source -o "$out/vassist_nl_gen.c"
# Out of tree the generated source includes our header by its local name.
sed -i 's|#include "vassist-nl-gen.h"|#include "vassist_nl_gen.h"|' "$out/vassist_nl_gen.c"

targets=("include/uapi/linux/vassist.h" "rust/vassist_nl_gen.h" "rust/vassist_nl_gen.c")
rc=0
for t in "${targets[@]}"; do
	f=$out/$(basename "$t")
	if [ "${1:-}" = --check ]; then
		diff -u "$VASSIST_ROOT/$t" "$f" || { echo "ynl: $t differs from the spec" >&2; rc=1; }
	else
		cp "$f" "$VASSIST_ROOT/$t"
	fi
done
exit $rc
