// SPDX-License-Identifier: GPL-2.0

//! hog: a CPU load, for benchmarks that consolidate guests on one CPU. It
//! spins `--load` percent of every `--period-ms` and sleeps the rest, until
//! killed; pin it with taskset beside the process it competes with.

use clap::Parser;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    /// Busy share of each period, percent.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=100))]
    load: u64,
    /// Period, ms.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    period_ms: u64,
}

fn main() {
    let cli = Cli::parse();
    let period = Duration::from_millis(cli.period_ms);
    let busy = period * cli.load as u32 / 100;
    let mut start = Instant::now();
    loop {
        while start.elapsed() < busy {
            std::hint::spin_loop();
        }
        if let Some(rest) = period.checked_sub(start.elapsed()) {
            std::thread::sleep(rest);
        }
        start += period;
        // Late (preempted for longer than a period): start afresh.
        if start.elapsed() > period {
            start = Instant::now();
        }
    }
}
