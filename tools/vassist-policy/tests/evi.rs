// SPDX-License-Identifier: GPL-2.0

mod common;

use common::xorshift;
use vassist_policy::evi::{Action, Config, Engine, Event, RingEngine};

const MS: u64 = 1_000_000;

fn engine() -> Engine {
    Engine::new(Config {
        alpha: 1_000_000,
        beta: 100_000_000,
        rechecks: false,
    })
}

#[test]
fn evi_on_arrival_when_unmasked() {
    let mut e = engine();
    assert_eq!(e.on(0, Event::Arrival { bytes: 1500 }), Action::Notify);
    assert_eq!(e.stats().evi_sent, 1);
    // A second arrival before the consumer acts is coalesced.
    assert_eq!(e.on(1, Event::Arrival { bytes: 1500 }), Action::None);
    assert_eq!(e.stats().evi_coalesced, 1);
}

#[test]
fn masked_evi_is_discarded_and_eoc_then_always_notifies() {
    let mut e = engine();
    e.on(0, Event::Masked);
    assert_eq!(e.on(0, Event::Arrival { bytes: 64 }), Action::None);
    assert_eq!(e.stats().evi_failed, 1);
    e.on(1, Event::Placed);
    // Even though 64 bytes over a second is "too cold".
    assert_eq!(e.on(1000 * MS, Event::EndOfBatch), Action::Notify);
    assert_eq!(e.stats().eoc_sent, 1);
}

#[test]
fn masked_evi_says_nothing_when_the_host_sees_the_unmask() {
    let mut e = Engine::new(Config {
        rechecks: true,
        ..Config::default()
    });
    e.on(0, Event::Masked);
    assert_eq!(e.on(0, Event::Arrival { bytes: 64 }), Action::None);
    e.on(1, Event::Placed);
    // Placed while masked: the consumer's re-check finds it.
    assert_eq!(e.on(1000 * MS, Event::EndOfBatch), Action::None);
    assert_eq!((e.stats().evi_failed, e.stats().eoc_cold), (1, 1));
}

fn after_successful_evi(bytes: u32, eoc_at: u64) -> (Engine, Action) {
    let mut e = engine();
    assert_eq!(e.on(0, Event::Arrival { bytes }), Action::Notify);
    e.on(0, Event::Masked);
    e.on(0, Event::ConsumerStarted { found: 0 });
    e.on(10, Event::Placed);
    e.on(20, Event::Unmasked);
    let a = e.on(eoc_at, Event::EndOfBatch);
    (e, a)
}

#[test]
fn eoc_too_cold_does_nothing() {
    // 1500 bytes in 10 ms = 150 kB/s < alpha; the packet was placed while
    // the consumer was masked, so it saw it.
    let (e, a) = after_successful_evi(1500, 10 * MS);
    assert_eq!(a, Action::None);
    assert_eq!(e.stats().eoc_cold, 1);
}

#[test]
fn eoc_too_hot_does_nothing() {
    // 60000 bytes in 100 us = 600 MB/s > beta.
    let (e, a) = after_successful_evi(60_000, 100_000);
    assert_eq!(a, Action::None);
    assert_eq!(e.stats().eoc_hot, 1);
}

#[test]
fn eoc_just_right_notifies() {
    // 9000 bytes in 1 ms = 9 MB/s.
    let (e, a) = after_successful_evi(9000, MS);
    assert_eq!(a, Action::Notify);
    assert_eq!(e.stats().eoc_sent, 1);
}

#[test]
fn premature_evi_counted_and_its_late_packet_covered_at_eoc() {
    let mut e = engine();
    e.on(0, Event::Arrival { bytes: 9000 });
    e.on(0, Event::Masked);
    e.on(1, Event::ConsumerStarted { found: 0 });
    e.on(2, Event::Unmasked);
    // Placed after the consumer looked and went idle: nothing covers it.
    e.on(3, Event::Placed);
    assert_eq!(e.stats().premature, 1);
    // "Too hot" by density, yet it must notify.
    assert_eq!(e.on(4, Event::EndOfBatch), Action::Notify);
}

#[test]
fn eoc_with_no_bytes_is_cold() {
    let mut e = engine();
    assert_eq!(e.on(5, Event::EndOfBatch), Action::None);
    assert_eq!(e.stats().eoc_cold, 1);
    assert_eq!(e.stats().batches, 1);
}

/// Thresholds anywhere from nothing to 1 GB/s.
fn random_config(rnd: &mut impl FnMut(u64) -> u64) -> Config {
    Config {
        alpha: rnd(1 << 20),
        beta: rnd(1 << 30),
        rechecks: rnd(2) == 0,
    }
}

/// A consumer as virtio/NAPI drivers behave, and a host that identifies,
/// places and batches packets, driven in random orders.
struct World {
    e: Engine,
    now: u64,
    in_flight: u32,
    ring: u32,
    consumed: u64,
    placed: u64,
    consumer: Consumer,
    /// A notification sent while the consumer was masked, delivered on unmask.
    waiting: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Consumer {
    Idle,
    Notified,
    Busy,
}

impl World {
    fn feed(&mut self, ev: Event) {
        self.now += 1;
        if self.e.on(self.now, ev) == Action::Notify {
            match self.consumer {
                Consumer::Idle => self.consumer = Consumer::Notified,
                Consumer::Busy => self.waiting = true,
                Consumer::Notified => {}
            }
        }
    }

    fn consumer_step(&mut self) {
        match self.consumer {
            Consumer::Idle => {}
            Consumer::Notified => {
                self.consumer = Consumer::Busy;
                self.feed(Event::Masked);
                let found = self.ring;
                self.feed(Event::ConsumerStarted { found });
            }
            Consumer::Busy if self.ring > 0 => {
                self.ring -= 1;
                self.consumed += 1;
            }
            Consumer::Busy => {
                self.feed(Event::Unmasked);
                if self.ring > 0 {
                    // The re-check after unmasking found more: poll again.
                    self.feed(Event::Masked);
                } else {
                    self.consumer = if std::mem::take(&mut self.waiting) {
                        Consumer::Notified
                    } else {
                        Consumer::Idle
                    };
                }
            }
        }
    }
}

#[test]
fn no_lost_wakeup_in_any_interleaving() {
    let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let cfg = random_config(&mut rnd);
        let mut w = World {
            e: Engine::new(cfg),
            now: 0,
            in_flight: 0,
            ring: 0,
            consumed: 0,
            placed: 0,
            consumer: Consumer::Idle,
            waiting: false,
        };
        for _ in 0..rnd(200) {
            w.now += rnd(100_000);
            match rnd(5) {
                0 => {
                    w.in_flight += 1;
                    let bytes = 1 + rnd(9000) as u32;
                    w.feed(Event::Arrival { bytes });
                }
                1 if w.in_flight > 0 => {
                    w.in_flight -= 1;
                    w.ring += 1;
                    w.placed += 1;
                    w.feed(Event::Placed);
                }
                2 if w.in_flight == 0 => w.feed(Event::EndOfBatch),
                _ => w.consumer_step(),
            }
        }
        // The host places what it identified and ends its batch; the
        // consumer then runs to quiescence on the notifications it got.
        while w.in_flight > 0 {
            w.in_flight -= 1;
            w.ring += 1;
            w.placed += 1;
            w.feed(Event::Placed);
        }
        w.feed(Event::EndOfBatch);
        for _ in 0..10_000 {
            w.consumer_step();
        }
        assert_eq!(
            w.consumed, w.placed,
            "a packet was left without a notification"
        );
        assert_eq!(w.consumer, Consumer::Idle);
    }
}

/// A consumer of a zone port's receive ring, step by step: it takes what
/// the ring holds; with nothing left it sets `WAITING`, reads the
/// producer index once more, and sleeps on the eventfd; woken, or
/// finding more, it clears the flag and drains the eventfd.
#[derive(Clone, Copy, PartialEq, Debug)]
enum RingConsumer {
    Running,
    Armed,
    Sleeping,
}

/// The host's side as `rust/zone.rs` runs it, the consumer's as
/// `tools/vassist-zone` does, in any interleaving of their steps (each
/// step one access to the shared flag, index or eventfd; both sides'
/// barriers make the interleavings sequentially consistent).
struct Ring {
    e: RingEngine,
    now: u64,
    prod: u32,
    cons: u32,
    waiting: bool,
    eventfd: u64,
    consumer: RingConsumer,
}

impl Ring {
    fn host(&mut self, ev: Event) {
        self.now += 1;
        if self.e.on(|| self.now, self.waiting, self.cons, ev) == Action::Notify {
            self.waiting = false;
            self.eventfd += 1;
            self.e.notified(self.cons);
        }
    }

    fn new(cfg: Config, consumer: RingConsumer) -> Ring {
        Ring {
            e: RingEngine::new(cfg),
            now: 0,
            prod: 0,
            cons: 0,
            waiting: consumer == RingConsumer::Sleeping,
            eventfd: 0,
            consumer,
        }
    }

    /// A frame as the host places it in one go: arrival, publication, the
    /// look after the barrier. Whether the batch's end must be seen.
    fn frame(&mut self, bytes: u32) -> bool {
        self.host(Event::Arrival { bytes });
        self.prod += 1;
        self.now += 1;
        self.e.placed(|| self.now, self.waiting, self.cons)
    }

    fn disarm(&mut self) {
        self.waiting = false;
        self.eventfd = 0;
        self.consumer = RingConsumer::Running;
    }

    fn consumer_step(&mut self) {
        match self.consumer {
            RingConsumer::Running if self.cons != self.prod => self.cons += 1,
            RingConsumer::Running => {
                self.waiting = true;
                self.consumer = RingConsumer::Armed;
            }
            RingConsumer::Armed if self.cons != self.prod => self.disarm(),
            RingConsumer::Armed => self.consumer = RingConsumer::Sleeping,
            RingConsumer::Sleeping if self.eventfd > 0 => self.disarm(),
            RingConsumer::Sleeping => {}
        }
    }
}

#[test]
fn ring_protocol_loses_no_wakeup() {
    let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
    for _ in 0..5000 {
        let mut r = Ring::new(random_config(&mut rnd), RingConsumer::Running);
        // Each frame: arrival (EVI), publication, the look after the
        // barrier (Placed); between frames, the batch may end (EoC).
        let mut stage = 0;
        let mut eoc_due = false;
        let mut frames = rnd(40);
        while frames > 0 || stage != 0 {
            r.now += rnd(50_000);
            if rnd(2) == 0 {
                r.consumer_step();
                continue;
            }
            match stage {
                0 if eoc_due && rnd(3) == 0 => {
                    eoc_due = false;
                    r.host(Event::EndOfBatch);
                }
                0 => {
                    frames -= 1;
                    let bytes = 60 + rnd(9000) as u32;
                    r.host(Event::Arrival { bytes });
                    stage = 1;
                }
                1 => {
                    r.prod += 1;
                    stage = 2;
                }
                _ => {
                    r.now += 1;
                    eoc_due |= r.e.placed(|| r.now, r.waiting, r.cons);
                    stage = 0;
                }
            }
        }
        if eoc_due {
            r.host(Event::EndOfBatch);
        }
        for _ in 0..1000 {
            r.consumer_step();
        }
        assert_eq!(r.consumer, RingConsumer::Sleeping);
        assert_eq!(r.cons, r.prod, "a frame was left without a wake-up");
    }
}

#[test]
fn a_burst_to_a_sleeping_consumer_costs_one_notification() {
    let mut r = Ring::new(Config::default(), RingConsumer::Sleeping);
    let mut eoc_due = false;
    for _ in 0..10 {
        eoc_due |= r.frame(1500);
    }
    assert!(
        !eoc_due,
        "no batch end to see while the consumer has not run"
    );
    r.host(Event::EndOfBatch);
    assert_eq!(r.eventfd, 1);
    let st = *r.e.stats();
    assert_eq!((st.evi_sent, st.evi_coalesced, st.evi_failed), (1, 9, 0));
    assert_eq!((st.eoc_sent, st.eoc_pending), (0, 1));
}

#[test]
fn a_busy_ring_consumer_is_not_notified_per_batch() {
    let notifications = |rechecks| {
        let cfg = Config {
            rechecks,
            ..Config::default()
        };
        let mut r = Ring::new(cfg, RingConsumer::Running);
        // Sparse batches (cold) of two frames each, every 100 us, to a
        // consumer that keeps up but never runs out long enough to sleep.
        for _ in 0..100 {
            let eoc_due = r.frame(1500) | r.frame(1500);
            r.now += 100_000;
            if eoc_due {
                r.host(Event::EndOfBatch);
            }
            r.cons = r.prod;
        }
        r.e.stats().notifications()
    };
    assert_eq!(notifications(false), 100);
    assert_eq!(notifications(true), 0);
}
