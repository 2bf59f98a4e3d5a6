// SPDX-License-Identifier: GPL-2.0

//! The RTNL lock: vassist's writer lock for its port table, so that netlink
//! requests and netdevice events (which the core delivers under RTNL) are
//! serialised with each other.

use crate::bindings;
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
    /// The caller holds RTNL for all of `'a`.
    pub(super) unsafe fn assume_held<'a>() -> &'a mut Rtnl {
        // SAFETY: `Rtnl` is zero-sized, so a dangling, aligned, non-null
        // pointer is valid for it and aliases nothing; the caller vouches for
        // the lock.
        unsafe { core::ptr::NonNull::dangling().as_mut() }
    }
}

/// Holds RTNL until dropped.
pub(crate) struct RtnlGuard {
    // INVARIANT: constructed only after `rtnl_lock()`.
    _held: PhantomData<*mut ()>,
}

/// Takes RTNL, sleeping until it is free.
pub(crate) fn lock() -> RtnlGuard {
    // SAFETY: called from process context (netlink handlers, module init/exit).
    unsafe { bindings::rtnl_lock() };
    RtnlGuard { _held: PhantomData }
}

impl RtnlGuard {
    /// The proof that RTNL is held, for as long as the guard lives.
    pub(crate) fn held(&mut self) -> &mut Rtnl {
        // SAFETY: by the type invariant RTNL is held until `self` is dropped,
        // which the borrow of `self` outlives.
        unsafe { Rtnl::assume_held() }
    }
}

impl Drop for RtnlGuard {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this task took RTNL.
        unsafe { bindings::rtnl_unlock() };
    }
}
