// SPDX-License-Identifier: GPL-2.0

use proptest::prelude::*;
use vassist_policy::zone::{
    bufs_for, Addr, Bad, BufId, Buffers, Consumer, Geometry, GeometryError, Owner, Producer,
    BUF_SIZE,
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
                _ => {}
            }
            let u = b.usage();
            prop_assert_eq!(u.host as usize, host.len());
            prop_assert_eq!(u.consumer as usize, consumer.len());
            prop_assert_eq!(u.free, b.free());
            prop_assert_eq!(u.free + u.host + u.consumer, b.zones() as u32 * 16);
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
                let k = n.min(room);
                prop_assert!(p.next_slot(room).is_none());
                for i in 0..k {
                    shared[p.next_slot(i).unwrap()] = sent;
                    sent += 1;
                }
                shared_prod = p.commit(k);
            } else {
                let avail = c.sync(shared_prod).unwrap();
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
