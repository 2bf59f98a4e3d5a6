// SPDX-License-Identifier: GPL-2.0

//! The wrapper layer between the kernel's C interfaces and vassist: the
//! only modules with `unsafe`. It knows nothing of the modules above it:
//! registrations are generic over the trait their user implements
//! ([`netfilter::BridgeHook`], [`netdev::NetdevNotifier`],
//! [`genl::Operations`], [`netns::PernetData`]). Each type documents its
//! invariants and each `unsafe` block its `// SAFETY:` argument; what the
//! layer exports is safe.

// Kbuild denies this lint for the crate: here, and in the bindings, is
// where it is allowed.
#![allow(unsafe_code)]

pub(crate) mod bhlock;
pub(crate) mod errno;
pub(crate) mod eventfd;
pub(crate) mod genl;
pub(crate) mod hrtimer;
pub(crate) mod miscdev;
pub(crate) mod netdev;
pub(crate) mod netfilter;
pub(crate) mod netns;
mod notifier;
pub(crate) mod percpu;
pub(crate) mod pinned;
pub(crate) mod rcu;
pub(crate) mod rtnl;
pub(crate) mod skb;
pub(crate) mod time;
pub(crate) mod timer;
pub(crate) mod usermem;
pub(crate) mod workqueue;
pub(crate) mod zerocopy;
