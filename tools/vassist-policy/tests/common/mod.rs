// SPDX-License-Identifier: GPL-2.0

//! What the test files share (each uses some of it).
#![allow(dead_code)]

use vassist_policy::tcp::{Addrs, Options, Segment};

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

/// A segment with just the fields the rules read.
pub fn seg(seq: u32, ack: u32, flags: u8, window: u16, payload: u32) -> Segment {
    Segment {
        addrs: Addrs {
            v6: false,
            src: [0; 16],
            dst: [0; 16],
        },
        sport: 1,
        dport: 2,
        seq,
        ack,
        flags,
        window,
        check: 0,
        tcp_offset: 20,
        header_len: 20,
        payload,
        opts: Options::default(),
    }
}
