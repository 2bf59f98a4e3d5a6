#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boots the vassist test VM and runs one command in it.
#   tools/vm/run.sh [-k bzImage] [-t timeout_s] [-a kernel_args] [-i] RUNDIR -- command [args...]
# -a ARGS adds ARGS to the kernel command line.
# -i counts instructions instead of time: one vCPU under single-threaded TCG
# with -icount, so the guest's clock advances one nanosecond per guest
# instruction. Rates measured inside are then costs in instructions, the
# same from run to run whatever the host is doing (for benchmarks).
# RUNDIR (created) receives: cmd, output (the command's stdout+stderr), rc,
# dmesg, console. Exit status: the command's, or 124 on timeout, 125 when the
# kernel log holds a BUG/WARNING/KASAN/lockdep/kmemleak/panic report.
#
# Why an own initramfs and not virtme-ng: the whole guest side is the 40-line
# init beside this file plus static busybox from Debian; no Python venv, no
# kernel options beyond our fragment, and the same 9p-host-root approach.
set -euo pipefail
. "$(dirname "$0")/../lib/paths.sh"

kernel=""
timeout=900
append=""
icount=""
smp=2
while getopts k:t:a:i o; do
	case $o in
	k) kernel=$OPTARG ;;
	a) append=" $OPTARG" ;;
	t) timeout=$OPTARG ;;
	i) icount=1 smp=1 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
run=$(mkdir -p "$1" && cd "$1" && pwd)
shift
[ "${1:-}" = -- ] && shift
[ -n "$kernel" ] || kernel=$(bash "$VASSIST_ROOT/tools/build-kernel.sh" 2>/dev/null | tail -1)/arch/x86/boot/bzImage

# initramfs: static busybox + init, cached by content.
key=$( (cat "$VASSIST_ROOT/tools/vm/init"; sha256sum /bin/busybox) | sha256sum | cut -c1-16)
initrd=$VASSIST_CACHE/initramfs-$key.cpio.gz
if [ ! -f "$initrd" ]; then
	stage=$(mktemp -d)
	mkdir -p "$stage/bin"
	cp /bin/busybox "$stage/bin/busybox"
	cp "$VASSIST_ROOT/tools/vm/init" "$stage/init"
	chmod +x "$stage/init"
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$stage"
fi

{
	echo "cd $(printf '%q' "$PWD")"
	printf '%q ' "$@"
	echo
} > "$run/cmd"
rm -f "$run/rc" "$run/output" "$run/dmesg"

# The test kernel finds the vCPUs in QEMU's ACPI tables; PCI interrupts
# come from the MP table (pci=noacpi): under TCG the ACPI interpreter
# timed out in the PCI routing method (_PRT, AE_AML_LOOP_TIMEOUT), which
# left the virtio devices without interrupts.
qemu=(qemu-system-x86_64 -nographic -no-reboot -m 3G -smp "$smp"
	-kernel "$kernel" -initrd "$initrd"
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
	-virtfs "local,path=$VASSIST_ROOT,mount_tag=repo,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$VASSIST_CACHE,mount_tag=cache,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$run,mount_tag=run,security_model=none,multidevs=remap"
	-append "console=ttyS0 panic=-1 oops=panic pci=noacpi vassist.repo=$VASSIST_ROOT vassist.cache=$VASSIST_CACHE vassist.run=$run$append")

# /dev/kvm on these machines may be kvm-pvm, under which a normal kernel
# hangs in early boot: use KVM only where a probe boot under it succeeds.
accel_cache=$VASSIST_CACHE/accel-$(sha256sum "$kernel" | cut -c1-16)
if [ ! -f "$accel_cache" ]; then
	accel=tcg
	if [ -w /dev/kvm ]; then
		probe=$(mktemp -d)
		echo 'true' > "$probe/cmd"
		# The probe runs `true` with its own run directory.
		probe_cmd=("${qemu[@]/vassist.run=$run/vassist.run=$probe}")
		probe_cmd=("${probe_cmd[@]/path=$run,mount_tag=run/path=$probe,mount_tag=run}")
		if timeout 60 "${probe_cmd[@]}" -accel kvm -cpu host \
			>/dev/null 2>&1 </dev/null && [ -f "$probe/rc" ]; then
			accel=kvm
		fi
		rm -rf "$probe"
	fi
	echo "$accel" > "$accel_cache"
fi
accel=$(cat "$accel_cache")
[ -z "$icount" ] || accel=icount
if [ "$accel" = icount ]; then
	# icount needs single-threaded TCG; sleep=off lets the clock jump over
	# idle time instead of following the host's.
	qemu+=(-accel tcg,thread=single -icount shift=0,sleep=off -cpu max)
elif [ "$accel" = kvm ]; then
	qemu+=(-accel kvm -cpu host)
else
	# TCG's TSC is the host's: give its rate, so the kernel neither fails
	# to calibrate it against a slow emulated PIT nor marks it unstable.
	# With an unstable TSC, nested KVM rewrites the guest's TSC offset and
	# its clock on every vCPU load, and on a slow host the vCPU is
	# preempted before each entry completes: the guest never runs.
	khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
	[ -z "$khz" ] || qemu[-1]+=" tsc_early_khz=$khz tsc=reliable"
	qemu+=(-accel tcg,thread=multi -cpu max)
fi

rc=0
timeout "$timeout" "${qemu[@]}" > "$run/console" 2>&1 < /dev/null || rc=$?
if [ $rc = 124 ]; then
	echo "vm: timed out after ${timeout}s (accel $accel); console tail:" >&2
	tail -20 "$run/console" >&2
	exit 124
fi
[ -f "$run/rc" ] || { echo "vm: no exit code (qemu rc $rc); console tail:" >&2; tail -30 "$run/console" >&2; exit 1; }
rc=$(cat "$run/rc")
# Any kernel report fails the run, whatever the command said.
if grep -nE 'BUG:|WARNING:|KASAN|possible circular locking|inconsistent lock state|possible recursive locking|suspicious RCU usage|unreferenced object|Kernel panic|Oops|general protection fault|INFO: task .* blocked' \
	"$run/console" "$run/dmesg" 2>/dev/null | head -20 > "$run/reports" && [ -s "$run/reports" ]; then
	echo "vm: kernel reports found (see $run/dmesg):" >&2
	cat "$run/reports" >&2
	exit 125
fi
exit "$rc"
