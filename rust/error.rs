// SPDX-License-Identifier: GPL-2.0

//! The crate's one error type: an errno plus the message a netlink caller
//! gets in its extended ack, and the attribute it concerns.

use crate::sys::genl::Reject;
use kernel::prelude::*;
use kernel::str::CStr;

/// A rejected request or a failed operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VaError {
    /// What the caller gets as errno.
    pub(crate) errno: Error,
    /// Extack text: says what was wrong, in the caller's terms.
    pub(crate) msg: &'static CStr,
    /// The netlink attribute at fault, 0 when none.
    pub(crate) attr: u32,
}

impl VaError {
    pub(crate) const fn new(errno: Error, msg: &'static CStr) -> Self {
        VaError {
            errno,
            msg,
            attr: 0,
        }
    }

    pub(crate) const fn at(self, attr: u32) -> Self {
        VaError { attr, ..self }
    }
}

impl From<Error> for VaError {
    fn from(errno: Error) -> Self {
        VaError::new(errno, kernel::c_str!("vassist: operation failed"))
    }
}

impl From<kernel::alloc::AllocError> for VaError {
    fn from(_: kernel::alloc::AllocError) -> Self {
        VaError::new(ENOMEM, kernel::c_str!("vassist: out of memory"))
    }
}

impl From<Reject> for VaError {
    fn from(r: Reject) -> Self {
        VaError {
            errno: r.errno,
            msg: r.msg.unwrap_or(kernel::c_str!("vassist: reply failed")),
            attr: r.attr,
        }
    }
}

impl From<VaError> for Reject {
    fn from(e: VaError) -> Self {
        Reject {
            errno: e.errno,
            msg: Some(e.msg),
            attr: e.attr,
        }
    }
}
