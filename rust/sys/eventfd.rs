// SPDX-License-Identifier: GPL-2.0

//! An eventfd a process handed in (`eventfd_ctx_fdget`), signalled from
//! any context: a VMM may have bound it as a KVM irqfd.

use crate::bindings;
use core::ptr::NonNull;
use kernel::error::from_err_ptr;
use kernel::prelude::*;

/// # Invariants
///
/// `ctx` is an eventfd context on which this value holds one reference.
pub(crate) struct EventFd {
    ctx: NonNull<bindings::eventfd_ctx>,
}

// SAFETY: eventfd contexts are signalled and released from any task.
unsafe impl Send for EventFd {}
// SAFETY: signalling takes the context's own lock.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// The eventfd open as `fd` in the current task (EBADF, EINVAL if it
    /// is not one).
    pub(crate) fn from_fd(fd: i32) -> Result<EventFd> {
        // SAFETY: looks the descriptor up in the current task's table.
        let p = from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd) })?;
        // INVARIANT: eventfd_ctx_fdget took a reference for us.
        Ok(EventFd {
            ctx: NonNull::new(p).ok_or(EINVAL)?,
        })
    }

    /// Adds one to its counter and wakes its waiters.
    pub(crate) fn signal(&self) {
        // SAFETY: held (type invariant).
        unsafe { bindings::vassist_eventfd_signal(self.ctx.as_ptr()) }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: the reference is ours (type invariant).
        unsafe { bindings::eventfd_ctx_put(self.ctx.as_ptr()) }
    }
}
