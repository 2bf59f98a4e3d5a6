// SPDX-License-Identifier: GPL-2.0

//! The coarse clock (jiffies) and random numbers.

use crate::bindings;

/// Milliseconds of the jiffies clock (monotonic, tick resolution).
pub(crate) fn now_ms() -> u64 {
    // SAFETY: reads the jiffies counter; any context.
    unsafe { bindings::vassist_jiffies_ms() }
}

/// Sleeps for at least `ms` milliseconds.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: callers run in process context, holding no spinlock (the
    // waits of a drain, with RTNL released).
    unsafe { bindings::msleep(ms) }
}

/// A random 64-bit number (get_random_u64).
pub(crate) fn random_u64() -> u64 {
    // SAFETY: any context.
    unsafe { bindings::vassist_random_u64() }
}
