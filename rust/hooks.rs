// SPDX-License-Identifier: GPL-2.0

//! The packet path: what vassist does with a frame entering or leaving the
//! bridge through a port. Unattached ports cost one table lookup (an RCU
//! load, and a binary search when ports are attached).

use crate::policy::frame::{self, TcpAt};
use crate::policy::tcp::{self, Segment};
use crate::port::{self, DirStats, Port};
use crate::snoop::{self, Engine};
use crate::sys::netdev::NetDev;
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::RcuRead;
use crate::sys::skb::{Egress, Peek, PeekBuf, SkBuff, ETH_HLEN};

/// A frame the bridge received on `dev`: from the guest behind it.
pub(crate) fn from_port<'a>(skb: SkBuff<'a>, dev: &NetDev<'_>, rcu: &RcuRead) -> Verdict<'a> {
    match port::find(dev, rcu) {
        Some(port) => from_attached(port, skb, rcu),
        None => Verdict::Accept(skb),
    }
}

/// A frame the bridge sends out of `dev`: toward the guest behind it.
pub(crate) fn to_port<'a>(skb: Egress<'a>, dev: &NetDev<'_>, rcu: &RcuRead) -> Verdict<'a> {
    match port::find(dev, rcu) {
        Some(port) => to_attached(port, skb, dev, rcu),
        None => Verdict::Accept(skb.into_inner()),
    }
}

// The attached ports' work is kept out of line, so a hook on any other
// port is a lookup and a return, without this work's stack frame.
#[inline(never)]
fn from_attached<'a>(port: &Port, skb: SkBuff<'a>, rcu: &RcuRead) -> Verdict<'a> {
    let mut buf = PeekBuf::<{ snoop::HEADERS_MAX }>::new();
    let f = skb.peek(&mut buf);
    let tcp = count(&port.from_guest, &f);
    match offloaded(port, tcp, &f, rcu) {
        Some((engine, seg)) => snoop::from_guest(port, engine, skb, seg),
        None => Verdict::Accept(skb),
    }
}

#[inline(never)]
fn to_attached<'a>(port: &Port, skb: Egress<'a>, dev: &NetDev<'_>, rcu: &RcuRead) -> Verdict<'a> {
    let mut buf = PeekBuf::<{ snoop::HEADERS_MAX }>::new();
    let f = skb.peek(&mut buf);
    let tcp = count(&port.to_guest, &f);
    // Every frame fills the ring, offloaded or not: counted from attach.
    port.ring.handed(f.segments);
    match offloaded(port, tcp, &f, rcu) {
        Some((engine, seg)) => snoop::to_guest(port, engine, skb, seg, dev, rcu),
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
    tcp: Option<TcpAt>,
    f: &Peek<'_>,
    rcu: &'r RcuRead,
) -> Option<(&'r Engine, Segment)> {
    let engine = port.snoop.engine(rcu)?;
    Some((engine, tcp::parse(f.protocol, f.headers, tcp?)?))
}

/// Counts the frame; says where its TCP header is, if it is a TCP segment.
#[inline(always)]
fn count(stats: &DirStats, f: &Peek<'_>) -> Option<TcpAt> {
    let tcp = frame::tcp_offset(f.protocol, f.headers);
    stats.count(f.segments, f.len + ETH_HLEN, tcp.is_some());
    tcp
}
