// SPDX-License-Identifier: GPL-2.0

//! A `notifier_block` for one of the kernel's notifier chains, on the heap
//! so that it stays put while registered; the chains' wrappers
//! ([`super::netdev::Notifier`], [`super::genl::ReleaseNotifier`])
//! register and unregister it.

use crate::bindings;
use core::pin::Pin;
use kernel::ffi;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A chain's callback.
pub(super) type Call = unsafe extern "C" fn(
    *mut bindings::notifier_block,
    ffi::c_ulong,
    *mut ffi::c_void,
) -> ffi::c_int;

/// A block calling `call`, not registered yet.
pub(super) struct Block(Pin<KBox<Opaque<bindings::notifier_block>>>);

// SAFETY: only its chain reads the block; its owner (un)registers it from
// any task.
unsafe impl Send for Block {}
// SAFETY: through `&self` the block is only handed to its chain's
// (un)register functions, which serialise on the chain's lock.
unsafe impl Sync for Block {}

impl Block {
    pub(super) fn new(call: Call) -> Result<Block> {
        Ok(Block(KBox::pin(
            Opaque::new(bindings::notifier_block {
                notifier_call: Some(call),
                next: core::ptr::null_mut(),
                priority: 0,
            }),
            GFP_KERNEL,
        )?))
    }

    /// The block, for its chain's (un)register function: it does not move
    /// while `self` lives.
    pub(super) fn get(&self) -> *mut bindings::notifier_block {
        self.0.get()
    }
}
