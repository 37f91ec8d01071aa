//! `scatter-bench-leaf`: a leaf whose service time follows a seeded latency
//! model. Besides the SDK's flags (`--listen`, `--shard`, `--shard-count`)
//! it takes `--replica R` (its index within the shard) and `--leaf-config
//! JSON` (a [`scatter_bench::leaf::LeafConfig`]: model, concurrency limit,
//! partial size). The harness starts it; you rarely run it by hand.

use anyhow::Context as _;
use scatter_bench::leaf::{BenchLeaf, LeafConfig};
use scatter_bench::timer::PreciseTimer;
use scatter_leaf::{Flag, Flags, LeafOptions, Process};

/// The bench leaf's own flags, besides the SDK's.
const BENCH_FLAGS: &[Flag] = &[
    Flag {
        name: "replica",
        env: "SCATTER_BENCH_REPLICA",
        value: Some("R"),
        help: "its index within the shard [default: 0]",
    },
    Flag {
        name: "leaf-config",
        env: "SCATTER_BENCH_LEAF_CONFIG",
        value: Some("JSON"),
        help: "the latency model, concurrency limit and partial size (required)",
    },
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env(&[LeafOptions::FLAGS, BENCH_FLAGS]);
    let replica: u32 = flags.parse("replica", 0)?;
    let config_json = flags
        .get("leaf-config")
        .context("--leaf-config JSON is required")?;
    let config: LeafConfig =
        serde_json::from_str(&config_json).context("--leaf-config is not a valid leaf config")?;
    let mut options = LeafOptions::from_flags(&flags)?;
    // The model's concurrency limit is the SDK's queue, so the load
    // reports count the calls waiting.
    options.max_concurrency = options.max_concurrency.or(config.max_concurrency());
    // A process of our own, so the leaf's busy-time counters sit beside
    // the SDK's in its `/metrics`.
    let process = Process::new("leaf", &["scatter.v1.Leaf"]);
    let leaf = BenchLeaf::new(config, replica, PreciseTimer::start()?, &process.metrics);
    let listener = scatter_management::bind(options.listen).await?;
    scatter_leaf::serve_on(leaf, options, listener, process).await?;
    Ok(())
}
