// SPDX-License-Identifier: GPL-2.0

mod common;

use common::seg;
use proptest::prelude::*;
use vassist_policy::pipe::{self, Ends, FromSide, Release, Removal, State, ToGuest, HOLD_MAX};
use vassist_policy::tcp::ACK;

#[test]
fn key_needs_one_family_and_ports() {
    let k = pipe::key(&[10, 0, 0, 2], 80, &[10, 0, 0, 1], 40000).unwrap();
    assert!(!k.v6);
    assert_eq!(&k.guest[..4], &[10, 0, 0, 2]);
    assert_eq!((k.guest_port, k.peer_port), (80, 40000));
    assert!(pipe::key(&[0; 16], 1, &[1; 16], 2).unwrap().v6);
    assert_eq!(pipe::key(&[10, 0, 0, 2], 80, &[0; 16], 1), None);
    assert_eq!(pipe::key(&[10, 0, 0], 80, &[10, 0, 0], 1), None);
    assert_eq!(pipe::key(&[10, 0, 0, 2], 0, &[10, 0, 0, 1], 1), None);
    assert_eq!(pipe::key(&[10, 0, 0, 2], 1, &[10, 0, 0, 1], 0), None);
}

#[test]
fn macs_must_be_unicast() {
    assert!(pipe::unicast_mac(&[0x52, 0x54, 0, 0, 0, 1]));
    assert!(!pipe::unicast_mac(&[0; 6]));
    assert!(!pipe::unicast_mac(&[0xff; 6]));
    assert!(!pipe::unicast_mac(&[0x01, 0, 0x5e, 0, 0, 1]));
}

#[test]
fn each_owner_meets_its_frames() {
    assert_eq!(State::Hold.to_guest(0), ToGuest::Hold);
    assert_eq!(State::Hold.to_guest(HOLD_MAX), ToGuest::Drop);
    assert_eq!(State::Host.to_guest(0), ToGuest::Shadow);
    assert_eq!(State::Gone.to_guest(0), ToGuest::Pass);
    assert_eq!(State::Hold.guest_sends(), FromSide::Drop);
    assert_eq!(State::Host.guest_sends(), FromSide::Drop);
    assert_eq!(State::Gone.guest_sends(), FromSide::Pass);
    assert_eq!(State::Host.shadow_sends(), FromSide::Pass);
    assert_eq!(State::Hold.shadow_sends(), FromSide::Drop);
    assert_eq!(State::Gone.shadow_sends(), FromSide::Drop);
}

#[test]
fn changes() {
    assert_eq!(State::Hold.change(State::Host), Ok(Release::ToShadow));
    assert_eq!(State::Host.change(State::Hold), Ok(Release::Keep));
    assert_eq!(State::Hold.change(State::Gone), Ok(Release::ToGuest));
    assert_eq!(State::Host.change(State::Gone), Ok(Release::ToGuest));
    assert!(State::Hold.change(State::Hold).is_err());
    assert!(State::Gone.change(State::Host).is_err());
    assert!(State::Gone.change(State::Gone).is_err());
}

#[derive(Clone, Debug)]
enum Ev {
    ToGuest,
    FromGuest,
    FromShadow,
    Change(State),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        8 => Just(Ev::ToGuest),
        2 => Just(Ev::FromGuest),
        2 => Just(Ev::FromShadow),
        1 => Just(Ev::Change(State::Hold)),
        1 => Just(Ev::Change(State::Host)),
        1 => Just(Ev::Change(State::Gone)),
    ]
}

proptest! {
    /// A pipe as the module runs it, frame by frame: every frame toward the
    /// guest reaches exactly one side, the one owning the connection when
    /// it is delivered (or is dropped, counted, when the hold is full), in
    /// order; a side's own frames reach the peer only while it owns the
    /// connection; nothing stays held once the pipe is gone.
    #[test]
    fn frames_reach_the_owner_in_order(start_host in any::<bool>(), evs in prop::collection::vec(ev(), 0..2000)) {
        let mut state = if start_host { State::Host } else { State::Hold };
        let mut held: Vec<u32> = Vec::new();
        let (mut guest, mut shadow, mut dropped) = (Vec::new(), Vec::new(), 0u32);
        let mut next = 0u32;
        for e in evs {
            match e {
                Ev::ToGuest => {
                    let f = next;
                    next += 1;
                    match state.to_guest(held.len()) {
                        ToGuest::Pass => guest.push(f),
                        ToGuest::Shadow => shadow.push(f),
                        ToGuest::Hold => held.push(f),
                        ToGuest::Drop => {
                            prop_assert_eq!(held.len(), HOLD_MAX);
                            dropped += 1;
                        }
                    }
                }
                Ev::FromGuest => {
                    prop_assert_eq!(state.guest_sends() == FromSide::Pass, state == State::Gone);
                }
                Ev::FromShadow => {
                    prop_assert_eq!(state.shadow_sends() == FromSide::Pass, state == State::Host);
                }
                Ev::Change(to) => match state.change(to) {
                    Ok(release) => {
                        state = to;
                        match release {
                            Release::Keep => {}
                            Release::ToShadow => shadow.append(&mut held),
                            Release::ToGuest => guest.append(&mut held),
                        }
                    }
                    Err(_) => prop_assert!(state == State::Gone || state == to),
                },
            }
            prop_assert!(held.len() <= HOLD_MAX);
            if state == State::Gone {
                prop_assert!(held.is_empty());
            }
        }
        let total = guest.len() + shadow.len() + held.len() + dropped as usize;
        prop_assert_eq!(total, next as usize);
        prop_assert!(guest.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(shadow.windows(2).all(|w| w[0] < w[1]));
        // What the guest got after the shadow had some came after it all:
        // the connection passed back once, never to and fro.
        if let (Some(&last_shadow), Some(&first_guest)) = (shadow.last(), guest.first()) {
            prop_assert!(first_guest > last_shadow);
        }
    }
}

#[test]
fn only_a_connection_cut_off_is_reset() {
    let mut e = Ends::default();
    e.peer_sent(&seg(5000, 100, ACK, 0, 10));
    e.guest_sent(&seg(100, 5000, ACK, 0, 0));
    // Never the host's: whoever goes, the guest's frozen socket is current.
    for why in [Removal::Request, Removal::Device, Removal::OwnerGone] {
        assert_eq!(e.resets(State::Hold, why), (None, None));
    }
    e.host_took_it();
    e.shadow_sent(&seg(100, 5010, ACK, 0, 1000));
    let (peer, guest) = e.resets(State::Host, Removal::Device);
    assert_eq!(peer.map(|r| (r.seq, r.ack)), Some((1100, 5010)));
    assert_eq!(guest.map(|r| (r.seq, r.ack)), Some((5000, 100)));
    // Handed back or being handed back by a living owner: not reset.
    assert_eq!(e.resets(State::Host, Removal::Request), (None, None));
    assert_eq!(e.resets(State::Hold, Removal::Device), (None, None));
    // Its owner gone in the hand-back: nobody gives the guest its state.
    assert!(e.resets(State::Hold, Removal::OwnerGone).0.is_some());
    assert_eq!(e.resets(State::Gone, Removal::OwnerGone), (None, None));
}

#[test]
fn an_end_not_seen_is_not_reset() {
    let mut e = Ends::default();
    e.host_took_it();
    assert_eq!(e.resets(State::Host, Removal::Device), (None, None));
    // The peer's acks alone place its end.
    e.peer_sent(&seg(7, 42, ACK, 0, 0));
    let (peer, guest) = e.resets(State::Host, Removal::OwnerGone);
    assert_eq!(peer.map(|r| r.seq), Some(42));
    assert_eq!(guest, None);
}

proptest! {
    /// The shadow sends in order (some segments lost or not yet acked),
    /// the peer acks some of it, across sequence wrap: the reset to the
    /// peer is at the end of the highest byte sent, which the peer expects
    /// once what is in flight arrives (or holds as its highest SACK edge).
    #[test]
    fn the_peer_reset_is_past_all_the_shadow_sent(
        isn in any::<u32>(),
        sends in prop::collection::vec((1u32..3000, any::<bool>()), 1..200),
    ) {
        let mut e = Ends::default();
        e.host_took_it();
        let mut next = isn;
        for (len, acked) in sends {
            e.shadow_sent(&seg(next, 1, ACK, 0, len));
            next = next.wrapping_add(len);
            if acked {
                e.peer_sent(&seg(1, next.wrapping_sub(len / 2), ACK, 0, 0));
            }
        }
        let (peer, _) = e.resets(State::Host, Removal::Device);
        prop_assert_eq!(peer.map(|r| r.seq), Some(next));
    }
}
