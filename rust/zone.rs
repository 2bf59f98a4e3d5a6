// SPDX-License-Identifier: GPL-2.0

//! Zone ports (SETH's gbuffer, over a bridge port): frames the bridge sends
//! out of the port are placed once into shared-memory zones its consumer
//! maps, and posted on a receive ring, instead of being queued on the
//! device. The consumer (`/dev/vassist-zone`, one open file bound to the
//! port) reads them in place and gives the buffers back on the return ring.
//! The rules (allocator, rings, layout) are `policy::zone`'s; this file
//! moves the bytes and keeps the state.
//!
//! Frames to a zone port with no consumer bound are dropped and counted, as
//! a tap without a reader drops them. A frame is stolen from the bridge
//! before br_netfilter's post-routing hook: the IP post-routing hooks do not
//! see it.

use crate::error::VaError;
use crate::policy::zone::abi::{self, Desc, Info, Layout};
use crate::policy::zone::{
    bufs_for, BufId, Buffers, Consumer, Geometry, Owner, Producer, Usage, BUF_SIZE,
};
use crate::port;
use crate::sys::bhlock::{new_bh_spinlock, BhSpinLock};
use crate::sys::errno::{enotconn, eopnotsupp};
use crate::sys::eventfd::EventFd;
use crate::sys::miscdev::{File, MiscFile, UserArg};
use crate::sys::netdev::{NetDeviceRef, NetRef};
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::{Guard, RcuBox};
use crate::sys::rtnl::{self, Rtnl, RtnlCell};
use crate::sys::skb::{Egress, ETH_HLEN};
use crate::sys::usermem::{UserMem, VmArea};
use crate::sys::workqueue::{ModuleQueue, QueueRegistration};
use core::pin::Pin;
use core::sync::atomic::{fence, AtomicU32, Ordering};
use kernel::c_str;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::workqueue::{impl_has_work, new_work, Work, WorkItem};

/// The most buffers one frame may take: a 64 KiB GSO frame and its
/// headers; a larger one is dropped and counted.
const FRAME_BUFS_MAX: u32 = 18;

/// `ioctl` numbers (`include/uapi/linux/vassist_zone.h`).
use crate::defs::zone::{IOC_BIND, IOC_INFO};

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
    /// Eventfd signals.
    pub(crate) notifications: u64,
    /// Zones that could not be added (no memory).
    pub(crate) grow_failed: u64,
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
    /// The bound consumer's receive eventfd.
    consumer: Option<EventFd>,
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
    #[pin]
    inner: BhSpinLock<Inner>,
    /// Adds a zone, in process context.
    #[pin]
    grow: Work<Zones>,
}

impl_has_work! {
    impl HasWork<Self> for Zones { self.grow }
}

impl WorkItem for Zones {
    type Pointer = Arc<Zones>;

    fn run(this: Arc<Zones>) {
        this.add_zone();
    }
}

/// Where zones are added: the module's own queue, so that rmmod waits for
/// the work.
static GROWTH: ModuleQueue = ModuleQueue::new();

/// The growth queue, while the module is loaded.
pub(crate) fn register() -> Result<QueueRegistration> {
    GROWTH.register(c_str!("vassist_zones"))
}

impl Zones {
    /// The rings and the first zone, for `geometry`.
    fn new(geometry: Geometry) -> Result<Arc<Zones>> {
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
        Arc::pin_init(
            pin_init!(Zones {
                zone_size: geometry.zone_size(),
                layout,
                rings,
                inner <- new_bh_spinlock!(
                    Inner {
                        bufs,
                        mem,
                        rx: Producer::new(geometry.ring(), 0),
                        ret: Consumer::new(geometry.ring(), 0),
                        consumer: None,
                        bound: false,
                        detached: false,
                        growing: false,
                        stats: Stats::default(),
                    },
                    "vassist_zones"
                ),
                grow <- new_work!("vassist_zones_grow"),
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
        (inner.stats, inner.bufs.usage(), inner.bound)
    }

    /// Places the frame for the consumer and steals it, or drops it.
    pub(crate) fn place<'a>(this: &Arc<Zones>, skb: Egress<'a>, net_len: u32) -> Verdict<'a> {
        let mut inner = this.inner.lock();
        if !inner.bound || inner.detached {
            inner.stats.no_consumer += 1;
            return Verdict::Drop(skb.into_inner());
        }
        this.take_returns(&mut inner);
        let placed = this.post(&mut inner, &skb, net_len);
        // Free buffers running low: another zone, in process context.
        let low = inner.bufs.free() < inner.bufs.geometry().bufs_per_zone() / 4;
        if low && inner.bufs.can_grow() && !inner.growing {
            inner.growing = GROWTH.enqueue(this.clone());
        }
        match placed {
            Ok(()) => {
                this.notify(&mut inner);
                Verdict::Stolen(skb.consume())
            }
            Err(why) => {
                inner.stats.dropped(why);
                Verdict::Drop(skb.into_inner())
            }
        }
    }

    /// Copies the frame into buffers and publishes its descriptors; on an
    /// error, nothing is taken and the error says which counter to bump.
    fn post(&self, inner: &mut Inner, skb: &Egress<'_>, net_len: u32) -> Result<(), Dropped> {
        let s = skb.skb();
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
            // The header part, then the frame's data from the network
            // header on.
            let hs = (start as usize).min(head_len);
            let he = (end as usize).min(head_len);
            if hs < he && mem.write(base, head.get(hs..he).unwrap_or(&[])).is_none() {
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

    /// Signals the consumer if it said it is about to sleep. The barrier
    /// pairs with the consumer's between setting the flag and reading the
    /// producer index once more: one of the two sees the other.
    fn notify(&self, inner: &mut Inner) {
        fence(Ordering::SeqCst);
        let waiting = self
            .index(self.layout.rx_head, abi::HEAD_FLAGS)
            .is_some_and(|f| f.load(Ordering::Relaxed) & abi::RING_WAITING != 0);
        if let (true, Some(e)) = (waiting, &inner.consumer) {
            e.signal();
            inner.stats.notifications += 1;
        }
    }

    /// Takes in the buffers the consumer gave back.
    fn take_returns(&self, inner: &mut Inner) {
        let (Some(prod), Some(cons)) = (
            self.index(self.layout.ret_head, abi::HEAD_PRODUCER),
            self.index(self.layout.ret_head, abi::HEAD_CONSUMER),
        ) else {
            return;
        };
        let Ok(avail) = inner.ret.sync(prod.load(Ordering::Acquire)) else {
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

    /// Binds a consumer: the rings start empty.
    fn bind(&self, eventfd: EventFd) -> Result {
        let mut inner = self.inner.lock();
        if inner.detached {
            return Err(ENODEV);
        }
        if inner.bound {
            return Err(EBUSY);
        }
        let ring = inner.bufs.geometry().ring();
        inner.rx = Producer::new(ring, 0);
        inner.ret = Consumer::new(ring, 0);
        for (head, field) in [
            (self.layout.rx_head, abi::HEAD_PRODUCER),
            (self.layout.rx_head, abi::HEAD_STATUS),
            (self.layout.rx_head, abi::HEAD_CONSUMER),
            (self.layout.rx_head, abi::HEAD_FLAGS),
            (self.layout.ret_head, abi::HEAD_PRODUCER),
            (self.layout.ret_head, abi::HEAD_CONSUMER),
        ] {
            if let Some(i) = self.index(head, field) {
                i.store(0, Ordering::Relaxed);
            }
        }
        inner.consumer = Some(eventfd);
        inner.bound = true;
        Ok(())
    }

    /// The consumer is gone: every buffer it held is free again.
    fn unbind(&self) {
        let eventfd = {
            let mut inner = self.inner.lock();
            inner.bound = false;
            inner.bufs.reclaim();
            inner.consumer.take()
        };
        drop(eventfd);
    }

    /// The port stopped being a zone port: the consumer is told, and
    /// nothing more is placed.
    fn detach(&self) {
        let mut inner = self.inner.lock();
        inner.detached = true;
        if let Some(s) = self.index(self.layout.rx_head, abi::HEAD_STATUS) {
            s.store(abi::RING_DETACHED, Ordering::Release);
        }
        if let Some(e) = &inner.consumer {
            e.signal();
            inner.stats.notifications += 1;
        }
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

/// A port's zone state: its geometry, and its zones while it is a zone
/// port.
pub(crate) struct ZonePort {
    geometry: RtnlCell<Geometry>,
    zones: RcuBox<Arc<Zones>>,
}

impl Default for ZonePort {
    fn default() -> Self {
        ZonePort {
            geometry: RtnlCell::new(Geometry::default()),
            zones: RcuBox::new(),
        }
    }
}

impl ZonePort {
    /// The zones, on the packet path.
    pub(crate) fn get<'a>(&'a self, rcu: &'a Guard) -> Option<&'a Arc<Zones>> {
        self.zones.get(rcu)
    }

    pub(crate) fn is_on(&self) -> bool {
        self.zones.is_set()
    }

    pub(crate) fn geometry(&self, rtnl: &Rtnl) -> Geometry {
        *self.geometry.get(rtnl)
    }

    /// The state and counters, while it is a zone port.
    pub(crate) fn stats(&self, rtnl: &Rtnl) -> Option<(Stats, Usage, bool)> {
        self.zones.get_locked(rtnl).map(|z| z.stats())
    }

    /// Makes the port a zone port (with `geometry`, if given), or stops it
    /// being one; the geometry cannot change while it is one. Returns what
    /// undoes the change.
    pub(crate) fn configure(
        &self,
        on: bool,
        geometry: Option<Geometry>,
        rtnl: &mut Rtnl,
    ) -> Result<Undo, VaError> {
        let old = *self.geometry.get(rtnl);
        let was_on = self.is_on();
        if let Some(g) = geometry.filter(|g| *g != old) {
            if was_on {
                return Err(VaError::new(
                    EBUSY,
                    c_str!("zone parameters cannot change while zone is on"),
                ));
            }
            *self.geometry.get_mut(rtnl) = g;
        }
        let undo = Undo {
            geometry: old,
            stop: on && !was_on,
        };
        match (on, was_on) {
            (true, false) => {
                let zones = Zones::new(*self.geometry.get(rtnl));
                let set = zones.and_then(|z| self.zones.set(z, rtnl).map_err(|_| ENOMEM));
                if let Err(e) = set {
                    *self.geometry.get_mut(rtnl) = old;
                    return Err(VaError::new(e, c_str!("no memory for the zone and rings")));
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
        *self.geometry.get_mut(rtnl) = undo.geometry;
    }

    /// Stops it being a zone port: its consumer is woken and told.
    pub(crate) fn stop(&self, rtnl: &mut Rtnl) {
        self.zones.clear_then(rtnl, |z| z.detach());
    }
}

/// What undoes a [`ZonePort::configure`].
pub(crate) struct Undo {
    geometry: Geometry,
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
        if req.flags != 0 || req.reserved != 0 {
            return Err(EINVAL);
        }
        if !file.opener_net_admin(&self.net) {
            return Err(EPERM);
        }
        let eventfd = EventFd::from_fd(req.rx_eventfd)?;
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
        zones.bind(eventfd)?;
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
