// SPDX-License-Identifier: GPL-2.0

//! Piped connections (vPipe): who owns a guest's TCP connection while the
//! host pipes it, and what happens to each frame of it at the port.
//!
//! A pipe is keyed by the connection's 4-tuple ([`FlowKey`]) on one port.
//! Its owner is the guest (no pipe), the host's shadow socket
//! ([`State::Host`]), or nobody while one side hands the connection to the
//! other ([`State::Hold`]): then the frames toward the guest are held, to
//! be delivered to whoever owns it next, and neither side's frames reach
//! the peer, so the peer never sees an acknowledgement from a side whose
//! state is being dumped. A pipe that is gone passes frames as if it never
//! was (a reader may still see it for a moment).

pub use super::snoop::{AckSpec, FlowKey};
use super::tcp::{seq_max, Segment, ACK};

/// Frames toward the guest a pipe holds while it is handed over: a
/// window's worth of a fast sender for the few milliseconds a hand-over
/// takes. More are dropped (the peer sends them again).
pub const HOLD_MAX: usize = 256;

/// Who owns a piped connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Being handed over: frames toward the guest held, frames from either
    /// side dropped.
    Hold,
    /// The host's shadow socket: frames toward the guest go to it, its
    /// frames leave by the port as the guest's, the guest's are dropped.
    Host,
    /// Removed: frames pass as if there were no pipe.
    Gone,
}

/// What to do with a frame of a piped connection toward the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToGuest {
    /// On to the guest, as without a pipe.
    Pass,
    /// Keep it for whoever owns the connection next.
    Hold,
    /// To the shadow socket.
    Shadow,
    /// Drop it (the hold is full).
    Drop,
}

/// What to do with a frame of a piped connection from the guest, or from
/// the shadow socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromSide {
    /// On to the bridge (from the shadow: as the guest's).
    Pass,
    /// Drop it: that side does not own the connection.
    Drop,
}

/// A change of owner that is not allowed: a pipe that is gone stays gone,
/// and a state is changed to a different one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadChange;

impl State {
    /// A frame toward the guest, with `held` frames held already.
    pub fn to_guest(self, held: usize) -> ToGuest {
        match self {
            State::Hold if held < HOLD_MAX => ToGuest::Hold,
            State::Hold => ToGuest::Drop,
            State::Host => ToGuest::Shadow,
            State::Gone => ToGuest::Pass,
        }
    }

    /// A frame the guest sent.
    pub fn guest_sends(self) -> FromSide {
        match self {
            State::Gone => FromSide::Pass,
            State::Hold | State::Host => FromSide::Drop,
        }
    }

    /// A frame the shadow socket sent.
    pub fn shadow_sends(self) -> FromSide {
        match self {
            State::Host => FromSide::Pass,
            State::Hold | State::Gone => FromSide::Drop,
        }
    }

    /// The state after a change to `to`, and whether the held frames are
    /// then released: to the shadow socket when it takes the connection,
    /// to the guest when the pipe goes.
    pub fn change(self, to: State) -> Result<Release, BadChange> {
        match (self, to) {
            (State::Gone, _) => Err(BadChange),
            (from, to) if from == to => Err(BadChange),
            (_, State::Host) => Ok(Release::ToShadow),
            (_, State::Gone) => Ok(Release::ToGuest),
            (_, State::Hold) => Ok(Release::Keep),
        }
    }
}

/// Where the held frames go on a change of owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    Keep,
    ToShadow,
    ToGuest,
}

/// Why a pipe goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Given back by its owner (pipe-del, a hand-back): the shadow socket
    /// was frozen and dumped first, or never had the connection.
    Request,
    /// With its port or its shadow device: the owner (alive) answers the
    /// guest; a shadow socket that has the connection now is cut off.
    Device,
    /// Its owner's netlink socket closed: nobody will answer the guest.
    OwnerGone,
}

/// Where a piped connection's two byte streams stand, as far as the
/// frames the pipe saw tell: enough to reset both ends when the pipe goes
/// while the host has the connection. Then the shadow socket is cut off
/// and the guest's frozen socket is behind its peer: neither end would
/// hear from the other again, and a reset ends both cleanly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// The next byte of the guest's stream the peer expects: past the
    /// highest the shadow sent, or the peer's highest ack.
    peer_rcv: Option<u32>,
    /// Past the highest byte of its stream the peer sent.
    peer_snd: Option<u32>,
    /// The guest's next expected byte: the ack of its last frame (the
    /// window probe it sends as it freezes).
    guest_rcv: Option<u32>,
    /// Past the highest byte the guest sent.
    guest_snd: Option<u32>,
    /// The host has had the connection.
    host_had_it: bool,
}

fn later(at: &mut Option<u32>, seq: u32) {
    *at = Some(at.map_or(seq, |a| seq_max(a, seq)));
}

impl Ends {
    /// A frame toward the guest, from the peer.
    pub fn peer_sent(&mut self, seg: &Segment) {
        later(&mut self.peer_snd, seg.end_seq());
        if seg.has(ACK) {
            later(&mut self.peer_rcv, seg.ack);
        }
    }

    /// A frame the shadow socket sent toward the peer (it owns the
    /// connection).
    pub fn shadow_sent(&mut self, seg: &Segment) {
        later(&mut self.peer_rcv, seg.end_seq());
    }

    /// A frame the guest sent (dropped: it does not own the connection).
    pub fn guest_sent(&mut self, seg: &Segment) {
        later(&mut self.guest_snd, seg.end_seq());
        if seg.has(ACK) {
            self.guest_rcv = Some(seg.ack);
        }
    }

    /// The host took the connection.
    pub fn host_took_it(&mut self) {
        self.host_had_it = true;
    }

    /// The resets a pipe in `state` that goes for `why` sends: (to the
    /// peer, to the guest), each `None` when it sends none or that end's
    /// place is not known. Only a connection the host had, when nobody
    /// else will end it: cut off from its shadow socket (`Host` going
    /// with its device), or its owner gone before it gave the guest the
    /// state back. A RST is taken at exactly the next sequence number its
    /// receiver expects (or, with SACK, the right edge of what it holds):
    /// the highest the pipe saw, which is that once the frames in flight
    /// before it arrive.
    pub fn resets(&self, state: State, why: Removal) -> (Option<AckSpec>, Option<AckSpec>) {
        let cut_off = match why {
            Removal::Request => false,
            Removal::Device => state == State::Host,
            Removal::OwnerGone => self.host_had_it && state != State::Gone,
        };
        if !cut_off {
            return (None, None);
        }
        let reset = |seq: Option<u32>, ack: Option<u32>| {
            seq.map(|seq| AckSpec {
                seq,
                ack: ack.unwrap_or(0),
                window: 0,
                ts: None,
            })
        };
        (
            reset(self.peer_rcv, self.peer_snd),
            reset(self.guest_rcv, self.guest_snd),
        )
    }
}

/// Whether `mac` may be a pipe's guest or next-hop address: unicast and
/// not all zeros.
pub fn unicast_mac(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

/// A pipe's key from a request's addresses (4 or 16 bytes, the same
/// family) and ports (non-zero); `None` when they do not make one.
pub fn key(guest: &[u8], guest_port: u16, peer: &[u8], peer_port: u16) -> Option<FlowKey> {
    if guest.len() != peer.len() || (guest.len() != 4 && guest.len() != 16) {
        return None;
    }
    if guest_port == 0 || peer_port == 0 {
        return None;
    }
    let mut k = FlowKey {
        v6: guest.len() == 16,
        guest: [0; 16],
        peer: [0; 16],
        guest_port,
        peer_port,
    };
    k.guest[..guest.len()].copy_from_slice(guest);
    k.peer[..peer.len()].copy_from_slice(peer);
    Some(k)
}
