// SPDX-License-Identifier: GPL-2.0

//! Piped connections (vPipe) of a port: a guest's TCP connection the host
//! took over with a shadow socket. The shadow sockets sit behind a shadow
//! device, the host-side end of a veth pair whose other end is in a
//! namespace the host's agent keeps with the guest's address and MAC (and
//! no ARP: the MACs are set here). Frames of a piped connection toward the
//! guest go out of the shadow device instead of the port; frames of it
//! that the shadow device receives enter the bridge as the port's, with the
//! guest's MAC as source and the next hop's as destination. Who owns the
//! connection, and what each frame meets, is `policy::pipe`'s.

use crate::error::VaError;
use crate::policy::pipe::{
    unicast_mac, AckSpec, Ends, FlowKey, FromSide, Release, Removal, State, ToGuest,
};
use crate::policy::snoop::{build_reset, ACK_FRAME_MAX};
use crate::policy::tcp::Segment;
use crate::sys::bhlock::{new_bh_spinlock, BhSpinLock};
use crate::sys::netdev::{NetDevice, NetDeviceRef};
use crate::sys::netfilter::Verdict;
use crate::sys::rcu::{self, Guard, RcuBox};
use crate::sys::rtnl::Rtnl;
use crate::sys::skb::{self, Egress, HeldSkbs, SkBuff};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Pipes with an owner socket, in all namespaces: a netlink socket's
/// closing looks for its pipes (under RTNL) only while there are some.
static OWNED: AtomicUsize = AtomicUsize::new(0);

/// Whether any pipe has an owner socket.
pub(crate) fn any_owned() -> bool {
    OWNED.load(Relaxed) != 0
}

/// A pipe's counters (the spec's pipe attributes).
#[derive(Clone, Copy, Default)]
pub(crate) struct Stats {
    /// (frames, bytes) toward the guest sent to the shadow device.
    pub(crate) to_shadow: [u64; 2],
    /// (frames, bytes) from the shadow device into the bridge.
    pub(crate) from_shadow: [u64; 2],
    pub(crate) guest_dropped: u64,
    pub(crate) shadow_dropped: u64,
    pub(crate) hold_dropped: u64,
    /// Frames held now.
    pub(crate) held: u32,
}

/// The Ethernet addresses of a pipe's frames from the shadow device.
#[derive(Clone, Copy)]
pub(crate) struct Macs {
    pub(crate) guest: [u8; 6],
    /// The next hop toward the peer, as the guest sends to it.
    pub(crate) peer: [u8; 6],
}

struct Inner {
    state: State,
    /// Given with the pipe, or learnt from the guest's next frame of the
    /// connection (a window probe as it freezes the socket).
    macs: Option<Macs>,
    held: HeldSkbs,
    stats: Stats,
    ends: Ends,
    /// The device the peer's frames came in by: its resets leave by it.
    peer_iif: u32,
}

/// One piped connection.
#[pin_data]
pub(crate) struct Pipe {
    pub(crate) key: FlowKey,
    /// The netlink socket (port id) whose closing removes the pipe.
    pub(crate) owner: Option<u32>,
    /// Taken by the packet path for each frame of the connection, and by a
    /// change of owner, which sends the held frames under it: a frame that
    /// meets the new owner leaves after them.
    #[pin]
    inner: BhSpinLock<Inner>,
}

impl Pipe {
    /// Who owns the connection, its MACs if known, and the counters.
    pub(crate) fn view(&self) -> (State, Option<Macs>, Stats) {
        let g = self.inner.lock();
        (g.state, g.macs, g.stats)
    }

    /// Changes the owner to `to`, sending what was held to the new owner:
    /// out of `shadow`, or to the guest by the port the frames were
    /// leaving by (alive: the caller holds the port).
    fn change(&self, to: State, shadow: &NetDevice) -> Result<(), VaError> {
        let rcu = rcu::read_lock();
        let mut g = self.inner.lock();
        if to == State::Host && g.macs.is_none() {
            return Err(no_macs());
        }
        let release = g
            .state
            .change(to)
            .map_err(|_| VaError::new(EINVAL, c_str!("the pipe is in that state already")))?;
        g.state = to;
        if to == State::Host {
            g.ends.host_took_it();
        }
        if to == State::Gone && self.owner.is_some() {
            OWNED.fetch_sub(1, Relaxed);
        }
        if release == Release::Keep {
            return Ok(());
        }
        while let Some([len, _]) = g.held.front_tag() {
            let Some(skb) = g.held.pop_front() else {
                break;
            };
            g.stats.held -= 1;
            if release == Release::ToShadow {
                g.stats.to_shadow[0] += 1;
                g.stats.to_shadow[1] += u64::from(len);
                skb.transmit_to(shadow, &rcu);
            } else {
                skb.transmit(&rcu);
            }
        }
        Ok(())
    }

    /// Ends the pipe (unpublished: no new frame finds it), gone for
    /// `why`: its held frames go to the guest, and a connection cut off
    /// from both its sides is reset at both ends: toward the guest by
    /// `port` unless `!guest` (its device is going away), toward the peer
    /// by the device its frames came in by. Whether it was reset.
    fn end(&self, why: Removal, shadow: &NetDevice, port: &NetDevice, guest: bool) -> bool {
        let (resets, macs, iif) = {
            let g = self.inner.lock();
            (g.ends.resets(g.state, why), g.macs, g.peer_iif)
        };
        // Cannot fail: a pipe ends once, after it is unpublished.
        let _ = self.change(State::Gone, shadow);
        let (Some(macs), (Some(_), _) | (_, Some(_))) = (macs, resets) else {
            return false;
        };
        let rcu = rcu::read_lock();
        let send = |spec: Option<AckSpec>, toward_guest: bool, out: Option<&NetDevice>| {
            let (Some(spec), Some(out)) = (spec, out) else {
                return;
            };
            let mut frame = [0u8; ACK_FRAME_MAX];
            let len = build_reset(
                &self.key,
                macs.guest,
                macs.peer,
                toward_guest,
                &spec,
                &mut frame,
            );
            skb::xmit_frame(out, &frame[..len], &rcu);
        };
        send(resets.0, false, port.sibling(iif, &rcu));
        send(resets.1, true, guest.then_some(port));
        true
    }
}

/// A port's pipes and their shadow device.
struct Table {
    shadow: NetDeviceRef,
    pipes: KVec<Arc<Pipe>>,
}

impl Table {
    fn find(&self, key: &FlowKey) -> Option<&Arc<Pipe>> {
        self.pipes.iter().find(|p| p.key == *key)
    }
}

/// The pipes of a port, published for the packet path under RTNL.
#[derive(Default)]
pub(crate) struct PortPipes {
    table: RcuBox<Table>,
}

impl PortPipes {
    /// Whether the port has pipes (a hint: checked again under RCU).
    pub(crate) fn is_on(&self) -> bool {
        self.table.is_set()
    }

    /// A frame of `len` bytes toward the guest, the segment `seg`: given
    /// back unless it is of a piped connection.
    pub(crate) fn to_guest<'a>(
        &self,
        skb: Egress<'a>,
        seg: &Segment,
        len: u32,
        rcu: &Guard,
    ) -> Result<Verdict<'a>, Egress<'a>> {
        let Some(t) = self.table.get(rcu) else {
            return Err(skb);
        };
        let Some(pipe) = t.find(&FlowKey::to_guest(seg)) else {
            return Err(skb);
        };
        let mut g = pipe.inner.lock();
        g.ends.peer_sent(seg);
        g.peer_iif = skb.skb().iif();
        match g.state.to_guest(g.stats.held as usize) {
            ToGuest::Pass => Err(skb),
            ToGuest::Hold => {
                let (held, sent) = skb.keep();
                g.held.push_back(held, [len, 0]);
                g.stats.held += 1;
                Ok(Verdict::Stolen(sent))
            }
            ToGuest::Shadow => match skb.plain_path() {
                Some(plain) => {
                    g.stats.to_shadow[0] += 1;
                    g.stats.to_shadow[1] += u64::from(len);
                    drop(g);
                    Ok(Verdict::Stolen(skb.transmit_to(&t.shadow, plain, rcu)))
                }
                None => {
                    g.stats.hold_dropped += 1;
                    Ok(Verdict::Drop(skb.into_inner()))
                }
            },
            ToGuest::Drop => {
                g.stats.hold_dropped += 1;
                Ok(Verdict::Drop(skb.into_inner()))
            }
        }
    }

    /// Whether a segment from the guest is to be dropped: its connection
    /// is piped, and the guest does not own it. A pipe without MACs learns
    /// them from it (`eth`, its Ethernet header).
    pub(crate) fn drops_from_guest(
        &self,
        seg: &Segment,
        eth: impl FnOnce() -> Option<[u8; 14]>,
        rcu: &Guard,
    ) -> bool {
        let Some(pipe) = self
            .table
            .get(rcu)
            .and_then(|t| t.find(&FlowKey::from_guest(seg)))
        else {
            return false;
        };
        let mut g = pipe.inner.lock();
        let drop = g.state.guest_sends() == FromSide::Drop;
        if drop {
            g.stats.guest_dropped += 1;
            g.ends.guest_sent(seg);
            if g.macs.is_none() {
                g.macs = eth().and_then(|h| macs_of(&h));
            }
        }
        drop
    }

    /// A frame of `len` bytes the shadow device received, the segment
    /// `seg` if it is one: into the bridge as `port`'s when its connection
    /// is piped and the shadow owns it; anything else is dropped.
    pub(crate) fn shadow_sent<'a>(
        &self,
        skb: SkBuff<'a>,
        seg: Option<&Segment>,
        len: u32,
        port: &NetDevice,
        rcu: &Guard,
    ) -> Verdict<'a> {
        let pipe = self
            .table
            .get(rcu)
            .zip(seg)
            .and_then(|(t, s)| t.find(&FlowKey::from_guest(s)));
        let Some(pipe) = pipe else {
            return Verdict::Drop(skb);
        };
        let mut g = pipe.inner.lock();
        let macs = match (g.state.shadow_sends(), g.macs) {
            (FromSide::Pass, Some(macs)) => macs,
            _ => {
                g.stats.shadow_dropped += 1;
                return Verdict::Drop(skb);
            }
        };
        g.stats.from_shadow[0] += 1;
        g.stats.from_shadow[1] += u64::from(len);
        if let Some(seg) = seg {
            g.ends.shadow_sent(seg);
        }
        drop(g);
        Verdict::Stolen(skb.inject_as(port, &macs.peer, &macs.guest, rcu))
    }

    /// The shadow device, while the port has pipes.
    pub(crate) fn shadow<'a>(&'a self, rtnl: &'a Rtnl) -> Option<&'a NetDevice> {
        self.table.get_locked(rtnl).map(|t| &*t.shadow)
    }

    /// The pipes from the `from`th on, for a dump.
    pub(crate) fn iter_from<'a>(
        &'a self,
        from: usize,
        rtnl: &'a Rtnl,
    ) -> impl Iterator<Item = &'a Arc<Pipe>> {
        self.table
            .get_locked(rtnl)
            .into_iter()
            .flat_map(move |t| t.pipes.iter().skip(from))
    }

    /// Pipes the connection `key` through `shadow`, owned by `state`, its
    /// frames from the shadow with `macs` (learnt later if `None`: then it
    /// starts in hold); removed when the netlink socket `owner` closes.
    pub(crate) fn add(
        &self,
        shadow: &NetDevice,
        key: FlowKey,
        macs: Option<Macs>,
        state: State,
        owner: Option<u32>,
        rtnl: &mut Rtnl,
    ) -> Result<(), VaError> {
        if state == State::Host && macs.is_none() {
            return Err(no_macs());
        }
        let old = self.table.get_locked(rtnl);
        if let Some(t) = old {
            if !t.shadow.is(shadow) {
                return Err(VaError::new(
                    EBUSY,
                    c_str!("the port's pipes use another shadow device"),
                ));
            }
            if t.find(&key).is_some() {
                return Err(VaError::new(
                    EEXIST,
                    c_str!("the connection is piped already"),
                ));
            }
        }
        let mut ends = Ends::default();
        if state == State::Host {
            ends.host_took_it();
        }
        let pipe = Arc::pin_init(
            pin_init!(Pipe {
                key,
                owner,
                inner <- new_bh_spinlock!(
                    Inner {
                        state,
                        macs,
                        held: HeldSkbs::new(),
                        stats: Stats::default(),
                        ends,
                        peer_iif: 0,
                    },
                    "vassist_pipe"
                ),
            }),
            GFP_KERNEL,
        )?;
        let n = old.map_or(0, |t| t.pipes.len()) + 1;
        let mut pipes = KVec::with_capacity(n, GFP_KERNEL)?;
        for p in old.iter().flat_map(|t| t.pipes.iter()) {
            pipes.push(p.clone(), GFP_KERNEL)?;
        }
        pipes.push(pipe, GFP_KERNEL)?;
        let shadow = shadow.hold();
        self.table.set(Table { shadow, pipes }, rtnl)?;
        if owner.is_some() {
            OWNED.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    /// Changes who owns the connection `key`.
    pub(crate) fn set(&self, key: &FlowKey, state: State, rtnl: &Rtnl) -> Result<(), VaError> {
        let t = self.table.get_locked(rtnl).ok_or(not_piped())?;
        t.find(key).ok_or(not_piped())?.change(state, &t.shadow)
    }

    /// Gives the connection `key` back to the guest (`port`'s).
    pub(crate) fn del(
        &self,
        key: &FlowKey,
        port: &NetDevice,
        rtnl: &mut Rtnl,
    ) -> Result<(), VaError> {
        match self.remove(|p| p.key == *key, Removal::Request, port, rtnl, |_, _| {})? {
            0 => Err(not_piped()),
            _ => Ok(()),
        }
    }

    /// Removes the pipes the netlink socket `owner` added with itself as
    /// their owner (it closed); `gone` is told of each, and whether it was
    /// reset.
    pub(crate) fn owner_gone(
        &self,
        owner: u32,
        port: &NetDevice,
        rtnl: &mut Rtnl,
        gone: impl FnMut(&FlowKey, bool),
    ) -> Result<(), VaError> {
        let which = |p: &Pipe| p.owner == Some(owner);
        self.remove(which, Removal::OwnerGone, port, rtnl, gone)
            .map(drop)
    }

    /// Removes the pipes `which` picks (see [`Pipe::end`]); `gone` is told
    /// of each. How many went.
    fn remove(
        &self,
        which: impl Fn(&Pipe) -> bool,
        why: Removal,
        port: &NetDevice,
        rtnl: &mut Rtnl,
        mut gone: impl FnMut(&FlowKey, bool),
    ) -> Result<usize, VaError> {
        let Some(t) = self.table.get_locked(rtnl) else {
            return Ok(0);
        };
        let n = t.pipes.iter().filter(|p| which(p)).count();
        if n == t.pipes.len() {
            self.stop(why, port, true, rtnl, gone);
            return Ok(n);
        }
        if n == 0 {
            return Ok(0);
        }
        let mut ended = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut kept = KVec::with_capacity(t.pipes.len() - n, GFP_KERNEL)?;
        for p in t.pipes.iter() {
            if which(p) {
                ended.push(p.clone(), GFP_KERNEL)?;
            } else {
                kept.push(p.clone(), GFP_KERNEL)?;
            }
        }
        let shadow = t.shadow.hold();
        // Unpublished first: a frame that still finds one meets `Gone` and
        // passes, after the held ones.
        self.table.set(
            Table {
                shadow: shadow.hold(),
                pipes: kept,
            },
            rtnl,
        )?;
        for p in ended.iter() {
            gone(&p.key, p.end(why, &shadow, port, true));
        }
        Ok(n)
    }

    /// Gives every connection back to `port`'s guest, gone for `why` (the
    /// port is detached, or its shadow device went away): see
    /// [`Pipe::end`]; `gone` is told of each.
    pub(crate) fn stop(
        &self,
        why: Removal,
        port: &NetDevice,
        guest: bool,
        rtnl: &mut Rtnl,
        mut gone: impl FnMut(&FlowKey, bool),
    ) {
        self.table.clear_then(rtnl, |t| {
            for p in t.pipes.iter() {
                gone(&p.key, p.end(why, &t.shadow, port, guest));
            }
        });
    }
}

/// The MACs of a frame from the guest: (source, destination), when both
/// are unicast.
fn macs_of(eth: &[u8; 14]) -> Option<Macs> {
    let mut m = Macs {
        guest: [0; 6],
        peer: [0; 6],
    };
    m.peer.copy_from_slice(&eth[..6]);
    m.guest.copy_from_slice(&eth[6..12]);
    (unicast_mac(&m.guest) && unicast_mac(&m.peer)).then_some(m)
}

fn no_macs() -> VaError {
    VaError::new(
        EINVAL,
        c_str!("the pipe's MACs are not known: give them, or let the guest send a frame of the connection first"),
    )
}

fn not_piped() -> VaError {
    VaError::new(ENOENT, c_str!("the connection is not piped on this port"))
}
