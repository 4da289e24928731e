//! `make bench`: tenantctl side by side with the compose loop (the status
//! quo) and the raw Docker Engine (the physical limit), measured in one run
//! and reported as medians and ratios — absolute times on a shared machine
//! mean little, ratios taken together mean more.
//!
//! Usage: cargo run --release --example bench -- [--n 20,100,1000] [--runs 3]
//! [--big-runs 1] [--out FILE] [--only tenantctl]. Past N = 100 the compose loop is skipped
//! (marked so in the table: it is the status quo at 20 clients, and a
//! 1,000-container compose loop would take most of an hour per run), and
//! `--big-runs` runs are made instead of `--runs`.

mod baseline;
mod measure;
mod micro;
mod scenario;

use std::collections::BTreeMap;
use std::time::Duration;

pub struct Args {
    pub sizes: Vec<usize>,
    pub runs: usize,
    /// Runs for fleet sizes past `COMPOSE_MAX`.
    pub big_runs: usize,
    pub concurrency: usize,
    pub out: Option<String>,
    /// `--only tenantctl`: no baselines (memory and call-count checks).
    pub tenantctl_only: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        sizes: vec![20, 100],
        runs: 3,
        big_runs: 1,
        concurrency: 4,
        out: None,
        tenantctl_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--n" => {
                args.sizes = value
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            }
            "--runs" => args.runs = value.parse().unwrap_or(3),
            "--big-runs" => args.big_runs = value.parse().unwrap_or(1),
            "--concurrency" => args.concurrency = value.parse().unwrap_or(4),
            "--out" => args.out = Some(value),
            "--only" if value == "tenantctl" => args.tenantctl_only = true,
            _ => {
                eprintln!("usage: bench [--n 20,100,1000] [--runs 3] [--big-runs 1] [--concurrency 4] [--out FILE] [--only tenantctl]");
                std::process::exit(2);
            }
        }
    }
    args
}

fn save(args: &Args, report: &str) {
    if let Some(path) = &args.out {
        std::fs::write(path, report).expect("write --out");
        eprintln!("wrote {path}");
    }
}

/// The largest fleet the compose loop is measured at.
pub const COMPOSE_MAX: usize = 100;

/// Per (scenario, tool): one sample per run.
pub type Samples = BTreeMap<(String, String), Vec<Duration>>;

fn main() {
    let args = parse_args();
    measure::require_tools();
    let mut report = String::new();
    report.push_str(&measure::machine_facts());
    for &n in &args.sizes {
        let mut samples = Samples::new();
        let mut calls: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut peak_rss = 0u64;
        measure::set_fleet_size(n);
        let runs = if n > COMPOSE_MAX {
            args.big_runs
        } else {
            args.runs
        };
        for run in 0..runs {
            eprintln!("== N={n} run {}/{runs}", run + 1);
            let r = scenario::tenantctl_run(n, &args, &mut samples);
            for (k, v) in r.calls {
                calls.entry(k).or_default().push(v);
            }
            peak_rss = peak_rss.max(r.peak_rss_kib);
            samples
                .entry(("S2".into(), "raw".into()))
                .or_default()
                .push(r.engine_list);
            if args.tenantctl_only {
                continue;
            }
            if n <= COMPOSE_MAX {
                baseline::compose_run(n, &mut samples);
            }
            baseline::raw_run(n, args.concurrency, &mut samples);
        }
        report.push_str(&measure::table(n, runs, &samples, &calls, peak_rss));
        // Written after each N, so a later failure loses nothing measured.
        save(&args, &report);
    }
    report.push_str(&micro::plan_benchmark(10_000));
    println!("{report}");
    save(&args, &report);
}
