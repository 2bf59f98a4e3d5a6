// SPDX-License-Identifier: GPL-2.0

//! Socket buffers: a frame passing a bridge hook (read, rewritten in place,
//! or taken over and transmitted), and a frame built here and sent.

use super::netdev::NetDevice;
use super::rcu::Guard;
use crate::bindings;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

/// Length of an Ethernet header, which the bridge has pulled by the time
/// its netfilter hooks run.
pub(crate) const ETH_HLEN: u32 = 14;

/// A `ptr_ring`'s consumer batch before the ring-size cap
/// (`SMP_CACHE_BYTES * 2 / sizeof(void *)`), as the tap's rings of
/// socket buffers use it.
pub(crate) const PTR_RING_CACHE_BATCH: u32 = bindings::VASSIST_PTR_RING_CACHE_BATCH;

/// A frame as [`SkBuff::peek`] reads it.
pub(crate) struct Peek<'b> {
    pub(crate) len: u32,
    /// EtherType, host order.
    pub(crate) protocol: u16,
    /// Wire segments the buffer stands for: its GSO segment count, or 1.
    pub(crate) segments: u32,
    pub(crate) headers: &'b [u8],
}

/// Where [`SkBuff::peek`] copies headers that are not in the linear area:
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

    /// Bytes from the network header on (`skb->len`).
    fn len(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::vassist_skb_len(self.ptr.as_ptr()) }
    }

    /// What the packet path reads of every frame, in one call: its length,
    /// EtherType, GSO segments, and the first `N` bytes from the network
    /// header (fewer if the packet is shorter), straight from the linear
    /// area when they are there, else copied into `buf`.
    pub(crate) fn peek<'b, const N: usize>(&'b self, buf: &'b mut PeekBuf<N>) -> Peek<'b> {
        let mut meta = bindings::vassist_skb_meta::default();
        // SAFETY: `ptr` is valid (type invariant); `buf` has room for `N`
        // bytes, the most the helper copies.
        let p = unsafe {
            bindings::vassist_skb_peek(
                self.ptr.as_ptr(),
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
        let skb = self.ptr.as_ptr();
        // SAFETY: `skb` is valid (type invariant) and its `dev` set: a hook
        // sees frames on their way through a device. Both calls only read
        // the frame (they take a non-const pointer but do not write through
        // it), so `&self` suffices.
        unsafe { bindings::vassist_netif_needs_gso(skb, bindings::netif_skb_features(skb)) }
    }

    /// Whether the checksum is left to the device (CHECKSUM_PARTIAL): the
    /// field then holds only the pseudo-header sum.
    pub(crate) fn csum_partial(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::vassist_skb_csum_partial(self.ptr.as_ptr()) }
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

    /// The Ethernet header in front of the network header.
    pub(crate) fn eth_header(&self) -> Option<[u8; ETH_HLEN as usize]> {
        let mut h = [0u8; ETH_HLEN as usize];
        // SAFETY: `ptr` is valid; `h` has room for ETH_HLEN bytes.
        unsafe { bindings::vassist_skb_eth_header(self.ptr.as_ptr(), h.as_mut_ptr()) }.then_some(h)
    }

    /// Interface index of the device the frame entered the host by (0 for
    /// frames the host sent).
    pub(crate) fn iif(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::vassist_skb_iif(self.ptr.as_ptr()) as u32 }
    }
}

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
        let skb = self.0.ptr.as_ptr();
        // SAFETY: `skb` is ours (type invariant) and sits after the Ethernet
        // header the bridge pulled, so the push stays within its headroom.
        unsafe { bindings::skb_push(skb, ETH_HLEN) };
        // SAFETY: `skb` is valid; `skb->dev` is the port it leaves by.
        let dev = unsafe { bindings::vassist_skb_dev(skb) };
        // SAFETY: `dev` is alive while the bridge transmits to it.
        if !unsafe { bindings::is_skb_forwardable(dev, skb) } {
            // SAFETY: the frame is ours to free.
            unsafe { bindings::vassist_kfree_skb(skb) };
            return Sent { delivered: false };
        }
        // SAFETY: `skb` is ours.
        unsafe { bindings::vassist_br_drop_fake_rtable(skb) };
        // SAFETY: dev_queue_xmit consumes `skb` whatever it returns.
        let rc = unsafe { bindings::vassist_dev_queue_xmit(skb) };
        Sent {
            delivered: rc == bindings::NET_XMIT_SUCCESS as i32,
        }
    }

    pub(crate) fn into_inner(self) -> SkBuff<'a> {
        self.0
    }
}

/// Sends the Ethernet frame `frame` (headers included) out of `dev`; says
/// whether the device took it.
pub(crate) fn xmit_frame(dev: &NetDevice, frame: &[u8], _rcu: &Guard) -> bool {
    let Ok(len) = u32::try_from(frame.len()) else {
        return false;
    };
    if len < ETH_HLEN {
        return false;
    }
    let dev = dev.as_ptr();
    // SAFETY: `dev` is alive under RCU; the reserve is its link-layer
    // headroom.
    let reserve = unsafe { bindings::vassist_ll_reserved_space(dev) };
    // SAFETY: atomic allocation, as the packet path needs.
    let skb = unsafe { bindings::vassist_alloc_skb_atomic(reserve + len) };
    if skb.is_null() {
        return false;
    }
    // SAFETY: `skb` is fresh and ours, with `reserve + len` bytes of room:
    // the reserve, then the frame copied in; its headers are set from the
    // frame's start (Ethernet, then the network header after it).
    unsafe {
        bindings::vassist_skb_reserve(skb, reserve);
        bindings::vassist_skb_put_data(skb, frame.as_ptr().cast(), len);
        bindings::vassist_skb_set_eth_frame(skb, dev);
    }
    // SAFETY: dev_queue_xmit consumes `skb` whatever it returns.
    let rc = unsafe { bindings::vassist_dev_queue_xmit(skb) };
    rc == bindings::NET_XMIT_SUCCESS as i32
}
