// SPDX-License-Identifier: GPL-2.0

//! RCU: the read-side guard, a pointer published for lock-free readers whose
//! old values are freed after a grace period (`call_rcu`, never a wait), the
//! wait for readers a registration hands state to, and the barrier that lets
//! those frees finish before the module's code goes.

use super::rtnl::Rtnl;
use crate::bindings;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::alloc::AllocError;
use kernel::prelude::*;
use kernel::types::Opaque;

/// An RCU read-side critical section, as the kernel crate's later
/// `sync::rcu::Guard`: references handed out under it live no longer than
/// it does.
///
/// # Invariants
///
/// The current task is inside an RCU read-side critical section while the
/// guard (or a reference to it) lives; the guard does not leave the task.
pub(crate) struct Guard {
    _not_send: PhantomData<*mut ()>,
}

/// Enters an RCU read-side critical section, left when the guard drops.
pub(crate) fn read_lock() -> Guard {
    // SAFETY: rcu_read_lock may be called from any context; the matching
    // unlock is in `Drop`, on the same task since `Guard` is not `Send`.
    unsafe { bindings::vassist_rcu_read_lock() };
    // INVARIANT: the section was just entered and lasts until drop.
    Guard {
        _not_send: PhantomData,
    }
}

impl Guard {
    /// The guard of a section the caller is already in (a netfilter hook's).
    ///
    /// # Safety
    ///
    /// The caller is inside an RCU read-side critical section for all of `'a`.
    pub(super) unsafe fn assume<'a>() -> &'a Guard {
        // SAFETY: `Guard` is zero-sized, so a dangling, aligned, non-null
        // pointer is a valid reference that aliases nothing; it is never
        // dropped (a reference), so no unlock happens; the caller vouches
        // for the section (type invariant).
        unsafe { NonNull::<Guard>::dangling().as_ref() }
    }
}

/// Waits until every RCU read-side section begun before the call has ended:
/// expedited under RTNL, as the networking core waits. Sleeps.
pub(crate) fn synchronize_net() {
    // SAFETY: called from process context (every caller drops a
    // registration under RTNL or in a namespace's teardown, or waits for a
    // drain with RTNL let go), where sleeping is allowed.
    unsafe { bindings::synchronize_net() }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this task entered the section with
        // `read_lock` (an assumed guard is a reference, never dropped).
        unsafe { bindings::vassist_rcu_read_unlock() };
    }
}

/// A value with the `rcu_head` that frees it after a grace period.
#[repr(C)]
struct Node<T> {
    head: Opaque<bindings::callback_head>,
    value: T,
}

/// An RCU-published value, or nothing. Readers load it without a lock;
/// writers (holding RTNL) replace it whole; the value replaced is dropped
/// by an RCU callback, in softirq context, after every reader that could
/// see it is done.
///
/// # Invariants
///
/// `ptr` is null or came from `KBox::<Node<T>>::into_raw`; it is freed only
/// by `free_node` after a grace period that began once it was unpublished,
/// or by `Drop`, which no reader can overlap.
pub(crate) struct RcuBox<T: Send + Sync + 'static> {
    ptr: AtomicPtr<Node<T>>,
}

// SAFETY: readers on any CPU get `&T` (needs `T: Sync`); the value is
// dropped by an RCU callback on any CPU (needs `T: Send`).
unsafe impl<T: Send + Sync + 'static> Sync for RcuBox<T> {}
// SAFETY: as above: the box only holds a `T` that may be sent.
unsafe impl<T: Send + Sync + 'static> Send for RcuBox<T> {}

impl<T: Send + Sync + 'static> RcuBox<T> {
    pub(crate) const fn new() -> Self {
        RcuBox {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The current value, for a reader.
    pub(crate) fn get<'a>(&'a self, _rcu: &'a Guard) -> Option<&'a T> {
        // Acquire pairs with the Release in `set` (rcu_dereference).
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` is null or a live node (type invariant) that is not
        // freed before the grace period after its unpublishing, which cannot
        // end while the reader's section (`'a`) lasts.
        unsafe { p.as_ref() }.map(|n| &n.value)
    }

    /// Whether a value is published (a hint for a reader without a guard:
    /// it may change at once).
    pub(crate) fn is_set(&self) -> bool {
        !self.ptr.load(Ordering::Relaxed).is_null()
    }

    /// The current value, for a writer: valid while the RTNL proof is
    /// borrowed, which excludes `set` (it needs the proof mutably).
    pub(crate) fn get_locked<'a>(&'a self, _rtnl: &'a Rtnl) -> Option<&'a T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: only `set`, which needs `&mut Rtnl`, unpublishes a node, and
        // the shared borrow of the proof excludes it for `'a`; an unpublished
        // node is not what `ptr` holds.
        unsafe { p.as_ref() }.map(|n| &n.value)
    }

    /// Publishes `value` (allocating its node; on failure nothing changes)
    /// and retires the old value: it is dropped after a grace period.
    pub(crate) fn set(&self, value: T, rtnl: &mut Rtnl) -> Result<(), AllocError> {
        self.set_then(value, rtnl, |_| {})
    }

    /// As [`RcuBox::set`], with the old value handed to `retired` once
    /// unpublished, before it is queued to be dropped.
    pub(crate) fn set_then(
        &self,
        value: T,
        rtnl: &mut Rtnl,
        retired: impl FnOnce(&T),
    ) -> Result<(), AllocError> {
        let node = KBox::new(
            Node {
                head: Opaque::uninit(),
                value,
            },
            GFP_KERNEL,
        )?;
        self.swap(KBox::into_raw(node), rtnl, retired);
        Ok(())
    }

    /// Unpublishes the value; it is dropped after a grace period.
    pub(crate) fn clear(&self, rtnl: &mut Rtnl) {
        self.clear_then(rtnl, |_| {});
    }

    /// As [`RcuBox::clear`], with the value handed to `retired` once
    /// unpublished, before it is queued to be dropped.
    pub(crate) fn clear_then(&self, rtnl: &mut Rtnl, retired: impl FnOnce(&T)) {
        self.swap(ptr::null_mut(), rtnl, retired);
    }

    fn swap(&self, new: *mut Node<T>, _rtnl: &mut Rtnl, retired: impl FnOnce(&T)) {
        // Release pairs with the readers' Acquire (rcu_assign_pointer).
        let old = self.ptr.swap(new, Ordering::AcqRel);
        if old.is_null() {
            return;
        }
        // SAFETY: `old` is a live node (type invariant); unpublished, it is
        // freed only by the call_rcu below, after this use.
        retired(unsafe { &(*old).value });
        // SAFETY: `old` is a live node that no new reader can find; its
        // head is ours to hand to call_rcu, which calls `free_node` after
        // the current readers are done.
        unsafe { bindings::call_rcu(ptr::addr_of_mut!((*old).head).cast(), Some(Self::free_node)) };
    }

    /// Drops a retired node.
    ///
    /// # Safety
    ///
    /// Called by RCU with the head of a node `swap` retired, once.
    unsafe extern "C" fn free_node(head: *mut bindings::callback_head) {
        // `head` is the first field of the `repr(C)` node.
        let node = head.cast::<Node<T>>();
        // SAFETY: the node came from `KBox::into_raw` (type invariant) and,
        // after the grace period, nothing refers to it.
        drop(unsafe { KBox::from_raw(node) });
    }
}

impl<T: Send + Sync + 'static> Drop for RcuBox<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: `p` came from `KBox::into_raw` (type invariant); readers
            // borrow `self`, so with `&mut self` none is left.
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}

impl<T: Send + Sync + 'static> Default for RcuBox<T> {
    fn default() -> Self {
        RcuBox::new()
    }
}

/// Waits, when dropped, for every RCU callback queued so far (the deferred
/// frees of [`RcuBox`]) to have run: the module's last teardown step, so no
/// callback runs after its code is gone.
pub(crate) struct Barrier(());

impl Barrier {
    pub(crate) fn new() -> Self {
        Barrier(())
    }
}

impl Drop for Barrier {
    fn drop(&mut self) {
        // SAFETY: process context (module exit), where rcu_barrier may sleep.
        unsafe { bindings::rcu_barrier() };
    }
}
