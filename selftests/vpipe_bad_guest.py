#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Sends the vPipe host agent what a broken or hostile guest might: messages
too long, cut short or not JSON, queued bytes claimed and not sent, requests out of order, connections not the
guest's, states TCP cannot have, silence, streams dropped, one connection
asked for twice, more streams than the agent takes. Each must be refused with
a reason (the stream then ends, or waits for the guest's release where the
guest may still go on), and whatever a stream diverted must be gone once it
ends. Prints one line per case; exits non-zero at the first that is
not handled so.

usage: vpipe_bad_guest.py GUEST_IP PEER_IP REQUEST_TIMEOUT_S MAX_SESSIONS
(run where vassistctl sees the guest's port, tap0)"""
import json
import random
import socket
import struct
import subprocess
import sys
import time

CID, PORT = 1, 5253
GUEST, PEER = sys.argv[1], sys.argv[2]
TIMEOUT_S, MAX_SESSIONS = float(sys.argv[3]), int(sys.argv[4])


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def stream():
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT_S + 10)
    s.connect((CID, PORT))
    return s


def frame(body):
    return struct.pack("!I", len(body)) + body


def send(s, msg):
    s.sendall(frame(json.dumps(msg).encode()))


def read_n(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b


def recv(s):
    head = read_n(s, 4)
    if head is None:
        return None
    body = read_n(s, struct.unpack("!I", head)[0])
    return None if body is None else json.loads(body)


def answer(s, result, want=""):
    r = recv(s)
    if not r or r.get("result") != result or want not in r.get("reason", ""):
        fail(f"expected {result} ({want}), got {r}")
    return r


def refused_and_closed(s, want):
    r = answer(s, "refused", want)
    if s.recv(1) != b"":
        fail(f"stream still open after '{r['reason']}'")
    s.close()
    return r["reason"]


def refused_then_released(s, want):
    r = answer(s, "refused", want)
    send(s, {"op": "release"})
    answer(s, "ok")
    if s.recv(1) != b"":
        fail("stream still open after the release")
    s.close()
    return r["reason"]


def pipes():
    out = subprocess.run(["vassistctl", "-j", "pipe", "show", "dev", "tap0"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def no_pipes_left(within=5.0):
    end = time.time() + within
    while pipes():
        if time.time() > end:
            fail(f"pipes left: {pipes()}")
        time.sleep(0.1)


def addr(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def conn(lport, pport, local=GUEST, peer=PEER):
    return {"local": addr(local, lport), "peer": addr(peer, pport)}


CONNS = [conn(5301, 4001), conn(5302, 4002)]


def state(c, **change):
    st = {"local": c["local"], "peer": c["peer"], "snd_seq": 1, "rcv_seq": 1,
          "sent": 0, "unsent": 0, "received": 0,
          "window": {"snd_wl1": 1, "snd_wnd": 65535, "max_window": 65535,
                     "rcv_wnd": 65535, "rcv_wup": 1},
          "mss": 1448, "wscale": [7, 7], "sack": True, "timestamps": True,
          "tsval": 1, "sndbuf": 2 << 30, "rcvbuf": 2 << 30, "reuse": False}
    st.update(change)
    return st


def case(name, fn):
    reason = fn()
    no_pipes_left()
    print(f"ok: {name}: {reason}")


def raw(data):
    def run():
        s = stream()
        s.sendall(data)
        return refused_and_closed(s, "malformed request")
    return run


def prepared():
    s = stream()
    send(s, {"op": "prepare", "conns": CONNS})
    answer(s, "ok")
    if len(pipes()) != 2 or {p["state"] for p in pipes()} != {"hold"}:
        fail(f"after prepare: {pipes()}")
    return s


def request(msg, want, ends=refused_then_released, opening=stream):
    """A case: a stream opened (or prepared first), msg sent, the answer
    checked by ends."""
    def run():
        s = opening()
        send(s, msg)
        return ends(s, want)
    return run


def silent_after_prepare():
    return refused_and_closed(prepared(), "no request within")


def cut_short():
    s = stream()
    s.sendall(struct.pack("!I", 1000) + b'{"op": "prepare"')
    return refused_and_closed(s, "no request within")


def dropped_after_prepare():
    prepared().close()
    return "diverts gone with the stream"


def one_connection_twice():
    a = prepared()
    b = stream()
    send(b, {"op": "prepare", "conns": CONNS})
    reason = refused_then_released(b, "piped already")
    if len(pipes()) != 2:
        fail(f"the first stream's pipes went: {pipes()}")
    a.close()
    return reason


def fuzzed(rounds=150, seed=13):
    """Valid requests with bytes flipped, cut short or followed by junk,
    each on a stream the guest then half-closes: whatever the agent makes
    of them, it answers or ends the stream, and goes on."""
    rnd = random.Random(seed)
    pipe = {"op": "pipe", "states": [state(CONNS[0], received=3), state(CONNS[1], sent=2)],
            "len": 0}
    valid = [frame(json.dumps({"op": "prepare", "conns": CONNS}).encode()),
             frame(json.dumps(pipe).encode()) + b"abcde",
             frame(b'{"op": "release"}')]
    for _ in range(rounds):
        b = bytearray(b"".join(valid[:rnd.randint(1, 3)]))
        for _ in range(rnd.randint(0, 6)):
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        if rnd.random() < 0.3:
            del b[rnd.randrange(len(b) + 1):]
        if rnd.random() < 0.3:
            b += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
        s = stream()
        s.sendall(bytes(b))
        s.shutdown(socket.SHUT_WR)
        while recv(s) is not None:
            pass
        s.close()
    return f"{rounds} streams, seed {seed}"


def too_many_streams():
    held = [stream() for _ in range(MAX_SESSIONS)]
    time.sleep(0.5)
    reason = refused_and_closed(stream(), "requests open already")
    for s in held:
        s.close()
    time.sleep(0.5)
    s = stream()
    send(s, {"op": "release"})
    answer(s, "ok")
    return reason


case("length over the limit", raw(struct.pack("!I", 0xFFFFFFFF)))
case("not JSON", raw(frame(b'{"op"')))
case("unknown request", raw(frame(b'{"op": "explode"}')))
case("a request without its fields", raw(frame(b'{"op": "pipe"}')))
case("a message cut short, then silence", cut_short)
case("another guest's address",
     request({"op": "prepare", "conns": [conn(80, 4000, local="10.0.0.99"), CONNS[1]]},
             "not this guest's address"))
case("ends of two families",
     request({"op": "prepare", "conns": [conn(80, 4000, peer="fd00::1"), CONNS[1]]},
             "different families"))
case("one connection as both",
     request({"op": "prepare", "conns": [CONNS[0], CONNS[0]]}, "one connection"))
case("pipe before prepare",
     request({"op": "pipe", "states": [state(c) for c in CONNS], "len": 0},
             "out of order", refused_and_closed))
case("prepare twice", request({"op": "prepare", "conns": CONNS}, "out of order",
                              refused_and_closed, opening=prepared))
case("a state of another connection",
     request({"op": "pipe", "states": [state(conn(5303, 4003)), state(CONNS[1])], "len": 0},
             "not of the connection prepared", opening=prepared))
case("MSS 0", request({"op": "pipe", "states": [state(CONNS[0], mss=0), state(CONNS[1])],
                       "len": 0}, "MSS 0", opening=prepared))
case("window scale 15",
     request({"op": "pipe", "states": [state(CONNS[0]), state(CONNS[1], wscale=[7, 15])],
              "len": 0}, "scale 15", opening=prepared))
case("queues claimed over the message limit",
     request({"op": "pipe", "states": [state(CONNS[0], sent=40 << 20),
                                       state(CONNS[1], received=40 << 20)], "len": 0},
             "message too long", refused_and_closed, opening=prepared))
case("queue bytes cut short, then silence",
     request({"op": "pipe", "states": [state(CONNS[0], received=1000), state(CONNS[1])],
              "len": 0}, "no request within", refused_and_closed, opening=prepared))
case("silence after prepare", silent_after_prepare)
case("mutated messages (fuzzed)", fuzzed)
case("stream dropped after prepare", dropped_after_prepare)
case("one connection from two streams", one_connection_twice)
case("more streams than the agent takes", too_many_streams)
