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
//! delivery buffer until the guest's own ACK covers it. Window growth
//! invites the sender past the guest's window only for a guest the port
//! sees running in turns (away: bytes handed to it unacked for
//! [`GUEST_AWAY_MS`]); a segment acked that the guest is not handed at
//! once is parked: the frame itself is kept, and handed (a clone of it)
//! when the guest's ACKs open its window that far. The holes the
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
    FromGuest, Offline, Params, Resend, Room, ToGuest, ACK_FRAME_MAX, GUEST_AWAY_MS, SCHEDULED_MS,
};
use crate::policy::tcp::{self, before, Segment};
use crate::sys::netdev::NetDevice;
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::{Guard, RcuBox};
use crate::sys::rtnl::Rtnl;
use crate::sys::skb::{
    self, Egress, Frame, HeldSkb, HeldSkbs, PlainPath, SkBuff, PTR_RING_CACHE_BATCH,
};
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
    pub(crate) parked: AtomicU64,
    pub(crate) released: AtomicU64,
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
    /// When a flow last saw its guest away (ms, jiffies clock; 0: never).
    away_ms: AtomicU64,
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

    /// Notes a guest away now.
    fn saw_away(&self, now: u64) {
        self.away_ms.store(now.max(1), Relaxed);
    }

    /// Whether the guest runs in turns: seen away lately.
    fn scheduled(&self, now: u64) -> bool {
        let at = self.away_ms.load(Relaxed);
        at != 0 && now.saturating_sub(at) < SCHEDULED_MS
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
/// capacity ([`RingGauge::admit`]): `false` says the frame is not to go to
/// the device (dropped, [`ring_drop`], as the tap itself would drop it
/// when full, unless window growth parks it).
///
/// [`RingGauge::admit`]: crate::policy::snoop::RingGauge::admit
pub(crate) fn admit(tap: &Tap, entries: u32, dev: &NetDevice) -> bool {
    tap.ring
        .admit(entries, u64::from(dev.tx_queue_len()), || dev.ring_out())
}

/// Drops a frame the ring had no room for (counted in `ring_drops`).
pub(crate) fn ring_drop<'a>(snoop: &Snoop, skb: Egress<'a>) -> Verdict<'a> {
    bump(&snoop.stats.ring_drops);
    Verdict::Drop(skb.into_inner())
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

    /// Queue entries to spare above ring-margin now: what parked frames
    /// may take ([`take_release`]).
    fn spare(self, snoop: &Snoop, dev: &NetDevice) -> u32 {
        let margin = snoop.config.ring_margin.load(Relaxed);
        match self {
            GuestQueue::Tap(tap) => {
                let limit = tun_ring_limit(dev.tx_queue_len(), PTR_RING_CACHE_BATCH, margin);
                let spare = tap.ring.spare(limit, || dev.ring_out());
                u32::try_from(spare).unwrap_or(u32::MAX)
            }
            GuestQueue::Zones(zones) => zones.spare(margin),
        }
    }

    /// Entries a frame takes in the queue.
    fn entries(self, frame: &Frame) -> u32 {
        match self {
            GuestQueue::Tap(_) => ring_entries(frame.segments(), || frame.needs_gso()),
            GuestQueue::Zones(_) => 1,
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

    /// A frame kept instead of going to the queue (parked): what was
    /// counted for it into a tap's ring is taken back.
    fn withdraw(self, skb: &Egress<'_>) {
        if let GuestQueue::Tap(tap) = self {
            tap.ring.withdraw(self.entries(skb.skb()));
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
                if !admit(tap, self.entries(&skb), dev) {
                    bump(&snoop.stats.ring_drops);
                    return None;
                }
                Some(skb.transmit(rcu))
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
    /// It is kept (parked) and acked; the flow is marked busy until it is
    /// held. Then the parked frames `Resend::Release` names are handed.
    Park(Ack<'r>, Resend),
}

/// Whether an early ack may follow: the ring's room and the port's
/// delivery buffers.
fn room(snoop: &Snoop, engine: &Engine, ring: bool) -> Room {
    if engine.flows.held_bytes() >= u64::from(snoop.config.buffer_max.load(Relaxed)) {
        Room::HeldFull
    } else if !ring {
        Room::RingFull
    } else {
        Room::Free
    }
}

/// A TCP segment the bridge sends out of `dev` toward the guest's
/// `queue`, already counted in a tap's ring gauge if `admitted`; one the
/// ring had no room for is dropped, unless window growth parks it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn to_guest<'a>(
    snoop: &Snoop,
    engine: &Engine,
    queue: GuestQueue<'_>,
    skb: Egress<'a>,
    seg: Segment,
    admitted: bool,
    dev: &NetDevice,
    rcu: &Guard,
) -> Verdict<'a> {
    let (now, idle, p) = (time::now_ms(), snoop.idle_ms(), snoop.params());
    let pass = |skb: Egress<'a>| {
        if admitted {
            queue.pass(skb)
        } else {
            ring_drop(snoop, skb)
        }
    };
    if engine.draining() {
        follow_only(snoop, engine, &seg, now, idle, &p);
        return pass(skb);
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
    let room = room(
        snoop,
        engine,
        admitted && path.is_some() && queue.room(snoop, dev),
    );
    let key = FlowKey::to_guest(&seg);
    let found = engine.flows.with(&key, now, idle, &skb, |e, skb| {
        // The guest's scheduling matters only to growth.
        let away = p.grow && guest_away(e, now);
        if away {
            snoop.saw_away(now);
        }
        let room = match room {
            Room::Free if away => Room::Away,
            Room::Free if p.grow && snoop.scheduled(now) => Room::Scheduled,
            room => room,
        };
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
        Plan::Pass => pass(skb),
        Plan::Reack(ack) => {
            send_ack(snoop, &seg, &ack, rcu);
            pass(skb)
        }
        Plan::Deliver(ack, before, held) => {
            // `Deliver` is only decided for data with a way to the queue,
            // which has room (so it was admitted).
            let Some(path) = path else {
                return pass(skb);
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
                    if !e.hold(held, seg.seq, seg.end_seq(), false, &engine.flows) {
                        bump(&snoop.stats.held_gaps);
                    }
                    return ((), Keep::Yes);
                }
                // The queue did not take it: nothing of it was acked.
                e.flow = before;
                let (_, ev) = e.flow.to_guest(&seg, Room::NoAck, &p);
                snoop.count_offline(ev.offline);
                ((), snoop.keep(ev.remove))
            });
            verdict
        }
        Plan::Park(ack, release) => {
            if admitted {
                queue.withdraw(&skb);
            }
            let mut budget = Budget::of(queue, snoop, engine, dev);
            let mut frames = HeldSkbs::new();
            let (held, sent) = skb.keep();
            if send_ack(snoop, &seg, &ack, rcu) {
                snoop
                    .stats
                    .early_acked_bytes
                    .fetch_add(seg.payload.into(), Relaxed);
            }
            bump(&snoop.stats.parked);
            let found = engine.flows.with(&key, now, idle, held, |e, held| {
                e.busy = false;
                e.early_acks += 1;
                if !e.hold(held, seg.seq, seg.end_seq(), true, &engine.flows) {
                    bump(&snoop.stats.held_gaps);
                }
                take_resends(e, release, &mut budget, &mut frames);
                ((), Keep::Yes)
            });
            if !matches!(found, Found::Flow(())) {
                // Acked, and gone with its flow: nothing can bring it.
                bump(&snoop.stats.held_gaps);
            }
            send_resends(snoop, queue, dev, frames, &snoop.stats.released, rcu);
            Verdict::Stolen(sent)
        }
    }
}

/// Whether the flow's guest is away: quiet for a while, bytes handed to
/// it unacked.
fn guest_away(e: &Entry, now: u64) -> bool {
    now.saturating_sub(e.guest_ms) >= GUEST_AWAY_MS && e.flow.held() != e.flow.parked()
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
    let (spec, park) = match decision {
        ToGuest::PassAndAck(spec) => (spec, false),
        ToGuest::ParkAndAck(spec) => (spec, true),
        ToGuest::Pass => {
            snoop.count_offline(ev.offline);
            return (Plan::Pass, snoop.keep(ev.remove));
        }
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
    if park {
        e.busy = true;
        return (Plan::Park(ack, ev.resend), keep);
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
    let (_, ev) = e.flow.to_guest(seg, Room::NoAck, p);
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

/// Room in the guest's queue for parked frames, counted down as they are
/// released.
struct Budget<'q> {
    queue: GuestQueue<'q>,
    entries: u32,
}

impl<'q> Budget<'q> {
    /// What `queue` has to spare, read only if any flow has parked bytes.
    fn of(queue: GuestQueue<'q>, snoop: &Snoop, engine: &Engine, dev: &NetDevice) -> Self {
        let entries = if engine.flows.parked_bytes() != 0 {
            queue.spare(snoop, dev)
        } else {
            0
        };
        Budget { queue, entries }
    }

    /// Takes room for `frame`, if there is.
    fn take(&mut self, frame: &Frame) -> bool {
        let n = self.queue.entries(frame);
        let ok = n <= self.entries;
        if ok {
            self.entries -= n;
        }
        ok
    }
}

/// Copies of what a flow's delivery buffer re-sends or releases (within
/// `budget`), made under its lock (into `out`), sent after it by
/// [`send_resends`].
fn take_resends(e: &mut Entry, what: Resend, budget: &mut Budget<'_>, out: &mut HeldSkbs) {
    let (n, holes) = match what {
        Resend::Nothing => return,
        Resend::Release { from, to } => return take_release(e, from, to, budget, out),
        Resend::Head => (1, None),
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

/// Copies of the parked frames from `from` on that start before `to`, in
/// order, as many as `budget` has room for (the rest stay parked, for the
/// next ACK or tick); the flow learns where they end. One that the queue
/// then has no room for after all is lost on the way in, as any frame can
/// be: the guest's ACKs or the timer bring it again.
fn take_release(e: &mut Entry, from: u32, to: u32, budget: &mut Budget<'_>, out: &mut HeldSkbs) {
    let end = e.hand_parked(from, to, |f| budget.take(f), out);
    e.flow.handed_to(end);
}

/// Sends the frames in `frames` to the guest's `queue`, each counted in
/// `sent`; what the queue has no room for is dropped (ring-drops) and
/// waits for the next re-send.
fn send_resends(
    snoop: &Snoop,
    queue: GuestQueue<'_>,
    dev: &NetDevice,
    mut frames: HeldSkbs,
    sent: &AtomicU64,
    rcu: &Guard,
) {
    while let Some(skb) = frames.pop_front() {
        match queue.resend(snoop, dev, skb, rcu) {
            Some(true) => bump(sent),
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
    let (now, idle, p) = (time::now_ms(), snoop.idle_ms(), snoop.params());
    let drained = queue.drained(dev);
    let mut budget = Budget::of(queue, snoop, engine, dev);
    let (mut frames, mut released) = (HeldSkbs::new(), HeldSkbs::new());
    let (mut stale, mut gap, mut away) = (false, false, false);
    engine.flows.for_each_from(0, now, idle, |e| {
        stale |= e.held_bytes() != 0 && e.idle(now, idle);
        away |= p.grow && guest_away(e, now);
        if drained {
            let what = if engine.draining() {
                e.flow.drain_tick()
            } else {
                e.flow.tick()
            };
            if let Resend::Release { .. } = what {
                take_resends(e, what, &mut budget, &mut released);
                return true;
            }
            // Quiet below a byte nothing holds: only a reset ends it.
            gap |= what != Resend::Nothing && e.head_gap();
            take_resends(e, what, &mut budget, &mut frames);
        }
        true
    });
    if away {
        snoop.saw_away(now);
    }
    send_resends(snoop, queue, dev, frames, &snoop.stats.resends, rcu);
    send_resends(snoop, queue, dev, released, &snoop.stats.released, rcu);
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
    let mut budget = Budget::of(queue, snoop, engine, dev);
    let skb = match engine.flows.with(&key, now, idle, skb, |e, skb| {
        e.guest_ms = now;
        judge_from_guest(snoop, engine, e, &seg, skb, &p, &mut budget)
    }) {
        Found::Flow((v, resends, release)) => {
            let sent = if release {
                &snoop.stats.released
            } else {
                &snoop.stats.resends
            };
            send_resends(snoop, queue, dev, resends, sent, rcu);
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
    budget: &mut Budget<'_>,
) -> ((Verdict<'a>, HeldSkbs, bool), Keep) {
    let mut resends = HeldSkbs::new();
    // A segment toward the guest is being delivered: the flow's state
    // stays as it was until that is known; this one passes as it is.
    if e.busy {
        return ((Verdict::Accept(skb), resends, false), Keep::Yes);
    }
    let (decision, ev) = e.flow.from_guest(seg, p);
    e.release(&engine.flows);
    if e.guest_mac.is_none() {
        e.guest_mac = guest_mac(&skb);
    }
    let release = matches!(ev.resend, Resend::Release { .. });
    take_resends(e, ev.resend, budget, &mut resends);
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
        FromGuest::Rewrite {
            ack,
            window,
            sack_from,
        } => {
            let partial = skb.csum_partial();
            let sack = sack_from.zip(seg.opts.sack_offset).map(|(f, o)| (o, f));
            // The options too when the SACK blocks change.
            let end = match sack {
                Some(_) => seg.tcp_offset + seg.header_len,
                None => seg.tcp_offset + tcp::OFF_CHECK + 2,
            };
            let done = skb
                .header_mut(end)
                .and_then(|h| apply_rewrite(&mut h[seg.tcp_offset..], ack, window, sack, partial));
            if done.is_some() {
                e.acks_rewritten += 1;
                bump(&snoop.stats.acks_rewritten);
            }
            // Unrewritten (no memory), the segment still goes: an older
            // ack the sender ignores, a larger window it may use.
            Verdict::Accept(skb)
        }
    };
    ((verdict, resends, release), keep)
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
    let frame = e.first_held()?;
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
