// SPDX-License-Identifier: GPL-2.0

//! The `vassist` generic netlink family from userspace: its tables from the
//! spec ([`spec`]), requests, dumps and notifications over neli ([`nl`]),
//! and the pipe commands' arguments ([`pipe`]). `vassistctl` and the vPipe
//! agent (`vassistd`) use it.

pub mod nl;
pub mod pipe;
pub mod spec;
