#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Side-by-side transfers of --size bytes, remote -> guest, without and
with ack offload (switched every block of transfers), timed at the
guest's application, which verifies every byte. One process: a receiver
thread in the guest's netns, the sender in the remote's (setns per
thread). Writes one JSON line per transfer: mode, t0 (sender starts),
t_end (guest application has every byte), bytes verified, the sender's
port."""
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


def receiver(args, ends, ready):
    enter(args.guest_ns)
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
    args = ap.parse_args()
    ends, ready = {}, threading.Event()
    t = threading.Thread(target=receiver, args=(args, ends, ready), daemon=True)
    t.start()
    ready.wait()
    starts = []

    def sender():
        enter(args.remote_ns)
        data = pattern(args.size)
        mode = None
        modes = args.modes.split(",")
        for i in range(args.n):
            want = modes[(i // args.block) % len(modes)]
            if want != mode:
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

    st = threading.Thread(target=sender)
    st.start()
    st.join()
    t.join(timeout=30)
    with open(args.out, "w") as f:
        for port, mode, t0 in starts:
            t_end, got = ends.get(port, (None, 0))
            f.write(json.dumps({"port": port, "mode": mode, "t0": t0, "t_end": t_end,
                                "bytes": got}) + "\n")


if __name__ == "__main__":
    main()
