// SPDX-License-Identifier: GPL-2.0
//! Fuzzes what a zone port's consumer can write, as the host reads it:
//! arbitrary ring indices, returned addresses and transmitted frames,
//! interleaved with the host placing frames and completing sends. No panics; every buffer keeps exactly one owner;
//! the host's view of the rings never goes past what it produced.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vassist_policy::zone::abi;
use vassist_policy::zone::{
    bufs_for, tx_frame, Addr, BufId, Buffers, Consumer, Geometry, Owner, Producer,
};

fuzz_target!(|data: &[u8]| {
    // 16 buffers a zone, 2 zones, rings of 64.
    let g = Geometry::new(64 * 1024, 2, 64).unwrap();
    let n = g.bufs_max();
    let mut bufs = Buffers::new(g, vec![0u32; n], vec![Owner::Free; n]).unwrap();
    bufs.add_zone();
    let mut rx = Producer::new(g.ring(), 0);
    let mut ret = Consumer::new(g.ring(), 0);
    let mut sent: Vec<BufId> = Vec::new();
    for op in data.chunks(9) {
        let Some((&kind, rest)) = op.split_first() else {
            return;
        };
        let word = |i: usize| {
            let mut b = [0u8; 4];
            for (k, v) in rest.iter().skip(i).take(4).enumerate() {
                b[k] = *v;
            }
            u32::from_ne_bytes(b)
        };
        match kind % 7 {
            // The host places a frame of some length.
            0 => {
                let need = bufs_for(word(0) % 70_000);
                let room = rx.sync(word(4)).unwrap_or(rx.room());
                if room >= need {
                    let mut ids = Vec::new();
                    if bufs.take(need, |id| ids.push(id)) {
                        for id in ids {
                            bufs.post(id);
                        }
                        rx.commit(need);
                    }
                }
            }
            // The consumer's return ring: a producer index and entries.
            1 => {
                if let Ok(avail) = ret.sync(word(0)) {
                    assert!(avail <= g.ring());
                    for k in 0..avail {
                        assert!(ret.slot(k).is_some());
                        let mut e = [0u8; abi::ADDR_SIZE as usize];
                        for (i, b) in e.iter_mut().enumerate() {
                            *b = rest.get(4 + (i + k as usize) % 4).copied().unwrap_or(0);
                        }
                        let _ = bufs.give_back(abi::addr_from_bytes(e));
                    }
                    ret.release(avail);
                }
            }
            2 => {
                bufs.add_zone();
            }
            3 => {
                bufs.reclaim();
            }
            4 => {
                bufs.lend(word(0) % 8, |_| ());
            }
            // The consumer transmits a frame: descriptors as it wrote them.
            5 => {
                let descs: Vec<abi::Desc> = rest
                    .chunks(4)
                    .map(|c| {
                        let w = |i: usize| c.get(i).copied().unwrap_or(0);
                        abi::Desc {
                            addr: Addr {
                                zone: u16::from(w(0) % 3),
                                offset: u32::from(w(1)) * 512,
                            },
                            flags: u16::from(w(2) % 4),
                            len: u32::from(w(3)) * 40,
                            vnet: [w(3); abi::VNET_LEN],
                        }
                    })
                    .collect();
                if let Ok(f) = tx_frame(&descs) {
                    assert!(f.linear <= f.len);
                    let addrs: Vec<Addr> = descs.iter().map(|d| d.addr).collect();
                    let mut ids = vec![BufId(0); addrs.len()];
                    if bufs.send(&addrs, &mut ids).is_ok() {
                        sent.extend(ids);
                    }
                }
            }
            _ => {
                if let Some(id) = sent.pop() {
                    bufs.complete(id, word(0) % 2 == 0);
                }
            }
        }
        let u = bufs.usage();
        assert_eq!(u.free, bufs.free());
        assert_eq!(u.sent as usize, sent.len());
        assert_eq!(
            u.free + u.host + u.consumer + u.sent,
            bufs.zones() as u32 * 16
        );
        assert!(rx.pending() <= g.ring());
    }
});
