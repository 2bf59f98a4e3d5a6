// SPDX-License-Identifier: GPL-2.0

//! Socket buffers: a frame passing a bridge hook (read, rewritten in place,
//! or taken over and transmitted), and a frame built here and sent.

use super::netdev::NetDevice;
use super::rcu::Guard;
use crate::bindings;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use kernel::types::Opaque;

/// Length of an Ethernet header, which the bridge has pulled by the time
/// its netfilter hooks run.
pub(crate) const ETH_HLEN: u32 = 14;

/// A `ptr_ring`'s consumer batch before the ring-size cap
/// (`SMP_CACHE_BYTES * 2 / sizeof(void *)`), as the tap's rings of
/// socket buffers use it.
pub(crate) const PTR_RING_CACHE_BATCH: u32 = bindings::VASSIST_PTR_RING_CACHE_BATCH;

/// A frame as [`Frame::peek`] reads it.
pub(crate) struct Peek<'b> {
    pub(crate) len: u32,
    /// EtherType, host order.
    pub(crate) protocol: u16,
    /// Wire segments the buffer stands for: its GSO segment count, or 1.
    pub(crate) segments: u32,
    pub(crate) headers: &'b [u8],
}

/// Where [`Frame::peek`] copies headers that are not in the linear area:
/// `N` bytes left uninitialised, since every frame gets one and only what
/// the copy wrote is ever read.
pub(crate) struct PeekBuf<const N: usize>(MaybeUninit<[u8; N]>);

impl<const N: usize> PeekBuf<N> {
    pub(crate) const fn new() -> Self {
        Self(MaybeUninit::uninit())
    }
}

/// A `struct sk_buff` a hook was handed, whose `data` points at the network
/// header. Whoever holds it decides its fate: it goes back to netfilter in
/// the verdict, or is consumed by [`Egress::transmit`].
///
/// # Invariants
///
/// `ptr` points at a valid `sk_buff` that is not freed for `'a`, and only
/// this value uses it.
pub(crate) struct SkBuff<'a> {
    ptr: NonNull<bindings::sk_buff>,
    _p: PhantomData<&'a bindings::sk_buff>,
}

impl<'a> SkBuff<'a> {
    /// # Safety
    ///
    /// `ptr` is a valid `sk_buff` for all of `'a`, used by nothing else
    /// meanwhile.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::sk_buff>) -> Self {
        // INVARIANT: vouched for by the caller.
        SkBuff {
            ptr,
            _p: PhantomData,
        }
    }

    /// Hands a frame that a device received (at its ingress hook) to the
    /// bridge as if the bridge port `port` had received it, with the
    /// Ethernet addresses `dst` and `src`: the bridge forwards it as that
    /// port's frame; `port`'s own ingress hooks and packet taps do not see
    /// it. `port` is alive for the call (`rcu` held across the lookup that
    /// found it held). The verdict must then be NF_STOLEN.
    pub(crate) fn inject_as(
        self,
        port: &NetDevice,
        dst: &[u8; 6],
        src: &[u8; 6],
        _rcu: &Guard,
    ) -> Sent {
        // SAFETY: the frame is ours (type invariant) and given up here; the
        // helper checks its MAC header is set, runs in the receive path as
        // an ingress hook does, and reads six bytes of each address.
        let delivered = unsafe {
            bindings::vassist_skb_inject_rx(
                self.ptr.as_ptr(),
                port.as_ptr(),
                dst.as_ptr(),
                src.as_ptr(),
            )
        };
        Sent { delivered }
    }

    /// The first `len` bytes from the network header, linear and not
    /// shared, to rewrite; `None` if the packet is shorter or memory is
    /// short. A checksum of the whole packet (CHECKSUM_COMPLETE) no longer
    /// holds after a rewrite: it is dropped for the receiver to verify.
    pub(crate) fn header_mut(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.len() as usize {
            return None;
        }
        // SAFETY: `ptr` is valid and ours (type invariant).
        let p = unsafe { bindings::vassist_skb_writable(self.ptr.as_ptr(), len as u32) };
        let p = NonNull::new(p.cast::<u8>())?;
        // SAFETY: as above.
        unsafe { bindings::vassist_skb_csum_complete_to_none(self.ptr.as_ptr()) };
        // SAFETY: skb_ensure_writable made `len` bytes from `data` linear and
        // private to this skb, which `&mut self` borrows exclusively.
        Some(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) })
    }
}

impl core::ops::Deref for SkBuff<'_> {
    type Target = Frame;

    fn deref(&self) -> &Frame {
        // SAFETY: `ptr` is a hook's frame (type invariant: valid, used by
        // this value alone), which nothing writes while `&self` is
        // borrowed.
        unsafe { Frame::from_raw(self.ptr) }
    }
}

/// Length of a virtio-net header (`struct virtio_net_hdr`).
pub(crate) const VNET_HDR_LEN: usize = 10;

/// A frame at the bridge's post-routing hook, on its way out of the port
/// `skb->dev`.
pub(crate) struct Egress<'a>(SkBuff<'a>);

/// Proof that an [`Egress`] frame has nothing between this hook and its
/// device that drops it by policy: no VLAN tag (so none to handle), and
/// br_netfilter will not run it through the IP hooks.
pub(crate) struct PlainPath(());

/// Proof that a frame was taken over by [`Egress::transmit`].
pub(crate) struct Sent {
    /// The device took it (NET_XMIT_SUCCESS).
    pub(crate) delivered: bool,
}

impl<'a> Egress<'a> {
    /// # Safety
    ///
    /// As [`SkBuff::from_raw`], and the frame is at the bridge's
    /// post-routing hook, whose okfn (`br_dev_queue_push_xmit`) a hook may
    /// take over by returning NF_STOLEN.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::sk_buff>) -> Self {
        // SAFETY: the caller's contract covers SkBuff's.
        Egress(unsafe { SkBuff::from_raw(ptr) })
    }

    pub(crate) fn skb(&self) -> &SkBuff<'a> {
        &self.0
    }

    /// Whether the frame's path to the device is plain ([`PlainPath`]).
    pub(crate) fn plain_path(&self) -> Option<PlainPath> {
        // SAFETY: `ptr` is valid (type invariant of SkBuff).
        unsafe { bindings::vassist_skb_plain_path(self.0.ptr.as_ptr()) }.then_some(PlainPath(()))
    }

    /// What the bridge would do next, br_dev_queue_push_xmit() for a plain
    /// frame, keeping dev_queue_xmit()'s result, which the bridge discards:
    /// push the Ethernet header back, drop what the device cannot take, and
    /// queue it. Its VLAN step has nothing to do on a plain path; its
    /// switchdev mark is for ports with switchdev offload, never a tap, the
    /// only kind vassist transmits to. The verdict must then be NF_STOLEN.
    pub(crate) fn transmit(self, _plain: PlainPath) -> Sent {
        // SAFETY: the frame is ours (type invariant), at the post-routing
        // hook with `skb->dev` its port.
        let delivered = unsafe { xmit_from_network_header(self.0.ptr.as_ptr()) };
        Sent { delivered }
    }

    pub(crate) fn into_inner(self) -> SkBuff<'a> {
        self.0
    }

    /// As [`Egress::transmit`], out of `dev` instead of the port: a
    /// device alive for the call (`rcu` held across the lookup that found
    /// it held).
    pub(crate) fn transmit_to(self, dev: &NetDevice, _plain: PlainPath, _rcu: &Guard) -> Sent {
        let skb = self.0.ptr.as_ptr();
        // SAFETY: the frame is ours (type invariant), at the post-routing
        // hook, given up here with `dev` alive for the call.
        let delivered = unsafe {
            bindings::vassist_skb_set_dev(skb, dev.as_ptr());
            xmit_from_network_header(skb)
        };
        Sent { delivered }
    }

    /// Keeps the frame itself, to be sent later (see [`HeldSkb`]); the
    /// verdict must then be NF_STOLEN.
    pub(crate) fn keep(self) -> (HeldSkb, Sent) {
        // INVARIANT: the frame is ours (type invariant), on no list, at the
        // network header with the Ethernet header in front and `dev` the
        // port it was leaving by.
        (HeldSkb { ptr: self.0.ptr }, Sent { delivered: true })
    }

    /// The frame was delivered by other means (copied out): freed as
    /// consumed, not dropped. The verdict must then be NF_STOLEN.
    pub(crate) fn consume(self) -> Sent {
        // SAFETY: the frame is ours (type invariant) and given up here.
        unsafe { bindings::vassist_consume_skb(self.0.ptr.as_ptr()) };
        Sent { delivered: true }
    }
}

/// What the bridge does with a frame after its post-routing hook,
/// br_dev_queue_push_xmit(), keeping dev_queue_xmit()'s result, which the
/// bridge discards: push the Ethernet header back, drop what the device
/// cannot take, and queue it. Its VLAN step has nothing to do on a plain
/// path; its switchdev mark is for ports with switchdev offload, never a
/// tap, the only kind vassist transmits to. Whether the device took it.
///
/// # Safety
///
/// `skb` is valid and owned by the caller, which gives it up; its `data`
/// is at the network header with the Ethernet header in front (in the
/// headroom) and `dev` is a device alive for the call.
unsafe fn xmit_from_network_header(skb: *mut bindings::sk_buff) -> bool {
    // SAFETY: the Ethernet header is in front of `data` (the caller's
    // promise), so the push stays within the headroom.
    unsafe { bindings::skb_push(skb, ETH_HLEN) };
    // SAFETY: `skb` is valid; its `dev` is alive (the caller's promise).
    let dev = unsafe { bindings::vassist_skb_dev(skb) };
    // SAFETY: as above.
    if !unsafe { bindings::is_skb_forwardable(dev, skb) } {
        // SAFETY: the frame is ours to free.
        unsafe { bindings::vassist_kfree_skb(skb) };
        return false;
    }
    // SAFETY: `skb` is ours.
    unsafe { bindings::vassist_br_drop_fake_rtable(skb) };
    // SAFETY: dev_queue_xmit consumes `skb` whatever it returns.
    let rc = unsafe { bindings::vassist_dev_queue_xmit(skb) };
    rc == bindings::NET_XMIT_SUCCESS as i32
}

/// A frame seen by reference, to read: one a hook was handed
/// ([`SkBuff`] derefs to it), or a frame's data kept after the frame
/// itself went on to its device ([`HeldSkb`]: a clone, `skb_clone`, a new
/// `sk_buff` over the same, then read-only, data, to send the same bytes
/// again), alone or in a [`HeldSkbs`] list.
///
/// # Invariants
///
/// A `&Frame` is a valid `sk_buff` that outlives the reference and that
/// nothing writes meanwhile, with `data` at the network header, the
/// Ethernet header in front of it, and `dev` the device the frame passes.
#[repr(transparent)]
pub(crate) struct Frame(Opaque<bindings::sk_buff>);

impl Frame {
    /// # Safety
    ///
    /// `ptr` is a frame as the type invariant describes, for all of `'a`.
    unsafe fn from_raw<'a>(ptr: NonNull<bindings::sk_buff>) -> &'a Frame {
        // SAFETY: `Frame` is a transparent wrapper of the sk_buff, which
        // lives for 'a (the caller's promise).
        unsafe { &*ptr.as_ptr().cast::<Frame>() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::sk_buff {
        self.0.get()
    }

    /// Wire segments the frame stands for: its GSO segment count, or 1.
    pub(crate) fn segments(&self) -> u32 {
        // SAFETY: the frame is valid (type invariant); the helper only
        // reads it.
        unsafe { bindings::vassist_skb_gso_segs(self.as_ptr()) }
    }

    /// Bytes from the network header on (`skb->len`).
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: the frame is valid (type invariant).
        unsafe { bindings::vassist_skb_len(self.as_ptr()) }
    }

    /// What the packet path reads of every frame, in one call: its length,
    /// EtherType, GSO segments, and the first `N` bytes from the network
    /// header (fewer if the packet is shorter), straight from the linear
    /// area when they are there, else copied into `buf`.
    pub(crate) fn peek<'b, const N: usize>(&'b self, buf: &'b mut PeekBuf<N>) -> Peek<'b> {
        let mut meta = bindings::vassist_skb_meta::default();
        // SAFETY: the frame is valid (type invariant); `buf` has room for `N`
        // bytes, the most the helper copies.
        let p = unsafe {
            bindings::vassist_skb_peek(
                self.as_ptr(),
                buf.0.as_mut_ptr().cast(),
                N as u32,
                &mut meta,
            )
        };
        let headers = if p.is_null() {
            &[][..]
        } else {
            // SAFETY: skb_header_pointer returned `meta.peeked` readable,
            // initialised bytes: in the skb (alive for 'a, which outlives
            // 'b), or in `buf`, which it copied them into.
            unsafe { core::slice::from_raw_parts(p.cast::<u8>(), meta.peeked as usize) }
        };
        Peek {
            len: meta.len,
            protocol: meta.protocol,
            segments: meta.segs.max(1),
            headers,
        }
    }

    /// Whether the device the frame is for (`skb->dev`) has a GSO frame
    /// segmented in software before it queues it: it cannot offload the
    /// frame's GSO type (a tap can when its reader turned the offload on,
    /// as vhost-net does for a virtio-net guest with TSO).
    pub(crate) fn needs_gso(&self) -> bool {
        let skb = self.as_ptr();
        // SAFETY: `skb` is valid (type invariant) and its `dev` set: a hook
        // sees frames on their way through a device. Both calls only read
        // the frame (they take a non-const pointer but do not write through
        // it), so `&self` suffices.
        unsafe { bindings::vassist_netif_needs_gso(skb, bindings::netif_skb_features(skb)) }
    }

    /// Whether the checksums of the segment at `tcp_offset` (from the
    /// network header; IPv6 if `v6`) hold: the IPv4 header's, and the
    /// TCP one, trusted if the device or the sending stack vouched for it
    /// (CHECKSUM_UNNECESSARY, PARTIAL), else computed over the segment.
    pub(crate) fn tcp_checksum_ok(&self, tcp_offset: usize, v6: bool) -> bool {
        let Ok(off) = u32::try_from(tcp_offset) else {
            return false;
        };
        if off > self.len() {
            return false;
        }
        // SAFETY: the frame is valid (type invariant) with its network header
        // set (a bridge hook's frame) and `off` within it; the helper only
        // reads the frame (skb_checksum walks its data and fragments).
        unsafe { bindings::vassist_skb_tcp_csum_ok(self.as_ptr(), off, v6) }
    }

    /// Whether the checksum is left to the device (CHECKSUM_PARTIAL): the
    /// field then holds only the pseudo-header sum.
    pub(crate) fn csum_partial(&self) -> bool {
        // SAFETY: the frame is valid (type invariant).
        unsafe { bindings::vassist_skb_csum_partial(self.as_ptr()) }
    }

    /// The Ethernet header in front of the network header.
    pub(crate) fn eth_header(&self) -> Option<[u8; ETH_HLEN as usize]> {
        let mut h = [0u8; ETH_HLEN as usize];
        // SAFETY: `ptr` is valid; `h` has room for ETH_HLEN bytes.
        unsafe { bindings::vassist_skb_eth_header(self.as_ptr(), h.as_mut_ptr()) }.then_some(h)
    }

    /// Interface index of the device the frame entered the host by (0 for
    /// frames the host sent).
    pub(crate) fn iif(&self) -> u32 {
        // SAFETY: the frame is valid (type invariant).
        unsafe { bindings::vassist_skb_iif(self.as_ptr()) as u32 }
    }

    /// The VLAN tag held out of the frame (accelerated): its protocol and
    /// TCI, which a device that cannot offload it inserts after the
    /// addresses.
    pub(crate) fn vlan_tag(&self) -> Option<[u16; 2]> {
        let (mut proto, mut tci) = (0, 0);
        // SAFETY: the frame is valid (type invariant).
        unsafe { bindings::vassist_skb_vlan_tag(self.as_ptr(), &mut proto, &mut tci) }
            .then_some([proto, tci])
    }

    /// The frame's offloads as a tap's reader gets them: a little-endian
    /// virtio-net header, for the frame with `head_len` bytes in front of
    /// `data` (the Ethernet header, and a tag inserted), which its offsets
    /// count from. `None` for offloads it cannot express.
    pub(crate) fn vnet_header(&self, head_len: u32) -> Option<[u8; VNET_HDR_LEN]> {
        let mut h = [0u8; VNET_HDR_LEN];
        // SAFETY: the frame is valid (type invariant); `h` has room for the
        // header.
        let ok = unsafe {
            bindings::vassist_skb_vnet_hdr(self.as_ptr(), h.as_mut_ptr(), head_len as i32)
        };
        // The helper moved csum_start by `head_len`; hdr_len (the linear
        // part's length, a GSO frame's) counts from `data` too.
        let hdr_len = u16::from_le_bytes([h[2], h[3]]);
        if hdr_len != 0 {
            let moved = hdr_len.saturating_add(head_len as u16);
            h[2..4].copy_from_slice(&moved.to_le_bytes());
        }
        ok.then_some(h)
    }
    /// Another reference to the frame's data, to send it again; `None`
    /// when memory is short.
    pub(crate) fn clone_ref(&self) -> Option<HeldSkb> {
        // SAFETY: the frame is valid (type invariant).
        let clone = unsafe { bindings::vassist_skb_clone_atomic(self.as_ptr()) };
        // INVARIANT: a fresh clone, ours alone, at the network header with
        // the device of the frame it copies.
        NonNull::new(clone).map(|ptr| HeldSkb { ptr })
    }
}

/// A [`Frame`] owned: a clone kept, or a frame built here.
///
/// # Invariants
///
/// `ptr` is an `sk_buff` this value owns, on no list (its `next` unused
/// but by [`HeldSkbs`]), as [`Frame`] describes.
pub(crate) struct HeldSkb {
    ptr: NonNull<bindings::sk_buff>,
}

// SAFETY: an sk_buff nobody else uses may be used and freed on any CPU.
unsafe impl Send for HeldSkb {}

impl HeldSkb {
    /// A frame built from `frame`, an Ethernet frame (headers included),
    /// to go out of `dev`, a device alive for the call (`rcu` held across
    /// the lookup that found it held). `None` if it is shorter than an
    /// Ethernet header or memory is short.
    pub(crate) fn build(dev: &NetDevice, frame: &[u8], _rcu: &Guard) -> Option<HeldSkb> {
        let len = u32::try_from(frame.len()).ok().filter(|&l| l >= ETH_HLEN)?;
        let dev = dev.as_ptr();
        // SAFETY: `dev` is alive (the caller's RCU section); the reserve
        // is its link-layer headroom.
        let reserve = unsafe { bindings::vassist_ll_reserved_space(dev) };
        // SAFETY: atomic allocation, as the packet path needs.
        let ptr = NonNull::new(unsafe { bindings::vassist_alloc_skb_atomic(reserve + len) })?;
        let skb = ptr.as_ptr();
        // SAFETY: `skb` is fresh and ours, with `reserve + len` bytes of
        // room: the reserve, then the frame copied in; its headers are set
        // from the frame's start (Ethernet, then the network header after
        // it), and `data` moved to the network header.
        unsafe {
            bindings::vassist_skb_reserve(skb, reserve);
            bindings::vassist_skb_put_data(skb, frame.as_ptr().cast(), len);
            bindings::vassist_skb_set_eth_frame(skb, dev);
            bindings::skb_pull(skb, ETH_HLEN);
        }
        // INVARIANT: ours alone, on no list, at the network header with
        // the Ethernet header in front and `dev` set.
        Some(HeldSkb { ptr })
    }

    /// Sends the frame out of the device it left by, which must still be
    /// alive: `rcu` is held across a lookup that found the port (which
    /// holds the device) still attached. Whether the device took it.
    pub(crate) fn transmit(self, _rcu: &Guard) -> bool {
        let skb = self.ptr.as_ptr();
        core::mem::forget(self);
        // SAFETY: the frame was ours (type invariant) and is given up here,
        // at the network header with the Ethernet header in front and
        // `dev` the device, which the caller's RCU section keeps alive.
        unsafe { xmit_from_network_header(skb) }
    }

    /// As [`HeldSkb::transmit`], out of `dev` instead: a device alive for
    /// the call (`rcu` held across the lookup that found it held).
    pub(crate) fn transmit_to(self, dev: &NetDevice, rcu: &Guard) -> bool {
        // SAFETY: the frame is ours (type invariant); `dev` is alive for
        // the call, and the transmission below sends it there.
        unsafe { bindings::vassist_skb_set_dev(self.ptr.as_ptr(), dev.as_ptr()) };
        self.transmit(rcu)
    }
}

impl core::ops::Deref for HeldSkb {
    type Target = Frame;

    fn deref(&self) -> &Frame {
        // SAFETY: `ptr` is owned by `self` (type invariant), which outlives
        // the reference.
        unsafe { Frame::from_raw(self.ptr) }
    }
}

impl Drop for HeldSkb {
    fn drop(&mut self) {
        // SAFETY: ours to free (type invariant); not an error drop.
        unsafe { bindings::vassist_consume_skb(self.ptr.as_ptr()) };
    }
}

/// Held frames in order, each with two words its owner keeps with it,
/// linked through their own `next` pointers (no allocation).
///
/// # Invariants
///
/// `head` starts a chain of frames, each owned by this value as a
/// [`HeldSkb`], linked by `next` and ending at `tail` (whose `next` is
/// null); `tail` is null when the chain is empty.
pub(crate) struct HeldSkbs {
    head: Option<HeldSkb>,
    tail: *mut bindings::sk_buff,
}

// SAFETY: it owns its frames (type invariant), which are Send.
unsafe impl Send for HeldSkbs {}

impl HeldSkbs {
    pub(crate) const fn new() -> Self {
        // INVARIANT: empty.
        HeldSkbs {
            head: None,
            tail: core::ptr::null_mut(),
        }
    }

    /// The first frame.
    pub(crate) fn front(&self) -> Option<&Frame> {
        self.head.as_deref()
    }

    /// The owner's words of the first frame.
    pub(crate) fn front_tag(&self) -> Option<[u32; 2]> {
        self.head.as_deref().map(tag_of)
    }

    /// The owner's words of the last frame.
    pub(crate) fn back_tag(&self) -> Option<[u32; 2]> {
        // SAFETY: `tail` is null or the chain's last frame (type
        // invariant), owned by the chain, which `&self` keeps unchanged.
        NonNull::new(self.tail).map(|p| tag_of(unsafe { Frame::from_raw(p) }))
    }

    pub(crate) fn push_back(&mut self, skb: HeldSkb, tag: [u32; 2]) {
        let p = skb.ptr.as_ptr();
        // SAFETY: `p` is ours (HeldSkb's invariant); its control buffer is
        // the owner's (no layer below uses a held clone), 48 bytes, more
        // than the tag.
        unsafe {
            bindings::vassist_skb_set_next(p, core::ptr::null_mut());
            bindings::vassist_skb_cb(p)
                .cast::<[u32; 2]>()
                .write_unaligned(tag);
        }
        if self.tail.is_null() {
            self.head = Some(skb);
        } else {
            // SAFETY: `tail` is the chain's last frame (type invariant).
            unsafe { bindings::vassist_skb_set_next(self.tail, p) };
            // The chain owns it now, through its predecessor's link.
            core::mem::forget(skb);
        }
        // INVARIANT: `p` is linked last and owned by the chain.
        self.tail = p;
    }

    pub(crate) fn pop_front(&mut self) -> Option<HeldSkb> {
        let head = self.head.take()?;
        // SAFETY: `head` is in the chain (type invariant).
        let next = unsafe { bindings::vassist_skb_next(head.ptr.as_ptr()) };
        // SAFETY: unlinked: the frame leaves the chain on its own.
        unsafe { bindings::vassist_skb_set_next(head.ptr.as_ptr(), core::ptr::null_mut()) };
        // INVARIANT: the rest of the chain, owned as before.
        self.head = NonNull::new(next).map(|ptr| HeldSkb { ptr });
        if self.head.is_none() {
            self.tail = core::ptr::null_mut();
        }
        Some(head)
    }

    /// Cuts the list before its first frame whose words `from` accepts:
    /// that frame and those after it are returned, in order.
    pub(crate) fn split_off(&mut self, from: impl Fn([u32; 2]) -> bool) -> HeldSkbs {
        if self.head.as_deref().map(tag_of).is_some_and(&from) {
            return core::mem::replace(self, HeldSkbs::new());
        }
        let Some(mut prev) = self.head.as_ref().map(|h| h.ptr) else {
            return HeldSkbs::new();
        };
        loop {
            // SAFETY: `prev` is in the chain (type invariant).
            let next = NonNull::new(unsafe { bindings::vassist_skb_next(prev.as_ptr()) });
            let Some(n) = next else {
                return HeldSkbs::new();
            };
            // SAFETY: `n` is in the chain, which `self` owns and keeps
            // unchanged while the reference lives.
            if from(tag_of(unsafe { Frame::from_raw(n) })) {
                // SAFETY: `prev` is in the chain; the link to `n` is cut.
                unsafe { bindings::vassist_skb_set_next(prev.as_ptr(), core::ptr::null_mut()) };
                let tail = core::mem::replace(&mut self.tail, prev.as_ptr());
                // INVARIANT: `self` now ends at `prev`; the chain from `n`
                // to the old tail, owned through the links as before, is
                // the new list's.
                return HeldSkbs {
                    head: Some(HeldSkb { ptr: n }),
                    tail,
                };
            }
            prev = n;
        }
    }

    /// Puts `other`'s frames after this list's.
    pub(crate) fn append(&mut self, mut other: HeldSkbs) {
        let Some(head) = other.head.take() else {
            return;
        };
        let tail = core::mem::take(&mut other.tail);
        if self.tail.is_null() {
            self.head = Some(head);
        } else {
            // SAFETY: `tail` is this chain's last frame (type invariant).
            unsafe { bindings::vassist_skb_set_next(self.tail, head.ptr.as_ptr()) };
            // The chain owns it now, through its predecessor's link.
            core::mem::forget(head);
        }
        // INVARIANT: `other`'s chain follows, its last frame last.
        self.tail = tail;
    }

    /// The frames in order, with their words.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Frame, [u32; 2])> {
        let mut at = self.head.as_ref().map(|h| h.ptr);
        core::iter::from_fn(move || {
            let p = at?;
            // SAFETY: `p` is in the chain (type invariant), which `&self`
            // keeps unchanged while the iterator lives.
            at = NonNull::new(unsafe { bindings::vassist_skb_next(p.as_ptr()) });
            // SAFETY: the chain owns `p` and `&self` borrows the chain for
            // as long as the reference lives.
            let frame = unsafe { Frame::from_raw(p) };
            Some((frame, tag_of(frame)))
        })
    }
}

fn tag_of(frame: &Frame) -> [u32; 2] {
    // SAFETY: a frame in a list is owned there; its control buffer holds
    // the words `push_back` wrote.
    unsafe {
        bindings::vassist_skb_cb(frame.as_ptr())
            .cast::<[u32; 2]>()
            .read_unaligned()
    }
}

impl Drop for HeldSkbs {
    fn drop(&mut self) {
        while self.pop_front().is_some() {}
    }
}

/// Sends the Ethernet frame `frame` (headers included) out of `dev`; says
/// whether the device took it.
pub(crate) fn xmit_frame(dev: &NetDevice, frame: &[u8], rcu: &Guard) -> bool {
    HeldSkb::build(dev, frame, rcu).is_some_and(|skb| skb.transmit(rcu))
}
