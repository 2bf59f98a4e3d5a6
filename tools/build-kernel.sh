#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Builds a vassist kernel out of tree from Debian's linux-source-6.12,
# cached outside the repo under $VASSIST_CACHE/kernel/<key>, where the key
# hashes the kernel version, the config fragment and the toolchain versions.
# Prints the build directory (KDIR) on its last line. A cached build makes
# this a no-op.
#
#   build-kernel.sh          the test kernel: kernel/vassist.config (KASAN,
#                            lockdep, kmemleak)
#   build-kernel.sh bench    the benchmark kernel: the same without the
#                            debugging block, plus kernel/bench.config
#   build-kernel.sh guest    the kernel of the KVM guests inside the test
#                            VM: kernel/guest.config alone
set -euo pipefail
. "$(dirname "$0")/lib/paths.sh"

variant=${1:-test}
case "$variant" in
test) frag=$VASSIST_ROOT/kernel/vassist.config ;;
bench)
	frag=$(mktemp)
	trap 'rm -f "$frag"' EXIT
	sed '/^# --- debugging/,$d' "$VASSIST_ROOT/kernel/vassist.config" > "$frag"
	cat "$VASSIST_ROOT/kernel/bench.config" >> "$frag" ;;
guest) frag=$VASSIST_ROOT/kernel/guest.config ;;
*) echo "usage: $0 [test|bench|guest]" >&2; exit 2 ;;
esac
kver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
key=$( { echo "$kver"; cat "$frag"; /usr/bin/rustc --version; clang-19 --version | head -1;
	"$BINDGEN" --version; } | sha256sum | cut -c1-16)
top=$VASSIST_CACHE/kernel
src=$top/src-$kver
kdir=$top/build-$key
[ "$variant" = test ] || kdir=$top/$variant-$key

if [ -f "$kdir/.vassist-done" ]; then
	echo "kernel: cached ($kdir)" >&2
	echo "$kdir"
	exit 0
fi

mkdir -p "$top"
if [ ! -f "$src/.vassist-extracted" ]; then
	echo "kernel: extracting linux-source-6.12 $kver" >&2
	rm -rf "$src" && mkdir -p "$src"
	tar -C "$src" --strip-components=1 -xf /usr/src/linux-source-6.12.tar.xz
	touch "$src/.vassist-extracted"
fi

kmake=(make -C "$src" O="$kdir" LLVM=1 ARCH=x86_64 RUSTC=/usr/bin/rustc
	BINDGEN="$BINDGEN" HOSTRUSTC=/usr/bin/rustc -j"$(nproc)")
rm -rf "$kdir" && mkdir -p "$kdir"
echo "kernel: configuring $variant kernel (tinyconfig + fragment)" >&2
"${kmake[@]}" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$kdir" "$kdir/.config" "$frag" >/dev/null
"${kmake[@]}" olddefconfig >/dev/null
[ "$variant" = guest ] || "${kmake[@]}" rustavailable >&2

# Every fragment option must have survived dependency resolution.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) opt=${line%%=*}
		grep -q "^$opt=" "$kdir/.config" && { echo "kernel: $opt not disabled" >&2; bad=1; } ;;
	CONFIG_*=*) grep -qx "$line" "$kdir/.config" || { echo "kernel: $line did not stick" >&2; bad=1; } ;;
	esac
done < "$frag"
[ $bad = 0 ] || exit 1

echo "kernel: building (about 20-30 minutes cold on 2 cores)" >&2
start=$(date +%s)
"${kmake[@]}" all 2>&1 |
	awk '/^  (CC|RUSTC|LD|AR)/ { n++; if (n % 500 == 0) printf "kernel: %d objects\n", n > "/dev/stderr"; next }
	     { print > "/dev/stderr" }'
[ "${PIPESTATUS[0]}" = 0 ]
touch "$kdir/.vassist-done"
echo "kernel: built in $(( ($(date +%s) - start) / 60 )) min" >&2
echo "$kdir"
