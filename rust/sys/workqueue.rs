// SPDX-License-Identifier: GPL-2.0

//! A workqueue of the module's own, reachable from anywhere through a
//! static: work queued on it runs module code, so the module must not go
//! while any is queued; destroying the queue (on the registration's drop,
//! at rmmod) runs what is queued and waits for it.

use crate::bindings;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::workqueue::{Queue, RawWorkItem, WorkItemPointer};

/// The queue, while registered.
///
/// # Invariants
///
/// `ptr` is null or a workqueue made by `register`, not yet destroyed.
pub(crate) struct ModuleQueue {
    ptr: AtomicPtr<bindings::workqueue_struct>,
}

impl ModuleQueue {
    pub(crate) const fn new() -> Self {
        ModuleQueue {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Makes the queue: unbound (its work may sleep), or, with `bh`, run
    /// in softirq context on the CPU that queued it, after the softirq
    /// work in progress there (a network receive batch, say) is done.
    pub(crate) fn register(
        &'static self,
        name: &'static CStr,
        bh: bool,
    ) -> Result<QueueRegistration> {
        // SAFETY: `name` is NUL-terminated and static.
        let q = unsafe { bindings::vassist_alloc_workqueue(name.as_char_ptr(), bh) };
        if q.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: a workqueue just made.
        self.ptr.store(q, Ordering::Release);
        Ok(QueueRegistration { queue: self })
    }

    /// Queues `w` (an `Arc` of a work item, say; `ID` says which of its
    /// works); `false` if it was queued already or the queue is gone (the
    /// item is then dropped).
    pub(crate) fn enqueue<W, const ID: u64>(&self, w: W) -> bool
    where
        W: RawWorkItem<ID, EnqueueOutput = Result<(), W>> + WorkItemPointer<ID> + Send + 'static,
    {
        let q = self.ptr.load(Ordering::Acquire);
        if q.is_null() {
            return false;
        }
        // SAFETY: a workqueue not destroyed (type invariant): it is only
        // destroyed after the pointer is cleared, and by then no caller
        // can be here (the registration's owner stops them first).
        let queue = unsafe { Queue::from_raw(q.cast()) };
        queue.enqueue(w).is_ok()
    }
}

/// The queue's registration: destroyed on drop, after running what is
/// queued.
pub(crate) struct QueueRegistration {
    queue: &'static ModuleQueue,
}

impl Drop for QueueRegistration {
    fn drop(&mut self) {
        let q = self.queue.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: made by `register` and not destroyed (type invariant).
        unsafe { bindings::destroy_workqueue(q) };
    }
}
