#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check: set-up, builds, then every test:
#   - cargo tests of the userspace crates (and of the module's policy files),
#   - rustfmt/clippy cleanliness, the generated netlink files against the spec,
#   - the selftests in the test VM (KTAP), whose kernel log must stay clean.
# Ends with "check: cold|warm, <minutes> min" and, last, "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. tools/lib/paths.sh
start=$(date +%s)
pass=0 fail=0
result() { # name rc
	if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "ok - $1"; else fail=$((fail + 1)); echo "not ok - $1"; fi
}
finish() {
	echo "check: ${state:-cold}, $(( ($(date +%s) - start + 59) / 60 )) min"
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ] && exit 0 || exit 1
}

bash tools/setup.sh || { fail=$((fail + 1)); echo "set-up failed"; finish; }
state=warm
# The build's own progress lines ("kernel: ...") as they come; the rest of
# its output is kept for when it fails.
bash tools/build-kernel.sh 2>&1 </dev/null | tee out.kernel.log | grep --line-buffered '^kernel:'
krc=${PIPESTATUS[0]}
grep -q '^kernel: cached' out.kernel.log || state=cold
[ $krc = 0 ] || { cat out.kernel.log; rm -f out.kernel.log; result "test kernel build" 1; finish; }
mkdir -p out && tail -1 out.kernel.log > out/kdir && rm -f out.kernel.log

# Against the kernel just built (KDIR: no second set-up and kernel check).
make --no-print-directory module KDIR="$(cat out/kdir)" > out/module.log 2>&1
result "vassist.ko builds without warnings" $(( $? || $(grep -ciE 'warning:|error' out/module.log) ))
grep -iE -A5 'warning:|error' out/module.log | head -40
cargo build --release --workspace --quiet
result "userspace tools build" $?
# What the selftests' KVM guests boot: the guest kernel (cached like the
# test kernel) and an initramfs of static binaries.
bash tools/vm/guest-image.sh > out/guest-image.log 2>&1
result "KVM guest image builds" $?
grep '^kernel:\|error' out/guest-image.log | head -20

echo "# cargo test"
cargo test --workspace --release 2>&1 | tee out/cargo-test.log | grep -E '^test .*FAILED|panicked'
crc=${PIPESTATUS[0]}
read -r p f < <(awk '/^test result:/ { p += $4; f += $6 } END { print p+0, f+0 }' out/cargo-test.log)
pass=$((pass + p)) fail=$((fail + f))
[ "$crc" = 0 ] || [ "$f" -gt 0 ] || result "cargo test ran" "$crc"
echo "# cargo test: $p passed, $f failed"

cargo fmt --all --check > /dev/null 2>&1
result "rustfmt: userspace crates" $?
rustfmt --edition 2021 --check rust/vassist.rs > /dev/null 2>&1
result "rustfmt: module" $?
cargo clippy --workspace --all-targets --release --quiet -- -D warnings 2>&1 | head -30
result "clippy: userspace crates" "${PIPESTATUS[0]}"
make --no-print-directory lint-module KDIR="$(cat out/kdir)" > out/lint-module.log 2>&1
result "clippy: module" $?
grep -A8 '^warning' out/kernel-clippy.log | head -30
bash tools/ynl-regen.sh --check
result "uapi header and policy tables equal the netlink spec" $?

echo "# selftests in the test VM"
bash tools/vm/run.sh -k "$(cat out/kdir)/arch/x86/boot/bzImage" -t 4500 out/vm -- bash selftests/run.sh
vrc=$?
cat out/vm/output
read -r p f < <(sed -n 's/^selftests: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' out/vm/output)
pass=$((pass + ${p:-0})) fail=$((fail + ${f:-1}))
case $vrc in
0 | 1) ;;
125) result "test VM kernel log free of BUG/WARNING/KASAN/lockdep/kmemleak reports" 1 ;;
*) result "test VM ran to completion (rc $vrc)" 1 ;;
esac
[ $vrc = 125 ] || result "test VM kernel log free of BUG/WARNING/KASAN/lockdep/kmemleak reports" 0
finish
