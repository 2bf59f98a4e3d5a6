// SPDX-License-Identifier: GPL-2.0

//! Ack offload (vSnoop, Kangarlou et al., SC'10, sections III and IV): the
//! per-flow state machine and what to do with each segment. The kernel side
//! only moves packets; every rule is here.
//!
//! A flow is seen from the guest: the sender's segments go *to the guest*,
//! the guest's ACKs come *from the guest*. State, in the paper's names:
//! NEXT_SEQ (next in-order byte the host expects from the sender), VM_SEQ
//! (highest ack the guest sent), RCV_WIN (window the host advertises), and
//! FL_MODE (Active, or offline: UnexpectedSeq / NoBuf).
//!
//! The safety rule: the host acknowledges a byte only if the guest will
//! receive it: in order (seq == NEXT_SEQ, which never passes what the guest
//! will accept), with room in the guest's receive ring, and kept by the
//! host (the delivery buffer) until the guest's own ACK covers it. A frame
//! can still be lost on the way in (a reader that stops and purges its
//! queue, a ring the device drops from): the guest's ACKs then stall below
//! the host's point, and the host re-sends from the buffer to the guest,
//! never to the sender. Early acks stay inside the guest's own window;
//! with window growth (the paper's rule) they go past it, and the bytes
//! past it are *parked*: held, not handed to the guest (it would drop
//! them), and handed as its ACKs open its window.
//! The sender never sees the ack point move back: the host's acks and the
//! guest ACKs it lets through never go below the highest ack the host
//! already sent.

use super::tcp::{self, before, seq_max, seq_min, Segment, ACK, FIN, RST, SYN, URG};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Per-port parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Upper bound of the window advertised to senders (bytes), and of
    /// what a flow's delivery buffer holds.
    pub buf_size: u32,
    /// The window offered to the sender grows past the guest's own edge
    /// (the paper's rule, section III-C), up to what the flow's delivery
    /// buffer can hold: bytes beyond the guest's edge are parked there and
    /// handed to it as its window opens.
    pub grow: bool,
}

/// Why a flow went offline (per-port statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offline {
    /// A segment not at NEXT_SEQ (loss, reordering).
    UnexpectedSeq,
    /// The guest's receive ring had no room.
    NoBuf,
    /// The port's delivery buffers hold their cap, or memory for one more
    /// frame was short.
    BufferFull,
    /// Beyond the guest's advertised window.
    Window,
    /// SYN, FIN, RST or URG.
    Flags,
}

/// FL_MODE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Active,
    Offline(Offline),
    /// A FIN was seen: no more early acks.
    Closing,
}

/// Timestamps (RFC 7323) as negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ts {
    Off,
    /// Latest TSval the guest sent; early acks carry it (never a newer
    /// one, so the guest's clock is not moved forward behind its back, and
    /// never an older one).
    On {
        guest_tsval: u32,
    },
}

/// Whether a segment toward the guest can be acked early, as the port sees
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Room {
    /// The ring has room and the port's delivery buffer can hold it.
    Free,
    /// As `Free`, and the guest runs in turns: it was seen away
    /// recently. Growth invites the sender past its window.
    Scheduled,
    /// As `Scheduled`, and the guest is away now: it has not acked bytes
    /// handed to it for a while ([`GUEST_AWAY_MS`]), so it is not running,
    /// and takes what it is handed in one batch at its next turn.
    Away,
    /// The guest's receive ring is (nearly) full: no segment is handed
    /// (one that growth parks is kept instead).
    RingFull,
    /// The segment gets no early ack whatever the flow's state: the flow
    /// only follows it.
    NoAck,
    /// The port's delivery buffers hold their cap.
    HeldFull,
}

/// What the host re-sends to the guest from a flow's delivery buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resend {
    #[default]
    Nothing,
    /// The segment at the guest's ack point (it signalled a hole).
    Head,
    /// The held segments with bytes in `from..to` that are not wholly
    /// inside one of the guest's SACK blocks `sacked` (the first
    /// `sacks`): what it lacks below data it has.
    Holes {
        from: u32,
        to: u32,
        sacked: [(u32, u32); 4],
        sacks: u8,
    },
    /// The parked segments from `from` (the hand-off point) that start
    /// before `to` (the guest's window edge), in order: they are handed to
    /// the guest now, and the flow told where they end
    /// ([`Flow::handed_to`]).
    Release { from: u32, to: u32 },
}

impl Resend {
    /// The held segments with bytes in `from..to`, no SACK block known.
    pub const fn range(from: u32, to: u32) -> Resend {
        Resend::Holes {
            from,
            to,
            sacked: [(0, 0); 4],
            sacks: 0,
        }
    }
}

/// Duplicate ACKs of the guest, below the host's ack point, that make the
/// host re-send the segment at the guest's ack (the guest had later
/// segments, so one went missing on the way in). Two, not TCP's three:
/// the way into a guest does not reorder.
pub const RESEND_DUPACKS: u8 = 2;

/// A guest that has sent nothing on a flow for this long (ms) while bytes
/// handed to it wait for its ACK is taken not to be running
/// ([`Room::Away`]): longer than a running guest's ACKs of data keep it
/// quiet, shorter than a scheduler's slice.
pub const GUEST_AWAY_MS: u64 = 20;
/// A guest seen away within this long (ms) runs in turns
/// ([`Room::Scheduled`]).
pub const SCHEDULED_MS: u64 = 1000;

/// The period (ms) of a port's re-send timer: coarse, as the guest's own
/// delayed ACKs (up to 40 ms in Linux) and scheduling turns (tens of ms)
/// must not look like losses.
pub const TICK_MS: u32 = 100;

/// Ticks of the port's coarse re-send timer without progress of the
/// guest's ack, while the host holds bytes for it, before all held bytes
/// are re-sent; doubled after each such re-send without progress, up to
/// `RESEND_TICKS << RESEND_BACKOFF_MAX`.
pub const RESEND_TICKS: u16 = 2;
pub const RESEND_BACKOFF_MAX: u8 = 4;
/// The backoff cap while offload drains ([`Flow::drain_tick`]): the guest
/// has a bounded time left to take what it was acked for.
pub const DRAIN_BACKOFF_MAX: u8 = 1;

/// A flow's delivery buffer state (the segments themselves are the
/// kernel's: it holds a reference to each it acked early).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Delivery {
    /// Duplicate ACKs at the guest's current ack point.
    dupacks: u8,
    /// Timer ticks since the guest's ack last moved (or the last re-send).
    ticks: u16,
    backoff: u8,
    /// The guest's last window field: an ACK that changes it is a window
    /// update, not a duplicate.
    guest_window: u16,
    /// Recovering from a hole: the host's ack point when it began. What
    /// was acked later was handed after the re-sends and is not lost.
    recover: Option<u32>,
    /// Where this recovery's re-sends end: holes below it were re-sent
    /// already (the timer re-sends them if they are lost again).
    resent_to: u32,
    /// A segment handed to fill a hole below data that went to the guest
    /// before it (the sender's retransmission of one the ring dropped):
    /// the end of that data. The guest's duplicate ACKs show the fill
    /// lost only if they SACK data beyond it; the others left the guest
    /// before the fill could reach it.
    fill_top: Option<u32>,
}

/// What to send back to the sender for the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSpec {
    pub seq: u32,
    pub ack: u32,
    /// Raw window field (scaled by the guest's window scale).
    pub window: u16,
    /// (TSval, TSecr)
    pub ts: Option<(u32, u32)>,
}

/// Decision for a segment toward the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToGuest {
    /// Forward it untouched.
    Pass,
    /// Forward it and acknowledge it now.
    PassAndAck(AckSpec),
    /// Keep it (parked) and acknowledge it now: it goes to the guest when
    /// its window opens to it ([`Resend::Release`]).
    ParkAndAck(AckSpec),
}

/// Decision for a segment from the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromGuest {
    Pass,
    /// A redundant pure ACK.
    Drop,
    /// Forward with these fields rewritten (checksum to be fixed), and
    /// its SACK blocks clipped to start at `sack_from` (the ack it was
    /// raised to: a block below the ack is a D-SACK to the sender).
    Rewrite {
        ack: Option<u32>,
        window: Option<u16>,
        sack_from: Option<u32>,
    },
}

/// One flow's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// NEXT_SEQ.
    next_seq: u32,
    /// Highest ack the sender has seen: the host's early acks and the
    /// guest's ACKs that were let through.
    acked: u32,
    /// VM_SEQ.
    vm_ack: u32,
    /// Right edge of the guest's own advertised window (never shrinks).
    vm_right: u32,
    /// Right edge of the window the sender last heard (host's acks and
    /// the guest's segments let through): a guest ACK that moves it is a
    /// window update the sender needs, even when its ack is behind.
    told_right: u32,
    /// RCV_WIN (bytes).
    rcv_win: u32,
    /// Bytes up to here went to the guest's queue; from here to `acked`
    /// they are parked (acked early past the guest's window edge).
    handed: u32,
    /// End of the highest data that went toward the guest inside its
    /// window (what it may hold out of order and SACK).
    sent_top: u32,
    /// Growth hands the guest more than its window: a Linux guest takes
    /// more than its last window in one batch, as its window grows while
    /// it acks (receive-side slow start, 2 MSS a segment), as far as its
    /// buffer holds. A window's worth past its edge while it runs, all
    /// while it is away ([`Room::Away`]). Cleared when it drops some: from
    /// then on it is handed no further than its window.
    ahead: bool,
    /// The guest ran in turns ([`Room::Scheduled`]) at the last segment:
    /// growth invites the sender past its window only then (a guest that
    /// keeps running updates its window as fast as the host acks).
    scheduled: bool,
    /// Next sequence number of the guest (the seq of the host's acks).
    guest_seq: u32,
    /// The sender's latest ack: where it expects the guest's next byte
    /// (the seq of a reset it accepts).
    peer_ack: u32,
    /// The guest's window scale; `None` when the flow was picked up
    /// mid-connection: windows are then taken unscaled (the smallest
    /// reading) and echoed, never grown.
    wscale: Option<u8>,
    /// Sender's segment size, for the 2*MSS growth.
    mss: u32,
    ts: Ts,
    mode: Mode,
    /// Guest sent SYN; waiting for the sender's SYN-ACK to know what was
    /// negotiated.
    handshake: Option<SynInfo>,
    /// FINs seen: [`FIN_TO_GUEST`] | [`FIN_FROM_GUEST`].
    fins: u8,
    delivery: Delivery,
}

const FIN_TO_GUEST: u8 = 1;
const FIN_FROM_GUEST: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SynInfo {
    /// The guest's SYN window (never scaled).
    window: u32,
    wscale: Option<u8>,
    ts: bool,
    mss: u32,
}

const DEFAULT_MSS: u32 = 536;

/// What [`Flow::to_guest`] / [`Flow::from_guest`] also report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// The flow went offline for this reason now.
    pub offline: Option<Offline>,
    /// What to re-send to the guest from the delivery buffer.
    pub resend: Resend,
    /// The flow ended (RST, or the last ACK after FINs both ways): remove
    /// it.
    pub remove: bool,
    /// A window advertised by the guest was capped to buf_size.
    pub window_capped: bool,
}

impl Flow {
    /// A flow from the guest's SYN (guest is the client) or SYN-ACK (guest
    /// is the server); `None` for other segments.
    pub fn from_guest_syn(seg: &Segment, p: &Params) -> Option<Flow> {
        if !seg.has(SYN) || seg.has(RST) {
            return None;
        }
        let info = SynInfo {
            window: u32::from(seg.window),
            wscale: seg.opts.wscale,
            ts: seg.opts.ts.is_some(),
            mss: seg.opts.mss.map_or(DEFAULT_MSS, u32::from),
        };
        // SYN windows are never scaled.
        let mut f = Flow::at(seg, p, info.mss, Mode::Offline(Offline::Flags));
        if seg.has(ACK) {
            // SYN-ACK: it carries WS/TS only if the SYN did (RFC 7323).
            f.wscale = Some(info.wscale.unwrap_or(0));
            f.ts = ts_state(info.ts, seg);
        } else {
            f.handshake = Some(info);
        }
        Some(f)
    }

    /// A flow picked up mid-connection from a guest ACK; `None` for other
    /// segments.
    pub fn from_guest_ack(seg: &Segment, p: &Params) -> Option<Flow> {
        if !seg.has(ACK) || seg.has(SYN | RST | FIN) {
            return None;
        }
        let mut f = Flow::at(seg, p, DEFAULT_MSS, Mode::Active);
        // Negotiated timestamps are on every segment but RST.
        f.ts = ts_state(seg.opts.ts.is_some(), seg);
        Some(f)
    }

    /// A flow whose guest has acked up to `seg.ack` with `seg.window`
    /// (read unscaled) and sends from `seg.end_seq()`.
    fn at(seg: &Segment, p: &Params, mss: u32, mode: Mode) -> Flow {
        Flow {
            next_seq: seg.ack,
            acked: seg.ack,
            vm_ack: seg.ack,
            vm_right: seg.ack.wrapping_add(u32::from(seg.window)),
            told_right: seg.ack.wrapping_add(u32::from(seg.window)),
            rcv_win: u32::from(seg.window).min(p.buf_size),
            handed: seg.ack,
            sent_top: seg.ack,
            ahead: true,
            scheduled: false,
            guest_seq: seg.end_seq(),
            peer_ack: seg.seq,
            wscale: None,
            mss,
            ts: Ts::Off,
            mode,
            handshake: None,
            fins: 0,
            delivery: Delivery {
                guest_window: seg.window,
                ..Delivery::default()
            },
        }
    }

    /// Notes a FIN going `dir`, and the end of the flow at the first
    /// segment without FIN after FINs both ways (the last ACK).
    fn closing(&mut self, seg: &Segment, dir: u8, ev: &mut Events) {
        if seg.has(FIN) {
            self.fins |= dir;
            self.mode = Mode::Closing;
        } else if self.fins == FIN_TO_GUEST | FIN_FROM_GUEST {
            ev.remove = true;
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn go_offline(&mut self, why: Offline, ev: &mut Events) {
        if self.mode != Mode::Offline(why) {
            ev.offline = Some(why);
        }
        self.mode = Mode::Offline(why);
    }

    /// Window field for `bytes`, in the guest's scale.
    fn encode(&self, bytes: u32) -> u16 {
        let shift = self.wscale.unwrap_or(0);
        (bytes >> shift).min(0xffff) as u16
    }

    /// Bytes a window field of the guest stands for (unscaled when the
    /// scale is unknown: the smallest reading).
    fn decode(&self, raw: u16) -> u32 {
        u32::from(raw) << self.wscale.unwrap_or(0)
    }

    /// Bytes acked early that the guest has not acked yet: the host holds
    /// them, from [`Flow::held_from`] on.
    pub fn held(&self) -> u32 {
        if before(self.vm_ack, self.acked) {
            self.acked.wrapping_sub(self.vm_ack)
        } else {
            0
        }
    }

    /// Where the held bytes start: the guest's ack. Held segments that end
    /// at or before it are the guest's and can be let go.
    pub fn held_from(&self) -> u32 {
        self.vm_ack
    }

    /// Held bytes not handed to the guest yet (parked past its window).
    pub fn parked(&self) -> u32 {
        if before(self.handed, self.acked) {
            self.acked.wrapping_sub(self.handed)
        } else {
            0
        }
    }

    /// Notes that the parked segments up to `end` went to the guest's
    /// queue ([`Resend::Release`]).
    pub fn handed_to(&mut self, end: u32) {
        if before(self.handed, end) && !before(self.acked, end) {
            self.handed = end;
        }
    }

    /// Where the guest is handed bytes up to: its window edge, and a
    /// window beyond while it takes that ([`Flow::ahead`]).
    fn hand_edge(&self) -> u32 {
        if self.ahead {
            let window = self.vm_right.wrapping_sub(self.vm_ack);
            self.vm_right.wrapping_add(window)
        } else {
            self.vm_right
        }
    }

    /// The parked bytes the guest's window takes now, if any.
    fn release(&self) -> Resend {
        let to = self.hand_edge();
        if before(self.handed, self.acked) && before(self.handed, to) {
            Resend::Release {
                from: self.handed,
                to,
            }
        } else {
            Resend::Nothing
        }
    }

    /// The guest dropped what it was handed past its window edge: all it
    /// has not acked is parked again, handed as its window takes it, and
    /// never again ahead of its window.
    fn overshot(&mut self) -> Resend {
        self.ahead = false;
        self.handed = self.vm_ack;
        self.delivery.recover = None;
        self.release()
    }

    /// The resets that end the flow when bytes acked early cannot reach
    /// the guest: (to the sender, to the guest), each at the sequence
    /// number its receiver expects as far as the host saw (the sender's
    /// latest ack; the guest's). A receiver that expects another one
    /// answers with a challenge ACK (RFC 5961), which the end already
    /// reset answers with an exact reset.
    pub fn resets(&self) -> (AckSpec, AckSpec) {
        let reset = |seq, ack| AckSpec {
            seq,
            ack,
            window: 0,
            ts: None,
        };
        (
            reset(self.peer_ack, self.acked),
            reset(self.vm_ack, self.peer_ack),
        )
    }

    /// A tick of the port's re-send timer: parked bytes the guest's window
    /// takes are handed (its queue had no room when the window opened);
    /// what was handed is re-sent when the guest's ack has not moved for
    /// a while. Parked bytes beyond its window wait for it.
    pub fn tick(&mut self) -> Resend {
        let (held, from, handed) = (self.held(), self.vm_ack, self.handed);
        let release = self.release();
        let d = &mut self.delivery;
        if held == 0 {
            *d = Delivery {
                guest_window: d.guest_window,
                ..Delivery::default()
            };
            return Resend::Nothing;
        }
        if release != Resend::Nothing {
            return release;
        }
        if !before(from, handed) {
            // It has all it was handed; its window is closed to the rest.
            d.ticks = 0;
            return Resend::Nothing;
        }
        d.ticks = d.ticks.saturating_add(1);
        if d.ticks < RESEND_TICKS << d.backoff {
            return Resend::Nothing;
        }
        d.ticks = 0;
        d.backoff = (d.backoff + 1).min(RESEND_BACKOFF_MAX);
        if before(self.vm_right, handed) {
            return self.overshot();
        }
        let d = &mut self.delivery;
        d.recover = Some(handed);
        d.resent_to = handed;
        Resend::range(from, handed)
    }

    /// A tick while offload drains: as [`Flow::tick`], backing off no
    /// further than [`DRAIN_BACKOFF_MAX`].
    pub fn drain_tick(&mut self) -> Resend {
        self.delivery.backoff = self.delivery.backoff.min(DRAIN_BACKOFF_MAX);
        self.tick()
    }

    /// Notes a guest ACK for the delivery buffer: a duplicate that shows a
    /// hole in what was handed starts a recovery; while recovering, an
    /// ACK shows the holes not re-sent yet; one at the point where it
    /// began ends it. Otherwise, parked bytes its window now takes go.
    fn guest_acked(&mut self, seg: &Segment, before_ack: u32, pure: bool) -> Resend {
        let held = self.held() != 0;
        let (vm_ack, handed) = (self.vm_ack, self.handed);
        let release = self.release();
        let d = &mut self.delivery;
        // A D-SACK (a first block below the ack, RFC 2883) answers a
        // duplicate the guest got, often one re-sent here: not a hole.
        let blocks = seg.opts.sack_blocks();
        let dsack = blocks.first().is_some_and(|b| before(b.0, seg.ack));
        if d.fill_top.is_some_and(|t| !before(vm_ack, t)) {
            d.fill_top = None;
        }
        let after_fill = match d.fill_top {
            Some(t) => blocks.iter().any(|b| before(t, b.1)),
            None => true,
        };
        let dup = held
            && pure
            && !dsack
            && after_fill
            && seg.ack == before_ack
            && seg.window == d.guest_window;
        d.guest_window = seg.window;
        if !held {
            *d = Delivery {
                guest_window: seg.window,
                ..Delivery::default()
            };
            return Resend::Nothing;
        }
        if before(before_ack, vm_ack) {
            d.dupacks = 0;
            d.ticks = 0;
            d.backoff = 0;
            match d.recover {
                Some(r) if before(vm_ack, r) => {}
                _ => {
                    d.recover = None;
                    return release;
                }
            }
        } else {
            // At the hand-off point nothing handed is missing.
            if !dup || !before(vm_ack, handed) {
                return release;
            }
            d.dupacks = d.dupacks.saturating_add(1);
            if d.dupacks != RESEND_DUPACKS {
                return Resend::Nothing;
            }
            // The guest got frames handed after anything re-sent so far,
            // and still lacks its ack's segment: fill holes from there;
            // without SACK blocks, handed past its window edge, it dropped
            // them all.
            d.ticks = 0;
            d.recover = Some(d.recover.unwrap_or(handed));
            d.resent_to = vm_ack;
            if blocks.is_empty() && before(self.vm_right, handed) {
                return self.overshot();
            }
        }
        // What the guest lacks below data it has (its SACK blocks), not
        // re-sent yet; without blocks, the segment at its ack once the
        // last re-send got in (NewReno's partial ack).
        let top = blocks
            .iter()
            .map(|b| b.1)
            .filter(|&e| before(vm_ack, e))
            .fold(None, |t: Option<u32>, e| {
                Some(t.map_or(e, |t| seq_max(t, e)))
            });
        let from = seq_max(vm_ack, d.resent_to);
        let (to, sacked, sacks) = match top {
            Some(t) => (seq_min(t, handed), seg.opts.sack, seg.opts.sacks),
            None if !before(vm_ack, d.resent_to) => {
                d.resent_to = vm_ack.wrapping_add(1);
                return Resend::Head;
            }
            None => return Resend::Nothing,
        };
        if !before(from, to) {
            return Resend::Nothing;
        }
        d.resent_to = to;
        Resend::Holes {
            from,
            to,
            sacked,
            sacks,
        }
    }

    /// A segment of the sender on its way to the guest. `room`: whether the
    /// guest's receive ring and the port's delivery buffers can take it.
    // "to"/"from" name the direction, as the paper does, not a conversion.
    #[allow(clippy::wrong_self_convention)]
    pub fn to_guest(&mut self, seg: &Segment, room: Room, p: &Params) -> (ToGuest, Events) {
        let mut ev = Events::default();
        if seg.has(RST) {
            ev.remove = true;
            return (ToGuest::Pass, ev);
        }
        if let Some(syn) = self.handshake {
            if seg.has(SYN) && seg.has(ACK) {
                // The sender's SYN-ACK settles what was negotiated.
                self.handshake = None;
                self.wscale = Some(if seg.opts.wscale.is_some() {
                    syn.wscale.unwrap_or(0)
                } else {
                    0
                });
                self.ts = if syn.ts && seg.opts.ts.is_some() {
                    self.ts_or(seg)
                } else {
                    Ts::Off
                };
                self.next_seq = seg.seq.wrapping_add(1);
                self.acked = self.next_seq;
                self.vm_ack = self.next_seq;
                self.vm_right = self.next_seq.wrapping_add(syn.window);
                self.told_right = self.vm_right;
                self.rcv_win = syn.window.min(p.buf_size);
                self.handed = self.next_seq;
                self.sent_top = self.next_seq;
                self.mss = seg.opts.mss.map_or(syn.mss, |m| u32::from(m).min(syn.mss));
            }
            return (ToGuest::Pass, ev);
        }
        if seg.has(SYN | URG) {
            self.go_offline(Offline::Flags, &mut ev);
            return (ToGuest::Pass, ev);
        }
        if seg.has(ACK) {
            self.peer_ack = seq_max(self.peer_ack, seg.ack);
        }
        self.closing(seg, FIN_TO_GUEST, &mut ev);
        if self.mode == Mode::Closing || seg.payload == 0 {
            return (ToGuest::Pass, ev);
        }
        let end = seg.end_seq();
        let top = self.sent_top;
        if before(seg.seq, self.vm_right) {
            self.sent_top = seq_max(top, end);
        }
        // Bytes the sender already had acknowledged: it missed the ack, so
        // say it again (the guest's own duplicate ACK would be dropped).
        if !before(self.acked, end) {
            return (ToGuest::PassAndAck(self.ack_spec(self.acked, seg, p)), ev);
        }
        if seg.seq != self.next_seq {
            self.go_offline(Offline::UnexpectedSeq, &mut ev);
            return (ToGuest::Pass, ev);
        }
        // Without growth, within the guest's own window; with it, within
        // what the sender was told.
        let right = if p.grow {
            seq_max(self.vm_right, self.told_right)
        } else {
            self.vm_right
        };
        if before(right, end) {
            self.go_offline(Offline::Window, &mut ev);
            return (ToGuest::Pass, ev);
        }
        // What a flow holds stays inside its guest's window (acks never
        // pass it) and within buf_size (the time a guest needs to take
        // it, when offload stops, is bounded); the port's cap bounds all
        // flows.
        let room = if self.held().saturating_add(seg.payload) > p.buf_size {
            Room::HeldFull
        } else {
            room
        };
        // At or past the guest's edge (growth) it would be dropped: parked,
        // which takes no ring room; so is what follows parked bytes (the
        // guest takes bytes in order), and, with growth, what the ring has
        // no room for now (a sender invited past the guest's window sends
        // in bursts). One that starts inside its window is taken whole
        // (Linux queues an in-order segment while its window is not zero).
        if matches!(room, Room::Free | Room::Scheduled | Room::Away) {
            self.scheduled = room != Room::Free;
        }
        let away = self.ahead && room == Room::Away;
        let park = before(self.handed, self.acked)
            || (!away && !before(seg.seq, self.hand_edge()))
            || (p.grow && room == Room::RingFull);
        match room {
            Room::RingFull if park => {}
            Room::RingFull | Room::NoAck => {
                self.go_offline(Offline::NoBuf, &mut ev);
                return (ToGuest::Pass, ev);
            }
            Room::HeldFull => {
                self.go_offline(Offline::BufferFull, &mut ev);
                return (ToGuest::Pass, ev);
            }
            Room::Free | Room::Scheduled | Room::Away => {}
        }
        self.mode = Mode::Active;
        self.next_seq = end;
        self.acked = end;
        if !park {
            self.handed = end;
            if before(seg.seq, top) {
                self.delivery.fill_top = Some(top);
            }
        }
        if self.wscale.is_some() {
            self.rcv_win = self.rcv_win.saturating_add(2 * self.mss).min(p.buf_size);
        }
        let spec = self.ack_spec(end, seg, p);
        if park && away {
            // Parked while it ran, now away: all of it is handed, this
            // segment last.
            ev.resend = Resend::Release {
                from: self.handed,
                to: end,
            };
        }
        if park {
            (ToGuest::ParkAndAck(spec), ev)
        } else {
            (ToGuest::PassAndAck(spec), ev)
        }
    }

    fn ts_or(&self, seg: &Segment) -> Ts {
        match self.ts {
            Ts::On { .. } => self.ts,
            Ts::Off => ts_state(true, seg),
        }
    }

    fn ack_spec(&mut self, ack: u32, seg: &Segment, p: &Params) -> AckSpec {
        // Without growth (or with the guest running) the sender is never
        // invited past the guest's own window edge; with it, no further
        // than the flow's delivery buffer holds from the guest's ack.
        let edge = if p.grow && self.scheduled {
            seq_max(self.vm_right, self.vm_ack.wrapping_add(p.buf_size))
        } else {
            self.vm_right
        };
        let to_edge = if before(ack, edge) {
            edge.wrapping_sub(ack)
        } else {
            0
        };
        let window = self.encode(self.rcv_win.min(to_edge));
        self.told(ack, window);
        AckSpec {
            seq: self.guest_seq,
            ack,
            window,
            ts: match (self.ts, seg.opts.ts) {
                (Ts::On { guest_tsval }, Some((sender_tsval, _))) => {
                    Some((guest_tsval, sender_tsval))
                }
                (Ts::On { guest_tsval }, None) => Some((guest_tsval, 0)),
                (Ts::Off, _) => None,
            },
        }
    }

    /// Notes the window edge the sender hears from an ack with `window`.
    fn told(&mut self, ack: u32, window: u16) {
        self.told_right = seq_max(self.told_right, ack.wrapping_add(self.decode(window)));
    }

    /// A segment of the guest on its way to the sender.
    #[allow(clippy::wrong_self_convention)]
    pub fn from_guest(&mut self, seg: &Segment, p: &Params) -> (FromGuest, Events) {
        let mut ev = Events::default();
        if seg.has(RST) {
            ev.remove = true;
            return (FromGuest::Pass, ev);
        }
        self.guest_seq = seq_max(self.guest_seq, seg.end_seq());
        if let (Ts::On { guest_tsval }, Some((v, _))) = (self.ts, seg.opts.ts) {
            self.ts = Ts::On {
                guest_tsval: seq_max(guest_tsval, v),
            };
        }
        self.closing(seg, FIN_FROM_GUEST, &mut ev);
        if !seg.has(ACK) || seg.has(SYN) || self.handshake.is_some() {
            return (FromGuest::Pass, ev);
        }
        let win = self.decode(seg.window);
        let before_ack = self.vm_ack;
        self.vm_ack = seq_max(self.vm_ack, seg.ack);
        self.vm_right = seq_max(self.vm_right, seg.ack.wrapping_add(win));
        self.handed = seq_max(self.handed, self.vm_ack);
        let pure = seg.payload == 0 && !seg.has(SYN | FIN | URG);
        ev.resend = self.guest_acked(seg, before_ack, pure);
        // Unknown scale: echo what the guest says, uncapped (unreadable).
        self.rcv_win = if self.wscale.is_some() {
            win.min(p.buf_size)
        } else {
            win
        };
        if let Mode::Offline(_) = self.mode {
            // The guest's own acks bring NEXT_SEQ up; the next in-order
            // segment brings the flow back online.
            self.next_seq = seq_max(self.next_seq, seg.ack);
        }
        if !before(seg.ack, self.acked) {
            // Acks nothing the sender has not heard of yet, or exactly the
            // host's point (RFC 793 window update): let it through.
            self.acked = seg.ack;
            return (self.capped(seg, None, win, p, &mut ev), ev);
        }
        // An ack behind the host's: raised, with the window shrunk by as
        // much, so its right edge stays the guest's.
        let win = win.saturating_sub(self.acked.wrapping_sub(seg.ack));
        // A pure one is redundant unless it opens the window past the edge
        // the sender knows: the host's acks stop at the guest's edge, so
        // without it a sender told "window 0" waits for its persist timer.
        // And only once it at least doubles what the sender may still
        // send, as a Linux receiver updates its window: the host's acks
        // carry the guest's edge while data flows, and each update passed
        // on costs the sender an ACK to process (a guest that keeps up
        // opens its window on nearly every ACK).
        let offered = self.decode(self.encode(win.min(p.buf_size)));
        let edge = self.acked.wrapping_add(offered);
        let usable = if before(self.acked, self.told_right) {
            self.told_right.wrapping_sub(self.acked)
        } else {
            0
        };
        let opens = before(self.told_right, edge) && offered / 2 >= usable;
        // Nor is one whose SACK blocks tell of data past the host's point
        // (passed while the flow was offline, past a hole the ring made):
        // without them the sender's scoreboard lacks what the guest has,
        // and it sends that again. (Scale unknown, the window cannot be
        // shrunk to keep the guest's edge: dropped.)
        let sacks = seg
            .opts
            .sack_blocks()
            .iter()
            .any(|b| before(self.acked, b.1));
        if pure && (self.wscale.is_none() || !(sacks || opens)) {
            return (FromGuest::Drop, ev);
        }
        (self.capped(seg, Some(self.acked), win, p, &mut ev), ev)
    }

    /// The rewrite that caps the guest's window (`win` bytes) at buf_size,
    /// with `ack` if the ack is raised too.
    fn capped(
        &mut self,
        seg: &Segment,
        ack: Option<u32>,
        win: u32,
        p: &Params,
        ev: &mut Events,
    ) -> FromGuest {
        // Scale unknown: the window cannot be read, so it is left as is.
        let window = self.wscale.and_then(|_| {
            ev.window_capped = win > p.buf_size;
            let raw = self.encode(win.min(p.buf_size));
            (raw != seg.window).then_some(raw)
        });
        self.told(ack.unwrap_or(seg.ack), window.unwrap_or(seg.window));
        let sack_from = ack.filter(|&a| seg.opts.sack_blocks().iter().any(|b| before(b.0, a)));
        match (ack, window) {
            (None, None) => FromGuest::Pass,
            (ack, window) => FromGuest::Rewrite {
                ack,
                window,
                sack_from,
            },
        }
    }
}

fn ts_state(on: bool, seg: &Segment) -> Ts {
    match (on, seg.opts.ts) {
        (true, Some((v, _))) => Ts::On { guest_tsval: v },
        _ => Ts::Off,
    }
}

/// The guest's receive ring of a tap port, seen from outside: entries
/// handed to the device, against the device's counters of entries the
/// reader took (`tx_packets`) or the device dropped (`tx_dropped`). The
/// counters are read only when the estimate nears the limit; between reads
/// the estimate only over-counts, so it is safe. Shared by the CPUs that
/// send to the port.
#[derive(Debug)]
pub struct RingGauge {
    /// Entries handed since the gauge started, plus the ring's capacity
    /// then (it may have been full).
    handed: AtomicU64,
    /// tx_packets + tx_dropped when the gauge started.
    base: u64,
    /// Taken out (read or dropped) since the start, as of the last read.
    out: AtomicU64,
}

impl RingGauge {
    /// `held`: entries the ring may hold now (its capacity); `counters`:
    /// tx_packets + tx_dropped now.
    pub fn new(held: u32, counters: u64) -> RingGauge {
        RingGauge {
            handed: AtomicU64::new(u64::from(held)),
            base: counters,
            out: AtomicU64::new(0),
        }
    }

    /// Counts `entries` handed to the device (every frame, before it is
    /// judged: so concurrent senders each see the others' frames).
    pub fn handed(&self, entries: u32) {
        self.handed.fetch_add(u64::from(entries), Relaxed);
    }

    /// Hands `entries` to the device if, with them, what the ring and its
    /// reader hold stays within `capacity`; otherwise takes them back and
    /// says no (the frame is to be dropped before the device). A vhost-net
    /// reader takes up to 64 entries at once and, when it stops, puts back
    /// those it has not delivered, freeing the ones that no longer fit
    /// (`ptr_ring_unconsume`): kept within capacity, they all fit, so no
    /// frame acked early is freed that way.
    pub fn admit(&self, entries: u32, capacity: u64, counters: impl FnOnce() -> u64) -> bool {
        self.handed(entries);
        if self.room(capacity, counters) {
            return true;
        }
        self.withdraw(entries);
        false
    }

    /// Takes back `entries` handed for a frame that did not go to the
    /// device after all.
    pub fn withdraw(&self, entries: u32) {
        self.handed.fetch_sub(u64::from(entries), Relaxed);
    }

    /// Whether the ring, with everything handed so far, holds at most
    /// `limit` entries; `counters` reads tx_packets + tx_dropped, called
    /// only when the estimate is too high.
    pub fn room(&self, limit: u64, counters: impl FnOnce() -> u64) -> bool {
        self.estimate() <= limit || self.refresh(counters()) <= limit
    }

    /// Entries the ring can take before it holds more than `limit`, as
    /// of the counters now (`counters` reads tx_packets + tx_dropped).
    pub fn spare(&self, limit: u64, counters: impl FnOnce() -> u64) -> u64 {
        limit.saturating_sub(self.refresh(counters()))
    }

    /// Reads the counters (tx_packets + tx_dropped now) and returns the
    /// estimate they give.
    pub fn refresh(&self, counters: u64) -> u64 {
        let handed = self.handed.load(Relaxed);
        // Entries the reader took since the start cannot exceed what was
        // handed, whatever the counters did meanwhile (a reset, a wrap).
        let out = counters.saturating_sub(self.base).min(handed);
        self.out.fetch_max(out, Relaxed);
        self.estimate()
    }

    /// Entries the ring holds at most, as of the last counter read.
    pub fn estimate(&self) -> u64 {
        let handed = self.handed.load(Relaxed);
        handed.saturating_sub(self.out.load(Relaxed))
    }
}

/// Entries a frame of `segments` wire segments takes in a tap's ring: one
/// for a GSO frame the tap takes whole, one per segment for one segmented
/// on the way (`segmented` is asked only for a GSO frame).
pub fn ring_entries(segments: u32, segmented: impl FnOnce() -> bool) -> u32 {
    if segments > 1 && !segmented() {
        1
    } else {
        segments.max(1)
    }
}

/// Entries a tap's ring (a `ptr_ring` of `capacity` = tx_queue_len slots)
/// can be trusted to hold, minus `margin`. The ring's reader frees slots
/// in batches (`__ptr_ring_discard_one`): up to `batch - 1` entries it has
/// taken, and the device has counted in tx_packets, still occupy slots.
/// `batch` as `ptr_ring_set_size` picks it: `SMP_CACHE_BYTES * 2 /
/// sizeof(void *)`, or 1 when that exceeds half the ring.
pub fn tun_ring_limit(capacity: u32, cache_batch: u32, margin: u32) -> u64 {
    let batch = if cache_batch > capacity / 2 || cache_batch == 0 {
        1
    } else {
        cache_batch
    };
    u64::from(capacity.saturating_sub(batch - 1).saturating_sub(margin))
}

/// A flow seen from the guest: its address and port, the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub v6: bool,
    pub guest: [u8; 16],
    pub peer: [u8; 16],
    pub guest_port: u16,
    pub peer_port: u16,
}

impl FlowKey {
    /// The key of a segment toward the guest.
    pub fn to_guest(seg: &Segment) -> FlowKey {
        FlowKey {
            v6: seg.addrs.v6,
            guest: seg.addrs.dst,
            peer: seg.addrs.src,
            guest_port: seg.dport,
            peer_port: seg.sport,
        }
    }

    /// The key of a segment from the guest.
    pub fn from_guest(seg: &Segment) -> FlowKey {
        FlowKey {
            v6: seg.addrs.v6,
            guest: seg.addrs.src,
            peer: seg.addrs.dst,
            guest_port: seg.sport,
            peer_port: seg.dport,
        }
    }

    /// A 64-bit hash of the key under a secret `seed` (so that remote
    /// senders cannot aim flows at one bucket); never 0.
    pub fn hash(&self, seed: u64) -> u64 {
        // Multiply-xorshift over the key's words (a strong mixer, not a
        // MAC: collisions cost probe length, never correctness).
        let mut h = seed ^ u64::from(self.v6);
        let mut mix = |w: u64| {
            h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h ^= h >> 29;
        };
        for half in [&self.guest, &self.peer] {
            mix(u64::from_le_bytes(half[..8].try_into().unwrap_or([0; 8])));
            mix(u64::from_le_bytes(half[8..].try_into().unwrap_or([0; 8])));
        }
        mix(u64::from(self.guest_port) << 16 | u64::from(self.peer_port));
        h | 1
    }
}

/// A flow's state as a dump shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowView {
    /// Waiting for the sender's SYN-ACK.
    pub handshake: bool,
    pub next_seq: u32,
    pub acked: u32,
    pub vm_ack: u32,
    pub rcv_win: u32,
    pub wscale: Option<u8>,
    pub mss: u32,
    pub timestamps: bool,
    /// Bytes in the delivery buffer.
    pub held: u32,
    /// Of them, parked past the guest's window.
    pub parked: u32,
}

impl Flow {
    pub fn view(&self) -> FlowView {
        FlowView {
            handshake: self.handshake.is_some(),
            next_seq: self.next_seq,
            acked: self.acked,
            vm_ack: self.vm_ack,
            rcv_win: self.rcv_win,
            wscale: self.wscale,
            mss: self.mss,
            timestamps: matches!(self.ts, Ts::On { .. }),
            held: self.held(),
            parked: self.parked(),
        }
    }
}

/// Rewrites `window` and `ack` in a TCP header in place (`tcp`: the
/// header's bytes), clips the SACK option at `sack.0` to `sack.1`
/// ([`tcp::clip_sack`]), and fixes its checksum; `partial`:
/// CHECKSUM_PARTIAL.
pub fn apply_rewrite(
    tcp: &mut [u8],
    ack: Option<u32>,
    window: Option<u16>,
    sack: Option<(usize, u32)>,
    partial: bool,
) -> Option<()> {
    let field = |t: &[u8], at: usize| t.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let mut check = field(tcp, tcp::OFF_CHECK)?;
    if let Some(a) = ack {
        let b = tcp.get_mut(tcp::OFF_ACK..tcp::OFF_ACK + 4)?;
        let old = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        b.copy_from_slice(&a.to_be_bytes());
        check = tcp::csum_replace4(check, old, a, partial);
    }
    if let Some(w) = window {
        let old = field(tcp, tcp::OFF_WINDOW)?;
        tcp.get_mut(tcp::OFF_WINDOW..tcp::OFF_WINDOW + 2)?
            .copy_from_slice(&w.to_be_bytes());
        check = tcp::csum_replace2(check, old, w, partial);
    }
    if let Some((off, from)) = sack {
        check = tcp::clip_sack(tcp, off, from, check, partial)?;
    }
    tcp.get_mut(tcp::OFF_CHECK..tcp::OFF_CHECK + 2)?
        .copy_from_slice(&check.to_be_bytes());
    Some(())
}

/// Longest ACK frame [`build_ack`] writes: Ethernet, IPv6, TCP with the
/// timestamp option.
pub const ACK_FRAME_MAX: usize = 14 + 40 + 32;

/// Writes into `out` the Ethernet frame of an ACK from the guest to the
/// sender of `seg` (a segment toward the guest whose Ethernet header had
/// `dst_mac` (the guest's) and `src_mac` (the sender's)): addresses and
/// ports swapped, ACK flag only, checksums computed. Returns its length.
pub fn build_ack(
    seg: &Segment,
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    spec: &AckSpec,
    out: &mut [u8; ACK_FRAME_MAX],
) -> usize {
    let ends = Ends {
        addrs: tcp::Addrs {
            v6: seg.addrs.v6,
            src: seg.addrs.dst,
            dst: seg.addrs.src,
        },
        sport: seg.dport,
        dport: seg.sport,
        src_mac: dst_mac,
        dst_mac: src_mac,
    };
    build_segment(&ends, ACK, spec, out)
}

/// Writes into `out` the Ethernet frame of a reset (RST and ACK, with
/// `spec`'s numbers) of the flow `key`, whose guest has `guest_mac` and
/// whose sender is behind `peer_mac`: toward the guest, or from it to
/// the sender. Returns its length.
pub fn build_reset(
    key: &FlowKey,
    guest_mac: [u8; 6],
    peer_mac: [u8; 6],
    toward_guest: bool,
    spec: &AckSpec,
    out: &mut [u8; ACK_FRAME_MAX],
) -> usize {
    let (g, p) = (
        (key.guest, key.guest_port, guest_mac),
        (key.peer, key.peer_port, peer_mac),
    );
    let (src, dst) = if toward_guest { (p, g) } else { (g, p) };
    let ends = Ends {
        addrs: tcp::Addrs {
            v6: key.v6,
            src: src.0,
            dst: dst.0,
        },
        sport: src.1,
        dport: dst.1,
        src_mac: src.2,
        dst_mac: dst.2,
    };
    build_segment(&ends, RST | ACK, spec, out)
}

/// Who a segment the host writes is from and to.
struct Ends {
    addrs: tcp::Addrs,
    sport: u16,
    dport: u16,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
}

/// Writes a segment without payload, with `flags` and `spec`'s numbers,
/// checksums computed; returns its length.
fn build_segment(ends: &Ends, flags: u8, spec: &AckSpec, out: &mut [u8; ACK_FRAME_MAX]) -> usize {
    let tcp_len = if spec.ts.is_some() { 32 } else { 20 };
    let v6 = ends.addrs.v6;
    let ip_len = if v6 { 40 } else { 20 };
    let len = 14 + ip_len + tcp_len;
    let f = &mut out[..len];
    f.fill(0);
    f[0..6].copy_from_slice(&ends.dst_mac);
    f[6..12].copy_from_slice(&ends.src_mac);
    let ip = 14;
    let a = &ends.addrs;
    if v6 {
        f[12..14].copy_from_slice(&super::frame::ETH_P_IPV6.to_be_bytes());
        f[ip] = 0x60;
        f[ip + 4..ip + 6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        f[ip + 6] = super::frame::IPPROTO_TCP;
        f[ip + 7] = 64;
        f[ip + 8..ip + 24].copy_from_slice(&a.src);
        f[ip + 24..ip + 40].copy_from_slice(&a.dst);
    } else {
        f[12..14].copy_from_slice(&super::frame::ETH_P_IP.to_be_bytes());
        f[ip] = 0x45;
        f[ip + 2..ip + 4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        f[ip + 6] = 0x40; // DF
        f[ip + 8] = 64;
        f[ip + 9] = super::frame::IPPROTO_TCP;
        f[ip + 12..ip + 16].copy_from_slice(&a.src[..4]);
        f[ip + 16..ip + 20].copy_from_slice(&a.dst[..4]);
        let c = ipv4_header_checksum(&f[ip..ip + 20]);
        f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    }
    let t = ip + ip_len;
    f[t..t + 2].copy_from_slice(&ends.sport.to_be_bytes());
    f[t + 2..t + 4].copy_from_slice(&ends.dport.to_be_bytes());
    f[t + 4..t + 8].copy_from_slice(&spec.seq.to_be_bytes());
    f[t + 8..t + 12].copy_from_slice(&spec.ack.to_be_bytes());
    f[t + 12] = ((tcp_len / 4) as u8) << 4;
    f[t + 13] = flags;
    f[t + 14..t + 16].copy_from_slice(&spec.window.to_be_bytes());
    if let Some((val, ecr)) = spec.ts {
        // NOP, NOP, TS(10): the layout Linux uses.
        f[t + 20..t + 24].copy_from_slice(&[1, 1, 8, 10]);
        f[t + 24..t + 28].copy_from_slice(&val.to_be_bytes());
        f[t + 28..t + 32].copy_from_slice(&ecr.to_be_bytes());
    }
    let c = tcp::checksum(a, &f[t..t + tcp_len]);
    f[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
    len
}

fn ipv4_header_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
