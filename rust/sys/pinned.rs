// SPDX-License-Identifier: GPL-2.0

//! A fixed-length slice of pin-initialised values in one allocation
//! (kvmalloc): for tables of many small locked slots, made in one step
//! instead of one allocation each.

use kernel::alloc::{Flags, KVVec};
use kernel::init::PinInit;
use kernel::prelude::*;

/// `len` values, initialised in place and never moved until dropped.
///
/// # Invariants
///
/// Every element of `items` was initialised in place by a `PinInit` and is
/// never moved: the vector is never grown, shrunk or handed out mutably.
pub(crate) struct PinnedSlice<T> {
    items: KVVec<T>,
}

impl<T> PinnedSlice<T> {
    /// Allocates `len` elements and initialises element `i` with
    /// `init(i)`; on an error the elements made so far are dropped.
    pub(crate) fn new<I, E>(len: usize, flags: Flags, init: impl Fn(usize) -> I) -> Result<Self, E>
    where
        I: PinInit<T, E>,
        E: From<kernel::alloc::AllocError>,
    {
        let mut items = KVVec::with_capacity(len, flags)?;
        for i in 0..len {
            let slot = items.spare_capacity_mut().as_mut_ptr().cast::<T>();
            // SAFETY: `slot` is the first spare element of a vector with
            // capacity `len > i`: valid for writes and never moved, since the
            // vector is not grown; on error the slot stays uninitialised.
            unsafe { init(i).__pinned_init(slot)? };
            // SAFETY: the element `i` was just initialised; the ones before
            // it in earlier rounds.
            unsafe { items.set_len(i + 1) };
        }
        // INVARIANT: all `len` elements initialised in place above.
        Ok(PinnedSlice { items })
    }

    pub(crate) fn get(&self, i: usize) -> Option<Pin<&T>> {
        // SAFETY: the elements are never moved (type invariant).
        self.items.get(i).map(|t| unsafe { Pin::new_unchecked(t) })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Pin<&T>> {
        // SAFETY: as in `get`.
        self.items.iter().map(|t| unsafe { Pin::new_unchecked(t) })
    }
}
