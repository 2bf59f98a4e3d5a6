// SPDX-License-Identifier: GPL-2.0

//! The packet path: what vassist does with a frame leaving the bridge by
//! an attached port (the bridge hook of the port's namespace, registered
//! on its first attach and unregistered on its last detach) and with a
//! frame an attached port receives (the ingress hook of its device, for
//! as long as it is attached). A frame to a port that is not attached
//! costs a table lookup; one from it costs nothing.

use crate::policy::frame::{self, TcpAt};
use crate::policy::snoop::ring_entries;
use crate::policy::tcp::{self, Segment};
use crate::port::{self, DirStats, Port, Ports};
use crate::snoop::{self, Engine, GuestQueue};
use crate::sys::netdev::{Net, NetDevice};
use crate::sys::netfilter::{BridgeHook, BridgeHooks, DeviceIngress, IngressHook, Verdict};
use crate::sys::netns::{Pernet, PernetData, PernetRegistration};
use crate::sys::rcu::Guard;
use crate::sys::rtnl::{Rtnl, RtnlCell, RtnlGuard};
use crate::sys::skb::{Egress, Peek, PeekBuf, SkBuff, ETH_HLEN};
use crate::zone::Zones;
use kernel::prelude::*;
use kernel::sync::Arc;

impl BridgeHook for Ports {
    fn egress<'a>(&self, skb: Egress<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
        match self.find(dev, rcu) {
            Some(port) => to_attached(port, skb, dev, rcu),
            None => Verdict::Accept(skb.into_inner()),
        }
    }
}

impl DeviceIngress for Port {
    fn ingress<'a>(&self, skb: SkBuff<'a>, _dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
        let mut buf = PeekBuf::<{ snoop::HEADERS_MAX }>::new();
        let f = skb.peek(&mut buf);
        let tcp = count(&self.from_guest, &f);
        if self.pipes.is_on() && piped_from_guest(self, &skb, tcp, rcu) {
            return Verdict::Drop(skb);
        }
        match offloaded(self, tcp, rcu) {
            Some((engine, seg)) => {
                let queue = self.guest_queue(rcu);
                snoop::from_guest(&self.snoop, engine, queue, skb, seg, self.dev(), rcu)
            }
            None => Verdict::Accept(skb),
        }
    }
}

/// Whether a frame from the guest is of a connection it does not own now.
#[inline(never)]
fn piped_from_guest(port: &Port, skb: &SkBuff<'_>, tcp: Option<TcpAt<'_>>, rcu: &Guard) -> bool {
    tcp.and_then(tcp::parse)
        .is_some_and(|seg| port.pipes.drops_from_guest(&seg, || skb.eth_header(), rcu))
}

/// The ingress of a port's shadow device: what the shadow sockets of the
/// port's piped connections send.
pub(crate) struct ShadowIngress(Arc<Port>);

impl DeviceIngress for ShadowIngress {
    fn ingress<'a>(&self, skb: SkBuff<'a>, _dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
        let port = &self.0;
        let (len, seg) = frame_segment(&skb);
        port.pipes
            .shadow_sent(skb, seg.as_ref(), len, port.dev(), rcu)
    }
}

/// A frame's length (Ethernet header included) and its TCP segment, if
/// it is one: what a pipe needs of it.
fn frame_segment(skb: &SkBuff<'_>) -> (u32, Option<Segment>) {
    let mut buf = PeekBuf::<{ snoop::HEADERS_MAX }>::new();
    let f = skb.peek(&mut buf);
    let tcp = frame::tcp_offset(f.protocol, f.headers);
    (f.len + ETH_HLEN, tcp.and_then(tcp::parse))
}

/// A frame toward the guest of a port with pipes: to the pipe of its
/// connection, if it has one.
#[inline(never)]
fn to_piped<'a>(port: &Port, skb: Egress<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
    let (len, seg) = frame_segment(skb.skb());
    let skb = match seg {
        Some(seg) => match port.pipes.to_guest(skb, &seg, len, rcu) {
            Ok(verdict) => return verdict,
            Err(skb) => skb,
        },
        None => skb,
    };
    to_port(port, skb, dev, rcu)
}

// The attached port's work is kept out of line, so the hook on any other
// port is a lookup and a return, without this work's stack frame; ack
// offload's work too, so a port without it pays only for its counters.
#[inline(never)]
fn to_attached<'a>(port: &Port, skb: Egress<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
    if port.pipes.is_on() {
        return to_piped(port, skb, dev, rcu);
    }
    to_port(port, skb, dev, rcu)
}

/// A frame toward the guest by the port.
#[inline(always)]
fn to_port<'a>(port: &Port, skb: Egress<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
    let mut buf = PeekBuf::<{ snoop::HEADERS_MAX }>::new();
    let f = skb.skb().peek(&mut buf);
    let tcp = count(&port.to_guest, &f);
    if let Some(zones) = port.zone.get(rcu) {
        let len = f.len;
        return match offloaded(port, tcp, rcu) {
            Some((engine, seg)) => {
                let queue = GuestQueue::Zones(zones);
                snoop::to_guest(&port.snoop, engine, queue, skb, seg, true, dev, rcu)
            }
            None => Zones::place(zones, skb, len),
        };
    }
    // Every frame fills the ring, offloaded or not, counted from attach as
    // the entries the tap will queue.
    let entries = ring_entries(f.segments, || skb.skb().needs_gso());
    match port.snoop.engine(rcu) {
        Some(engine) => {
            let seg = tcp.and_then(tcp::parse);
            offload_to_guest(port, engine, skb, seg, entries, dev, rcu)
        }
        None => {
            port.tap.ring.handed(entries);
            Verdict::Accept(skb.into_inner())
        }
    }
}

#[inline(never)]
fn offload_to_guest<'a>(
    port: &Port,
    engine: &Engine,
    skb: Egress<'a>,
    seg: Option<Segment>,
    entries: u32,
    dev: &NetDevice,
    rcu: &Guard,
) -> Verdict<'a> {
    // A segment the ring has no room for may still be parked.
    let admitted = snoop::admit(&port.tap, entries, dev);
    match seg {
        Some(seg) => {
            let queue = GuestQueue::Tap(&port.tap);
            snoop::to_guest(&port.snoop, engine, queue, skb, seg, admitted, dev, rcu)
        }
        None if admitted => Verdict::Accept(skb.into_inner()),
        None => snoop::ring_drop(&port.snoop, skb),
    }
}

/// The port's ack offload and the frame's segment, when offload is on and
/// the frame is a TCP segment (`tcp`) that parses: only then is it parsed.
// Inlined, as `count`: every frame of an attached port runs them, and a
// call would cost about as much as their work.
#[inline(always)]
fn offloaded<'r>(
    port: &'r Port,
    tcp: Option<TcpAt<'_>>,
    rcu: &'r Guard,
) -> Option<(&'r Engine, Segment)> {
    let engine = port.snoop.engine(rcu)?;
    Some((engine, tcp::parse(tcp?)?))
}

/// Counts the frame; says where its TCP header is, if it is a TCP segment.
#[inline(always)]
fn count<'b>(stats: &DirStats, f: &Peek<'b>) -> Option<TcpAt<'b>> {
    let tcp = frame::tcp_offset(f.protocol, f.headers);
    stats.count(f.segments, f.len + ETH_HLEN, tcp.is_some());
    tcp
}

/// A namespace's hook registrations: the bridge's while it has attached
/// ports, and each attached port's ingress.
pub(crate) struct NetHooks {
    hooks: RtnlCell<Registered>,
}

struct Registered {
    bridge: Option<BridgeHooks<Ports>>,
    /// Slots, emptied on detach and used again.
    ingress: KVec<Option<IngressHook<Port>>>,
    /// The shadow devices' of ports with pipes; slots, as `ingress`.
    shadows: KVec<Option<IngressHook<ShadowIngress>>>,
}

static HOOKS: Pernet<NetHooks> = Pernet::new();

impl PernetData for NetHooks {
    fn pernet() -> &'static Pernet<Self> {
        &HOOKS
    }

    fn new(_net: &Net) -> Result<Self> {
        Ok(NetHooks {
            hooks: RtnlCell::new(Registered {
                bridge: None,
                ingress: KVec::new(),
                shadows: KVec::new(),
            }),
        })
    }

    fn dismantle(&self, _net: &Net, rtnl: &mut RtnlGuard) {
        let hooks = self.hooks.get_mut(rtnl.held());
        hooks.bridge = None;
        hooks.ingress = KVec::new();
        hooks.shadows = KVec::new();
    }
}

/// Registers the bridge hook in `net` unless it is.
pub(crate) fn ensure(net: &Net, rtnl: &mut Rtnl) -> Result {
    let nh = HOOKS.get(net).ok_or(ENODEV)?;
    let hooks = nh.hooks.get_mut(rtnl);
    if hooks.bridge.is_none() {
        let ports = port::shared(net).ok_or(ENODEV)?;
        hooks.bridge = Some(BridgeHooks::register(net, ports)?);
    }
    Ok(())
}

/// Registers the ingress hook of `port`, before it is published: its
/// frames are seen from the moment it is attached.
pub(crate) fn watch_ingress(port: &Arc<Port>, rtnl: &mut Rtnl) -> Result {
    let nh = HOOKS.get(port.dev().net()).ok_or(ENODEV)?;
    let hook = IngressHook::register(port.dev(), port.clone(), rtnl)?;
    let hooks = nh.hooks.get_mut(rtnl);
    match hooks.ingress.iter_mut().find(|h| h.is_none()) {
        Some(slot) => *slot = Some(hook),
        None => hooks.ingress.push(Some(hook), GFP_KERNEL)?,
    }
    Ok(())
}

/// Registers the ingress hook of `port`'s shadow device unless it is;
/// the port has pipes.
pub(crate) fn watch_shadow(port: &Arc<Port>, rtnl: &mut Rtnl) -> Result {
    let nh = HOOKS.get(port.dev().net()).ok_or(ENODEV)?;
    let shadow = port.pipes.shadow(rtnl).ok_or(ENOENT)?;
    let hooks = nh.hooks.get(rtnl);
    let watched = hooks
        .shadows
        .iter()
        .flatten()
        .any(|h| Arc::ptr_eq(&h.data().0, port) && h.dev().is(shadow));
    if watched {
        return Ok(());
    }
    let hook = IngressHook::register(
        shadow,
        Arc::new(ShadowIngress(port.clone()), GFP_KERNEL)?,
        rtnl,
    )?;
    let hooks = nh.hooks.get_mut(rtnl);
    match hooks.shadows.iter_mut().find(|h| h.is_none()) {
        Some(slot) => *slot = Some(hook),
        None => hooks.shadows.push(Some(hook), GFP_KERNEL)?,
    }
    Ok(())
}

/// Unregisters the ingress hooks of the ports of `net` that are no longer
/// attached (and of shadow devices no attached port's pipes use), and the
/// bridge hook once no port is attached.
pub(crate) fn release_unused(net: &Net, rtnl: &mut Rtnl) {
    let Some(nh) = HOOKS.get(net) else {
        return;
    };
    let mut slots = core::mem::take(&mut nh.hooks.get_mut(rtnl).ingress);
    for slot in slots.iter_mut() {
        if slot
            .as_ref()
            .is_some_and(|h| !port::is_attached(h.data(), rtnl))
        {
            *slot = None;
        }
    }
    let mut shadows = core::mem::take(&mut nh.hooks.get_mut(rtnl).shadows);
    for slot in shadows.iter_mut() {
        let used = slot.as_ref().is_some_and(|h| {
            let port = &h.data().0;
            port::is_attached(port, rtnl) && port.pipes.shadow(rtnl).is_some_and(|s| s.is(h.dev()))
        });
        if !used {
            *slot = None;
        }
    }
    let any = port::any(net, rtnl);
    let hooks = nh.hooks.get_mut(rtnl);
    hooks.ingress = slots;
    hooks.shadows = shadows;
    if !any {
        hooks.bridge = None;
    }
}

/// The per-namespace hook registrations, while the module is loaded.
pub(crate) fn register() -> Result<PernetRegistration<NetHooks>> {
    HOOKS.register()
}
