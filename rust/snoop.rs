// SPDX-License-Identifier: GPL-2.0

//! Ack offload (vSnoop) on a port: moves the packets the rules in
//! [`crate::policy::snoop`] decide about. Toward the guest, a segment the
//! host acknowledges is first handed to the tap (the bridge's transmit,
//! done here to learn that the device took it) and only then acked, out of
//! the port the segment came in by. From the guest, ACKs are dropped or
//! rewritten in place. A flow's decision is made under its slot's lock;
//! what it sends is sent after the lock is released.
//!
//! Each segment acked early is kept (a clone of its frame) in its flow's
//! delivery buffer until the guest's own ACK covers it. The holes the
//! guest's duplicate ACKs and SACK blocks show are sent to it again; when
//! it goes quiet below the host's ack point with its ring drained, the
//! port's timer ([`tick`]) sends it everything held again, with backoff.
//!
//! When offload stops (turned off, the port detached, the module
//! unloaded), its guests get a bounded time to ack what they hold
//! ([`DRAIN_STALL_MS`] without progress, [`DRAIN_MAX_MS`] in all; no new
//! early acks meanwhile, re-sends go on); a flow
//! that still holds bytes when its table goes is reset, both ends, rather
//! than left with acked bytes its guest never got.
//!
//! Early acks go only where vassist sees the guest's queue
//! ([`GuestQueue`]): taps whose frames reach the ring as sent
//! ([`crate::tap`]), and zone ports, whose zones vassist fills itself;
//! other devices (veth, physical ports) hand frames on to places whose
//! room vassist cannot see: no early acks there, though guest ACKs are
//! still tracked.

use crate::error::VaError;
use crate::flows::{Entry, FlowTable, Found, InsertError, Keep};
use crate::policy::snoop::{
    apply_rewrite, build_ack, build_reset, ring_entries, tun_ring_limit, AckSpec, Flow, FlowKey,
    FromGuest, Offline, Params, Resend, Room, ToGuest, ACK_FRAME_MAX,
};
use crate::policy::tcp::{self, before, Segment};
use crate::sys::netdev::NetDevice;
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::{Guard, RcuBox};
use crate::sys::rtnl::Rtnl;
use crate::sys::skb::{self, Egress, HeldSkb, HeldSkbs, PlainPath, SkBuff, PTR_RING_CACHE_BATCH};
use crate::sys::time;
use crate::tap::Tap;
use crate::zone::Zones;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::prelude::*;
use kernel::sync::Arc;

pub(crate) use crate::policy::snoop::TICK_MS;

/// Bytes of headers read to parse a segment: IP with options or extension
/// headers, TCP with options.
pub(crate) const HEADERS_MAX: usize = 192;

/// How long guests get to ack what was acked early for them when offload
/// stops, after their last progress: long enough for several re-sends
/// (every 400 ms at most while draining, [`Flow::drain_tick`]), short
/// enough for a request or rmmod to wait for.
///
/// [`Flow::drain_tick`]: crate::policy::snoop::Flow::drain_tick
pub(crate) const DRAIN_STALL_MS: u64 = 2000;
/// ... and at most, however they progress (a guest taking a full window
/// at a slow pace).
pub(crate) const DRAIN_MAX_MS: u64 = 10_000;

/// Per-port parameters (the spec's ack-offload-params).
pub(crate) struct Config {
    pub(crate) buf_size: AtomicU32,
    pub(crate) ring_margin: AtomicU32,
    pub(crate) max_flows: AtomicU32,
    pub(crate) idle_timeout_ms: AtomicU32,
    pub(crate) buffer_max: AtomicU32,
    pub(crate) window_growth: AtomicU32,
}

/// The default max-flows: the size of a table made before a port exists.
pub(crate) const DEFAULT_MAX_FLOWS: u32 = 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            buf_size: AtomicU32::new(4 * 1024 * 1024),
            ring_margin: AtomicU32::new(16),
            max_flows: AtomicU32::new(DEFAULT_MAX_FLOWS),
            idle_timeout_ms: AtomicU32::new(120_000),
            // Room for 128 flows at the default buf-size.
            buffer_max: AtomicU32::new(32 << 20),
            window_growth: AtomicU32::new(0),
        }
    }
}

/// A change of parameters: the values a request gives, unset ones kept.
#[derive(Clone, Copy, Default)]
pub(crate) struct Settings {
    pub(crate) buf_size: Option<u32>,
    pub(crate) ring_margin: Option<u32>,
    pub(crate) max_flows: Option<u32>,
    pub(crate) idle_timeout_ms: Option<u32>,
    pub(crate) buffer_max: Option<u32>,
    pub(crate) window_growth: Option<u32>,
}

impl Settings {
    /// Stores the values given; returns the values they replaced, to put
    /// back if the change cannot be completed.
    fn apply(&self, c: &Config) -> Settings {
        let swap = |v: Option<u32>, f: &AtomicU32| v.map(|v| f.swap(v, Relaxed));
        Settings {
            buf_size: swap(self.buf_size, &c.buf_size),
            ring_margin: swap(self.ring_margin, &c.ring_margin),
            max_flows: swap(self.max_flows, &c.max_flows),
            idle_timeout_ms: swap(self.idle_timeout_ms, &c.idle_timeout_ms),
            buffer_max: swap(self.buffer_max, &c.buffer_max),
            window_growth: swap(self.window_growth, &c.window_growth),
        }
    }
}

/// Per-port counters (the spec's port-stats).
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) early_acks: AtomicU64,
    pub(crate) early_acked_bytes: AtomicU64,
    pub(crate) early_ack_errors: AtomicU64,
    pub(crate) ack_ineligible: AtomicU64,
    pub(crate) guest_acks_dropped: AtomicU64,
    pub(crate) acks_rewritten: AtomicU64,
    pub(crate) windows_capped: AtomicU64,
    pub(crate) offline_unexpected_seq: AtomicU64,
    pub(crate) offline_no_buf: AtomicU64,
    pub(crate) offline_window: AtomicU64,
    pub(crate) offline_flags: AtomicU64,
    pub(crate) offline_buffer_full: AtomicU64,
    pub(crate) resends: AtomicU64,
    pub(crate) bad_checksums: AtomicU64,
    /// Segments acked early with bytes below them neither held nor acked
    /// by the guest (must stay 0; such a flow is reset).
    pub(crate) held_gaps: AtomicU64,
    pub(crate) flows_reset: AtomicU64,
    pub(crate) flows_created: AtomicU64,
    pub(crate) flows_ended: AtomicU64,
    pub(crate) flows_expired: AtomicU64,
    pub(crate) table_full: AtomicU64,
    pub(crate) ring_drops: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// What runs while offload is on: the flows, replaced when offload is
/// turned on or the table resized.
pub(crate) struct Engine {
    pub(crate) flows: FlowTable,
    /// Offload is stopping: no new early acks or flows; re-sends and the
    /// guests' ACKs empty the delivery buffers.
    draining: AtomicBool,
}

impl Engine {
    fn new(flows: FlowTable) -> Engine {
        Engine {
            flows,
            draining: AtomicBool::new(false),
        }
    }

    fn draining(&self) -> bool {
        self.draining.load(Relaxed)
    }
}

/// A flow table made ahead of a change (before RTNL is taken), for
/// [`Snoop::configure`].
pub(crate) struct Prepared(FlowTable);

impl Prepared {
    pub(crate) fn new(max_flows: u32) -> Result<Prepared, VaError> {
        Ok(Prepared(FlowTable::new(max_flows, time::random_u64())?))
    }
}

/// A port's ack offload.
#[derive(Default)]
pub(crate) struct Snoop {
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    engine: RcuBox<Engine>,
}

impl Snoop {
    pub(crate) fn engine<'a>(&'a self, rcu: &'a Guard) -> Option<&'a Engine> {
        self.engine.get(rcu)
    }

    pub(crate) fn engine_locked<'a>(&'a self, rtnl: &'a Rtnl) -> Option<&'a Engine> {
        self.engine.get_locked(rtnl)
    }

    /// Whether offload runs (a table is published).
    pub(crate) fn is_running(&self) -> bool {
        self.engine.is_set()
    }

    /// The max-flows a change to `settings` leaves.
    pub(crate) fn max_flows_after(&self, settings: &Settings) -> u32 {
        settings
            .max_flows
            .unwrap_or_else(|| self.config.max_flows.load(Relaxed))
    }

    /// Whether turning offload to `on` with `settings` makes a new table:
    /// it is off, or max-flows changes.
    pub(crate) fn needs_table(&self, on: bool, settings: &Settings, running: bool) -> bool {
        let resize = settings
            .max_flows
            .is_some_and(|m| m != self.config.max_flows.load(Relaxed));
        on && (resize || !running)
    }

    /// Whether a change to `on` with `settings` ends the running table's
    /// flows (offload off, or a new table), so that their guests should
    /// first be given time to ack what they hold ([`Snoop::drain`]).
    pub(crate) fn change_ends_flows(&self, on: bool, settings: &Settings) -> bool {
        self.is_running() && (!on || self.needs_table(on, settings, true))
    }

    /// Applies `settings` and turns offload on or off: started, or
    /// restarted with an empty table when max-flows changes, with the table
    /// `prepared` (made again here if it does not match). A table that
    /// goes resets its flows that still hold bytes ([`Snoop::stop`]),
    /// toward the guest by `queue`. On an error nothing of the change
    /// stays.
    pub(crate) fn configure(
        &self,
        on: bool,
        settings: &Settings,
        prepared: Option<Prepared>,
        dev: &NetDevice,
        queue: GuestQueue<'_>,
        rtnl: &mut Rtnl,
    ) -> Result<(), VaError> {
        let running = self.engine_locked(rtnl).is_some();
        let start = self.needs_table(on, settings, running);
        let previous = settings.apply(&self.config);
        if !on {
            self.stop(dev, Some(queue), rtnl);
            return Ok(());
        }
        // Turned on again while it was stopping.
        self.undrain(rtnl);
        if !start {
            return Ok(());
        }
        let max = self.config.max_flows.load(Relaxed);
        let table = match prepared {
            Some(Prepared(t)) if t.capacity() == max => Ok(t),
            _ => Prepared::new(max).map(|p| p.0),
        };
        // The table replaced resets its flows that hold bytes.
        let retired = |old: &Engine| {
            let rcu = crate::sys::rcu::read_lock();
            reset_held(self, old, dev, Some(queue), &rcu, |_| true);
        };
        let result =
            table.and_then(|flows| Ok(self.engine.set_then(Engine::new(flows), rtnl, retired)?));
        if result.is_err() {
            previous.apply(&self.config);
        }
        result
    }

    /// Stops offload: flows that still hold bytes are reset (toward the
    /// guest too, by `guest`, if it can be reached), and the table goes.
    pub(crate) fn stop(&self, dev: &NetDevice, guest: Option<GuestQueue<'_>>, rtnl: &mut Rtnl) {
        self.engine.clear_then(rtnl, |old| {
            let rcu = crate::sys::rcu::read_lock();
            reset_held(self, old, dev, guest, &rcu, |_| true);
        });
    }

    /// Starts draining: no new early acks or flows. Returns whether
    /// offload runs, for the caller to wait on [`Snoop::held_bytes`] with
    /// RTNL released, before it stops the table: once the hooks that began
    /// before this call have ended (a segment acked early is held only
    /// after its ack is sent), the held bytes only go down.
    pub(crate) fn drain(&self, rtnl: &Rtnl) -> bool {
        let Some(e) = self.engine_locked(rtnl) else {
            return false;
        };
        e.draining.store(true, Relaxed);
        true
    }

    /// Bytes in the delivery buffers.
    pub(crate) fn held_bytes(&self) -> u64 {
        let rcu = crate::sys::rcu::read_lock();
        self.engine(&rcu).map_or(0, |e| e.flows.held_bytes())
    }

    /// Ends a drain that did not stop the table (the change that followed
    /// it failed, or did not happen): early acks resume.
    pub(crate) fn undrain(&self, rtnl: &Rtnl) {
        if let Some(e) = self.engine_locked(rtnl) {
            e.draining.store(false, Relaxed);
        }
    }

    fn params(&self) -> Params {
        Params {
            buf_size: self.config.buf_size.load(Relaxed),
            grow: self.config.window_growth.load(Relaxed) != 0,
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
            Some(Offline::BufferFull) => &self.stats.offline_buffer_full,
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

/// Counts a frame of `entries` into the tap's ring. While offload is on,
/// the ring and its reader's undelivered batch are kept within the ring's
/// capacity ([`RingGauge::admit`]): `false` says the frame is to be dropped
/// (counted in `ring_drops`), as the tap itself would drop it when full.
///
/// [`RingGauge::admit`]: crate::policy::snoop::RingGauge::admit
pub(crate) fn admit(snoop: &Snoop, tap: &Tap, entries: u32, dev: &NetDevice) -> bool {
    let ok = tap
        .ring
        .admit(entries, u64::from(dev.tx_queue_len()), || dev.ring_out());
    if !ok {
        bump(&snoop.stats.ring_drops);
    }
    ok
}

/// Whether the tap's ring, with every frame handed to it so far, stays
/// within what it can hold minus `margin`.
fn ring_room(tap: &Tap, margin: u32, dev: &NetDevice) -> bool {
    let limit = tun_ring_limit(dev.tx_queue_len(), PTR_RING_CACHE_BATCH, margin);
    tap.ring.room(limit, || dev.ring_out())
}

/// Where a port's frames toward its guest go, as ack offload sees them:
/// how full that is, whether the guest took all of it, how a frame gets
/// there.
#[derive(Clone, Copy)]
pub(crate) enum GuestQueue<'r> {
    /// The port device's queue: a tap's ring, which the guest's backend
    /// reads.
    Tap(&'r Tap),
    /// A zone port's zones, which its consumer maps.
    Zones(&'r Arc<Zones>),
}

/// How a segment to be acked early reaches the guest's queue, found
/// before its flow's lock is taken.
enum Handoff<'r> {
    /// Transmitted to the tap, on a plain path.
    Tap(PlainPath),
    /// Copied into the zones.
    Zones(&'r Arc<Zones>),
}

impl<'r> GuestQueue<'r> {
    /// The zones if the port is a zone port, else the tap's ring.
    pub(crate) fn new(tap: &'r Tap, zones: Option<&'r Arc<Zones>>) -> Self {
        zones.map_or(GuestQueue::Tap(tap), GuestQueue::Zones)
    }

    /// Whether the queue, with every frame handed to it so far, keeps
    /// ring-margin entries to spare: early acks (and re-sends) may go on.
    fn room(self, snoop: &Snoop, dev: &NetDevice) -> bool {
        let margin = snoop.config.ring_margin.load(Relaxed);
        match self {
            GuestQueue::Tap(tap) => ring_room(tap, margin, dev),
            GuestQueue::Zones(zones) => zones.room(margin),
        }
    }

    /// Whether the guest has taken everything queued for it.
    fn drained(self, dev: &NetDevice) -> bool {
        match self {
            GuestQueue::Tap(tap) => tap.ring.refresh(dev.ring_out()) == 0,
            GuestQueue::Zones(zones) => zones.drained(),
        }
    }

    /// How the data segment `skb` would reach the queue, if nothing on the
    /// way can drop it by policy.
    fn handoff(self, skb: &Egress<'_>, dev: &NetDevice, rcu: &Guard) -> Option<Handoff<'r>> {
        match self {
            GuestQueue::Tap(tap) => skb
                .plain_path()
                .filter(|_| tap.reaches_ring(dev, rcu))
                .map(Handoff::Tap),
            GuestQueue::Zones(zones) => Some(Handoff::Zones(zones)),
        }
    }

    /// A frame that goes to the guest as it would without offload: on to
    /// the tap, or placed in the zones.
    fn pass<'a>(self, skb: Egress<'a>) -> Verdict<'a> {
        match self {
            GuestQueue::Tap(_) => Verdict::Accept(skb.into_inner()),
            GuestQueue::Zones(zones) => {
                let len = skb.skb().len();
                Zones::place(zones, skb, len)
            }
        }
    }

    /// Sends a held frame again, counted into the queue; `None` if the
    /// queue has no room for it (counted in ring-drops): it waits for the
    /// next re-send. Whether it went.
    fn resend(self, snoop: &Snoop, dev: &NetDevice, skb: HeldSkb, rcu: &Guard) -> Option<bool> {
        // Re-sends keep to the early-ack limit (ring-margin below the
        // queue's capacity): they never crowd new frames out of it (which
        // made the holes they were sent to fill).
        if !self.room(snoop, dev) {
            return None;
        }
        match self {
            GuestQueue::Tap(tap) => {
                let entries = ring_entries(skb.segments(), || skb.needs_gso());
                admit(snoop, tap, entries, dev).then(|| skb.transmit(rcu))
            }
            GuestQueue::Zones(zones) => Some(Zones::place_copy(zones, &skb, skb.len())),
        }
    }

    /// Sends `frame`, built here, to the guest.
    fn send_frame(self, dev: &NetDevice, frame: &[u8], rcu: &Guard) -> bool {
        match self {
            GuestQueue::Tap(_) => skb::xmit_frame(dev, frame, rcu),
            GuestQueue::Zones(zones) => HeldSkb::build(dev, frame, rcu)
                .is_some_and(|skb| Zones::place_copy(zones, &skb, skb.len())),
        }
    }
}

impl Handoff<'_> {
    /// Hands the segment to the guest's queue: whether the queue took it,
    /// and the frame's verdict.
    fn deliver(self, skb: Egress<'_>) -> (bool, Verdict<'_>) {
        match self {
            Handoff::Tap(path) => {
                let sent = skb.transmit(path);
                (sent.delivered, Verdict::Stolen(sent))
            }
            Handoff::Zones(zones) => {
                let len = skb.skb().len();
                let v = Zones::place(zones, skb, len);
                (matches!(v, Verdict::Stolen(_)), v)
            }
        }
    }
}

/// Where an early ack goes and what it says.
struct Ack<'r> {
    /// The port the segment came in by.
    out: &'r NetDevice,
    guest_mac: [u8; 6],
    sender_mac: [u8; 6],
    spec: AckSpec,
}

/// What a segment toward the guest gets, decided under its flow's lock.
enum Plan<'r> {
    /// It passes, nothing sent.
    Pass,
    /// It passes, and the sender is told again what it was told before.
    Reack(Ack<'r>),
    /// It is handed to the tap here, then acked and its clone held; if the
    /// tap does not take it, the flow goes back to `before` (it is marked
    /// busy meanwhile).
    Deliver(Ack<'r>, Flow, HeldSkb),
}

/// Whether an early ack may follow: the ring's room and the port's
/// delivery buffers.
fn room(snoop: &Snoop, engine: &Engine, ring: bool) -> Room {
    if !ring {
        Room::RingFull
    } else if engine.flows.held_bytes() >= u64::from(snoop.config.buffer_max.load(Relaxed)) {
        Room::HeldFull
    } else {
        Room::Free
    }
}

/// A TCP segment the bridge sends out of `dev` toward the guest's
/// `queue`, already counted in a tap's ring gauge.
pub(crate) fn to_guest<'a>(
    snoop: &Snoop,
    engine: &Engine,
    queue: GuestQueue<'_>,
    skb: Egress<'a>,
    seg: Segment,
    dev: &NetDevice,
    rcu: &Guard,
) -> Verdict<'a> {
    let (now, idle, p) = (time::now_ms(), snoop.idle_ms(), snoop.params());
    if engine.draining() {
        follow_only(snoop, engine, &seg, now, idle, &p);
        return queue.pass(skb);
    }
    // Only data is acked early, and only on a path where nothing after
    // this hook can drop it by policy; the queue is read for such data
    // alone. Both are looked at before the flow's lock is taken.
    let data = seg.payload != 0;
    let path = if data {
        queue.handoff(&skb, dev, rcu)
    } else {
        None
    };
    // A segment the guest would drop for its checksum is never acked.
    let intact = path.is_none() || skb.skb().tcp_checksum_ok(seg.tcp_offset, seg.addrs.v6);
    if !intact {
        bump(&snoop.stats.bad_checksums);
    }
    let eligible = !data || (path.is_some() && intact);
    let room = room(snoop, engine, path.is_some() && queue.room(snoop, dev));
    let key = FlowKey::to_guest(&seg);
    let found = engine.flows.with(&key, now, idle, &skb, |e, skb| {
        judge_to_guest(snoop, e, &seg, skb, eligible, room, dev, &p, rcu)
    });
    let plan = match found {
        Found::Flow(plan) => plan,
        Found::Expired(_) => {
            bump(&snoop.stats.flows_expired);
            Plan::Pass
        }
        Found::Missing(_) => Plan::Pass,
    };
    match plan {
        Plan::Pass => queue.pass(skb),
        Plan::Reack(ack) => {
            send_ack(snoop, &seg, &ack, rcu);
            queue.pass(skb)
        }
        Plan::Deliver(ack, before, held) => {
            // `Deliver` is only decided for data with a way to the queue.
            let Some(path) = path else {
                return queue.pass(skb);
            };
            let (delivered, verdict) = path.deliver(skb);
            let acked = delivered && send_ack(snoop, &seg, &ack, rcu);
            if acked {
                let new = ack.spec.ack.wrapping_sub(before.view().acked);
                snoop.stats.early_acked_bytes.fetch_add(new.into(), Relaxed);
            }
            engine.flows.with(&key, now, idle, held, |e, held| {
                e.busy = false;
                if acked {
                    e.early_acks += 1;
                }
                if delivered {
                    if !e.hold(held, seg.seq, seg.end_seq(), &engine.flows) {
                        bump(&snoop.stats.held_gaps);
                    }
                    return ((), Keep::Yes);
                }
                // The queue did not take it: nothing of it was acked.
                e.flow = before;
                let (_, ev) = e.flow.to_guest(&seg, Room::RingFull, &p);
                snoop.count_offline(ev.offline);
                ((), snoop.keep(ev.remove))
            });
            verdict
        }
    }
}

/// Sends the early ack; whether it went.
fn send_ack(snoop: &Snoop, seg: &Segment, ack: &Ack<'_>, rcu: &Guard) -> bool {
    let mut frame = [0u8; ACK_FRAME_MAX];
    let len = build_ack(seg, ack.guest_mac, ack.sender_mac, &ack.spec, &mut frame);
    let sent = skb::xmit_frame(ack.out, &frame[..len], rcu);
    bump(if sent {
        &snoop.stats.early_acks
    } else {
        &snoop.stats.early_ack_errors
    });
    sent
}

/// Where an early ack goes: out of the port the segment came in by, with
/// the segment's MACs swapped; `None` when that port cannot take acks.
fn ack_route<'r>(
    skb: &SkBuff<'_>,
    dev: &NetDevice,
    rcu: &'r Guard,
) -> Option<(&'r NetDevice, [u8; 6], [u8; 6])> {
    let (guest, sender) = macs(&skb.eth_header()?);
    let ingress = dev.peer_port(skb.iif(), rcu)?;
    Some((ingress, guest, sender))
}

/// An Ethernet header's (destination, source) addresses.
fn macs(eth: &[u8; skb::ETH_HLEN as usize]) -> ([u8; 6], [u8; 6]) {
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&eth[0..6]);
    src.copy_from_slice(&eth[6..12]);
    (dst, src)
}

/// The source address of a frame from the guest.
fn guest_mac(skb: &SkBuff<'_>) -> Option<[u8; 6]> {
    Some(macs(&skb.eth_header()?).1)
}

/// The decision for one segment of a known flow, under the flow's lock:
/// state only, nothing sent.
#[allow(clippy::too_many_arguments)]
fn judge_to_guest<'r>(
    snoop: &Snoop,
    e: &mut Entry,
    seg: &Segment,
    skb: &Egress<'_>,
    eligible: bool,
    room: Room,
    dev: &NetDevice,
    p: &Params,
    rcu: &'r Guard,
) -> (Plan<'r>, Keep) {
    if e.busy {
        return (Plan::Pass, Keep::Yes);
    }
    if !eligible {
        return ineligible(snoop, e, seg, p);
    }
    let before = e.flow;
    let (decision, ev) = e.flow.to_guest(seg, room, p);
    let ToGuest::PassAndAck(spec) = decision else {
        snoop.count_offline(ev.offline);
        return (Plan::Pass, snoop.keep(ev.remove));
    };
    // An ack is due: only now is the way back looked up.
    let Some((out, guest_mac, sender_mac)) = ack_route(skb.skb(), dev, rcu)
        .filter(|&(_, mac, _)| e.guest_mac.map_or(true, |g| g == mac))
    else {
        e.flow = before;
        return ineligible(snoop, e, seg, p);
    };
    let ack = Ack {
        out,
        guest_mac,
        sender_mac,
        spec,
    };
    let keep = snoop.keep(ev.remove);
    if e.flow.view().acked == before.view().acked {
        // Bytes acked before, sent again: the guest has them already.
        e.early_acks += 1;
        return (Plan::Reack(ack), keep);
    }
    // New bytes: acked only once the tap took them, and only if they can
    // be kept until the guest acks them.
    let Some(held) = skb.skb().clone_ref() else {
        e.flow = before;
        let (_, ev) = e.flow.to_guest(seg, Room::HeldFull, p);
        snoop.count_offline(ev.offline);
        return (Plan::Pass, snoop.keep(ev.remove));
    };
    e.busy = true;
    (Plan::Deliver(ack, before, held), keep)
}

/// A segment that gets no early ack on this path: the flow still follows
/// it; an offline transition here is not the flow's doing.
fn ineligible<'r>(snoop: &Snoop, e: &mut Entry, seg: &Segment, p: &Params) -> (Plan<'r>, Keep) {
    bump(&snoop.stats.ack_ineligible);
    follow(snoop, e, seg, p)
}

/// The flow follows the segment, which gets no early ack.
fn follow<'r>(snoop: &Snoop, e: &mut Entry, seg: &Segment, p: &Params) -> (Plan<'r>, Keep) {
    let (_, ev) = e.flow.to_guest(seg, Room::RingFull, p);
    (Plan::Pass, snoop.keep(ev.remove))
}

/// A segment toward the guest while offload drains: its flow follows it
/// (the segment passes).
fn follow_only(snoop: &Snoop, engine: &Engine, seg: &Segment, now: u64, idle: u64, p: &Params) {
    let key = FlowKey::to_guest(seg);
    engine
        .flows
        .with(&key, now, idle, (), |e, ()| follow(snoop, e, seg, p));
}

/// Copies of what a flow's delivery buffer re-sends, made under its lock
/// (into `out`), sent after it by [`send_resends`].
fn take_resends(e: &mut Entry, what: Resend, out: &mut HeldSkbs) {
    let (n, holes) = match what {
        Resend::Nothing => return,
        Resend::Head => (1, None),
        Resend::All => (usize::MAX, None),
        Resend::Holes {
            from,
            to,
            sacked,
            sacks,
        } => (usize::MAX, Some((from, to, sacked, usize::from(sacks)))),
    };
    // A frame with bytes in from..to that no SACK block holds whole.
    let within = |&(_, seq, end): &(_, u32, u32)| {
        holes.map_or(true, |(from, to, sacked, sacks)| {
            let inside = |&(l, r): &(u32, u32)| !before(seq, l) && !before(r, end);
            before(from, end) && before(seq, to) && !sacked.iter().take(sacks).any(inside)
        })
    };
    let mut copied = 0;
    for (frame, _, _) in e.held_frames().filter(within).take(n) {
        // Out of memory: the rest waits for the next tick.
        let Some(copy) = frame.clone_ref() else {
            break;
        };
        out.push_back(copy, [0; 2]);
        copied += 1;
    }
    e.resends += copied;
}

/// Sends the re-sends in `frames` to the guest's `queue`; what the queue
/// has no room for is dropped (ring-drops) and waits for the next re-send.
fn send_resends(
    snoop: &Snoop,
    queue: GuestQueue<'_>,
    dev: &NetDevice,
    mut frames: HeldSkbs,
    rcu: &Guard,
) {
    while let Some(skb) = frames.pop_front() {
        match queue.resend(snoop, dev, skb, rcu) {
            Some(true) => bump(&snoop.stats.resends),
            Some(false) => {}
            None => return,
        }
    }
}

/// A tick of the port's re-send timer: flows whose guest has gone quiet
/// below the host's ack point get everything held sent again. Only once
/// the ring has drained: until the guest has taken what is queued for it,
/// nothing queued is lost (a stopped guest is re-sent to when it drains
/// its ring, or when its backend purges it).
///
/// A flow that still holds bytes after idle-timeout without a segment
/// either way is reset: its guest is not taking them.
pub(crate) fn tick(
    snoop: &Snoop,
    engine: &Engine,
    queue: GuestQueue<'_>,
    dev: &NetDevice,
    rcu: &Guard,
) {
    if engine.flows.held_bytes() == 0 {
        return;
    }
    let (now, idle) = (time::now_ms(), snoop.idle_ms());
    let drained = queue.drained(dev);
    let mut frames = HeldSkbs::new();
    let (mut stale, mut gap) = (false, false);
    engine.flows.for_each_from(0, now, idle, |e| {
        stale |= e.held_bytes() != 0 && e.idle(now, idle);
        if drained {
            let what = if engine.draining() {
                e.flow.drain_tick()
            } else {
                e.flow.tick()
            };
            // Quiet below a byte nothing holds: only a reset ends it.
            gap |= what != Resend::Nothing && e.head_gap();
            take_resends(e, what, &mut frames);
        }
        true
    });
    send_resends(snoop, queue, dev, frames, rcu);
    if stale || gap {
        reset_held(snoop, engine, dev, Some(queue), rcu, |e| {
            e.idle(now, idle) || e.head_gap()
        });
    }
}

/// A TCP segment the bridge received from the guest on the port `dev`,
/// whose frames toward the guest go to `queue`.
pub(crate) fn from_guest<'a>(
    snoop: &Snoop,
    engine: &Engine,
    queue: GuestQueue<'_>,
    skb: SkBuff<'a>,
    seg: Segment,
    dev: &NetDevice,
    rcu: &Guard,
) -> Verdict<'a> {
    let key = FlowKey::from_guest(&seg);
    let (now, idle, p) = (time::now_ms(), snoop.idle_ms(), snoop.params());
    let skb = match engine.flows.with(&key, now, idle, skb, |e, skb| {
        judge_from_guest(snoop, engine, e, &seg, skb, &p)
    }) {
        Found::Flow((v, resends)) => {
            send_resends(snoop, queue, dev, resends, rcu);
            return v;
        }
        Found::Expired(skb) => {
            bump(&snoop.stats.flows_expired);
            skb
        }
        Found::Missing(skb) => skb,
    };
    // A new flow: from the guest's SYN or SYN-ACK, or picked up from its
    // ACK mid-connection (not while offload drains). The segment itself
    // passes as it is.
    if engine.draining() {
        return Verdict::Accept(skb);
    }
    let Some(flow) = Flow::from_guest_syn(&seg, &p).or_else(|| Flow::from_guest_ack(&seg, &p))
    else {
        return Verdict::Accept(skb);
    };
    let mac = guest_mac(&skb);
    match engine.flows.insert(&key, flow, mac, now, idle, || {
        bump(&snoop.stats.flows_expired)
    }) {
        Ok(()) => bump(&snoop.stats.flows_created),
        Err(InsertError::Full) => bump(&snoop.stats.table_full),
        Err(InsertError::Exists) => {}
    }
    Verdict::Accept(skb)
}

fn judge_from_guest<'a>(
    snoop: &Snoop,
    engine: &Engine,
    e: &mut Entry,
    seg: &Segment,
    mut skb: SkBuff<'a>,
    p: &Params,
) -> ((Verdict<'a>, HeldSkbs), Keep) {
    let mut resends = HeldSkbs::new();
    // A segment toward the guest is being delivered: the flow's state
    // stays as it was until that is known; this one passes as it is.
    if e.busy {
        return ((Verdict::Accept(skb), resends), Keep::Yes);
    }
    let (decision, ev) = e.flow.from_guest(seg, p);
    e.release(&engine.flows);
    if e.guest_mac.is_none() {
        e.guest_mac = guest_mac(&skb);
    }
    take_resends(e, ev.resend, &mut resends);
    if ev.window_capped {
        bump(&snoop.stats.windows_capped);
    }
    let keep = snoop.keep(ev.remove);
    let verdict = match decision {
        FromGuest::Pass => Verdict::Accept(skb),
        FromGuest::Drop => {
            e.acks_dropped += 1;
            bump(&snoop.stats.guest_acks_dropped);
            Verdict::Drop(skb)
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
            Verdict::Accept(skb)
        }
    };
    ((verdict, resends), keep)
}

/// The frames that reset one flow, built under its lock.
struct Resets {
    /// The port the sender's segments came in by.
    iif: u32,
    to_sender: ([u8; ACK_FRAME_MAX], usize),
    to_guest: ([u8; ACK_FRAME_MAX], usize),
}

/// The resets of a flow whose delivery buffer holds bytes, addressed as
/// its held frames are (they carry both ends' MACs and the sender's port).
fn resets_of(e: &Entry) -> Option<Resets> {
    let (frame, _, _) = e.held_frames().next()?;
    let (guest_mac, peer_mac) = macs(&frame.eth_header()?);
    let (to_sender, to_guest) = e.flow.resets();
    let mut r = Resets {
        iif: frame.iif(),
        to_sender: ([0; ACK_FRAME_MAX], 0),
        to_guest: ([0; ACK_FRAME_MAX], 0),
    };
    let key = &e.key;
    r.to_sender.1 = build_reset(
        key,
        guest_mac,
        peer_mac,
        false,
        &to_sender,
        &mut r.to_sender.0,
    );
    r.to_guest.1 = build_reset(key, guest_mac, peer_mac, true, &to_guest, &mut r.to_guest.0);
    Some(r)
}

/// Resets the flows of `engine` that `which` picks (all, for a table
/// being stopped) whose delivery buffers still hold bytes: their guests
/// never acked them, so the senders must not go on as if they had
/// arrived. The reset to the sender leaves by the port its segments came
/// in by; the one to the guest by its queue (`guest`), unless the guest
/// cannot be reached (its device is going away). Their held frames go.
fn reset_held(
    snoop: &Snoop,
    engine: &Engine,
    dev: &NetDevice,
    guest: Option<GuestQueue<'_>>,
    rcu: &Guard,
    which: impl Fn(&Entry) -> bool,
) {
    let mut at = 0;
    loop {
        let mut found = None;
        let next = engine
            .flows
            .for_each_from(at, time::now_ms(), u64::MAX, |e| {
                if e.held_bytes() == 0 || !which(e) {
                    return true;
                }
                found = resets_of(e);
                e.forget_held(&engine.flows);
                false
            });
        if let Some(r) = found {
            bump(&snoop.stats.flows_reset);
            if let Some(peer) = dev.sibling(r.iif, rcu) {
                skb::xmit_frame(peer, &r.to_sender.0[..r.to_sender.1], rcu);
            }
            if let Some(queue) = guest {
                queue.send_frame(dev, &r.to_guest.0[..r.to_guest.1], rcu);
            }
        }
        match next {
            Some(i) => at = i + 1,
            None => return,
        }
    }
}
