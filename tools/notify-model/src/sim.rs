// SPDX-License-Identifier: GPL-2.0

//! Discrete-event simulator of the producer/consumer system, with the same
//! semantics the model assumes (Documentation/notify-model.md):
//! - P needs a free slot to start a message (W_P); the message becomes
//!   available to C when P finishes. C needs an available message to start
//!   (W_C); the slot becomes free when C finishes. A slot is to P what a
//!   message is to C, so swapping P and C is exact.
//! - P, after queueing, notifies a sleeping C when the queue holds >= k_P
//!   messages: P works N_P, then C starts after S_C. C, after freeing,
//!   notifies a sleeping P when >= k_C slots are free: N_C, then S_P.
//! - A party with nothing to do sleeps (notified mode), spins (polling) or,
//!   with the section 4.1 control, naps: see [`Mode`].
//! - At equal times every completion is applied before any decision, so a
//!   party that finds work exactly when it checks does not block.
//!
//! Times are integer picoseconds: runs are exact and repeatable.

use crate::model::Regime;
use crate::Params;

/// How a party that has nothing to do waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Sleep until the peer notifies.
    Notify,
    /// Spin: always active, never notified.
    Poll,
    /// Section 4.1 control: the fast party, instead of simply blocking,
    /// picks the cheapest way to wait by its running estimate of the peer's
    /// speed: nap while the peer does a batch of work (it pays its start-up
    /// S on waking, but the peer sends no notification), spin, or sleep
    /// until notified when that costs least and slows messages by at most
    /// 5% (see `cheapest_wait`).
    Nap,
}

/// Random variation of W_P and W_C: uniform in [W(1-j), W(1+j)].
#[derive(Clone, Copy, Debug)]
pub struct Jitter(pub f64);

/// What a run measured over its window.
#[derive(Clone, Copy, Debug)]
pub struct Observed {
    /// Time per message (us).
    pub t: f64,
    /// Cost per message: all work of P and C, spinning included (us).
    pub e: f64,
    pub notifications_per_msg: f64,
    pub wakeups_per_msg: f64,
    pub regime: Regime,
}

const PS: f64 = 1e6;

fn ps(us: f64) -> u64 {
    (us * PS).round() as u64
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum St {
    /// Working (producing/consuming) until the time given.
    Work,
    /// Notifying the peer.
    Notify,
    /// Starting up after a notification or a nap.
    Wake,
    Sleep,
    /// Sleeping without needing a notification.
    Nap,
    Spin,
}

struct Party {
    st: St,
    /// When the current state ends (u64::MAX: waits for an event).
    until: u64,
    /// When the current state began (for cost accounting).
    since: u64,
    busy: u64,
    sleeps: u64,
    wakeups: u64,
    notifies: u64,
    /// This party's running estimate of the peer's work per message (ps),
    /// for Nap: an average of the peer's last work times.
    peer_w: u64,
    w: f64,
    n: u64,
    s: u64,
    k: u32,
}

impl Party {
    fn new(w: f64, n: f64, s: f64, k: u32) -> Party {
        Party {
            st: St::Sleep,
            until: u64::MAX,
            since: 0,
            busy: 0,
            sleeps: 0,
            wakeups: 0,
            notifies: 0,
            peer_w: 0,
            w,
            n: ps(n),
            s: ps(s),
            k,
        }
    }

    fn enter(&mut self, st: St, now: u64, dur: u64) {
        if matches!(self.st, St::Work | St::Notify | St::Wake | St::Spin) {
            self.busy += now - self.since;
        }
        if st == St::Sleep {
            self.sleeps += 1;
        }
        if st == St::Wake {
            self.wakeups += 1;
        }
        self.st = st;
        self.since = now;
        self.until = if dur == u64::MAX { u64::MAX } else { now + dur };
    }
}

struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The simulated system. Index 0 is P, 1 is C; `avail[i]` is what party i
/// needs to start work: free slots for P, messages for C.
struct System {
    parties: [Party; 2],
    /// Queue slots.
    l: u32,
    avail: [u32; 2],
    mode: Mode,
    jitter: f64,
    rng: Rng,
    done: [u64; 2],
}

impl System {
    fn work_time(&mut self, i: usize) -> u64 {
        let w = self.parties[i].w;
        let f = if self.jitter > 0.0 {
            1.0 + self.jitter * (2.0 * self.rng.unit() - 1.0)
        } else {
            1.0
        };
        ps(w * f).max(1)
    }

    /// Applies the end of party i's current state at `now`.
    fn complete(&mut self, i: usize, now: u64) {
        let j = 1 - i;
        match self.parties[i].st {
            St::Work => {
                // Finished a message (P) or freed a slot (C).
                self.avail[j] += 1;
                self.done[i] += 1;
                let w = now - self.parties[i].since;
                let pw = &mut self.parties[j].peer_w;
                *pw = if *pw == 0 { w } else { (*pw * 7 + w) / 8 };
            }
            St::Notify => {
                let s = self.parties[j].s;
                self.parties[j].enter(St::Wake, now, s);
            }
            St::Nap => {
                // A nap ends like a sleep: with the party's start-up.
                let s = self.parties[i].s;
                self.parties[i].enter(St::Wake, now, s);
                return;
            }
            _ => {}
        }
        self.parties[i].until = u64::MAX;
    }

    /// Party i decides what to do next at `now` (its state has ended, or
    /// it spins).
    fn decide(&mut self, i: usize, now: u64) {
        let j = 1 - i;
        // Just finished work: notify a sleeping peer at the threshold.
        if self.parties[i].st == St::Work
            && self.parties[j].st == St::Sleep
            && self.avail[j] >= self.parties[i].k
        {
            let n = self.parties[i].n;
            self.parties[i].notifies += 1;
            self.parties[i].enter(St::Notify, now, n);
            return;
        }
        if self.avail[i] > 0 {
            self.avail[i] -= 1;
            let w = self.work_time(i);
            self.parties[i].enter(St::Work, now, w);
            return;
        }
        match self.mode {
            Mode::Notify => self.parties[i].enter(St::Sleep, now, u64::MAX),
            Mode::Poll => {
                if self.parties[i].st != St::Spin {
                    self.parties[i].enter(St::Spin, now, u64::MAX);
                }
            }
            Mode::Nap => {
                let (me, peer) = (&self.parties[i], &self.parties[j]);
                if peer.st == St::Sleep || me.peer_w == 0 {
                    // The peer waits for us, or we know nothing of it yet.
                    self.parties[i].enter(St::Sleep, now, u64::MAX);
                    return;
                }
                // A nap lets the peer do most of a queue's worth of work;
                // we wake (start-up S) and work once before it would stall.
                let budget = u64::from(self.avail[j]).saturating_sub(1) * me.peer_w;
                let nap = budget.saturating_sub(me.s + ps(me.w));
                match cheapest_wait(me, peer, nap, self.l) {
                    Wait::Sleep => self.parties[i].enter(St::Sleep, now, u64::MAX),
                    Wait::Nap => self.parties[i].enter(St::Nap, now, nap),
                    Wait::Spin if self.parties[i].st != St::Spin => {
                        self.parties[i].enter(St::Spin, now, u64::MAX)
                    }
                    Wait::Spin => {}
                }
            }
        }
    }
}

enum Wait {
    Sleep,
    Nap,
    Spin,
}

/// The control's choice for a party with nothing to do, by estimated work
/// per message: spinning costs the speed difference; a nap of `nap` costs
/// one start-up per the messages the peer does meanwhile; sleeping until
/// notified costs the peer's notification and our start-up per batch of m
/// (the FC/FP batch, seen from the fast side), and is only chosen when the
/// queue outlasts our start-up (Table 1's condition for FC/FP rather than a
/// short-queue regime) and it slows messages by at most 5%.
fn cheapest_wait(me: &Party, peer: &Party, nap: u64, l: u32) -> Wait {
    let (w_self, w_peer) = (me.w * PS, me.peer_w as f64);
    let (s_self, n_peer) = (me.s as f64, peer.n as f64);
    let spin = (w_peer - w_self).abs();
    let napping = if nap > 2 * me.s {
        s_self * w_peer / nap as f64
    } else {
        f64::INFINITY
    };
    let queue_outlasts_startup = f64::from(l - peer.k) * w_peer - w_self >= s_self;
    let sleeping = if w_peer > w_self && queue_outlasts_startup {
        let k = f64::from(peer.k);
        let m = ((s_self + (k - 1.0) * w_self) / (w_peer - w_self)).floor() + k;
        if n_peer / m <= 0.05 * w_peer {
            (n_peer + s_self) / m
        } else {
            f64::INFINITY
        }
    } else {
        f64::INFINITY
    };
    if sleeping <= napping && sleeping <= spin {
        Wait::Sleep
    } else if napping <= spin {
        Wait::Nap
    } else {
        Wait::Spin
    }
}

/// Runs `msgs` messages after a warm-up and reports what it observed.
pub fn run(p: &Params, mode: Mode, jitter: Jitter, msgs: u64) -> Observed {
    let mut sys = System {
        parties: [
            Party::new(p.w_p, p.n_p, p.s_p, p.k_p),
            Party::new(p.w_c, p.n_c, p.s_c, p.k_c),
        ],
        l: p.l,
        avail: [p.l, 0],
        mode,
        jitter: jitter.0,
        rng: Rng(0x2545_f491_4f6c_dd1d),
        done: [0, 0],
    };
    // P starts working, C waits.
    sys.parties[0].st = St::Wake;
    sys.parties[0].until = 0;
    if mode == Mode::Poll {
        sys.parties[1].enter(St::Spin, 0, u64::MAX);
    }
    let warmup = 20 * u64::from(p.l) + 2000;
    let mut mark: Option<Snapshot> = None;
    let mut now = 0;
    loop {
        let due: Vec<usize> = (0..2).filter(|&i| sys.parties[i].until == now).collect();
        if due.is_empty() {
            // A spinning party re-decides whenever the other one acts.
            now = sys.parties[0].until.min(sys.parties[1].until);
            assert!(now != u64::MAX, "deadlock: both parties wait");
            continue;
        }
        for &i in &due {
            sys.complete(i, now);
        }
        let spinners: Vec<usize> = (0..2)
            .filter(|&i| !due.contains(&i) && sys.parties[i].st == St::Spin)
            .collect();
        for &i in due.iter().chain(spinners.iter()) {
            if sys.parties[i].until == u64::MAX && sys.parties[i].st != St::Sleep {
                sys.decide(i, now);
            }
        }
        let snap = Snapshot::of(&sys, now);
        match mark {
            None if snap.consumed >= warmup => mark = Some(snap),
            Some(m) if snap.consumed >= m.consumed + msgs => {
                let n = (snap.consumed - m.consumed) as f64;
                let diff =
                    |f: fn(&Snapshot) -> [u64; 2]| [f(&snap)[0] - f(&m)[0], f(&snap)[1] - f(&m)[1]];
                let (busy, nots, wakes, sleeps) = (
                    diff(|s| s.busy),
                    diff(|s| s.notifies),
                    diff(|s| s.wakeups),
                    diff(|s| s.sleeps),
                );
                return Observed {
                    t: (now - m.now) as f64 / PS / n,
                    e: (busy[0] + busy[1]) as f64 / PS / n,
                    notifications_per_msg: (nots[0] + nots[1]) as f64 / n,
                    wakeups_per_msg: (wakes[0] + wakes[1]) as f64 / n,
                    regime: observed_regime(mode, sleeps, n, wakes, p.l, p.w_p >= p.w_c),
                };
            }
            _ => {}
        }
    }
}

/// Counters at one instant, to measure a window by difference.
#[derive(Clone, Copy)]
struct Snapshot {
    now: u64,
    consumed: u64,
    /// Work so far, including the state each party is in.
    busy: [u64; 2],
    notifies: [u64; 2],
    wakeups: [u64; 2],
    sleeps: [u64; 2],
}

impl Snapshot {
    fn of(sys: &System, now: u64) -> Snapshot {
        let per = |f: &dyn Fn(&Party) -> u64| [f(&sys.parties[0]), f(&sys.parties[1])];
        Snapshot {
            now,
            consumed: sys.done[1],
            busy: per(&|p: &Party| {
                let open = matches!(p.st, St::Work | St::Notify | St::Wake | St::Spin);
                p.busy + if open { now - p.since } else { 0 }
            }),
            notifies: per(&|p: &Party| p.notifies),
            wakeups: per(&|p: &Party| p.wakeups),
            sleeps: per(&|p: &Party| p.sleeps),
        }
    }
}

/// The regime a run showed: who slept and, when both did (each once per
/// cycle), whether a cycle carried more than L messages (the slow party
/// restarted before the queue ran out: SCS or SPS by who is slower) or
/// exactly L (SS).
fn observed_regime(
    mode: Mode,
    sleeps: [u64; 2],
    n: f64,
    wakes: [u64; 2],
    l: u32,
    p_slower: bool,
) -> Regime {
    if mode == Mode::Poll {
        return Regime::Gp;
    }
    let per = |w: u64| if w == 0 { f64::INFINITY } else { n / w as f64 };
    match (sleeps[0] > 0, sleeps[1] > 0) {
        (false, false) if p_slower => Regime::Fc,
        (false, false) => Regime::Fp,
        (false, true) => Regime::Fc,
        (true, false) => Regime::Fp,
        (true, true) if per(wakes[0].max(wakes[1])) <= f64::from(l) + 0.5 => Regime::Ss,
        (true, true) if p_slower => Regime::Scs,
        (true, true) => Regime::Sps,
    }
}
