// SPDX-License-Identifier: GPL-2.0

//! Zone ports (SETH's gbuffer, over a bridge port): frames the bridge sends
//! out of the port are placed once into shared-memory zones its consumer
//! maps, and posted on a receive ring, instead of being queued on the
//! device. The consumer (`/dev/vassist-zone`, one open file bound to the
//! port) reads them in place and gives the buffers back on the return ring.
//! It may also send: frames it writes into buffers it holds and posts on
//! the transmit ring are injected into the bridge as received on the port,
//! their headers copied and the rest referenced in place; each buffer comes
//! back on the completion ring once the stack is done with it. The rules
//! (allocator, rings, layout, what a frame may be) are `policy::zone`'s;
//! this file moves the bytes and keeps the state.
//!
//! Frames to a zone port with no consumer bound are dropped and counted, as
//! a tap without a reader drops them. A frame is stolen from the bridge
//! before br_netfilter's post-routing hook: the IP post-routing hooks do not
//! see it.

use crate::error::VaError;
use crate::policy::evi::{self, Action, Event, RingEngine};
use crate::policy::zone::abi::{self, Desc, Info, Layout};
use crate::policy::zone::{
    bufs_for, tx_frame, Addr, BufId, Buffers, Consumer, Geometry, Owner, Producer, TxFrame, Usage,
    BUF_SIZE, TX_BUFS_MAX,
};
use crate::port;
use crate::sys::bhlock::{new_bh_spinlock, BhSpinLock};
use crate::sys::errno::{enotconn, eopnotsupp};
use crate::sys::eventfd::{EventFd, EventFdWatch, Kicked};
use crate::sys::hrtimer::{HrTimer, HrTimerHandler};
use crate::sys::miscdev::{File, MiscFile, UserArg};
use crate::sys::netdev::{NetDevice, NetDeviceRef, NetRef};
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::{Guard, RcuBox};
use crate::sys::rtnl::{self, Rtnl, RtnlCell};
use crate::sys::skb::{Egress, Frame, ETH_HLEN};
use crate::sys::usermem::{UserMem, VmArea};
use crate::sys::workqueue::{ModuleQueue, QueueRegistration};
use crate::sys::zerocopy::{Completion, InFrame, ZeroCopy};
use core::pin::Pin;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use kernel::c_str;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::time::Ktime;
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};
use kernel::ThisModule;

/// The most buffers one frame may take: a 64 KiB GSO frame and its
/// headers; a larger one is dropped and counted.
const FRAME_BUFS_MAX: u32 = 18;

/// Frames the transmit work sends before it lets other work run.
const TX_BUDGET: u32 = 256;

/// `ioctl` numbers (`include/uapi/linux/vassist_zone.h`).
use crate::defs::zone::{IOC_ALLOC, IOC_BIND, IOC_INFO};

/// A zone port's counters.
#[derive(Clone, Copy, Default)]
pub(crate) struct Stats {
    /// Frames placed and posted, and their bytes.
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
    /// Dropped: no consumer bound; no free buffer; no room in the ring; an
    /// offload a virtio-net header cannot express, or too long.
    pub(crate) no_consumer: u64,
    pub(crate) no_buffer: u64,
    pub(crate) ring_full: u64,
    pub(crate) unsupported: u64,
    /// Buffers the consumer gave back, and what it wrote that was rejected
    /// (addresses, ring indices).
    pub(crate) returned: u64,
    pub(crate) bad_desc: u64,
    /// Receive eventfd signals: the EVI/EoC engine's (counted in `evi`),
    /// every frame's, and those for completions and the port's end.
    pub(crate) notifications: u64,
    /// The EVI/EoC engine's decisions.
    pub(crate) evi: evi::Stats,
    /// Zones that could not be added (no memory).
    pub(crate) grow_failed: u64,
    /// Frames the consumer sent into the bridge, their bytes, and the
    /// bytes of them copied (headers; the rest is referenced in place).
    pub(crate) tx_frames: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_copied: u64,
    /// Sent frames dropped: no memory, or a virtio-net header the stack
    /// refused.
    pub(crate) tx_dropped: u64,
    /// Buffers handed to the consumer on the completion ring: sent ones
    /// the stack is done with, rejected ones, lent ones.
    pub(crate) completions: u64,
    /// Transmit eventfd signals.
    pub(crate) kicks: u64,
}

/// Why a frame was not placed.
#[derive(Clone, Copy)]
enum Dropped {
    Unsupported,
    RingFull,
    NoBuffer,
}

impl Stats {
    fn dropped(&mut self, why: Dropped) {
        match why {
            Dropped::Unsupported => self.unsupported += 1,
            Dropped::RingFull => self.ring_full += 1,
            Dropped::NoBuffer => self.no_buffer += 1,
        }
    }
}

struct Inner {
    bufs: Buffers<KVec<u32>, KVec<Owner>>,
    /// Zone `z`'s memory at index `z`.
    mem: KVec<Arc<UserMem>>,
    rx: Producer,
    ret: Consumer,
    tx: Consumer,
    comp: Producer,
    /// The bound consumer's receive eventfd.
    consumer: Option<EventFd>,
    /// How received frames are notified, and the EVI/EoC engine's state.
    notify: Notify,
    evi: RingEngine,
    /// The coalescing timer and its time, once notify was timer (kept
    /// until the port stops being a zone port).
    timer: Option<HrTimer<Zones>>,
    coalesce_ns: u64,
    /// The end-of-batch work is queued.
    eoc_queued: bool,
    /// Its transmit kick, if it sends.
    kick: Option<Pin<KBox<EventFdWatch<Zones>>>>,
    /// The port's device, which sent frames are received on, until the
    /// port stops being a zone port (shared: holding a device allocates,
    /// which the lock does not allow).
    dev: Option<Arc<NetDeviceRef>>,
    bound: bool,
    detached: bool,
    /// A zone is being added.
    growing: bool,
    stats: Stats,
}

/// A zone port's zones and rings.
#[pin_data]
pub(crate) struct Zones {
    zone_size: u32,
    layout: Layout,
    rings: UserMem,
    /// Held by each sent frame until it completes.
    module: &'static ThisModule,
    #[pin]
    inner: BhSpinLock<Inner>,
    /// Transmit eventfd signals (counted outside the lock: they come
    /// under the eventfd's).
    kicks: AtomicU64,
    /// Adds a zone, in process context.
    #[pin]
    grow: Work<Zones, 0>,
    /// Sends what the consumer posted, in process context.
    #[pin]
    transmit: Work<Zones, 1>,
    /// Ends a host batch (EoC): in softirq context, after the receive
    /// softirq that placed frames is done.
    #[pin]
    end_of_batch: Work<Zones, 2>,
}

impl_has_work! {
    impl HasWork<Self, 0> for Zones { self.grow }
    impl HasWork<Self, 1> for Zones { self.transmit }
    impl HasWork<Self, 2> for Zones { self.end_of_batch }
}

impl WorkItem<0> for Zones {
    type Pointer = Arc<Zones>;

    fn run(this: Arc<Zones>) {
        this.add_zone();
    }
}

impl WorkItem<1> for Zones {
    type Pointer = Arc<Zones>;

    fn run(this: Arc<Zones>) {
        Zones::transmit(&this);
    }
}

impl WorkItem<2> for Zones {
    type Pointer = Arc<Zones>;

    fn run(this: Arc<Zones>) {
        this.end_batch();
    }
}

impl Kicked for Zones {
    fn kicked(this: &Arc<Self>) {
        this.kicks.fetch_add(1, Ordering::Relaxed);
        WORK.enqueue::<_, 1>(this.clone());
    }
}

/// Where zones are added and frames sent: the module's own queue, so that
/// rmmod waits for the work.
static WORK: ModuleQueue = ModuleQueue::new();

/// Where host batches end: a softirq queue of the module's own.
static BATCH_END: ModuleQueue = ModuleQueue::new();

/// The zones' queues, while the module is loaded.
pub(crate) struct Queues {
    _work: QueueRegistration,
    _batch_end: QueueRegistration,
}

pub(crate) fn register() -> Result<Queues> {
    Ok(Queues {
        _work: WORK.register(c_str!("vassist_zones"), false)?,
        _batch_end: BATCH_END.register(c_str!("vassist_zones_eoc"), true)?,
    })
}

/// How a zone port notifies its consumer of received frames.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notify {
    /// VNET/P+'s optimistic interrupts: an early one (EVI) as a frame
    /// arrives for a waiting consumer, and at the end of the host's batch
    /// (EoC) one by receive density (`policy::evi`).
    EviEoc,
    /// Every frame placed: the latency baseline.
    EveryFrame,
    /// A fixed-timer coalescer (virtio's NOTF_COAL, ethtool's rx-usecs):
    /// the first frame starts a timer; at its end a waiting consumer is
    /// notified. For comparison.
    Timer,
}

impl HrTimerHandler for Zones {
    fn expired(&self) {
        let mut inner = self.inner.lock();
        if inner.notify == Notify::Timer && inner.bound && !inner.detached {
            self.wake_waiting(&mut inner);
        }
    }
}

/// The monotonic clock, in nanoseconds, for the engine.
fn clock() -> u64 {
    Ktime::ktime_get().to_ns() as u64
}

/// A sent frame's buffers, given back when the stack is done with them.
struct SentBufs {
    zones: Arc<Zones>,
    ids: [BufId; TX_BUFS_MAX],
    n: usize,
}

impl Completion for SentBufs {
    fn complete(self) {
        let mut inner = self.zones.inner.lock();
        let ids = self.ids.get(..self.n).unwrap_or(&[]);
        self.zones.finish_sent(&mut inner, ids);
    }
}

/// What the transmit ring has next.
enum Next<'d> {
    /// A frame, built; `None` if it was rejected or dropped (counted).
    Frame(Option<Outgoing<'d>>),
    /// Nothing to take as of the consumer's index `seen` (none, not all
    /// of a frame, no room to complete it, or an index that does not fit).
    Wait(u32),
    /// The consumer or the device is gone.
    Stop,
}

/// A frame taken from the transmit ring, built, ready to go.
struct Outgoing<'d> {
    frame: InFrame<'d>,
    vnet: [u8; abi::VNET_LEN],
    /// Its pages' completion, if any are referenced.
    sent: Option<SentBufs>,
}

impl Zones {
    /// The rings and the first zone, for `geometry`, sending on `dev`.
    fn new(geometry: Geometry, dev: &NetDevice) -> Result<Arc<Zones>> {
        let n = geometry.bufs_max();
        let free = KVec::from_elem(0, n, GFP_KERNEL)?;
        let owner = KVec::from_elem(Owner::Free, n, GFP_KERNEL)?;
        let mut bufs = Buffers::new(geometry, free, owner).ok_or(EINVAL)?;
        let mut mem = KVec::with_capacity(geometry.zones_max() as usize, GFP_KERNEL)?;
        mem.push(
            Arc::new(UserMem::new(geometry.zone_size() as usize)?, GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        bufs.add_zone();
        let layout = Layout::new(geometry.ring());
        let rings = UserMem::new(layout.size as usize)?;
        let dev = Arc::new(dev.hold(), GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Zones {
                zone_size: geometry.zone_size(),
                layout,
                rings,
                module: &crate::THIS_MODULE,
                inner <- new_bh_spinlock!(
                    Inner {
                        bufs,
                        mem,
                        rx: Producer::new(geometry.ring(), 0),
                        ret: Consumer::new(geometry.ring(), 0),
                        tx: Consumer::new(geometry.ring(), 0),
                        comp: Producer::new(geometry.ring(), 0),
                        consumer: None,
                        notify: Notify::EviEoc,
                        // The host reads WAITING after each placement.
                        evi: RingEngine::new(evi::Config {
                            rechecks: true,
                            ..evi::Config::default()
                        }),
                        timer: None,
                        coalesce_ns: 0,
                        eoc_queued: false,
                        kick: None,
                        dev: Some(dev),
                        bound: false,
                        detached: false,
                        growing: false,
                        stats: Stats::default(),
                    },
                    "vassist_zones"
                ),
                kicks: AtomicU64::new(0),
                grow <- new_work!("vassist_zones_grow"),
                transmit <- new_work!("vassist_zones_transmit"),
                end_of_batch <- new_work!("vassist_zones_eoc"),
            }),
            GFP_KERNEL,
        )
    }

    fn index(&self, head: u32, field: u32) -> Option<&AtomicU32> {
        self.rings.index((head + field) as usize)
    }

    /// The counters, with the buffers given back so far taken in.
    fn stats(&self) -> (Stats, Usage, bool) {
        let mut inner = self.inner.lock();
        if inner.bound {
            self.take_returns(&mut inner);
        }
        let mut stats = inner.stats;
        stats.kicks = self.kicks.load(Ordering::Relaxed);
        stats.evi = *inner.evi.stats();
        (stats, inner.bufs.usage(), inner.bound)
    }

    /// Places the frame for the consumer and steals it, or drops it.
    pub(crate) fn place<'a>(this: &Arc<Zones>, skb: Egress<'a>, net_len: u32) -> Verdict<'a> {
        // Freed outside the lock: a frame another zone port sent completes
        // its buffers under that port's lock, of the same class.
        if Zones::place_copy(this, skb.skb(), net_len) {
            Verdict::Stolen(skb.consume())
        } else {
            Verdict::Drop(skb.into_inner())
        }
    }

    /// Places a copy of `frame` (`net_len` bytes from its network header)
    /// for the consumer; whether it was placed (a drop is counted).
    pub(crate) fn place_copy(this: &Arc<Zones>, frame: &Frame, net_len: u32) -> bool {
        let mut inner = this.inner.lock();
        if !inner.bound || inner.detached {
            inner.stats.no_consumer += 1;
            return false;
        }
        this.take_returns(&mut inner);
        this.arrived(&mut inner, net_len);
        let placed = this.post(&mut inner, frame, net_len);
        this.grow_if_low(&mut inner);
        match placed {
            Ok(()) => this.placed(&mut inner),
            Err(why) => inner.stats.dropped(why),
        }
        placed.is_ok()
    }

    /// Whether the receive ring and the free buffers each have more than
    /// `margin` entries to spare: room for frames besides those acked
    /// early (ack offload's ring-room rule, as on a tap's ring).
    pub(crate) fn room(&self, margin: u32) -> bool {
        self.spare(margin) > 0
    }

    /// Frames that can be placed, each in one buffer, before the receive
    /// ring or the free buffers are down to `margin`.
    pub(crate) fn spare(&self, margin: u32) -> u32 {
        let mut inner = self.inner.lock();
        let cons = self.index(self.layout.rx_head, abi::HEAD_CONSUMER);
        let room = match cons.map(|c| inner.rx.sync(c.load(Ordering::Acquire))) {
            Some(Ok(room)) => room,
            _ => return 0,
        };
        if !inner.bound {
            return 0;
        }
        self.take_returns(&mut inner);
        room.min(inner.bufs.free()).saturating_sub(margin)
    }

    /// Whether the consumer has taken every frame placed for it.
    pub(crate) fn drained(&self) -> bool {
        let mut inner = self.inner.lock();
        let cons = self.index(self.layout.rx_head, abi::HEAD_CONSUMER);
        cons.is_some_and(|c| inner.rx.sync(c.load(Ordering::Acquire)).is_ok())
            && inner.rx.is_empty()
    }

    /// Free buffers running low: another zone, in process context.
    #[inline]
    fn grow_if_low(self: &Arc<Zones>, inner: &mut Inner) {
        let low = inner.bufs.free() < inner.bufs.geometry().bufs_per_zone() / 4;
        if low && inner.bufs.can_grow() && !inner.growing {
            inner.growing = WORK.enqueue::<_, 0>(self.clone());
        }
    }

    /// Sends what the consumer posted on the transmit ring, up to a
    /// budget, then requeues itself; with the ring empty, asks to be
    /// kicked, and looks once more so that a frame posted meanwhile is not
    /// left waiting for a kick that will not come.
    fn transmit(this: &Arc<Zones>) {
        let Some(flags) = this.index(this.layout.tx_head, abi::HEAD_FLAGS) else {
            return;
        };
        let Some(dev) = this.inner.lock().dev.clone() else {
            return;
        };
        let Some(prod) = this.index(this.layout.tx_head, abi::HEAD_PRODUCER) else {
            return;
        };
        flags.store(0, Ordering::Relaxed);
        let mut taken = 0;
        while taken < TX_BUDGET {
            match this.next_outgoing(&dev) {
                Next::Frame(out) => {
                    if let Some(out) = out {
                        this.send(out);
                    }
                    taken += 1;
                }
                Next::Stop => return,
                Next::Wait(seen) => {
                    flags.store(abi::RING_NEED_KICK, Ordering::Relaxed);
                    // Pairs with the consumer's barrier between publishing
                    // and reading the flag: one of the two sees the other.
                    fence(Ordering::SeqCst);
                    if prod.load(Ordering::Acquire) == seen {
                        return;
                    }
                    flags.store(0, Ordering::Relaxed);
                }
            }
        }
        WORK.enqueue::<_, 1>(this.clone());
    }

    /// Takes the next frame off the transmit ring.
    fn next_outgoing<'d>(self: &Arc<Zones>, dev: &'d NetDevice) -> Next<'d> {
        let mut inner = self.inner.lock();
        let (Some(_), Some(_), Some(prod), Some(cons)) = (
            inner.kick.as_ref(),
            inner.dev.as_ref(),
            self.index(self.layout.tx_head, abi::HEAD_PRODUCER),
            self.index(self.layout.tx_head, abi::HEAD_CONSUMER),
        ) else {
            return Next::Stop;
        };
        let seen = prod.load(Ordering::Acquire);
        let Ok(avail) = inner.tx.sync(seen) else {
            inner.stats.bad_desc += 1;
            return Next::Wait(seen);
        };
        match self.take_frame(&mut inner, dev, avail, cons) {
            Some(next) => next,
            None => Next::Wait(seen),
        }
    }

    /// The frame at the head of the transmit ring's `avail` entries:
    /// `None` if it is not all there yet, or there is no room to complete
    /// its buffers.
    fn take_frame<'d>(
        self: &Arc<Zones>,
        inner: &mut Inner,
        dev: &'d NetDevice,
        avail: u32,
        cons: &AtomicU32,
    ) -> Option<Next<'d>> {
        // The frame's entries: up to one without MORE, or one past the
        // most a frame may have (then rejected whole).
        let mut descs = [Desc::from_bytes([0; abi::DESC_SIZE as usize]); TX_BUFS_MAX + 1];
        let mut n = 0;
        loop {
            if n as u32 >= avail {
                return None;
            }
            let at = inner.tx.slot(n as u32).map(|slot| {
                (self.layout.tx_descs as usize)
                    .wrapping_add(slot.wrapping_mul(abi::DESC_SIZE as usize))
            });
            let d = Desc::from_bytes(at.and_then(|at| self.rings.read(at))?);
            *descs.get_mut(n)? = d;
            n += 1;
            if d.flags & abi::DESC_MORE == 0 || n == descs.len() {
                break;
            }
        }
        let descs = descs.get(..n)?;
        // Room on the completion ring for each of its buffers besides those
        // out already: every buffer has a place to come back to.
        let ccons = self.index(self.layout.comp_head, abi::HEAD_CONSUMER)?;
        let room = match inner.comp.sync(ccons.load(Ordering::Acquire)) {
            Ok(room) => room,
            Err(_) => {
                inner.stats.bad_desc += 1;
                inner.comp.room()
            }
        };
        if room.saturating_sub(inner.bufs.usage().sent) < n as u32 {
            return None;
        }
        cons.store(inner.tx.release(n as u32), Ordering::Release);
        let mut addrs = [Addr { zone: 0, offset: 0 }; TX_BUFS_MAX + 1];
        for (a, d) in addrs.iter_mut().zip(descs) {
            *a = d.addr;
        }
        let addrs = addrs.get(..n)?;
        let mut ids = [BufId(0); TX_BUFS_MAX];
        let frame = tx_frame(descs).and_then(|f| inner.bufs.send(addrs, &mut ids).map(|()| f));
        let Ok(frame) = frame else {
            inner.stats.bad_desc += 1;
            self.hand_back(inner, addrs);
            return Some(Next::Frame(None));
        };
        let ids = ids.get(..n)?;
        let Some((built, referenced)) = self.build(inner, dev, &frame, descs) else {
            inner.stats.tx_dropped += 1;
            self.finish_sent(inner, ids);
            return Some(Next::Frame(None));
        };
        inner.stats.tx_frames += 1;
        inner.stats.tx_bytes += frame.len as u64;
        inner.stats.tx_copied += frame.linear as u64;
        let sent = if referenced {
            let mut all = [BufId(0); TX_BUFS_MAX];
            for (a, id) in all.iter_mut().zip(ids) {
                *a = *id;
            }
            Some(SentBufs {
                zones: self.clone(),
                ids: all,
                n,
            })
        } else {
            // Copied whole: done with its buffers already.
            self.finish_sent(inner, ids);
            None
        };
        Some(Next::Frame(Some(Outgoing {
            frame: built,
            vnet: frame.vnet,
            sent,
        })))
    }

    /// Builds the frame on `dev`: its first `linear` bytes copied, the
    /// rest of each buffer a page fragment. Whether any is referenced.
    fn build<'d>(
        &self,
        inner: &Inner,
        dev: &'d NetDevice,
        frame: &TxFrame,
        descs: &[Desc],
    ) -> Option<(InFrame<'d>, bool)> {
        let mut f = InFrame::new(dev, frame.linear)?;
        let mut copy = frame.linear;
        let mut referenced = false;
        for d in descs {
            let mem = inner.mem.get(d.addr.zone as usize)?;
            let base = d.addr.offset as usize;
            let c = copy.min(d.len);
            if c > 0 {
                f.copy_in(mem, base, c)?;
                copy -= c;
            }
            if c < d.len {
                f.add_page(mem, base.wrapping_add(c as usize), d.len - c)?;
                referenced = true;
            }
        }
        Some((f, referenced))
    }

    /// Hands a frame to the stack, its buffers' completion with it.
    fn send(&self, out: Outgoing<'_>) {
        let done = match out.sent.map(|s| ZeroCopy::new(s, self.module)) {
            Some(Ok(zc)) => Some(zc),
            Some(Err(s)) => {
                // No memory for the completion: the frame cannot go.
                drop(out.frame);
                let mut inner = self.inner.lock();
                inner.stats.tx_dropped += 1;
                self.finish_sent(&mut inner, s.ids.get(..s.n).unwrap_or(&[]));
                return;
            }
            None => None,
        };
        if !out.frame.receive(&out.vnet, done) {
            self.inner.lock().stats.tx_dropped += 1;
        }
    }

    /// The stack is done with sent buffers: back to the consumer on the
    /// completion ring (free if it is gone), and it is told.
    fn finish_sent(&self, inner: &mut Inner, ids: &[BufId]) {
        let geometry = *inner.bufs.geometry();
        let mut k = 0;
        for id in ids {
            let slot = inner.comp.next_slot(k);
            if inner.bufs.complete(*id, inner.bound && slot.is_some()) {
                self.write_comp(slot, geometry.addr(*id));
                k += 1;
            }
        }
        self.publish_comp(inner, k);
    }

    /// The buffers of a rejected frame that the consumer holds (each once)
    /// go back to it on the completion ring, still its own.
    fn hand_back(&self, inner: &mut Inner, addrs: &[Addr]) {
        let mut k = 0;
        for (i, a) in addrs.iter().enumerate() {
            let held = inner
                .bufs
                .lookup(*a)
                .is_ok_and(|id| inner.bufs.owner(id) == Owner::Consumer);
            let first = !addrs.get(..i).unwrap_or(&[]).contains(a);
            if held && first {
                let slot = inner.comp.next_slot(k);
                if slot.is_some() {
                    self.write_comp(slot, *a);
                    k += 1;
                }
            }
        }
        self.publish_comp(inner, k);
    }

    fn write_comp(&self, slot: Option<usize>, addr: Addr) {
        if let Some(slot) = slot {
            let at = (self.layout.comp_addrs as usize)
                .wrapping_add(slot.wrapping_mul(abi::ADDR_SIZE as usize));
            self.rings.write(at, &abi::addr_to_bytes(addr));
        }
    }

    fn publish_comp(&self, inner: &mut Inner, k: u32) {
        if k == 0 {
            return;
        }
        let prod = inner.comp.commit(k);
        if let Some(p) = self.index(self.layout.comp_head, abi::HEAD_PRODUCER) {
            p.store(prod, Ordering::Release);
        }
        inner.stats.completions += k as u64;
        self.wake_waiting(inner);
    }

    /// Lends up to `n` free buffers to the consumer (ALLOC), as many as
    /// the completion ring has room for. Returns how many.
    fn lend(self: &Arc<Zones>, n: u32) -> Result<u32> {
        let mut inner = self.inner.lock();
        if inner.kick.is_none() {
            return Err(eopnotsupp());
        }
        let ccons = self.index(self.layout.comp_head, abi::HEAD_CONSUMER);
        let room = match ccons.map(|c| inner.comp.sync(c.load(Ordering::Acquire))) {
            Some(Ok(room)) => room,
            _ => {
                inner.stats.bad_desc += 1;
                return Err(EINVAL);
            }
        };
        let n = n
            .min(room.saturating_sub(inner.bufs.usage().sent))
            .min(inner.bufs.free());
        let geometry = *inner.bufs.geometry();
        let comp = inner.comp;
        let mut k = 0;
        let lent = inner.bufs.lend(n, |id| {
            self.write_comp(comp.next_slot(k), geometry.addr(id));
            k += 1;
        });
        if lent {
            self.publish_comp(&mut inner, k);
        }
        self.grow_if_low(&mut inner);
        Ok(if lent { n } else { 0 })
    }

    /// Copies the frame into buffers and publishes its descriptors; on an
    /// error, nothing is taken and the error says which counter to bump.
    fn post(&self, inner: &mut Inner, s: &Frame, net_len: u32) -> Result<(), Dropped> {
        let tag = s.vlan_tag();
        let tag_len = if tag.is_some() { 4 } else { 0 };
        let (Some(eth), Some(vnet)) = (s.eth_header(), s.vnet_header(ETH_HLEN + tag_len)) else {
            return Err(Dropped::Unsupported);
        };
        // The Ethernet header, the tag inserted after the addresses as a
        // tap's reader would get it.
        let mut head = [0u8; ETH_HLEN as usize + 4];
        head[..12].copy_from_slice(&eth[..12]);
        if let Some([proto, tci]) = tag {
            head[12..14].copy_from_slice(&proto.to_be_bytes());
            head[14..16].copy_from_slice(&tci.to_be_bytes());
        }
        let head_len = (ETH_HLEN + tag_len) as usize;
        head[head_len - 2..head_len].copy_from_slice(&eth[12..14]);
        let len = (head_len as u32).saturating_add(net_len);
        let n = bufs_for(len);
        if n > FRAME_BUFS_MAX {
            return Err(Dropped::Unsupported);
        }
        let cons = self
            .index(self.layout.rx_head, abi::HEAD_CONSUMER)
            .map(|c| c.load(Ordering::Acquire));
        let room = match cons.map(|c| inner.rx.sync(c)) {
            Some(Ok(room)) => room,
            _ => {
                inner.stats.bad_desc += 1;
                inner.rx.room()
            }
        };
        if room < n {
            return Err(Dropped::RingFull);
        }
        let mut ids = [BufId(0); FRAME_BUFS_MAX as usize];
        let mut k = 0;
        if !inner.bufs.take(n, |id| {
            ids[k] = id;
            k += 1;
        }) {
            return Err(Dropped::NoBuffer);
        }
        let ids = &ids[..n as usize];
        let geometry = *inner.bufs.geometry();
        // Buffer `i` holds bytes [i * BUF_SIZE, +piece) of the frame. The
        // arithmetic wraps rather than checks: `len` is at most
        // FRAME_BUFS_MAX buffers, so it cannot overflow, and a checked
        // form would leave a panic path in the packet path.
        let piece = |i: u32| {
            let start = i.wrapping_mul(BUF_SIZE);
            (start, len.saturating_sub(start).min(BUF_SIZE))
        };
        let copied = ids.iter().zip(0u32..).all(|(id, i)| {
            let addr = geometry.addr(*id);
            let (start, n) = piece(i);
            let end = start.wrapping_add(n);
            let Some(mem) = inner.mem.get(addr.zone as usize) else {
                return false;
            };
            let base = addr.offset as usize;
            // The header (in the first buffer: a buffer holds more than
            // the longest; written whole, its bytes past `head_len` are
            // the data's, copied over them next), then the frame's data
            // from the network header on.
            if start == 0 && mem.write(base, &head).is_none() {
                return false;
            }
            let ds = start.max(head_len as u32);
            ds >= end
                || mem
                    .write_skb(
                        base.wrapping_add(ds.wrapping_sub(start) as usize),
                        s,
                        ds.wrapping_sub(head_len as u32),
                        end.wrapping_sub(ds),
                    )
                    .is_some()
        });
        let descs = self.layout.rx_descs as usize;
        let written = copied
            && ids.iter().zip(0u32..).all(|(id, i)| {
                let d = Desc {
                    addr: geometry.addr(*id),
                    flags: if i.wrapping_add(1) < n {
                        abi::DESC_MORE
                    } else {
                        0
                    },
                    len: piece(i).1,
                    vnet: if i == 0 { vnet } else { [0; abi::VNET_LEN] },
                };
                let at =
                    |slot: usize| descs.wrapping_add(slot.wrapping_mul(abi::DESC_SIZE as usize));
                inner
                    .rx
                    .next_slot(i)
                    .and_then(|slot| self.rings.write(at(slot), &d.to_bytes()))
                    .is_some()
            });
        let prod = self.index(self.layout.rx_head, abi::HEAD_PRODUCER);
        let (true, Some(prod)) = (written, prod) else {
            for id in ids {
                inner.bufs.untake(*id);
            }
            return Err(Dropped::Unsupported);
        };
        for id in ids {
            inner.bufs.post(*id);
        }
        prod.store(inner.rx.commit(n), Ordering::Release);
        inner.stats.frames += 1;
        inner.stats.bytes += len as u64;
        Ok(())
    }

    /// Adds a zone (the growth work), unless the port stopped being a zone
    /// port meanwhile.
    fn add_zone(&self) {
        let size = self.zone_size as usize;
        let mem = UserMem::new(size).and_then(|m| Ok(Arc::new(m, GFP_KERNEL)?));
        let mut inner = self.inner.lock();
        inner.growing = false;
        let unused = match mem {
            Ok(m) if inner.bufs.can_grow() && !inner.detached => {
                // Room was reserved for zones-max zones: no allocation.
                match inner.mem.push(m, GFP_ATOMIC) {
                    Ok(()) => {
                        inner.bufs.add_zone();
                        None
                    }
                    Err(_) => {
                        inner.stats.grow_failed += 1;
                        None
                    }
                }
            }
            Ok(m) => Some(m),
            Err(_) => {
                inner.stats.grow_failed += 1;
                None
            }
        };
        drop(inner);
        // Freed outside the lock: freeing may sleep.
        drop(unused);
    }

    /// A frame for the consumer is about to be placed: an early
    /// notification (EVI) if it waits, so that its wake-up overlaps the
    /// copy.
    fn arrived(&self, inner: &mut Inner, net_len: u32) {
        if inner.notify == Notify::EviEoc {
            let bytes = net_len.saturating_add(ETH_HLEN);
            self.decide(inner, Event::Arrival { bytes });
        }
    }

    /// A frame was placed and published: notified now (every frame), or
    /// at the end of the batch if the engine says so (EoC).
    fn placed(self: &Arc<Zones>, inner: &mut Inner) {
        // Pairs with the consumer's barrier between asking to be woken
        // and reading the producer index once more: either it sees the
        // frame, or this sees it waiting and the EoC notifies.
        fence(Ordering::SeqCst);
        match inner.notify {
            Notify::EveryFrame => self.signal(inner),
            Notify::Timer => {
                if let Some(t) = &inner.timer {
                    t.arm(inner.coalesce_ns);
                }
            }
            Notify::EviEoc => {
                let (waiting, cons) = self.consumer_state();
                if inner.evi.placed(clock, waiting, cons) && !inner.eoc_queued {
                    inner.eoc_queued = BATCH_END.enqueue::<_, 2>(self.clone());
                }
            }
        }
    }

    /// The end of a host batch that placed frames (EoC).
    fn end_batch(&self) {
        let mut inner = self.inner.lock();
        inner.eoc_queued = false;
        if inner.bound && !inner.detached {
            self.decide(&mut inner, Event::EndOfBatch);
        }
    }

    /// Feeds the host's event `ev` to the EVI/EoC engine with what the
    /// ring shows of the consumer, and notifies it if the engine says so.
    fn decide(&self, inner: &mut Inner, ev: Event) {
        let (waiting, cons) = self.consumer_state();
        if inner.evi.on(clock, waiting, cons, ev) == Action::Notify {
            self.signal(inner);
            inner.evi.notified(cons);
        }
    }

    /// Whether the consumer waits (`WAITING`), and its receive index.
    fn consumer_state(&self) -> (bool, u32) {
        let flags = self.index(self.layout.rx_head, abi::HEAD_FLAGS);
        let cons = self.index(self.layout.rx_head, abi::HEAD_CONSUMER);
        (
            flags.is_some_and(|f| f.load(Ordering::Relaxed) & abi::RING_WAITING != 0),
            cons.map_or(0, |c| c.load(Ordering::Relaxed)),
        )
    }

    /// Notifies the consumer: a waiting one wakes; a running one finds the
    /// eventfd set when it next waits.
    fn signal(&self, inner: &mut Inner) {
        if let Some(flags) = self.index(self.layout.rx_head, abi::HEAD_FLAGS) {
            flags.fetch_and(!abi::RING_WAITING, Ordering::Relaxed);
        }
        Self::signal_eventfd(inner);
    }

    /// Signals the bound consumer's receive eventfd, counted.
    fn signal_eventfd(inner: &mut Inner) {
        if let Some(e) = &inner.consumer {
            e.signal();
            inner.stats.notifications += 1;
        }
    }

    /// Signals the consumer if it said it is about to sleep, and clears
    /// the flag: one signal per sleep, however many completions follow
    /// before it runs. The barrier pairs with the consumer's between
    /// setting the flag and reading the producer index once more: one of
    /// the two sees the other.
    fn wake_waiting(&self, inner: &mut Inner) {
        fence(Ordering::SeqCst);
        let Some(flags) = self.index(self.layout.rx_head, abi::HEAD_FLAGS) else {
            return;
        };
        if flags.load(Ordering::Relaxed) & abi::RING_WAITING == 0 {
            return;
        }
        let was = flags.fetch_and(!abi::RING_WAITING, Ordering::Relaxed);
        if was & abi::RING_WAITING != 0 {
            Self::signal_eventfd(inner);
        }
    }

    /// Takes in the buffers the consumer gave back, if it gave any since
    /// the last time (every frame placed looks).
    #[inline]
    fn take_returns(&self, inner: &mut Inner) {
        let Some(prod) = self.index(self.layout.ret_head, abi::HEAD_PRODUCER) else {
            return;
        };
        let prod = prod.load(Ordering::Acquire);
        if !inner.ret.is_done_at(prod) {
            self.take_returned(inner, prod);
        }
    }

    /// Takes in the returns up to `prod`, which moved.
    #[inline(never)]
    fn take_returned(&self, inner: &mut Inner, prod: u32) {
        let Some(cons) = self.index(self.layout.ret_head, abi::HEAD_CONSUMER) else {
            return;
        };
        let Ok(avail) = inner.ret.sync(prod) else {
            inner.stats.bad_desc += 1;
            return;
        };
        for k in 0..avail {
            let at = inner
                .ret
                .slot(k)
                .map(|slot| self.layout.ret_addrs as usize + slot * abi::ADDR_SIZE as usize);
            let addr = at.and_then(|at| self.rings.read::<{ abi::ADDR_SIZE as usize }>(at));
            match addr.map(|a| inner.bufs.give_back(abi::addr_from_bytes(a))) {
                Some(Ok(_)) => inner.stats.returned += 1,
                _ => inner.stats.bad_desc += 1,
            }
        }
        cons.store(inner.ret.release(avail), Ordering::Release);
    }

    /// Binds a consumer, which sends too if it gave a `kick`: the rings
    /// start empty.
    fn bind(self: &Arc<Zones>, eventfd: EventFd, kick: Option<i32>) -> Result {
        // Made outside the lock: it allocates, and may kick at once (the
        // kick then finds nothing to send).
        let mut kick = kick
            .map(|fd| EventFdWatch::new(fd, self.clone()))
            .transpose()?;
        let mut inner = self.inner.lock();
        if inner.detached {
            drop(inner);
            return Err(ENODEV);
        }
        if inner.bound {
            drop(inner);
            return Err(EBUSY);
        }
        let ring = inner.bufs.geometry().ring();
        inner.rx = Producer::new(ring, 0);
        inner.ret = Consumer::new(ring, 0);
        inner.tx = Consumer::new(ring, 0);
        inner.comp = Producer::new(ring, 0);
        let l = &self.layout;
        for head in [l.rx_head, l.ret_head, l.tx_head, l.comp_head] {
            for field in [
                abi::HEAD_PRODUCER,
                abi::HEAD_STATUS,
                abi::HEAD_CONSUMER,
                abi::HEAD_FLAGS,
            ] {
                if let Some(i) = self.index(head, field) {
                    i.store(0, Ordering::Relaxed);
                }
            }
        }
        if let Some(f) = self.index(l.tx_head, abi::HEAD_FLAGS) {
            f.store(abi::RING_NEED_KICK, Ordering::Relaxed);
        }
        inner.consumer = Some(eventfd);
        inner.evi.rebind(0);
        core::mem::swap(&mut inner.kick, &mut kick);
        inner.bound = true;
        Ok(())
    }

    /// The consumer is gone: every buffer it held is free again (those it
    /// sent, once the stack is done with them).
    fn unbind(&self) {
        let gone = {
            let mut inner = self.inner.lock();
            inner.bound = false;
            inner.bufs.reclaim();
            (inner.consumer.take(), inner.kick.take())
        };
        // Dropped outside the lock: taking the watch off its eventfd
        // takes the eventfd's lock.
        drop(gone);
    }

    /// The port stopped being a zone port: the consumer is told, and
    /// nothing more is placed or sent.
    fn detach(&self) {
        let gone = {
            let mut inner = self.inner.lock();
            inner.detached = true;
            if let Some(s) = self.index(self.layout.rx_head, abi::HEAD_STATUS) {
                s.store(abi::RING_DETACHED, Ordering::Release);
            }
            Self::signal_eventfd(&mut inner);
            (inner.kick.take(), inner.dev.take(), inner.timer.take())
        };
        // Dropped outside the lock: cancelling the timer waits for its
        // handler, which takes the lock.
        drop(gone);
    }

    /// Notifies received frames as `params` say; the coalescing timer is
    /// made the first time it is needed (and then kept: a change back
    /// cannot fail).
    fn set_notify(self: &Arc<Zones>, params: &Params) -> Result {
        // Made outside the lock: it allocates.
        let has_timer = self.inner.lock().timer.is_some();
        let timer = match (params.notify, has_timer) {
            (Notify::Timer, false) => Some(HrTimer::new(self.clone())?),
            _ => None,
        };
        let mut inner = self.inner.lock();
        inner.notify = params.notify;
        inner.coalesce_ns = u64::from(params.coalesce_us) * 1000;
        let unused = if inner.timer.is_none() && !inner.detached {
            inner.timer = timer;
            None
        } else {
            timer
        };
        drop(inner);
        drop(unused);
        Ok(())
    }

    fn info(&self) -> Info {
        let inner = self.inner.lock();
        Info {
            geometry: *inner.bufs.geometry(),
            zones: inner.bufs.zones(),
            layout: self.layout,
        }
    }

    /// Maps the rings or one zone, as the area's offset says.
    fn map(&self, area: &VmArea) -> Result {
        let off = area.offset();
        if off == 0 {
            return self.rings.map(area);
        }
        let zone = {
            let inner = self.inner.lock();
            let size = inner.bufs.geometry().zone_size() as u64;
            let rel = off.checked_sub(abi::MMAP_ZONES).ok_or(EINVAL)?;
            if rel.checked_rem(size) != Some(0) {
                return Err(EINVAL);
            }
            let z = rel.checked_div(size).ok_or(EINVAL)?;
            inner.mem.get(z as usize).cloned().ok_or(EINVAL)?
        };
        zone.map(area)
    }
}

/// A zone port's parameters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// Zones and rings: fixed while the port is a zone port.
    pub(crate) geometry: Geometry,
    /// How received frames are notified, and the timer of `Timer`: they
    /// change at once.
    pub(crate) notify: Notify,
    pub(crate) coalesce_us: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            geometry: Geometry::default(),
            notify: Notify::EviEoc,
            coalesce_us: 50,
        }
    }
}

/// A port's zone state: its parameters, and its zones while it is a zone
/// port.
pub(crate) struct ZonePort {
    params: RtnlCell<Params>,
    zones: RcuBox<Arc<Zones>>,
}

impl Default for ZonePort {
    fn default() -> Self {
        ZonePort {
            params: RtnlCell::new(Params::default()),
            zones: RcuBox::new(),
        }
    }
}

impl ZonePort {
    /// The zones, on the packet path.
    pub(crate) fn get<'a>(&'a self, rcu: &'a Guard) -> Option<&'a Arc<Zones>> {
        self.zones.get(rcu)
    }

    /// The zones while it is on, for a writer (a reference of its own, so
    /// that RTNL can be used mutably meanwhile).
    pub(crate) fn get_held(&self, rtnl: &Rtnl) -> Option<Arc<Zones>> {
        self.zones.get_locked(rtnl).cloned()
    }

    pub(crate) fn is_on(&self) -> bool {
        self.zones.is_set()
    }

    pub(crate) fn params(&self, rtnl: &Rtnl) -> Params {
        *self.params.get(rtnl)
    }

    /// The state and counters, while it is a zone port.
    pub(crate) fn stats(&self, rtnl: &Rtnl) -> Option<(Stats, Usage, bool)> {
        self.zones.get_locked(rtnl).map(|z| z.stats())
    }

    /// Makes the port a zone port (with `params`, if given), or stops it
    /// being one; the geometry cannot change while it is one. Returns what
    /// undoes the change.
    pub(crate) fn configure(
        &self,
        on: bool,
        params: Option<Params>,
        dev: &NetDevice,
        rtnl: &mut Rtnl,
    ) -> Result<Undo, VaError> {
        let old = *self.params.get(rtnl);
        let was_on = self.is_on();
        let no_memory = |e| VaError::new(e, c_str!("no memory for the zone and rings"));
        if let Some(p) = params.filter(|p| *p != old) {
            if was_on && p.geometry != old.geometry {
                return Err(VaError::new(
                    EBUSY,
                    c_str!("zone geometry cannot change while zone is on"),
                ));
            }
            if let Some(z) = self.zones.get_locked(rtnl) {
                z.set_notify(&p).map_err(no_memory)?;
            }
            *self.params.get_mut(rtnl) = p;
        }
        let undo = Undo {
            params: old,
            stop: on && !was_on,
        };
        match (on, was_on) {
            (true, false) => {
                let p = *self.params.get(rtnl);
                let set = Zones::new(p.geometry, dev).and_then(|z| {
                    let set = z
                        .set_notify(&p)
                        .and_then(|()| self.zones.set(z.clone(), rtnl).map_err(|_| ENOMEM));
                    // A timer made holds the zones: let go of it.
                    set.inspect_err(|_| z.detach())
                });
                if let Err(e) = set {
                    *self.params.get_mut(rtnl) = old;
                    return Err(no_memory(e));
                }
            }
            (false, true) => self.stop(rtnl),
            _ => {}
        }
        Ok(undo)
    }

    /// Takes back a change `configure` made (one that turned zone off
    /// cannot be: its consumer was told).
    pub(crate) fn undo(&self, undo: Undo, rtnl: &mut Rtnl) {
        if undo.stop {
            self.stop(rtnl);
        }
        if let Some(z) = self.zones.get_locked(rtnl) {
            // Back to what it was: any timer it needs exists already.
            let _ = z.set_notify(&undo.params);
        }
        *self.params.get_mut(rtnl) = undo.params;
    }

    /// Stops it being a zone port: its consumer is woken and told.
    pub(crate) fn stop(&self, rtnl: &mut Rtnl) {
        self.zones.clear_then(rtnl, |z| z.detach());
    }
}

/// What undoes a [`ZonePort::configure`].
pub(crate) struct Undo {
    params: Params,
    stop: bool,
}

/// An open `/dev/vassist-zone`: unbound, or bound to one zone port.
#[pin_data(PinnedDrop)]
pub(crate) struct ZoneFile {
    /// The opener's namespace: ports are looked up there.
    net: NetRef,
    #[pin]
    bound: Mutex<Option<Arc<Zones>>>,
}

impl ZoneFile {
    fn bind(&self, file: &File, arg: UserArg) -> Result<i32> {
        let req = abi::Bind::from_bytes(arg.slice(abi::BIND_SIZE).reader().read()?);
        if req.flags & !abi::BIND_TX != 0 {
            return Err(EINVAL);
        }
        if !file.opener_net_admin(&self.net) {
            return Err(EPERM);
        }
        let eventfd = EventFd::from_fd(req.rx_eventfd)?;
        let kick = (req.flags & abi::BIND_TX != 0).then_some(req.tx_eventfd);
        let dev = NetDeviceRef::by_index(&self.net, req.ifindex).ok_or(ENODEV)?;
        let zones = {
            let mut guard = rtnl::lock();
            let port = port::find_locked(&dev, guard.held()).ok_or(ENXIO)?;
            let zones = port.zone.zones.get_locked(guard.held()).cloned();
            zones.ok_or_else(eopnotsupp)?
        };
        let mut bound = self.bound.lock();
        if bound.is_some() {
            return Err(EBUSY);
        }
        zones.bind(eventfd, kick)?;
        *bound = Some(zones);
        Ok(0)
    }

    fn bound(&self) -> Result<Arc<Zones>> {
        self.bound.lock().clone().ok_or_else(enotconn)
    }
}

impl MiscFile for ZoneFile {
    fn open(_file: &File) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(ZoneFile {
                net: NetRef::current(),
                bound <- new_mutex!(None, "vassist_zone_file"),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(&self, file: &File, cmd: u32, arg: UserArg) -> Result<i32> {
        match cmd {
            IOC_BIND => self.bind(file, arg),
            IOC_INFO => {
                let info = self.bound()?.info();
                arg.slice(abi::INFO_SIZE).writer().write(&info.to_bytes())?;
                Ok(0)
            }
            IOC_ALLOC => {
                let n = u32::try_from(arg.value()).unwrap_or(u32::MAX);
                Ok(self.bound()?.lend(n)? as i32)
            }
            _ => Err(ENOTTY),
        }
    }

    fn mmap(&self, _file: &File, area: &VmArea) -> Result {
        self.bound()?.map(area)
    }
}

#[pinned_drop]
impl PinnedDrop for ZoneFile {
    fn drop(self: Pin<&mut Self>) {
        if let Some(z) = self.bound.lock().take() {
            z.unbind();
        }
    }
}
