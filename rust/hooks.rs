// SPDX-License-Identifier: GPL-2.0

//! The packet path: what vassist does with a frame entering or leaving the
//! bridge through a port. Unattached ports cost one table lookup (an RCU
//! load, and a binary search when ports are attached).

use crate::policy::frame;
use crate::policy::tcp::{self, Segment};
use crate::port::{self, DirStats};
use crate::snoop;
use crate::sys::netdev::NetDev;
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::RcuRead;
use crate::sys::skb::{Egress, SkBuff, ETH_HLEN};

/// A frame the bridge received on `dev`: from the guest behind it.
pub(crate) fn from_port<'a>(skb: SkBuff<'a>, dev: &NetDev<'_>, rcu: &RcuRead) -> Verdict<'a> {
    let Some(port) = port::find(dev, rcu) else {
        return Verdict::Accept(skb);
    };
    let (_, seg) = count(&port.from_guest, &skb);
    match (port.snoop.engine(rcu), seg) {
        (Some(engine), Some(seg)) => snoop::from_guest(port, engine, skb, seg),
        _ => Verdict::Accept(skb),
    }
}

/// A frame the bridge sends out of `dev`: toward the guest behind it.
pub(crate) fn to_port<'a>(skb: Egress<'a>, dev: &NetDev<'_>, rcu: &RcuRead) -> Verdict<'a> {
    let Some(port) = port::find(dev, rcu) else {
        return Verdict::Accept(skb.into_inner());
    };
    let (segments, seg) = count(&port.to_guest, &skb);
    // Every frame fills the ring, offloaded or not: counted from attach.
    port.ring.handed(segments);
    match (port.snoop.engine(rcu), seg) {
        (Some(engine), Some(seg)) => snoop::to_guest(port, engine, skb, seg, dev, rcu),
        _ => Verdict::Accept(skb.into_inner()),
    }
}

/// Counts the frame, reading it once; returns its wire segments and its TCP
/// segment if it parses cleanly (what ack offload works on).
fn count(stats: &DirStats, skb: &SkBuff<'_>) -> (u32, Option<Segment>) {
    let mut buf = [0u8; snoop::HEADERS_MAX];
    let f = skb.peek(&mut buf);
    let is_tcp = frame::tcp_offset(f.protocol, f.headers).is_some();
    stats.count(f.segments, f.len + ETH_HLEN, is_tcp);
    let seg = is_tcp.then(|| tcp::parse(f.protocol, f.headers)).flatten();
    (f.segments, seg)
}
