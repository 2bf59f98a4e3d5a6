// SPDX-License-Identifier: GPL-2.0

use vassist_policy::frame::{self, ETH_P_IP, ETH_P_IPV6, IPPROTO_TCP};

/// The TCP header's offset, as a number.
fn tcp_offset(ethertype: u16, hdr: &[u8]) -> Option<usize> {
    frame::tcp_offset(ethertype, hdr).map(|t| t.offset())
}

fn ipv4(proto: u8, ihl_words: u8, frag: u16) -> Vec<u8> {
    let ihl = usize::from(ihl_words) * 4;
    let mut p = vec![0u8; ihl + 20];
    p[0] = 0x40 | ihl_words;
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p[9] = proto;
    p
}

fn ipv6(exts: &[(u8, usize)], last: u8) -> Vec<u8> {
    // exts: (this header's type, its length in bytes)
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[6] = exts.first().map_or(last, |e| e.0);
    for (i, &(_, len)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(last, |e| e.0);
        let mut h = vec![0u8; len];
        h[0] = next;
        if len != 8 || exts[i].0 != 44 {
            h[1] = (len / 8 - 1) as u8;
        }
        p.extend(h);
    }
    p.extend([0u8; 20]);
    p
}

#[test]
fn ipv4_tcp_found_after_options() {
    assert_eq!(tcp_offset(ETH_P_IP, &ipv4(IPPROTO_TCP, 5, 0)), Some(20));
    assert_eq!(tcp_offset(ETH_P_IP, &ipv4(IPPROTO_TCP, 15, 0)), Some(60));
    // DF set, offset 0: still the first fragment.
    assert_eq!(
        tcp_offset(ETH_P_IP, &ipv4(IPPROTO_TCP, 5, 0x4000)),
        Some(20)
    );
}

#[test]
fn ipv4_not_tcp_or_not_first_fragment_or_malformed() {
    assert_eq!(tcp_offset(ETH_P_IP, &ipv4(17, 5, 0)), None);
    assert_eq!(tcp_offset(ETH_P_IP, &ipv4(IPPROTO_TCP, 5, 0x0001)), None);
    assert_eq!(
        tcp_offset(ETH_P_IP, &ipv4(IPPROTO_TCP, 4, 0)),
        None,
        "ihl < 5"
    );
    let mut v6 = ipv4(IPPROTO_TCP, 5, 0);
    v6[0] = 0x65;
    assert_eq!(tcp_offset(ETH_P_IP, &v6), None, "wrong version");
    let p = ipv4(IPPROTO_TCP, 5, 0);
    assert_eq!(tcp_offset(ETH_P_IP, &p[..39]), None, "TCP header truncated");
    assert_eq!(tcp_offset(0x0806, &p), None, "ARP");
}

#[test]
fn ipv6_tcp_found_through_extension_headers() {
    assert_eq!(tcp_offset(ETH_P_IPV6, &ipv6(&[], IPPROTO_TCP)), Some(40));
    assert_eq!(
        tcp_offset(ETH_P_IPV6, &ipv6(&[(0, 8), (60, 16)], IPPROTO_TCP)),
        Some(64)
    );
    assert_eq!(
        tcp_offset(ETH_P_IPV6, &ipv6(&[(44, 8)], IPPROTO_TCP)),
        Some(48)
    );
}

#[test]
fn ipv6_not_tcp_or_later_fragment_or_truncated() {
    assert_eq!(tcp_offset(ETH_P_IPV6, &ipv6(&[], 17)), None);
    let mut frag = ipv6(&[(44, 8)], IPPROTO_TCP);
    frag[43] = 0x08; // fragment offset 1
    assert_eq!(tcp_offset(ETH_P_IPV6, &frag), None);
    let p = ipv6(&[(0, 8)], IPPROTO_TCP);
    assert_eq!(tcp_offset(ETH_P_IPV6, &p[..50]), None);
    let five = ipv6(&[(0, 8), (0, 8), (0, 8), (0, 8), (0, 8)], IPPROTO_TCP);
    assert_eq!(
        tcp_offset(ETH_P_IPV6, &five),
        None,
        "too many extension headers"
    );
}

#[test]
fn never_panics_and_stays_in_bounds_on_arbitrary_bytes() {
    let mut x: u64 = 0x1234_5678;
    for len in 0..200usize {
        for _ in 0..200 {
            let mut p = vec![0u8; len];
            for b in p.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            if len > 0 {
                p[0] = if x & 1 == 0 { 0x45 } else { 0x60 };
            }
            for et in [ETH_P_IP, ETH_P_IPV6] {
                if let Some(off) = tcp_offset(et, &p) {
                    assert!(off + 20 <= p.len());
                }
            }
        }
    }
}
