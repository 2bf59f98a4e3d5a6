// SPDX-License-Identifier: GPL-2.0

//! A port device seen as a tap (drivers/net/tun.c): how full its receive
//! ring may be, and whether a frame sent to it reaches that ring as sent.
//!
//! `tun_net_xmit` puts a frame in a ring of `tx_queue_len` entries or drops
//! it, counting `tx_dropped`; the reader's copy counts `tx_packets`. The ring
//! gauge keeps the ring's fill below a limit. On the way there, a qdisc may
//! hold or drop frames by policy: only the kinds that drop only when full
//! (and, a tap's reader draining them at once, never in practice) pass.
//! Which kinds those are is decided by name under RTNL, when the port is
//! attached and on the device's events; the packet path compares addresses.

use crate::policy::snoop::RingGauge;
use crate::sys::netdev::{NetDevice, QdiscOpsRef};
use crate::sys::rcu::{self, Guard, RcuBox};
use crate::sys::rtnl::Rtnl;
use kernel::c_str;
use kernel::str::CStr;

/// Qdisc kinds that hand frames on in order and drop only when full.
const FIFO_KINDS: [&CStr; 4] = [
    c_str!("noqueue"),
    c_str!("pfifo_fast"),
    c_str!("pfifo"),
    c_str!("fq_codel"),
];

/// The qdisc kinds found on a tap with a FIFO path, held (their modules
/// pinned) so that their addresses keep naming them.
struct FifoPath {
    kinds: [Option<QdiscOpsRef>; FIFO_KINDS.len()],
}

impl FifoPath {
    /// The device's path, if it is a tap whose qdiscs are all FIFO kinds.
    fn of(dev: &NetDevice, rtnl: &Rtnl) -> Option<FifoPath> {
        if dev.link_kind(rtnl).map(CStr::as_bytes) != Some(b"tun") {
            return None;
        }
        let mut path = FifoPath {
            kinds: [None, None, None, None],
        };
        let rcu = rcu::read_lock();
        let fifo = dev.all_qdisc_ops(&rcu, |ops| {
            let Some(k) = FIFO_KINDS
                .iter()
                .position(|k| k.as_bytes() == ops.id().as_bytes())
            else {
                return false;
            };
            if path.kinds[k].is_none() {
                path.kinds[k] = ops.get_ref();
            }
            path.kinds[k].is_some()
        });
        fifo.then_some(path)
    }
}

/// A port device's receive ring and the way to it.
pub(crate) struct Tap {
    /// The ring's fill, as far as frames sent to it since attach and its
    /// counters tell. Frames queued before attach are not known: attach a
    /// tap before its guest runs (as the tap is made), or ring-margin must
    /// cover them.
    pub(crate) ring: RingGauge,
    /// Set when the device is a tap with a FIFO path.
    path: RcuBox<FifoPath>,
}

impl Tap {
    pub(crate) fn new(dev: &NetDevice, rtnl: &mut Rtnl) -> Tap {
        let tap = Tap {
            ring: RingGauge::new(0, dev.ring_out()),
            path: RcuBox::new(),
        };
        tap.refresh(dev, rtnl);
        tap
    }

    /// Decides again whether frames reach the ring as sent (the device or
    /// its qdiscs may have changed). Out of memory, they are taken not to:
    /// no early acks until the next refresh.
    pub(crate) fn refresh(&self, dev: &NetDevice, rtnl: &mut Rtnl) {
        let set = FifoPath::of(dev, rtnl).map(|path| self.path.set(path, rtnl));
        if !matches!(set, Some(Ok(()))) {
            self.path.clear(rtnl);
        }
    }

    /// Whether a frame sent to `dev` now reaches its ring as sent: a reader
    /// is attached (carrier), and each qdisc on the way is of a kind found
    /// FIFO when the path was last decided.
    pub(crate) fn reaches_ring(&self, dev: &NetDevice, rcu: &Guard) -> bool {
        let Some(path) = self.path.get(rcu) else {
            return false;
        };
        dev.carrier_ok()
            && dev.all_qdisc_ops(rcu, |ops| path.kinds.iter().flatten().any(|k| k.is(ops)))
    }
}
