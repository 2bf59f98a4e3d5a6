// SPDX-License-Identifier: GPL-2.0

//! vassist: host-side assists for KVM guests whose tap ports sit on a Linux
//! bridge.
//!
//! Layout: [`sys`] is the thin wrapper layer over the kernel (the only code
//! with `unsafe`, each block with the argument for why it is sound); [`policy`] holds
//! `core`-only rules that a userspace crate compiles and tests as well; the
//! mechanism modules above them are safe Rust.

use kernel::prelude::*;

mod bindings;
mod error;
mod flows;
mod hooks;
mod netlink;
mod policy;
mod port;
mod snoop;
mod sys;

module! {
    type: Vassist,
    name: "vassist",
    author: "vassist developers",
    description: "Host-side assists for KVM guests' bridge ports",
    license: "GPL",
}

/// The loaded module: its registrations, dropped in field order on rmmod.
struct Vassist {
    // No new requests first; then the ports are detached (quietly: the
    // family is gone); then no device events (unregistering the notifier
    // replays NETDEV_UNREGISTER for every device, which finds no port); and
    // last no packets.
    _family: sys::genl::Family,
    _ports: port::Ports,
    _notifier: sys::netdev::Notifier,
    _hooks: sys::netfilter::BridgeHooks,
}

impl kernel::Module for Vassist {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Built in reverse teardown order; an error drops what was built.
        let hooks = sys::netfilter::BridgeHooks::register()?;
        let notifier = sys::netdev::Notifier::register()?;
        let ports = port::Ports;
        let family = sys::genl::Family::register()?;
        pr_info!("loaded\n");
        Ok(Vassist {
            _family: family,
            _notifier: notifier,
            _hooks: hooks,
            _ports: ports,
        })
    }
}
