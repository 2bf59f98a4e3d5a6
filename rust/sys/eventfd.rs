// SPDX-License-Identifier: GPL-2.0

//! Eventfds a process handed in: one signalled from any context (a VMM may
//! have bound it as a KVM irqfd), one watched for signals (a KVM
//! ioeventfd, say).

use crate::bindings;
use core::ffi::c_void;
use core::marker::PhantomPinned;
use core::ptr::NonNull;
use kernel::container_of;
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

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

/// What an [`EventFdWatch`] tells when its eventfd is signalled.
pub(crate) trait Kicked: Send + Sync + Sized {
    /// The eventfd was signalled (its count is cleared). Runs with the
    /// eventfd's lock held and interrupts off: queue work, do not sleep.
    fn kicked(this: &Arc<Self>);
}

/// An eventfd a process handed in, watched: each signal calls
/// [`Kicked::kicked`] on `target`, as KVM's irqfd and vhost's kicks watch
/// theirs (a wait-queue entry of our own on the eventfd's queue).
///
/// # Invariants
///
/// `wait` is on the queue of `ctx` from `new` until drop, with
/// [`Self::wake`] as its function.
#[pin_data(PinnedDrop)]
pub(crate) struct EventFdWatch<T: Kicked> {
    #[pin]
    wait: Opaque<bindings::wait_queue_entry>,
    #[pin]
    table: Opaque<bindings::poll_table_struct>,
    ctx: EventFd,
    target: Arc<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the queue entry is only touched under the eventfd's lock; the
// rest is Send.
unsafe impl<T: Kicked> Send for EventFdWatch<T> {}
// SAFETY: `&self` gives access to nothing but `target`, which is Sync.
unsafe impl<T: Kicked> Sync for EventFdWatch<T> {}

impl<T: Kicked> EventFdWatch<T> {
    /// Watches the eventfd open as `fd` in the current task (EBADF,
    /// EINVAL if it is not one). A signal pending already kicks at once.
    pub(crate) fn new(fd: i32, target: Arc<T>) -> Result<Pin<KBox<Self>>> {
        // SAFETY: looks the descriptor up in the current task's table; a
        // file reference on success.
        let file = from_err_ptr(unsafe { bindings::eventfd_fget(fd) })?;
        // SAFETY: `file` is an eventfd (eventfd_fget checked), held.
        let ctx = from_err_ptr(unsafe { bindings::eventfd_ctx_fileget(file) });
        let made = ctx.and_then(|ctx| {
            // INVARIANT (EventFd): eventfd_ctx_fileget took a reference.
            let ctx = EventFd {
                ctx: NonNull::new(ctx).ok_or(EINVAL)?,
            };
            KBox::pin_init(
                pin_init!(EventFdWatch {
                    wait <- Opaque::ffi_init(|w| {
                        // SAFETY: `w` is the entry's place.
                        unsafe { bindings::vassist_init_wait_func(w, Some(Self::wake)) }
                    }),
                    table <- Opaque::ffi_init(|t| {
                        // SAFETY: `t` is the table's place.
                        unsafe { bindings::vassist_init_poll_funcptr(t, Some(Self::queue)) }
                    }),
                    ctx,
                    target,
                    _pin: PhantomPinned,
                }),
                GFP_KERNEL,
            )
        });
        let watch = made.inspect(|w| {
            // SAFETY: `file` is held; polling it through our table puts
            // `wait` on the eventfd's queue (`queue`), where it stays
            // until drop: the box is pinned.
            let events = unsafe { bindings::vassist_vfs_poll(file, w.table.get()) };
            if events & bindings::VASSIST_POLLIN != 0 {
                T::kicked(&w.target);
            }
        });
        // SAFETY: the reference eventfd_fget took; the context holds its own.
        unsafe { bindings::fput(file) };
        watch
    }

    /// The poll table's queueing function: puts our entry on `wqh`, the
    /// eventfd's queue.
    ///
    /// # Safety
    ///
    /// Called by `vfs_poll` in `new` with the watch's `table` and the
    /// eventfd's queue.
    unsafe extern "C" fn queue(
        _file: *mut bindings::file,
        wqh: *mut bindings::wait_queue_head,
        pt: *mut bindings::poll_table_struct,
    ) {
        // SAFETY: `pt` is the `table` of a live, pinned watch (only `new`
        // polls with it), and `wqh` the eventfd's queue.
        unsafe {
            let this = container_of!(
                pt.cast::<Opaque<bindings::poll_table_struct>>(),
                Self,
                table
            );
            bindings::add_wait_queue(wqh, (*this).wait.get())
        };
    }

    /// The entry's wake function.
    ///
    /// # Safety
    ///
    /// Called by the eventfd's queue, under its lock with interrupts off,
    /// with the watch's `wait`.
    unsafe extern "C" fn wake(
        wait: *mut bindings::wait_queue_entry,
        _mode: u32,
        _sync: i32,
        key: *mut c_void,
    ) -> i32 {
        // SAFETY: `wait` is the `wait` of a live watch (type invariant:
        // drop takes it off the queue first).
        let this = unsafe {
            &*container_of!(
                wait.cast::<Opaque<bindings::wait_queue_entry>>(),
                Self,
                wait
            )
        };
        if (key as usize) & bindings::VASSIST_POLLIN as usize != 0 {
            let mut count = 0u64;
            // SAFETY: the eventfd's queue lock is held (we are its wake
            // function), as eventfd_ctx_do_read requires.
            unsafe { bindings::eventfd_ctx_do_read(this.ctx.ctx.as_ptr(), &mut count) };
            T::kicked(&this.target);
        }
        0
    }
}

#[pinned_drop]
impl<T: Kicked> PinnedDrop for EventFdWatch<T> {
    fn drop(self: Pin<&mut Self>) {
        let mut count = 0u64;
        // SAFETY: `wait` is on the queue of `ctx` (type invariant); once
        // off, under the queue's lock, `wake` cannot be running.
        unsafe {
            bindings::eventfd_ctx_remove_wait_queue(
                self.ctx.ctx.as_ptr(),
                self.wait.get(),
                &mut count,
            )
        };
    }
}
