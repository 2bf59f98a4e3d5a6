// SPDX-License-Identifier: GPL-2.0

//! The RTNL lock: the writer lock of everything vassist keeps per port, so
//! that netlink requests, netdevice events and namespace teardown (which the
//! core runs under RTNL or lets take it) are serialised with each other.

use crate::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;

/// Proof that the current task holds RTNL.
///
/// # Invariants
///
/// RTNL is held for as long as a reference to an `Rtnl` is alive.
pub(crate) struct Rtnl {
    _not_send: PhantomData<*mut ()>,
}

impl Rtnl {
    /// # Safety
    ///
    /// The caller holds RTNL for all of `'a`, and no other `&mut Rtnl` of
    /// this task is live while this one is used.
    pub(super) unsafe fn assume_held<'a>() -> &'a mut Rtnl {
        // SAFETY: `Rtnl` is zero-sized, so a dangling, aligned, non-null
        // pointer is valid for it and aliases no memory; the caller vouches
        // for the lock (type invariant).
        unsafe { core::ptr::NonNull::dangling().as_mut() }
    }
}

/// Holds RTNL until dropped.
///
/// # Invariants
///
/// This task took RTNL when the guard was made and holds it until drop.
pub(crate) struct RtnlGuard {
    _held: PhantomData<*mut ()>,
}

/// Takes RTNL, sleeping until it is free.
pub(crate) fn lock() -> RtnlGuard {
    // SAFETY: rtnl_lock may sleep; every caller (netlink handlers, namespace
    // teardown, module init and exit) runs in process context.
    unsafe { bindings::rtnl_lock() };
    // INVARIANT: RTNL was just taken.
    RtnlGuard { _held: PhantomData }
}

impl RtnlGuard {
    /// The proof that RTNL is held, for as long as the guard is borrowed.
    pub(crate) fn held(&mut self) -> &mut Rtnl {
        // SAFETY: RTNL is held until `self` drops (type invariant), which
        // the borrow of `self` outlives; the proof borrows the guard
        // mutably, so it is the only one made from it at a time.
        unsafe { Rtnl::assume_held() }
    }
}

impl RtnlGuard {
    /// Runs `f` with RTNL released, and takes it again: for a wait that
    /// must not hold up everyone else. Nothing borrowed from the proof
    /// lives across it (the guard is borrowed mutably).
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // SAFETY: this task holds RTNL (type invariant), given up here and
        // taken back below before the guard can be used again; process
        // context, as for `lock`.
        unsafe { bindings::rtnl_unlock() };
        let r = f();
        // SAFETY: as in `lock`.
        unsafe { bindings::rtnl_lock() };
        r
    }
}

impl Drop for RtnlGuard {
    fn drop(&mut self) {
        // SAFETY: this task took RTNL (type invariant).
        unsafe { bindings::rtnl_unlock() };
    }
}

/// A value that only RTNL holders may touch, through the exclusive proof.
pub(crate) struct RtnlCell<T> {
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through an RTNL proof, and RTNL has one
// holder at a time, so it is never accessed from two tasks at once; it may be
// used (and dropped) on whichever task holds the lock, hence `T: Send`.
unsafe impl<T: Send> Sync for RtnlCell<T> {}

impl<T> RtnlCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        RtnlCell {
            value: UnsafeCell::new(value),
        }
    }

    /// Read access: while the shared proof is borrowed, no exclusive one
    /// (and so no `&mut T`) can be used.
    pub(crate) fn get<'a>(&'a self, _rtnl: &'a Rtnl) -> &'a T {
        // SAFETY: RTNL is held for `'a` and the proof is borrowed shared,
        // so `get_mut` cannot run until the reference is gone.
        unsafe { &*self.value.get() }
    }

    pub(crate) fn get_mut<'a>(&'a self, _rtnl: &'a mut Rtnl) -> &'a mut T {
        // SAFETY: RTNL is held for `'a`, and the exclusive borrow of the
        // proof excludes every other reference made through it.
        unsafe { &mut *self.value.get() }
    }
}
