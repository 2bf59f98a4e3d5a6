#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Reports bench/zone-port/rx-vm.sh's lines: of rx.txt (round size mode
sent received busy_ns notifications receiver_ns), instructions per frame
by receive path, split between the kernel and the receiving process; of
notify.txt (round kind notify sent received placed notifications p50_ns
p90_ns), each way of notifying's first-frame latency and notifications per
frame; medians over rounds, and the summary line."""
import statistics
import sys
from collections import defaultdict

MODES = ["base", "tap", "packet", "xdp", "zone"]
NAMES = {
    "base": "no consumer (dropped at the hook)",
    "tap": "tap read()",
    "packet": "AF_PACKET TPACKET_V3",
    "xdp": "AF_XDP copy, generic XDP (veth)",
    "zone": "zone port",
}

runs = defaultdict(list)
for line in open(sys.argv[1]):
    r, size, mode, sent, got, busy, notes, own = line.split()
    if r == "warm":
        continue
    runs[(int(size), mode)].append(
        (int(sent), int(got), int(busy), int(notes), int(own))
    )

print("# Receive into a userspace consumer: 64-frame bursts 3 ms apart from a")
print("# sender in the remote's namespace, through veth and bridge, out of tap0.")
print("# instr/frame: CPU time all tasks ran over the run per frame sent (all of it:")
print("# sender, veth, bridge, receive); receive: minus the no-consumer run;")
print("# of which the receiving process (system calls included) and the kernel")
print("# (the softirq: bridge, hook, tap queue or zone placement);")
print("# pps: 1e9 / receive instr, the receive path's capacity on this CPU model.")
print("# Medians of %d rounds; lost: frames sent and not received, all rounds."
      % max(len(v) for v in runs.values()))
summary = {}
for size in sorted({s for s, _ in runs}):
    print()
    print(f"{size}-byte frames")
    print(f"{'path':36} {'instr/frame':>12} {'receive':>8} {'process':>8} {'kernel':>8} "
          f"{'pps':>9} {'lost':>5} {'notif/frame':>11}")
    per = {}
    own = {}
    for mode in MODES:
        v = runs.get((size, mode))
        if not v:
            continue
        per[mode] = statistics.median(b / s for s, _, b, _, _ in v)
        own[mode] = statistics.median(o / s for s, _, _, _, o in v)
    base = per.get("base", 0)
    for mode in MODES:
        v = runs.get((size, mode))
        if not v:
            continue
        recv = per[mode] - base
        lost = 0 if mode == "base" else sum(s - min(g, s) for s, g, _, _, _ in v)
        notes = statistics.median(n / s for s, _, _, n, _ in v)
        recv_only = mode != "base"
        pps = f"{1e9 / recv:,.0f}" if recv_only and recv > 0 else "-"
        rs = f"{recv:,.0f}" if recv_only else "-"
        ps = f"{own[mode]:,.0f}" if recv_only else "-"
        ks = f"{recv - own[mode]:,.0f}" if recv_only else "-"
        nf = f"{notes:.3f}" if mode == "zone" else "-"
        print(f"{NAMES[mode]:36} {per[mode]:>12,.0f} {rs:>8} {ps:>8} {ks:>8} "
              f"{pps:>9} {lost:>5} {nf:>11}")
    if all(m in per for m in MODES):
        rz = per["zone"] - base
        summary[size] = (
            (per["tap"] - base) / rz,
            (per["packet"] - base) / rz,
            (per["xdp"] - base) / rz,
        )
    print("receive cost ratios: tap read / zone %.2fx, AF_PACKET / zone %.2fx, "
          "AF_XDP / zone %.2fx" % summary[size] if size in summary else "")
if 64 in summary:
    v = {m: statistics.median(b / s for s, _, b, _, _ in runs[(64, m)]) for m in MODES}
    o = {m: statistics.median(x / s for s, _, _, _, x in runs[(64, m)]) for m in MODES}
    tap = v["tap"] - v["base"]
    zone = v["zone"] - v["base"]
    print()
    print(f"# Target rx 64B >= 2x tap read: zone receive <= {tap / 2:,.0f} instr/frame; it is")
    print(f"# {zone:,.0f}: {zone - tap / 2:,.0f} over. The zone's consumer takes {o['zone']:,.0f}"
          f" (tap's read() {o['tap']:,.0f});")
    print(f"# its placement in the kernel {zone - o['zone']:,.0f} against the tap's queueing"
          f" {tap - o['tap']:,.0f}. Per frame the")
    print("# placement takes the lock, takes returned buffers, reads the frame's headers")
    print("# through separate helper calls, copies, publishes, fences and frees the skb;")
    print("# what would reach the target: the same work per host batch (returns taken,")
    print("# the index published and the fence once per softirq batch, which is also")
    print("# where EoC decides), one helper call for the headers, and a consumer that")
    print("# gives buffers back per batch. Instruction counts also undercount what a")
    print("# read() per frame costs on hardware (mode switches with mitigations, cache")
    print("# and TLB effects), where no KVM host was at hand to measure: /dev/kvm here")
    print("# cannot boot a normal kernel.")

notify = defaultdict(list)
for line in open(sys.argv[2]):
    f = line.split()
    r, kind, mode = f[:3]
    sent, got, placed, notes, p50, p90 = (int(x) for x in f[3:9])
    notify[(kind, mode)].append((sent, got, placed, notes, p50, p90))
NOTIFIES = ["evi-eoc", "every-frame", "timer"]
print()
print("# Notifying the zone consumer, each way in turn on the same traffic (64-byte")
print("# frames): first-frame latency of lone frames 2 ms apart, from sending to the")
print("# consumer taking each (ns = instructions here), and notifications per frame")
print("# placed at saturation (256-frame bursts 100 us apart, the CPU busy throughout).")
print("# timer: a 50 us coalescer (virtio NOTF_COAL, ethtool rx-usecs). Medians of rounds.")
print(f"{'notify':12} {'p50 ns':>9} {'p90 ns':>9} {'notif/frame lone':>17} "
      f"{'notif/frame sat':>16} {'lost sat':>9}")
med = {}
for mode in NOTIFIES:
    lat = notify.get(("latency", mode))
    sat = notify.get(("saturation", mode))
    if not lat or not sat:
        continue
    p50 = statistics.median(x[4] for x in lat)
    p90 = statistics.median(x[5] for x in lat)
    lone = statistics.median(x[3] / max(x[2], 1) for x in lat)
    nsat = statistics.median(x[3] / max(x[2], 1) for x in sat)
    lost = sum(x[0] - min(x[1], x[0]) for x in sat)
    med[mode] = (p50, nsat)
    print(f"{mode:12} {p50:>9,.0f} {p90:>9,.0f} {lone:>17.3f} {nsat:>16.3f} {lost:>9}")
copies = "n/a"
if len(sys.argv) > 3:
    g2g = {}
    for line in open(sys.argv[3]):
        f = line.split()
        g2g[f[0]] = f[1:]
    if "zone" in g2g:
        sent, copied, placed, ms = (int(x) for x in g2g["zone"])
        print()
        print("# Guest to guest: two tapguest guests on two zone ports of one bridge, a")
        print("# verified 8 MiB TCP transfer; bytes each port copied, counted by the ports:")
        print(f"#   sent from the first port's zones   {sent:>12,} bytes")
        print(f"#   copied there (headers, into skbs)  {copied:>12,} ({copied / sent:.3f} per byte)")
        print(f"#   placed in the second port's zones  {placed:>12,} ({placed / sent:.3f} per byte)")
        print(f"# copies per byte sent: {(copied + placed) / sent:.2f}: the payload once (placed),")
        print("# the headers twice (tap to tap: every byte twice, a write's copy into the")
        print("# skb and a read's out of it)")
        if "tap" in g2g:
            print(f"# transfer time (instructions): zone ports {ms:,} ms, taps {int(g2g['tap'][3]):,} ms")
        copies = f"{placed / sent:.0f}"
print()
print("# AF_XDP runs on the peer of a veth port (a tap's frames toward the guest")
print("# never pass XDP: generic XDP runs on a device's receive, and tap0 transmits")
print("# them): its cost includes the veth hop, as the tap's includes its queue.")
if 64 in summary and "evi-eoc" in med and "every-frame" in med:
    tap, pkt, xdp = summary[64]
    ratio = med["evi-eoc"][0] / med["every-frame"][0]
    print(f"zone-port: rx 64B {tap:.2f}x tap-read, {min(pkt, xdp):.2f}x best-of(af_packet,af_xdp), "
          f"notifications/frame {med['evi-eoc'][1]:.2f}, first-frame p50 {ratio:.2f}x "
          f"every-frame, guest-to-guest copies {copies}")
