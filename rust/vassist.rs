// SPDX-License-Identifier: GPL-2.0

//! vassist: host-side assists for KVM guests whose tap ports sit on a Linux
//! bridge.
//!
//! Layers, each using only those below it:
//! - [`policy`]: `core`-only rules (TCP parsing, the ack offload state
//!   machine) that a userspace crate compiles and tests as well;
//! - [`sys`]: the wrapper layer over the kernel, generic, and the only code
//!   the compiler lets call C or touch raw pointers (Kbuild makes that lint
//!   an error for the crate; `sys` and its raw C interface [`bindings`]
//!   allow it); [`defs`] names the ABI's numbers;
//! - mechanisms: [`tap`] (a port device's ring and the way to it),
//!   [`flows`] and [`snoop`] (ack offload), [`zone`] (zone ports and
//!   their consumers' device), [`pipe`] (connections the host took over);
//! - [`port`]: attached ports per namespace;
//! - [`hooks`] (the packet path) and [`netlink`] (the family's commands);
//! - this file: the module, tying the registrations together.

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use kernel::c_str;
use kernel::prelude::*;

mod bindings;
mod defs;
mod error;
mod flows;
mod hooks;
mod netlink;
mod pipe;
mod policy;
mod port;
mod snoop;
mod sys;
mod tap;
mod zone;

use netlink::PipeGone;
use sys::genl::{genl_family, ReleaseNotifier, SocketRelease};
use sys::netdev::{Net, NetDevice, NetdevEvent, NetdevNotifier, Notifier};
use sys::rtnl::{self, Rtnl};

module! {
    type: Vassist,
    name: "vassist",
    author: "vassist developers",
    description: "Host-side assists for KVM guests' bridge ports",
    license: "GPL",
}

genl_family! {
    static FAMILY: Family<netlink::Netlink> = bindings::vassist_nl_family;
    doit: [
        vassist_nl_port_add_doit,
        vassist_nl_port_del_doit,
        vassist_nl_port_get_doit,
        vassist_nl_port_set_doit,
        vassist_nl_pipe_add_doit,
        vassist_nl_pipe_set_doit,
        vassist_nl_pipe_del_doit,
    ];
    dumpit: [
        vassist_nl_port_get_dumpit,
        vassist_nl_flow_get_dumpit,
        vassist_nl_pipe_get_dumpit,
    ];
}

/// The loaded module: its registrations, dropped in field order on rmmod.
struct Vassist {
    // While a consumer has the zone device open the module stays (the
    // device's file operations hold it), so its deregistration finds no
    // file open.
    _zone_dev: sys::miscdev::Registration<zone::ZoneFile>,
    // No device events first (their notifications need the family); then
    // no requests; then every port is detached, after its guests had their
    // time to ack what they hold (which the hooks see); then the hooks
    // leave every namespace; last, the frees deferred to RCU callbacks run.
    // A namespace dismantled runs its subsystems' pre_exit in the same
    // order: last registered first.
    _notifier: Notifier<Vassist>,
    _sockets: ReleaseNotifier<Vassist>,
    _family: sys::genl::Registration<netlink::Netlink>,
    _ports: sys::netns::PernetRegistration<port::NetPorts>,
    // Zones being added, or batches ending, when the ports went: the work
    // runs, finds them detached, and lets them go.
    _zone_queues: zone::Queues,
    _hooks: sys::netns::PernetRegistration<hooks::NetHooks>,
    _rcu: sys::rcu::Barrier,
}

/// Set when rmmod begins: unregistering the notifier replays
/// NETDEV_UNREGISTER for every device, which is no device going away; the
/// ports are detached quietly by the port subsystem after it.
static UNLOADING: AtomicBool = AtomicBool::new(false);

impl Drop for Vassist {
    fn drop(&mut self) {
        UNLOADING.store(true, Relaxed);
    }
}

impl NetdevNotifier for Vassist {
    fn event(event: NetdevEvent, dev: &NetDevice, rtnl: &mut Rtnl) {
        // Events come under RTNL, as does the notifier's unregistration,
        // which follows the store.
        if UNLOADING.load(Relaxed) {
            return;
        }
        let unregister = matches!(event, NetdevEvent::Unregister);
        if let Some((port, reason)) = port::netdev_event(event, dev, rtnl) {
            hooks::release_unused(dev.net(), rtnl);
            netlink::notify_detached(FAMILY.sender(), &port, reason, rtnl);
        }
        // A shadow device going away takes its pipes (and the hook holding
        // it) along.
        let gone = |port: &port::Port, key: &_, reset| {
            let to = FAMILY.sender();
            netlink::notify_pipe_gone(to, port, key, PipeGone::ShadowGone, reset);
        };
        if unregister && port::shadow_gone(dev, rtnl, gone) {
            hooks::release_unused(dev.net(), rtnl);
        }
    }
}

impl SocketRelease for Vassist {
    fn released(net: &Net, portid: u32) {
        // Most sockets closing own no pipe: RTNL only when one may.
        if !pipe::any_owned() {
            return;
        }
        let mut guard = rtnl::lock();
        let rtnl = guard.held();
        let gone = |port: &port::Port, key: &_, reset| {
            let to = FAMILY.sender();
            netlink::notify_pipe_gone(to, port, key, PipeGone::OwnerGone, reset);
        };
        // Fails only for memory; the pipes then stay (port::owner_gone).
        let _ = port::owner_gone(net, portid, rtnl, gone);
        hooks::release_unused(net, rtnl);
    }
}

impl kernel::Module for Vassist {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // Built in reverse teardown order; an error drops what was built.
        let rcu = sys::rcu::Barrier::new();
        let hooks = hooks::register()?;
        let zone_queues = zone::register()?;
        let ports = port::register()?;
        let family = FAMILY.register()?;
        let sockets = ReleaseNotifier::register()?;
        let notifier = Notifier::register()?;
        let zone_dev = sys::miscdev::Registration::register(c_str!("vassist-zone"), module)?;
        pr_info!("loaded\n");
        Ok(Vassist {
            _zone_dev: zone_dev,
            _notifier: notifier,
            _sockets: sockets,
            _family: family,
            _ports: ports,
            _zone_queues: zone_queues,
            _hooks: hooks,
            _rcu: rcu,
        })
    }
}
