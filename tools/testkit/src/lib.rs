// SPDX-License-Identifier: GPL-2.0

//! Shared pieces of the vassist test tools.

/// The test stream: byte `i` of a transfer with `seed`, so a receiver can
/// check every byte without the sender's help.
pub fn pattern_fill(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let pos = offset + i as u64;
        *b = (splitmix64(seed ^ (pos / 8)) >> ((pos % 8) * 8)) as u8;
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_position_dependent_and_chunking_invariant() {
        let mut whole = [0u8; 100];
        pattern_fill(7, 0, &mut whole);
        let mut parts = [0u8; 100];
        pattern_fill(7, 0, &mut parts[..33]);
        pattern_fill(7, 33, &mut parts[33..]);
        assert_eq!(whole, parts);
        let mut other = [0u8; 100];
        pattern_fill(8, 0, &mut other);
        assert_ne!(whole, other);
    }
}
