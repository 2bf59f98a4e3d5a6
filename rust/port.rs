// SPDX-License-Identifier: GPL-2.0

//! Attached ports: the RCU-published table the packet path looks ports up in,
//! their counters, and attach/detach under RTNL.

use crate::error::VaError;
use crate::netlink::Settings;
use crate::policy::snoop::RingGauge;
use crate::snoop::Snoop;
use crate::sys::netdev::{NetDev, NetDevRef, NetdevEvent};
use crate::sys::percpu::PerCpuCounters;
use crate::sys::rcu::{RcuBox, RcuRead};
use crate::sys::rtnl::{self, Rtnl};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use kernel::alloc::AllocError;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Counters of one direction: packets, bytes, TCP segments. Per CPU: every
/// frame through the port bumps them.
pub(crate) struct DirStats(PerCpuCounters<3>);

impl DirStats {
    fn new() -> Result<Self, AllocError> {
        Ok(Self(PerCpuCounters::new()?))
    }

    pub(crate) fn count(&self, segments: u32, bytes: u32, tcp: bool) {
        let segs = u64::from(segments);
        self.0
            .add([segs, u64::from(bytes), if tcp { segs } else { 0 }]);
    }

    /// (packets, bytes, TCP segments)
    pub(crate) fn read(&self) -> [u64; 3] {
        [self.0.sum(0), self.0.sum(1), self.0.sum(2)]
    }
}

/// An attached bridge port.
pub(crate) struct Port {
    dev: NetDevRef,
    features: AtomicU32,
    /// Toward the guest: frames the bridge sends out of the port.
    pub(crate) to_guest: DirStats,
    /// From the guest: frames the bridge receives on the port.
    pub(crate) from_guest: DirStats,
    /// The device's receive ring (a tap's), as far as frames sent to it
    /// since attach and its counters tell. Frames queued before attach are
    /// not known: attach a tap before its guest runs (as the tap is made),
    /// or ring-margin must cover them.
    pub(crate) ring: RingGauge,
    /// Ack offload: parameters, counters, and the flows while it is on.
    pub(crate) snoop: Snoop,
}

impl Port {
    pub(crate) fn dev(&self) -> NetDev<'_> {
        self.dev.dev()
    }

    pub(crate) fn features(&self) -> u32 {
        self.features.load(Relaxed)
    }
}

/// All attached ports of all namespaces, sorted by device: the packet
/// path binary-searches them.
struct PortTable {
    ports: KVec<Arc<Port>>,
}

impl PortTable {
    fn get(&self, dev: &NetDev<'_>) -> Option<&Arc<Port>> {
        let i = self
            .ports
            .binary_search_by_key(&dev.key(), |p| p.dev().key())
            .ok()?;
        Some(&self.ports[i])
    }
}

static TABLE: RcuBox<PortTable> = RcuBox::new();

/// Bumped on every change of the table (under RTNL), so a dump that spans
/// several rounds can tell it saw a changing table.
static GENERATION: AtomicU32 = AtomicU32::new(1);

pub(crate) fn generation(_rtnl: &Rtnl) -> u32 {
    GENERATION.load(Relaxed)
}

/// The attached port whose device is `dev`, for the packet path.
pub(crate) fn find<'a>(dev: &NetDev<'_>, rcu: &'a RcuRead) -> Option<&'a Port> {
    TABLE.get(rcu)?.get(dev).map(|p| &**p)
}

/// The attached port whose device is `dev`, for a writer.
pub(crate) fn find_locked(dev: &NetDev<'_>, rtnl: &Rtnl) -> Option<Arc<Port>> {
    TABLE.get_locked(rtnl)?.get(dev).cloned()
}

/// The attached ports of every namespace, for dumps.
pub(crate) fn iter(rtnl: &Rtnl) -> impl Iterator<Item = &Port> {
    TABLE
        .get_locked(rtnl)
        .into_iter()
        .flat_map(|t| t.ports.iter().map(|p| &**p))
}

/// Publishes the table `keep` lets through, plus `add`.
fn republish(
    keep: impl Fn(&Port) -> bool,
    add: Option<Arc<Port>>,
    rtnl: &mut Rtnl,
) -> Result<(), VaError> {
    let mut ports = KVec::new();
    let mut add = add;
    if let Some(table) = TABLE.get_locked(rtnl) {
        for p in table.ports.iter().filter(|p| keep(p)) {
            // `add` goes in at its place in device order.
            if add.as_ref().is_some_and(|a| a.dev().key() < p.dev().key()) {
                if let Some(a) = add.take() {
                    ports.push(a, GFP_KERNEL)?;
                }
            }
            ports.push(p.clone(), GFP_KERNEL)?;
        }
    }
    if let Some(a) = add {
        ports.push(a, GFP_KERNEL)?;
    }
    let new = if ports.is_empty() {
        None
    } else {
        Some(KBox::new(PortTable { ports }, GFP_KERNEL)?)
    };
    publish(new, rtnl);
    Ok(())
}

/// Makes `new` the table. The old one (and with it the last reference to a
/// removed port, and so its device reference) goes after readers are done
/// with it.
fn publish(new: Option<KBox<PortTable>>, rtnl: &mut Rtnl) {
    drop(TABLE.replace(new, rtnl));
    GENERATION.fetch_add(1, Relaxed);
}

/// Attaches `dev`, which must be a bridge port and not yet attached.
pub(crate) fn attach(
    dev: NetDevRef,
    features: u32,
    settings: &Settings,
    rtnl: &mut Rtnl,
) -> Result<Arc<Port>, VaError> {
    if !dev.dev().is_bridge_port(rtnl) {
        return Err(VaError::new(EINVAL, c_str!("device is not a bridge port")));
    }
    if find_locked(&dev.dev(), rtnl).is_some() {
        return Err(VaError::new(EEXIST, c_str!("port is already attached")));
    }
    let ring_out = dev.dev().ring_out();
    let port = Arc::new(
        Port {
            dev,
            features: AtomicU32::new(features),
            to_guest: DirStats::new()?,
            from_guest: DirStats::new()?,
            ring: RingGauge::new(0, ring_out),
            snoop: Snoop::default(),
        },
        GFP_KERNEL,
    )?;
    settings.apply(&port.snoop.config);
    configure_snoop(&port, false, rtnl)?;
    republish(|_| true, Some(port.clone()), rtnl)?;
    Ok(port)
}

/// Detaches `port`; its traffic passes untouched from now on.
pub(crate) fn detach(port: &Port, rtnl: &mut Rtnl) -> Result<(), VaError> {
    let dev = port.dev();
    republish(|p| !p.dev().is(&dev), None, rtnl)
}

/// Enabled features (the spec's flags).
pub(crate) const ACK_OFFLOAD: u32 = crate::bindings::vassist_features_VASSIST_FEATURES_ACK_OFFLOAD;

/// Sets the port's features and brings its assists in line with them and
/// with its parameters: `resize` restarts ack offload with a table of the
/// configured size.
pub(crate) fn set_features(
    port: &Port,
    features: u32,
    resize: bool,
    rtnl: &mut Rtnl,
) -> Result<(), VaError> {
    let old = port.features.swap(features, Relaxed);
    if let Err(e) = configure_snoop(port, old & ACK_OFFLOAD != 0 && !resize, rtnl) {
        port.features.store(old, Relaxed);
        return Err(e);
    }
    Ok(())
}

/// Starts or stops ack offload to match the features; `running`: it runs
/// already with the right table.
fn configure_snoop(port: &Port, running: bool, rtnl: &mut Rtnl) -> Result<(), VaError> {
    if port.features() & ACK_OFFLOAD == 0 {
        port.snoop.stop(rtnl);
    } else if !running {
        port.snoop.start(rtnl)?;
    }
    Ok(())
}

/// A device vassist may hold went away, or left its bridge: detach it.
pub(crate) fn netdev_event(event: NetdevEvent, dev: &NetDev<'_>, rtnl: &mut Rtnl) {
    let Some(port) = find_locked(dev, rtnl) else {
        return;
    };
    let reason = match event {
        NetdevEvent::Unregister => crate::netlink::DetachReason::Unregistered,
        NetdevEvent::LeftMaster => crate::netlink::DetachReason::LeftBridge,
    };
    // The device reference must go or unregistration hangs. Publishing the
    // smaller table allocates; should even that fail, detach every port
    // rather than keep the reference.
    if detach(&port, rtnl).is_err() {
        pr_warn!("out of memory: detaching all ports\n");
        publish(None, rtnl);
    }
    crate::netlink::notify_detached(&port, reason);
}

/// Owner of the table's contents: detaches every port when dropped (rmmod).
pub(crate) struct Ports;

impl Drop for Ports {
    fn drop(&mut self) {
        let mut guard = rtnl::lock();
        publish(None, guard.held());
    }
}
