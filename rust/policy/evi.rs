// SPDX-License-Identifier: GPL-2.0

//! Optimistic interrupts for one guest port (VNET/P+, section IV-A): an
//! early virtual interrupt (EVI) as soon as the host identifies a packet for
//! the guest, and at the end of each host batch (EoC) a decision by receive
//! density whether to notify again. No timers: time comes in with events.
//!
//! The consumer (guest driver) is modelled as virtio/NAPI drivers behave: a
//! notification makes it mask further notifications and poll the ring until
//! it is empty; it then unmasks and checks the ring once more. So a packet
//! placed while the consumer is masked is seen by it; one placed while it is
//! unmasked needs a notification.
//!
//! The rules:
//! - Arrival: EVI if the consumer is unmasked and has no notification
//!   pending; if masked, the EVI is discarded (implicit coalescing) and
//!   remembered as failed.
//! - EoC: with a notification pending, nothing: the consumer has yet to
//!   look at the ring, and will see all of it. Otherwise a failed EVI, or
//!   a packet placed while the consumer was unmasked with no notification
//!   pending (the EVI came too early, or none was sent), always notifies:
//!   delivery may wait for the unmask. Otherwise the receive density RD
//!   (bytes per second since the last notification) decides: RD < alpha
//!   "too cold" and RD > beta "too hot" do nothing; in between notify.
//!
//! Because every placed packet is either seen by a masked consumer or
//! covered by a pending notification or makes the next EoC notify, no
//! packet is left without a later notification once the consumer unmasks.
//!
//! The failed-EVI rule guards a packet placed as the consumer unmasks,
//! which the host took for masked. A host that sees the consumer's state
//! exactly after placing ([`Config::rechecks`], as over a shared ring
//! read after a barrier) knows such a packet as placed while unmasked:
//! the failed EVI alone then says nothing, and a busy consumer is not sent
//! an EoC per batch that it does not need.

/// Thresholds of the EoC decision, in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Below: "too cold", the guest has probably taken the data already.
    pub alpha: u64,
    /// Above: "too hot", EVIs are driving the transfer.
    pub beta: u64,
    /// The host sees after each placement whether the consumer was
    /// unmasked (a consumer that unmasks re-checks the ring): a failed
    /// EVI does not make the EoC notify.
    pub rechecks: bool,
}

impl Default for Config {
    /// 50 MB/s and 100 MB/s, from `notify-model evi` (bench/evi-eoc.md):
    /// over small packets, trains, bulk and on/off traffic, the fewest
    /// notifications per packet at no cost in latency. A high alpha lets a
    /// sparse batch rely on its EVI; a low beta keeps dense streams, which
    /// EVIs and failed-EVI notifications already drive, from adding EoC
    /// interrupts.
    fn default() -> Self {
        Config {
            alpha: 50_000_000,
            beta: 100_000_000,
            rechecks: false,
        }
    }
}

/// What happened, as the host sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The host identified a packet for the guest (before moving it).
    Arrival { bytes: u32 },
    /// The packet is in the guest's ring.
    Placed,
    /// The consumer masked notifications (its handler runs).
    Masked,
    /// The consumer unmasked notifications (ring empty, it idles).
    Unmasked,
    /// The consumer's handler started and found `found` packets.
    ConsumerStarted { found: u32 },
    /// The host finished a batch (its device queue is empty).
    EndOfBatch,
}

/// The engine's answer to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Notify the consumer (now, or when it unmasks).
    Notify,
    /// Nothing to do.
    None,
}

/// Counters, as the paper reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// EVIs sent on arrival.
    pub evi_sent: u64,
    /// EVIs discarded because the consumer was masked.
    pub evi_failed: u64,
    /// Arrivals while a notification was already pending (no EVI needed).
    pub evi_coalesced: u64,
    /// Notifications after which the consumer found nothing.
    pub premature: u64,
    /// EoC notifications sent.
    pub eoc_sent: u64,
    /// EoCs discarded as too cold.
    pub eoc_cold: u64,
    /// EoCs discarded as too hot.
    pub eoc_hot: u64,
    /// EoCs with a notification pending.
    pub eoc_pending: u64,
    /// Host batches (EoC events).
    pub batches: u64,
}

impl Stats {
    /// All notifications sent.
    pub fn notifications(&self) -> u64 {
        self.evi_sent + self.eoc_sent
    }
}

/// The EVI/EoC state of one port.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    cfg: Config,
    masked: bool,
    /// A notification was sent that the consumer has not acted on yet.
    pending: bool,
    /// The last EVI was discarded (consumer masked).
    evi_failed: bool,
    /// A packet was placed while the consumer was unmasked and nothing
    /// was pending: only a new notification makes it see the packet.
    uncovered: bool,
    last_notify_ns: u64,
    bytes_since_notify: u64,
    stats: Stats,
}

impl Engine {
    pub fn new(cfg: Config) -> Self {
        Engine {
            cfg,
            ..Engine::default()
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn notify(&mut self, now_ns: u64) -> Action {
        self.pending = true;
        self.evi_failed = false;
        self.uncovered = false;
        self.last_notify_ns = now_ns;
        self.bytes_since_notify = 0;
        Action::Notify
    }

    /// Feeds one event at time `now_ns` (monotonic) and says what to do.
    pub fn on(&mut self, now_ns: u64, ev: Event) -> Action {
        self.on_at(|| now_ns, ev)
    }

    /// [`Engine::on`] with the time read only if the answer needs it (a
    /// notification, an EoC's density): a clock read per packet costs.
    pub fn on_at(&mut self, now: impl FnOnce() -> u64, ev: Event) -> Action {
        match ev {
            Event::Arrival { bytes } => {
                let action = if self.masked {
                    self.stats.evi_failed += 1;
                    self.evi_failed = true;
                    Action::None
                } else if self.pending {
                    self.stats.evi_coalesced += 1;
                    Action::None
                } else {
                    self.stats.evi_sent += 1;
                    self.notify(now())
                };
                self.bytes_since_notify = self.bytes_since_notify.saturating_add(u64::from(bytes));
                action
            }
            Event::Placed => {
                if !self.masked && !self.pending {
                    self.uncovered = true;
                }
                Action::None
            }
            Event::Masked => {
                self.masked = true;
                Action::None
            }
            Event::Unmasked => {
                self.masked = false;
                Action::None
            }
            Event::ConsumerStarted { found } => {
                self.pending = false;
                // It looks at the ring now: what was placed is seen.
                self.uncovered = false;
                if found == 0 {
                    self.stats.premature += 1;
                }
                Action::None
            }
            Event::EndOfBatch => {
                self.stats.batches += 1;
                if self.pending {
                    self.stats.eoc_pending += 1;
                    return Action::None;
                }
                let now_ns = now();
                if (self.evi_failed && !self.cfg.rechecks) || self.uncovered {
                    self.stats.eoc_sent += 1;
                    return self.notify(now_ns);
                }
                match self.density(now_ns) {
                    Some(rd) if rd < self.cfg.alpha => {
                        self.stats.eoc_cold += 1;
                        Action::None
                    }
                    None => {
                        self.stats.eoc_cold += 1;
                        Action::None
                    }
                    Some(rd) if rd > self.cfg.beta => {
                        self.stats.eoc_hot += 1;
                        Action::None
                    }
                    Some(_) => {
                        self.stats.eoc_sent += 1;
                        self.notify(now_ns)
                    }
                }
            }
        }
    }

    /// Receive density since the last notification, bytes per second;
    /// `None` with no bytes (as cold as it gets). Bytes within the same
    /// nanosecond count as infinitely dense.
    fn density(&self, now_ns: u64) -> Option<u64> {
        if self.bytes_since_notify == 0 {
            return None;
        }
        let dt = now_ns.saturating_sub(self.last_notify_ns);
        if dt == 0 {
            return Some(u64::MAX);
        }
        // In u64 (the kernel has no 128-bit division): over 18 GB since
        // the last notification, per whole second.
        const NS_PER_S: u64 = 1_000_000_000;
        Some(match self.bytes_since_notify.checked_mul(NS_PER_S) {
            Some(b) => b / dt,
            None => self.bytes_since_notify / (dt / NS_PER_S).max(1),
        })
    }
}

/// The engine over a shared ring whose consumer asks to be woken by
/// setting a `WAITING` flag (then reads the producer index once more
/// before it sleeps) and clears it when it runs; the host clears it as it
/// notifies. The host sees the consumer only through that flag and the
/// consumer's index, read at the host's own events: this turns them into
/// the engine's consumer events.
#[derive(Clone, Debug, Default)]
pub struct RingEngine {
    engine: Engine,
    /// The consumer's index when it was last notified.
    notified_at: u32,
}

impl RingEngine {
    pub fn new(cfg: Config) -> Self {
        RingEngine {
            engine: Engine::new(cfg),
            notified_at: 0,
        }
    }

    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }

    /// A new consumer, its index at `cons`.
    pub fn rebind(&mut self, cons: u32) {
        self.notified_at = cons;
        self.engine.pending = false;
    }

    /// What the ring shows of the consumer: it acted on the last
    /// notification if it moved its index or asked to be woken again
    /// since (the host cleared the flag as it notified), and until then
    /// it has not started (unmasked); after, it waits (unmasked) while the
    /// flag is set, and runs (masked) otherwise. Then the host's own event;
    /// `Notify` means: clear the flag, signal, and call
    /// [`RingEngine::notified`].
    pub fn on(&mut self, now: impl FnOnce() -> u64, waiting: bool, cons: u32, ev: Event) -> Action {
        let mut masked = !waiting;
        if self.engine.pending {
            let moved = cons != self.notified_at;
            if waiting || moved {
                let found = u32::from(moved);
                // (Events that read no time.)
                self.engine.on(0, Event::ConsumerStarted { found });
            } else {
                masked = false;
            }
        }
        // What the Masked or Unmasked event does, without its dispatch:
        // this runs twice per packet.
        self.engine.masked = masked;
        self.engine.on_at(now, ev)
    }

    /// A packet was placed and published, and then (after a full barrier)
    /// the ring read: whether the end of the host's batch must be seen
    /// (EoC). Not while a notification is pending: the consumer has yet
    /// to look at the ring, which holds the packet already.
    pub fn placed(&mut self, now: impl FnOnce() -> u64, waiting: bool, cons: u32) -> bool {
        self.on(now, waiting, cons, Event::Placed);
        !self.engine.pending
    }

    /// The host notified the consumer, whose index was `cons`.
    pub fn notified(&mut self, cons: u32) {
        self.notified_at = cons;
    }
}
