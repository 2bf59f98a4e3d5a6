// SPDX-License-Identifier: GPL-2.0

//! vPipe's guest side. A server in a guest hands the host the job of
//! moving bytes between two of its TCP connections: the connections are
//! frozen with `TCP_REPAIR` ([`repair`]), their state goes to the host's
//! agent over AF_VSOCK ([`protocol`]), the host pipes the bytes with
//! shadow sockets, and the connections come back, updated, under the same
//! descriptors ([`guest`], with a C ABI for C and C++ servers). On any
//! failure before the host took over, the guest's sockets stay as they
//! were and the library copies the bytes itself. A server without
//! CAP_NET_ADMIN has the repair calls that need it done by a root helper
//! in the guest ([`helper`], the `vpipe-repair` binary).

pub mod guest;
pub mod helper;
pub mod protocol;
pub mod repair;
