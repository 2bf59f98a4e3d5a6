#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The buf-size comparison: per mode, completed transfers, median and p90
completion time at the guest's application, speedup over no offload."""
import json
import statistics
import sys


def main(run, size):
    times, lost = {}, 0
    for line in open(f"{run}/bufsize.jsonl"):
        r = json.loads(line)
        if r["t_end"] is None or r["bytes"] != size:
            lost += 1
            continue
        times.setdefault(r["mode"], []).append((r["t_end"] - r["t0"]) * 1000)
    port = json.load(open(f"{run}/bufsize.port.json"))[0]["stats"]
    base = statistics.median(times["off"])
    print(f"N=3, {size / 1e6:g} MB transfers, a block of 5 per mode in turn; {lost} incomplete or wrong;"
          f" re-sends {port.get('resends', 0)}")
    for mode, t in times.items():
        t.sort()
        med, p90 = statistics.median(t), t[max(0, int(len(t) * 0.9) - 1)]
        print(f"  {mode:16} n={len(t):3}  completion median {med:6.1f} ms, p90 {p90:6.1f} ms;"
              f" speedup {base / med:4.2f}x")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000)
