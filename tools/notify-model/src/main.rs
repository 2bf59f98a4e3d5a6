// SPDX-License-Identifier: GPL-2.0

//! notify-model: the producer/consumer notification model, its simulator,
//! and the EVI/EoC engine comparison.
//!
//! ```text
//! notify-model regime [--wp US --wc US --np --nc --sp --sc --l --kp --kc]
//! notify-model validate --out DIR   # model vs simulator sweeps, SVG plots
//! notify-model control  --out DIR   # section 4.1 control vs polling
//! notify-model evi      --out DIR   # EVI/EoC vs every-packet vs timer
//! ```

use clap::{Args, Parser, Subcommand};
use notify_model::evi_sim::{self, Policy};
use notify_model::model::{self, Regime};
use notify_model::plot::{chart, Series};
use notify_model::sim::{self, Jitter, Mode};
use notify_model::Params;
use std::fmt::Write as _;
use std::path::PathBuf;
use vassist_policy::evi::Config;

#[derive(Parser)]
#[command(about = "Producer/consumer notification model, simulator and EVI/EoC comparison")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Regime, T and E for one set of parameters (model and simulator).
    Regime(ParamArgs),
    /// Sweep W_P: model against simulator, with plots.
    Validate {
        #[arg(long)]
        out: PathBuf,
    },
    /// The section 4.1 control (cheapest wait) against polling.
    Control {
        #[arg(long)]
        out: PathBuf,
    },
    /// EVI/EoC against notify-every-packet and a 50 us timer.
    Evi {
        #[arg(long)]
        out: PathBuf,
    },
}

/// Defaults: the paper's Figure 4 set-up at W_P = 1.5 us.
#[derive(Args)]
struct ParamArgs {
    #[arg(long, default_value_t = 1.5)]
    wp: f64,
    #[arg(long, default_value_t = 1.1)]
    wc: f64,
    #[arg(long, default_value_t = 2.4)]
    np: f64,
    #[arg(long, default_value_t = 0.2)]
    nc: f64,
    #[arg(long, default_value_t = 3.9)]
    sp: f64,
    #[arg(long, default_value_t = 0.2)]
    sc: f64,
    #[arg(long, default_value_t = 8)]
    l: u32,
    #[arg(long, default_value_t = 1)]
    kp: u32,
    #[arg(long, default_value_t = 4)]
    kc: u32,
    /// Random variation of W_P and W_C in the simulator (fraction).
    #[arg(long, default_value_t = 0.0)]
    jitter: f64,
}

const MSGS: u64 = 20_000;

fn regime_cmd(a: &ParamArgs) -> Result<(), String> {
    if a.kp == 0 || a.kc == 0 || a.kp > a.l || a.kc > a.l {
        return Err("need 1 <= kp, kc <= l".into());
    }
    let p = Params {
        l: a.l,
        k_p: a.kp,
        k_c: a.kc,
        w_p: a.wp,
        w_c: a.wc,
        n_p: a.np,
        n_c: a.nc,
        s_p: a.sp,
        s_c: a.sc,
    };
    let m = model::notified(&p);
    let g = model::polling(&p);
    let s = sim::run(&p, Mode::Notify, Jitter(a.jitter), MSGS);
    println!("regime {}", m.regime.name());
    println!(
        "model:     T {:.4} us/msg  E {:.4} us/msg  notifications/msg {:.4}",
        m.t, m.e, m.notifications
    );
    println!("polling:   T {:.4} us/msg  E {:.4} us/msg", g.t, g.e);
    println!(
        "simulator: T {:.4} us/msg  E {:.4} us/msg  notifications/msg {:.4}  wake-ups/msg {:.4}  regime {}",
        s.t,
        s.e,
        s.notifications_per_msg,
        s.wakeups_per_msg,
        s.regime.name()
    );
    Ok(())
}

struct Sweep {
    name: &'static str,
    what: &'static str,
    base: Params,
    from: f64,
    to: f64,
    step: f64,
}

fn sweeps() -> Vec<Sweep> {
    vec![
        Sweep {
            name: "fig4",
            what:
                "Figure 4 set-up: W_C 1.1, N_P 2.4, S_P 3.9, N_C = S_C = 0.2 us; L 8, k_P 1, k_C 4",
            base: Params::figure4(0.0),
            from: 0.1,
            to: 3.0,
            step: 0.1,
        },
        Sweep {
            name: "slow-consumer-start",
            what: "W_C 1.1, N_P = N_C = 1, S_P 1, S_C 20 us; L 16, k_P 1, k_C 4",
            base: Params {
                l: 16,
                k_p: 1,
                k_c: 4,
                w_p: 0.0,
                w_c: 1.1,
                n_p: 1.0,
                n_c: 1.0,
                s_p: 1.0,
                s_c: 20.0,
            },
            from: 0.5,
            to: 2.0,
            step: 0.05,
        },
        Sweep {
            name: "slow-starts",
            what: "W_C 1.1, N_P = N_C = 1, S_P = S_C = 6 us; L 8, k_P 1, k_C 4",
            base: Params {
                l: 8,
                k_p: 1,
                k_c: 4,
                w_p: 0.0,
                w_c: 1.1,
                n_p: 1.0,
                n_c: 1.0,
                s_p: 6.0,
                s_c: 6.0,
            },
            from: 0.5,
            to: 2.0,
            step: 0.05,
        },
    ]
}

fn points(s: &Sweep) -> Vec<Params> {
    let n = ((s.to - s.from) / s.step).round() as usize;
    (0..=n)
        .map(|i| Params {
            w_p: ((s.from + i as f64 * s.step) * 1000.0).round() / 1000.0,
            ..s.base
        })
        .collect()
}

fn pct(a: f64, b: f64) -> f64 {
    100.0 * (a - b).abs() / b
}

fn validate(out: &PathBuf) -> Result<String, String> {
    let mut csv = String::from(
        "sweep,w_p,regime_model,regime_sim,t_model,t_sim,e_model,e_sim,t_poll_model,t_poll_sim\n",
    );
    let (mut worst, mut n, mut regimes) = (0f64, 0, Vec::new());
    for sw in sweeps() {
        let (mut tm, mut ts, mut em, mut es, mut tg) = (vec![], vec![], vec![], vec![], vec![]);
        for p in points(&sw) {
            let m = model::notified(&p);
            let s = sim::run(&p, Mode::Notify, Jitter(0.0), MSGS);
            let g = model::polling(&p);
            let gs = sim::run(&p, Mode::Poll, Jitter(0.0), MSGS);
            let d = pct(s.t, m.t)
                .max(pct(s.e, m.e))
                .max(pct(gs.t, g.t))
                .max(pct(gs.e, g.e));
            worst = worst.max(d);
            n += 1;
            if s.regime != m.regime {
                return Err(format!(
                    "{} W_P {}: model regime {} but simulator {}",
                    sw.name,
                    p.w_p,
                    m.regime.name(),
                    s.regime.name()
                ));
            }
            if !regimes.contains(&m.regime) {
                regimes.push(m.regime);
            }
            let _ = writeln!(
                csv,
                "{},{},{},{},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5}",
                sw.name,
                p.w_p,
                m.regime.name(),
                s.regime.name(),
                m.t,
                s.t,
                m.e,
                s.e,
                g.t,
                gs.t
            );
            tm.push((p.w_p, m.t));
            ts.push((p.w_p, s.t));
            em.push((p.w_p, m.e));
            es.push((p.w_p, s.e));
            tg.push((p.w_p, g.t));
        }
        let eg: Vec<_> = tg.iter().map(|&(x, t)| (x, 2.0 * t)).collect();
        let t_svg = chart(
            &format!("Time per message ({})", sw.what.split(';').next().unwrap()),
            "W_P (us)",
            "T (us/message)",
            &[
                Series {
                    name: "model, notifications",
                    color: "#1f77b4",
                    dashed: true,
                    points: tm,
                },
                Series {
                    name: "simulator",
                    color: "#d62728",
                    dashed: false,
                    points: ts,
                },
                Series {
                    name: "model, polling (GP)",
                    color: "#2ca02c",
                    dashed: true,
                    points: tg,
                },
            ],
        );
        let e_svg = chart(
            &format!("Cost per message ({})", sw.what.split(';').next().unwrap()),
            "W_P (us)",
            "E (us of work/message)",
            &[
                Series {
                    name: "model, notifications",
                    color: "#1f77b4",
                    dashed: true,
                    points: em,
                },
                Series {
                    name: "simulator",
                    color: "#d62728",
                    dashed: false,
                    points: es,
                },
                Series {
                    name: "model, polling (GP)",
                    color: "#2ca02c",
                    dashed: true,
                    points: eg,
                },
            ],
        );
        write(out, &format!("notify-{}-time.svg", sw.name), &t_svg)?;
        write(out, &format!("notify-{}-cost.svg", sw.name), &e_svg)?;
    }
    write(out, "notify-validate.csv", &csv)?;
    let names: Vec<_> = regimes.iter().map(Regime::name).collect();
    Ok(format!(
        "regimes reached: GP (polling runs), {}\nnotify-model: max model/sim disagreement {:.1}% over {} points",
        names.join(", "),
        worst,
        n
    ))
}

fn control(out: &PathBuf) -> Result<String, String> {
    let sw = &sweeps()[0];
    let mut csv = String::from("w_p,t_gp,t_notify,t_nap,e_poll,e_notify,e_nap\n");
    let (mut tn, mut tc, mut tp, mut en, mut ec, mut ep) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut worst_t, mut k) = (0f64, 0);
    // Savings against polling where C is the fast party (W_P > W_C) and
    // where P is (W_P < W_C).
    let (mut save_fc, mut n_fc, mut save_fp, mut n_fp) = (0f64, 0, 0f64, 0);
    for p in points(sw) {
        let n = sim::run(&p, Mode::Notify, Jitter(0.0), MSGS);
        let c = sim::run(&p, Mode::Nap, Jitter(0.0), MSGS);
        let g = sim::run(&p, Mode::Poll, Jitter(0.0), MSGS);
        worst_t = worst_t.max(c.t / g.t);
        if p.w_p > p.w_c {
            save_fc += 1.0 - c.e / g.e;
            n_fc += 1;
        } else if p.w_p < p.w_c {
            save_fp += 1.0 - c.e / g.e;
            n_fp += 1;
        }
        k += 1;
        let _ = writeln!(
            csv,
            "{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}",
            p.w_p, g.t, n.t, c.t, g.e, n.e, c.e
        );
        tn.push((p.w_p, n.t));
        tc.push((p.w_p, c.t));
        tp.push((p.w_p, g.t));
        en.push((p.w_p, n.e));
        ec.push((p.w_p, c.e));
        ep.push((p.w_p, g.e));
    }
    write(out, "notify-control.csv", &csv)?;
    write(
        out,
        "notify-control-time.svg",
        &chart(
            "Control (cheapest wait), Figure 4 set-up: time per message",
            "W_P (us)",
            "T (us/message)",
            &[
                Series {
                    name: "notifications",
                    color: "#1f77b4",
                    dashed: false,
                    points: tn,
                },
                Series {
                    name: "control",
                    color: "#d62728",
                    dashed: false,
                    points: tc,
                },
                Series {
                    name: "polling",
                    color: "#2ca02c",
                    dashed: true,
                    points: tp,
                },
            ],
        ),
    )?;
    write(
        out,
        "notify-control-cost.svg",
        &chart(
            "Control (cheapest wait), Figure 4 set-up: cost per message",
            "W_P (us)",
            "E (us of work/message)",
            &[
                Series {
                    name: "notifications",
                    color: "#1f77b4",
                    dashed: false,
                    points: en,
                },
                Series {
                    name: "control",
                    color: "#d62728",
                    dashed: false,
                    points: ec,
                },
                Series {
                    name: "polling",
                    color: "#2ca02c",
                    dashed: true,
                    points: ep,
                },
            ],
        ),
    )?;
    Ok(format!(
        "notify-control: time at most {:.3}x T_GP over {} points; cost below polling by {:.0}% on average where C is faster (W_P > W_C), {:.0}% where P is",
        worst_t,
        k,
        100.0 * save_fc / n_fc.max(1) as f64,
        100.0 * save_fp / n_fp.max(1) as f64
    ))
}

fn evi(out: &PathBuf) -> Result<String, String> {
    let shapes = evi_sim::shapes();
    // Pick alpha/beta: the fewest notifications per packet over all shapes
    // among the settings whose p50 latency is within 5 us of the lowest.
    let mut grid = String::from(
        "alpha_MBps,beta_MBps,notifications_per_packet,latency_p50_us,latency_p99_us\n",
    );
    let mut runs = Vec::new();
    for alpha in [100_000u64, 1_000_000, 10_000_000, 50_000_000] {
        for beta in [100_000_000u64, 400_000_000, 1_000_000_000, 4_000_000_000] {
            let cfg = Config {
                alpha,
                beta,
                rechecks: false,
            };
            let (npp, p50, p99) = aggregate(&shapes, Policy::EviEoc(cfg));
            let _ = writeln!(
                grid,
                "{},{},{:.4},{:.1},{:.1}",
                alpha / 1_000_000,
                beta / 1_000_000,
                npp,
                p50 as f64 / 1e3,
                p99 as f64 / 1e3
            );
            runs.push((cfg, npp, p50));
        }
    }
    let lowest = runs.iter().map(|r| r.2).min().unwrap();
    let best = runs
        .iter()
        .filter(|r| r.2 <= lowest + 5_000)
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)))
        .copied();
    let (cfg, _, _) = best.expect("a setting");
    // The same thresholds for a host that sees the consumer unmask (a
    // zone port's ring): no EoC for a failed EVI alone.
    let seen = Config {
        rechecks: true,
        ..cfg
    };
    let mut md =
        String::from("# EVI/EoC against notify-every-packet and a 50 us coalescing timer\n\n");
    let _ = writeln!(
        md,
        "Made by `cargo run --release -p notify-model -- evi --out bench` (simulated host and guest, see \
         tools/notify-model/src/evi_sim.rs: host 1.5 us + 0.25 ns/byte per packet, interrupt delivery 10 us, \
         guest 2 us per packet). Latency: from placement in the guest's ring to the guest taking the packet.\n\n\
         Chosen alpha = {} MB/s, beta = {} MB/s: the fewest notifications per packet over the four shapes \
         among the settings whose p50 latency is within 5 us of the lowest (grid in evi-eoc-grid.csv).\n",
        cfg.alpha as f64 / 1e6,
        cfg.beta as f64 / 1e6
    );
    md.push_str("| shape | policy | notifications/packet | latency p50 (us) | latency p99 (us) | EVI sent | EVI failed | premature | EoC sent | EoC cold | EoC hot | notifications/batch |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for s in &shapes {
        for (name, pol) in [
            ("every packet", Policy::EveryPacket),
            ("timer 50 us", Policy::Timer(50_000)),
            ("EVI/EoC", Policy::EviEoc(cfg)),
            ("EVI/EoC, unmask seen", Policy::EviEoc(seen)),
        ] {
            let o = evi_sim::run(s, pol);
            let st = o.stats;
            let evi_cols = if matches!(pol, Policy::EviEoc(_)) {
                format!(
                    "{} | {} | {} | {} | {} | {} | {:.2}",
                    st.evi_sent,
                    st.evi_failed,
                    st.premature,
                    st.eoc_sent,
                    st.eoc_cold,
                    st.eoc_hot,
                    o.notifications as f64 / o.batches.max(1) as f64
                )
            } else {
                "- | - | - | - | - | - | -".into()
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.3} | {:.1} | {:.1} | {} |",
                s.name,
                name,
                o.per_packet(),
                o.latency_pct(0.5) as f64 / 1e3,
                o.latency_pct(0.99) as f64 / 1e3,
                evi_cols
            );
        }
    }
    let (e_npp, e_p50, _) = aggregate(&shapes, Policy::EviEoc(cfg));
    let (s_npp, s_p50, _) = aggregate(&shapes, Policy::EviEoc(seen));
    let (a_npp, a_p50, _) = aggregate(&shapes, Policy::EveryPacket);
    let (t_npp, _, _) = aggregate(&shapes, Policy::Timer(50_000));
    let line = format!(
        "evi-eoc: notifications/packet {:.2} (every-packet {:.2}, timer {:.2}), added latency p50 {}us; unmask seen {:.2}, p50 {}us",
        e_npp,
        a_npp,
        t_npp,
        (e_p50 as f64 / 1e3).round(),
        s_npp,
        (s_p50 as f64 / 1e3).round()
    );
    let _ = writeln!(
        md,
        "\nEvery-packet p50 latency over all shapes: {:.1} us.\n\n`{line}`",
        a_p50 as f64 / 1e3
    );
    write(out, "evi-eoc.md", &md)?;
    write(out, "evi-eoc-grid.csv", &grid)?;
    Ok(line)
}

/// Over all shapes: notifications per packet, p50 and p99 latency (ns).
fn aggregate(shapes: &[evi_sim::Shape], pol: Policy) -> (f64, u64, u64) {
    let (mut n, mut p, mut lat) = (0u64, 0u64, Vec::new());
    for s in shapes {
        let o = evi_sim::run(s, pol);
        n += o.notifications;
        p += o.packets;
        lat.extend(o.latencies);
    }
    lat.sort_unstable();
    let at = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    (n as f64 / p as f64, at(0.5), at(0.99))
}

fn write(dir: &PathBuf, name: &str, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
}

fn main() -> std::process::ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Regime(a) => regime_cmd(&a),
        Cmd::Validate { out } => validate(&out).map(|l| println!("{l}")),
        Cmd::Control { out } => control(&out).map(|l| println!("{l}")),
        Cmd::Evi { out } => evi(&out).map(|l| println!("{l}")),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notify-model: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
