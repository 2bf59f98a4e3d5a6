// SPDX-License-Identifier: GPL-2.0

//! RCU publication of a heap value: packet-path readers load it without a
//! lock; writers (holding RTNL) replace it whole and free the old one after a
//! grace period.

use super::rtnl::Rtnl;
use crate::bindings;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// Proof of an RCU read-side critical section.
///
/// # Invariants
///
/// The current task is inside `rcu_read_lock()` (or a context the kernel
/// treats as one, such as a netfilter hook) while a reference to it lives.
pub(crate) struct RcuRead {
    _not_send: PhantomData<*mut ()>,
}

impl RcuRead {
    /// # Safety
    ///
    /// The caller is inside an RCU read-side critical section for all of `'a`.
    pub(super) unsafe fn assume<'a>() -> &'a RcuRead {
        &RcuRead {
            _not_send: PhantomData,
        }
    }
}

/// An RCU-published `KBox<T>`, or nothing.
///
/// # Invariants
///
/// `ptr` is null or came from `KBox::into_raw`; a value that was replaced is
/// freed only after `synchronize_rcu()`, so a reader's reference stays valid
/// for its read-side section. Writers hold RTNL.
pub(crate) struct RcuBox<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: readers on any CPU get `&T` (needs `T: Sync`); the value is dropped
// on whichever CPU replaces it (needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}

impl<T> RcuBox<T> {
    pub(crate) const fn new() -> Self {
        RcuBox {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The current value, for a reader.
    pub(crate) fn get<'a>(&'a self, _rcu: &'a RcuRead) -> Option<&'a T> {
        // Acquire pairs with the Release in `replace` (rcu_dereference).
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: by the type invariants `p` is null or a live `KBox` that
        // is not freed before the reader's section ends.
        unsafe { p.as_ref() }
    }

    /// The current value, for a writer: valid while RTNL is not released and
    /// no `replace` happens (both need the borrow of `rtnl`).
    pub(crate) fn get_locked<'a>(&'a self, _rtnl: &'a Rtnl) -> Option<&'a T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: only writers, who hold RTNL, free the value, and this
        // borrow of the RTNL proof excludes `replace` while it lives.
        unsafe { p.as_ref() }
    }

    /// Publishes `new` and returns the old value once no reader can see it.
    pub(crate) fn replace(&self, new: Option<KBox<T>>, _rtnl: &mut Rtnl) -> Option<KBox<T>> {
        let new = new.map_or(ptr::null_mut(), KBox::into_raw);
        // Release pairs with the readers' Acquire (rcu_assign_pointer).
        let old = self.ptr.swap(new, Ordering::AcqRel);
        if old.is_null() {
            return None;
        }
        // SAFETY: process context with RTNL held: synchronize_rcu may sleep.
        unsafe { bindings::synchronize_rcu() };
        // SAFETY: `old` came from `KBox::into_raw` (type invariant) and,
        // after the grace period, no reader holds it.
        Some(unsafe { KBox::from_raw(old) })
    }
}

impl<T> Default for RcuBox<T> {
    fn default() -> Self {
        RcuBox::new()
    }
}

impl<T> Drop for RcuBox<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: `p` came from `KBox::into_raw` (type invariant); readers
            // borrow `self`, so with `&mut self` none is left.
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
