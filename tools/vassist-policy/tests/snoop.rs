// SPDX-License-Identifier: GPL-2.0

mod common;

use common::{seg, xorshift};
use vassist_policy::frame::{self, ETH_P_IP, ETH_P_IPV6};
use vassist_policy::snoop::{
    apply_rewrite, tun_ring_limit, Flow, FlowKey, FromGuest, Mode, Offline, Params, Resend,
    RingGauge, Room, ToGuest, RESEND_DUPACKS,
};
use vassist_policy::tcp::{self, Segment, ACK, FIN, RST, SYN};

/// Locates the TCP header and parses the segment, as the packet path does.
fn tcp_parse(ethertype: u16, hdr: &[u8]) -> Option<tcp::Segment> {
    tcp::parse(frame::tcp_offset(ethertype, hdr)?)
}

const PSH: u8 = 0x08;

const P: Params = Params {
    buf_size: 256 * 1024,
    grow: false,
};

/// Raw IPv4 or IPv6 + TCP bytes with the given options and payload length.
fn raw(
    v6: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    opts: &[u8],
    payload: usize,
) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&5201u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    let mut o = opts.to_vec();
    while !o.len().is_multiple_of(4) {
        o.push(1);
    }
    t[12] = (((20 + o.len()) / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&window.to_be_bytes());
    t.extend(o);
    t.extend(std::iter::repeat_n(0xab, payload));
    let mut p = if v6 {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&(t.len() as u16).to_be_bytes());
        h[6] = 6;
        h[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    } else {
        let mut h = vec![0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&((20 + t.len()) as u16).to_be_bytes());
        h[9] = 6;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[10, 0, 0, 2]);
        h
    };
    let off = p.len();
    p.extend(t);
    let seg = tcp_parse(if v6 { ETH_P_IPV6 } else { ETH_P_IP }, &p).unwrap();
    let c = tcp::checksum(&seg.addrs, &p[off..]);
    p[off + 16..off + 18].copy_from_slice(&c.to_be_bytes());
    p
}

const SYN_OPTS: [u8; 20] = [
    2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0, 1, 3, 3, 7,
];

fn parse(b: &[u8]) -> Segment {
    tcp_parse(if b[0] >> 4 == 6 { ETH_P_IPV6 } else { ETH_P_IP }, b).unwrap()
}

#[test]
fn parses_fields_options_and_payload() {
    for v6 in [false, true] {
        let b = raw(v6, 1000, 2000, SYN | ACK, 65535, &SYN_OPTS, 0);
        let s = parse(&b);
        assert_eq!(
            (s.seq, s.ack, s.flags, s.window, s.payload),
            (1000, 2000, SYN | ACK, 65535, 0)
        );
        assert_eq!(s.opts.mss, Some(1460));
        assert_eq!(s.opts.wscale, Some(7));
        assert!(s.opts.sack_ok);
        assert_eq!(s.opts.ts, Some((7, 0)));
        assert_eq!(s.header_len, 40);
        assert_eq!(s.end_seq(), 1001);
        let d = parse(&raw(v6, 5, 6, ACK | PSH, 100, &[], 1448));
        assert_eq!(d.payload, 1448);
        assert_eq!(d.end_seq(), 5 + 1448);
    }
}

#[test]
fn malformed_headers_are_not_parsed() {
    let good = raw(false, 1, 2, ACK, 10, &SYN_OPTS, 0);
    let mut bad_doff = good.clone();
    bad_doff[20 + 12] = 4 << 4;
    assert!(tcp_parse(ETH_P_IP, &bad_doff).is_none(), "data offset < 5");
    let mut long_doff = good.clone();
    long_doff[20 + 12] = 15 << 4;
    assert!(
        tcp_parse(ETH_P_IP, &long_doff).is_none(),
        "header past the bytes"
    );
    assert!(
        tcp_parse(ETH_P_IP, &good[..50]).is_none(),
        "truncated options"
    );
    let mut opt_len = good.clone();
    opt_len[20 + 21] = 40; // MSS option claims 40 bytes
    assert!(
        tcp_parse(ETH_P_IP, &opt_len).is_none(),
        "option past the header"
    );
    let mut wrong = good.clone();
    wrong[20 + 21] = 3; // MSS with length 3
    assert!(tcp_parse(ETH_P_IP, &wrong).is_none(), "wrong option length");
    let mut short_ip = good.clone();
    short_ip[3] = 30; // IP total length shorter than the headers
    assert!(tcp_parse(ETH_P_IP, &short_ip).is_none());
}

#[test]
fn sack_blocks_are_parsed_and_bad_ones_rejected() {
    // NOP, NOP, SACK with two blocks.
    let mut opts = vec![1, 1, 5, 18];
    for w in [100u32, 200, 300, 400] {
        opts.extend_from_slice(&w.to_be_bytes());
    }
    let s = parse(&raw(false, 1, 2, ACK, 10, &opts, 0));
    assert_eq!(s.opts.sack_blocks(), &[(100, 200), (300, 400)]);
    let mut odd = raw(false, 1, 2, ACK, 10, &opts, 0);
    odd[20 + 20 + 3] = 14; // not 2 + 8n
    assert!(tcp_parse(ETH_P_IP, &odd).is_none());
    // Two SACK options (the second written as an unknown kind first).
    let mut other = opts.clone();
    other[2] = 30;
    let mut twice = raw(false, 1, 2, ACK, 10, &[&opts[..], &other[..]].concat(), 0);
    twice[20 + 20 + opts.len() + 2] = 5;
    assert!(tcp_parse(ETH_P_IP, &twice).is_none());
}

#[test]
fn rewrite_keeps_the_checksum_valid() {
    for v6 in [false, true] {
        let mut b = raw(v6, 77, 1000, ACK | PSH, 500, &[], 333);
        let s = parse(&b);
        let t = s.tcp_offset;
        apply_rewrite(&mut b[t..], Some(123_456), Some(65000), None, false).unwrap();
        let after = parse(&b);
        assert_eq!((after.ack, after.window), (123_456, 65000));
        // A valid checksum sums (with the field) to zero.
        assert_eq!(tcp::checksum(&after.addrs, &b[t..]), 0);
    }
}

#[test]
fn rewrite_with_checksum_partial_leaves_the_field() {
    let mut b = raw(false, 1, 2, ACK, 3, &[], 0);
    let t = 20;
    let before = b[t + 16..t + 18].to_vec();
    apply_rewrite(&mut b[t..], Some(9), Some(9), None, true).unwrap();
    assert_eq!(&b[t + 16..t + 18], &before[..]);
    assert!(apply_rewrite(&mut b[t..t + 10], Some(1), None, None, false).is_none());
}

/// A SACK option with `blocks`, after two NOPs (the way Linux aligns it).
fn sack_opts(blocks: &[(u32, u32)]) -> Vec<u8> {
    let mut o = vec![1, 1, 5, 2 + 8 * blocks.len() as u8];
    for (l, r) in blocks {
        o.extend(l.to_be_bytes());
        o.extend(r.to_be_bytes());
    }
    o
}

#[test]
fn raised_acks_have_their_sack_blocks_clipped_to_the_ack() {
    let blocks = [(100, 200), (300, 400), (500, 600)];
    for (v6, from, left) in [
        (false, 250, vec![(300, 400), (500, 600)]),
        (true, 350, vec![(350, 400), (500, 600)]),
        (false, 600, vec![]),
        (true, 50, blocks.to_vec()),
    ] {
        let mut b = raw(v6, 7, 90, ACK, 500, &sack_opts(&blocks), 0);
        let s = parse(&b);
        let (t, off) = (s.tcp_offset, s.opts.sack_offset.unwrap());
        apply_rewrite(&mut b[t..], Some(from), None, Some((off, from)), false).unwrap();
        let after = parse(&b);
        assert_eq!(after.opts.sack_blocks(), &left[..], "from {from}");
        assert_eq!(after.header_len, s.header_len);
        assert_eq!(tcp::checksum(&after.addrs, &b[t..]), 0, "from {from}");
    }
    // Not a SACK option there: nothing written.
    let mut b = raw(false, 7, 90, ACK, 500, &sack_opts(&blocks), 0);
    assert!(apply_rewrite(&mut b[20..], Some(1), None, Some((20, 1)), false).is_none());
}

/// A flow from a guest SYN-ACK with window scale 7 and timestamps.
fn server_flow() -> Flow {
    let synack = parse(&raw(false, 5000, 1001, SYN | ACK, 64240, &SYN_OPTS, 0));
    let mut f = Flow::from_guest_syn(&synack, &P).unwrap();
    // The guest's first ACK after the handshake: window 502 << 7 = 64256.
    let ack = parse(&raw(
        false,
        5001,
        1001,
        ACK,
        502,
        &[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1],
        0,
    ));
    let (v, _) = f.from_guest(&ack, &P);
    assert_eq!(v, FromGuest::Pass);
    f
}

fn data(seq: u32, len: usize) -> Segment {
    parse(&raw(
        false,
        seq,
        5001,
        ACK | PSH,
        1000,
        &[1, 1, 8, 10, 0, 0, 0, 42, 0, 0, 0, 9],
        len,
    ))
}

#[test]
fn in_order_segment_is_acked_with_grown_window_and_echoed_timestamp() {
    let mut f = server_flow();
    let (v, ev) = f.to_guest(&data(1001, 1448), Room::Free, &P);
    let ToGuest::PassAndAck(a) = v else {
        panic!("{v:?}")
    };
    assert_eq!(a.ack, 1001 + 1448);
    assert_eq!(a.seq, 5001);
    // RCV_WIN 64256 + 2 * MSS 1460, but capped at the guest's own edge
    // (1001 + 64256), in units of 128.
    assert_eq!(a.window, ((1001 + 64256 - 2449) >> 7) as u16);
    assert_eq!(a.ts, Some((9, 42)));
    assert_eq!(ev.offline, None);
    assert_eq!(f.mode(), Mode::Active);
    // Growth stops at buf_size.
    let mut seq = 1001 + 1448;
    let mut last = 0;
    for _ in 0..200 {
        if let (ToGuest::PassAndAck(a), _) = f.to_guest(&data(seq, 1448), Room::Free, &P) {
            last = a.window;
        }
        seq += 1448;
        let ack = parse(&raw(
            false,
            5001,
            seq,
            ACK,
            0xffff,
            &[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1],
            0,
        ));
        f.from_guest(&ack, &P);
    }
    assert_eq!(u32::from(last) << 7, P.buf_size);
}

/// Segments from `seq` up to `to` while the guest is away (each handed):
/// growth invites the sender past its window. Returns where they end.
fn invite(f: &mut Flow, p: &Params, mut seq: u32, to: u32) -> u32 {
    while seq < to {
        let (v, _) = f.to_guest(&data(seq, 1448), Room::Away, p);
        assert!(matches!(v, ToGuest::PassAndAck(_)), "{seq}: {v:?}");
        seq += 1448;
    }
    seq
}

#[test]
fn with_growth_the_window_passes_the_guest_edge_and_so_do_early_acks() {
    let p = Params { grow: true, ..P };
    let mut f = server_flow();
    // A running guest's window is not grown past.
    let (v, _) = f.to_guest(&data(1001, 1448), Room::Free, &p);
    let ToGuest::PassAndAck(a) = v else {
        panic!("{v:?}")
    };
    assert_eq!(a.window, ((64256 - 1448) >> 7) as u16);
    // An away one's is: RCV_WIN 64256 + 2 * 2 * MSS 1460, past the guest's
    // edge 1001 + 64256.
    let (v, _) = f.to_guest(&data(1001 + 1448, 1448), Room::Away, &p);
    let ToGuest::PassAndAck(a) = v else {
        panic!("{v:?}")
    };
    assert_eq!(a.window, ((64256 + 4 * 1460) >> 7) as u16);
    let seq = invite(&mut f, &p, 1001 + 2 * 1448, 1001 + 64256);
    // Running again: segments up to the edge the sender was told are
    // acked early, past the guest's own: handed up to a window past it,
    // parked beyond.
    let mut seq = seq;
    while seq < 1001 + 2 * 64256 + 1448 {
        let (v, _) = f.to_guest(&data(seq, 1448), Room::Free, &p);
        if seq < 1001 + 2 * 64256 {
            assert!(matches!(v, ToGuest::PassAndAck(_)), "{seq}: {v:?}");
        } else {
            assert!(matches!(v, ToGuest::ParkAndAck(_)), "{seq}: {v:?}");
        }
        seq += 1448;
    }
    assert!(f.view().acked > 1001 + 64256);
    assert!(f.view().parked > 0);
    // Without growth the guest's edge stops them.
    let mut g = server_flow();
    let mut seq = 1001;
    let mut acked = 0;
    while seq < 1001 + 64256 + 1448 {
        if let (ToGuest::PassAndAck(a), _) = g.to_guest(&data(seq, 1448), Room::Free, &P) {
            acked = a.ack;
        }
        seq += 1448;
    }
    assert!(acked <= 1001 + 64256, "{acked}");
}

#[test]
fn growth_hands_a_window_ahead_then_only_its_window_once_it_drops() {
    let p = Params { grow: true, ..P };
    let mut f = server_flow();
    let w = 64256_u32;
    // Growth invites the sender past the guest's edge 1001 + 64256, up to
    // buf-size past its ack, while it is away; running, it is handed a
    // window past its edge (it takes more than its window in a batch); the
    // rest is parked.
    let mut seq = invite(&mut f, &p, 1001, 1001 + w);
    while let (v @ (ToGuest::PassAndAck(a) | ToGuest::ParkAndAck(a)), _) =
        f.to_guest(&data(seq, 1448), Room::Free, &p)
    {
        let right = a.ack + (u32::from(a.window) << 7);
        assert!(right <= 1001 + P.buf_size, "{right}");
        let handed = seq < 1001 + 2 * w;
        assert_eq!(matches!(v, ToGuest::PassAndAck(_)), handed, "{seq}");
        seq += 1448;
    }
    let acked = f.view().acked;
    assert!(acked > 1001 + 2 * w, "{acked}");
    assert!(f.view().held <= P.buf_size);
    let handed_now = |f: &Flow| f.view().acked - f.view().parked;
    assert_eq!(handed_now(&f), 1001 + (2 * w).div_ceil(1448) * 1448);
    // It takes only part, and its duplicate ACKs (no SACK blocks) show it
    // dropped what was past its window: all it has not acked is parked
    // and handed as its window takes it, never again past it.
    let part = 1001 + 30 * 1448;
    let (_, ev) = f.from_guest(&guest_ack(part, 100), &p);
    assert_eq!(ev.resend, Resend::Nothing);
    let edge = 1001 + w;
    for _ in 0..RESEND_DUPACKS - 1 {
        let (_, ev) = f.from_guest(&guest_ack(part, 100), &p);
        assert_eq!(ev.resend, Resend::Nothing);
    }
    let (_, ev) = f.from_guest(&guest_ack(part, 100), &p);
    assert_eq!(
        ev.resend,
        Resend::Release {
            from: part,
            to: edge
        }
    );
    assert_eq!(handed_now(&f), part);
    assert_eq!(f.view().parked, acked - part);
    let sent = part + (edge - part).div_ceil(1448) * 1448;
    f.handed_to(sent);
    assert_eq!(handed_now(&f), sent);
    // Not past what was acked, never back.
    f.handed_to(acked + 1);
    f.handed_to(part);
    assert_eq!(handed_now(&f), sent);
    // Each ACK that moves its edge hands what it opened to, no further.
    let (_, ev) = f.from_guest(&guest_ack(sent - 1448, 100), &p);
    let edge = sent - 1448 + 100 * 128;
    assert_eq!(
        ev.resend,
        Resend::Release {
            from: sent,
            to: edge
        }
    );
    // A release the queue could not take is handed by the timer.
    assert_eq!(
        f.tick(),
        Resend::Release {
            from: sent,
            to: edge
        }
    );
    // A segment lost on the way in is re-sent from what was handed,
    // never from what is parked.
    f.handed_to(sent + 1448);
    let ack = sent - 1448;
    for _ in 0..RESEND_DUPACKS - 1 {
        f.from_guest(&guest_ack(ack, 100), &p);
    }
    let (_, ev) = f.from_guest(&guest_ack(ack, 100), &p);
    assert_eq!(ev.resend, Resend::Head);
    // All it was handed acked, its window closed: nothing re-sent, the
    // parked bytes wait; duplicates there show no hole.
    let at = edge;
    f.handed_to(at);
    let (_, ev) = f.from_guest(&guest_ack(at, 0), &p);
    assert_eq!(ev.resend, Resend::Nothing);
    assert!((0..20).all(|_| f.tick() == Resend::Nothing));
    for _ in 0..3 {
        let (_, ev) = f.from_guest(&guest_ack(at, 0), &p);
        assert_eq!(ev.resend, Resend::Nothing);
    }
    // Its application reads; new segments follow the parked ones: parked
    // too.
    let (_, ev) = f.from_guest(&guest_ack(at, 4000), &p);
    assert!(matches!(ev.resend, Resend::Release { .. }));
    let (v, _) = f.to_guest(&data(acked, 1448), Room::Free, &p);
    assert!(matches!(v, ToGuest::ParkAndAck(_)), "{v:?}");
    // Even with the ring full: parking takes no room in it.
    let (v, _) = f.to_guest(&data(acked + 1448, 1448), Room::RingFull, &p);
    assert!(matches!(v, ToGuest::ParkAndAck(_)), "{v:?}");
    // All handed and acked: nothing parked, segments in its window pass.
    let end = acked + 2 * 1448;
    let (_, ev) = f.from_guest(&guest_ack(at, 4000), &p);
    assert_eq!(
        ev.resend,
        Resend::Release {
            from: at,
            to: at + 4000 * 128
        }
    );
    f.handed_to(end);
    f.from_guest(&guest_ack(end, 4000), &p);
    assert_eq!(f.view().parked, 0);
    let (v, _) = f.to_guest(&data(end, 1448), Room::Free, &p);
    assert!(matches!(v, ToGuest::PassAndAck(_)), "{v:?}");
    // With growth a full ring parks it; without, it passes unacked.
    let mut without = f;
    let (v, _) = without.to_guest(&data(end + 1448, 1448), Room::RingFull, &P);
    assert_eq!(v, ToGuest::Pass);
    let (v, _) = f.to_guest(&data(end + 1448, 1448), Room::RingFull, &p);
    assert!(matches!(v, ToGuest::ParkAndAck(_)), "{v:?}");
}

#[test]
fn growth_hands_an_away_guest_all_and_what_was_parked_when_it_left() {
    let p = Params { grow: true, ..P };
    let w = 64256_u32;
    // Away (not running): everything the sender sends is handed.
    let mut f = server_flow();
    let mut seq = 1001;
    while let (ToGuest::PassAndAck(_), _) = f.to_guest(&data(seq, 1448), Room::Away, &p) {
        seq += 1448;
    }
    assert!(f.view().acked > 1001 + 2 * w);
    assert_eq!(f.view().parked, 0);
    // Running: past a window beyond its edge, parked; once it is away,
    // the next segment hands them all, itself last.
    let mut g = server_flow();
    let mut seq = invite(&mut g, &p, 1001, 1001 + w);
    while seq < 1001 + 3 * w {
        g.to_guest(&data(seq, 1448), Room::Free, &p);
        seq += 1448;
    }
    let handed = g.view().acked - g.view().parked;
    assert_eq!(handed, 1001 + (2 * w).div_ceil(1448) * 1448);
    let (v, ev) = g.to_guest(&data(seq, 1448), Room::Away, &p);
    assert!(matches!(v, ToGuest::ParkAndAck(_)), "{v:?}");
    assert_eq!(
        ev.resend,
        Resend::Release {
            from: handed,
            to: seq + 1448
        }
    );
}

#[test]
fn out_of_order_goes_offline_and_guest_acks_bring_it_back() {
    let mut f = server_flow();
    let (v, ev) = f.to_guest(&data(1001 + 1448, 1448), Room::Free, &P);
    assert_eq!(
        (v, ev.offline),
        (ToGuest::Pass, Some(Offline::UnexpectedSeq))
    );
    // The guest acks what it got (nothing new): NEXT_SEQ stays; the missing
    // segment arrives in order and the flow is active again.
    let (v, _) = f.to_guest(&data(1001, 1448), Room::Free, &P);
    assert!(matches!(v, ToGuest::PassAndAck(a) if a.ack == 1001 + 1448));
    // The guest then acks both, which moves NEXT_SEQ past the gap.
    f.to_guest(&data(1001 + 2 * 1448, 100), Room::Free, &P);
    let ack = parse(&raw(
        false,
        5001,
        1001 + 2 * 1448 + 100,
        ACK,
        500,
        &[1, 1, 8, 10, 0, 0, 0, 10, 0, 0, 0, 1],
        0,
    ));
    f.from_guest(&ack, &P);
    let (v, _) = f.to_guest(&data(1001 + 2 * 1448 + 100, 10), Room::Free, &P);
    assert!(matches!(v, ToGuest::PassAndAck(a) if a.ack == 1001 + 2 * 1448 + 110));
}

#[test]
fn no_room_in_the_ring_means_no_early_ack() {
    let mut f = server_flow();
    let (v, ev) = f.to_guest(&data(1001, 1448), Room::RingFull, &P);
    assert_eq!((v, ev.offline), (ToGuest::Pass, Some(Offline::NoBuf)));
    assert_eq!(f.mode(), Mode::Offline(Offline::NoBuf));
}

/// A pure guest ACK of `ack` with window field `win` (scale 7).
fn guest_ack(ack: u32, win: u16) -> Segment {
    parse(&raw(
        false,
        5001,
        ack,
        ACK,
        win,
        &[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1],
        0,
    ))
}

#[test]
fn acked_bytes_are_held_until_the_guest_acks_them() {
    let mut f = server_flow();
    for i in 0..3 {
        f.to_guest(&data(1001 + i * 1448, 1448), Room::Free, &P);
    }
    assert_eq!((f.held(), f.held_from()), (3 * 1448, 1001));
    let (_, ev) = f.from_guest(&guest_ack(1001 + 1448, 500), &P);
    assert_eq!(ev.resend, Resend::Nothing);
    assert_eq!((f.held(), f.held_from()), (2 * 1448, 1001 + 1448));
    f.from_guest(&guest_ack(1001 + 3 * 1448, 500), &P);
    assert_eq!(f.held(), 0);
    assert_eq!(f.view().held, 0);
}

#[test]
fn duplicate_guest_acks_below_the_hosts_point_resend_the_head_once() {
    let mut f = server_flow();
    for i in 0..4 {
        f.to_guest(&data(1001 + i * 1448, 1448), Room::Free, &P);
    }
    // The first segment went missing: the guest acks the old point as the
    // later ones arrive. Its ACKs are dropped (the sender heard more).
    let first = f.from_guest(&guest_ack(1001, 502), &P);
    assert_eq!(first, (FromGuest::Drop, Default::default()));
    let (v, ev) = f.from_guest(&guest_ack(1001, 502), &P);
    assert_eq!((v, ev.resend), (FromGuest::Drop, Resend::Head));
    let (_, ev) = f.from_guest(&guest_ack(1001, 502), &P);
    assert_eq!(ev.resend, Resend::Nothing, "one re-send per hole");
    // Nor is an ACK with a D-SACK block (a duplicate arrived).
    let mut h = server_flow();
    h.to_guest(&data(1001, 1448), Room::Free, &P);
    for _ in 0..3 {
        let (_, ev) = h.from_guest(&guest_sack(1001, 502, &[(900, 1001)]), &P);
        assert_eq!(ev.resend, Resend::Nothing);
    }
    // A window update is not a duplicate.
    let mut g = server_flow();
    g.to_guest(&data(1001, 1448), Room::Free, &P);
    g.from_guest(&guest_ack(1001, 400), &P);
    assert_eq!(
        g.from_guest(&guest_ack(1001, 300), &P).1.resend,
        Resend::Nothing
    );
    // The guest's ack moves on: the count starts again.
    f.from_guest(&guest_ack(1001 + 1448, 502), &P);
    f.from_guest(&guest_ack(1001 + 1448, 502), &P);
    let (_, ev) = f.from_guest(&guest_ack(1001 + 1448, 502), &P);
    assert_eq!(ev.resend, Resend::Head);
}

/// A pure guest ACK of `ack` with window field `win` and SACK blocks.
fn guest_sack(ack: u32, win: u16, blocks: &[(u32, u32)]) -> Segment {
    let mut s = guest_ack(ack, win);
    for (i, b) in blocks.iter().enumerate() {
        s.opts.sack[i] = *b;
    }
    s.opts.sacks = blocks.len() as u8;
    s
}

#[test]
fn sack_blocks_say_what_the_guest_lacks() {
    let mut f = server_flow();
    let at = |i: u32| 1001 + i * 1448;
    for i in 0..6 {
        f.to_guest(&data(at(i), 1448), Room::Free, &P);
    }
    // Segments 2 and 5 went missing; 3 and 4 are out of order.
    f.from_guest(&guest_ack(at(2), 502), &P);
    f.from_guest(&guest_sack(at(2), 502, &[(at(3), at(5))]), &P);
    let (_, ev) = f.from_guest(&guest_sack(at(2), 502, &[(at(3), at(5))]), &P);
    let mut sacked = [(0, 0); 4];
    sacked[0] = (at(3), at(5));
    assert_eq!(
        ev.resend,
        Resend::Holes {
            from: at(2),
            to: at(5),
            sacked,
            sacks: 1
        }
    );
    // Segment 2 got in: the guest acks up to 5, short of where the
    // recovery began (6), and holds nothing past it: the segment at its
    // ack is missing too.
    let (_, ev) = f.from_guest(&guest_ack(at(5), 502), &P);
    assert_eq!(ev.resend, Resend::Head);
    // Its ACK at that point ends the recovery.
    let (_, ev) = f.from_guest(&guest_ack(at(6), 502), &P);
    assert_eq!((ev.resend, f.held()), (Resend::Nothing, 0));
    // Progress short of that point re-sends nothing: it is on its way.
    let mut g = server_flow();
    for i in 0..6 {
        g.to_guest(&data(at(i), 1448), Room::Free, &P);
    }
    g.from_guest(&guest_sack(at(0), 502, &[(at(1), at(3))]), &P);
    g.from_guest(&guest_sack(at(0), 502, &[(at(1), at(3))]), &P);
    let (_, ev) = g.from_guest(&guest_sack(at(1), 502, &[(at(2), at(3))]), &P);
    assert_eq!(ev.resend, Resend::Nothing);
}

#[test]
fn a_filled_hole_is_acked_early_and_the_guests_sacks_reach_the_sender() {
    let mut f = server_flow();
    let at = |i: u32| 1001 + i * 1448;
    f.to_guest(&data(at(0), 1448), Room::Free, &P);
    // The ring had no room for segment 1 (not acked; the tap drops it),
    // 2 to 4 pass behind it.
    let (v, ev) = f.to_guest(&data(at(1), 1448), Room::RingFull, &P);
    assert_eq!((v, ev.offline), (ToGuest::Pass, Some(Offline::NoBuf)));
    for i in 2..5 {
        let (v, _) = f.to_guest(&data(at(i), 1448), Room::Free, &P);
        assert_eq!(v, ToGuest::Pass);
    }
    f.from_guest(&guest_ack(at(1), 502), &P);
    // The sender's retransmission of 1 is acked early and handed.
    let (v, _) = f.to_guest(&data(at(1), 1448), Room::Free, &P);
    assert!(
        matches!(v, ToGuest::PassAndAck(a) if a.ack == at(2)),
        "{v:?}"
    );
    // The guest's duplicate ACKs for 2 to 4 left it before 1 got there:
    // no re-send; their SACK blocks go to the sender, its ack raised to
    // the host's and the blocks clipped there, so it does not send 2 to
    // 4 again.
    for i in 3..=5 {
        let (v, ev) = f.from_guest(&guest_sack(at(1), 502, &[(at(2), at(i))]), &P);
        assert_eq!(ev.resend, Resend::Nothing, "{i}");
        assert!(
            matches!(v, FromGuest::Rewrite { ack: Some(a), sack_from: None, .. } if a == at(2)),
            "{v:?}"
        );
    }
    // A block that reaches below the raised ack is clipped there.
    let (v, _) = f.from_guest(&guest_sack(at(1), 502, &[(at(1) + 100, at(5))]), &P);
    assert!(
        matches!(v, FromGuest::Rewrite { ack: Some(a), sack_from: Some(s), .. } if a == at(2) && s == at(2)),
        "{v:?}"
    );
    // One wholly below the host's point tells the sender nothing: dropped.
    let mut g = server_flow();
    for i in 0..4 {
        g.to_guest(&data(at(i), 1448), Room::Free, &P);
    }
    for _ in 0..3 {
        let (v, _) = g.from_guest(&guest_sack(at(0), 502, &[(at(1), at(2))]), &P);
        assert_eq!(v, FromGuest::Drop);
    }
    // A duplicate ACK that SACKs data which went after the fill shows it
    // lost: it is re-sent.
    let (v, _) = f.to_guest(&data(at(5), 1448), Room::Free, &P);
    assert_eq!(v, ToGuest::Pass);
    let late = guest_sack(at(1), 502, &[(at(2), at(6))]);
    assert_eq!(f.from_guest(&late, &P).1.resend, Resend::Nothing);
    let mut sacked = [(0, 0); 4];
    sacked[0] = (at(2), at(6));
    assert_eq!(
        f.from_guest(&late, &P).1.resend,
        Resend::Holes {
            from: at(1),
            to: at(2),
            sacked,
            sacks: 1
        }
    );
}

#[test]
fn without_sack_a_partial_ack_resends_the_next_segment() {
    let mut f = server_flow();
    let at = |i: u32| 1001 + i * 1448;
    for i in 0..4 {
        f.to_guest(&data(at(i), 1448), Room::Free, &P);
    }
    f.from_guest(&guest_ack(at(0), 502), &P);
    assert_eq!(
        f.from_guest(&guest_ack(at(0), 502), &P).1.resend,
        Resend::Head
    );
    // The re-sent segment got in, the next one is missing too.
    assert_eq!(
        f.from_guest(&guest_ack(at(2), 502), &P).1.resend,
        Resend::Head
    );
    assert_eq!(
        f.from_guest(&guest_ack(at(4), 502), &P).1.resend,
        Resend::Nothing
    );
    assert_eq!(f.held(), 0);
}

#[test]
fn a_flow_holds_at_most_buf_size() {
    // Window 60000 unscaled, buf_size 4096: the third 1448-byte segment
    // would hold 4344 bytes.
    let p = Params {
        buf_size: 4096,
        grow: false,
    };
    let ack = parse(&raw(false, 9000, 100, ACK, 60000, &[], 0));
    let mut f = Flow::from_guest_ack(&ack, &p).unwrap();
    let acked: Vec<_> = (0..3)
        .map(|i| {
            let s = parse(&raw(false, 100 + i * 1448, 9000, ACK, 50, &[], 1448));
            matches!(f.to_guest(&s, Room::Free, &p).0, ToGuest::PassAndAck(_))
        })
        .collect();
    assert_eq!(acked, [true, true, false]);
    assert_eq!(f.mode(), Mode::Offline(Offline::BufferFull));
    assert_eq!(f.held(), 2 * 1448);
    // The guest acks what it got (the last two passed unacked): room
    // again, and the next in-order segment is acked.
    f.from_guest(
        &parse(&raw(false, 9000, 100 + 4 * 1448, ACK, 60000, &[], 0)),
        &p,
    );
    let s = parse(&raw(false, 100 + 4 * 1448, 9000, ACK, 50, &[], 1448));
    assert!(matches!(
        f.to_guest(&s, Room::Free, &p).0,
        ToGuest::PassAndAck(_)
    ));
}

#[test]
fn a_quiet_guest_gets_everything_held_resent_with_backoff() {
    let resent = |r: Resend| matches!(r, Resend::Holes { .. });
    let mut f = server_flow();
    assert_eq!(f.tick(), Resend::Nothing);
    f.to_guest(&data(1001, 1448), Room::Free, &P);
    let mut at = vec![];
    for t in 1..=40 {
        let r = f.tick();
        if resent(r) {
            assert_eq!(r, Resend::range(1001, 2449));
            at.push(t);
        }
    }
    // After 2 ticks, then 4, 8, 16, 32 (capped) ticks without progress.
    assert_eq!(at, [2, 6, 14, 30]);
    // Progress resets the backoff; nothing held, nothing re-sent.
    f.from_guest(&guest_ack(1001, 502), &P);
    f.to_guest(&data(2449, 1448), Room::Free, &P);
    f.from_guest(&guest_ack(2449, 502), &P);
    assert_eq!(
        (f.tick(), f.tick()),
        (Resend::Nothing, Resend::range(2449, 2449 + 1448))
    );
    f.from_guest(&guest_ack(2449 + 1448, 502), &P);
    assert!((0..10).all(|_| f.tick() == Resend::Nothing));
    // While offload drains, re-sends back off to 4 ticks at most, from
    // wherever the backoff stood.
    f.to_guest(&data(2449 + 1448, 1448), Room::Free, &P);
    let ticks: Vec<_> = (1..=30).filter(|_| resent(f.tick())).collect();
    assert_eq!(ticks, [2, 6, 14, 30]);
    let ticks: Vec<_> = (1..=20).filter(|_| resent(f.drain_tick())).collect();
    assert_eq!(ticks, [4, 8, 12, 16, 20]);
}

#[test]
fn no_early_ack_past_the_ports_delivery_buffers() {
    let mut f = server_flow();
    let (v, ev) = f.to_guest(&data(1001, 1448), Room::HeldFull, &P);
    assert_eq!((v, ev.offline), (ToGuest::Pass, Some(Offline::BufferFull)));
    assert_eq!(f.held(), 0);
}

#[test]
fn beyond_the_guests_window_is_not_acked() {
    let mut f = server_flow();
    // Guest window 64256 from 1001: a segment ending past 65257 is out.
    let (v, ev) = f.to_guest(&data(1001, 64_300), Room::Free, &P);
    assert_eq!((v, ev.offline), (ToGuest::Pass, Some(Offline::Window)));
}

#[test]
fn guest_acks_dropped_passed_or_rewritten() {
    let mut f = server_flow();
    f.to_guest(&data(1001, 1448), Room::Free, &P);
    let ts = [1, 1, 8, 10, 0, 0, 0, 11, 0, 0, 0, 1];
    // A pure ACK behind the host's point: redundant.
    let behind = parse(&raw(false, 5001, 1001, ACK, 502, &ts, 0));
    assert_eq!(f.from_guest(&behind, &P).0, FromGuest::Drop);
    // The ACK of exactly the host's point passes (window update).
    let at = parse(&raw(false, 5001, 2449, ACK, 502, &ts, 0));
    assert_eq!(f.from_guest(&at, &P).0, FromGuest::Pass);
    // Data with an ack behind: the ack is raised, the window shrunk by as much.
    f.to_guest(&data(2449, 1000), Room::Free, &P);
    let d = parse(&raw(false, 5001, 2449, ACK | PSH, 502, &ts, 200));
    let (v, _) = f.from_guest(&d, &P);
    assert_eq!(
        v,
        FromGuest::Rewrite {
            ack: Some(3449),
            window: Some(((502 << 7) - 1000) >> 7),
            sack_from: None
        }
    );
    // A FIN-less RST removes the flow.
    let rst = parse(&raw(false, 5201, 0, RST, 0, &[], 0));
    assert!(f.from_guest(&rst, &P).1.remove);
}

#[test]
fn a_window_update_behind_the_hosts_point_is_let_through_raised() {
    let mut f = server_flow();
    // The host acks up to the guest's edge (1001 + 64256): its last ack
    // offers the sender a window of 0.
    let edge = 1001 + 64256;
    let mut seq = 1001;
    let mut last = None;
    while seq + 1448 <= edge {
        if let (ToGuest::PassAndAck(a), _) = f.to_guest(&data(seq, 1448), Room::Free, &P) {
            last = Some(a);
        }
        seq += 1448;
    }
    let last = last.unwrap();
    assert_eq!((last.ack, last.window), (seq, ((edge - seq) >> 7) as u16));
    let ts = [1, 1, 8, 10, 0, 0, 0, 11, 0, 0, 0, 1];
    // The guest, having read some, acks its first segment with window 502
    // (<< 7): its edge moves to 2449 + 64256. The sender needs that.
    let update = parse(&raw(false, 5001, 2449, ACK, 502, &ts, 0));
    assert_eq!(
        f.from_guest(&update, &P).0,
        FromGuest::Rewrite {
            ack: Some(seq),
            window: Some(((2449 + 64256 - seq) >> 7) as u16),
            sack_from: None
        }
    );
    // The same edge again, or a smaller one, is redundant.
    assert_eq!(f.from_guest(&update, &P).0, FromGuest::Drop);
    let older = parse(&raw(false, 5001, 2449, ACK, 501, &ts, 0));
    assert_eq!(f.from_guest(&older, &P).0, FromGuest::Drop);
    // While the sender may still send more than half of what the update
    // would offer, the update is redundant too.
    let mut g = server_flow();
    for i in 0..4 {
        g.to_guest(&data(1001 + i * 1448, 1448), Room::Free, &P);
    }
    let wider = parse(&raw(false, 5001, 2449, ACK, 600, &ts, 0));
    assert_eq!(g.from_guest(&wider, &P).0, FromGuest::Drop);
}

#[test]
fn windows_above_buf_size_are_capped() {
    let mut f = server_flow();
    let big = parse(&raw(
        false,
        5001,
        1001,
        ACK,
        0xffff,
        &[1, 1, 8, 10, 0, 0, 0, 12, 0, 0, 0, 1],
        0,
    ));
    let (v, ev) = f.from_guest(&big, &P);
    assert_eq!(
        v,
        FromGuest::Rewrite {
            ack: None,
            window: Some((P.buf_size >> 7) as u16),
            sack_from: None
        }
    );
    assert!(ev.window_capped);
}

#[test]
fn retransmitted_acked_bytes_are_acked_again() {
    let mut f = server_flow();
    f.to_guest(&data(1001, 1448), Room::Free, &P);
    let (v, _) = f.to_guest(&data(1001, 1448), Room::Free, &P);
    assert!(matches!(v, ToGuest::PassAndAck(a) if a.ack == 2449));
}

#[test]
fn fin_stops_early_acks() {
    let mut f = server_flow();
    let fin = parse(&raw(false, 1001, 5001, ACK | FIN, 100, &[], 0));
    assert_eq!(f.to_guest(&fin, Room::Free, &P).0, ToGuest::Pass);
    assert_eq!(f.mode(), Mode::Closing);
    assert_eq!(f.to_guest(&data(1002, 10), Room::Free, &P).0, ToGuest::Pass);
}

#[test]
fn the_last_ack_after_fins_both_ways_ends_the_flow() {
    // The sender closes first: its FIN, the guest's FIN, the sender's ACK.
    let mut f = server_flow();
    let fin = parse(&raw(false, 1001, 5001, ACK | FIN, 100, &[], 0));
    assert!(!f.to_guest(&fin, Room::Free, &P).1.remove);
    let gfin = parse(&raw(false, 5001, 1002, ACK | FIN, 500, &[], 0));
    assert!(!f.from_guest(&gfin, &P).1.remove);
    let last = parse(&raw(false, 1002, 5002, ACK, 100, &[], 0));
    assert!(f.to_guest(&last, Room::Free, &P).1.remove);
    // The guest closes first: the guest's ACK is the last.
    let mut f = server_flow();
    assert!(!f.from_guest(&gfin, &P).1.remove);
    assert!(!f.to_guest(&fin, Room::Free, &P).1.remove);
    let last = parse(&raw(false, 5002, 1002, ACK, 500, &[], 0));
    assert!(f.from_guest(&last, &P).1.remove);
}

#[test]
fn mid_connection_flows_echo_the_window_and_never_grow_it() {
    // The guest's edge is 100 + 300: early acks advertise up to it only.
    let ack = parse(&raw(false, 9000, 100, ACK, 300, &[], 0));
    let mut f = Flow::from_guest_ack(&ack, &P).unwrap();
    let seg = parse(&raw(false, 100, 9000, ACK, 50, &[], 200));
    let (v, _) = f.to_guest(&seg, Room::Free, &P);
    assert!(
        matches!(v, ToGuest::PassAndAck(a) if a.ack == 300 && a.window == 100 && a.ts.is_none())
    );
    // Unscaled reading: 300 bytes from ack 100; a segment past 400 is out.
    let (v, ev) = f.to_guest(
        &parse(&raw(false, 300, 9000, ACK, 50, &[], 200)),
        Room::Free,
        &P,
    );
    assert_eq!((v, ev.offline), (ToGuest::Pass, Some(Offline::Window)));
    // Its window unreadable, a duplicate ACK behind the host's point is
    // dropped, SACK blocks past that point or not: raised, its window
    // could not be shrunk to keep the guest's edge.
    let mut sack = sack_opts(&[(500, 600)]);
    sack.extend([1, 1]);
    let dup = parse(&raw(false, 9000, 150, ACK, 300, &sack, 0));
    assert_eq!(f.from_guest(&dup, &P).0, FromGuest::Drop);
}

#[test]
fn client_handshake_settles_options_from_the_senders_synack() {
    // Guest SYN offers WS 7 and TS; the sender's SYN-ACK has no WS.
    let syn = parse(&raw(false, 7000, 0, SYN, 64240, &SYN_OPTS, 0));
    let mut f = Flow::from_guest_syn(&syn, &P).unwrap();
    let synack = parse(&raw(
        false,
        300,
        7001,
        SYN | ACK,
        65535,
        &[2, 4, 5, 0xb4, 8, 10, 0, 0, 0, 5, 0, 0, 0, 7],
        0,
    ));
    assert_eq!(f.to_guest(&synack, Room::Free, &P).0, ToGuest::Pass);
    let ack = parse(&raw(
        false,
        7001,
        301,
        ACK,
        64240,
        &[1, 1, 8, 10, 0, 0, 0, 8, 0, 0, 0, 5],
        0,
    ));
    f.from_guest(&ack, &P);
    let d = parse(&raw(
        false,
        301,
        7001,
        ACK,
        100,
        &[1, 1, 8, 10, 0, 0, 0, 6, 0, 0, 0, 8],
        1000,
    ));
    let (v, _) = f.to_guest(&d, Room::Free, &P);
    // Unscaled window (no WS from the sender): 64240 + 2 MSS, capped at
    // the guest's edge 301 + 64240; timestamps on.
    assert!(
        matches!(v, ToGuest::PassAndAck(a) if a.ack == 1301 && a.window == 63240 && a.ts == Some((8, 6)))
    );
}

#[test]
fn ring_gauge_reads_counters_only_near_the_limit() {
    // A ring that was empty at the start, limit 90.
    let g = RingGauge::new(0, 5000);
    let mut reads = 0;
    for _ in 0..90 {
        g.handed(1);
        assert!(g.room(90, || unreachable!("far from the limit")));
    }
    // Over the limit: the counters say 50 were taken out.
    g.handed(1);
    assert!(g.room(90, || {
        reads += 1;
        5050
    }));
    assert_eq!(reads, 1);
    for _ in 0..49 {
        g.handed(1);
        assert!(g.room(90, || unreachable!("the last read still holds")));
    }
    // Nothing more taken: full.
    g.handed(1);
    assert!(!g.room(90, || 5050));
    assert_eq!(g.estimate(), 91);
    // A reader (netlink) refreshes it: 100 taken since the start.
    assert_eq!(g.refresh(5100), 41);
}

#[test]
fn ring_gauge_with_frames_held_at_start() {
    let g = RingGauge::new(64, 100);
    g.handed(1);
    assert!(!g.room(60, || 100));
    // The reader took 40: 64 + 1 - 40 = 25 may be in the ring.
    assert!(g.room(60, || 140));
    // Counters that went backwards (a reset) never make room.
    let g = RingGauge::new(8, 1000);
    g.handed(1);
    assert!(!g.room(4, || 0));
}

#[test]
fn ring_gauge_admits_within_capacity_only() {
    // An 8-entry ring whose reader took 3 frames into its batch (not yet
    // counted): the ring and the batch hold the 8 handed.
    let g = RingGauge::new(0, 0);
    for _ in 0..8 {
        assert!(g.admit(1, 8, || 0));
    }
    // A ninth would not fit back with the batch: refused, and not counted.
    assert!(!g.admit(1, 8, || 0));
    assert_eq!(g.estimate(), 8);
    // A GSO frame of 3 entries after the reader delivered 2.
    assert!(!g.admit(3, 8, || 2));
    assert_eq!(g.estimate(), 6);
    assert!(g.admit(2, 8, || 2));
    assert_eq!(g.estimate(), 8);
}

#[test]
fn tun_ring_limit_leaves_the_readers_unfreed_batch() {
    // 64 slots, batch 16: up to 15 taken entries still hold slots.
    assert_eq!(tun_ring_limit(64, 16, 8), 64 - 15 - 8);
    assert_eq!(tun_ring_limit(1000, 16, 16), 1000 - 15 - 16);
    // A batch over half the ring is 1: no slack.
    assert_eq!(tun_ring_limit(16, 16, 2), 14);
    assert_eq!(tun_ring_limit(4, 16, 10), 0);
}

#[test]
fn flow_key_is_the_same_both_ways() {
    let s = tcp_parse(ETH_P_IP, &raw(false, 1, 2, ACK, 100, &[], 0)).unwrap();
    let mut r = s;
    core::mem::swap(&mut r.addrs.src, &mut r.addrs.dst);
    core::mem::swap(&mut r.sport, &mut r.dport);
    assert_eq!(FlowKey::to_guest(&s), FlowKey::from_guest(&r));
    assert_eq!(
        FlowKey::to_guest(&s).hash(7),
        FlowKey::from_guest(&r).hash(7)
    );
    assert_ne!(FlowKey::to_guest(&s).hash(7), FlowKey::to_guest(&r).hash(7));
    assert_ne!(FlowKey::to_guest(&s).hash(7), FlowKey::to_guest(&s).hash(8));
    assert_eq!(FlowKey::to_guest(&s).hash(7) & 1, 1);
}

/// A random case: the port's parameters (window growth if `grow` allows
/// it, at random), the guest's receive buffer, its ISN, and the flow from
/// its SYN-ACK (window scale 2).
fn random_case(rnd: &mut impl FnMut(u64) -> u64, grow: bool) -> (Params, u32, u32, Flow) {
    let p = Params {
        buf_size: 4096 * (1 + rnd(32) as u32),
        grow: grow && rnd(2) == 0,
    };
    let guest_buf = 2048 * (1 + rnd(32) as u32);
    let isn = rnd(u64::from(u32::MAX)) as u32;
    let mut synack = seg(9, isn, SYN | ACK, (guest_buf >> 2).min(0xffff) as u16, 0);
    synack.opts.wscale = Some(2);
    let f = Flow::from_guest_syn(&synack, &p).unwrap();
    (p, guest_buf, isn, f)
}

/// Random interleavings of a sender, the guest's ring and a guest TCP
/// through a flow: the host never acks a byte the guest will not receive,
/// and the sender never sees the ack point move back.
#[test]
fn never_acks_what_the_guest_will_not_receive() {
    let mut rnd = xorshift(0x5eed);
    for _ in 0..400 {
        let (p, guest_buf, isn, mut f) = random_case(&mut rnd, false);
        let cap = 1 + rnd(16) as usize;
        let mut ring: std::collections::VecDeque<(u32, u32)> = Default::default();
        let (mut taken, mut dropped) = (0u64, 0u64);
        let gauge = RingGauge::new(0, 0);
        let limit = cap.saturating_sub(rnd(3) as usize) as u64;
        let mut rcv_nxt = isn;
        // Bytes the guest's application has not read yet: they close the
        // guest's window.
        let mut unread: u32 = 0;
        let (mut snd_una, mut snd_nxt, mut snd_wnd) = (isn, isn, guest_buf.min(0xffff << 2));
        let mut max_ack_seen = isn;
        let mut host_acked = isn;
        for _ in 0..rnd(400) {
            match rnd(6) {
                // The sender sends new data, or retransmits, or reorders.
                0..=2 => {
                    let len = 1 + rnd(1448) as u32;
                    let start = match rnd(8) {
                        0 => snd_una,
                        1 => snd_nxt.wrapping_add(len),
                        _ => snd_nxt,
                    };
                    if before_or_eq(start.wrapping_add(len), snd_una.wrapping_add(snd_wnd)) {
                        if start == snd_nxt {
                            snd_nxt = snd_nxt.wrapping_add(len);
                        }
                        let full = taken + dropped;
                        gauge.handed(1);
                        let room = gauge.room(limit, || full);
                        let room = if room { Room::Free } else { Room::RingFull };
                        let (v, _) = f.to_guest(&seg(start, 9, ACK, 100, len), room, &p);
                        if ring.len() < cap {
                            ring.push_back((start, len));
                        } else {
                            dropped += 1;
                        }
                        if let ToGuest::PassAndAck(a) = v {
                            assert!(!tcp::before(a.ack, max_ack_seen), "host ack moved back");
                            max_ack_seen = a.ack;
                            host_acked = tcp::seq_max(host_acked, a.ack);
                            snd_una = tcp::seq_max(snd_una, a.ack);
                            snd_wnd = u32::from(a.window) << 2;
                            // Every acked byte is received, or queued in order
                            // and inside the guest's window.
                            let (mut edge, mut free) = (rcv_nxt, guest_buf - unread);
                            for &(s, l) in &ring {
                                if s == edge && l <= free {
                                    edge = edge.wrapping_add(l);
                                    free -= l;
                                }
                            }
                            assert!(
                                before_or_eq(a.ack, edge),
                                "acked {} past what the guest will get ({edge})",
                                a.ack
                            );
                        }
                    }
                }
                // The guest runs: takes everything from its ring, accepts
                // what is in order and in its window, its application
                // reads some, and it acks.
                _ => {
                    while let Some((s, l)) = ring.pop_front() {
                        taken += 1;
                        let end = s.wrapping_add(l);
                        let in_window = before_or_eq(end, rcv_nxt.wrapping_add(guest_buf - unread));
                        if s == rcv_nxt && in_window {
                            rcv_nxt = end;
                            unread += l;
                        }
                    }
                    unread -= rnd(u64::from(unread) + 1) as u32;
                    let win = ((guest_buf - unread) >> 2).min(0xffff) as u16;
                    let ack = seg(10, rcv_nxt, ACK, win, rnd(2) as u32 * 100);
                    let (v, _) = f.from_guest(&ack, &p);
                    let seen = match v {
                        FromGuest::Drop => None,
                        FromGuest::Pass => Some((rcv_nxt, win)),
                        FromGuest::Rewrite { ack, window, .. } => {
                            Some((ack.unwrap_or(rcv_nxt), window.unwrap_or(win)))
                        }
                    };
                    if let Some((a, w)) = seen {
                        assert!(
                            !tcp::before(a, max_ack_seen),
                            "guest ack let through moved back"
                        );
                        max_ack_seen = a;
                        snd_una = tcp::seq_max(snd_una, a);
                        snd_wnd = u32::from(w) << 2;
                    }
                }
            }
        }
        // Drain: the guest gets everything queued (its application has
        // not read more meanwhile).
        while let Some((s, l)) = ring.pop_front() {
            let end = s.wrapping_add(l);
            if s == rcv_nxt && before_or_eq(end, rcv_nxt.wrapping_add(guest_buf - unread)) {
                rcv_nxt = end;
                unread += l;
            }
        }
        assert!(
            before_or_eq(host_acked, rcv_nxt),
            "host acked {host_acked}, guest has {rcv_nxt}"
        );
    }
}

fn before_or_eq(a: u32, b: u32) -> bool {
    !tcp::before(b, a)
}

#[test]
fn built_acks_parse_back_with_valid_checksums() {
    use vassist_policy::snoop::{build_ack, AckSpec, ACK_FRAME_MAX};
    for v6 in [false, true] {
        for ts in [None, Some((0xdead_beef, 42))] {
            let data = parse(&raw(v6, 1000, 77, ACK | PSH, 9, &[], 500));
            let spec = AckSpec {
                seq: 77,
                ack: 1500,
                window: 4321,
                ts,
            };
            let mut buf = [0u8; ACK_FRAME_MAX];
            let n = build_ack(
                &data,
                [2, 0, 0, 0, 0, 2],
                [2, 0, 0, 0, 0, 1],
                &spec,
                &mut buf,
            );
            let f = &buf[..n];
            assert_eq!(
                (&f[0..6], &f[6..12]),
                (&[2, 0, 0, 0, 0, 1][..], &[2, 0, 0, 0, 0, 2][..])
            );
            let et = u16::from_be_bytes([f[12], f[13]]);
            let a = tcp_parse(et, &f[14..]).expect("parses");
            assert_eq!(
                (a.seq, a.ack, a.window, a.flags, a.payload),
                (77, 1500, 4321, ACK, 0)
            );
            assert_eq!((a.sport, a.dport), (data.dport, data.sport));
            assert_eq!((a.addrs.src, a.addrs.dst), (data.addrs.dst, data.addrs.src));
            assert_eq!(a.opts.ts, ts);
            assert_eq!(
                tcp::checksum(&a.addrs, &f[14 + a.tcp_offset..]),
                0,
                "TCP checksum"
            );
            if !v6 {
                let h = &f[14..34];
                let sum: u32 = h
                    .chunks(2)
                    .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
                    .sum();
                assert_eq!((sum & 0xffff) + (sum >> 16), 0xffff, "IPv4 header checksum");
            }
        }
    }
}

/// The resets that end a flow: each from one end to the other, at the
/// sequence number that end expects (the guest's ack; the sender's own
/// latest ack), RST and ACK, checksums valid.
#[test]
fn resets_go_to_both_ends_at_their_expected_sequence() {
    use vassist_policy::snoop::{build_reset, FlowKey, ACK_FRAME_MAX};
    for v6 in [false, true] {
        let p = P;
        // The guest at 5000 has acked 1000; the sender's segment acks 5000
        // and the host acks it early, up to 1500. (The rules read no
        // addresses: one segment shape serves both ways.)
        let mut f = Flow::from_guest_ack(&parse(&raw(v6, 5000, 1000, ACK, 20000, &[], 0)), &p)
            .expect("flow");
        let data = parse(&raw(v6, 1000, 5000, ACK | PSH, 9, &[], 500));
        f.to_guest(&data, Room::Free, &p);
        let (to_sender, to_guest) = f.resets();
        assert_eq!((to_sender.seq, to_sender.ack), (5000, 1500));
        assert_eq!((to_guest.seq, to_guest.ack), (1000, 5000));
        let key = FlowKey::to_guest(&data);
        let (gmac, pmac) = ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
        for (toward_guest, spec) in [(false, to_sender), (true, to_guest)] {
            let mut buf = [0u8; ACK_FRAME_MAX];
            let n = build_reset(&key, gmac, pmac, toward_guest, &spec, &mut buf);
            let fr = &buf[..n];
            let et = u16::from_be_bytes([fr[12], fr[13]]);
            let r = tcp_parse(et, &fr[14..]).expect("parses");
            assert_eq!((r.seq, r.ack, r.flags), (spec.seq, spec.ack, RST | ACK));
            let (dst, src) = if toward_guest {
                (gmac, pmac)
            } else {
                (pmac, gmac)
            };
            assert_eq!((&fr[0..6], &fr[6..12]), (&dst[..], &src[..]));
            let (sport, dport) = if toward_guest {
                (data.sport, data.dport)
            } else {
                (data.dport, data.sport)
            };
            assert_eq!((r.sport, r.dport), (sport, dport));
            assert_eq!(tcp::checksum(&r.addrs, &fr[14 + r.tcp_offset..]), 0);
        }
    }
}

/// Random interleavings of a sender, a way into the guest that loses
/// frames (single drops, and whole purges as a stopped vhost-net reader's
/// queue sees), a guest TCP that acks out-of-order arrivals at once, the
/// host's delivery buffer with its re-sends, segments parked past the
/// guest's window (growth) and handed as it opens, and timer ticks: once
/// the losses stop, every byte the host acked to the sender reaches the
/// guest.
#[test]
fn every_byte_acked_early_is_delivered_despite_losses_on_the_way_in() {
    use std::collections::VecDeque;
    let mut rnd = xorshift(0xdead_beef);
    let (mut resent_heads, mut resent_all, mut resent_holes, mut released) = (0, 0, 0, 0);
    for _ in 0..400 {
        let (p, guest_buf, isn, mut f) = random_case(&mut rnd, true);
        let cap = 2 + rnd(16) as usize;
        // The way in (the ring and the reader's batch) and the host's
        // delivery buffer (segments acked early, oldest first).
        let mut ring: VecDeque<(u32, u32)> = VecDeque::new();
        let mut held: VecDeque<(u32, u32)> = VecDeque::new();
        let (mut rcv_nxt, mut unread) = (isn, 0u32);
        // Out-of-order ranges the guest keeps (a SACK guest).
        let sack = rnd(2) == 0;
        let mut ofo: Vec<(u32, u32)> = vec![];
        let (mut snd_una, mut snd_nxt, mut snd_wnd) = (isn, isn, guest_buf.min(0xffff << 2));
        let mut host_acked = isn;
        let rounds = rnd(400);
        let mut round = 0;
        while round < rounds || f.held() != 0 || !ring.is_empty() {
            assert!(
                round < rounds + 100_000,
                "no progress: {f:?}, ring {ring:?}, held {held:?}, unread {unread} of {guest_buf}, rcv_nxt {rcv_nxt}"
            );
            let lossy = round < rounds;
            round += 1;
            // What the guest would see sent to it now; a release moves the
            // flow's hand-off point past what it hands.
            let resend = |what: Resend,
                          ring: &mut VecDeque<(u32, u32)>,
                          held: &VecDeque<(u32, u32)>,
                          f: &mut Flow| {
                let (from, to, sacked) = match what {
                    Resend::Nothing => return,
                    Resend::Head => (0, 0, None),
                    Resend::Holes {
                        from,
                        to,
                        sacked,
                        sacks,
                    } => (from, to, Some(sacked[..usize::from(sacks)].to_vec())),
                    Resend::Release { from, to } => {
                        let mut at = from;
                        for &(s, l) in held.iter() {
                            if before_or_eq(s.wrapping_add(l), at) {
                                continue;
                            }
                            if tcp::before(at, s) || !tcp::before(s, to) {
                                break;
                            }
                            if ring.len() < cap {
                                ring.push_back((s, l));
                            }
                            at = s.wrapping_add(l);
                        }
                        f.handed_to(at);
                        return;
                    }
                };
                let Some(sacked) = sacked else {
                    if let Some(&h) = held.front() {
                        if ring.len() < cap {
                            ring.push_back(h);
                        }
                    }
                    return;
                };
                let within = |&&(s, l): &&(u32, u32)| {
                    let end = s.wrapping_add(l);
                    let inside =
                        |&&(a, b): &&(u32, u32)| before_or_eq(a, s) && before_or_eq(end, b);
                    tcp::before(from, end)
                        && tcp::before(s, to)
                        && !sacked.iter().any(|b| inside(&b))
                };
                for &h in held.iter().filter(within) {
                    if ring.len() < cap {
                        ring.push_back(h);
                    }
                }
            };
            match rnd(if lossy { 8 } else { 6 }) {
                // The sender: new data in its window, or (its own timeout)
                // a retransmission from its unacknowledged point.
                0 | 1 => {
                    let mut len = 1 + rnd(1448) as u32;
                    let start = if rnd(6) == 0 || !lossy {
                        snd_una
                    } else {
                        snd_nxt
                    };
                    if !lossy {
                        // Once losses stop, nothing new: what is unacked.
                        len = len.min(snd_nxt.wrapping_sub(snd_una));
                    }
                    let end = start.wrapping_add(len);
                    if !before_or_eq(end, snd_una.wrapping_add(snd_wnd))
                        || (start == snd_nxt && !lossy)
                    {
                        continue;
                    }
                    if start == snd_nxt {
                        snd_nxt = end;
                    }
                    // The guest away (not running), running in turns, or
                    // running, at random.
                    let room = if ring.len() + 1 >= cap {
                        Room::RingFull
                    } else {
                        [Room::Away, Room::Scheduled, Room::Free][rnd(3) as usize]
                    };
                    let before_acked = f.view().acked;
                    let (v, ev) = f.to_guest(&seg(start, 9, ACK, 100, len), room, &p);
                    if ring.len() < cap && !matches!(v, ToGuest::ParkAndAck(_)) {
                        ring.push_back((start, len));
                    }
                    if let ToGuest::PassAndAck(a) | ToGuest::ParkAndAck(a) = v {
                        if tcp::before(before_acked, a.ack) {
                            held.push_back((start, len));
                        }
                        host_acked = tcp::seq_max(host_acked, a.ack);
                        snd_una = tcp::seq_max(snd_una, a.ack);
                        snd_wnd = u32::from(a.window) << 2;
                    }
                    released += usize::from(matches!(ev.resend, Resend::Release { .. }));
                    resend(ev.resend, &mut ring, &held, &mut f);
                }
                // The guest runs: in-order data in its window is taken (one
                // ACK at the end); data past a hole, in its window, is kept
                // out of order (with SACK, if this guest has it) and
                // answered at once, as is anything it drops; its
                // application reads some.
                2 | 3 => {
                    let mut acks = vec![];
                    while let Some((s, l)) = ring.pop_front() {
                        let end = s.wrapping_add(l);
                        let kept = |ofo: &Vec<(u32, u32)>| {
                            ofo.iter().map(|&(a, b)| b.wrapping_sub(a)).sum::<u32>()
                        };
                        let free = guest_buf - unread;
                        let fits = before_or_eq(end, rcv_nxt.wrapping_add(free));
                        // In order (overlapping what it has: trimmed).
                        if before_or_eq(s, rcv_nxt) && tcp::before(rcv_nxt, end) && fits {
                            unread += end.wrapping_sub(rcv_nxt);
                            rcv_nxt = end;
                            // Out-of-order data gives way to in-order data
                            // (Linux prunes its out-of-order queue).
                            while unread + kept(&ofo) > guest_buf {
                                let (a, b) = ofo.pop().unwrap();
                                let over = unread + kept(&ofo) + b.wrapping_sub(a) - guest_buf;
                                if b.wrapping_sub(a) > over {
                                    ofo.push((a, b.wrapping_sub(over)));
                                }
                            }
                            // What was out of order and now follows.
                            ofo.retain(|&(a, b)| {
                                if before_or_eq(a, rcv_nxt) {
                                    if tcp::before(rcv_nxt, b) {
                                        unread += b.wrapping_sub(rcv_nxt);
                                        rcv_nxt = b;
                                    }
                                    false
                                } else {
                                    true
                                }
                            });
                            continue;
                        }
                        let room = free - kept(&ofo).min(free);
                        if sack
                            && tcp::before(rcv_nxt, s)
                            && before_or_eq(end, rcv_nxt.wrapping_add(room))
                        {
                            let (mut a, mut b) = (s, end);
                            ofo.retain(|&(x, y)| {
                                let touch = before_or_eq(x, b) && before_or_eq(a, y);
                                if touch {
                                    a = tcp::seq_min(a, x);
                                    b = tcp::seq_max(b, y);
                                }
                                !touch
                            });
                            ofo.push((a, b));
                        }
                        acks.push((rcv_nxt, ofo.iter().take(4).copied().collect::<Vec<_>>()));
                    }
                    unread -= rnd(u64::from(unread) + 1) as u32;
                    acks.push((rcv_nxt, ofo.iter().take(4).copied().collect()));
                    for (ack, blocks) in acks {
                        let win = ((guest_buf - unread) >> 2).min(0xffff) as u16;
                        let mut a = seg(10, ack, ACK, win, 0);
                        for (i, b) in blocks.iter().enumerate() {
                            a.opts.sack[i] = *b;
                        }
                        a.opts.sacks = blocks.len() as u8;
                        let (v, ev) = f.from_guest(&a, &p);
                        while held
                            .front()
                            .is_some_and(|&(s, l)| before_or_eq(s.wrapping_add(l), f.held_from()))
                        {
                            held.pop_front();
                        }
                        resent_heads += usize::from(ev.resend == Resend::Head);
                        resent_holes += usize::from(matches!(ev.resend, Resend::Holes { .. }));
                        released += usize::from(matches!(ev.resend, Resend::Release { .. }));
                        resend(ev.resend, &mut ring, &held, &mut f);
                        let seen = match v {
                            FromGuest::Drop => None,
                            FromGuest::Pass => Some((ack, win)),
                            FromGuest::Rewrite { ack: a, window, .. } => {
                                Some((a.unwrap_or(ack), window.unwrap_or(win)))
                            }
                        };
                        if let Some((a, w)) = seen {
                            snd_una = tcp::seq_max(snd_una, a);
                            snd_wnd = u32::from(w) << 2;
                        }
                    }
                }
                // The port's timer.
                4 | 5 => {
                    let r = f.tick();
                    resent_all += usize::from(matches!(r, Resend::Holes { .. }));
                    resend(r, &mut ring, &held, &mut f);
                }
                // Losses on the way in.
                6 => {
                    if !ring.is_empty() {
                        ring.remove(rnd(ring.len() as u64) as usize);
                    }
                }
                _ => ring.clear(),
            }
        }
        assert!(
            before_or_eq(host_acked, rcv_nxt),
            "host acked {host_acked}, guest has {rcv_nxt} (held {:?}, ring {ring:?}, unread {unread} of {guest_buf}, {:?}, {:?})",
            held, f.view(), f
        );
        assert_eq!(f.held(), 0);
    }
    assert!(resent_heads > 0 && resent_all > 0 && resent_holes > 0 && released > 0);
}
