// SPDX-License-Identifier: GPL-2.0

//! A consumer of a vassist zone port (`include/uapi/linux/vassist_zone.h`):
//! binds an open `/dev/vassist-zone` to the port, maps its rings and zones,
//! hands out the frames the host placed, in place, and gives their buffers
//! back; bound with [`ZonePort::bind_tx`], it also sends frames from
//! buffers of the zones, which the host references in place. The ring and
//! layout rules are the module's own (`vassist_policy::zone`).
//!
//! ```no_run
//! let mut port = vassist_zone::ZonePort::bind(7)?;
//! while let Some(frame) = port.wait(std::time::Duration::from_secs(1))? {
//!     let bytes: usize = frame.parts().map(<[u8]>::len).sum();
//!     println!("{bytes} bytes, vnet {:?}", frame.vnet());
//!     // Done with the bytes: the buffers go back.
//!     let frame = frame.into_frame();
//!     port.give_back(frame);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::Duration;
use vassist_policy::zone::abi::{self, Bind, Desc, Info};
use vassist_policy::zone::{Addr, Consumer, Producer, BUF_SIZE, TX_BUFS_MAX};

/// The consumer device.
pub const DEVICE: &str = "/dev/vassist-zone";

const IOC_BIND: libc::c_ulong = ioc(1, 1, abi::BIND_SIZE);
const IOC_INFO: libc::c_ulong = ioc(2, 2, abi::INFO_SIZE);
const IOC_ALLOC: libc::c_ulong = ioc(0, 3, 0);

/// Buffers asked for at a time when sending runs short.
const LEND_BATCH: u32 = 64;
/// Buffers kept to send from, at most; more go back to the host, which
/// places received frames in them.
const SPARE_MAX: usize = 4 * LEND_BATCH as usize;

/// `_IO` (dir 0), `_IOW` (dir 1) and `_IOR` (dir 2) of the zone device's
/// ioctls.
const fn ioc(dir: u64, nr: u64, size: usize) -> libc::c_ulong {
    ((dir << 30) | ((size as u64) << 16) | (0xb9 << 8) | nr) as libc::c_ulong
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn new_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: a new eventfd.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: a descriptor we just made.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A shared mapping of the device.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: &OwnedFd, offset: u64, len: usize) -> io::Result<Mapping> {
        // SAFETY: a new shared mapping of the device; the kernel checks the
        // offset and length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(p.cast()).ok_or_else(io::Error::last_os_error)?,
            len,
        })
    }

    fn index(&self, off: u32) -> &AtomicU32 {
        assert!(off as usize + 4 <= self.len && off.is_multiple_of(4));
        // SAFETY: in bounds and aligned (checked); the host moves it only
        // atomically.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off as usize).cast()) }
    }

    /// Copies `N` bytes out (the host may write meanwhile: no references).
    fn read<const N: usize>(&self, off: usize) -> [u8; N] {
        assert!(off + N <= self.len);
        let mut b = [0u8; N];
        // SAFETY: in bounds (checked).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(off), b.as_mut_ptr(), N) };
        b
    }

    fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= self.len);
        // SAFETY: in bounds (checked).
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(off), data.len())
        };
    }

    /// `len` bytes at `off`: a buffer the consumer holds, which the host
    /// does not write while it is held.
    fn bytes(&self, off: usize, len: usize) -> &[u8] {
        assert!(off + len <= self.len);
        // SAFETY: in bounds (checked); a held buffer is not written by
        // the host until it is given back.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our mapping.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A frame the host placed: its buffers, held until given back.
#[derive(Debug)]
pub struct Frame {
    descs: Vec<Desc>,
}

impl Frame {
    /// The virtio-net header of the frame (little-endian fields), as a
    /// tap's reader with `IFF_VNET_HDR` gets it.
    pub fn vnet(&self) -> [u8; abi::VNET_LEN] {
        self.descs[0].vnet
    }

    /// The buffers' addresses, in frame order.
    pub fn addrs(&self) -> impl Iterator<Item = Addr> + '_ {
        self.descs.iter().map(|d| d.addr)
    }

    fn lens(&self) -> impl Iterator<Item = (Addr, usize)> + '_ {
        self.descs.iter().map(|d| (d.addr, d.len as usize))
    }
}

/// A frame with the port it is read from: its bytes in place.
pub struct FrameRef<'p> {
    port: &'p ZonePort,
    frame: Frame,
}

impl FrameRef<'_> {
    /// The frame's bytes, one slice per buffer, in place in the zones.
    pub fn parts(&self) -> impl Iterator<Item = &[u8]> {
        self.frame
            .lens()
            .map(|(a, len)| self.port.zone(a.zone).bytes(a.offset as usize, len))
    }

    pub fn vnet(&self) -> [u8; abi::VNET_LEN] {
        self.frame.vnet()
    }

    /// The frame, to give back once the bytes are no longer used.
    pub fn into_frame(self) -> Frame {
        self.frame
    }
}

impl From<FrameRef<'_>> for Frame {
    fn from(f: FrameRef<'_>) -> Frame {
        f.frame
    }
}

/// The sending side of a port bound with [`ZonePort::bind_tx`].
struct Tx {
    kick: OwnedFd,
    ring: Producer,
    comp: Consumer,
    /// Buffers this consumer holds to send from.
    spare: Vec<Addr>,
    /// Buffers sent and not yet back, plus completion entries not yet
    /// read: the host always has room to complete what is out.
    out: u32,
}

/// A bound zone port.
pub struct ZonePort {
    file: OwnedFd,
    eventfd: OwnedFd,
    info: Info,
    rings: Mapping,
    zones: Vec<Option<Mapping>>,
    rx: Consumer,
    ret: Producer,
    tx: Option<Tx>,
    /// Descriptor lists of frames given back, reused: no allocation per
    /// frame.
    lists: Vec<Vec<Desc>>,
}

impl ZonePort {
    /// Binds a new consumer to the zone port `ifindex` (in the current
    /// network namespace).
    pub fn bind(ifindex: u32) -> io::Result<ZonePort> {
        let path = CString::new(DEVICE).unwrap();
        // SAFETY: `path` is NUL-terminated.
        let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
        // SAFETY: a descriptor we just opened.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        Self::bind_file(file, ifindex)
    }

    /// Binds a new consumer that sends too.
    pub fn bind_tx(ifindex: u32) -> io::Result<ZonePort> {
        let path = CString::new(DEVICE).unwrap();
        // SAFETY: `path` is NUL-terminated.
        let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
        // SAFETY: a descriptor we just opened.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        Self::bind_file_with(file, ifindex, true)
    }

    /// Binds `file`, an open `/dev/vassist-zone` (perhaps opened by
    /// someone with the right to bind, and handed over).
    pub fn bind_file(file: OwnedFd, ifindex: u32) -> io::Result<ZonePort> {
        Self::bind_file_with(file, ifindex, false)
    }

    /// Binds `file`; with `tx`, to send as well.
    pub fn bind_file_with(file: OwnedFd, ifindex: u32, tx: bool) -> io::Result<ZonePort> {
        let eventfd = new_eventfd()?;
        let kick = if tx { Some(new_eventfd()?) } else { None };
        let bind = Bind {
            ifindex,
            rx_eventfd: eventfd.as_raw_fd(),
            flags: if tx { abi::BIND_TX } else { 0 },
            tx_eventfd: kick.as_ref().map_or(-1, |k| k.as_raw_fd()),
        }
        .to_bytes();
        // SAFETY: the argument is a `struct vassist_zone_bind`.
        cvt(unsafe { libc::ioctl(file.as_raw_fd(), IOC_BIND, bind.as_ptr()) })?;
        let mut b = [0u8; abi::INFO_SIZE];
        // SAFETY: the argument has room for a `struct vassist_zone_info`.
        cvt(unsafe { libc::ioctl(file.as_raw_fd(), IOC_INFO, b.as_mut_ptr()) })?;
        let info = Info::from_bytes(b)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected zone layout"))?;
        let rings = Mapping::new(&file, 0, info.layout.size as usize)?;
        let ring = info.geometry.ring();
        Ok(ZonePort {
            file,
            eventfd,
            info,
            rings,
            zones: Vec::new(),
            lists: Vec::new(),
            rx: Consumer::new(ring, 0),
            ret: Producer::new(ring, 0),
            tx: kick.map(|kick| Tx {
                kick,
                ring: Producer::new(ring, 0),
                comp: Consumer::new(ring, 0),
                spare: Vec::new(),
                out: 0,
            }),
        })
    }

    pub fn info(&self) -> &Info {
        &self.info
    }

    fn zone(&self, z: u16) -> &Mapping {
        self.zones[z as usize].as_ref().expect("mapped before use")
    }

    /// Maps zone `z` if it is not yet.
    fn map_zone(&mut self, z: u16) -> io::Result<()> {
        let z = z as usize;
        if self.zones.len() <= z {
            self.zones.resize_with(z + 1, || None);
        }
        if self.zones[z].is_none() {
            let size = self.info.geometry.zone_size() as u64;
            let m = Mapping::new(&self.file, abi::MMAP_ZONES + z as u64 * size, size as usize)?;
            self.zones[z] = Some(m);
        }
        Ok(())
    }

    /// Whether the port stopped being a zone port: nothing more comes.
    pub fn detached(&self) -> bool {
        let status = self
            .rings
            .index(self.info.layout.rx_head + abi::HEAD_STATUS);
        status.load(Ordering::Acquire) & abi::RING_DETACHED != 0
    }

    /// The next frame, if one is complete in the ring.
    pub fn recv(&mut self) -> io::Result<Option<FrameRef<'_>>> {
        let l = self.info.layout;
        let prod = self
            .rings
            .index(l.rx_head + abi::HEAD_PRODUCER)
            .load(Ordering::Acquire);
        self.rx
            .sync(prod)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad producer index"))?;
        let mut descs = self.lists.pop().unwrap_or_default();
        descs.clear();
        loop {
            let Some(slot) = self.rx.slot(descs.len() as u32) else {
                // An incomplete frame: the host publishes whole frames.
                self.lists.push(descs);
                return Ok(None);
            };
            let at = l.rx_descs as usize + slot * abi::DESC_SIZE as usize;
            let d = Desc::from_bytes(self.rings.read(at));
            descs.push(d);
            if d.flags & abi::DESC_MORE == 0 {
                break;
            }
        }
        for d in &descs {
            if self
                .zones
                .get(d.addr.zone as usize)
                .is_none_or(Option::is_none)
            {
                self.map_zone(d.addr.zone)?;
            }
        }
        let cons = self.rx.release(descs.len() as u32);
        self.rings
            .index(l.rx_head + abi::HEAD_CONSUMER)
            .store(cons, Ordering::Release);
        Ok(Some(FrameRef {
            port: self,
            frame: Frame { descs },
        }))
    }

    fn pending(&self) -> bool {
        let prod = self
            .rings
            .index(self.info.layout.rx_head + abi::HEAD_PRODUCER);
        prod.load(Ordering::Acquire) != self.rx.cons()
    }

    /// The eventfd the host signals, to poll with other descriptors after
    /// [`ZonePort::arm`].
    pub fn notify_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }

    /// Asks to be signalled when a frame comes; `false` if one is already
    /// there (then do not sleep). Then [`ZonePort::disarm`] after waking.
    pub fn arm(&mut self) -> bool {
        let flags = self.rings.index(self.info.layout.rx_head + abi::HEAD_FLAGS);
        flags.fetch_or(abi::RING_WAITING, Ordering::Relaxed);
        // Pairs with the host's barrier between publishing and reading the
        // flag: one of the two sees the other.
        fence(Ordering::SeqCst);
        !self.pending() && !self.detached()
    }

    /// No more signals wanted; the eventfd's count is cleared.
    pub fn disarm(&mut self) {
        let flags = self.rings.index(self.info.layout.rx_head + abi::HEAD_FLAGS);
        flags.fetch_and(!abi::RING_WAITING, Ordering::Relaxed);
        let mut v = [0u8; 8];
        // SAFETY: reading the (non-blocking) eventfd's counter into 8 bytes.
        unsafe { libc::read(self.eventfd.as_raw_fd(), v.as_mut_ptr().cast(), 8) };
    }

    /// The next frame, waiting up to `timeout` for one; `None` when none
    /// came or the port was detached.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Option<FrameRef<'_>>> {
        let deadline = std::time::Instant::now() + timeout;
        while !self.pending() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.detached() || left.is_zero() {
                return Ok(None);
            }
            if self.arm() {
                let mut pfd = libc::pollfd {
                    fd: self.eventfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
                if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    return Err(io::Error::last_os_error());
                }
            }
            self.disarm();
        }
        self.recv()
    }

    /// Gives the frame's buffers back to the host. If the return ring is
    /// full (the host takes returns as it places frames), waits for room.
    pub fn give_back(&mut self, frame: impl Into<Frame>) {
        let frame = frame.into();
        for a in frame.addrs() {
            self.give_back_raw(a);
        }
        self.lists.push(frame.descs);
    }

    /// Writes `addr` into the return ring as it is, whatever it is, and
    /// publishes it: for tests of the host's checks. The host rejects
    /// what is not a buffer this consumer holds.
    pub fn give_back_raw(&mut self, addr: Addr) {
        let l = self.info.layout;
        loop {
            let cons = self
                .rings
                .index(l.ret_head + abi::HEAD_CONSUMER)
                .load(Ordering::Acquire);
            if self.ret.sync(cons).is_ok_and(|room| room > 0) {
                break;
            }
            std::thread::yield_now();
        }
        let slot = self.ret.next_slot(0).expect("room");
        self.rings.write(
            l.ret_addrs as usize + slot * abi::ADDR_SIZE as usize,
            &abi::addr_to_bytes(addr),
        );
        let prod = self.ret.commit(1);
        self.rings
            .index(l.ret_head + abi::HEAD_PRODUCER)
            .store(prod, Ordering::Release);
    }

    /// Takes in what the completion ring hands back: buffers to send from.
    pub fn reap(&mut self) -> io::Result<u32> {
        let l = self.info.layout;
        let prod = self
            .rings
            .index(l.comp_head + abi::HEAD_PRODUCER)
            .load(Ordering::Acquire);
        let Some(tx) = self.tx.as_mut() else {
            return Ok(0);
        };
        let avail = tx
            .comp
            .sync(prod)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad completion index"))?;
        let mut zones = Vec::new();
        for k in 0..avail {
            let slot = tx.comp.slot(k).expect("available");
            let at = l.comp_addrs as usize + slot * abi::ADDR_SIZE as usize;
            let a = abi::addr_from_bytes(self.rings.read(at));
            tx.spare.push(a);
            zones.push(a.zone);
        }
        let cons = tx.comp.release(avail);
        tx.out -= avail;
        self.rings
            .index(l.comp_head + abi::HEAD_CONSUMER)
            .store(cons, Ordering::Release);
        let extra = tx.spare.len().saturating_sub(SPARE_MAX);
        let extra: Vec<Addr> = tx.spare.drain(..extra).collect();
        for a in extra {
            self.give_back_raw(a);
        }
        zones.dedup();
        for z in zones {
            self.map_zone(z)?;
        }
        Ok(avail)
    }

    /// Asks the host to lend up to `n` buffers to send from; returns how
    /// many it lent (each then comes on the completion ring).
    pub fn alloc(&mut self, n: u32) -> io::Result<u32> {
        let ring = self.info.geometry.ring();
        let Some(tx) = self.tx.as_mut() else {
            return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        };
        let n = n.min(ring - tx.out);
        // SAFETY: an `_IO` ioctl; its argument is a count.
        let lent =
            cvt(unsafe { libc::ioctl(self.file.as_raw_fd(), IOC_ALLOC, n as libc::c_ulong) })?;
        tx.out += lent as u32;
        self.reap()?;
        Ok(lent as u32)
    }

    /// Buffers held to send from.
    pub fn spare(&self) -> usize {
        self.tx.as_ref().map_or(0, |t| t.spare.len())
    }

    /// Takes a buffer held to send from, to fill and post by hand with
    /// [`ZonePort::write_buf`] and [`ZonePort::send_raw`].
    pub fn take_spare(&mut self) -> Option<Addr> {
        self.tx.as_mut()?.spare.pop()
    }

    /// Writes `data` into the buffer at `addr` (one this consumer holds),
    /// from its start.
    pub fn write_buf(&self, addr: Addr, data: &[u8]) {
        assert!(data.len() <= BUF_SIZE as usize);
        self.zone(addr.zone).write(addr.offset as usize, data);
    }

    /// Sends `frame` (an Ethernet frame; `vnet`, its virtio-net header as
    /// a tap's writer gives it), copied into buffers this consumer holds.
    /// `false` if it has too few buffers, or no room, for it now.
    pub fn send(&mut self, vnet: [u8; abi::VNET_LEN], frame: &[u8]) -> io::Result<bool> {
        let k = frame.len().div_ceil(BUF_SIZE as usize).max(1);
        if k > TX_BUFS_MAX {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        self.reap()?;
        if self.spare() < k {
            self.alloc(LEND_BATCH.max(k as u32))?;
        }
        if self.spare() < k || !self.tx_room(k as u32) {
            return Ok(false);
        }
        let tx = self.tx.as_mut().expect("bound to send");
        let bufs: Vec<Addr> = tx.spare.split_off(tx.spare.len() - k);
        let mut descs = Vec::with_capacity(k);
        for (i, (a, chunk)) in bufs.iter().zip(frame.chunks(BUF_SIZE as usize)).enumerate() {
            self.zone(a.zone).write(a.offset as usize, chunk);
            descs.push(Desc {
                addr: *a,
                flags: if i + 1 < k { abi::DESC_MORE } else { 0 },
                len: chunk.len() as u32,
                vnet: if i == 0 { vnet } else { [0; abi::VNET_LEN] },
            });
        }
        self.send_raw(&descs);
        Ok(true)
    }

    /// Whether `k` more entries fit the transmit ring, and their buffers
    /// the completion ring.
    fn tx_room(&mut self, k: u32) -> bool {
        let ring = self.info.geometry.ring();
        let cons = self
            .rings
            .index(self.info.layout.tx_head + abi::HEAD_CONSUMER)
            .load(Ordering::Acquire);
        let tx = self.tx.as_mut().expect("bound to send");
        tx.out + k <= ring && tx.ring.sync(cons).is_ok_and(|room| room >= k)
    }

    /// The transmit ring's producer index as this consumer keeps it.
    pub fn tx_producer(&self) -> u32 {
        self.tx.as_ref().map_or(0, |t| t.ring.prod())
    }

    /// Publishes `prod` as the transmit ring's producer index, whatever it
    /// is, and kicks (for tests of the host's checks); the next honest
    /// post publishes the right one again.
    pub fn write_raw_tx_producer(&mut self, prod: u32) {
        let l = self.info.layout;
        self.rings
            .index(l.tx_head + abi::HEAD_PRODUCER)
            .store(prod, Ordering::Release);
        self.kick();
    }

    /// Signals the transmit eventfd if the host asks for it.
    fn kick(&self) {
        // Pairs with the host's barrier between setting the flag and
        // looking at the ring once more.
        fence(Ordering::SeqCst);
        let flags = self.rings.index(self.info.layout.tx_head + abi::HEAD_FLAGS);
        if let (Some(tx), true) = (
            &self.tx,
            flags.load(Ordering::Relaxed) & abi::RING_NEED_KICK != 0,
        ) {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writing 8 bytes to an eventfd.
            unsafe { libc::write(tx.kick.as_raw_fd(), one.as_ptr().cast(), 8) };
        }
    }

    /// Posts `descs` on the transmit ring as they are, whatever they are,
    /// and kicks the host if it asks: for tests of the host's checks
    /// (and for [`ZonePort::send`]). Waits for room in the ring.
    pub fn send_raw(&mut self, descs: &[Desc]) {
        let l = self.info.layout;
        let k = descs.len() as u32;
        while !self.tx_room(k) {
            self.reap().ok();
            std::thread::yield_now();
        }
        let tx = self.tx.as_mut().expect("bound to send");
        for (i, d) in descs.iter().enumerate() {
            let slot = tx.ring.next_slot(i as u32).expect("room");
            self.rings.write(
                l.tx_descs as usize + slot * abi::DESC_SIZE as usize,
                &d.to_bytes(),
            );
        }
        let prod = tx.ring.commit(k);
        tx.out += k;
        self.rings
            .index(l.tx_head + abi::HEAD_PRODUCER)
            .store(prod, Ordering::Release);
        self.kick();
    }

    /// The return ring's producer index as this consumer keeps it.
    pub fn return_producer(&self) -> u32 {
        self.ret.prod()
    }

    /// Publishes `prod` as the return ring's producer index, whatever it
    /// is (for tests of the host's checks); the next honest return
    /// publishes the right one again.
    pub fn write_raw_producer(&mut self, prod: u32) {
        let l = self.info.layout;
        self.rings
            .index(l.ret_head + abi::HEAD_PRODUCER)
            .store(prod, Ordering::Release);
    }
}
