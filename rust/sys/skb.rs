// SPDX-License-Identifier: GPL-2.0

//! A read-only view of a socket buffer passing a bridge hook.

use crate::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// Length of an Ethernet header, which the bridge has pulled by the time
/// its netfilter hooks run.
pub(crate) const ETH_HLEN: u32 = 14;

/// A borrowed `struct sk_buff` whose `data` points at the network header.
///
/// # Invariants
///
/// `ptr` points at a valid `sk_buff` that is not freed for `'a`.
pub(crate) struct SkBuff<'a> {
    ptr: NonNull<bindings::sk_buff>,
    _p: PhantomData<&'a bindings::sk_buff>,
}

impl<'a> SkBuff<'a> {
    /// # Safety
    ///
    /// `ptr` is a valid `sk_buff` for all of `'a`.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::sk_buff>) -> Self {
        // INVARIANT: vouched for by the caller.
        SkBuff {
            ptr,
            _p: PhantomData,
        }
    }

    /// Bytes from the network header on (`skb->len`).
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::vassist_skb_len(self.ptr.as_ptr()) }
    }

    /// The EtherType, host order.
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::vassist_skb_protocol(self.ptr.as_ptr()) }
    }

    /// Wire segments this buffer stands for: its GSO segment count, or 1.
    pub(crate) fn segments(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant).
        u32::from(unsafe { bindings::vassist_skb_gso_segs(self.ptr.as_ptr()) }).max(1)
    }

    /// The first `buf.len()` bytes from the network header (fewer if the
    /// packet is shorter), straight from the linear area when they are there,
    /// else copied into `buf`.
    pub(crate) fn headers<'b>(&'b self, buf: &'b mut [u8]) -> &'b [u8] {
        let want = buf.len().min(self.len() as usize);
        // SAFETY: `ptr` is valid (type invariant); `buf` has room for `want`
        // (<= buf.len() <= i32::MAX for the small buffers used) bytes.
        let p = unsafe {
            bindings::vassist_skb_header_pointer(
                self.ptr.as_ptr(),
                0,
                want as i32,
                buf.as_mut_ptr().cast(),
            )
        };
        if p.is_null() {
            return &[];
        }
        // SAFETY: skb_header_pointer returned `want` readable bytes, either
        // in the skb (alive for 'a, which outlives 'b) or in `buf`.
        unsafe { core::slice::from_raw_parts(p.cast::<u8>(), want) }
    }
}
