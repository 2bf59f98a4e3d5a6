#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs every vassist selftest (selftests/vassist_*.sh) in the test VM as one
# KTAP document, each file a subtest, then checks kmemleak. Prints
# "selftests: N passed, N failed" last.
cd "$(dirname "$0")"
tests=(vassist_*.sh)
echo "TAP version 13"
echo "1..$((${#tests[@]} + 1))"
pass=0 fail=0 n=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	out=$(bash "$t" 2>&1)
	rc=$?
	sed 's/^/    /' <<< "$out"
	totals=$(sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\) .* skip:\([0-9]*\) .*/\1 \2 \3/p' <<< "$out")
	read -r p f s <<< "${totals:-0 1 0}"
	pass=$((pass + p + s)) fail=$((fail + f))
	[ $rc = 0 ] && echo "ok $n ${t%.sh}" || { echo "not ok $n ${t%.sh}"; [ "$f" -gt 0 ] || fail=$((fail + 1)); }
done

# Leaks: unload, then two scans (kmemleak reports objects unreferenced for
# two scans, at least 5 s old).
n=$((n + 1))
lsmod | grep -q '^vassist ' && rmmod vassist
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak; sleep 6; echo scan > /sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	if [ -z "$leaks" ]; then
		echo "ok $n kmemleak"; pass=$((pass + 1))
	else
		sed 's/^/# /' <<< "$leaks" | head -40
		echo "not ok $n kmemleak"; fail=$((fail + 1))
	fi
else
	echo "ok $n kmemleak # SKIP no kmemleak"; pass=$((pass + 1))
fi
echo "selftests: $pass passed, $fail failed"
[ $fail = 0 ]
