// SPDX-License-Identifier: GPL-2.0

//! bindgen's output for `rust/helpers.h` (made at build time by Kbuild).
//! Only [`crate::sys`] uses it.

#![allow(
    unsafe_code,
    dead_code,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    missing_docs,
    unreachable_pub,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]

use kernel::ffi;

// Blocklisted by the tree's bindgen_parameters; defined as the kernel's own
// bindings crate defines them.
type __kernel_size_t = usize;
type __kernel_ssize_t = isize;
type __kernel_ptrdiff_t = isize;

include!("bindings_generated.rs");
