// SPDX-License-Identifier: GPL-2.0

//! Attached ports: per namespace, the RCU-published table the packet path
//! looks ports up in; their counters; attach, change and detach under RTNL.

use crate::error::VaError;
use crate::pipe::PortPipes;
use crate::policy::pipe::{FlowKey, Removal};
use crate::snoop::{self, GuestQueue, Prepared, Settings, Snoop};
use crate::sys::netdev::{Net, NetDevice, NetDeviceRef, NetdevEvent};
use crate::sys::netns::{Pernet, PernetData, PernetRegistration};
use crate::sys::percpu::PerCpuCounters;
use crate::sys::rcu::{self, Guard, RcuBox};
use crate::sys::rtnl::{Rtnl, RtnlGuard};
use crate::sys::time;
use crate::sys::timer::{Timer, TimerHandler};
use crate::tap::Tap;
use crate::zone::{Params, ZonePort};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use kernel::alloc::AllocError;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Enabled features (the spec's flags).
pub(crate) const ACK_OFFLOAD: u32 = crate::defs::features::ACK_OFFLOAD;
pub(crate) const ZONE: u32 = crate::defs::features::ZONE;

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
        self.0.read()
    }
}

/// Why a port stopped being attached.
#[derive(Clone, Copy)]
pub(crate) enum DetachReason {
    User,
    Unregistered,
    LeftBridge,
}

/// An attached bridge port.
pub(crate) struct Port {
    dev: NetDeviceRef,
    features: AtomicU32,
    /// Toward the guest: frames the bridge sends out of the port.
    pub(crate) to_guest: DirStats,
    /// From the guest: frames the bridge receives on the port.
    pub(crate) from_guest: DirStats,
    /// The port device's receive ring (a tap's) and the way to it.
    pub(crate) tap: Tap,
    /// Ack offload: parameters, counters, and the flows while it is on.
    pub(crate) snoop: Snoop,
    /// Zone port: parameters, and the zones while it is on.
    pub(crate) zone: ZonePort,
    /// Connections taken over by the host's shadow sockets.
    pub(crate) pipes: PortPipes,
}

impl Port {
    pub(crate) fn dev(&self) -> &NetDevice {
        &self.dev
    }

    pub(crate) fn features(&self) -> u32 {
        self.features.load(Relaxed)
    }

    /// Where the port's frames toward its guest go, as ack offload sees
    /// them: its zones, if it is a zone port, else the device's queue.
    pub(crate) fn guest_queue<'a>(&'a self, rcu: &'a Guard) -> GuestQueue<'a> {
        GuestQueue::new(&self.tap, self.zone.get(rcu))
    }

    /// Stops ack offload: flows that hold bytes are reset, toward the
    /// guest too (by its queue) if `guest_reachable`.
    fn stop_offload(&self, guest_reachable: bool, rtnl: &mut Rtnl) {
        let zones = self.zone.get_held(rtnl);
        let queue = GuestQueue::new(&self.tap, zones.as_ref());
        self.snoop
            .stop(self.dev(), guest_reachable.then_some(queue), rtnl);
    }

    /// Applies the zone `params` and ack offload `settings`, each on or
    /// off as `features` says (with the flow table `prepared`, if any); on
    /// an error nothing of it stays.
    fn configure(
        &self,
        features: u32,
        settings: &Settings,
        prepared: Option<Prepared>,
        params: Option<Params>,
        rtnl: &mut Rtnl,
    ) -> Result<(), VaError> {
        let on = features & ACK_OFFLOAD != 0;
        let zone = features & ZONE != 0;
        if on && self.pipes.is_on() {
            // Bytes acked early and not yet delivered would be in no dump
            // of the guest's socket.
            return Err(VaError::new(
                EBUSY,
                c_str!("ack offload cannot start while the port has piped connections"),
            ));
        }
        let undo = self.zone.configure(zone, params, self.dev(), rtnl)?;
        let zones = self.zone.get_held(rtnl);
        let queue = GuestQueue::new(&self.tap, zones.as_ref());
        self.snoop
            .configure(on, settings, prepared, self.dev(), queue, rtnl)
            .inspect_err(|_| self.zone.undo(undo, rtnl))
    }
}

/// The attached ports of a namespace, sorted by ifindex (dumps resume
/// after an ifindex), with an index sorted by device identity that the
/// packet path binary-searches without reading the devices.
struct PortTable {
    ports: KVec<Arc<Port>>,
    /// The same ports by device identity, sorted.
    by_dev: KVec<(usize, Arc<Port>)>,
}

impl PortTable {
    fn new(ports: KVec<Arc<Port>>) -> Result<PortTable, AllocError> {
        let mut by_dev = KVec::with_capacity(ports.len(), GFP_KERNEL)?;
        for p in ports.iter() {
            let key = p.dev().key();
            // Insertion sort: a handful of ports, and no allocation.
            let at = by_dev.partition_point(|(k, _)| *k < key);
            by_dev.push((key, p.clone()), GFP_KERNEL)?;
            by_dev[at..].rotate_right(1);
        }
        Ok(PortTable { ports, by_dev })
    }

    fn position(&self, ifindex: u32) -> Result<usize, usize> {
        self.ports
            .binary_search_by_key(&ifindex, |p| p.dev().ifindex())
    }

    fn by_dev(&self, dev: &NetDevice) -> Option<&Arc<Port>> {
        let key = dev.key();
        let i = self.by_dev.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        Some(&self.by_dev[i].1)
    }
}

/// A namespace's attached ports as the packet path reads them: the bridge
/// hooks of the namespace are called on it.
pub(crate) struct Ports {
    table: RcuBox<PortTable>,
}

impl Ports {
    /// The attached port whose device is `dev`.
    pub(crate) fn find<'a>(&'a self, dev: &NetDevice, rcu: &'a Guard) -> Option<&'a Port> {
        self.table.get(rcu)?.by_dev(dev).map(|p| &**p)
    }
}

/// The re-send timer of a namespace's ports: it runs while any of them
/// has ack offload on.
impl TimerHandler for Ports {
    fn expired(&self) -> Option<u32> {
        let rcu = crate::sys::rcu::read_lock();
        let mut running = false;
        for port in self.table.get(&rcu).iter().flat_map(|t| t.ports.iter()) {
            if let Some(engine) = port.snoop.engine(&rcu) {
                running = true;
                snoop::tick(
                    &port.snoop,
                    engine,
                    port.guest_queue(&rcu),
                    port.dev(),
                    &rcu,
                );
            }
        }
        running.then_some(snoop::TICK_MS)
    }
}

/// A namespace's ports.
pub(crate) struct NetPorts {
    /// Ticks the ports' ack offload ([`snoop::tick`]).
    timer: Timer<Ports>,
    ports: Arc<Ports>,
    /// Bumped on every change of the table (under RTNL), so a dump that
    /// spans several rounds can tell it saw a changing table.
    generation: AtomicU32,
}

static PORTS: Pernet<NetPorts> = Pernet::new();

impl PernetData for NetPorts {
    fn pernet() -> &'static Pernet<Self> {
        &PORTS
    }

    fn new(_net: &Net) -> Result<Self> {
        let ports = Arc::new(
            Ports {
                table: RcuBox::new(),
            },
            GFP_KERNEL,
        )?;
        Ok(NetPorts {
            timer: Timer::new(ports.clone())?,
            ports,
            generation: AtomicU32::new(1),
        })
    }

    /// The guests get their bounded time to ack what they hold before
    /// the ports go (on rmmod the hooks are still registered: the port
    /// subsystem is registered after theirs, so it is dismantled first).
    fn dismantle(&self, _net: &Net, rtnl: &mut RtnlGuard) {
        let ports = self.ports.table.get_locked(rtnl.held()).map(|t| {
            let mut v = KVec::new();
            // Short of memory, there is no waiting: held bytes are reset.
            for p in t.ports.iter() {
                if v.push(p.clone(), GFP_KERNEL).is_err() {
                    return KVec::new();
                }
            }
            v
        });
        drain(ports.as_deref().unwrap_or(&[]), rtnl);
        self.clear(rtnl.held());
    }
}

impl NetPorts {
    fn of(net: &Net) -> Option<&NetPorts> {
        PORTS.get(net)
    }

    /// Starts the timer if a port has ack offload on (it stops by itself
    /// when none has).
    fn tick_if_running(&self, rtnl: &Rtnl) {
        let table = self.ports.table.get_locked(rtnl);
        if table.is_some_and(|t| t.ports.iter().any(|p| p.snoop.is_running())) {
            self.timer.arm(snoop::TICK_MS);
        }
    }

    /// Detaches every port; cannot fail. The old table (and with it the
    /// last reference to a port, and so its device reference) goes after
    /// readers are done with it, as in `republish`; flows still holding
    /// bytes are reset.
    fn clear(&self, rtnl: &mut Rtnl) {
        let rcu = crate::sys::rcu::read_lock();
        let old = self.ports.table.get(&rcu);
        self.unpublish(rtnl);
        for p in old.iter().flat_map(|t| t.ports.iter()) {
            p.stop_offload(true, rtnl);
            p.zone.stop(rtnl);
            p.pipes
                .stop(Removal::Device, p.dev(), true, rtnl, |_, _| {});
        }
    }

    fn unpublish(&self, rtnl: &mut Rtnl) {
        self.ports.table.clear(rtnl);
        self.generation.fetch_add(1, Relaxed);
    }

    /// Publishes the table `keep` lets through, plus `add`.
    fn republish(
        &self,
        keep: impl Fn(&Port) -> bool,
        add: Option<Arc<Port>>,
        rtnl: &mut Rtnl,
    ) -> Result<(), VaError> {
        let old = self.ports.table.get_locked(rtnl);
        let n = old.map_or(0, |t| t.ports.len()) + 1;
        let mut ports = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut add = add;
        for p in old.iter().flat_map(|t| t.ports.iter()).filter(|p| keep(p)) {
            // `add` goes in at its place in ifindex order.
            if add
                .as_ref()
                .is_some_and(|a| a.dev().ifindex() < p.dev().ifindex())
            {
                if let Some(a) = add.take() {
                    ports.push(a, GFP_KERNEL)?;
                }
            }
            ports.push(p.clone(), GFP_KERNEL)?;
        }
        if let Some(a) = add {
            ports.push(a, GFP_KERNEL)?;
        }
        if ports.is_empty() {
            self.unpublish(rtnl);
            return Ok(());
        }
        self.ports.table.set(PortTable::new(ports)?, rtnl)?;
        self.generation.fetch_add(1, Relaxed);
        self.tick_if_running(rtnl);
        Ok(())
    }
}

/// The ports of `net`, for its bridge hooks.
pub(crate) fn shared(net: &Net) -> Option<Arc<Ports>> {
    Some(NetPorts::of(net)?.ports.clone())
}

/// The attached port whose device is `dev`, for a writer.
pub(crate) fn find_locked(dev: &NetDevice, rtnl: &Rtnl) -> Option<Arc<Port>> {
    let t = NetPorts::of(dev.net())?.ports.table.get_locked(rtnl)?;
    t.by_dev(dev).cloned()
}

/// Whether `port` is (still) attached.
pub(crate) fn is_attached(port: &Arc<Port>, rtnl: &Rtnl) -> bool {
    find_locked(port.dev(), rtnl).is_some_and(|p| Arc::ptr_eq(&p, port))
}

/// The attached port whose device is `dev`, without RTNL (its settings
/// are read to prepare a change).
pub(crate) fn with_port<R>(dev: &NetDevice, f: impl FnOnce(&Port) -> R) -> Option<R> {
    let rcu = crate::sys::rcu::read_lock();
    NetPorts::of(dev.net())?.ports.find(dev, &rcu).map(f)
}

/// The ports of `net` with an ifindex of at least `from`, in ifindex order,
/// and the generation of the table they are in.
pub(crate) fn iter_from<'a>(
    net: &'a Net,
    from: u32,
    rtnl: &'a Rtnl,
) -> (u32, impl Iterator<Item = &'a Port>) {
    let nets = NetPorts::of(net);
    let generation = nets.map_or(0, |n| n.generation.load(Relaxed));
    let table = nets.and_then(|n| n.ports.table.get_locked(rtnl));
    let ports = table.into_iter().flat_map(move |t| {
        let start = t.position(from).unwrap_or_else(|i| i);
        t.ports[start..].iter().map(|p| &**p)
    });
    (generation, ports)
}

/// Whether `net` has attached ports.
pub(crate) fn any(net: &Net, rtnl: &Rtnl) -> bool {
    NetPorts::of(net).is_some_and(|n| n.ports.table.get_locked(rtnl).is_some())
}

/// A port for `dev`, which must be a bridge port and not yet attached,
/// with `features` and the ack offload `settings` (and table `prepared`):
/// attached by [`publish`].
pub(crate) fn new(
    dev: NetDeviceRef,
    features: u32,
    settings: &Settings,
    prepared: Option<Prepared>,
    params: Option<Params>,
    rtnl: &mut Rtnl,
) -> Result<Arc<Port>, VaError> {
    if !dev.is_bridge_port(rtnl) {
        return Err(VaError::new(EINVAL, c_str!("device is not a bridge port")));
    }
    if find_locked(&dev, rtnl).is_some() {
        return Err(VaError::new(EEXIST, c_str!("port is already attached")));
    }
    let tap = Tap::new(&dev, rtnl);
    let port = Arc::new(
        Port {
            dev,
            features: AtomicU32::new(features),
            to_guest: DirStats::new()?,
            from_guest: DirStats::new()?,
            tap,
            snoop: Snoop::default(),
            zone: ZonePort::default(),
            pipes: PortPipes::default(),
        },
        GFP_KERNEL,
    )?;
    port.configure(features, settings, prepared, params, rtnl)?;
    Ok(port)
}

/// Attaches `port`: the bridge hook sees its frames from now on.
pub(crate) fn publish(port: &Arc<Port>, rtnl: &mut Rtnl) -> Result<(), VaError> {
    let nets = NetPorts::of(port.dev().net()).ok_or(VaError::from(ENODEV))?;
    nets.republish(|_| true, Some(port.clone()), rtnl)
}

/// A change of features: the bits of `mask` take their value in `value`.
#[derive(Clone, Copy)]
pub(crate) struct FeatureChange {
    pub(crate) value: u32,
    pub(crate) mask: u32,
}

impl FeatureChange {
    pub(crate) fn apply(&self, features: u32) -> u32 {
        (features & !self.mask) | (self.value & self.mask)
    }
}

/// Changes the port's features and ack offload settings; on an error
/// nothing of the change stays.
pub(crate) fn set(
    port: &Port,
    change: FeatureChange,
    settings: &Settings,
    prepared: Option<Prepared>,
    params: Option<Params>,
    rtnl: &mut Rtnl,
) -> Result<(), VaError> {
    let features = change.apply(port.features());
    port.configure(features, settings, prepared, params, rtnl)?;
    port.features.store(features, Relaxed);
    if let Some(nets) = NetPorts::of(port.dev().net()) {
        nets.tick_if_running(rtnl);
    }
    // A request is also the user's way to have the path looked at again.
    port.tap.refresh(port.dev(), rtnl);
    Ok(())
}

/// Detaches `port`; its traffic passes untouched from now on. Its flows
/// that still hold bytes are reset, toward the guest too unless
/// `guest_gone`.
pub(crate) fn detach(port: &Port, guest_gone: bool, rtnl: &mut Rtnl) -> Result<(), VaError> {
    let dev = port.dev();
    let nets = NetPorts::of(dev.net()).ok_or(VaError::from(ENODEV))?;
    nets.republish(|p| !p.dev().is(dev), None, rtnl)?;
    port.stop_offload(!guest_gone, rtnl);
    port.zone.stop(rtnl);
    port.pipes
        .stop(Removal::Device, dev, !guest_gone, rtnl, |_, _| {});
    Ok(())
}

/// Gives the guests behind `ports` time to ack what was acked early for
/// them (no new early acks meanwhile), with RTNL let go, before a change
/// that ends their flows: until nothing is held, or nothing was acked
/// for [`snoop::DRAIN_STALL_MS`], or [`snoop::DRAIN_MAX_MS`] passed.
pub(crate) fn drain(ports: &[Arc<Port>], rtnl: &mut RtnlGuard) {
    let mut running = false;
    for p in ports {
        running |= p.snoop.drain(rtnl.held());
    }
    if !running {
        return;
    }
    let held = || ports.iter().map(|p| p.snoop.held_bytes()).sum::<u64>();
    rtnl.unlocked(|| {
        // A hook that saw offload before it drained may still ack early
        // and hold what it acked.
        rcu::synchronize_net();
        let start = time::now_ms();
        let (mut last, mut progress) = (held(), start);
        while last != 0
            && time::now_ms() - progress < snoop::DRAIN_STALL_MS
            && time::now_ms() - start < snoop::DRAIN_MAX_MS
        {
            time::sleep_ms(10);
            let now = held();
            if now < last {
                progress = time::now_ms();
            }
            last = now;
        }
    });
}

/// A device event: a port whose device goes away or leaves its bridge is
/// detached (and returned, with why); one whose state changed has its path
/// looked at again.
pub(crate) fn netdev_event(
    event: NetdevEvent,
    dev: &NetDevice,
    rtnl: &mut Rtnl,
) -> Option<(Arc<Port>, DetachReason)> {
    let port = find_locked(dev, rtnl)?;
    let reason = match event {
        NetdevEvent::Unregister => DetachReason::Unregistered,
        NetdevEvent::LeftMaster => DetachReason::LeftBridge,
        NetdevEvent::Changed => {
            port.tap.refresh(dev, rtnl);
            return None;
        }
    };
    // The device reference must go or unregistration hangs. Publishing the
    // smaller table allocates; should even that fail, detach every port of
    // the namespace rather than keep the reference.
    let gone = matches!(event, NetdevEvent::Unregister);
    if detach(&port, gone, rtnl).is_err() {
        pr_warn!("out of memory: detaching all ports of a namespace\n");
        if let Some(nets) = NetPorts::of(dev.net()) {
            nets.clear(rtnl);
        }
    }
    Some((port, reason))
}

/// A device unregistered: the ports whose pipes it was the shadow device
/// of give their connections back to their guests; `gone` is told of each
/// pipe, and whether it was reset. Whether there was one.
pub(crate) fn shadow_gone(
    dev: &NetDevice,
    rtnl: &mut Rtnl,
    mut gone: impl FnMut(&Port, &FlowKey, bool),
) -> bool {
    let Some(nets) = NetPorts::of(dev.net()) else {
        return false;
    };
    let mut found = false;
    // The table is not changed here; a port is looked at through its
    // reference while the pipes are stopped.
    let rcu = crate::sys::rcu::read_lock();
    for p in nets
        .ports
        .table
        .get(&rcu)
        .iter()
        .flat_map(|t| t.ports.iter())
    {
        if p.pipes.shadow(rtnl).is_some_and(|s| s.is(dev)) {
            p.pipes
                .stop(Removal::Device, p.dev(), true, rtnl, |k, r| gone(p, k, r));
            found = true;
        }
    }
    found
}

/// The netlink socket `owner` of `net` closed: the pipes it owned go;
/// `gone` is told of each, and whether it was reset. Fails only for
/// memory: then the pipes stay until their port, shadow device or a
/// pipe-del ends them.
pub(crate) fn owner_gone(
    net: &Net,
    owner: u32,
    rtnl: &mut Rtnl,
    mut gone: impl FnMut(&Port, &FlowKey, bool),
) -> Result<(), VaError> {
    let Some(nets) = NetPorts::of(net) else {
        return Ok(());
    };
    // Their references, as removing a pipe may sleep (no RCU section).
    let mut ports = KVec::new();
    for p in nets
        .ports
        .table
        .get_locked(rtnl)
        .iter()
        .flat_map(|t| t.ports.iter())
    {
        ports.push(p.clone(), GFP_KERNEL)?;
    }
    for p in ports.iter() {
        p.pipes
            .owner_gone(owner, p.dev(), rtnl, |k, r| gone(p, k, r))?;
    }
    Ok(())
}

/// The per-namespace port tables, registered while the module is loaded:
/// every namespace's ports are detached when dropped (rmmod).
pub(crate) fn register() -> Result<PernetRegistration<NetPorts>> {
    PORTS.register()
}
