// SPDX-License-Identifier: GPL-2.0

//! TCP segments as vassist reads and rewrites them: the fields, the options
//! negotiated on SYNs (MSS, window scale, SACK, timestamps), SACK blocks,
//! the payload length from the IP header, and RFC 1624 incremental
//! checksum updates.
//! Anything malformed (a bad data offset, options running past the header,
//! a length that does not add up) is `None`: the caller leaves the packet
//! alone.

use super::frame::{TcpAt, ETH_P_IP, ETH_P_IPV6};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

/// Offsets of the rewritable fields within the TCP header.
pub const OFF_ACK: usize = 8;
pub const OFF_WINDOW: usize = 14;
pub const OFF_CHECK: usize = 16;

/// Addresses of a segment: IPv4 in the first 4 bytes, or IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Addrs {
    pub v6: bool,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// TCP options that matter to vassist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    /// (TSval, TSecr)
    pub ts: Option<(u32, u32)>,
    /// SACK blocks (left edge, right edge), the first `sacks` of them.
    pub sack: [(u32, u32); 4],
    pub sacks: u8,
    /// Offset of the SACK option (its kind) within the TCP header.
    pub sack_offset: Option<usize>,
}

impl Options {
    /// The SACK blocks the segment carries.
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        &self.sack[..usize::from(self.sacks).min(self.sack.len())]
    }
}

/// A parsed TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub addrs: Addrs,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Raw window field (unscaled).
    pub window: u16,
    pub check: u16,
    /// Offset of the TCP header from the network header.
    pub tcp_offset: usize,
    /// TCP header length (data offset * 4).
    pub header_len: usize,
    /// Payload bytes (from the IP length fields).
    pub payload: u32,
    pub opts: Options,
}

impl Segment {
    pub fn has(&self, flags: u8) -> bool {
        self.flags & flags != 0
    }

    /// Sequence space the segment occupies: payload, plus one each for
    /// SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload + u32::from(self.has(SYN)) + u32::from(self.has(FIN))
    }

    pub fn end_seq(&self) -> u32 {
        self.seq.wrapping_add(self.seq_len())
    }
}

/// Parses the TCP segment whose header [`frame::tcp_offset`] found (the
/// whole TCP header, options included, must be in the bytes it looked in):
/// the packet path has looked for it already, to count the frame.
pub fn parse(at: TcpAt<'_>) -> Option<Segment> {
    let (ethertype, hdr, off) = (at.ethertype(), at.headers(), at.offset());
    let (addrs, l3_total) = match ethertype {
        ETH_P_IP => {
            let mut a = Addrs {
                v6: false,
                src: [0; 16],
                dst: [0; 16],
            };
            a.src[..4].copy_from_slice(&hdr[12..16]);
            a.dst[..4].copy_from_slice(&hdr[16..20]);
            (a, usize::from(u16::from_be_bytes([hdr[2], hdr[3]])))
        }
        ETH_P_IPV6 => {
            let mut a = Addrs {
                v6: true,
                src: [0; 16],
                dst: [0; 16],
            };
            a.src.copy_from_slice(&hdr[8..24]);
            a.dst.copy_from_slice(&hdr[24..40]);
            (a, 40 + usize::from(u16::from_be_bytes([hdr[4], hdr[5]])))
        }
        _ => return None,
    };
    let t = &hdr[off..];
    let header_len = usize::from(t[12] >> 4) * 4;
    if header_len < 20 || t.len() < header_len || l3_total < off + header_len {
        return None;
    }
    let be16 = |i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    Some(Segment {
        addrs,
        sport: be16(0),
        dport: be16(2),
        seq: be32(4),
        ack: be32(8),
        flags: t[13],
        window: be16(14),
        check: be16(16),
        tcp_offset: off,
        header_len,
        payload: u32::try_from(l3_total - off - header_len).ok()?,
        opts: parse_options(&t[20..header_len])?,
    })
}

const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WSCALE: u8 = 3;
const OPT_SACK_OK: u8 = 4;
const OPT_SACK: u8 = 5;
const OPT_TS: u8 = 8;

/// The options area; `None` when an option runs past it or has a length
/// that its kind does not allow.
fn parse_options(mut o: &[u8]) -> Option<Options> {
    let mut opts = Options::default();
    let mut pos = 20;
    while let Some(&kind) = o.first() {
        match kind {
            OPT_EOL => break,
            OPT_NOP => {
                o = &o[1..];
                pos += 1;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*o.get(1)?);
        if len < 2 || len > o.len() {
            return None;
        }
        let body = &o[2..len];
        match (kind, len) {
            (OPT_MSS, 4) => opts.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (OPT_WSCALE, 3) => opts.wscale = Some(body[0].min(14)),
            (OPT_SACK_OK, 2) => opts.sack_ok = true,
            (OPT_TS, 10) => {
                let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                opts.ts = Some((v, e));
            }
            // One SACK option: with two, which one the sender reads is
            // its choice, and a rewrite must know.
            (OPT_SACK, _) if opts.sack_offset.is_some() => return None,
            (OPT_SACK, 10 | 18 | 26 | 34) => {
                for (i, b) in body.chunks_exact(8).enumerate() {
                    let word = |w: &[u8]| u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                    opts.sack[i] = (word(&b[..4]), word(&b[4..]));
                }
                opts.sacks = ((len - 2) / 8) as u8;
                opts.sack_offset = Some(pos);
            }
            (OPT_MSS | OPT_WSCALE | OPT_SACK_OK | OPT_SACK | OPT_TS, _) => return None,
            _ => {}
        }
        o = &o[len..];
        pos += len;
    }
    Some(opts)
}

/// Clips the SACK option at `off` of the TCP header `tcp` to sequence
/// numbers from `from` on: blocks that end at or before it go (the option
/// shortened, the bytes it leaves padded with NOPs; all of it NOPs when no
/// block is left), one that straddles it starts there. Returns `check`
/// updated for the bytes changed; `partial`: CHECKSUM_PARTIAL.
pub fn clip_sack(tcp: &mut [u8], off: usize, from: u32, check: u16, partial: bool) -> Option<u16> {
    let len = usize::from(*tcp.get(off + 1)?);
    if *tcp.get(off)? != OPT_SACK || len < 10 || (len - 2) % 8 != 0 {
        return None;
    }
    // The 16-bit words the option touches, as they were.
    let (lo, hi) = (off & !1, (off + len + 1) & !1);
    let mut old = [0u8; 40];
    old.get_mut(..hi - lo)?.copy_from_slice(tcp.get(lo..hi)?);
    let word = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut kept = 0;
    for i in 0..(len - 2) / 8 {
        let at = off + 2 + 8 * i;
        let (start, end) = (word(tcp, at), word(tcp, at + 4));
        if !before(from, end) {
            continue;
        }
        let to = off + 2 + 8 * kept;
        tcp[to..to + 4].copy_from_slice(&seq_max(start, from).to_be_bytes());
        tcp[to + 4..to + 8].copy_from_slice(&end.to_be_bytes());
        kept += 1;
    }
    if kept == 0 {
        tcp[off..off + len].fill(OPT_NOP);
    } else {
        tcp[off + 1] = (2 + 8 * kept) as u8;
        tcp[off + 2 + 8 * kept..off + len].fill(OPT_NOP);
    }
    let mut check = check;
    for (i, w) in (lo..hi).step_by(2).enumerate() {
        let was = u16::from_be_bytes([old[2 * i], old[2 * i + 1]]);
        let now = u16::from_be_bytes([tcp[w], tcp[w + 1]]);
        check = csum_replace2(check, was, now, partial);
    }
    Some(check)
}

/// `a` is before `b` in sequence space.
pub fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The later of two sequence numbers.
pub fn seq_max(a: u32, b: u32) -> u32 {
    if before(a, b) {
        b
    } else {
        a
    }
}

/// The earlier of two sequence numbers.
pub fn seq_min(a: u32, b: u32) -> u32 {
    if before(a, b) {
        a
    } else {
        b
    }
}

/// The TCP checksum field after a 16-bit word of the covered data changed
/// from `old` to `new` (RFC 1624, eqn. 3). With CHECKSUM_PARTIAL the field
/// holds only the pseudo-header sum and the device completes it over the
/// header later: a header word change then leaves it alone.
pub fn csum_replace2(check: u16, old: u16, new: u16, partial: bool) -> u16 {
    if partial {
        return check;
    }
    let mut sum = u32::from(!check) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// As [`csum_replace2`] for a 32-bit field.
pub fn csum_replace4(check: u16, old: u32, new: u32, partial: bool) -> u16 {
    let c = csum_replace2(check, (old >> 16) as u16, (new >> 16) as u16, partial);
    csum_replace2(c, old as u16, new as u16, partial)
}

/// The full TCP checksum of a segment (pseudo-header + `tcp`, the header
/// and payload with the checksum field as it is). For building segments
/// and for tests.
pub fn checksum(addrs: &Addrs, tcp: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let n = if addrs.v6 { 16 } else { 4 };
    for a in [&addrs.src[..n], &addrs.dst[..n]] {
        for w in a.chunks(2) {
            sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
    }
    sum += 6 + tcp.len() as u64;
    let mut chunks = tcp.chunks_exact(2);
    for w in &mut chunks {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
