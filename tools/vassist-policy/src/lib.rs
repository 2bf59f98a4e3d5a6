// SPDX-License-Identifier: GPL-2.0

//! The module's `core`-only policy files (rust/policy/), compiled unchanged
//! for userspace so cargo can unit-, property- and fuzz-test them.

#![no_std]

#[path = "../../../rust/policy/frame.rs"]
pub mod frame;

/// The EVI/EoC engine; the module's ports get it in a later change.
#[path = "../../../rust/policy/evi.rs"]
pub mod evi;

/// Piped connections (vPipe): who owns one, and what its frames meet.
#[path = "../../../rust/policy/pipe.rs"]
pub mod pipe;

/// TCP segment parsing and checksum arithmetic (ack offload).
#[path = "../../../rust/policy/tcp.rs"]
pub mod tcp;

/// The ack offload (vSnoop) flow state machine; wired into the module by
/// the ack-offload change.
#[path = "../../../rust/policy/snoop.rs"]
pub mod snoop;

/// Zone ports: the zone geometry, the page allocator over a port's zones
/// and the rules of the rings shared with its consumer.
#[path = "../../../rust/policy/zone.rs"]
pub mod zone;
