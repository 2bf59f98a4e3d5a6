#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Zone ports: frames toward the guest placed in shared memory that its
# consumer (tapguest --zone, zoneprobe) maps, frames from the guest sent
# from that memory by reference; TCP through them; and every way a
# consumer or an administrator can get it wrong.
. "$(dirname "$0")/lib.sh"

zone_stat() { zone_stat_of tap0 "$1"; }
zone_stat_at_least() { [ "$(zone_stat "$1")" -ge "$2" ] 2> /dev/null; }
zone_stat_is() { [ "$(zone_stat "$1")" = "$2" ]; }
zone_bound() { [ "$(vctl -j port show dev tap0 | jq '.[0]["zone-stats"].consumer // false')" = true ]; }
zone_unbound() { ! zone_bound; }
probe() { ip netns exec "$HOST" zoneprobe "$@"; }
# pings NUM: NUM pings toward the guest's address, flooded to every port
# (its neighbour entry points at an address the bridge has not learnt),
# for a consumer without a guest behind it.
pings() {
	in_remote ip neigh replace $GUEST_IP lladdr 02:00:00:00:00:99 dev eth0 nud permanent
	in_remote ping -q -c "$1" -i 0.02 -W 1 $GUEST_IP > /dev/null || true
	in_remote ip neigh del $GUEST_IP dev eth0
}

# zone_up [tapguest options...]: the topology with tap0 a zone port and
# tapguest its consumer.
zone_up() {
	topo_build
	vctl port add dev tap0 zone on > /dev/null
	tapguest_start --zone "$@"
	slowwait 5 zone_bound
}

t_zone_parameters() {
	topo_build
	vctl port add dev tap0 zone on zone-size 1M zones-max 2 ring 256 > /dev/null
	check_eq zone-size "$(vctl -j port show dev tap0 | jq '.[0].zone["zone-size"]')" $((1 << 20))
	check_eq zones "$(zone_stat zones)" 1
	check_eq buffers-free "$(zone_stat buffers-free)" 256
	vctl zone show dev tap0 | grep -q "zone-size 1048576 zones 1/2 ring 256"
	expect_fail "zone-size must be a power of two" vctl port set dev tap0 zone off zone-size 3M
	expect_fail "cannot change while zone is on" vctl port set dev tap0 zone-size 2M
	# How frames are notified changes at once.
	vctl port set dev tap0 notify timer coalesce-usecs 200 > /dev/null
	vctl zone show dev tap0 | grep -q "notify timer (coalesce-usecs 200)"
	expect_fail "out of range" vctl port set dev tap0 coalesce-usecs 0
	expect_fail "takes evi-eoc|every-frame|timer" vctl port set dev tap0 notify never
	vctl port set dev tap0 notify evi-eoc > /dev/null
	vctl port set dev tap0 zone-size 1M > /dev/null
	vctl port set dev tap0 snoop on > /dev/null
	check_eq "with ack offload" "$(vctl -j port show dev tap0 | jq -c '.[0].features')" '["ack-offload","zone"]'
	vctl port set dev tap0 snoop off zone off > /dev/null
	check_eq "stats when off" "$(vctl -j port show dev tap0 | jq '.[0]["zone-stats"]')" null
	vctl port set dev tap0 zone on zone-size 64K ring 64 > /dev/null
	check_eq "buffers of 64K" "$(zone_stat buffers-free)" 16
	expect_fail "out of range" vctl port set dev tap0 zone off ring 32
	check_eq "features kept" "$(vctl -j port show dev tap0 | jq -c '.[0].features')" '["zone"]'
}

t_no_consumer_drops_counted() {
	topo_build
	vctl port add dev tap0 zone on > /dev/null
	# The tap is open (its carrier up, as a VMM keeps it), but no zone
	# consumer is bound.
	tapguest_start
	! in_remote ping -q -c 3 -i 0.1 -W 1 $GUEST_IP > /dev/null
	# The remote's ARP keeps probing after ping gives up (a second apart):
	# its third frame may come later.
	slowwait 5 zone_stat_at_least no-consumer 3
	check_ge no-consumer "$(zone_stat no-consumer)" 3
	check_eq frames "$(zone_stat frames)" 0
}

t_tcp_through_zone_port() {
	zone_up
	transfer "$REMOTE" "$GUEST" $GUEST_IP $((20 << 20))
	transfer "$REMOTE" "$GUEST" $GUEST_IP6 $((4 << 20)) 5202
	transfer "$REMOTE" "$GUEST" $GUEST_IP 1 5203
	transfer "$GUEST" "$REMOTE" $REMOTE_IP $((4 << 20)) 5204
	vctl zone show dev tap0
	# 24 MiB toward the guest, in frames placed once each.
	check_ge bytes "$(zone_stat bytes)" $((24 << 20))
	check_ge frames "$(zone_stat frames)" 1000
	# A GSO frame is placed whole: the port counts its wire segments.
	check_ge to-guest-packets "$(port_stat to-guest-packets)" "$(zone_stat frames)"
	check_eq unsupported "$(zone_stat unsupported)" 0
	check_eq bad-desc "$(zone_stat bad-desc)" 0
	# 4 MiB from the guest, sent from the zones: its headers copied, the
	# rest referenced in place (toward the remote's veth, which copies).
	check_ge tx-bytes "$(zone_stat tx-bytes)" $((4 << 20))
	check_ge tx-frames "$(zone_stat tx-frames)" 2800
	check_le "tx-copied-bytes x4" $(($(zone_stat tx-copied-bytes) * 4)) "$(zone_stat tx-bytes)"
	check_eq tx-dropped "$(zone_stat tx-dropped)" 0
	slowwait 5 zone_stat_is buffers-sent 0
	# Every buffer comes back: what the consumer holds now is a few frames
	# in flight and the buffers it keeps to send from (lent 64 at a time
	# whenever it has none spare: 256 once sent frames were that many in
	# the stack at once, then a received frame in flight made 257).
	check_le buffers-consumer "$(zone_stat buffers-consumer)" 320
}

# Two guests on zone ports of one bridge: what one sends is referenced in
# its zones and placed once in the other's: one copy of the payload.
t_guest_to_guest_through_zone_ports() {
	zone_up
	guest2_build
	vctl port add dev tap1 zone on > /dev/null
	tapguest2_start --zone
	transfer "$GUEST" "$GUEST2" 10.0.0.3 $((8 << 20))
	vctl zone show
	local sent copied placed
	sent=$(zone_stat tx-bytes) copied=$(zone_stat tx-copied-bytes) placed=$(zone_stat_of tap1 bytes)
	kill $TAPGUEST2_PID
	wait $TAPGUEST2_PID || true
	# tap0's guest sent the data: its headers copied, the rest referenced;
	# tap1's zones got every byte of it once.
	check_ge "sent from tap0's zones" "$sent" $((8 << 20))
	check_le "tap0 copied x4" $((copied * 4)) "$sent"
	check_ge "placed in tap1's zones" "$placed" $((8 << 20))
	check_le "placed x100 (once each)" $((placed * 100)) $((sent * 102))
	check_eq "tap1 bad-desc" "$(zone_stat_of tap1 bad-desc)" 0
}

t_scheduled_consumer_gets_every_byte() {
	zone_up --vms 3 --slice-ms 30 --load 60
	transfer "$REMOTE" "$GUEST" $GUEST_IP $((2 << 20))
	transfer "$REMOTE" "$GUEST" $GUEST_IP6 $((1 << 20)) 5202
}

# Ack offload on a zone port, behind a consumer of the paper's scheduling
# (60% busy, a 30 ms slice of every 90) that also loses 1% of the frames
# it takes: segments are acked once placed in the zones, with room there
# to spare; what the consumer lost is placed again from the delivery
# buffer. Every transfer verifies and the buffer ends empty, also when
# offload is turned off under a transfer (its guest acks what it was
# given, re-sends placed meanwhile, and no flow is reset).
t_ack_offload_on_zone_port() {
	zone_up --vms 3 --slice-ms 30 --load 60 --lose-permille 10
	in_guest sysctl -qw net.ipv4.tcp_rmem="4096 1048576 6291456"
	vctl port set dev tap0 snoop on buf-size 262144 > /dev/null
	lossy_transfers $((4 << 20)) $((1 << 20)) 262144
	vctl zone show dev tap0
	check_eq bad-desc "$(zone_stat bad-desc)" 0
	transfer "$REMOTE" "$GUEST" $GUEST_IP $((8 << 20)) 5220 > "$TMPD/a" 2>&1 &
	local a=$! acked
	acked=$(port_stat early-acked-bytes)
	slowwait 20 stat_at_least early-acked-bytes $((acked + (1 << 20))) ||
		fail "early-acked-bytes $(port_stat early-acked-bytes), not $((acked + (1 << 20))): $(cat "$TMPD/a")"
	vctl port set dev tap0 snoop off > /dev/null
	wait $a || { cat "$TMPD/a"; fail "transfer under snoop off"; }
	check_eq flows-reset "$(port_stat flows-reset)" 0
	check_eq held-gaps "$(port_stat held-gaps)" 0
}

t_lossy_link_through_zone_port() {
	zone_up
	in_remote tc qdisc add dev eth0 root netem loss 1% reorder 5% delay 1ms
	transfer "$REMOTE" "$GUEST" $GUEST_IP $((4 << 20))
}

t_consumer_killed_mid_transfer() {
	zone_up
	transfer "$REMOTE" "$GUEST" $GUEST_IP $((64 << 20)) > "$TMPD/x" 2>&1 &
	local x=$!
	slowwait 20 zone_stat_at_least frames 500
	kill -9 "$TAPGUEST_PID"
	wait "$TAPGUEST_PID" 2> /dev/null || true
	TAPGUEST_PID=
	# The connection stalls with its consumer gone; no need to wait for
	# its timeouts.
	sleep 2
	pkill -x xfer || true
	wait $x && fail "transfer survived its consumer"
	slowwait 5 zone_unbound
	check_eq "buffers held after the consumer died" "$(zone_stat buffers-consumer)" 0
	# Another consumer takes over.
	tapguest_start --zone
	transfer "$REMOTE" "$GUEST" $GUEST_IP $((1 << 20)) 5202
}

# EVI/EoC: a consumer that sleeps whenever its ring is empty gets every
# frame without waiting for a timeout, whatever the traffic's shape: lone
# frames, short and long bursts, from two senders on two CPUs at once.
t_no_wakeup_lost() {
	local mac=02:00:00:00:00:99 n=0 f
	topo_build
	vctl port add dev tap0 zone on > /dev/null
	bridge -n "$HOST" fdb add $mac dev tap0 master static
	tapguest_start
	ip netns exec "$HOST" zoneprobe count --dev tap0 --frames 12800 --timeout-ms 3000 \
		--until "$TMPD/sent" > "$TMPD/count" 2>&1 &
	local c=$!
	slowwait 5 zone_bound
	send() { in_remote rxbench send --dev eth0 --dst-mac $mac --size "$1" --frames "$2" \
		--burst "$3" --gap-us "$4" > /dev/null; }
	for f in "60 800 1 300" "1514 1600 4 900" "60 3200 64 4000"; do
		# shellcheck disable=SC2086 # the four numbers
		send $f &
		local s=$!
		# shellcheck disable=SC2086
		send $f
		wait $s
		n=$((n + $(echo $f | cut -d' ' -f2) * 2))
	done
	touch "$TMPD/sent"
	wait $c || { cat "$TMPD/count"; fail "zoneprobe count"; }
	cat "$TMPD/count"
	vctl zone show dev tap0
	local placed
	placed=$(zone_stat frames)
	check_ge "frames placed of $n sent" "$placed" $((n - $(zone_stat ring-full) - $(zone_stat no-buffer)))
	grep -q "frames $placed lost-wakeups 0 " "$TMPD/count" || fail "a frame waited for a timeout"
	check_ge evi-sent "$(zone_stat evi-sent)" 100
	check_le "notifications, at most one per frame" "$(zone_stat notifications)" "$placed"
}

# Each way of notifying, switched while a consumer is bound, carries TCP.
t_notify_modes_carry_traffic() {
	local mode notes port=5201
	zone_up
	for mode in every-frame timer evi-eoc; do
		vctl port set dev tap0 notify $mode coalesce-usecs 100 > /dev/null
		notes=$(zone_stat notifications)
		transfer "$REMOTE" "$GUEST" $GUEST_IP $((1 << 20)) $port
		check_ge "notifications with $mode" "$(zone_stat notifications)" $((notes + 10))
		port=$((port + 1))
	done
	vctl zone show dev tap0
}

t_consumer_that_never_gives_back() {
	topo_build
	vctl port add dev tap0 zone on zone-size 64K zones-max 2 ring 64 > /dev/null
	# The tap open (a VMM holds it): the bridge forwards to it.
	tapguest_start
	# Not through a function: its pid is the consumer's, to kill.
	ip netns exec "$HOST" zoneprobe hoard --dev tap0 --frames 32 > "$TMPD/hoard" 2>&1 &
	local h=$!
	slowwait 5 zone_bound
	# 16 buffers a zone; a second zone is added as they run out; then
	# all 32 are hoarded and the rest is dropped and counted.
	pings 60
	slowwait 10 grep -q "holding 32" "$TMPD/hoard"
	check_eq zones "$(zone_stat zones)" 2
	check_ge no-buffer "$(zone_stat no-buffer)" 10
	check_eq buffers-consumer "$(zone_stat buffers-consumer)" 32
	kill $h
	wait $h 2> /dev/null || true
	slowwait 5 zone_unbound
	check_eq buffers-free "$(zone_stat buffers-free)" 32
}

t_malicious_consumer_rejected() {
	topo_build
	vctl port add dev tap0 zone on zone-size 64K ring 64 > /dev/null
	tapguest_start
	probe evil --dev tap0 --frames 40 > "$TMPD/evil" 2>&1 &
	local e=$!
	slowwait 5 zone_bound
	pings 45
	wait $e || { cat "$TMPD/evil"; fail "zoneprobe evil"; }
	cat "$TMPD/evil"
	check_ge bad-desc "$(zone_stat bad-desc)" 24
	check_ge returned "$(zone_stat returned)" 30
	# Nothing was lost track of: all buffers back once it is gone.
	slowwait 5 zone_unbound
	check_eq buffers-free "$(zone_stat buffers-free)" 16
	tapguest_stop
	tapguest_start --zone
	slowwait 5 zone_bound
	transfer "$REMOTE" "$GUEST" $GUEST_IP $((1 << 20))
}

t_malicious_sender_rejected() {
	topo_build
	vctl port add dev tap0 zone on > /dev/null
	tapguest_start
	local before
	before=$(in_remote cat /sys/class/net/eth0/statistics/rx_packets)
	probe evil-tx --dev tap0 --rounds 5 > "$TMPD/evil" 2>&1 || { cat "$TMPD/evil"; fail "zoneprobe evil-tx"; }
	cat "$TMPD/evil"
	vctl zone show dev tap0
	# Each round: 8 malformed frames and a forged index rejected, one
	# frame the stack refuses, two honest ones delivered.
	check_ge bad-desc "$(zone_stat bad-desc)" 45
	check_eq tx-dropped "$(zone_stat tx-dropped)" 5
	check_ge tx-frames "$(zone_stat tx-frames)" 15
	check_ge "honest frames at the remote" \
		$(($(in_remote cat /sys/class/net/eth0/statistics/rx_packets) - before)) 10
	# Nothing was lost track of.
	slowwait 5 zone_unbound
	slowwait 5 zone_stat_is buffers-sent 0
	check_eq buffers-free "$(zone_stat buffers-free)" 1024
	tapguest_stop
	tapguest_start --zone
	slowwait 5 zone_bound
	transfer "$GUEST" "$REMOTE" $REMOTE_IP $((1 << 20))
}

# Frames the guest sent wait in a qdisc on their way out, pointing at the
# zones, while their consumer dies, the port goes and rmmod is tried; the
# qdisc then frees them.
t_sent_frames_outlive_their_sender() {
	zone_up
	in_guest ping -q -c 2 -W 2 $REMOTE_IP > /dev/null
	tc -n "$HOST" qdisc add dev vrem0 root netem delay 60s limit 10000
	in_guest ping -q -c 20 -i 0.05 -s 1400 -W 1 $REMOTE_IP > /dev/null 2>&1 || true
	check_ge buffers-sent "$(zone_stat buffers-sent)" 20
	tapguest_stop
	slowwait 5 zone_unbound
	check_ge "buffers still sent" "$(zone_stat buffers-sent)" 20
	vctl port del dev tap0
	# Each frame in flight holds the module.
	expect_fail "in use" rmmod vassist
	tc -n "$HOST" qdisc del dev vrem0 root
	slowwait 10 rmmod vassist
	insmod "$KO"
}

t_bind_errors() {
	topo_build
	ip -n "$HOST" -batch - <<-EOF
		tuntap add tap1 mode tap
		link set tap1 master br0 up
	EOF
	check_eq "not attached" "$(probe bind --dev tap0)" ENXIO
	vctl port add dev tap0 > /dev/null
	check_eq "not a zone port" "$(probe bind --dev tap0)" EOPNOTSUPP
	vctl port set dev tap0 zone on > /dev/null
	chmod 0666 /dev/vassist-zone
	check_eq "opened without CAP_NET_ADMIN" "$(probe bind --dev tap0 --as-nobody)" EPERM
	chmod 0600 /dev/vassist-zone
	probe hold --dev tap0 > "$TMPD/hold" 2>&1 &
	local h=$!
	slowwait 5 zone_bound
	check_eq "second consumer" "$(probe bind --dev tap0)" EBUSY
	# Port deleted while bound: the consumer is told.
	vctl port del dev tap0
	wait $h
	grep -q detached "$TMPD/hold" || { cat "$TMPD/hold"; fail "consumer not told"; }
}

t_device_removed_while_bound() {
	zone_up
	probe bind --dev tap0 | grep -q EBUSY
	in_remote ping -q -c 3 -i 0.1 -W 2 $GUEST_IP > /dev/null
	tapguest_stop
	probe hold --dev tap0 > "$TMPD/hold" 2>&1 &
	local h=$!
	slowwait 5 zone_bound
	ip -n "$HOST" link del tap0
	wait $h
	grep -q detached "$TMPD/hold" || { cat "$TMPD/hold"; fail "consumer not told"; }
}

t_rmmod_while_bound() {
	zone_up
	in_remote ping -q -c 3 -i 0.1 -W 2 $GUEST_IP > /dev/null
	# The consumer's open file holds the module.
	expect_fail "in use" rmmod vassist
	tapguest_stop
	rmmod vassist
	insmod "$KO"
}

run_tests "$@" t_zone_parameters t_no_consumer_drops_counted t_tcp_through_zone_port \
	t_guest_to_guest_through_zone_ports \
	t_scheduled_consumer_gets_every_byte t_ack_offload_on_zone_port t_lossy_link_through_zone_port \
	t_consumer_killed_mid_transfer t_no_wakeup_lost t_notify_modes_carry_traffic \
	t_consumer_that_never_gives_back \
	t_malicious_consumer_rejected t_malicious_sender_rejected \
	t_sent_frames_outlive_their_sender t_bind_errors t_device_removed_while_bound \
	t_rmmod_while_bound
