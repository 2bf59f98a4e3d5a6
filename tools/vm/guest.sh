#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# KVM guests inside the test VM (nested KVM: the test VM's CPU model has SVM
# and NPT), each a QEMU with a virtio-net NIC on a tap of a bridge, moved by
# vhost-net (or by QEMU itself), and a virtio-vsock device for commands.
#
#   guest.sh start NAME --tap TAP --cid CID --ip ADDR/LEN [--ip6 ADDR/LEN]
#            [--netns NS] [--vhost on|off] [--mac MAC] [--mem MB] [--cpus N]
#            [--timeout S]        boots NAME on TAP (in NS), waits for it
#                                 (up to S s, 150 by default; boots again
#                                 once if it does not answer)
#   guest.sh exec NAME CMD...     runs CMD (one shell line) in NAME: its
#                                 output and exit status
#   guest.sh pause|resume NAME    stops or restarts NAME's vCPUs and its
#                                 virtio devices (QEMU's monitor stop/cont:
#                                 vhost-net stops serving the tap too)
#   guest.sh freeze|thaw NAME     SIGSTOP/SIGCONT to NAME's QEMU: vCPUs
#                                 stop, virtio devices keep their state
#   guest.sh stop NAME            stops NAME (reboot in the guest, which
#                                 QEMU's -no-reboot turns into exit; killed
#                                 if it does not go)
#   guest.sh check                says whether nested KVM works here
#
# The guest boots out/guest/{bzImage,initramfs.cpio.gz}
# (tools/vm/guest-image.sh). State and the console log are kept in
# $GUEST_DIR/NAME (default /tmp/vassist-guests/NAME).
set -euo pipefail
. "$(dirname "$0")/../lib/paths.sh"
PATH=$VASSIST_ROOT/target/release:$PATH
GUEST_DIR=${GUEST_DIR:-/tmp/vassist-guests}
image=${GUEST_IMAGE:-$VASSIST_ROOT/out/guest}

die() { echo "guest.sh: $*" >&2; exit 1; }

# Nested KVM needs /dev/kvm with a working KVM_CREATE_VM, and vhost. QEMU's
# probe takes seconds under TCG: a success is remembered until reboot.
check() {
	local ok=$GUEST_DIR/.kvm-ok-$(cat /proc/sys/kernel/random/boot_id)
	[ ! -f "$ok" ] || return 0
	[ -c /dev/kvm ] || die "no /dev/kvm (test kernel without KVM, or a CPU without SVM/VMX)"
	grep -qw -e svm -e vmx /proc/cpuinfo || die "the CPU has no SVM/VMX"
	[ -c /dev/vhost-net ] || die "no /dev/vhost-net"
	[ -c /dev/vhost-vsock ] || die "no /dev/vhost-vsock"
	# With an unstable TSC, KVM redoes the guest's clock on every vCPU load,
	# and under TCG a vCPU that is preempted each tick never enters.
	grep -qw tsc /sys/devices/system/clocksource/clocksource0/available_clocksource ||
		die "the TSC is unstable here (nested guests do not run; boot with tsc_early_khz= and tsc=reliable)"
	echo quit | timeout 60 qemu-system-x86_64 -accel kvm -M none -nodefaults -display none \
		-monitor stdio > /dev/null 2>&1 || die "QEMU cannot use KVM here"
	[ -f "$image/bzImage" ] && [ -f "$image/initramfs.cpio.gz" ] ||
		die "no guest image in $image (tools/vm/guest-image.sh)"
	mkdir -p "$GUEST_DIR" && touch "$ok"
}

start() {
	local name=$1 tap="" cid="" ip="" ip6=fd00::99/64 ns="" vhost=on mac="" mem=256 cpus=1 timeout=150
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--tap) tap=$2 ;; --cid) cid=$2 ;; --ip) ip=$2 ;; --ip6) ip6=$2 ;;
		--netns) ns=$2 ;; --vhost) vhost=$2 ;; --mac) mac=$2 ;;
		--mem) mem=$2 ;; --cpus) cpus=$2 ;; --timeout) timeout=$2 ;;
		*) die "start: unknown option $1" ;;
		esac
		shift 2
	done
	[ -n "$tap" ] && [ -n "$cid" ] && [ -n "$ip" ] || die "start: --tap, --cid and --ip are needed"
	check
	local dir=$GUEST_DIR/$name
	[ ! -f "$dir/pid" ] || ! kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "$name already runs"
	rm -rf "$dir" && mkdir -p "$dir"
	echo "$cid" > "$dir/cid"
	# A MAC from the CID, locally administered, unless given.
	[ -n "$mac" ] || mac=$(printf '52:54:00:76:%02x:%02x' $((cid >> 8 & 255)) $((cid & 255)))
	local run=()
	[ -z "$ns" ] || run=(ip netns exec "$ns")
	local t0 attempt
	t0=$(date +%s.%N)
	# A nested boot now and then never reaches init (seen once in eight
	# boots: no console output at all); a second boot is tried.
	for attempt in 1 2; do
		: > "$dir/console"
		"${run[@]}" qemu-system-x86_64 -accel kvm -cpu host -m "$mem" -smp "$cpus" \
			-nodefaults -no-reboot -display none -daemonize -pidfile "$dir/pid" \
			-kernel "$image/bzImage" -initrd "$image/initramfs.cpio.gz" \
			-append "console=ttyS0 quiet panic=-1 vassist.name=$name vassist.ip=$ip vassist.ip6=$ip6" \
			-serial "file:$dir/console" -monitor "unix:$dir/monitor,server=on,wait=off" \
			-netdev "tap,id=net0,ifname=$tap,script=no,downscript=no,vhost=$vhost" \
			-device "virtio-net-pci,netdev=net0,mac=$mac,romfile=" \
			-device "vhost-vsock-pci,guest-cid=$cid" ||
			die "$name: qemu failed to start"
		guestexec wait --cid "$cid" --timeout "$timeout" 2> "$dir/wait.err" && break
		echo "guest $name: boot $attempt: no answer within ${timeout}s; console tail:" >&2
		tail -5 "$dir/console" "$dir/wait.err" >&2
		stop "$name"
		[ $attempt = 1 ] || die "$name: no answer within ${timeout}s, twice"
	done
	# Wall time from QEMU's start to the first command answered.
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' > "$dir/boot-seconds"
	echo "guest $name: cid $cid on $tap (vhost $vhost), up in $(cat "$dir/boot-seconds") s"
}

# monitor NAME COMMAND: one command to NAME's QEMU monitor.
monitor() {
	[ -S "$GUEST_DIR/$1/monitor" ] || die "no guest $1"
	python3 - "$GUEST_DIR/$1/monitor" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
def prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("monitor closed")
        buf += chunk
prompt()
s.sendall(sys.argv[2].encode() + b"\n")
prompt()
PY
}

cid_of() {
	[ -f "$GUEST_DIR/$1/cid" ] || die "no guest $1"
	cat "$GUEST_DIR/$1/cid"
}

stop() {
	local name=$1 dir=$GUEST_DIR/$1 pid i
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	guestexec run --cid "$(cid_of "$name")" --timeout 10 -- 'sync; reboot -f' \
		> /dev/null 2>&1 || true
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "guest $name: did not stop, killed; console tail:" >&2
		tail -5 "$dir/console" >&2
		kill -9 "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$dir/pid"
}

cmd=${1:-}
shift || true
case $cmd in
start) [ $# -ge 1 ] || die "start NAME ..."; start "$@" ;;
exec)
	[ $# -ge 2 ] || die "exec NAME CMD..."
	name=$1
	shift
	exec guestexec run --cid "$(cid_of "$name")" -- "$@" ;;
stop) [ $# = 1 ] || die "stop NAME"; stop "$1" ;;
pause) [ $# = 1 ] || die "pause NAME"; monitor "$1" stop ;;
resume) [ $# = 1 ] || die "resume NAME"; monitor "$1" cont ;;
freeze | thaw)
	[ $# = 1 ] || die "$cmd NAME"
	[ -f "$GUEST_DIR/$1/pid" ] || die "no guest $1"
	sig=STOP
	[ "$cmd" = freeze ] || sig=CONT
	kill -"$sig" "$(cat "$GUEST_DIR/$1/pid")" ;;
check) check && echo "nested KVM: /dev/kvm, vhost-net and vhost-vsock present, guest image in $image" ;;
*) sed -n '3,26p' "$0" >&2; exit 2 ;;
esac
