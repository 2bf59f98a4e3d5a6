#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Asks the vPipe repair helper (vpipe-repair, at the socket path given)
for more than the caller owns; each request must be refused (EPERM, or
EINVAL for what is not a TCP socket) and the helper must go on. Run as an
unprivileged user in the guest's namespace. Prints one line per case;
exits non-zero at the first that is not refused so."""
import errno
import socket
import struct
import sys

FREEZE, THAW, THAW_QUIET, BIND, BUFS = 1, 2, 3, 4, 5
path = sys.argv[1]
helper = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
helper.connect(path)


def ask(cmd, sock, arg=b""):
    socket.send_fds(helper, [bytes([cmd]) + arg], [sock.fileno()])
    return struct.unpack("<i", helper.recv(4))[0]


def case(name, want, got):
    if got != want:
        print(f"FAIL: {name}: errno {got}, want {want}")
        sys.exit(1)
    print(f"ok: {name}: {errno.errorcode.get(got, got)}")


fresh = socket.socket()
case("a fresh socket bound to a port never frozen", errno.EPERM,
     ask(BIND, fresh, b"0.0.0.0:22"))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
case("repair on for a listener", errno.EPERM, ask(FREEZE, listener))
case("repair off for a socket not in repair", errno.EPERM, ask(THAW, fresh))
case("forced buffers out of repair", errno.EPERM,
     ask(BUFS, fresh, struct.pack("<II", 1 << 30, 1 << 30)))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
case("a UDP socket", errno.EINVAL, ask(FREEZE, udp))
case("an unknown command", errno.EINVAL, ask(9, fresh))
case("a bad address", errno.EINVAL, ask(BIND, fresh, b"not an address"))
