//! `scatter-bench-plain-root`: the hand-written root of the `plain-root`
//! mode ([`scatter_bench::plain_root`]) as its own process, the way a user
//! would deploy one instead of Scatter. `--shard ADDR[,ADDR...]` once per
//! shard, in shard order; it prints its ready line with the address it
//! serves on, and stops on SIGTERM or ctrl-c after the queries in flight.
//! The harness starts it; you rarely run it by hand.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use scatter_bench::plain_root::{PlainRoot, READY_LINE};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// A hand-written tonic root: every shard at once, join all, concatenate.
#[derive(Parser, Debug)]
#[command(name = "scatter-bench-plain-root", version)]
struct Cli {
    /// Where clients connect (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The replicas of one shard, comma-separated; repeat once per shard.
    #[arg(long = "shard", value_name = "ADDR[,ADDR...]", required = true)]
    shards: Vec<String>,
    /// Leaf-call timeout of queries that carry no `grpc-timeout`.
    #[arg(long, default_value_t = 1000)]
    default_timeout_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let leaves = cli
        .shards
        .iter()
        .map(|replicas| {
            replicas
                .split(',')
                .map(|a| a.trim().parse::<SocketAddr>())
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("bad --shard {replicas:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let root = PlainRoot::connect(&leaves, Duration::from_millis(cli.default_timeout_ms)).await?;
    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let mut terminate = signal(SignalKind::terminate())?;
    println!("{READY_LINE}{}", listener.local_addr()?);
    let stop = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    root.serve(listener, stop).await
}
