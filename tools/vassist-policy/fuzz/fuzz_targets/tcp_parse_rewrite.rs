// SPDX-License-Identifier: GPL-2.0
//! Fuzzes the TCP parser and the ack/window rewriter on arbitrary packets,
//! the ACK builder and the ack offload state machine on whatever parses: no
//! panics, no out-of-bounds, rewrites change exactly the fields asked for
//! and keep a valid checksum valid, built ACKs parse back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vassist_policy::frame::{self, ETH_P_IP, ETH_P_IPV6};
use vassist_policy::snoop::{apply_rewrite, build_ack, AckSpec, Flow, Params, Room, ACK_FRAME_MAX};
use vassist_policy::tcp;

/// Locates the TCP header and parses the segment, as the packet path does.
fn tcp_parse(ethertype: u16, hdr: &[u8]) -> Option<tcp::Segment> {
    tcp::parse(frame::tcp_offset(ethertype, hdr)?)
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, pkt)) = data.split_first() else {
        return;
    };
    let ethertype = if ctl & 1 == 0 { ETH_P_IP } else { ETH_P_IPV6 };
    let Some(seg) = tcp_parse(ethertype, pkt) else {
        return;
    };
    let t = seg.tcp_offset;
    assert!(t + seg.header_len <= pkt.len());

    // Rewrite ack and window with values taken from the input.
    let mut buf = pkt.to_vec();
    let ack = seg.seq ^ u32::from(ctl).rotate_left(13);
    let window = seg.window.wrapping_add(u16::from(ctl));
    let end = (t + seg.header_len + seg.payload as usize).min(buf.len());
    let whole = end - t == seg.header_len + seg.payload as usize;
    let valid_before = whole && tcp::checksum(&seg.addrs, &buf[t..end]) == 0;
    let sack = seg.opts.sack_offset.map(|o| (o, ack));
    apply_rewrite(&mut buf[t..], Some(ack), Some(window), sack, false).unwrap();
    let after = tcp_parse(ethertype, &buf).expect("still parses");
    assert_eq!((after.ack, after.window), (ack, window));
    assert!(after.opts.sack_blocks().iter().all(|b| !tcp::before(b.0, ack)), "a SACK block below the ack");
    assert_eq!((after.seq, after.flags, after.sport, after.dport), (seg.seq, seg.flags, seg.sport, seg.dport));
    if valid_before {
        assert_eq!(tcp::checksum(&after.addrs, &buf[t..end]), 0, "checksum broken by the rewrite");
    }

    // The ACK built for any segment parses back, with a valid checksum.
    let spec = AckSpec { seq: seg.ack, ack: seg.end_seq(), window, ts: seg.opts.ts };
    let mut frame = [0u8; ACK_FRAME_MAX];
    let n = build_ack(&seg, [2; 6], [4; 6], &spec, &mut frame);
    let a = tcp_parse(ethertype, &frame[14..n]).expect("built ACK parses");
    assert_eq!((a.ack, a.seq, a.sport, a.dport), (spec.ack, spec.seq, seg.dport, seg.sport));
    assert_eq!(tcp::checksum(&a.addrs, &frame[14 + a.tcp_offset..n]), 0);

    // The state machine takes any segment in either direction.
    let p = Params {
        buf_size: 1 << (10 + ctl % 10),
        grow: ctl & 0x80 != 0,
    };
    if let Some(mut f) = Flow::from_guest_syn(&seg, &p).or_else(|| Flow::from_guest_ack(&seg, &p)) {
        let room = |bits: u8| {
            [
                Room::Free,
                Room::RingFull,
                Room::HeldFull,
                Room::Away,
                Room::Scheduled,
                Room::NoAck,
                Room::Free,
                Room::Free,
            ][usize::from(bits & 7)]
        };
        let _ = f.to_guest(&seg, room(ctl >> 1), &p);
        let _ = f.from_guest(&seg, &p);
        let _ = f.tick();
        let _ = f.to_guest(&after, room(ctl >> 3), &p);
    }
});
