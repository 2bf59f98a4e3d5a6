// SPDX-License-Identifier: GPL-2.0

//! The EVI/EoC engine run inside a simulated host and guest, against
//! traffic shapes, next to notify-every-packet and a fixed coalescing timer.
//!
//! The host sees packets arrive (its NIC coalesces: a host batch starts at
//! the first packet and takes every packet that arrives while the host
//! works), identifies each (Arrival) at the start of its processing, places
//! it in the guest's ring after HOST_PER_PKT + bytes*HOST_PER_BYTE (Placed),
//! and ends the batch when nothing more is queued (EndOfBatch). The guest
//! consumer is virtio/NAPI-like: a notification reaches it after
//! IRQ_DELAY; it masks, polls the ring at GUEST_PER_PKT per packet, unmasks
//! and re-checks. Delivery latency of a packet: from its placement to when
//! the guest takes it from the ring.

use vassist_policy::evi::{Action, Config, Engine, Event, Stats};

const US: u64 = 1000;
const HOST_PER_PKT: u64 = 1500; // ns
const HOST_PER_BYTE_X100: u64 = 25; // 0.25 ns/byte
const IRQ_DELAY: u64 = 10 * US;
const GUEST_PER_PKT: u64 = 2 * US;

/// How the host decides to notify.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    EveryPacket,
    /// Notify at most once per period, when packets are waiting.
    Timer(u64),
    EviEoc(Config),
}

/// A traffic shape: packet arrival times (ns) and sizes.
pub struct Shape {
    pub name: &'static str,
    pub packets: Vec<(u64, u32)>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The traffic shapes of the comparison, ~2000 packets each.
pub fn shapes() -> Vec<Shape> {
    let mut r = Rng(42);
    let mut small = Vec::new();
    let mut t = 0;
    for _ in 0..2000 {
        t += 50 * US + r.next(200 * US);
        small.push((t, 64));
    }
    let mut trains = Vec::new();
    t = 0;
    for _ in 0..100 {
        t += 1000 * US;
        for i in 0..20 {
            trains.push((t + i * 7200, 9000)); // 9000 B at 10 Gb/s
        }
    }
    let bulk: Vec<_> = (0..2000).map(|i| (i * 1200, 1500)).collect(); // 1500 B at 10 Gb/s
    let mut onoff = Vec::new();
    t = 0;
    for burst in 0..40 {
        t += 2000 * US;
        for i in 0..50 {
            let size = if burst % 2 == 0 { 1500 } else { 200 };
            onoff.push((t + i * (1200 + r.next(3000)), size));
        }
    }
    vec![
        Shape {
            name: "single small packets",
            packets: small,
        },
        Shape {
            name: "trains of large packets",
            packets: trains,
        },
        Shape {
            name: "bulk stream",
            packets: bulk,
        },
        Shape {
            name: "on/off mix",
            packets: onoff,
        },
    ]
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub packets: u64,
    pub notifications: u64,
    /// Delivery latencies (ns), sorted.
    pub latencies: Vec<u64>,
    pub batches: u64,
    pub stats: Stats,
}

impl Outcome {
    pub fn per_packet(&self) -> f64 {
        self.notifications as f64 / self.packets as f64
    }

    pub fn latency_pct(&self, pct: f64) -> u64 {
        let i = ((self.latencies.len() as f64 - 1.0) * pct).round() as usize;
        self.latencies[i]
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Guest {
    Idle,
    /// Notification in flight; the handler runs at the time given.
    Notified(u64),
    /// Polling; next packet taken at the time given.
    Busy(u64),
}

/// Runs one shape under one policy.
pub fn run(shape: &Shape, policy: Policy) -> Outcome {
    let mut engine = match policy {
        Policy::EviEoc(cfg) => Some(Engine::new(cfg)),
        _ => None,
    };
    let pk = &shape.packets;
    let mut out = Outcome {
        packets: pk.len() as u64,
        ..Outcome::default()
    };
    // Host: next packet to identify, time the host is free, placements due.
    let (mut next, mut host_free) = (0usize, 0u64);
    let mut placing: std::collections::VecDeque<(u64, u64)> = Default::default(); // (placed at, id)
    let mut ring: std::collections::VecDeque<u64> = Default::default(); // placed-at times
    let mut in_batch = false;
    let mut guest = Guest::Idle;
    let mut waiting = false; // notification for a masked guest
    let mut timer_armed: Option<u64> = None;
    let mut consumed = 0u64;
    let mut now = 0u64;
    let notify = |now: u64, guest: &mut Guest, waiting: &mut bool, out: &mut Outcome| {
        out.notifications += 1;
        match *guest {
            Guest::Idle => *guest = Guest::Notified(now + IRQ_DELAY),
            Guest::Busy(_) => *waiting = true,
            Guest::Notified(_) => {}
        }
    };
    while consumed < out.packets {
        // Next event time among: host identifies, placement, guest step, timer.
        let t_ident = (next < pk.len()).then(|| pk[next].0.max(host_free));
        let t_place = placing.front().map(|p| p.0);
        let t_guest = match guest {
            Guest::Notified(t) | Guest::Busy(t) => Some(t),
            Guest::Idle => None,
        };
        let t_eoc = (in_batch && placing.is_empty() && t_ident.is_none_or(|t| t > host_free))
            .then_some(host_free);
        now = [t_ident, t_place, t_guest, timer_armed, t_eoc]
            .into_iter()
            .flatten()
            .min()
            .expect("progress");
        if t_place == Some(now) {
            let (_, _) = placing.pop_front().unwrap();
            ring.push_back(now);
            let act = match (&mut engine, policy) {
                (Some(e), _) => e.on(now, Event::Placed),
                (None, Policy::EveryPacket) => Action::Notify,
                (None, Policy::Timer(p)) => {
                    if timer_armed.is_none() && matches!(guest, Guest::Idle) {
                        timer_armed = Some(now + p);
                    }
                    Action::None
                }
                _ => Action::None,
            };
            if act == Action::Notify {
                notify(now, &mut guest, &mut waiting, &mut out);
            }
        } else if t_ident == Some(now) {
            let (_, bytes) = pk[next];
            next += 1;
            in_batch = true;
            let done = now + HOST_PER_PKT + u64::from(bytes) * HOST_PER_BYTE_X100 / 100;
            host_free = done;
            placing.push_back((done, next as u64));
            if let Some(e) = &mut engine {
                if e.on(now, Event::Arrival { bytes }) == Action::Notify {
                    notify(now, &mut guest, &mut waiting, &mut out);
                }
            }
        } else if t_eoc == Some(now) {
            in_batch = false;
            out.batches += 1;
            if let Some(e) = &mut engine {
                if e.on(now, Event::EndOfBatch) == Action::Notify {
                    notify(now, &mut guest, &mut waiting, &mut out);
                }
            }
        } else if timer_armed == Some(now) {
            timer_armed = None;
            if !ring.is_empty() {
                notify(now, &mut guest, &mut waiting, &mut out);
            }
        } else if t_guest == Some(now) {
            match guest {
                Guest::Notified(_) => {
                    if let Some(e) = &mut engine {
                        e.on(now, Event::Masked);
                        e.on(
                            now,
                            Event::ConsumerStarted {
                                found: ring.len() as u32,
                            },
                        );
                    }
                    guest = Guest::Busy(now);
                }
                Guest::Busy(_) => {
                    if let Some(placed) = ring.pop_front() {
                        out.latencies.push(now - placed);
                        consumed += 1;
                        guest = Guest::Busy(now + GUEST_PER_PKT);
                    } else {
                        if let Some(e) = &mut engine {
                            e.on(now, Event::Unmasked);
                        }
                        guest = if std::mem::take(&mut waiting) {
                            Guest::Notified(now + IRQ_DELAY)
                        } else {
                            Guest::Idle
                        };
                        // Timer policy: packets that came while busy.
                        if let (Policy::Timer(p), Guest::Idle, false) =
                            (policy, guest, ring.is_empty())
                        {
                            timer_armed.get_or_insert(now + p);
                        }
                    }
                }
                Guest::Idle => unreachable!(),
            }
        }
    }
    let _ = now;
    if let Some(e) = engine {
        out.stats = *e.stats();
    }
    out.latencies.sort_unstable();
    out
}
