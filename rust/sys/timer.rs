// SPDX-License-Identifier: GPL-2.0

//! A coarse kernel timer (`struct timer_list`) whose handler runs in
//! softirq context and says when to run again. 6.12's Rust has no timer
//! abstraction; this is the part vassist needs, shaped as a registration
//! generic over the handler's trait.

use crate::bindings;
use kernel::alloc::AllocError;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// What a [`Timer`] runs.
pub(crate) trait TimerHandler: Send + Sync {
    /// Runs when the timer expires, in softirq context (no sleeping);
    /// returns after how many milliseconds to run again, if at all.
    fn expired(&self) -> Option<u32>;
}

#[repr(C)]
struct Inner<T: TimerHandler> {
    timer: Opaque<bindings::timer_list>,
    handler: Arc<T>,
}

/// A timer that runs `T::expired` while armed.
///
/// # Invariants
///
/// `inner` is a heap allocation that never moves while the timer exists;
/// its `timer` was set up by `timer_setup` with [`Timer::fire::<T>`] as
/// the callback, and is shut down (`timer_shutdown_sync`) before `inner`
/// is freed.
pub(crate) struct Timer<T: TimerHandler> {
    inner: KBox<Inner<T>>,
}

// SAFETY: the timer core serialises its own use of the timer_list
// (mod_timer, timer_pending and timer_shutdown_sync may be called from any
// CPU, concurrently); the handler is an `Arc<T>` with `T: Send + Sync`.
unsafe impl<T: TimerHandler> Send for Timer<T> {}
// SAFETY: as for Send: `&Timer` only arms the timer, which any CPU may do.
unsafe impl<T: TimerHandler> Sync for Timer<T> {}

impl<T: TimerHandler> Timer<T> {
    /// A timer, not armed, that runs `handler`.
    pub(crate) fn new(handler: Arc<T>) -> Result<Self, AllocError> {
        let inner = KBox::new(
            Inner {
                timer: Opaque::uninit(),
                handler,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `inner.timer` is writable memory for a timer_list that
        // stays where it is (the box is never moved out of) until `drop`
        // shuts the timer down; `fire::<T>` is the callback for it.
        unsafe { bindings::vassist_timer_setup(inner.timer.get(), Some(Self::fire)) };
        // INVARIANT: set up just above; `drop` shuts it down.
        Ok(Timer { inner })
    }

    /// Arms the timer to expire in `ms` milliseconds, unless it is
    /// already armed.
    pub(crate) fn arm(&self, ms: u32) {
        let t = self.inner.timer.get();
        // SAFETY: the timer was set up (type invariant); timer_pending and
        // mod_timer may be called from any context, concurrently (two
        // callers that both see it idle both arm it, to the same time).
        unsafe {
            if !bindings::vassist_timer_pending(t) {
                bindings::vassist_timer_arm(t, ms);
            }
        }
    }

    /// The timer's callback.
    ///
    /// # Safety
    ///
    /// Called by the timer core with the `timer_list` of a live [`Timer`].
    unsafe extern "C" fn fire(t: *mut bindings::timer_list) {
        // `Inner` is `repr(C)` with `timer` first, and `Opaque` is
        // transparent: the timer's address is the `Inner`'s.
        let inner = t.cast::<Inner<T>>();
        // SAFETY: `t` belongs to a `Timer` (the caller's promise); its
        // `Inner` is not freed while the callback runs, because `drop`
        // waits for a running callback before freeing it.
        let handler = unsafe { &(*inner).handler };
        if let Some(ms) = handler.expired() {
            // SAFETY: as in `arm`; re-arming from the callback is allowed,
            // and after shutdown mod_timer does nothing.
            unsafe { bindings::vassist_timer_arm(t, ms) };
        }
    }
}

impl<T: TimerHandler> Drop for Timer<T> {
    fn drop(&mut self) {
        // SAFETY: the timer was set up (type invariant). After this returns
        // the callback is not running and cannot be re-armed, so `inner`
        // may be freed.
        unsafe { bindings::timer_shutdown_sync(self.inner.timer.get()) };
    }
}
