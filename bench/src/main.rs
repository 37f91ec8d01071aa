//! `scatter-bench SCENARIO [--duration SECS] [--rate RPS] [--out DIR] ...`:
//! runs one benchmark scenario on loopback and prints, and writes, its
//! report. See bench/README.md for the scenarios and what every column means.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use scatter_bench::modes::Mode;
use scatter_bench::report::seeds::Summary;
use scatter_bench::run::{CLIENT_THREADS, Harness, RunOptions};
use scatter_bench::scenarios::ScenarioName;
use scatter_bench::schedule::Arrivals;

/// Benchmarks Scatter's fan-out against a direct call, a hand-written
/// fan-out and tower's hedge, on seeded leaf latency models.
#[derive(Parser, Debug)]
#[command(name = "scatter-bench", version)]
struct Cli {
    /// The scenario to run.
    #[arg(value_enum)]
    scenario: ScenarioName,
    /// Measured seconds per mode (default: the scenario's).
    #[arg(long)]
    duration: Option<f64>,
    /// Requests per second, the same for every mode (default: the
    /// scenario's). For `overload`, the capacity its variants are multiples
    /// of (50 % … 500 %), skipping the capacity probe.
    #[arg(long)]
    rate: Option<f64>,
    /// Warm-up seconds per mode, excluded from every figure.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Where report.json, the .hlog files and the plots go
    /// (default: target/scatter-bench/SCENARIO).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of the latency model and the arrivals.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the scenario once per seed, each into OUT/seed-N, then print
    /// the median and spread (min–max) of every ratio over the seeds and
    /// write them to OUT/summary.json.
    #[arg(long, value_delimiter = ',', conflicts_with = "seed")]
    seeds: Option<Vec<u64>>,
    /// How arrivals are spaced.
    #[arg(long, value_enum, default_value_t = Arrivals::Poisson)]
    arrivals: Arrivals,
    /// Only these modes, comma-separated (default: the scenario's).
    #[arg(long, value_enum, value_delimiter = ',')]
    modes: Option<Vec<Mode>>,
    /// Hedge after this percentile of a shard's latencies, for Scatter and
    /// tower alike (default: the scenario's).
    #[arg(long)]
    hedge_percentile: Option<f64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Client work (every mode's calls) on its own named threads, so the CPU
    // of an in-harness fan-out can be read apart; the sender and recorder
    // on this thread.
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(CLIENT_THREADS)
        .enable_all()
        .build()?;
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = match cli.out {
        Some(out) => out,
        None => default_out(cli.scenario.resolve(cli.seed).name)?,
    };
    let options = RunOptions {
        rate: cli.rate,
        duration: cli.duration.map(Duration::from_secs_f64),
        warmup: Duration::from_secs_f64(cli.warmup.max(0.0)),
        arrivals: cli.arrivals,
        seed: cli.seed,
        modes: cli.modes,
        hedge_percentile: cli.hedge_percentile,
        out: out.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let harness = Harness::new(client.handle().clone())?;
    let result = match cli.seeds {
        None => load.block_on(async {
            let report = harness
                .run(&cli.scenario.resolve(cli.seed), &options)
                .await?;
            println!("{}", report.table());
            Ok(())
        }),
        Some(seeds) => load.block_on(over_seeds(&harness, cli.scenario, &seeds, &options)),
    };
    println!("wrote {}", out.display());
    client.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Runs `scenario` once per seed, each into `seed-N/` under the output
/// folder, then prints and writes the summary over the seeds.
async fn over_seeds(
    harness: &Harness,
    scenario: ScenarioName,
    seeds: &[u64],
    options: &RunOptions,
) -> anyhow::Result<()> {
    let mut runs = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let folder = format!("seed-{seed}");
        let options = RunOptions {
            seed,
            out: options.out.join(&folder),
            ..options.clone()
        };
        let report = harness.run(&scenario.resolve(seed), &options).await?;
        println!("{}", report.table());
        runs.push((seed, report, folder));
    }
    let summary = Summary::of(&runs);
    println!("{}", summary.table());
    std::fs::write(
        options.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}

/// target/scatter-bench/SCENARIO, beside the binaries' folder.
fn default_out(scenario: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    Ok(target.join("scatter-bench").join(scenario))
}
