// SPDX-License-Identifier: GPL-2.0

//! Zone ports (SETH's gbuffer, section 3.2): the rules for a port's
//! shared-memory zones, the buffers in them and the rings shared with the
//! port's consumer.
//!
//! A zone is `zone_size` bytes of memory the consumer maps; a port has one
//! to `zones_max` of them, numbered from 0. The allocator hands out
//! page-sized buffers (SETH's back-end gives out pages too); a frame longer
//! than a buffer takes several, posted as consecutive descriptors. Each
//! buffer is owned by one side at a time: free, the host's (being filled),
//! or the consumer's (posted, until it returns it). Whatever the consumer
//! writes into the shared rings is checked here before it is believed: an
//! index that goes backwards or past the other side's, or a buffer address
//! that is not the start of a buffer of a zone that exists, or a buffer the
//! consumer does not own, is rejected and nothing else changes.
//!
//! The rings are single-producer single-consumer arrays of a power-of-two
//! size with free-running `u32` indices, as AF_XDP's: the producer owns
//! `prod`, the consumer `cons`; `prod - cons` entries are in the ring.

use core::ops::DerefMut;

/// The allocator's unit: one page.
pub const BUF_SIZE: u32 = 4096;

/// Bounds of the geometry a port may be given.
pub const ZONE_SIZE_MIN: u32 = 64 * 1024;
pub const ZONE_SIZE_MAX: u32 = 64 * 1024 * 1024;
pub const ZONES_MAX: u16 = 64;
pub const RING_MIN: u32 = 64;
pub const RING_MAX: u32 = 16384;

/// A port's zone geometry, as asked for (`zone-size`, `zones-max`, `ring`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    zone_size: u32,
    zones_max: u16,
    ring: u32,
}

/// Which part of a geometry is out of bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryError {
    ZoneSize,
    ZonesMax,
    Ring,
}

impl Default for Geometry {
    /// SETH's 4 MB zones; four of them at most; a ring of 1024 entries
    /// (one zone's worth of page buffers).
    fn default() -> Self {
        Geometry {
            zone_size: 4 << 20,
            zones_max: 4,
            ring: 1024,
        }
    }
}

impl Geometry {
    /// Checks the bounds: zone size and ring a power of two within them.
    pub fn new(zone_size: u32, zones_max: u16, ring: u32) -> Result<Geometry, GeometryError> {
        if !zone_size.is_power_of_two() || !(ZONE_SIZE_MIN..=ZONE_SIZE_MAX).contains(&zone_size) {
            return Err(GeometryError::ZoneSize);
        }
        if !(1..=ZONES_MAX).contains(&zones_max) {
            return Err(GeometryError::ZonesMax);
        }
        if !ring.is_power_of_two() || !(RING_MIN..=RING_MAX).contains(&ring) {
            return Err(GeometryError::Ring);
        }
        Ok(Geometry {
            zone_size,
            zones_max,
            ring,
        })
    }

    pub fn zone_size(&self) -> u32 {
        self.zone_size
    }

    pub fn zones_max(&self) -> u16 {
        self.zones_max
    }

    /// Entries of each ring.
    pub fn ring(&self) -> u32 {
        self.ring
    }

    pub fn bufs_per_zone(&self) -> u32 {
        self.zone_size / BUF_SIZE
    }

    /// Buffers when every zone is there: the size of the allocator's tables.
    pub fn bufs_max(&self) -> usize {
        self.bufs_per_zone() as usize * self.zones_max as usize
    }

    /// Where buffer `id` is. (`per` is never 0: zones hold 16 buffers at
    /// least; the checked forms leave no panic path in the packet path.)
    pub fn addr(&self, id: BufId) -> Addr {
        let per = self.bufs_per_zone();
        Addr {
            zone: id.0.checked_div(per).unwrap_or(0) as u16,
            offset: id.0.checked_rem(per).unwrap_or(0).wrapping_mul(BUF_SIZE),
        }
    }
}

/// A buffer, numbered across the port's zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BufId(pub u32);

/// A place in the zones, as descriptors carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addr {
    pub zone: u16,
    pub offset: u32,
}

/// Why a consumer's descriptor or index was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// A zone the port does not have.
    Zone,
    /// Not the start of a buffer inside the zone.
    Offset,
    /// A buffer the consumer does not hold (never given, or given back).
    NotOwned,
    /// A ring index that moved backwards or past the other side's.
    Index,
    /// A transmitted frame that is not one: lengths, too many buffers, a
    /// virtio-net header that does not fit it.
    Frame,
}

/// Who holds a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Owner {
    Free = 0,
    /// Taken by the host, being filled.
    Host = 1,
    /// Posted to the consumer, or lent to it for frames of its own.
    Consumer = 2,
    /// Sent by the consumer: the host's frames point at it until they are
    /// freed.
    Sent = 3,
}

/// Buffer counts, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub zones: u16,
    pub free: u32,
    pub host: u32,
    pub consumer: u32,
    pub sent: u32,
}

/// The page allocator over a port's zones (SETH's gbuffer back-end). Its
/// tables are sized for `zones_max` zones up front, so adding a zone, and
/// every operation, allocates nothing.
///
/// # Invariants
///
/// `free[..nfree]` holds each buffer whose owner is `Free` exactly once,
/// and only buffers of the first `zones` zones; buffers of zones not added
/// are `Free` and not in the stack.
pub struct Buffers<S, O> {
    geometry: Geometry,
    zones: u16,
    /// A stack: the most recently freed buffer is reused first, its page
    /// the likeliest to be in cache.
    free: S,
    nfree: u32,
    owner: O,
    usage: Usage,
}

impl<S, O> Buffers<S, O>
where
    S: DerefMut<Target = [u32]>,
    O: DerefMut<Target = [Owner]>,
{
    /// An allocator over no zones yet; `free` and `owner` must each have
    /// room for `geometry.bufs_max()` entries (`None` otherwise).
    pub fn new(geometry: Geometry, free: S, mut owner: O) -> Option<Self> {
        let n = geometry.bufs_max();
        if free.len() < n || owner.len() < n {
            return None;
        }
        owner.fill(Owner::Free);
        Some(Buffers {
            geometry,
            zones: 0,
            free,
            nfree: 0,
            owner,
            usage: Usage::default(),
        })
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Zones added so far: the consumer may map zones `0..zones()`.
    pub fn zones(&self) -> u16 {
        self.zones
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Whether another zone may be added.
    pub fn can_grow(&self) -> bool {
        self.zones < self.geometry.zones_max
    }

    /// Makes the buffers of the next zone free, once its memory is there.
    /// Returns its number, or `None` at `zones_max`.
    pub fn add_zone(&mut self) -> Option<u16> {
        if !self.can_grow() {
            return None;
        }
        let z = self.zones;
        let per = self.geometry.bufs_per_zone();
        // Pushed high to low, so the zone is used from its start.
        for i in (0..per).rev() {
            self.free[self.nfree as usize] = z as u32 * per + i;
            self.nfree += 1;
        }
        self.zones += 1;
        self.usage.zones = self.zones;
        self.usage.free += per;
        Some(z)
    }

    /// Free buffers: the host asks for a zone to be added when this runs low.
    pub fn free(&self) -> u32 {
        self.nfree
    }

    /// Takes `n` buffers for one frame, all or none.
    pub fn take(&mut self, n: u32, each: impl FnMut(BufId)) -> bool {
        let ok = self.pop_free(n, Owner::Host, each);
        if ok {
            self.usage.host += n;
        }
        ok
    }

    /// Hands `n` free buffers to `owner`, all or none.
    fn pop_free(&mut self, n: u32, owner: Owner, mut each: impl FnMut(BufId)) -> bool {
        if n > self.nfree {
            return false;
        }
        for _ in 0..n {
            self.nfree -= 1;
            let id = self.free[self.nfree as usize];
            self.owner[id as usize] = owner;
            each(BufId(id));
        }
        self.usage.free -= n;
        true
    }

    /// A buffer the host took goes to the consumer.
    pub fn post(&mut self, id: BufId) {
        debug_assert_eq!(self.owner[id.0 as usize], Owner::Host);
        self.owner[id.0 as usize] = Owner::Consumer;
        self.usage.host -= 1;
        self.usage.consumer += 1;
    }

    /// A buffer the host took and did not post is free again.
    pub fn untake(&mut self, id: BufId) {
        debug_assert_eq!(self.owner[id.0 as usize], Owner::Host);
        self.release(id);
        self.usage.host -= 1;
    }

    /// The consumer gives back the buffer at `addr`: it must be the start
    /// of a buffer of an added zone, and the consumer's.
    pub fn give_back(&mut self, addr: Addr) -> Result<BufId, Bad> {
        let id = self.lookup(addr)?;
        if self.owner[id.0 as usize] != Owner::Consumer {
            return Err(Bad::NotOwned);
        }
        self.release(id);
        self.usage.consumer -= 1;
        Ok(id)
    }

    /// Lends `n` free buffers to the consumer for frames of its own, all
    /// or none.
    pub fn lend(&mut self, n: u32, each: impl FnMut(BufId)) -> bool {
        let ok = self.pop_free(n, Owner::Consumer, each);
        if ok {
            self.usage.consumer += n;
        }
        ok
    }

    /// The consumer sends a frame in the buffers at `addrs`: each must be
    /// the start of a buffer it holds, named once. All become `Sent`
    /// (their ids in `ids`), or none does and the first bad one says why.
    pub fn send(&mut self, addrs: &[Addr], ids: &mut [BufId]) -> Result<(), Bad> {
        if ids.len() < addrs.len() {
            return Err(Bad::Frame);
        }
        for (k, a) in addrs.iter().enumerate() {
            let id = match self.lookup(*a) {
                Ok(id) if self.owner[id.0 as usize] == Owner::Consumer => id,
                r => {
                    for id in &ids[..k] {
                        self.owner[id.0 as usize] = Owner::Consumer;
                    }
                    return Err(r.err().unwrap_or(Bad::NotOwned));
                }
            };
            self.owner[id.0 as usize] = Owner::Sent;
            ids[k] = id;
        }
        let n = addrs.len() as u32;
        self.usage.consumer -= n;
        self.usage.sent += n;
        Ok(())
    }

    /// The host is done with a sent buffer: back to the consumer if one is
    /// bound (`true`: tell it), else free.
    pub fn complete(&mut self, id: BufId, bound: bool) -> bool {
        debug_assert_eq!(self.owner[id.0 as usize], Owner::Sent);
        self.usage.sent -= 1;
        if bound {
            self.owner[id.0 as usize] = Owner::Consumer;
            self.usage.consumer += 1;
        } else {
            self.release(id);
        }
        bound
    }

    /// The buffer at `addr`, if it is the start of a buffer of an added zone.
    pub fn lookup(&self, addr: Addr) -> Result<BufId, Bad> {
        if addr.zone >= self.zones {
            return Err(Bad::Zone);
        }
        if addr.offset & (BUF_SIZE - 1) != 0 || addr.offset >= self.geometry.zone_size {
            return Err(Bad::Offset);
        }
        Ok(BufId(
            addr.zone as u32 * self.geometry.bufs_per_zone() + addr.offset / BUF_SIZE,
        ))
    }

    pub fn owner(&self, id: BufId) -> Owner {
        self.owner[id.0 as usize]
    }

    /// The consumer is gone: everything it held is free (what it sent is,
    /// once the host is done with it). Returns how many.
    pub fn reclaim(&mut self) -> u32 {
        let n = self.usage.consumer;
        let bufs = self.zones as usize * self.geometry.bufs_per_zone() as usize;
        for id in 0..bufs as u32 {
            if self.owner[id as usize] == Owner::Consumer {
                self.release(BufId(id));
            }
        }
        self.usage.consumer = 0;
        n
    }

    fn release(&mut self, id: BufId) {
        self.owner[id.0 as usize] = Owner::Free;
        self.free[self.nfree as usize] = id.0;
        self.nfree += 1;
        self.usage.free += 1;
    }
}

/// Buffers a frame of `len` bytes takes (at least one: an empty frame is
/// not placed, but a count of zero would post nothing).
pub fn bufs_for(len: u32) -> u32 {
    len.div_ceil(BUF_SIZE).max(1)
}

/// The most buffers a transmitted frame may take: one page fragment each
/// (the kernel's MAX_SKB_FRAGS), enough for a 64 KiB GSO frame.
pub const TX_BUFS_MAX: usize = 17;
/// Bytes of a transmitted frame copied into the host's own memory, at
/// least: its headers, so that what the bridge parsed cannot change under
/// it (tun copies as much, GOODCOPY_LEN); the rest is referenced in place.
pub const TX_LINEAR_MIN: u32 = 128;
/// And at most, whatever header length the consumer claims.
pub const TX_LINEAR_MAX: u32 = 512;
/// The shortest frame: an Ethernet header.
pub const TX_FRAME_MIN: u32 = 14;

/// A frame the consumer posted on the transmit ring, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxFrame {
    /// Its bytes in all its buffers.
    pub len: u32,
    /// Bytes to copy into the host's memory; the rest stays in the zones.
    pub linear: u32,
    /// Its virtio-net header, with `hdr_len` made to cover the checksum
    /// field as tun does.
    pub vnet: [u8; abi::VNET_LEN],
}

/// Checks a transmitted frame from its descriptors: every length between
/// 1 and a buffer, all but the last with MORE, at most [`TX_BUFS_MAX`] of them, an Ethernet header at
/// least, and a virtio-net header whose offsets fit the frame.
pub fn tx_frame(descs: &[abi::Desc]) -> Result<TxFrame, Bad> {
    let n = descs.len();
    if n == 0 || n > TX_BUFS_MAX {
        return Err(Bad::Frame);
    }
    let mut len = 0u32;
    for (k, d) in descs.iter().enumerate() {
        let more = d.flags & abi::DESC_MORE != 0;
        if d.len == 0 || d.len > BUF_SIZE || more != (k + 1 < n) || d.flags & !abi::DESC_MORE != 0 {
            return Err(Bad::Frame);
        }
        len += d.len;
    }
    if len < TX_FRAME_MIN {
        return Err(Bad::Frame);
    }
    let mut vnet = descs[0].vnet;
    let h = |i: usize| u16::from_le_bytes([vnet[i], vnet[i + 1]]) as u32;
    let (flags, hdr_len, csum_start, csum_offset) = (vnet[0], h(2), h(6), h(8));
    let mut hdr = hdr_len;
    if flags & VNET_F_NEEDS_CSUM != 0 {
        let end = csum_start + csum_offset + 2;
        if end > len {
            return Err(Bad::Frame);
        }
        hdr = hdr.max(end);
    }
    if hdr > len || hdr > u16::MAX as u32 {
        return Err(Bad::Frame);
    }
    vnet[2..4].copy_from_slice(&(hdr as u16).to_le_bytes());
    Ok(TxFrame {
        len,
        linear: len.min(hdr.clamp(TX_LINEAR_MIN, TX_LINEAR_MAX)),
        vnet,
    })
}

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
const VNET_F_NEEDS_CSUM: u8 = 1;

/// One side's view of a ring it produces into: its own `prod` and the
/// last `cons` of the other side it accepted.
///
/// # Invariants
///
/// `prod - cons <= size` (wrapping), `size` a power of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Producer {
    prod: u32,
    cons: u32,
    size: u32,
}

impl Producer {
    /// An empty ring of `size` entries (a power of two), both indices at
    /// `index`.
    pub fn new(size: u32, index: u32) -> Producer {
        debug_assert!(size.is_power_of_two());
        Producer {
            prod: index,
            cons: index,
            size,
        }
    }

    /// Takes in the other side's `cons` as read from shared memory: it may
    /// only move forward, up to `prod`. Returns the free entries.
    pub fn sync(&mut self, cons: u32) -> Result<u32, Bad> {
        if cons.wrapping_sub(self.cons) > self.prod.wrapping_sub(self.cons) {
            return Err(Bad::Index);
        }
        self.cons = cons;
        Ok(self.room())
    }

    /// Free entries as of the last `sync`.
    pub fn room(&self) -> u32 {
        self.size - self.prod.wrapping_sub(self.cons)
    }

    /// Whether the other side had taken every entry as of the last `sync`.
    pub fn is_empty(&self) -> bool {
        self.prod == self.cons
    }

    /// The slot of the next entry, if there is room; `commit` publishes.
    pub fn next_slot(&self, k: u32) -> Option<usize> {
        (k < self.room()).then(|| (self.prod.wrapping_add(k) & (self.size - 1)) as usize)
    }

    /// Publishes `n` entries written at `next_slot(0..n)`; returns the new
    /// `prod` for shared memory.
    pub fn commit(&mut self, n: u32) -> u32 {
        debug_assert!(n <= self.room());
        self.prod = self.prod.wrapping_add(n);
        self.prod
    }

    pub fn prod(&self) -> u32 {
        self.prod
    }

    /// Entries published and not yet consumed, as of the last `sync`.
    pub fn pending(&self) -> u32 {
        self.prod.wrapping_sub(self.cons)
    }
}

/// One side's view of a ring it consumes from: its own `cons` and the last
/// `prod` of the other side it accepted.
///
/// # Invariants
///
/// `prod - cons <= size` (wrapping), `size` a power of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consumer {
    prod: u32,
    cons: u32,
    size: u32,
}

impl Consumer {
    /// An empty ring of `size` entries (a power of two), both indices at
    /// `index`.
    pub fn new(size: u32, index: u32) -> Consumer {
        debug_assert!(size.is_power_of_two());
        Consumer {
            prod: index,
            cons: index,
            size,
        }
    }

    /// Takes in the other side's `prod` as read from shared memory: it may
    /// not move backwards, nor more than `size` ahead of `cons`. Returns
    /// the entries available.
    pub fn sync(&mut self, prod: u32) -> Result<u32, Bad> {
        let avail = prod.wrapping_sub(self.cons);
        if avail > self.size || prod.wrapping_sub(self.prod) > avail {
            return Err(Bad::Index);
        }
        self.prod = prod;
        Ok(avail)
    }

    /// Whether `prod`, read from shared memory, shows nothing since the
    /// last `sync` and every entry then available was released: no
    /// `sync` needed.
    pub fn is_done_at(&self, prod: u32) -> bool {
        prod == self.prod && self.prod == self.cons
    }

    /// Entries available as of the last `sync`.
    pub fn available(&self) -> u32 {
        self.prod.wrapping_sub(self.cons)
    }

    /// The slot of the `k`th available entry.
    pub fn slot(&self, k: u32) -> Option<usize> {
        (k < self.available()).then(|| (self.cons.wrapping_add(k) & (self.size - 1)) as usize)
    }

    /// Consumes `n` entries; returns the new `cons` for shared memory.
    pub fn release(&mut self, n: u32) -> u32 {
        debug_assert!(n <= self.available());
        self.cons = self.cons.wrapping_add(n);
        self.cons
    }

    pub fn cons(&self) -> u32 {
        self.cons
    }
}

/// The shared layout (`include/uapi/linux/vassist_zone.h`): ring heads,
/// entries, and the ioctls' structures, encoded here so the module and a
/// consumer written in Rust read and write them the same way.
pub mod abi {
    use super::{Addr, Geometry};

    /// `struct vassist_ring_head`: each side's index on its own cache line.
    pub const HEAD_SIZE: u32 = 128;
    pub const HEAD_PRODUCER: u32 = 0;
    pub const HEAD_STATUS: u32 = 4;
    pub const HEAD_CONSUMER: u32 = 64;
    pub const HEAD_FLAGS: u32 = 68;
    /// In the receive ring's `flags`: the consumer is about to sleep on
    /// the receive eventfd.
    pub const RING_WAITING: u32 = 1;
    /// In the transmit ring's `flags` (the host's: it consumes that ring):
    /// the host is not polling the ring; kick the transmit eventfd.
    pub const RING_NEED_KICK: u32 = 1;
    /// In `status`: the port stopped being a zone port.
    pub const RING_DETACHED: u32 = 1;

    /// `struct vassist_zone_desc`.
    pub const DESC_SIZE: u32 = 32;
    pub const DESC_MORE: u16 = 1;
    /// `struct vassist_zone_addr`.
    pub const ADDR_SIZE: u32 = 8;
    /// `struct virtio_net_hdr`.
    pub const VNET_LEN: usize = 10;

    /// mmap offsets: the rings, then each zone.
    pub const MMAP_ZONES: u64 = 1 << 32;

    /// A receive or transmit ring entry.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Desc {
        pub addr: Addr,
        pub flags: u16,
        pub len: u32,
        pub vnet: [u8; VNET_LEN],
    }

    impl Desc {
        pub fn to_bytes(self) -> [u8; DESC_SIZE as usize] {
            let mut b = [0u8; DESC_SIZE as usize];
            b[0..4].copy_from_slice(&self.addr.offset.to_ne_bytes());
            b[4..6].copy_from_slice(&self.addr.zone.to_ne_bytes());
            b[6..8].copy_from_slice(&self.flags.to_ne_bytes());
            b[8..12].copy_from_slice(&self.len.to_ne_bytes());
            b[16..16 + VNET_LEN].copy_from_slice(&self.vnet);
            b
        }

        pub fn from_bytes(b: [u8; DESC_SIZE as usize]) -> Desc {
            let mut vnet = [0u8; VNET_LEN];
            vnet.copy_from_slice(&b[16..16 + VNET_LEN]);
            Desc {
                addr: Addr {
                    offset: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                    zone: u16::from_ne_bytes([b[4], b[5]]),
                },
                flags: u16::from_ne_bytes([b[6], b[7]]),
                len: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
                vnet,
            }
        }
    }

    /// A return or completion ring entry.
    pub fn addr_to_bytes(a: Addr) -> [u8; ADDR_SIZE as usize] {
        let mut b = [0u8; ADDR_SIZE as usize];
        b[0..4].copy_from_slice(&a.offset.to_ne_bytes());
        b[4..6].copy_from_slice(&a.zone.to_ne_bytes());
        b
    }

    pub fn addr_from_bytes(b: [u8; ADDR_SIZE as usize]) -> Addr {
        Addr {
            offset: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            zone: u16::from_ne_bytes([b[4], b[5]]),
        }
    }

    /// Where the rings are in their mapping, for a ring size: the four
    /// heads, then each ring's entries.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Layout {
        pub rx_head: u32,
        pub rx_descs: u32,
        pub ret_head: u32,
        pub ret_addrs: u32,
        pub tx_head: u32,
        pub tx_descs: u32,
        pub comp_head: u32,
        pub comp_addrs: u32,
        /// Bytes, a whole number of pages.
        pub size: u32,
    }

    impl Layout {
        pub fn new(ring: u32) -> Layout {
            let rx_descs = 4 * HEAD_SIZE;
            let ret_addrs = rx_descs + ring * DESC_SIZE;
            let tx_descs = ret_addrs + ring * ADDR_SIZE;
            let comp_addrs = tx_descs + ring * DESC_SIZE;
            Layout {
                rx_head: 0,
                ret_head: HEAD_SIZE,
                tx_head: 2 * HEAD_SIZE,
                comp_head: 3 * HEAD_SIZE,
                rx_descs,
                ret_addrs,
                tx_descs,
                comp_addrs,
                size: (comp_addrs + ring * ADDR_SIZE).next_multiple_of(super::BUF_SIZE),
            }
        }

        /// The offsets, in `struct vassist_zone_info`'s order.
        fn offsets(&self) -> [u32; 9] {
            [
                self.size,
                self.rx_head,
                self.rx_descs,
                self.ret_head,
                self.ret_addrs,
                self.tx_head,
                self.tx_descs,
                self.comp_head,
                self.comp_addrs,
            ]
        }
    }

    /// `struct vassist_zone_bind`.
    pub const BIND_SIZE: usize = 16;
    /// In its flags: the consumer transmits; `tx_eventfd` is its kick.
    pub const BIND_TX: u32 = 1;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Bind {
        pub ifindex: u32,
        pub rx_eventfd: i32,
        pub flags: u32,
        pub tx_eventfd: i32,
    }

    impl Bind {
        pub fn from_bytes(b: [u8; BIND_SIZE]) -> Bind {
            let w = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            Bind {
                ifindex: w(0),
                rx_eventfd: w(4) as i32,
                flags: w(8),
                tx_eventfd: w(12) as i32,
            }
        }

        pub fn to_bytes(self) -> [u8; BIND_SIZE] {
            let mut b = [0u8; BIND_SIZE];
            for (i, v) in [
                self.ifindex,
                self.rx_eventfd as u32,
                self.flags,
                self.tx_eventfd as u32,
            ]
            .into_iter()
            .enumerate()
            {
                b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
            }
            b
        }
    }

    /// `struct vassist_zone_info`.
    pub const INFO_SIZE: usize = 48;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Info {
        pub geometry: Geometry,
        pub zones: u16,
        pub layout: Layout,
    }

    impl Info {
        pub fn to_bytes(self) -> [u8; INFO_SIZE] {
            let g = &self.geometry;
            let mut b = [0u8; INFO_SIZE];
            b[0..4].copy_from_slice(&g.zone_size().to_ne_bytes());
            b[4..6].copy_from_slice(&self.zones.to_ne_bytes());
            b[6..8].copy_from_slice(&g.zones_max().to_ne_bytes());
            b[8..12].copy_from_slice(&g.ring().to_ne_bytes());
            for (i, v) in self.layout.offsets().into_iter().enumerate() {
                b[12 + i * 4..16 + i * 4].copy_from_slice(&v.to_ne_bytes());
            }
            b
        }

        /// `None` if the geometry is out of bounds or the layout is not
        /// the one the ring size gives.
        pub fn from_bytes(b: [u8; INFO_SIZE]) -> Option<Info> {
            let w = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let zones_max = u16::from_ne_bytes([b[6], b[7]]);
            let geometry = Geometry::new(w(0), zones_max, w(8)).ok()?;
            let layout = Layout::new(geometry.ring());
            let got: [u32; 9] = core::array::from_fn(|i| w(12 + i * 4));
            (got == layout.offsets()).then_some(Info {
                geometry,
                zones: u16::from_ne_bytes([b[4], b[5]]),
                layout,
            })
        }
    }
}
