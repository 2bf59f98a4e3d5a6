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
//! - EoC: a failed EVI, or a packet placed while the consumer was unmasked
//!   with no notification pending (the EVI came too early, or none was
//!   sent), always notifies: delivery may wait for the unmask. Otherwise the
//!   receive density RD (bytes per second since the last notification)
//!   decides: RD < alpha "too cold" and RD > beta "too hot" do nothing;
//!   in between notify.
//!
//! Because every placed packet is either seen by a masked consumer or
//! covered by a pending notification or makes the next EoC notify, no
//! packet is left without a later notification once the consumer unmasks.

/// Thresholds of the EoC decision, in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Below: "too cold", the guest has probably taken the data already.
    pub alpha: u64,
    /// Above: "too hot", EVIs are driving the transfer.
    pub beta: u64,
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
                    self.notify(now_ns)
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
                if self.evi_failed || self.uncovered {
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
        let rd = u128::from(self.bytes_since_notify) * 1_000_000_000 / u128::from(dt);
        Some(u64::try_from(rd).unwrap_or(u64::MAX))
    }
}
