#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Control plane: loading, the netlink family through vassistctl and the
# tree's ynl CLI, permissions, bad attributes, namespaces, notifications,
# port devices that go away.
. "$(dirname "$0")/lib.sh"

t_load_unload() {
	mod_unload
	expect_fail "is vassist.ko loaded?" vassistctl port show
	insmod "$KO"
	vassistctl port show
	rmmod vassist
	! lsmod | grep -q '^vassist '
	insmod "$KO"
}

t_vassistctl_add_show_del() {
	topo_up
	local br out
	br=$(ip -n "$HOST" -o link show br0 | cut -d: -f1)
	out=$(vctl -j port add dev tap0)
	check_eq ifname "$(json "j[0]['ifname']" <<< "$out")" tap0
	check_eq master-ifindex "$(json "j[0]['master-ifindex']" <<< "$out")" "$br"
	check_eq features "$(json "j[0]['features']" <<< "$out")" "[]"
	check_eq "ports after add" "$(vctl -j port show | json 'len(j)')" 1
	vctl port show | grep -q '^[0-9]*: tap0 master'
	vctl port del dev tap0
	check_eq "ports after del" "$(vctl -j port show | json 'len(j)')" 0
	# by ifindex too
	local idx
	idx=$(ip -n "$HOST" -o link show tap0 | cut -d: -f1)
	vctl port add ifindex "$idx" > /dev/null
	check_eq "show by ifindex" "$(vctl -j port show ifindex "$idx" | json "j[0]['ifname']")" tap0
	vctl port del ifindex "$idx"
}

t_ynl_cli() {
	[ -n "$KSRC" ] || return 4
	topo_up
	ynl --do port-add --json '{"ifname": "tap0"}' | grep -q "'ifname': 'tap0'"
	ynl --dump port-get | grep -q "'to-guest-packets'"
	ynl --do port-get --json '{"ifname": "tap0"}' | grep -q "'master-ifindex'"
	ynl --do port-set --json '{"ifname": "tap0", "features": 0}' > /dev/null
	ynl --do port-del --json '{"ifname": "tap0"}'
	check_eq "ports after ynl del" "$(vctl -j port show | json 'len(j)')" 0
}

t_write_needs_cap_net_admin() {
	topo_up
	local nobody="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all"
	expect_fail "Operation not permitted" ip netns exec "$HOST" $nobody "$BIN/vassistctl" port add dev tap0
	vctl port add dev tap0 > /dev/null
	expect_fail "Operation not permitted" ip netns exec "$HOST" $nobody "$BIN/vassistctl" port del dev tap0
	expect_fail "Operation not permitted" ip netns exec "$HOST" $nobody "$BIN/vassistctl" port set dev tap0 snoop off
	# Reading needs no privilege.
	ip netns exec "$HOST" $nobody "$BIN/vassistctl" port show | grep -q tap0
}

t_bad_attributes_rejected_with_extack() {
	topo_up
	ip -n "$HOST" tuntap add lone0 mode tap
	expect_fail "ifindex or ifname is required" ynl --do port-add --json '{}'
	expect_fail "bad-attr" ynl --do port-add --json '{"ifindex": 0}'
	expect_fail "bad-attr" ynl --do port-add --json '{"ifname": "tap0", "features": 4}'
	expect_fail "bad-attr" ynl --do port-add --json '{"ifname": "abcdefghijklmnopq"}'
	expect_fail "no device with this ifindex" vctl port add ifindex 4242
	expect_fail "no device with this name" vctl port add dev nosuch0
	expect_fail "not a bridge port" vctl port add dev lone0
	expect_fail "ifindex and ifname name different devices" \
		vctl port add dev tap0 ifindex "$(ip -n "$HOST" -o link show lone0 | cut -d: -f1)"
	expect_fail "out of range" vctl port add dev tap0 snoop on buf-size 100
	expect_fail "bad-attr" ynl --do port-add --json '{"ifname": "tap0", "ack-offload": {"max-flows": 0}}'
	expect_fail "bad-attr" ynl --do port-add --json '{"ifname": "tap0", "ack-offload": {"idle-timeout": 5}}'
	expect_fail "not an attached port" vctl port del dev tap0
	vctl port add dev tap0 > /dev/null
	expect_fail "port is already attached" vctl port add dev tap0
	expect_fail "unexpected 'bogus'" vctl port show bogus
	check_eq "ports" "$(vctl -j port show | json 'len(j)')" 1
}

t_malformed_messages_rejected_with_extack() {
	topo_up
	ip netns exec "$HOST" /usr/bin/python3 "$VASSIST_ROOT/selftests/nl_malformed.py" tap0
	check_eq "ports" "$(vctl -j port show | json 'len(j)')" 0
}

t_dump_spans_rounds() {
	[ -n "$KSRC" ] || return 4
	topo_up
	local i
	# One ip for all the taps: a process start takes a second in the VM.
	for i in $(seq 40); do
		echo "tuntap add t$i mode tap"
		echo "link set t$i master br0"
	done | ip -n "$HOST" -batch -
	for i in $(seq 40); do
		vctl port add dev "t$i" > /dev/null
	done
	check_eq "ports via vassistctl" "$(vctl -j port show | json 'len(j)')" 40
	# ynl with a small receive buffer: the dump takes many rounds.
	check_eq "ports via a small-buffer dump" "$(ynl --dump port-get --dbg-small-recv | grep -c "'ifname'")" 40
}

t_family_is_per_netns() {
	topo_up
	vctl port add dev tap0 > /dev/null
	check_eq "ports seen from another netns" \
		"$(ip netns exec "$REMOTE" vassistctl -j port show | json 'len(j)')" 0
	expect_fail "no device with this name" ip netns exec "$REMOTE" vassistctl port del dev tap0
	check_eq "ports in own netns" "$(vctl -j port show | json 'len(j)')" 1
}

t_notifications() {
	topo_up
	ip netns exec "$HOST" vassistctl monitor > "$TMPD/mon" 2> "$TMPD/mon.err" &
	local mon=$!
	slowwait 5 grep -q "monitoring mgmt" "$TMPD/mon.err"
	vctl port add dev tap0 > /dev/null
	vctl port set dev tap0 snoop off > /dev/null
	vctl port del dev tap0
	vctl port add dev tap0 > /dev/null
	ip -n "$HOST" link set tap0 nomaster
	ip -n "$HOST" link set tap0 master br0
	vctl port add dev tap0 > /dev/null
	tapguest_stop
	ip -n "$HOST" link del tap0
	slowwait 5 sh -c "[ \$(wc -l < $TMPD/mon) -ge 7 ]"
	kill $mon
	cat "$TMPD/mon"
	check_eq "events" "$(json 'j["name"]' < <(head -1 "$TMPD/mon"))" port-add-ntf
	local got
	got=$(while read -r l; do json 'j["name"] + "/" + str(j["msg"].get("detach-reason"))' <<< "$l"; done < "$TMPD/mon" | tr '\n' ' ')
	check_eq "event sequence" "$got" \
		"port-add-ntf/None port-change-ntf/None port-del-ntf/user port-add-ntf/None port-del-ntf/left-bridge port-add-ntf/None port-del-ntf/unregistered "
	# Started with vassist unloaded, the monitor follows it as it is
	# loaded, unloaded and loaded again.
	rmmod vassist
	ip netns exec "$HOST" vassistctl monitor > "$TMPD/mon2" 2> "$TMPD/mon2.err" &
	mon=$!
	slowwait 5 grep -q "monitoring mgmt" "$TMPD/mon2.err"
	insmod "$KO"
	ip -n "$HOST" tuntap add tap0 mode tap
	ip -n "$HOST" link set tap0 master br0 up
	vctl port add dev tap0 > /dev/null
	vctl port del dev tap0
	rmmod vassist
	insmod "$KO"
	vctl port add dev tap0 > /dev/null
	slowwait 5 sh -c "[ \$(wc -l < $TMPD/mon2) -ge 6 ]"
	kill $mon
	check_eq "across reloads" "$(jq -r .name "$TMPD/mon2" | tr '\n' ' ')" \
		"loaded port-add-ntf port-del-ntf unloaded loaded port-add-ntf "
}

t_port_device_vanishes() {
	topo_up
	vctl port add dev tap0 > /dev/null
	# Traffic flowing while the device goes.
	in_remote ping -q -i 0.01 -c 300 $GUEST_IP > /dev/null 2>&1 &
	local p=$!
	slowwait 10 stat_at_least to-guest-packets 10
	ip -n "$HOST" link del tap0
	wait $p || true
	check_eq "ports after tap deleted" "$(vctl -j port show | json 'len(j)')" 0
	# The namespace itself going away with an attached port.
	ip -n "$HOST" tuntap add tap1 mode tap
	ip -n "$HOST" link set tap1 master br0 up
	vctl port add dev tap1 > /dev/null
	tapguest_stop
	ip netns del "$HOST"
	# The namespace is dismantled by a work item, with nothing to wait on
	# from outside: give it the time it takes.
	sleep 0.5
	check_eq "ports anywhere" "$(vassistctl -j port show | json 'len(j)')" 0
}

run_tests "$@" t_load_unload t_vassistctl_add_show_del t_ynl_cli t_write_needs_cap_net_admin \
	t_bad_attributes_rejected_with_extack t_malformed_messages_rejected_with_extack t_dump_spans_rounds \
	t_family_is_per_netns t_notifications \
	t_port_device_vanishes
