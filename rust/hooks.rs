// SPDX-License-Identifier: GPL-2.0

//! The packet path: what vassist does with a frame entering or leaving the
//! bridge through a port of a namespace that has attached ports (the hooks
//! are registered in a namespace on its first attach, on the namespace's
//! [`Ports`], and unregistered on its last detach). A port that is not
//! attached costs a table lookup.

use crate::policy::frame::{self, TcpAt};
use crate::policy::snoop::ring_entries;
use crate::policy::tcp::{self, Segment};
use crate::port::{self, DirStats, Port, Ports};
use crate::snoop::{self, Engine};
use crate::sys::netdev::{Net, NetDevice};
use crate::sys::netfilter::{BridgeHook, BridgeHooks, Verdict};
use crate::sys::netns::{Pernet, PernetData, PernetRegistration};
use crate::sys::rcu::Guard;
use crate::sys::rtnl::{Rtnl, RtnlCell, RtnlGuard};
use crate::sys::skb::{Egress, Peek, PeekBuf, SkBuff, ETH_HLEN};
use kernel::prelude::*;

impl BridgeHook for Ports {
    fn ingress<'a>(&self, skb: SkBuff<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
        match self.find(dev, rcu) {
            Some(port) => from_attached(port, skb, rcu),
            None => Verdict::Accept(skb),
        }
    }

    fn egress<'a>(&self, skb: Egress<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
        match self.find(dev, rcu) {
            Some(port) => to_attached(port, skb, dev, rcu),
            None => Verdict::Accept(skb.into_inner()),
        }
    }
}

// The attached ports' work is kept out of line, so a hook on any other
// port is a lookup and a return, without this work's stack frame.
#[inline(never)]
fn from_attached<'a>(port: &Port, skb: SkBuff<'a>, rcu: &Guard) -> Verdict<'a> {
    let mut buf = PeekBuf::<{ snoop::HEADERS_MAX }>::new();
    let f = skb.peek(&mut buf);
    let tcp = count(&port.from_guest, &f);
    match offloaded(port, tcp, rcu) {
        Some((engine, seg)) => {
            snoop::from_guest(&port.snoop, engine, &port.tap, skb, seg, port.dev(), rcu)
        }
        None => Verdict::Accept(skb),
    }
}

#[inline(never)]
fn to_attached<'a>(port: &Port, skb: Egress<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a> {
    let mut buf = PeekBuf::<{ snoop::HEADERS_MAX }>::new();
    let f = skb.skb().peek(&mut buf);
    let tcp = count(&port.to_guest, &f);
    // Every frame fills the ring, offloaded or not, counted from attach as
    // the entries the tap will queue.
    let entries = ring_entries(f.segments, || skb.skb().needs_gso());
    let Some(engine) = port.snoop.engine(rcu) else {
        port.tap.ring.handed(entries);
        return Verdict::Accept(skb.into_inner());
    };
    if !snoop::admit(&port.snoop, &port.tap, entries, dev) {
        return Verdict::Drop(skb.into_inner());
    }
    match tcp.and_then(tcp::parse) {
        Some(seg) => snoop::to_guest(&port.snoop, engine, &port.tap, skb, seg, dev, rcu),
        None => Verdict::Accept(skb.into_inner()),
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

/// A namespace's hook registration, while it has attached ports.
pub(crate) struct NetHooks {
    hooks: RtnlCell<Option<BridgeHooks<Ports>>>,
}

static HOOKS: Pernet<NetHooks> = Pernet::new();

impl PernetData for NetHooks {
    fn pernet() -> &'static Pernet<Self> {
        &HOOKS
    }

    fn new(_net: &Net) -> Result<Self> {
        Ok(NetHooks {
            hooks: RtnlCell::new(None),
        })
    }

    fn dismantle(&self, _net: &Net, rtnl: &mut RtnlGuard) {
        *self.hooks.get_mut(rtnl.held()) = None;
    }
}

/// Registers the hooks in `net` unless they are.
pub(crate) fn ensure(net: &Net, rtnl: &mut Rtnl) -> Result {
    let nh = HOOKS.get(net).ok_or(ENODEV)?;
    let hooks = nh.hooks.get_mut(rtnl);
    if hooks.is_none() {
        let ports = port::shared(net).ok_or(ENODEV)?;
        *hooks = Some(BridgeHooks::register(net, ports)?);
    }
    Ok(())
}

/// Unregisters the hooks from `net` once it has no attached port.
pub(crate) fn release_unused(net: &Net, rtnl: &mut Rtnl) {
    if port::any(net, rtnl) {
        return;
    }
    if let Some(nh) = HOOKS.get(net) {
        *nh.hooks.get_mut(rtnl) = None;
    }
}

/// The per-namespace hook registrations, while the module is loaded.
pub(crate) fn register() -> Result<PernetRegistration<NetHooks>> {
    HOOKS.register()
}
