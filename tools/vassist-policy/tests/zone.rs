// SPDX-License-Identifier: GPL-2.0

use proptest::prelude::*;
use vassist_policy::zone::abi::{self, Desc};
use vassist_policy::zone::{
    bufs_for, tx_frame, Addr, Bad, BufId, Buffers, Consumer, Geometry, GeometryError, Owner,
    Producer, BUF_SIZE, TX_BUFS_MAX, TX_LINEAR_MIN,
};

type Alloc = Buffers<Vec<u32>, Vec<Owner>>;

fn alloc(g: Geometry) -> Alloc {
    let n = g.bufs_max();
    Buffers::new(g, vec![0; n], vec![Owner::Free; n]).unwrap()
}

fn small() -> Geometry {
    // 16 buffers a zone, 3 zones at most.
    Geometry::new(64 * 1024, 3, 64).unwrap()
}

#[test]
fn geometry_bounds() {
    assert_eq!(Geometry::default().bufs_per_zone(), 1024);
    assert_eq!(
        Geometry::new(3 << 20, 4, 1024),
        Err(GeometryError::ZoneSize)
    );
    assert_eq!(
        Geometry::new(32 << 10, 4, 1024),
        Err(GeometryError::ZoneSize)
    );
    assert_eq!(
        Geometry::new(128 << 20, 4, 1024),
        Err(GeometryError::ZoneSize)
    );
    assert_eq!(
        Geometry::new(4 << 20, 0, 1024),
        Err(GeometryError::ZonesMax)
    );
    assert_eq!(
        Geometry::new(4 << 20, 65, 1024),
        Err(GeometryError::ZonesMax)
    );
    assert_eq!(Geometry::new(4 << 20, 4, 1000), Err(GeometryError::Ring));
    assert_eq!(Geometry::new(4 << 20, 4, 32), Err(GeometryError::Ring));
    assert_eq!(Geometry::new(4 << 20, 4, 32768), Err(GeometryError::Ring));
}

#[test]
fn tables_must_fit_the_geometry() {
    let g = small();
    assert!(Buffers::new(g, vec![0u32; 47], vec![Owner::Free; 48]).is_none());
    assert!(Buffers::new(g, vec![0u32; 48], vec![Owner::Free; 47]).is_none());
}

#[test]
fn buffers_come_from_added_zones_in_order() {
    let mut b = alloc(small());
    assert!(!b.take(1, |_| ()));
    assert_eq!(b.add_zone(), Some(0));
    let mut got = vec![];
    assert!(b.take(3, |id| got.push(id)));
    assert_eq!(got, [BufId(0), BufId(1), BufId(2)]);
    assert_eq!(
        b.geometry().addr(BufId(17)),
        Addr {
            zone: 1,
            offset: BUF_SIZE
        }
    );
    assert!(!b.take(14, |_| ()), "13 left: all or none");
    assert_eq!(b.free(), 13);
    assert_eq!(b.add_zone(), Some(1));
    assert_eq!(b.add_zone(), Some(2));
    assert_eq!(b.add_zone(), None);
    assert_eq!(b.usage().zones, 3);
    assert_eq!(b.usage().free, 45);
    assert_eq!(b.usage().host, 3);
}

#[test]
fn consumer_returns_only_what_it_holds() {
    let mut b = alloc(small());
    b.add_zone();
    let mut ids = vec![];
    b.take(2, |id| ids.push(id));
    b.post(ids[0]);
    let a0 = b.geometry().addr(ids[0]);
    let a1 = b.geometry().addr(ids[1]);
    assert_eq!(b.give_back(a1), Err(Bad::NotOwned), "still the host's");
    assert_eq!(b.give_back(a0), Ok(ids[0]));
    assert_eq!(b.give_back(a0), Err(Bad::NotOwned), "double return");
    assert_eq!(b.give_back(Addr { zone: 1, offset: 0 }), Err(Bad::Zone));
    assert_eq!(
        b.give_back(Addr {
            zone: 0,
            offset: 100
        }),
        Err(Bad::Offset)
    );
    assert_eq!(
        b.give_back(Addr {
            zone: 0,
            offset: 64 * 1024
        }),
        Err(Bad::Offset)
    );
    b.untake(ids[1]);
    assert_eq!(b.usage().free, 16);
}

#[test]
fn reclaim_frees_what_the_consumer_held() {
    let mut b = alloc(small());
    b.add_zone();
    b.add_zone();
    let mut ids = vec![];
    b.take(20, |id| ids.push(id));
    for id in &ids[..15] {
        b.post(*id);
    }
    assert_eq!(b.reclaim(), 15);
    assert_eq!(b.usage().consumer, 0);
    assert_eq!(b.usage().host, 5);
    assert_eq!(b.free(), 27);
}

#[test]
fn frames_take_whole_buffers() {
    assert_eq!(bufs_for(0), 1);
    assert_eq!(bufs_for(60), 1);
    assert_eq!(bufs_for(BUF_SIZE), 1);
    assert_eq!(bufs_for(BUF_SIZE + 1), 2);
    assert_eq!(bufs_for(65535 + 14), 17);
}

#[test]
fn lent_buffers_are_sent_and_come_back() {
    let mut b = alloc(small());
    b.add_zone();
    let mut lent = vec![];
    assert!(b.lend(3, |id| lent.push(id)));
    assert!(!b.lend(14, |_| ()), "13 left: all or none");
    let g = *b.geometry();
    let addrs: Vec<Addr> = lent.iter().map(|id| g.addr(*id)).collect();
    let mut ids = [BufId(0); 3];
    // A buffer named twice: nothing is sent.
    assert_eq!(
        b.send(&[addrs[0], addrs[1], addrs[0]], &mut ids),
        Err(Bad::NotOwned)
    );
    assert_eq!(b.usage().consumer, 3);
    assert_eq!(b.owner(lent[0]), Owner::Consumer);
    assert_eq!(
        b.send(&[addrs[0], Addr { zone: 2, offset: 0 }], &mut ids),
        Err(Bad::Zone)
    );
    assert_eq!(b.send(&addrs[..2], &mut ids[..1]), Err(Bad::Frame));
    assert_eq!(b.send(&addrs[..2], &mut ids), Ok(()));
    assert_eq!(&ids[..2], &lent[..2]);
    assert_eq!(b.give_back(addrs[0]), Err(Bad::NotOwned), "in flight");
    assert_eq!(b.reclaim(), 1, "what was sent stays until the host is done");
    assert!(!b.complete(lent[0], false));
    assert_eq!(b.owner(lent[0]), Owner::Free);
    assert!(b.complete(lent[1], true), "a consumer bound again gets it");
    assert_eq!(b.owner(lent[1]), Owner::Consumer);
    let u = b.usage();
    assert_eq!((u.free, u.consumer, u.sent), (15, 1, 0));
}

fn desc(len: u32, more: bool) -> Desc {
    Desc {
        addr: Addr { zone: 0, offset: 0 },
        flags: if more { abi::DESC_MORE } else { 0 },
        len,
        vnet: [0; abi::VNET_LEN],
    }
}

fn vnet(flags: u8, hdr_len: u16, csum_start: u16, csum_offset: u16) -> [u8; abi::VNET_LEN] {
    let mut v = [0; abi::VNET_LEN];
    v[0] = flags;
    v[2..4].copy_from_slice(&hdr_len.to_le_bytes());
    v[6..8].copy_from_slice(&csum_start.to_le_bytes());
    v[8..10].copy_from_slice(&csum_offset.to_le_bytes());
    v
}

#[test]
fn transmitted_frames_are_checked() {
    let one = tx_frame(&[desc(60, false)]).unwrap();
    assert_eq!((one.len, one.linear), (60, 60));
    let big = tx_frame(&[desc(BUF_SIZE, true), desc(100, false)]).unwrap();
    assert_eq!((big.len, big.linear), (BUF_SIZE + 100, TX_LINEAR_MIN));
    assert_eq!(tx_frame(&[]), Err(Bad::Frame));
    assert_eq!(
        tx_frame(&[desc(13, false)]),
        Err(Bad::Frame),
        "no Ethernet header"
    );
    assert_eq!(tx_frame(&[desc(0, false)]), Err(Bad::Frame));
    assert_eq!(tx_frame(&[desc(BUF_SIZE + 1, false)]), Err(Bad::Frame));
    assert_eq!(
        tx_frame(&[desc(60, true)]),
        Err(Bad::Frame),
        "MORE on the last"
    );
    assert_eq!(
        tx_frame(&[desc(60, false), desc(60, false)]),
        Err(Bad::Frame)
    );
    let mut odd = desc(60, false);
    odd.flags = 4;
    assert_eq!(tx_frame(&[odd]), Err(Bad::Frame), "unknown flags");
    let mut long = vec![desc(BUF_SIZE, true); TX_BUFS_MAX];
    long.last_mut().unwrap().flags = 0;
    assert!(tx_frame(&long).is_ok());
    long.insert(0, desc(BUF_SIZE, true));
    assert_eq!(
        tx_frame(&long),
        Err(Bad::Frame),
        "more fragments than an skb has"
    );
    // The checksum field must be inside the frame; hdr_len then covers it.
    let mut csum = desc(1000, false);
    csum.vnet = vnet(1, 0, 34, 16);
    let f = tx_frame(&[csum]).unwrap();
    assert_eq!(u16::from_le_bytes([f.vnet[2], f.vnet[3]]), 52);
    csum.vnet = vnet(1, 0, 990, 16);
    assert_eq!(tx_frame(&[csum]), Err(Bad::Frame));
    csum.vnet = vnet(0, 1001, 0, 0);
    assert_eq!(tx_frame(&[csum]), Err(Bad::Frame), "headers past the frame");
    csum.vnet = vnet(0, 300, 0, 0);
    assert_eq!(
        tx_frame(&[csum]).unwrap().linear,
        300,
        "headers copied whole"
    );
}

#[test]
fn layout_and_info_round_trip() {
    let g = Geometry::default();
    let l = abi::Layout::new(g.ring());
    assert_eq!(l.size as usize % BUF_SIZE as usize, 0);
    assert!(l.comp_addrs + g.ring() * abi::ADDR_SIZE <= l.size);
    let info = abi::Info {
        geometry: g,
        zones: 2,
        layout: l,
    };
    assert_eq!(abi::Info::from_bytes(info.to_bytes()), Some(info));
    let mut b = info.to_bytes();
    b[40] ^= 1;
    assert_eq!(
        abi::Info::from_bytes(b),
        None,
        "a layout this side does not know"
    );
}

#[derive(Clone, Debug)]
enum Op {
    AddZone,
    Take(u32),
    /// Posts the `n`th buffer the host holds.
    Post(usize),
    Untake(usize),
    /// Returns the `n`th buffer the consumer holds.
    Return(usize),
    /// The consumer returns whatever address it likes.
    Forge(u16, u32),
    Reclaim,
    Lend(u32),
    /// Sends the consumer's buffers from the `n`th on, `k` of them,
    /// perhaps with a forged address among them.
    Send(usize, usize, Option<(u16, u32)>),
    /// The host is done with the `n`th sent buffer; the consumer is bound.
    Complete(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::AddZone),
        4 => (1u32..20).prop_map(Op::Take),
        4 => any::<usize>().prop_map(Op::Post),
        1 => any::<usize>().prop_map(Op::Untake),
        4 => any::<usize>().prop_map(Op::Return),
        2 => (0u16..5, prop_oneof![any::<u32>(), (0u32..48).prop_map(|i| i * BUF_SIZE)])
            .prop_map(|(z, o)| Op::Forge(z, o)),
        1 => Just(Op::Reclaim),
        2 => (1u32..8).prop_map(Op::Lend),
        3 => (any::<usize>(), 1usize..5, prop::option::weighted(0.2, (0u16..3, 0u32..20_000)))
            .prop_map(|(i, k, f)| Op::Send(i, k, f)),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(i, b)| Op::Complete(i, b)),
    ]
}

proptest! {
    /// Whatever the consumer sends back, each buffer is held by exactly one
    /// side, the counts say so, and a buffer is only reused once free.
    #[test]
    fn every_buffer_has_one_owner(ops in prop::collection::vec(op(), 1..300)) {
        let g = small();
        let mut b = alloc(g);
        let mut host: Vec<BufId> = vec![];
        let mut consumer: Vec<BufId> = vec![];
        let mut sent: Vec<BufId> = vec![];
        for op in ops {
            match op {
                Op::AddZone => { b.add_zone(); }
                Op::Take(n) => {
                    let before = b.free();
                    let mut got = vec![];
                    let ok = b.take(n, |id| got.push(id));
                    prop_assert_eq!(ok, n <= before);
                    for id in &got {
                        prop_assert!(!host.contains(id) && !consumer.contains(id));
                        prop_assert!((id.0 as usize) < b.zones() as usize * 16);
                    }
                    host.extend(got);
                }
                Op::Post(i) if !host.is_empty() => {
                    let id = host.swap_remove(i % host.len());
                    b.post(id);
                    consumer.push(id);
                }
                Op::Untake(i) if !host.is_empty() => {
                    let id = host.swap_remove(i % host.len());
                    b.untake(id);
                }
                Op::Return(i) if !consumer.is_empty() => {
                    let id = consumer.swap_remove(i % consumer.len());
                    prop_assert_eq!(b.give_back(g.addr(id)), Ok(id));
                }
                Op::Forge(zone, offset) => {
                    let addr = Addr { zone, offset };
                    let r = b.give_back(addr);
                    match b.lookup(addr) {
                        Ok(id) => {
                            let held = consumer.iter().position(|c| *c == id);
                            prop_assert_eq!(r.is_ok(), held.is_some());
                            if let Some(k) = held {
                                consumer.swap_remove(k);
                            }
                        }
                        Err(e) => prop_assert_eq!(r, Err(e)),
                    }
                }
                Op::Reclaim => {
                    prop_assert_eq!(b.reclaim() as usize, consumer.len());
                    consumer.clear();
                }
                Op::Lend(n) => {
                    let before = b.free();
                    let mut got = vec![];
                    prop_assert_eq!(b.lend(n, |id| got.push(id)), n <= before);
                    consumer.extend(got);
                }
                Op::Send(i, k, forged) if !consumer.is_empty() => {
                    let start = i % consumer.len();
                    let k = k.min(consumer.len() - start);
                    let mut addrs: Vec<Addr> =
                        consumer[start..start + k].iter().map(|id| g.addr(*id)).collect();
                    if let Some((zone, offset)) = forged {
                        addrs.push(Addr { zone, offset });
                    }
                    let mut ids = vec![BufId(0); addrs.len()];
                    let r = b.send(&addrs, &mut ids);
                    // A forged address is good only if it names a held
                    // buffer not already in the frame.
                    let good = addrs.iter().enumerate().all(|(j, a)| {
                        b.lookup(*a).is_ok_and(|id| consumer.contains(&id))
                            && !addrs[..j].contains(a)
                    });
                    prop_assert_eq!(r.is_ok(), good);
                    if r.is_ok() {
                        for id in ids {
                            consumer.retain(|c| *c != id);
                            sent.push(id);
                        }
                    }
                }
                Op::Complete(i, bound) if !sent.is_empty() => {
                    let id = sent.swap_remove(i % sent.len());
                    prop_assert_eq!(b.complete(id, bound), bound);
                    if bound {
                        consumer.push(id);
                    }
                }
                _ => {}
            }
            let u = b.usage();
            prop_assert_eq!(u.host as usize, host.len());
            prop_assert_eq!(u.consumer as usize, consumer.len());
            prop_assert_eq!(u.free, b.free());
            prop_assert_eq!(u.sent as usize, sent.len());
            prop_assert_eq!(u.free + u.host + u.consumer + u.sent, b.zones() as u32 * 16);
            for id in &sent {
                prop_assert_eq!(b.owner(*id), Owner::Sent);
            }
            for id in &host {
                prop_assert_eq!(b.owner(*id), Owner::Host);
            }
            for id in &consumer {
                prop_assert_eq!(b.owner(*id), Owner::Consumer);
            }
        }
    }

    /// A ring between an honest producer and consumer carries entries in
    /// order, never more than fit, from any starting index (wrap included).
    #[test]
    fn rings_carry_entries_in_order(
        start in any::<u32>(),
        steps in prop::collection::vec((any::<bool>(), 0u32..80), 1..200),
    ) {
        let size = 64;
        let mut p = Producer::new(size, start);
        let mut c = Consumer::new(size, start);
        let mut shared = vec![0u64; size as usize];
        let (mut shared_prod, mut shared_cons) = (start, start);
        let (mut sent, mut recv) = (0u64, 0u64);
        for (produce, n) in steps {
            if produce {
                let room = p.sync(shared_cons).unwrap();
                prop_assert_eq!(p.is_empty(), room == size);
                let k = n.min(room);
                prop_assert!(p.next_slot(room).is_none());
                for i in 0..k {
                    shared[p.next_slot(i).unwrap()] = sent;
                    sent += 1;
                }
                shared_prod = p.commit(k);
            } else {
                // The consumer's shortcut: nothing to take exactly when a
                // sync would show nothing available.
                let done = c.is_done_at(shared_prod);
                let avail = c.sync(shared_prod).unwrap();
                prop_assert_eq!(done, avail == 0);
                prop_assert!(avail <= size);
                let k = n.min(avail);
                for i in 0..k {
                    prop_assert_eq!(shared[c.slot(i).unwrap()], recv);
                    recv += 1;
                }
                shared_cons = c.release(k);
            }
            prop_assert!(sent - recv <= size as u64);
        }
    }

    /// Indices the other side writes that do not fit what was produced are
    /// rejected, and leave the view as it was.
    #[test]
    fn bad_indices_are_rejected(
        start in any::<u32>(), produced in 0u32..=64, consumed in 0u32..=64, forged in any::<u32>(),
    ) {
        let consumed = consumed.min(produced);
        let mut p = Producer::new(64, start);
        p.commit(produced);
        p.sync(start.wrapping_add(consumed)).unwrap();
        let before = p;
        let fits = forged.wrapping_sub(start.wrapping_add(consumed)) <= produced - consumed;
        let r = p.sync(forged);
        prop_assert_eq!(r.is_ok(), fits);
        if r.is_err() {
            prop_assert_eq!(r, Err(Bad::Index));
            prop_assert_eq!(p, before);
        }
        // A consumer that has seen `produced` entries and consumed
        // `consumed` of them, given a forged producer index.
        let mut c = Consumer::new(64, start);
        c.sync(start.wrapping_add(produced)).unwrap();
        c.release(consumed);
        let before = c;
        let ahead = forged.wrapping_sub(start.wrapping_add(produced));
        let fits = ahead <= 64 - (produced - consumed);
        let r = c.sync(forged);
        prop_assert_eq!(r.is_ok(), fits);
        if r.is_err() {
            prop_assert_eq!(r, Err(Bad::Index));
            prop_assert_eq!(c, before);
        }
    }
}
