// SPDX-License-Identifier: GPL-2.0

//! vPipe's userspace side: a TCP connection's state taken out of one
//! kernel socket and put into another, in this namespace or another, with
//! `TCP_REPAIR` ([`repair`]). The guest library and the host's agent build
//! on it.

pub mod repair;
