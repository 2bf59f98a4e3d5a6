#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Piped connections (vPipe): a guest's TCP connection frozen with
# TCP_REPAIR, taken over by a shadow socket in a shadow namespace behind
# the port's shadow device (its frames diverted by the module), and handed
# back, every byte verified end to end; and what an administrator can get
# wrong.
. "$(dirname "$0")/lib.sh"

pipes() { vctl -j pipe show dev tap0; }
pipe_field() { pipes | jq -r ".[0][\"$1\"] // 0"; }

# handoff_round ADDR [UNACKED]: a connection from the remote to the
# guest's ADDR, served by the guest, then by the host's shadow socket, then
# by the guest again, N bytes each way each time; the guest writes UNACKED
# bytes of the shadow's part while the pipe holds the peer's ACKs, so its
# dump carries them unacknowledged.
handoff_round() {
	local addr=$1 unacked=${2:-0} n=$((2 << 20)) d=$TMPD/handoff listen gpid cpid spid sel
	listen=$addr:5300
	[[ $addr == *:* ]] && listen="[$addr]:5300"
	topo_up
	vctl port add dev tap0 > /dev/null
	shadow_up
	rm -rf "$d"
	mkdir -p "$d"
	in_guest handoff guest --listen "$listen" --bytes $n --dir "$d" --unacked "$unacked" \
		> "$d/guest.log" 2>&1 &
	gpid=$!
	slowwait 10 test -e "$d/listening"
	in_remote handoff client --connect "$listen" --bytes $n > "$d/client.log" 2>&1 &
	cpid=$!
	slowwait 60 test -e "$d/a-done" || { cat "$d"/*.log; fail "first part"; }
	read -r local peer < "$d/tuple"
	sel="dev tap0 guest $local peer $peer"
	# The guest's frames stop reaching the peer before it is frozen.
	vctl pipe add $sel shadow vph0 guest-mac "$GUEST_MAC" peer-mac "$PEER_MAC"
	check_eq state "$(pipe_field state)" hold
	touch "$d/hold"
	ip netns exec "$SHADOW" handoff shadow --bytes $n --dir "$d" --unacked "$unacked" \
		> "$d/shadow.log" 2>&1 &
	spid=$!
	slowwait 30 test -e "$d/restored" || { cat "$d"/*.log; fail "shadow restore"; }
	vctl pipe set $sel state host
	touch "$d/host"
	slowwait 60 test -e "$d/b-done" || { cat "$d"/*.log; vctl pipe show; fail "host part"; }
	vctl pipe set $sel state hold
	touch "$d/held"
	slowwait 30 test -e "$d/guest-restored" || { cat "$d"/*.log; fail "guest restore"; }
	vctl pipe show
	check_ge to-shadow-bytes "$(pipe_field to-shadow-bytes)" $n
	check_ge from-shadow-bytes "$(pipe_field from-shadow-bytes)" $n
	vctl pipe del $sel
	touch "$d/guest-go"
	wait $spid || { cat "$d"/*.log; fail "shadow side"; }
	wait $gpid || { cat "$d"/*.log; fail "guest side"; }
	wait $cpid || { cat "$d"/*.log; fail "client side"; }
	cat "$d/guest.log" "$d/shadow.log"
	check_eq pipes-left "$(pipes | jq length)" 0
}

# proxy_round GUEST_ADDR REMOTE_ADDR BYTES [UPLOAD]: a remote client
# through the guest's proxy to a remote backend; the proxy has the
# response (BYTES) moved by vpipe_socket_to_socket, then the client's
# upload (UPLOAD, 64 KB by default) the other way, then relays the
# backend's trailer ($TRAILER bytes, 64 KB by default) itself over the same
# connections; $PROXY_OPTS are the proxy's more options. Prints the
# proxy's report.
both_listening() { grep -q listening "$TMPD/proxy.log" && grep -q listening "$TMPD/backend.log"; }
proxy_round() {
	local gaddr=$1 raddr=$2 n=$3 up=${4:-65536} bpid ppid
	local sizes=(--bytes "$n" --upload "$up" --trailer "${TRAILER:-65536}")
	[[ $gaddr == *:* ]] && { gaddr="[$gaddr]"; raddr="[$raddr]"; }
	in_remote vproxy backend --listen "$raddr:5401" "${sizes[@]}" > "$TMPD/backend.log" 2>&1 &
	bpid=$!
	# shellcheck disable=SC2086 # the options
	in_guest ${PROXY_AS:-} env VPIPE_HOST_CID=1 vproxy proxy --listen "$gaddr:5400" \
		--backend "$raddr:5401" "${sizes[@]}" --pipe-upload ${PROXY_OPTS:-} \
		> "$TMPD/proxy.log" 2>&1 &
	ppid=$!
	slowwait 10 both_listening ||
		{ cat "$TMPD"/*.log >&2; fail "proxy or backend did not listen"; }
	in_remote vproxy client --connect "$gaddr:5400" "${sizes[@]}" \
		> "$TMPD/client.log" 2>&1 || { cat "$TMPD"/*.log >&2; fail "client"; }
	wait $ppid || { cat "$TMPD"/*.log >&2; fail "proxy"; }
	wait $bpid || { cat "$TMPD"/*.log >&2; fail "backend"; }
	grep -E "moved|uploaded" "$TMPD/proxy.log"
	check_eq pipes-left "$(pipes | jq length)" 0
}

proxy_up() {
	topo_up ${TAPGUEST_OPTS:-}
	vctl port add dev tap0 > /dev/null
	shadow_up
	agent_up "$@"
}

# by_host N UP: the last round moved N bytes down and UP up by the host.
by_host() {
	cat "$TMPD/round"
	grep -q "moved $1 by host" "$TMPD/round" || fail "$1 bytes down: not by the host"
	grep -q "uploaded $2 by host" "$TMPD/round" || fail "$2 bytes up: not by the host"
}

# 1 B to 100 MB each way, every byte checked by the other end, the
# connections used again after each hand-back.
t_proxy_piped_by_host() {
	proxy_up
	local n
	for n in 1 $((4 << 20)) $((100 << 20)); do
		proxy_round $GUEST_IP $REMOTE_IP $n $n > "$TMPD/round"
		by_host $n $n
	done
	proxy_round $GUEST_IP6 $REMOTE_IP6 $((4 << 20)) $((1 << 20)) > "$TMPD/round"
	by_host $((4 << 20)) $((1 << 20))
}

# Loss, reordering and delay on the remote's link both ways: what the
# shadow sockets send and receive, and the hand-offs around them.
t_proxy_piped_through_loss_and_reorder() {
	proxy_up
	in_remote tc qdisc add dev eth0 root netem loss 1% reorder 10% 50% delay 1ms
	tc -n "$HOST" qdisc add dev vrem0 root netem loss 1% reorder 10% 50% delay 1ms
	proxy_round $GUEST_IP $REMOTE_IP $((4 << 20)) $((4 << 20)) > "$TMPD/round"
	by_host $((4 << 20)) $((4 << 20))
	proxy_round $GUEST_IP6 $REMOTE_IP6 $((1 << 20)) $((1 << 20)) > "$TMPD/round"
	by_host $((1 << 20)) $((1 << 20))
}

# A server without CAP_NET_ADMIN: without a helper the library copies the
# bytes itself; with the guest's repair helper the host moves them; the
# helper grants no more than the caller owns (vpipe_repair_bad.py).
t_proxy_piped_unprivileged() {
	proxy_up
	local sock=/run/vpipe-repair-$$.sock nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	in_guest vpipe-repair --socket "$sock" --mode 666 > "$TMPD/repair.log" 2>&1 &
	local helper=$!
	slowwait 5 grep -q listening "$TMPD/repair.log" || { cat "$TMPD/repair.log"; fail "no helper"; }
	PROXY_AS=$nobody proxy_round $GUEST_IP $REMOTE_IP $((1 << 20)) > "$TMPD/round"
	cat "$TMPD/round"
	grep -q "moved $((1 << 20)) by guest (Operation not permitted" "$TMPD/round" ||
		fail "without the helper: not copied by the guest"
	PROXY_AS="$nobody env VPIPE_REPAIR_SOCKET=$sock" \
		proxy_round $GUEST_IP $REMOTE_IP $((4 << 20)) $((1 << 20)) > "$TMPD/round"
	by_host $((4 << 20)) $((1 << 20))
	in_guest $nobody /usr/bin/python3 "$VASSIST_ROOT/selftests/vpipe_repair_bad.py" "$sock"
	PROXY_AS="$nobody env VPIPE_REPAIR_SOCKET=$sock" \
		proxy_round $GUEST_IP6 $REMOTE_IP6 $((1 << 20)) > "$TMPD/round"
	by_host $((1 << 20)) 65536
	kill $helper
	rm -f "$sock"
}

# The guest scheduled as a vCPU sharing its core with 2 busy VMs (the
# benchmark's guest): its probes and frames reach the host a turn late.
t_proxy_piped_scheduled_guest() {
	TAPGUEST_OPTS="--vms 3" proxy_up
	proxy_round $GUEST_IP $REMOTE_IP $((4 << 20)) $((1 << 20)) > "$TMPD/round"
	by_host $((4 << 20)) $((1 << 20))
}

t_proxy_refused_copies_in_guest() {
	# The agent serves the guest's IPv6 address only: the IPv4
	# connections are refused, and the library copies them itself.
	proxy_up $GUEST_IP6
	proxy_round $GUEST_IP $REMOTE_IP $((1 << 20)) > "$TMPD/round"
	cat "$TMPD/round"
	grep -q "by guest (.*not this guest's address" "$TMPD/round"
	# No agent at all: the same, with the connection refused.
	kill $AGENT_PID
	wait $AGENT_PID 2> /dev/null || true
	proxy_round $GUEST_IP $REMOTE_IP $((1 << 20)) > "$TMPD/round"
	cat "$TMPD/round"
	grep -q "by guest" "$TMPD/round"
}

# The backend sent its whole response and closed its side before the
# proxy asks (the source in CLOSE_WAIT): the host takes established
# connections only (TCP_REPAIR freezes no other), so the library copies
# the bytes itself and says why; the trailer and the close follow.
t_closing_source_copies_in_guest() {
	proxy_up
	TRAILER=1000 PROXY_OPTS=--after-backend-closes \
		proxy_round $GUEST_IP $REMOTE_IP 16384 0 > "$TMPD/round"
	cat "$TMPD/round"
	grep -q "moved 16384 by guest (the connection is CLOSE_WAIT" "$TMPD/round" ||
		fail "not copied by the guest"
}

# What a broken or hostile guest may send the agent (vpipe_bad_guest.py):
# each refused with a reason, nothing left diverted; the agent goes on.
t_agent_refuses_bad_requests() {
	AGENT_OPTS='"request-timeout-ms": 2000, "max-sessions": 8,' proxy_up
	ip netns exec "$HOST" /usr/bin/python3 "$VASSIST_ROOT/selftests/vpipe_bad_guest.py" \
		$GUEST_IP $REMOTE_IP 2 8
	kill -0 $AGENT_PID || fail "the agent is gone: $(cat "$TMPD/vassistd.log")"
	proxy_round $GUEST_IP $REMOTE_IP $((1 << 20)) > "$TMPD/round"
	cat "$TMPD/round"
	grep -q "by host" "$TMPD/round" || fail "not by the host after the bad requests"
}

# A response through the guest's proxy, moved by the host until the backend
# ends (256 MB); the client reads 1 MB, then waits for $TMPD/go, then resets
# (its log says "client failed" if its stream broke first), or is given
# other vproxy client options after $1.
# Returns once both pipes are the host's; the proxy expects its call to
# fail as $1 (vproxy proxy --fails).
host_pipes() { pipes | jq '[.[] | select(.state == "host")] | length'; }
failing_response() {
	local fails=$1 client=(--reset-after $((1 << 20)) --go "$TMPD/go")
	shift
	[ $# = 0 ] || client=("$@")
	rm -f "$TMPD/go"
	in_remote vproxy backend --listen "$REMOTE_IP:5401" --bytes $((256 << 20)) \
		> "$TMPD/backend.log" 2>&1 &
	BACKEND_PID=$!
	in_guest env VPIPE_HOST_CID=1 vproxy proxy --listen "$GUEST_IP:5400" \
		--backend "$REMOTE_IP:5401" --bytes 0 --fails "$fails" > "$TMPD/proxy.log" 2>&1 &
	PROXY_PID=$!
	slowwait 10 both_listening || { cat "$TMPD"/*.log; fail "proxy or backend did not listen"; }
	{
		if ! in_remote vproxy client --connect "$GUEST_IP:5400" --bytes $((256 << 20)) \
			"${client[@]}"; then
			echo "client failed"
		fi
	} > "$TMPD/client.log" 2>&1 &
	CLIENT_PID=$!
	slowwait 30 eval '[ "$(host_pipes)" = 2 ]' ||
		{ cat "$TMPD"/*.log; vctl pipe show; fail "not piped by the host"; }
}

# The next response after a failed one is piped by the host again.
piped_again() {
	kill $BACKEND_PID 2> /dev/null || true
	wait $BACKEND_PID 2> /dev/null || true
	check_eq pipes-left "$(pipes | jq length)" 0
	proxy_round $GUEST_IP $REMOTE_IP $((1 << 20)) > "$TMPD/round"
	cat "$TMPD/round"
	grep -q "by host" "$TMPD/round" || fail "not by the host after the failure"
}

# The client resets its connection while the host moves the response to
# it: the proxy's call ends with the reset, the backend's connection comes
# back to the guest, nothing stays diverted.
t_peer_reset_mid_pipe() {
	proxy_up
	failing_response peer-reset
	touch "$TMPD/go"
	wait $CLIENT_PID
	wait $PROXY_PID || { cat "$TMPD"/*.log; fail "proxy"; }
	! grep -q "client failed" "$TMPD/client.log" || { cat "$TMPD"/*.log; fail "client"; }
	cat "$TMPD/client.log" "$TMPD/proxy.log"
	piped_again
}

# The agent is killed while the host moves the response: its netlink
# sockets owned the pipes, so they go with it and vassist resets both
# connections at both ends: the client's stream ends in a reset (never a
# clean close or a wrong byte), the proxy's call fails as lost; no agent
# after it has anything to clean up.
t_agent_killed_mid_pipe() {
	proxy_up
	failing_response lost --until-reset
	kill -KILL $AGENT_PID
	wait $AGENT_PID 2> /dev/null || true
	reset_everywhere
	agent_up
	piped_again
}

# reset_everywhere: after the pipes went under a moving response, the
# client saw a reset, the proxy's call failed as lost, no pipe is left.
reset_everywhere() {
	wait $CLIENT_PID
	wait $PROXY_PID || { cat "$TMPD"/*.log; fail "proxy"; }
	cat "$TMPD/client.log" "$TMPD/proxy.log"
	! grep -q "client failed" "$TMPD/client.log" || fail "the client's stream did not end in a reset"
	check_eq pipes-left "$(vctl -j pipe show | jq length)" 0
}

# The port is detached while the host moves the response: the connections
# are reset at both ends, and the agent, told, answers the guest at once.
t_port_detached_mid_pipe() {
	proxy_up
	failing_response lost --until-reset
	vctl port del dev tap0
	reset_everywhere
	grep -q "port was detached" "$TMPD/proxy.log" || fail "the agent did not say why"
	vctl port add dev tap0 > /dev/null
	piped_again
}

# rmmod while the host moves the response: the same resets; the pipe ends
# on the agent's stall time (the family goes before the resets: a cut then
# could send the peers a FIN first), and the agent follows vassist again
# once it is loaded: a port detached under its next pipe is told as such.
t_rmmod_mid_pipe() {
	AGENT_OPTS='"stall-ms": 2000,' proxy_up
	failing_response lost --until-reset
	rmmod vassist
	insmod "$KO"
	reset_everywhere
	vctl port add dev tap0 > /dev/null
	kill $BACKEND_PID 2> /dev/null || true
	wait $BACKEND_PID 2> /dev/null || true
	failing_response lost --until-reset
	vctl port del dev tap0
	reset_everywhere
	grep -q "port was detached" "$TMPD/proxy.log" || fail "the agent lost track of vassist"
	vctl port add dev tap0 > /dev/null
	piped_again
}

# A pipe added with socket-owner goes when the socket that added it
# closes (here at once: vassistctl ends), told as owner-gone.
t_pipe_owner_socket_closes() {
	topo_up
	vctl port add dev tap0 > /dev/null
	shadow_up
	ip netns exec "$HOST" vassistctl -j monitor > "$TMPD/monitor" 2>&1 &
	local mon=$!
	slowwait 5 grep -q monitoring "$TMPD/monitor"
	vctl pipe add dev tap0 guest $GUEST_IP:5301 peer $REMOTE_IP:4001 shadow vph0 \
		guest-mac "$GUEST_MAC" peer-mac "$PEER_MAC" state host socket-owner
	slowwait 5 grep -q pipe-del-ntf "$TMPD/monitor" || { cat "$TMPD/monitor"; fail "no notification"; }
	kill $mon
	grep pipe-del-ntf "$TMPD/monitor"
	check_eq reason "$(grep pipe-del-ntf "$TMPD/monitor" | jq -r .msg[\"del-reason\"])" owner-gone
	check_eq pipes-left "$(pipes | jq length)" 0
	# Without it the pipe stays.
	vctl pipe add dev tap0 guest $GUEST_IP:5301 peer $REMOTE_IP:4001 shadow vph0 \
		guest-mac "$GUEST_MAC" peer-mac "$PEER_MAC" state host
	check_eq pipes "$(pipes | jq length)" 1
}

t_connection_to_host_and_back() {
	handoff_round $GUEST_IP
}

t_connection_to_host_and_back_ipv6() {
	handoff_round $GUEST_IP6 $((256 << 10))
	grep -q "guest: dumped: sent [1-9]" "$TMPD/handoff/guest.log" || fail "nothing unacked in the dump"
}

t_pipe_request_errors() {
	topo_build
	shadow_up
	local sel="dev tap0 guest $GUEST_IP:80 peer $REMOTE_IP:4000"
	local macs="guest-mac $GUEST_MAC peer-mac $PEER_MAC"
	expect_fail "not an attached port" vctl pipe add $sel shadow vph0 $macs
	vctl port add dev tap0 > /dev/null
	expect_fail "shadow-ifindex is required" vctl pipe add $sel $macs
	expect_fail "go together" vctl pipe add $sel shadow vph0 guest-mac "$GUEST_MAC"
	expect_fail "MACs are not known" vctl pipe add $sel shadow vph0 state host
	expect_fail "unicast" vctl pipe add $sel shadow vph0 guest-mac ff:ff:ff:ff:ff:ff peer-mac "$PEER_MAC"
	expect_fail "both IPv4" vctl pipe add dev tap0 guest $GUEST_IP:80 peer "[$REMOTE_IP6]:4000" shadow vph0 $macs
	expect_fail "ports non-zero" vctl pipe add dev tap0 guest $GUEST_IP:0 peer $REMOTE_IP:4000 shadow vph0 $macs
	expect_fail "must not be a port" vctl pipe add $sel shadow tap0 $macs
	expect_fail "must not be a port" vctl pipe add $sel shadow vrem0 $macs
	expect_fail "not piped" vctl pipe set $sel state host
	vctl port set dev tap0 snoop on > /dev/null
	expect_fail "ack offload is not supported" vctl pipe add $sel shadow vph0 $macs
	vctl port set dev tap0 snoop off > /dev/null
	vctl pipe add $sel shadow vph0 $macs state host
	check_eq state "$(pipe_field state)" host
	expect_fail "piped connections" vctl port set dev tap0 snoop on
	expect_fail "piped already" vctl pipe add $sel shadow vph0 $macs
	expect_fail "in that state" vctl pipe set $sel state host
	ip -n "$HOST" link add vph1 type veth peer name vp1
	expect_fail "another shadow device" vctl pipe add dev tap0 guest $GUEST_IP:81 peer $REMOTE_IP:4000 shadow vph1 $macs
	vctl pipe del $sel
	expect_fail "not piped" vctl pipe del $sel
	check_eq pipes-left "$(pipes | jq length)" 0
}

# piped_port: tap0 with a pipe owned by the host (no connection behind it).
piped_port() {
	topo_up
	vctl port add dev tap0 > /dev/null
	shadow_up
	vctl pipe add dev tap0 guest $GUEST_IP:5301 peer $REMOTE_IP:4001 shadow vph0 \
		guest-mac "$GUEST_MAC" peer-mac "$PEER_MAC" state host
	check_eq pipes "$(pipes | jq length)" 1
}

t_shadow_device_removed() {
	piped_port
	# The shadow namespace goes, its veth pair with it: the pipes go, and
	# the device is not held (its unregistration would hang).
	ip netns del "$SHADOW"
	slowwait 10 sh -c "[ \"\$(ip netns exec $HOST vassistctl -j pipe show dev tap0 | jq length)\" = 0 ]"
	in_remote ping -q -c 2 -i 0.2 -W 2 $GUEST_IP > /dev/null
}

t_port_detached_and_rmmod_with_pipes() {
	piped_port
	vctl port del dev tap0
	vctl port add dev tap0 > /dev/null
	check_eq pipes "$(pipes | jq length)" 0
	pipe_again() {
		vctl pipe add dev tap0 guest $GUEST_IP:5301 peer $REMOTE_IP:4001 shadow vph0 \
			guest-mac "$GUEST_MAC" peer-mac "$PEER_MAC"
	}
	pipe_again
	ip -n "$HOST" link del tap0
	slowwait 10 sh -c "! ip netns exec $HOST vassistctl port show dev tap0 > /dev/null 2>&1"
	ip -n "$HOST" -batch - <<-EOF
		tuntap add tap0 mode tap
		link set tap0 master br0 up
	EOF
	vctl port add dev tap0 > /dev/null
	pipe_again
	rmmod vassist
	insmod "$KO"
	ip -n "$HOST" link del vph0
}

run_tests "$@" t_pipe_request_errors t_connection_to_host_and_back \
	t_connection_to_host_and_back_ipv6 t_proxy_piped_by_host \
	t_proxy_piped_through_loss_and_reorder t_proxy_piped_scheduled_guest \
	t_proxy_piped_unprivileged \
	t_proxy_refused_copies_in_guest t_agent_refuses_bad_requests t_peer_reset_mid_pipe \
	t_closing_source_copies_in_guest \
	t_agent_killed_mid_pipe t_port_detached_mid_pipe t_rmmod_mid_pipe \
	t_pipe_owner_socket_closes t_shadow_device_removed \
	t_port_detached_and_rmmod_with_pipes
