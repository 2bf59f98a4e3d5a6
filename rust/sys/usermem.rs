// SPDX-License-Identifier: GPL-2.0

//! Memory shared with a process: zeroed kernel memory it maps
//! (`vmalloc_user`), and the mapping being set up (`struct vm_area_struct`).
//!
//! The process may write any of it at any time, so the kernel side never
//! holds a Rust reference into it: bytes are copied in and out, and the
//! indices both sides move are atomics.

use super::skb::Frame;
use crate::bindings;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;
use kernel::page::{PAGE_SHIFT, PAGE_SIZE};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A mapping being set up by `mmap`.
///
/// # Invariants
///
/// A `&VmArea` refers to a `vm_area_struct` being set up under the
/// process's mapping lock, for the reference's lifetime.
#[repr(transparent)]
pub(crate) struct VmArea(Opaque<bindings::vm_area_struct>);

impl VmArea {
    /// # Safety
    ///
    /// `ptr` is a mapping being set up, for all of `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::vm_area_struct) -> &'a VmArea {
        // SAFETY: transparent wrapper; the caller vouches for the lifetime.
        unsafe { &*ptr.cast::<VmArea>() }
    }

    /// The file offset mapped at its start, in bytes.
    pub(crate) fn offset(&self) -> u64 {
        // SAFETY: the area is valid (type invariant).
        (unsafe { bindings::vassist_vma_pgoff(self.0.get()) } as u64) << PAGE_SHIFT
    }

    /// Whether it is a shared mapping (MAP_SHARED): a private one would
    /// copy pages on write, and the other side would not see them.
    pub(crate) fn is_shared(&self) -> bool {
        // SAFETY: the area is valid (type invariant).
        unsafe { bindings::vassist_vma_shared(self.0.get()) }
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: the area is valid (type invariant).
        unsafe { bindings::vassist_vma_len(self.0.get()) }
    }
}

/// `len` bytes of zeroed, page-aligned kernel memory that a process may map.
///
/// # Invariants
///
/// `ptr` is a `vmalloc_user` area of `len` bytes (a multiple of the page
/// size), freed on drop; pages a process mapped stay until it unmaps them
/// (the mapping holds them).
pub(crate) struct UserMem {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the memory is only accessed by copies and atomics, from any task.
unsafe impl Send for UserMem {}
// SAFETY: as above: `&self` methods copy or use atomics.
unsafe impl Sync for UserMem {}

impl UserMem {
    /// `len` bytes, rounded up to whole pages; may sleep.
    pub(crate) fn new(len: usize) -> Result<UserMem> {
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(EINVAL)?;
        // SAFETY: plain allocation.
        let p = unsafe { bindings::vmalloc_user_noprof(len as _) };
        // INVARIANT: a vmalloc_user area of `len` bytes.
        Ok(UserMem {
            ptr: NonNull::new(p.cast()).ok_or(ENOMEM)?,
            len,
        })
    }

    /// Maps all of it into `area`, which must be as long, and shared.
    pub(crate) fn map(&self, area: &VmArea) -> Result {
        if area.len() != self.len || !area.is_shared() {
            return Err(EINVAL);
        }
        // SAFETY: the area is being set up (type invariant of `VmArea`);
        // the memory is a vmalloc_user area (ours).
        kernel::error::to_result(unsafe {
            bindings::remap_vmalloc_range(area.0.get(), self.ptr.as_ptr().cast(), 0)
        })
    }

    pub(super) fn range(&self, off: usize, len: usize) -> Option<*mut u8> {
        let end = off.checked_add(len)?;
        // SAFETY: in bounds, checked above.
        (end <= self.len).then(|| unsafe { self.ptr.as_ptr().add(off) })
    }

    /// The page holding byte `off`.
    pub(super) fn page(&self, off: usize) -> Option<*mut bindings::page> {
        let p = self.range(off, 1)?;
        // SAFETY: `p` is in the vmalloc area (checked).
        let page = unsafe { bindings::vmalloc_to_page(p.cast()) };
        (!page.is_null()).then_some(page)
    }

    /// The `u32` at `off` (4-byte aligned), as an index both sides move.
    pub(crate) fn index(&self, off: usize) -> Option<&AtomicU32> {
        if off % 4 != 0 {
            return None;
        }
        let p = self.range(off, 4)?;
        // SAFETY: in bounds and aligned; the memory lives as long as
        // `self`, and is only accessed atomically at this place.
        Some(unsafe { AtomicU32::from_ptr(p.cast()) })
    }

    /// Copies `data` in at `off` (`N` bytes: a copy the compiler sees
    /// whole, a few stores rather than a call, per frame).
    pub(crate) fn write<const N: usize>(&self, off: usize, data: &[u8; N]) -> Option<()> {
        let p = self.range(off, N)?;
        // SAFETY: in bounds; the destination is never referenced by Rust,
        // and the process writing it meanwhile only garbles its own data.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, N) };
        Some(())
    }

    /// Copies `N` bytes out from `off`.
    pub(crate) fn read<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let p = self.range(off, N)?;
        let mut out = [0u8; N];
        // SAFETY: in bounds; any bytes are valid for `[u8; N]`.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), N) };
        Some(out)
    }

    /// Copies `len` bytes of `skb`'s data from `skb_off` in at `off`.
    pub(crate) fn write_skb(&self, off: usize, skb: &Frame, skb_off: u32, len: u32) -> Option<()> {
        let p = self.range(off, len as usize)?;
        // SAFETY: `p` has room for `len` bytes (checked); skb_copy_bits
        // fails rather than read past the frame.
        let r = unsafe { bindings::skb_copy_bits(skb.as_ptr(), skb_off as _, p.cast(), len as _) };
        (r == 0).then_some(())
    }
}

impl Drop for UserMem {
    fn drop(&mut self) {
        // SAFETY: ours (type invariant); mappings hold their pages.
        unsafe { bindings::vfree(self.ptr.as_ptr().cast()) };
    }
}
