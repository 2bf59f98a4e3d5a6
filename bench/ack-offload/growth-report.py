#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Figures of bench/ack-offload/growth-vm.sh: per case, each mode's
completion time (median, p90) at the guest's application, growth's ratio
to offload without it, and per mode the port's counters, the sender's loss
recovery and the guest's drops and duplicates."""
import glob
import json
import os
import re
import statistics as st
import sys

d = sys.argv[1]

# Per mode: what the port did, the segments the sender took in (acks) and
# its retransmissions (and the duplicates the guest reported), what the
# guest sent (acks), dropped or got twice.
COUNTERS = (
    ("port", ("early-acks", "resends", "ring-drops", "parked", "released")),
    ("sender", ("InSegs", "RetransSegs", "TCPSackRecovery", "TCPLossProbes", "TCPTimeouts",
                "TCPDSACKRecv")),
    ("guest", ("OutSegs", "TCPDSACKOldSent", "TCPRcvQDrop", "TCPZeroWindowDrop")),
)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def case_key(path):
    n, size = re.match(r"n(\d+)-(\d+)\.jsonl", os.path.basename(path)).groups()
    return int(n), int(size)


print("window growth against offload without it (completion at the guest's application, ms);")
print("N=1: the guest keeps running; N=3: it runs 30 ms of every 90 (60% load)")
for path in sorted(glob.glob(f"{d}/n*.jsonl"), key=case_key):
    n, size = case_key(path)
    rows = [json.loads(line) for line in open(path)]
    t = {}
    bad = 0
    for r in rows:
        if not r.get("t_end") or r.get("bytes") != size:
            bad += 1
            continue
        t.setdefault(r["mode"], []).append((r["t_end"] - r["t0"]) * 1000)
    parts = [f"{m} median {st.median(v):7.1f} p90 {pct(v, 0.9):7.1f} (n={len(v)})" for m, v in t.items()]
    ratio = ""
    if "on" in t and "grow" in t:
        ratio = f"; growth {st.median(t['on']) / st.median(t['grow']):.2f}x"
    print(f"N={n} {size // 1000} KB: " + "; ".join(parts) + ratio + f"; {bad} incomplete or wrong")
    for mode, c in json.load(open(path.replace(".jsonl", ".stats.json"))).items():
        print(f"  {mode}: " + "; ".join(
            f"{who} " + " ".join(f"{k} {c[who].get(k, 0)}" for k in keys) for who, keys in COUNTERS))
