// SPDX-License-Identifier: GPL-2.0

//! Per-CPU counters: the packet path adds to its own CPU's copy (one
//! `this_cpu_add`, no shared cache line, no locked instruction); readers
//! sum the copies.

use crate::bindings;
use core::ptr::NonNull;
use kernel::alloc::AllocError;

/// `N` u64 counters per possible CPU.
///
/// # Invariants
///
/// `ptr` is a live per-CPU area of `N` u64 from `vassist_percpu_alloc`,
/// freed only on drop.
pub(crate) struct PerCpuCounters<const N: usize> {
    ptr: NonNull<u64>,
}

// SAFETY: the area is only changed by `this_cpu_add` on the current CPU's
// copy and read with READ_ONCE; any CPU may do either.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// Zeroed counters (may sleep).
    pub(crate) fn new() -> Result<Self, AllocError> {
        // SAFETY: allocates; process context, as callers are.
        let ptr = unsafe { bindings::vassist_percpu_alloc(N as u32) };
        // INVARIANT: a fresh area of N u64, zeroed by the allocator.
        NonNull::new(ptr).map(|ptr| Self { ptr }).ok_or(AllocError)
    }

    /// Every counter summed over the CPUs.
    pub(crate) fn read(&self) -> [u64; N] {
        core::array::from_fn(|i| {
            // SAFETY: as in `add`; `i < N`, an index of the area.
            unsafe { bindings::vassist_percpu_sum(self.ptr.as_ptr(), i as u32) }
        })
    }
}

impl PerCpuCounters<3> {
    /// Adds `v[i]` to counter `i`, on this CPU. Any context.
    pub(crate) fn add(&self, [a, b, c]: [u64; 3]) {
        // SAFETY: the area is live (type invariant) and holds 3 counters.
        unsafe { bindings::vassist_percpu_add3(self.ptr.as_ptr(), a, b, c) }
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: the area is live and no longer used (we own it).
        unsafe { bindings::vassist_percpu_free(self.ptr.as_ptr()) }
    }
}
