#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Sends malformed vassist netlink requests over a raw generic netlink
socket (what a library like ynl never sends) and checks that each is
rejected with an errno and an extended-ack message. Prints one line per
case; exits non-zero on the first that is not rejected properly."""
import errno
import os
import socket
import struct
import sys

NETLINK_EXT_ACK = 11
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
CMD_PORT_ADD = 1
A_IFINDEX, A_IFNAME, A_FEATURES = 1, 2, 4


def attr(typ, payload, length=None):
    ln = 4 + len(payload) if length is None else length
    raw = struct.pack("=HH", ln, typ) + payload
    return raw + b"\0" * (-len(raw) % 4)


def request(sock, family, cmd, body, seq):
    msg = struct.pack("=BBH", cmd, 1, 0) + body
    hdr = struct.pack("=IHHII", 16 + len(msg), family, NLM_F_REQUEST | NLM_F_ACK, seq, 0)
    sock.send(hdr + msg)
    data = sock.recv(65536)
    ln, typ, flags, rseq, _ = struct.unpack_from("=IHHII", data)
    assert typ == NLMSG_ERROR, f"reply type {typ}"
    err = -struct.unpack_from("=i", data, 16)[0]
    text = None
    if flags & NLM_F_ACK_TLVS:
        inner = 16 if flags & NLM_F_CAPPED else struct.unpack_from("=I", data, 20)[0]
        off = 20 + ((inner + 3) & ~3)
        while off + 4 <= ln:
            alen, atyp = struct.unpack_from("=HH", data, off)
            if alen < 4:
                break
            if atyp == 1:  # NLMSGERR_ATTR_MSG
                text = data[off + 4:off + alen].rstrip(b"\0").decode()
            off += (alen + 3) & ~3
    return err, text


def main():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
    sock.setsockopt(270, NETLINK_EXT_ACK, 1)  # SOL_NETLINK
    sock.bind((0, 0))
    # Resolve the family.
    body = attr(CTRL_ATTR_FAMILY_NAME, b"vassist\0")
    msg = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + body
    sock.send(struct.pack("=IHHII", 16 + len(msg), GENL_ID_CTRL, NLM_F_REQUEST, 1, 0) + msg)
    data = sock.recv(65536)
    off, family = 20, None
    while off + 4 <= len(data):
        alen, atyp = struct.unpack_from("=HH", data, off)
        if atyp == CTRL_ATTR_FAMILY_ID:
            family = struct.unpack_from("=H", data, off + 4)[0]
        off += (alen + 3) & ~3
    assert family, "vassist family not found"
    ifname = sys.argv[1].encode()
    cases = [
        ("attribute longer than the message", attr(A_IFNAME, ifname + b"\0", length=200)),
        ("u32 attribute of 2 bytes", attr(A_IFINDEX, b"\1\0")),
        ("unknown attribute type", attr(A_IFNAME, ifname + b"\0") + attr(99, b"\0\0\0\0")),
        ("string without its NUL", attr(A_IFNAME, ifname)),
        ("attribute length below its header", attr(A_IFNAME, b"", length=2)),
    ]
    ok = True
    for seq, (name, body) in enumerate(cases, start=10):
        err, text = request(sock, family, CMD_PORT_ADD, body, seq)
        good = err in (errno.EINVAL, errno.ERANGE) and text
        print(f"{'ok' if good else 'BAD'}: {name}: {os.strerror(err) if err else 'accepted'}; extack: {text!r}")
        ok &= bool(good)
    err, text = request(sock, family, 42, b"", 99)
    print(f"{'ok' if err == errno.EOPNOTSUPP else 'BAD'}: unknown command: {os.strerror(err) if err else 'accepted'}")
    ok &= err == errno.EOPNOTSUPP
    sys.exit(0 if ok else 1)


main()
