// SPDX-License-Identifier: GPL-2.0

//! The module's `core`-only policy files (rust/policy/), compiled unchanged
//! for userspace so cargo can unit-, property- and fuzz-test them.

#![no_std]

#[path = "../../../rust/policy/frame.rs"]
pub mod frame;
