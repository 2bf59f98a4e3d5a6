// SPDX-License-Identifier: GPL-2.0

//! Frames a process wrote into memory it shares with the module, handed to
//! the stack as received on a device (as tun does for a writer): their
//! headers copied into the frame's own memory, the rest referenced in place
//! as page fragments, and a completion ([`ZeroCopy`], the stack's
//! `ubuf_info`) told once nothing points at those pages any more. Where the
//! stack must keep or change the bytes (delivery to a socket, a queue to
//! another tap, a checksum to fill in) it copies them first and completes
//! early; that is the stack's rule for such fragments.

use super::netdev::NetDevice;
use super::usermem::UserMem;
use crate::bindings;
use core::ptr::NonNull;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::types::Opaque;
use kernel::ThisModule;

/// Page fragments a frame may have (MAX_SKB_FRAGS).
pub(crate) const MAX_FRAGS: usize = bindings::VASSIST_MAX_SKB_FRAGS as usize;

/// What is done once the stack no longer points at a frame's pages.
pub(crate) trait Completion: Send + Sized {
    /// Runs in process or softirq context, never in hard interrupt
    /// context (frames are freed there only through a softirq).
    fn complete(self);
}

/// The `ubuf_info` and what its completion owns.
#[repr(C)]
struct ZcBox<T> {
    /// First: the stack's pointer to the `ubuf_info` is one to the box.
    ubuf: Opaque<bindings::ubuf_info>,
    module: &'static ThisModule,
    data: T,
}

/// A completion, until a frame takes it.
///
/// # Invariants
///
/// `ptr` is a `KBox<ZcBox<T>>` turned raw, owned by this value, whose
/// `ubuf` holds one reference and the ops of [`ZeroCopy::<T>::OPS`]; the
/// box holds a reference on `module`.
pub(crate) struct ZeroCopy<T: Completion> {
    ptr: NonNull<ZcBox<T>>,
}

// SAFETY: it owns a `T`, which is Send.
unsafe impl<T: Completion> Send for ZeroCopy<T> {}

impl<T: Completion> ZeroCopy<T> {
    const OPS: bindings::ubuf_info_ops = bindings::ubuf_info_ops {
        complete: Some(Self::complete),
        link_skb: None,
    };

    /// A completion that gives `data` its [`Completion::complete`] call.
    /// The module stays loaded until then: the stack may hold a frame for
    /// as long as it likes (in a qdisc, on a device's ring).
    pub(crate) fn new(data: T, module: &'static ThisModule) -> Result<Self, T> {
        let Ok(b) = KBox::<ZcBox<T>>::new_uninit(GFP_ATOMIC) else {
            return Err(data);
        };
        let ptr = KBox::into_raw(b.write(ZcBox {
            ubuf: Opaque::uninit(),
            module,
            data,
        }));
        // SAFETY: `ptr` is a fresh box; the ops are a promoted constant,
        // static; the module is live (we run in it), and the reference is
        // put when the completion has run.
        unsafe {
            bindings::vassist_ubuf_init((*ptr).ubuf.get(), &Self::OPS);
            bindings::__module_get(module.as_ptr().cast());
        }
        // INVARIANT: as set up above.
        Ok(ZeroCopy {
            // SAFETY: from KBox::into_raw, not null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
        })
    }

    fn into_raw(self) -> *mut bindings::ubuf_info {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        // SAFETY: the box is live (type invariant).
        unsafe { (*p).ubuf.get() }
    }

    /// Takes the box back, completes, and puts the module reference.
    ///
    /// # Safety
    ///
    /// `p` is the last reference to a box of a `ZeroCopy<T>`.
    unsafe fn finish(p: *mut ZcBox<T>) {
        // SAFETY: the caller's; the box was made by `new`.
        let b = unsafe { KBox::from_raw(p) };
        let ZcBox { module, data, .. } = KBox::into_inner(b);
        data.complete();
        // SAFETY: the reference `new` took. The window between this put
        // and the return to the caller is the one every module callback
        // that keeps its module loaded has.
        unsafe { bindings::module_put(module.as_ptr().cast()) };
    }

    /// `ubuf_info_ops.complete`: each frame sharing the pages (clones,
    /// segments) holds a reference; the last one completes.
    ///
    /// # Safety
    ///
    /// `ubuf` is the `ubuf_info` of a box of a `ZeroCopy<T>`, and the
    /// caller gives up a reference it holds on it.
    unsafe extern "C" fn complete(
        _skb: *mut bindings::sk_buff,
        ubuf: *mut bindings::ubuf_info,
        _success: bool,
    ) {
        // SAFETY: the stack hands back the `ubuf` of a box it holds a
        // reference of.
        if unsafe { bindings::vassist_ubuf_put(ubuf) } {
            // SAFETY: that was the last reference; `ubuf` is the box's
            // first field (repr(C)).
            unsafe { Self::finish(ubuf.cast()) };
        }
    }
}

impl<T: Completion> Drop for ZeroCopy<T> {
    /// Never given to a frame: completes now.
    fn drop(&mut self) {
        // SAFETY: owned, with the only reference (type invariant).
        unsafe { Self::finish(self.ptr.as_ptr()) };
    }
}

/// A frame being built to be received on a device: its first bytes copied
/// in, then page fragments.
///
/// # Invariants
///
/// `skb` is a fresh `sk_buff` owned by this value, with `skb->dev` set to
/// a device alive for `'d`, and room for `room` more bytes of linear data.
pub(crate) struct InFrame<'d> {
    skb: NonNull<bindings::sk_buff>,
    room: u32,
    _dev: &'d NetDevice,
}

// SAFETY: it owns its frame, which any task may build and send.
unsafe impl Send for InFrame<'_> {}

impl<'d> InFrame<'d> {
    /// A frame for `dev` with room for `linear` bytes copied in (atomic
    /// allocation: it may be built under a spinlock).
    pub(crate) fn new(dev: &'d NetDevice, linear: u32) -> Option<InFrame<'d>> {
        // SAFETY: `dev` is alive for `'d` (the caller's reference).
        let skb = unsafe { bindings::vassist_netdev_alloc_skb(dev.as_ptr(), linear) };
        // INVARIANT: fresh, ours, `dev` set by the allocation.
        Some(InFrame {
            skb: NonNull::new(skb)?,
            room: linear,
            _dev: dev,
        })
    }

    /// Copies `len` bytes of `mem` at `off` into the linear part.
    pub(crate) fn copy_in(&mut self, mem: &UserMem, off: usize, len: u32) -> Option<()> {
        if len > self.room {
            return None;
        }
        let src = mem.range(off, len as usize)?;
        // SAFETY: the frame is ours with room for `len` more bytes (type
        // invariant, checked); skb_put returns where they go.
        let dst = unsafe { bindings::skb_put(self.skb.as_ptr(), len) };
        // SAFETY: `src` is in bounds of `mem` (checked) and `dst` has room
        // for `len`; the process writing `src` meanwhile only garbles its
        // own frame.
        unsafe { core::ptr::copy_nonoverlapping(src, dst.cast::<u8>(), len as usize) };
        self.room -= len;
        Some(())
    }

    /// Adds `len` bytes of `mem` at `off`, all in one page, as a fragment
    /// that holds the page. `None` if they cross a page or the frame has
    /// all its fragments.
    pub(crate) fn add_page(&mut self, mem: &UserMem, off: usize, len: u32) -> Option<()> {
        let in_page = off % PAGE_SIZE;
        if len == 0 || in_page + len as usize > PAGE_SIZE {
            return None;
        }
        let page = mem.page(off)?;
        // SAFETY: ours (type invariant).
        if unsafe { bindings::vassist_skb_nr_frags(self.skb.as_ptr()) } as usize >= MAX_FRAGS {
            return None;
        }
        // SAFETY: a page of `mem`'s area; the fragment takes its own
        // reference on it, so it outlives `mem` if need be; there is room
        // for a fragment (checked).
        unsafe { bindings::vassist_skb_add_page(self.skb.as_ptr(), page, in_page as u32, len) };
        Some(())
    }

    /// Hands the frame to the stack as received on its device, with its
    /// virtio-net header (little-endian, as a tap's writer gives it) and
    /// the completion of its fragments' pages, if any. `false` if the
    /// header does not fit the frame: then it is freed, and `done`
    /// completes at once.
    pub(crate) fn receive<T: Completion>(
        self,
        vnet: &[u8; super::skb::VNET_HDR_LEN],
        done: Option<ZeroCopy<T>>,
    ) -> bool {
        let skb = self.skb.as_ptr();
        core::mem::forget(self);
        let mut hdr = bindings::virtio_net_hdr::default();
        // SAFETY: `struct virtio_net_hdr` is those 10 bytes, any value.
        unsafe {
            core::ptr::copy_nonoverlapping(
                vnet.as_ptr(),
                (&mut hdr as *mut bindings::virtio_net_hdr).cast::<u8>(),
                vnet.len(),
            )
        };
        // The completion is attached only if the frame goes on.
        let ubuf = done.map_or(core::ptr::null_mut(), ZeroCopy::into_raw);
        // SAFETY: the frame is ours and given up; its device is alive for
        // the call (`'d`); the completion's reference goes with it.
        let rc = unsafe { bindings::vassist_skb_receive(skb, &hdr, ubuf) };
        if rc != 0 {
            // SAFETY: still ours (the helper did not take it); freeing it
            // puts its pages first.
            unsafe { bindings::vassist_kfree_skb(skb) };
            if !ubuf.is_null() {
                // SAFETY: the completion was not attached: its reference
                // is still ours, the only one.
                unsafe { ZeroCopy::<T>::complete(skb, ubuf, false) };
            }
        }
        rc == 0
    }
}

impl Drop for InFrame<'_> {
    /// Not sent: freed, with its page references.
    fn drop(&mut self) {
        // SAFETY: ours (type invariant).
        unsafe { bindings::vassist_kfree_skb(self.skb.as_ptr()) };
    }
}
