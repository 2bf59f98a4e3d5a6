// SPDX-License-Identifier: GPL-2.0

//! Ack offload (vSnoop) on a port: moves the packets the rules in
//! [`crate::policy::snoop`] decide about. Toward the guest, a segment the
//! host acknowledges is first handed to the tap (the bridge's transmit,
//! done here to learn that the device took it) and only then acked, out of
//! the port the segment came in by. From the guest, ACKs are dropped or
//! rewritten in place.
//!
//! Which ports get early acks: a tap (drivers/net/tun.c) with a reader
//! attached and a FIFO qdisc, where the frame's way from this hook to the
//! reader's ring is known: `tun_net_xmit` puts it in a ring of
//! `tx_queue_len` entries or drops it, counting `tx_dropped`, and the
//! reader's copy counts `tx_packets`. The ring gauge keeps the ring below
//! `tx_queue_len - ring-margin`. Other devices (veth, physical ports) hand
//! frames on to places whose room vassist cannot see: no early acks there,
//! though guest ACKs are still tracked.

use crate::flows::FlowTable;
use crate::flows::{Entry, Found, InsertError, Keep};
use crate::policy::snoop::{
    apply_rewrite, build_ack, tun_ring_limit, Flow, FlowKey, FromGuest, Offline, Params, RingGauge,
    ToGuest, ACK_FRAME_MAX,
};
use crate::policy::tcp::{self, Segment};
use crate::port::Port;
use crate::sys::netdev::NetDev;
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::{RcuBox, RcuRead};
use crate::sys::rtnl::Rtnl;
use crate::sys::skb::PTR_RING_CACHE_BATCH;
use crate::sys::skb::{Egress, SkBuff};
use crate::sys::time;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::prelude::*;

/// Bytes of headers read to parse a segment: IP with options or extension
/// headers, TCP with options.
pub(crate) const HEADERS_MAX: usize = 192;

/// Per-port parameters (the spec's ack-offload-params).
pub(crate) struct Config {
    pub(crate) buf_size: AtomicU32,
    pub(crate) ring_margin: AtomicU32,
    pub(crate) max_flows: AtomicU32,
    pub(crate) idle_timeout_ms: AtomicU32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            buf_size: AtomicU32::new(256 * 1024),
            ring_margin: AtomicU32::new(16),
            max_flows: AtomicU32::new(1024),
            idle_timeout_ms: AtomicU32::new(120_000),
        }
    }
}

/// Per-port counters (the spec's port-stats).
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) early_acks: AtomicU64,
    pub(crate) early_ack_errors: AtomicU64,
    pub(crate) ack_ineligible: AtomicU64,
    pub(crate) guest_acks_dropped: AtomicU64,
    pub(crate) acks_rewritten: AtomicU64,
    pub(crate) windows_capped: AtomicU64,
    pub(crate) offline_unexpected_seq: AtomicU64,
    pub(crate) offline_no_buf: AtomicU64,
    pub(crate) offline_window: AtomicU64,
    pub(crate) offline_flags: AtomicU64,
    pub(crate) flows_created: AtomicU64,
    pub(crate) flows_ended: AtomicU64,
    pub(crate) flows_expired: AtomicU64,
    pub(crate) table_full: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// What runs while offload is on: the flows, replaced when offload is
/// turned on or the table resized.
pub(crate) struct Engine {
    pub(crate) flows: FlowTable,
}

/// A port's ack offload.
#[derive(Default)]
pub(crate) struct Snoop {
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    engine: RcuBox<Engine>,
}

impl Snoop {
    pub(crate) fn engine<'a>(&'a self, rcu: &'a RcuRead) -> Option<&'a Engine> {
        self.engine.get(rcu)
    }

    pub(crate) fn engine_locked<'a>(&'a self, rtnl: &'a Rtnl) -> Option<&'a Engine> {
        self.engine.get_locked(rtnl)
    }

    /// Starts (or restarts, with an empty table) offload.
    pub(crate) fn start(&self, rtnl: &mut Rtnl) -> Result {
        let flows = FlowTable::new(self.config.max_flows.load(Relaxed), time::random_u64())?;
        let engine = KBox::new(Engine { flows }, GFP_KERNEL)?;
        drop(self.engine.replace(Some(engine), rtnl));
        Ok(())
    }

    pub(crate) fn stop(&self, rtnl: &mut Rtnl) {
        drop(self.engine.replace(None, rtnl));
    }

    fn params(&self) -> Params {
        Params {
            buf_size: self.config.buf_size.load(Relaxed),
        }
    }

    pub(crate) fn idle_ms(&self) -> u64 {
        u64::from(self.config.idle_timeout_ms.load(Relaxed))
    }

    fn count_offline(&self, why: Option<Offline>) {
        let c = match why {
            None => return,
            Some(Offline::UnexpectedSeq) => &self.stats.offline_unexpected_seq,
            Some(Offline::NoBuf) => &self.stats.offline_no_buf,
            Some(Offline::Window) => &self.stats.offline_window,
            Some(Offline::Flags) => &self.stats.offline_flags,
        };
        bump(c);
    }

    fn keep(&self, remove: bool) -> Keep {
        if remove {
            bump(&self.stats.flows_ended);
            Keep::Remove
        } else {
            Keep::Yes
        }
    }
}

/// Whether the tap's ring, with every frame handed to it so far, stays
/// within what it can hold minus ring-margin.
fn ring_room(ring: &RingGauge, snoop: &Snoop, dev: &NetDev<'_>) -> bool {
    let limit = tun_ring_limit(
        dev.tx_queue_len(),
        PTR_RING_CACHE_BATCH,
        snoop.config.ring_margin.load(Relaxed),
    );
    ring.room(limit, || dev.ring_out())
}

/// A TCP segment the bridge sends out of `port` (device `dev`), toward
/// the guest, already counted in the port's ring gauge.
pub(crate) fn to_guest<'a>(
    port: &Port,
    engine: &Engine,
    skb: Egress<'a>,
    seg: Segment,
    dev: &NetDev<'_>,
    rcu: &RcuRead,
) -> Verdict<'a> {
    let snoop = &port.snoop;
    let (now, idle, p) = (time::now_ms(), snoop.idle_ms(), snoop.params());
    match engine
        .flows
        .with(&FlowKey::to_guest(&seg), now, idle, skb, |e, skb| {
            judge_to_guest(port, e, &seg, skb, dev, &p, rcu)
        }) {
        Found::Flow(v) => v,
        Found::Expired(skb) => {
            bump(&snoop.stats.flows_expired);
            Verdict::Accept(skb.into_inner())
        }
        Found::Missing(skb) => Verdict::Accept(skb.into_inner()),
    }
}

/// Where an early ack goes: out of the port the segment came in by, with
/// the segment's MACs swapped; `None` when that port cannot take acks.
fn ack_route<'r>(
    skb: &SkBuff<'_>,
    dev: &NetDev<'_>,
    rcu: &'r RcuRead,
) -> Option<(NetDev<'r>, [u8; 6], [u8; 6])> {
    let eth = skb.eth_header()?;
    let ingress = dev.peer_port(skb.iif(), rcu)?;
    let mut guest = [0u8; 6];
    let mut sender = [0u8; 6];
    guest.copy_from_slice(&eth[0..6]);
    sender.copy_from_slice(&eth[6..12]);
    Some((ingress, guest, sender))
}

/// The decision for one segment of a known flow, under the flow's lock.
fn judge_to_guest<'a>(
    port: &Port,
    e: &mut Entry,
    seg: &Segment,
    skb: Egress<'a>,
    dev: &NetDev<'_>,
    p: &Params,
    rcu: &RcuRead,
) -> (Verdict<'a>, Keep) {
    let snoop = &port.snoop;
    // Only data is acked early, and only on a path where nothing after
    // this hook can drop it by policy: checked for data alone.
    let data = seg.payload != 0;
    if data && (!skb.plain_path() || !dev.is_tap_to_ring(rcu)) {
        return ineligible(snoop, e, seg, skb, p);
    }
    let before = e.flow;
    // The device counters are read (lazily) only for data a flow may ack.
    let room = data && ring_room(&port.ring, snoop, dev);
    let (decision, ev) = e.flow.to_guest(seg, room, p);
    let ToGuest::PassAndAck(spec) = decision else {
        snoop.count_offline(ev.offline);
        return (Verdict::Accept(skb.into_inner()), snoop.keep(ev.remove));
    };
    // An ack is due: only now is the way back looked up.
    let Some((ingress, guest_mac, sender_mac)) = ack_route(&skb, dev, rcu) else {
        e.flow = before;
        return ineligible(snoop, e, seg, skb, p);
    };
    let advanced = e.flow.view().acked != before.view().acked;
    let verdict = if advanced {
        // New bytes: acked only once the tap took them.
        let sent = skb.transmit();
        if !sent.delivered {
            e.flow = before;
            let (_, ev) = e.flow.to_guest(seg, false, p);
            snoop.count_offline(ev.offline);
            return (Verdict::Stolen(sent), snoop.keep(ev.remove));
        }
        Verdict::Stolen(sent)
    } else {
        // Bytes acked before, sent again: the guest has them already.
        Verdict::Accept(skb.into_inner())
    };
    let mut frame = [0u8; ACK_FRAME_MAX];
    let len = build_ack(seg, guest_mac, sender_mac, &spec, &mut frame);
    if ingress.xmit_frame(&frame[..len], rcu) {
        e.early_acks += 1;
        bump(&snoop.stats.early_acks);
    } else {
        bump(&snoop.stats.early_ack_errors);
    }
    (verdict, snoop.keep(ev.remove))
}

/// Data that gets no early ack on this path: the flow still follows it; an
/// offline transition here is not the flow's doing.
fn ineligible<'a>(
    snoop: &Snoop,
    e: &mut Entry,
    seg: &Segment,
    skb: Egress<'a>,
    p: &Params,
) -> (Verdict<'a>, Keep) {
    bump(&snoop.stats.ack_ineligible);
    let (_, ev) = e.flow.to_guest(seg, false, p);
    (Verdict::Accept(skb.into_inner()), snoop.keep(ev.remove))
}

/// A TCP segment the bridge received on `port`, from the guest.
pub(crate) fn from_guest<'a>(
    port: &Port,
    engine: &Engine,
    skb: SkBuff<'a>,
    seg: Segment,
) -> Verdict<'a> {
    let snoop = &port.snoop;
    let key = FlowKey::from_guest(&seg);
    let (now, idle, p) = (time::now_ms(), snoop.idle_ms(), snoop.params());
    let skb = match engine.flows.with(&key, now, idle, skb, |e, skb| {
        judge_from_guest(snoop, e, &seg, skb, &p)
    }) {
        Found::Flow(v) => return v,
        Found::Expired(skb) => {
            bump(&snoop.stats.flows_expired);
            skb
        }
        Found::Missing(skb) => skb,
    };
    // A new flow: from the guest's SYN or SYN-ACK, or picked up from its
    // ACK mid-connection. The segment itself passes as it is.
    let Some(flow) = Flow::from_guest_syn(&seg, &p).or_else(|| Flow::from_guest_ack(&seg, &p))
    else {
        return Verdict::Accept(skb);
    };
    match engine
        .flows
        .insert(&key, flow, now, idle, || bump(&snoop.stats.flows_expired))
    {
        Ok(()) => bump(&snoop.stats.flows_created),
        Err(InsertError::Full) => bump(&snoop.stats.table_full),
        Err(InsertError::Exists) => {}
    }
    Verdict::Accept(skb)
}

fn judge_from_guest<'a>(
    snoop: &Snoop,
    e: &mut Entry,
    seg: &Segment,
    mut skb: SkBuff<'a>,
    p: &Params,
) -> (Verdict<'a>, Keep) {
    let (decision, ev) = e.flow.from_guest(seg, p);
    if ev.window_capped {
        bump(&snoop.stats.windows_capped);
    }
    let keep = snoop.keep(ev.remove);
    match decision {
        FromGuest::Pass => (Verdict::Accept(skb), keep),
        FromGuest::Drop => {
            e.acks_dropped += 1;
            bump(&snoop.stats.guest_acks_dropped);
            (Verdict::Drop(skb), keep)
        }
        FromGuest::Rewrite { ack, window } => {
            let partial = skb.csum_partial();
            let end = seg.tcp_offset + tcp::OFF_CHECK + 2;
            let done = skb
                .header_mut(end)
                .and_then(|h| apply_rewrite(&mut h[seg.tcp_offset..], ack, window, partial));
            if done.is_some() {
                e.acks_rewritten += 1;
                bump(&snoop.stats.acks_rewritten);
            }
            // Unrewritten (no memory), the segment still goes: an older
            // ack the sender ignores, a larger window it may use.
            (Verdict::Accept(skb), keep)
        }
    }
}
