// SPDX-License-Identifier: GPL-2.0

//! The analytical model: regime (Table 1 of the paper), time per message T
//! and cost per message E, for constant times. The paper gives GP, FC, SS and
//! m for FC and SCS; FP, SCS and SPS are derived in
//! Documentation/notify-model.md (FP and SPS by swapping P and C).

use crate::Params;

/// Operating regimes (Table 1, plus polling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// Both parties poll.
    Gp,
    /// Fast consumer: C sleeps, P never blocks.
    Fc,
    /// Fast producer: P blocks, C never sleeps.
    Fp,
    /// Slow consumer start-up: P fills the queue while C wakes.
    Scs,
    /// Slow producer start-up: C drains the queue while P wakes.
    Sps,
    /// Slow start-up on both sides: P and C alternate.
    Ss,
}

impl Regime {
    pub fn name(&self) -> &'static str {
        match self {
            Regime::Gp => "GP",
            Regime::Fc => "FC",
            Regime::Fp => "FP",
            Regime::Scs => "SCS",
            Regime::Sps => "SPS",
            Regime::Ss => "SS",
        }
    }

    fn swapped(self) -> Regime {
        match self {
            Regime::Fc => Regime::Fp,
            Regime::Fp => Regime::Fc,
            Regime::Scs => Regime::Sps,
            Regime::Sps => Regime::Scs,
            r => r,
        }
    }
}

/// The model's answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perf {
    pub regime: Regime,
    /// Time per message (us).
    pub t: f64,
    /// Total cost (work of P and C) per message (us).
    pub e: f64,
    /// Notifications (either way) per message.
    pub notifications: f64,
}

/// Polling: both parties always active.
pub fn polling(p: &Params) -> Perf {
    let t = p.w_p.max(p.w_c);
    Perf {
        regime: Regime::Gp,
        t,
        e: 2.0 * t,
        notifications: 0.0,
    }
}

/// The notification-based regime of `p` (Table 1). Equal speeds count as
/// the fast-consumer side; at the boundaries (equalities) a party that
/// finds work exactly when it would check does not block.
pub fn regime(p: &Params) -> Regime {
    // P does not block while C starts: C frees a slot before P needs one.
    let p_keeps_going = f64::from(p.l - p.k_p) * p.w_p - p.w_c >= p.s_c;
    // C does not run dry while P starts.
    let c_keeps_going = f64::from(p.l - p.k_c) * p.w_c - p.w_p >= p.s_p;
    if p.w_c <= p.w_p {
        match (p_keeps_going, c_keeps_going) {
            (true, _) => Regime::Fc,
            (false, true) => Regime::Scs,
            (false, false) => Regime::Ss,
        }
    } else {
        match (p_keeps_going, c_keeps_going) {
            (_, true) => Regime::Fp,
            (true, false) => Regime::Sps,
            (false, false) => Regime::Ss,
        }
    }
}

/// Notification-based operation: T, E and notifications per message.
pub fn notified(p: &Params) -> Perf {
    match regime(p) {
        Regime::Fc => fast_consumer(p),
        Regime::Scs => slow_consumer_startup(p),
        Regime::Ss => slow_startups(p),
        r => {
            // FP and SPS are FC and SCS of the swapped system.
            let mut perf = notified(&p.swapped());
            debug_assert_eq!(perf.regime, r.swapped());
            perf.regime = r;
            perf
        }
    }
}

/// FC: messages per round m = floor((S_C + (k_P-1) W_C) / (W_P - W_C)) + k_P
/// (infinite at equal speeds: lock-step, no notifications after start-up).
fn fast_consumer(p: &Params) -> Perf {
    let d = p.w_p - p.w_c;
    if d <= 0.0 {
        return lockstep(p, Regime::Fc);
    }
    let m = floor((p.s_c + f64::from(p.k_p - 1) * p.w_c) / d) + f64::from(p.k_p);
    Perf {
        regime: Regime::Fc,
        t: p.w_p + p.n_p / m,
        e: p.w_p + p.w_c + (p.n_p + p.s_c) / m,
        notifications: 1.0 / m,
    }
}

/// Floor that treats values a rounding error below an integer as that
/// integer: at exact ties the party finds its work in time (the
/// simulator's rule), which binary fractions like 4.5/0.9 would miss.
fn floor(x: f64) -> f64 {
    (x + 1e-9 * x.abs().max(1.0)).floor()
}

fn lockstep(p: &Params, regime: Regime) -> Perf {
    Perf {
        regime,
        t: p.w_p.max(p.w_c),
        e: p.w_p + p.w_c,
        notifications: 0.0,
    }
}

/// SCS: a cycle of L + m messages, m = floor(((L-k_C-1) W_C - S_P) / (W_P - W_C))
/// (the paper's equation (3)), lasting
/// N_P + S_C + N_C + S_P + k_C W_C + (m + k_P) W_P.
fn slow_consumer_startup(p: &Params) -> Perf {
    let d = p.w_p - p.w_c;
    let a = f64::from(p.l - p.k_c - 1) * p.w_c - p.s_p;
    if d <= 0.0 {
        // Equal speeds: once P restarts neither party blocks again
        // (lock-step, as FC at equal speeds).
        return lockstep(p, Regime::Fc);
    }
    let m = floor(a / d).max(0.0);
    cycle(p, m, Regime::Scs)
}

/// SS: the SCS cycle with m = 0 (the paper's equation (4)).
fn slow_startups(p: &Params) -> Perf {
    cycle(p, 0.0, Regime::Ss)
}

fn cycle(p: &Params, m: f64, regime: Regime) -> Perf {
    let msgs = f64::from(p.l) + m;
    let overhead = p.n_p + p.s_p + p.n_c + p.s_c;
    let period = overhead + f64::from(p.k_c) * p.w_c + (m + f64::from(p.k_p)) * p.w_p;
    Perf {
        regime,
        t: period / msgs,
        e: p.w_p + p.w_c + overhead / msgs,
        notifications: 2.0 / msgs,
    }
}
