#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Side-by-side transfers of --size bytes, remote -> guest, without and
with ack offload (switched every block of transfers), timed at the
guest's application, which verifies every byte. One process: a receiver
thread in the guest's netns, the sender in the remote's (setns per
thread). Writes one JSON line per transfer: mode, t0 (sender starts),
t_end (guest application has every byte), bytes verified, the sender's
port. With --stats FILE, also what each mode's blocks changed: the port's
counters, the sender's and the guest's TCP counters (JSON by mode)."""
import argparse, ctypes, json, os, socket, subprocess, threading, time

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def enter(ns):
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), f"setns {ns}")
    os.close(fd)


# What each mode sets on the port; "MODE@BYTES" also sets buf-size (else
# it stays as the port has it: the module's default, or an earlier mode's).
MODES = {
    "off": ["snoop", "off"],
    "on": ["snoop", "on", "window-growth", "0"],
    "grow": ["snoop", "on", "window-growth", "1"],
}


def settings(mode):
    name, _, buf = mode.partition("@")
    return MODES[name] + (["buf-size", buf] if buf else [])


def pattern(size):
    """The bytes sent: a 251-byte cycle, so a byte out of place shows."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


class TcpCounters:
    """The TCP counters of the calling thread's netns (/proc/net/snmp and
    netstat, opened now: a read later gives that netns's counters)."""

    def __init__(self):
        self.files = [open(f"/proc/thread-self/net/{f}") for f in ("snmp", "netstat")]

    def read(self):
        c = {}
        for f in self.files:
            f.seek(0)
            lines = f.read().splitlines()
            for names, values in zip(lines[::2], lines[1::2]):
                kind, names = names.split(":")
                if kind in ("Tcp", "TcpExt"):
                    for k, v in zip(names.split(), values.split(":")[1].split()):
                        c[k] = int(v)
        return c


def port_counters(args):
    out = subprocess.run(["ip", "netns", "exec", args.host_ns, "vassistctl", "-j", "port", "show",
                          "dev", "tap0"], check=True, capture_output=True, text=True).stdout
    return {k: v for k, v in json.loads(out)[0]["stats"].items() if isinstance(v, int)}


def add_delta(into, before, after):
    for k, v in after.items():
        d = v - before.get(k, 0)
        if d:
            into[k] = into.get(k, 0) + d


def receiver(args, ends, ready, counters):
    enter(args.guest_ns)
    counters.append(TcpCounters())
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", args.port))
    srv.listen(8)
    ready.set()
    want = memoryview(pattern(args.size))
    for _ in range(args.n):
        c, peer = srv.accept()
        got, good = 0, 0
        while got < args.size:
            b = c.recv(65536)
            if not b:
                break
            if good == got and b == want[got:got + len(b)]:
                good += len(b)
            got += len(b)
        ends[peer[1]] = (time.time(), good)
        c.sendall(b"k")
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host-ns", required=True)
    ap.add_argument("--remote-ns", required=True)
    ap.add_argument("--guest-ns", required=True)
    ap.add_argument("--guest-ip", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--port", type=int, default=5601)
    ap.add_argument("--modes", default="off,on",
                    help="port settings taken in turn, a block each: "
                    + ", ".join(MODES) + ", each with an optional @BUF_SIZE")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats", help="per-mode counters to this file (JSON)")
    args = ap.parse_args()
    ends, ready, guest = {}, threading.Event(), []
    t = threading.Thread(target=receiver, args=(args, ends, ready, guest), daemon=True)
    t.start()
    ready.wait()
    starts, stats = [], {}

    def sender():
        enter(args.remote_ns)
        remote = TcpCounters()
        data = pattern(args.size)
        mode, was = None, None

        def snapshot():
            return {"port": port_counters(args), "sender": remote.read(), "guest": guest[0].read()}

        def account():
            now = snapshot()
            if mode is not None:
                m = stats.setdefault(mode, {"port": {}, "sender": {}, "guest": {}})
                for k in now:
                    add_delta(m[k], was[k], now[k])
            return now

        modes = args.modes.split(",")
        for i in range(args.n):
            want = modes[(i // args.block) % len(modes)]
            if want != mode:
                if args.stats:
                    was = account()
                subprocess.run(["ip", "netns", "exec", args.host_ns, "vassistctl", "port",
                                "set", "dev", "tap0"] + settings(want), check=True,
                               stdout=subprocess.DEVNULL)
                mode = want
                time.sleep(0.05)
            t0 = time.time()
            s = socket.create_connection((args.guest_ip, args.port))
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
            starts.append((s.getsockname()[1], mode, t0))
            s.close()
        if args.stats:
            time.sleep(0.2)
            account()

    st = threading.Thread(target=sender)
    st.start()
    st.join()
    t.join(timeout=30)
    with open(args.out, "w") as f:
        for port, mode, t0 in starts:
            t_end, got = ends.get(port, (None, 0))
            f.write(json.dumps({"port": port, "mode": mode, "t0": t0, "t_end": t_end,
                                "bytes": got}) + "\n")
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats, f, indent=1)


if __name__ == "__main__":
    main()
