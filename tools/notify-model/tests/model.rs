// SPDX-License-Identifier: GPL-2.0

use notify_model::model::{self, Regime};
use notify_model::sim::{self, Jitter, Mode};
use notify_model::Params;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-12)
}

#[test]
fn paper_closed_forms() {
    // FC: T = W_P + N_P/m, m = floor((S_C + (k_P-1) W_C)/(W_P - W_C)) + k_P.
    let p = Params::figure4(1.5);
    let perf = model::notified(&p);
    assert_eq!(perf.regime, Regime::Fc);
    let m = ((0.2f64 + 0.0) / 0.4).floor() + 1.0;
    assert!(close(perf.t, 1.5 + 2.4 / m, 1e-12));
    assert!(close(perf.e, 1.5 + 1.1 + (2.4 + 0.2) / m, 1e-12));
    // GP: T = max(W_P, W_C), E = 2T.
    let g = model::polling(&p);
    assert_eq!((g.t, g.e), (1.5, 3.0));
    // SS: T = (k_P W_P + k_C W_C + N_P + S_P + N_C + S_C) / L.
    let ss = Params {
        l: 8,
        k_p: 1,
        k_c: 4,
        w_p: 0.9,
        w_c: 1.1,
        n_p: 1.0,
        n_c: 1.0,
        s_p: 6.0,
        s_c: 6.0,
    };
    let perf = model::notified(&ss);
    assert_eq!(perf.regime, Regime::Ss);
    assert!(close(perf.t, (0.9 + 4.0 * 1.1 + 14.0) / 8.0, 1e-12));
    assert!(close(perf.e, 2.0 + 14.0 / 8.0, 1e-12));
}

#[test]
fn table1_regimes() {
    let base = Params {
        l: 16,
        k_p: 1,
        k_c: 4,
        w_p: 0.0,
        w_c: 1.1,
        n_p: 1.0,
        n_c: 1.0,
        s_p: 1.0,
        s_c: 20.0,
    };
    let at = |w_p| model::regime(&Params { w_p, ..base });
    assert_eq!(at(0.8), Regime::Fp);
    assert_eq!(at(1.2), Regime::Scs);
    assert_eq!(at(1.6), Regime::Fc);
    let slow = Params {
        l: 8,
        s_p: 6.0,
        s_c: 6.0,
        ..base
    };
    assert_eq!(model::regime(&Params { w_p: 0.6, ..slow }), Regime::Ss);
    assert_eq!(model::regime(&Params { w_p: 1.05, ..slow }), Regime::Sps);
}

/// Swapping P and C maps FC<->FP and SCS<->SPS with the same T and E:
/// the derived formulas for FP and SPS are the paper's for FC and SCS.
#[test]
fn symmetry_of_the_derived_regimes() {
    let mut x: u64 = 12345;
    let mut r = move |lo: f64, hi: f64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lo + (hi - lo) * (x % 10_000) as f64 / 10_000.0
    };
    for _ in 0..2000 {
        let l = 2 + r(0.0, 30.0) as u32;
        let p = Params {
            l,
            k_p: 1 + r(0.0, f64::from(l)) as u32,
            k_c: 1 + r(0.0, f64::from(l)) as u32,
            w_p: r(0.1, 5.0),
            w_c: r(0.1, 5.0),
            n_p: r(0.0, 5.0),
            n_c: r(0.0, 5.0),
            s_p: r(0.0, 30.0),
            s_c: r(0.0, 30.0),
        };
        if p.w_p == p.w_c {
            continue;
        }
        let a = model::notified(&p);
        let b = model::notified(&p.swapped());
        let mirrored = match a.regime {
            Regime::Fc => Regime::Fp,
            Regime::Fp => Regime::Fc,
            Regime::Scs => Regime::Sps,
            Regime::Sps => Regime::Scs,
            x => x,
        };
        assert_eq!(b.regime, mirrored, "{p:?}");
        assert!(
            close(a.t, b.t, 1e-9) && close(a.e, b.e, 1e-9),
            "{p:?}: {a:?} vs {b:?}"
        );
    }
}

/// The simulator reproduces the model in every regime.
#[test]
fn simulator_matches_model() {
    let cases = [
        Params::figure4(0.2),
        Params::figure4(0.7),
        Params::figure4(2.3),
        Params {
            l: 16,
            k_p: 1,
            k_c: 4,
            w_p: 1.25,
            w_c: 1.1,
            n_p: 1.0,
            n_c: 1.0,
            s_p: 1.0,
            s_c: 20.0,
        },
        Params {
            l: 8,
            k_p: 1,
            k_c: 4,
            w_p: 0.7,
            w_c: 1.1,
            n_p: 1.0,
            n_c: 1.0,
            s_p: 6.0,
            s_c: 6.0,
        },
        Params {
            l: 8,
            k_p: 2,
            k_c: 3,
            w_p: 1.7,
            w_c: 0.9,
            n_p: 0.5,
            n_c: 0.3,
            s_p: 2.0,
            s_c: 7.5,
        },
    ];
    for p in cases {
        let m = model::notified(&p);
        let s = sim::run(&p, Mode::Notify, Jitter(0.0), 10_000);
        assert_eq!(s.regime, m.regime, "{p:?}");
        assert!(
            close(s.t, m.t, 0.02) && close(s.e, m.e, 0.02),
            "{p:?}: model {m:?}, sim {s:?}"
        );
        let g = sim::run(&p, Mode::Poll, Jitter(0.0), 10_000);
        assert!(close(g.t, model::polling(&p).t, 0.01) && close(g.e, model::polling(&p).e, 0.01));
    }
}

#[test]
fn jitter_runs_and_stays_near_the_constant_model_in_fc() {
    let p = Params::figure4(2.5);
    let s = sim::run(&p, Mode::Notify, Jitter(0.1), 20_000);
    assert!(close(s.t, model::notified(&p).t, 0.05), "{s:?}");
}

/// The section 4.1 control stays within a few percent of polling's speed
/// and never costs more. It costs clearly less where napping (C fast,
/// S_C = 0.2 us) or sleeping until notified (P fast, with a queue that
/// outlasts S_P) can pay; in the short-queue zone (SPS) it spins at
/// polling's cost.
#[test]
fn control_reaches_polling_speed_for_at_most_polling_cost() {
    for (w_p, cheaper) in [
        (0.3, true),
        (0.8, false),
        (1.5, true),
        (2.0, true),
        (2.8, true),
    ] {
        let p = Params::figure4(w_p);
        let nap = sim::run(&p, Mode::Nap, Jitter(0.0), 20_000);
        let poll = sim::run(&p, Mode::Poll, Jitter(0.0), 20_000);
        assert!(nap.t <= poll.t * 1.03, "W_P {w_p}: {nap:?} vs {poll:?}");
        assert!(nap.e <= poll.e * 1.001, "W_P {w_p}: {nap:?} vs {poll:?}");
        if cheaper {
            assert!(nap.e < poll.e * 0.9, "W_P {w_p}: {nap:?} vs {poll:?}");
        }
    }
}
