#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Figures of the ack offload benchmark from the VM runs' raw files (see
transfers-vm.sh and pps-vm.sh): ping RTTs (rtt-*.txt), and per transfer
set NAME: NAME.jsonl (one line per transfer), NAME.data (tcpdump -tt of
the data segments the host hands to the guest's tap), NAME.wakes (the guest
helper's wake-ups), NAME.port.json (the port's counters); the pps.txt of
the instruction-counted run. Ends with the summary line."""
import bisect, json, os, re, statistics, sys

d, pps_file = sys.argv[1], sys.argv[2]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ms(x):
    return 1000 * x


# --- Figure 1(a) -------------------------------------------------------------
def rtt_row(kind):
    cells = []
    for n in (1, 2, 3, 5):
        f = f"{d}/rtt-{kind}-{n}.txt"
        if not os.path.exists(f):
            return None
        r = [float(x) for x in open(f) if x.strip()]
        cells.append(f"N={n} {med(r):5.1f} / {pct(r, 90):5.1f}" if r else f"N={n} no replies")
        cells[-1] += f" ({len(r)})"
    return "  ".join(cells)


print("Figure 1(a): ping RTT (ms, median / p90, replies of 300) to a guest with 60% CPU load,")
print("N VMs per core; the paper: RTT rises with N in steps of Xen's 30 ms slice")
for kind, what in (("model", "round-robin model, 30 ms slice (tapguest --vms N)"),
                   ("hogs", "N-1 hogs at 60% on the helper's CPU, Linux scheduler"),
                   ("kvm", "KVM guest, its QEMU on a CPU with N-1 hogs at 60%")):
    row = rtt_row(kind)
    print(f"  {what}:\n    {row}" if row else f"  {what}: not run")


kvm = f"{d}/kvm-n3-100000.txt"
if os.path.exists(kvm):
    t = {"off": [], "on": []}
    for line in open(kvm):
        mode, secs = line.split()
        t[mode].append(float(secs))
    print(f"  KVM guest beside 2 hogs, 100 KB, receiver's time from accept ({len(t['off'])} + "
          f"{len(t['on'])}): without median {ms(med(t['off'])):.1f} ms (p90 {ms(pct(t['off'], 90)):.1f}), "
          f"with {ms(med(t['on'])):.1f} ms (p90 {ms(pct(t['on'], 90)):.1f})")


# --- transfers -----------------------------------------------------------------
OFFLOADED = ("on", "grow")
LABEL = {"off": "without", "on": "offload", "grow": "offload+growth"}


class Set:
    """One transfer set: completion times per mode (off, on, grow), and
    the bound of each transfer with offload."""

    def __init__(self, name):
        self.name = name
        rows = [json.loads(l) for l in open(f"{d}/{name}.jsonl")]
        self.size = int(name.rsplit("-", 1)[1])
        self.lost = sum(self.size - r["bytes"] for r in rows if r["mode"] in OFFLOADED)
        self.incomplete = sum(1 for r in rows if r["t_end"] is None or r["bytes"] != self.size)
        self.t = {}
        for r in rows:
            if r["t_end"]:
                self.t.setdefault(r["mode"], []).append(r["t_end"] - r["t0"])
        self.modes = [m for m in ("off", "on", "grow") if m in self.t]
        wakes = sorted(float(l) for l in open(f"{d}/{name}.wakes") if l.strip())
        # When each transfer's last byte reached the host: its first
        # segment (relative sequence numbers) that ends at size + 1.
        last = {}
        for line in open(f"{d}/{name}.data"):
            f = line.split()
            if len(f) < 8 or f[1] != "IP" or "seq" not in f:
                continue
            end = f[f.index("seq") + 1].rstrip(",").split(":")[-1]
            if end.isdigit() and int(end) >= self.size + 1:
                last.setdefault(int(f[2].rsplit(".", 1)[1]), float(f[0]))

        def guest_sees(t):
            # The guest's next turn (it takes, per turn, what was queued
            # when the turn began); t itself for a guest that always runs.
            if not wakes:
                return t
            i = bisect.bisect_right(wakes, t)
            return wakes[i] if i < len(wakes) else None

        # The bound of a transfer: the last byte reached the host, then the
        # guest's next turn. Per mode: how soon the last byte arrives is
        # what an offload changes.
        self.bound = {}
        for r in rows:
            if r["mode"] in OFFLOADED and r["port"] in last:
                g = guest_sees(last[r["port"]])
                if g is not None:
                    self.bound.setdefault(r["mode"], []).append(g - r["t0"])
        port = json.load(open(f"{d}/{name}.port.json"))[0]["stats"]
        self.resends, self.early = port.get("resends", 0), port.get("early-acks", 0)

    def mbps(self, mode):
        return self.size / med(self.t.get(mode, [])) / 1e6

    def speedup(self, mode):
        return med(self.t["off"]) / med(self.t[mode])

    def p90_speedup(self, mode):
        return pct(self.t["off"], 90) / pct(self.t[mode], 90)

    def ceiling(self, mode):
        return med(self.t["off"]) / med(self.bound[mode])

    def bound_ratio(self, mode):
        return med(self.t[mode]) / med(self.bound[mode])

    def show(self, title):
        n = " + ".join(f"{len(self.t[m])} {LABEL[m]}" for m in self.modes)
        print(f"{title}: {n}; {self.incomplete} incomplete or wrong; early acks {self.early}, "
              f"re-sends {self.resends}")
        rows = [(LABEL[m], self.t[m]) for m in self.modes]
        rows += [(f"bound, {m}", self.bound[m]) for m in self.modes if m in self.bound]
        for what, xs in rows:
            print(f"  {what:21} completion median {ms(med(xs)):7.1f} ms, p90 {ms(pct(xs, 90)):7.1f} ms;"
                  f" throughput median {self.size / med(xs) / 1e6:6.2f} MB/s")
        for m in self.modes[1:]:
            print(f"  {LABEL[m]}: median speedup {self.speedup(m):.2f}x (ceiling {self.ceiling(m):.2f}x), "
                  f"p90 speedup {self.p90_speedup(m):.2f}x, bound ratio {self.bound_ratio(m):.2f}x")


sets = {n[:-6]: Set(n[:-6]) for n in os.listdir(d) if n.endswith(".jsonl")}
print()
kb100, mb1 = sets["n3-100000"], sets["n3-1000000"]
kb100.show(f"N=3, {sum(map(len, kb100.t.values()))} x 100 KB (guest helper: 30 ms of every 90 ms)")
mb1.show(f"N=3, {sum(map(len, mb1.t.values()))} x 1 MB")
if "paper-n3-100000" in sets:
    sets["paper-n3-100000"].show("N=3, 100 KB, paper sender (initcwnd 3, reno)")
# The summary's offload: as a user gets it, with the port's default
# window-growth (the spec says which).
spec = open(os.path.join(os.path.dirname(__file__), "../../Documentation/netlink/specs/vassist.yaml")).read()
grows = re.search(r"name: window-growth\n\s+doc: \|.*?Default (\d)", spec, re.S).group(1) == "1"
best = "grow" if grows else "on"

print()
print("Figure 6: median throughput (MB/s), " + " / ".join(LABEL[m] for m in ("off",) + OFFLOADED)
      + " (speedups)")
sizes = (10000, 100000, 1000000, 10000000)
slower = []
for n in (1, 2, 3, 5):
    print(f"  N={n}")
    for s in sizes:
        x = sets.get(f"n{n}-{s}")
        if x is None:
            continue
        mb = " / ".join(f"{x.mbps(m):6.2f}" for m in x.modes)
        sp = " ".join(f"{x.speedup(m):4.2f}x" for m in x.modes[1:])
        print(f"    {s // 1000:>6} KB: {mb}  ({sp})")
        for m in x.modes[1:]:
            if x.speedup(m) < 1:
                slower.append(f"N={n} {s // 1000} KB {LABEL[m]}")
print(f"  cells where offload was slower: {', '.join(slower) if slower else 'none'}")
lost = sum(x.lost for x in sets.values())
resends = sum(x.resends for x in sets.values())
print(f"acked bytes lost (bytes not verified at the guest, offload on, every set): {lost}; "
      f"re-sends from the delivery buffer: {resends}")

# --- pps: per round, each state's rate; the VM counted instructions, so a
# rate is the inverse of the instructions a frame costs.
rounds = {}
for line in open(pps_file):
    r, state, v = line.split()
    rounds.setdefault(int(r), {})[state] = float(v)
rounds = [x for x in rounds.values() if len(x) == 3]
pmed = lambda state: statistics.median(x[state] for x in rounds)
print()
print(f"bridge pps, 64-byte frames to a port without offload, {len(rounds)} rounds, "
      f"instruction-counted VM: module not loaded {pmed('unloaded'):.0f}, loaded "
      f"{pmed('loaded'):.0f}, loaded with the port attached {pmed('attached'):.0f} (medians)")
costs = {}
for state in ("loaded", "attached"):
    ratios = [x[state] / x["unloaded"] for x in rounds]
    # (+ 0.0: a cost that rounds to zero prints as 0.0, not -0.0)
    costs[state] = round(100 * (1 - statistics.median(ratios)), 1) + 0.0
    print(f"  {state}/not loaded per round: {' '.join(f'{r:.3f}' for r in ratios)} "
          f"-> cost {costs[state]:.1f}%")
# -icount shift=0: one instruction per ns of the VM's clock.
per_frame = lambda state: 1e9 / pmed(state) - 1e9 / pmed("unloaded")
print(f"  instructions per frame over not loaded: loaded {round(per_frame('loaded')):+d}, "
      f"attached {round(per_frame('attached')):+d} (of {1e9 / pmed('unloaded'):.0f})")
# "untouched" is the attached port without offload (its frames are counted,
# not offloaded: the most vassist does to traffic it leaves alone).
print(f"ack-offload: N=3 100KB median speedup {kb100.speedup(best):.2f}x (ceiling {kb100.ceiling(best):.2f}x), "
      f"bound ratio {kb100.bound_ratio(best):.2f}x; 1MB median speedup {mb1.speedup(best):.2f}x "
      f"(ceiling {mb1.ceiling(best):.2f}x), bound ratio {mb1.bound_ratio(best):.2f}x; "
      f"untouched pps cost {costs['attached']:.1f}%, loaded pps cost {costs['loaded']:.1f}%, "
      f"acked bytes lost {lost}")
