// SPDX-License-Identifier: GPL-2.0

//! Error codes the kernel crate of 6.12 lacks.

use crate::bindings;
use kernel::error::Error;

/// "Operation not supported".
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

/// "Transport endpoint is not connected": a file not bound yet.
pub(crate) fn enotconn() -> Error {
    Error::from_errno(-(bindings::ENOTCONN as i32))
}
