#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds what tools/vm/guest.sh boots inside the test VM: the guest kernel
# (tools/build-kernel.sh guest, cached) and an initramfs of static binaries
# (busybox, guestexec, xfer: the guest carries its own files, nested 9p is
# unusable), and puts both in out/guest/. Prints that directory.
set -euo pipefail
. "$(dirname "$0")/../lib/paths.sh"
cd "$VASSIST_ROOT"

kdir=$(bash tools/build-kernel.sh guest | tail -1)
# glibc's static libraries: no musl target can be fetched here.
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet -p testkit --target $target
bins=target/$target/release

out=out/guest
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out" "$stage/bin"
cp /bin/busybox "$stage/bin/busybox"
file -L /bin/busybox | grep -q 'statically linked' || { echo "guest-image: /bin/busybox is not static" >&2; exit 1; }
cp "$bins/guestexec" "$bins/xfer" "$stage/bin/"
install -m 755 tools/vm/guest-init "$stage/init"
(cd "$stage" && find . | sort | cpio -o -H newc --quiet --reproducible | gzip -1n) > "$out/initramfs.cpio.gz"
cp "$kdir/arch/x86/boot/bzImage" "$out/bzImage"
echo "$VASSIST_ROOT/$out"
