// SPDX-License-Identifier: GPL-2.0

//! A high-resolution one-shot timer (`struct hrtimer`, relative, monotonic
//! clock) whose handler runs in softirq context. 6.12's Rust has no hrtimer
//! abstraction; this is the part vassist needs, shaped as
//! [`super::timer::Timer`] is.

use crate::bindings;
use kernel::alloc::AllocError;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// What an [`HrTimer`] runs.
pub(crate) trait HrTimerHandler: Send + Sync {
    /// Runs when the timer expires, in softirq context (no sleeping).
    fn expired(&self);
}

#[repr(C)]
struct Inner<T: HrTimerHandler> {
    timer: Opaque<bindings::hrtimer>,
    handler: Arc<T>,
}

/// A timer that runs `T::expired` once each time it is armed.
///
/// # Invariants
///
/// `inner` is a heap allocation that never moves while the timer exists;
/// its `timer` was set up by `vassist_hrtimer_setup` with
/// [`HrTimer::fire::<T>`] as the callback, and is cancelled
/// (`hrtimer_cancel`, which waits for a running callback) before `inner`
/// is freed.
pub(crate) struct HrTimer<T: HrTimerHandler> {
    inner: KBox<Inner<T>>,
}

// SAFETY: the hrtimer core serialises its own use of the hrtimer (start,
// queued test and cancel may be called from any CPU, concurrently); the
// handler is an `Arc<T>` with `T: Send + Sync`.
unsafe impl<T: HrTimerHandler> Send for HrTimer<T> {}
// SAFETY: as for Send: `&HrTimer` only arms the timer, which any CPU may do.
unsafe impl<T: HrTimerHandler> Sync for HrTimer<T> {}

impl<T: HrTimerHandler> HrTimer<T> {
    /// A timer, not armed, that runs `handler`.
    pub(crate) fn new(handler: Arc<T>) -> Result<Self, AllocError> {
        let inner = KBox::new(
            Inner {
                timer: Opaque::uninit(),
                handler,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `inner.timer` is writable memory for an hrtimer that
        // stays where it is (the box is never moved out of) until `drop`
        // cancels the timer; `fire::<T>` is the callback for it.
        unsafe { bindings::vassist_hrtimer_setup(inner.timer.get(), Some(Self::fire)) };
        // INVARIANT: set up just above; `drop` cancels it.
        Ok(HrTimer { inner })
    }

    /// Arms the timer to expire in `ns` nanoseconds, unless it is armed
    /// already.
    pub(crate) fn arm(&self, ns: u64) {
        let t = self.inner.timer.get();
        // SAFETY: the timer was set up (type invariant); the queued test
        // and start may be called from any context, concurrently (two
        // callers that both see it idle both start it: the later start
        // wins).
        unsafe {
            if !bindings::vassist_hrtimer_queued(t) {
                bindings::vassist_hrtimer_arm(t, ns);
            }
        }
    }

    /// The timer's callback.
    ///
    /// # Safety
    ///
    /// Called by the hrtimer core with the hrtimer of a live [`HrTimer`].
    unsafe extern "C" fn fire(t: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // `Inner` is `repr(C)` with `timer` first, and `Opaque` is
        // transparent: the timer's address is the `Inner`'s.
        let inner = t.cast::<Inner<T>>();
        // SAFETY: `t` belongs to an `HrTimer` (the caller's promise); its
        // `Inner` is not freed while the callback runs, because `drop`
        // waits for a running callback before freeing it.
        let handler = unsafe { &(*inner).handler };
        handler.expired();
        bindings::hrtimer_restart_HRTIMER_NORESTART
    }
}

impl<T: HrTimerHandler> Drop for HrTimer<T> {
    fn drop(&mut self) {
        // SAFETY: the timer was set up (type invariant). The callback never
        // re-arms it and no one else can (this is its owner), so after the
        // cancel it is not queued or running, and `inner` may be freed.
        unsafe { bindings::hrtimer_cancel(self.inner.timer.get()) };
    }
}
