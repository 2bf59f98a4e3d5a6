#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Figures of the ack offload benchmark from the VM run's raw files:
transfers.jsonl, always.jsonl (the same with a guest that always
runs), fins.txt (tcpdump -tt of the sender's FINs leaving the
host toward the guest), wakes.txt (tapguest's wake-ups); and the
pps.txt of the instruction-counted VM run."""
import json, statistics, sys

d, pps_file, active_s = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000
rows = [json.loads(l) for l in open(f"{d}/transfers.jsonl")]
bad = [r for r in rows if r["t_end"] is None or r["bytes"] != 100_000]
wakes = sorted(float(l) for l in open(f"{d}/wakes.txt") if l.strip())
fins = {}
for line in open(f"{d}/fins.txt"):
    f = line.split()
    if len(f) > 3 and f[1] == "IP":
        fins.setdefault(int(f[2].rsplit(".", 1)[1]), float(f[0]))


def guest_sees(t):
    """When the guest next runs at or after t: t itself inside an active
    slot, else the next wake-up."""
    import bisect
    i = bisect.bisect_right(wakes, t)
    if i and t < wakes[i - 1] + active_s:
        return t
    return wakes[i] if i < len(wakes) else None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


ms = lambda x: 1000 * x
off = [r["t_end"] - r["t0"] for r in rows if r["mode"] == "off" and r["t_end"]]
on = [r["t_end"] - r["t0"] for r in rows if r["mode"] == "on" and r["t_end"]]
always = [json.loads(l) for l in open(f"{d}/always.jsonl")]
a_off = [r["t_end"] - r["t0"] for r in always if r["mode"] == "off" and r["t_end"]]
a_on = [r["t_end"] - r["t0"] for r in always if r["mode"] == "on" and r["t_end"]]
bounds = []
for r in rows:
    if r["mode"] == "on" and r["port"] in fins:
        g = guest_sees(fins[r["port"]])
        if g is not None:
            bounds.append(g - r["t0"])
print(f"transfers: {len(off)} without, {len(on)} with ack offload; {len(bad)} incomplete")
print(f"without: median {ms(statistics.median(off)):.1f} ms, p90 {ms(pct(off, 90)):.1f} ms")
print(f"with:    median {ms(statistics.median(on)):.1f} ms, p90 {ms(pct(on, 90)):.1f} ms")
print(f"bound:   median {ms(statistics.median(bounds)):.1f} ms, p90 {ms(pct(bounds, 90)):.1f} ms "
      f"({len(bounds)} transfers: last byte at the host, then the guest's next run)")
speedup = statistics.median(off) / statistics.median(on)
bound_ratio = statistics.median(on) / statistics.median(bounds)
print(f"guest always running ({len(a_off)} + {len(a_on)} transfers): without median "
      f"{ms(statistics.median(a_off)):.1f} ms, with {ms(statistics.median(a_on)):.1f} ms "
      f"(p90 {ms(pct(a_off, 90)):.1f} / {ms(pct(a_on, 90)):.1f} ms)")
print(f"p90 ratio {pct(off, 90) / pct(on, 90):.2f}x")
# With offload the guest still has to run to take the last byte: no ack
# offload can beat the bound, so without / bound caps the speedup here.
print(f"speedup ceiling (without median / bound median): "
      f"{statistics.median(off) / statistics.median(bounds):.2f}x")
# pps: per round, each state's rate; the VM counted instructions, so a
# rate is the inverse of the instructions a frame costs.
rounds = {}
for line in open(pps_file):
    r, state, v = line.split()
    rounds.setdefault(int(r), {})[state] = float(v)
rounds = [x for x in rounds.values() if len(x) == 3]
med = lambda state: statistics.median(x[state] for x in rounds)
print(f"bridge pps, 64-byte frames to a port without offload, {len(rounds)} rounds, "
      f"instruction-counted VM: module not loaded {med('unloaded'):.0f}, loaded "
      f"{med('loaded'):.0f}, loaded with the port attached {med('attached'):.0f} (medians)")
costs = {}
for state in ("loaded", "attached"):
    ratios = [x[state] / x["unloaded"] for x in rounds]
    costs[state] = 100 * (1 - statistics.median(ratios))
    print(f"  {state}/not loaded per round: {' '.join(f'{r:.3f}' for r in ratios)} "
          f"-> cost {costs[state]:.1f}%")
# The summary takes the attached port: its frames are counted, not
# offloaded, which is the most vassist does to traffic it leaves untouched.
print(f"ack-offload: median speedup {speedup:.2f}x, bound ratio {bound_ratio:.2f}x, "
      f"untouched pps cost {costs['attached']:.1f}%")
