// SPDX-License-Identifier: GPL-2.0

//! Rules that need no kernel: plain `core` Rust, compiled here and by the
//! userspace crate `tools/vassist-policy`, which unit-, property- and
//! fuzz-tests them.

// The files' items are `pub` for the userspace crate that shares them.
// `Stats::notifications` is the simulator's.
#[allow(unreachable_pub, dead_code)]
pub(crate) mod evi;
#[allow(unreachable_pub)]
pub(crate) mod frame;
#[allow(unreachable_pub)]
pub(crate) mod pipe;
#[allow(unreachable_pub)]
pub(crate) mod snoop;
#[allow(unreachable_pub)]
pub(crate) mod tcp;
// The consumer's side of the rings and layout is used by tools/vassist-zone.
#[allow(unreachable_pub, dead_code)]
pub(crate) mod zone;
