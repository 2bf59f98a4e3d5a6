// SPDX-License-Identifier: GPL-2.0

//! The thin wrapper layer between the kernel's C interfaces and vassist: the
//! only modules with `unsafe`. Each type documents its invariants and each
//! `unsafe` block its `// SAFETY:` argument; what they export is safe.

pub(crate) mod bhlock;
pub(crate) mod genl;
pub(crate) mod netdev;
pub(crate) mod netfilter;
pub(crate) mod percpu;
pub(crate) mod rcu;
pub(crate) mod rtnl;
pub(crate) mod skb;
pub(crate) mod time;
