// SPDX-License-Identifier: GPL-2.0

//! The coarse clock (jiffies) and random numbers.

use crate::bindings;

/// Milliseconds of the jiffies clock (monotonic, tick resolution).
pub(crate) fn now_ms() -> u64 {
    // SAFETY: reads the jiffies counter; any context.
    unsafe { bindings::vassist_jiffies_ms() }
}

/// A random 64-bit number (get_random_u64).
pub(crate) fn random_u64() -> u64 {
    // SAFETY: any context.
    unsafe { bindings::vassist_random_u64() }
}
