// SPDX-License-Identifier: GPL-2.0

//! Finding the TCP header in an IPv4 or IPv6 packet, given its EtherType and
//! the first bytes from its network header. Anything malformed, truncated or
//! not the first fragment is "not TCP": the caller then leaves the packet
//! alone.

/// EtherType of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;

// IPv6 extension headers walked over to reach TCP.
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_DEST: u8 = 60;
const MAX_EXT_HEADERS: usize = 4;
const TCP_MIN_LEN: usize = 20;

/// A packet's headers with where its TCP header starts in them. Only
/// [`tcp_offset`] makes one, and it keeps the bytes it looked in: the IP
/// header and the fixed TCP header are known to be there, and the segment
/// parser takes it instead of looking again (it cannot be paired with other
/// bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpAt<'b> {
    ethertype: u16,
    hdr: &'b [u8],
    off: usize,
}

impl<'b> TcpAt<'b> {
    /// Where the TCP header starts, from the network header.
    pub fn offset(&self) -> usize {
        self.off
    }

    pub fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// The bytes from the network header on that it was found in.
    pub fn headers(&self) -> &'b [u8] {
        self.hdr
    }
}

/// Where the TCP header is, when the packet is a TCP segment whose fixed
/// TCP header lies within `hdr`.
pub fn tcp_offset(ethertype: u16, hdr: &[u8]) -> Option<TcpAt<'_>> {
    let off = match ethertype {
        ETH_P_IP => ipv4_tcp_offset(hdr)?,
        ETH_P_IPV6 => ipv6_tcp_offset(hdr)?,
        _ => return None,
    };
    (hdr.len() >= off.checked_add(TCP_MIN_LEN)?).then_some(TcpAt {
        ethertype,
        hdr,
        off,
    })
}

fn ipv4_tcp_offset(hdr: &[u8]) -> Option<usize> {
    // The protocol first: a frame that is not TCP leaves at once.
    if *hdr.get(9)? != IPPROTO_TCP {
        return None;
    }
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    if hdr[0] >> 4 != 4 || ihl < 20 || hdr.len() < ihl {
        return None;
    }
    // Fragment offset (13 bits) must be 0: later fragments carry no header.
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]) & 0x1fff;
    (frag == 0).then_some(ihl)
}

fn ipv6_tcp_offset(hdr: &[u8]) -> Option<usize> {
    if hdr.len() < 40 || hdr[0] >> 4 != 6 {
        return None;
    }
    let mut next = hdr[6];
    let mut off = 40;
    for _ in 0..MAX_EXT_HEADERS {
        match next {
            IPPROTO_TCP => return Some(off),
            NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_DEST => {
                let ext = hdr.get(off..off + 2)?;
                next = ext[0];
                off += (usize::from(ext[1]) + 1) * 8;
            }
            NEXTHDR_FRAGMENT => {
                let ext = hdr.get(off..off + 8)?;
                if u16::from_be_bytes([ext[2], ext[3]]) & 0xfff8 != 0 {
                    return None;
                }
                next = ext[0];
                off += 8;
            }
            _ => return None,
        }
    }
    (next == IPPROTO_TCP).then_some(off)
}
