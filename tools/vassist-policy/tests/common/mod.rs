// SPDX-License-Identifier: GPL-2.0

//! What the test files share.

/// A small deterministic generator for the random interleavings:
/// `rnd(n)` is in `0..n`.
pub fn xorshift(mut x: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}
