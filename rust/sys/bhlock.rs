// SPDX-License-Identifier: GPL-2.0

//! A spinlock taken with bottom halves disabled (`spin_lock_bh`), as a
//! backend of the kernel crate's `Lock`: for state that the packet path
//! (softirq) and netlink handlers (process context) both touch. The
//! crate's own `SpinLock` takes `spin_lock`, which would let a softirq on
//! the same CPU spin forever on a lock its task holds.

use crate::bindings;
use kernel::sync::lock::{Backend, Lock};

/// A `spinlock_t` locked with `spin_lock_bh`.
pub(crate) type BhSpinLock<T> = Lock<T, BhSpinLockBackend>;

/// The backend of [`BhSpinLock`].
pub(crate) struct BhSpinLockBackend;

// SAFETY: `spin_lock_bh`/`spin_unlock_bh` give mutual exclusion; the state
// is initialised by `__spin_lock_init` before any lock; `unlock` is only
// called by the owner (the `Lock` guard's contract).
unsafe impl Backend for BhSpinLockBackend {
    type State = kernel::bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut kernel::bindings::lock_class_key,
    ) {
        // SAFETY: the caller passes writable state and static name/key.
        unsafe { kernel::bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: the caller guarantees `init` ran on `ptr`.
        unsafe { bindings::vassist_spin_lock_bh(ptr.cast()) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: the caller owns the lock.
        unsafe { bindings::vassist_spin_unlock_bh(ptr.cast()) }
    }
}

/// A new [`BhSpinLock`] holding `$inner`, with its own lockdep class.
macro_rules! new_bh_spinlock {
    ($inner:expr, $name:literal) => {
        $crate::sys::bhlock::BhSpinLock::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_bh_spinlock;
