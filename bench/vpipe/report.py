# SPDX-License-Identifier: GPL-2.0
"""The vPipe benchmark's figures from run-vm.sh's lines, ending with the
summary line."""
import math
import statistics
import sys

PHASES = ("prepare", "freeze", "take", "transfer", "give", "thaw")
runs = {}
handoffs = []
# The trailer's relay right after the response, by mode.
trailers = {}
# Per phase, then the states' bytes each way, then the congestion state a
# restore starts afresh (cwnd at the hand-off and at the hand-back, srtt).
phases = [[] for _ in range(len(PHASES) + 5)]
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 7:
        continue
    rnd, size, mode, us, cpu_ms, trailer, handoff = f[:7]
    if rnd == "warm":
        continue
    runs.setdefault((int(size), mode), []).append((int(us), int(cpu_ms)))
    trailers.setdefault(mode, []).append(int(trailer))
    if handoff != "-":
        handoffs.append(int(handoff))
        for i, v in enumerate(f[7:7 + len(phases)]):
            phases[i].append(int(v))

def mb(n):
    return f"{n >> 20}MB"

print(f"{'size':>6} {'mode':>7} {'runs':>4} {'median ms':>10} {'MB/s':>8} {'CPU s/GB':>9}")
ratio = {}
cpu_ratio = {}
for size in sorted({s for s, _ in runs}):
    med = {}
    cpu = {}
    for mode in ("splice", "vpipe"):
        r = runs.get((size, mode), [])
        if not r:
            continue
        med[mode] = statistics.median(u for u, _ in r)
        cpu[mode] = statistics.median(c for _, c in r) / 1000 / (size / 2**30)
        print(f"{mb(size):>6} {mode:>7} {len(r):>4} {med[mode] / 1000:>10.1f} "
              f"{size / 2**20 / (med[mode] / 1e6):>8.1f} {cpu[mode]:>9.1f}")
    if len(med) == 2:
        ratio[size] = med["splice"] / med["vpipe"]
        cpu_ratio[size] = cpu["vpipe"] / cpu["splice"]
        print(f"{mb(size):>6} vpipe throughput {ratio[size]:.2f}x in-guest splice, "
              f"host CPU per GB {cpu_ratio[size]:.2f}x")
if handoffs:
    handoffs.sort()
    print(f"handoff (both ways): p50 {statistics.median(handoffs):.0f} us, "
          f"min {handoffs[0]} us, max {handoffs[-1]} us, {len(handoffs)} runs")
if all(phases[:-3]):
    parts = ", ".join(f"{n} {statistics.median(p):.0f}" for n, p in zip(PHASES, phases))
    print(f"handoff p50 by phase (us): {parts}; "
          f"states p50 {statistics.median(phases[-5]):.0f} bytes to the host, "
          f"{statistics.median(phases[-4]):.0f} back")
if all(phases[-3:]):
    cwnd0, cwnd1, srtt = (statistics.median(p) for p in phases[-3:])
    # Slow start doubles from the initial window (10) each round trip.
    rtts = max(0, math.ceil(math.log2(max(cwnd1, 1) / 10)))
    print(f"restarted by TCP_REPAIR (p50): the client connection's cwnd {cwnd0:.0f} "
          f"segments at the hand-off, {cwnd1:.0f} at the hand-back, srtt {srtt:.0f} us; "
          f"regrowing from 10 takes {rtts} round trips, {rtts * srtt / 1000:.1f} ms "
          f"for a sender that needs the full window at once")
if len(trailers) == 2:
    t = {m: statistics.median(v) / 1000 for m, v in trailers.items()}
    print(f"the restart, timed: the proxy relays the backend's 256 KB trailer right after the "
          f"response in {t['vpipe']:.1f} ms after a hand-back (p50 of "
          f"{len(trailers['vpipe'])}), {t['splice']:.1f} ms after an in-guest splice "
          f"(p50 of {len(trailers['splice'])}): {t['vpipe'] - t['splice']:+.1f} ms")
big, small = 100 << 20, 1 << 20
if big in ratio and ratio[big] < 3:
    print(f"target: 100MB >= 3x in-guest splice: not reached ({ratio[big]:.2f}x); "
          "see bench/README.md")
fmt = lambda d, k: f"{d[k]:.2f}x" if k in d else "n/a"
p50 = f"{statistics.median(handoffs):.0f}us" if handoffs else "n/a"
print(f"vpipe: socket-to-socket 100MB {fmt(ratio, big)} in-guest splice, "
      f"1MB {fmt(ratio, small)}, handoff p50 {p50}, host CPU {fmt(cpu_ratio, big)} per GB")
