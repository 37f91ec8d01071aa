//! `scatter check leaf|merge`: a conformance checker any leaf or merge can
//! be run against, whatever its language. It runs a battery of checks of
//! what the root relies on — health, deadlines, cancellation, error codes,
//! robustness, concurrency, drain — and prints a pass/fail table (or JSON)
//! in which every failure says what was expected and what came back. It
//! exits 1 when any check fails.
//!
//! The process is one already running (`ADDR`), or one the checker starts
//! itself — a command (`--exec`) or an image (`--image`) — which it can
//! then send SIGTERM to try the drain, and start again when a check
//! crashes it, so one broken check does not fail the ones after it.

mod conn;
mod container;
mod drain;
mod leaf;
mod merge;
mod report;
mod shared;
mod target;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use scatter_proto::v1::{LeafRequest, Payload};

use report::{Outcome, Report};
use target::{Target, TargetSpec};

/// Flags of `scatter check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Check a leaf (scatter.v1.Leaf).
    Leaf(LeafArgs),
    /// Check a merge (scatter.v1.Merge).
    Merge(MergeArgs),
}

/// How to reach or start the process under check.
#[derive(Args, Debug)]
struct TargetArgs {
    /// The process's address (`host:port` or `http://host:port`). With
    /// --exec, where the command listens; when absent there, the checker
    /// picks a free loopback port and passes it in SCATTER_LISTEN.
    addr: Option<String>,
    /// Start this command line (run by `sh -c`) and check it; it should
    /// listen where SCATTER_LISTEN says. Needed for the drain check.
    #[arg(long, value_name = "CMD", conflicts_with = "image")]
    exec: Option<String>,
    /// Run this image as a container on the local Docker engine (its port
    /// published on 127.0.0.1 only) and check it. Needed for the drain check.
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
    /// The port the image's process listens on inside the container (told
    /// through SCATTER_LISTEN) [default: 50051 for a leaf, 50050 for a merge].
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// An environment variable for the started process or container
    /// (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The process's Prometheus endpoint, where the checker reads its
    /// in-flight gauge (scatter_leaf_in_flight, scatter_merge_in_flight) to
    /// see work stop [default: /metrics on the process's own port, as SDK
    /// processes serve it].
    #[arg(long, value_name = "URL")]
    metrics: Option<String>,
    /// How long the process has to exit after SIGTERM.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    grace_ms: u64,
    /// How long a started process has to serve gRPC health.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    ready_ms: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The client request the checks send.
#[derive(Args, Debug)]
struct RequestArgs {
    /// A client request the process handles quickly: a leaf answers it; a
    /// merge gets it in `begin`, and --leaf leaves are asked it.
    #[arg(long, default_value = "hello world")]
    payload: String,
    /// The content type of --payload.
    #[arg(long, default_value = "text/plain")]
    content_type: String,
}

impl RequestArgs {
    fn payload(&self) -> Payload {
        Payload::new(self.content_type.clone(), self.payload.clone())
    }
}

/// Flags of `scatter check leaf`.
#[derive(Args, Debug)]
struct LeafArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    request: RequestArgs,
    /// A request the leaf takes a second or more to answer, to see that it
    /// honours deadlines, stops cancelled work and drains in-flight calls
    /// (the search leaves take `{"query": "hello", "delay_ms": 1500}`).
    #[arg(long, value_name = "PAYLOAD")]
    slow_payload: Option<String>,
    /// The content type of --slow-payload.
    #[arg(long, default_value = "application/json")]
    slow_content_type: String,
    /// The shard to ask for when the leaf does not serve Leaf.Info.
    #[arg(long, default_value_t = 0)]
    shard: u32,
    /// The shard count to send when the leaf does not serve Leaf.Info.
    #[arg(long, default_value_t = 1)]
    shard_count: u32,
    /// The deadline of an ordinary call.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    deadline_ms: u64,
}

/// Flags of `scatter check merge`.
#[derive(Args, Debug)]
struct MergeArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    request: RequestArgs,
    /// A file holding one shard's partial, as the merge reads it
    /// (repeatable, in shard order).
    #[arg(long = "partial", value_name = "FILE", conflicts_with = "leaves")]
    partials: Vec<PathBuf>,
    /// The content type of the --partial files.
    #[arg(long, default_value = "application/json")]
    partial_content_type: String,
    /// A leaf to take partials from: each is asked --payload for its shard
    /// (repeatable, one per shard, in shard order).
    #[arg(long = "leaf", value_name = "ADDR")]
    leaves: Vec<String>,
}

/// Runs `scatter check`.
pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Leaf(args) => {
            let payload = args.request.payload();
            let slow = args
                .slow_payload
                .map(|body| Payload::new(args.slow_content_type, body));
            let mut target = start(&args.target, 50051).await?;
            let plan = leaf::LeafPlan {
                payload,
                slow,
                shard: args.shard,
                shard_count: args.shard_count.max(1),
                deadline: Duration::from_millis(args.deadline_ms),
                metrics: metrics_url(&args.target, &target),
                grace: Duration::from_millis(args.target.grace_ms),
            };
            let mut report = Report::new("leaf", target.describe());
            leaf::run(&mut target, plan, &mut report).await;
            Ok(finish(report, target, args.target.json).await)
        }
        What::Merge(args) => {
            let request = args.request.payload();
            let partials = partials(&args, &request).await?;
            let mut target = start(&args.target, 50050).await?;
            let plan = merge::MergePlan {
                request,
                partials,
                metrics: metrics_url(&args.target, &target),
                grace: Duration::from_millis(args.target.grace_ms),
            };
            let mut report = Report::new("merge", target.describe());
            merge::run(&mut target, plan, &mut report).await;
            Ok(finish(report, target, args.target.json).await)
        }
    }
}

async fn start(args: &TargetArgs, default_port: u16) -> anyhow::Result<Target> {
    Target::start(TargetSpec {
        addr: args.addr.clone(),
        exec: args.exec.clone(),
        image: args.image.clone(),
        port: args.port.unwrap_or(default_port),
        env: args.env.clone(),
        ready_within: Duration::from_millis(args.ready_ms),
    })
    .await
}

fn metrics_url(args: &TargetArgs, target: &Target) -> String {
    args.metrics
        .clone()
        .unwrap_or_else(|| format!("{}/metrics", target.uri()))
}

/// Prints `report`, stops what the checker started, and says how the run
/// ended.
async fn finish(mut report: Report, target: Target, json: bool) -> ExitCode {
    let failed = report.failed() > 0;
    if failed {
        report.output = target.output();
    }
    target.stop(failed).await;
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The partials the merge checks send: read from files, or asked of leaves.
async fn partials(args: &MergeArgs, request: &Payload) -> anyhow::Result<Vec<Payload>> {
    if !args.partials.is_empty() {
        return args
            .partials
            .iter()
            .map(|file| {
                let body = std::fs::read(file)
                    .with_context(|| format!("cannot read --partial {}", file.display()))?;
                Ok(Payload {
                    content_type: args.partial_content_type.clone(),
                    body: Bytes::from(body),
                })
            })
            .collect();
    }
    let shard_count = u32::try_from(args.leaves.len()).context("too many --leaf")?;
    let mut partials = Vec::with_capacity(args.leaves.len());
    for (shard, addr) in (0..).zip(&args.leaves) {
        let uri = scatter_root::topology::normalise(addr);
        let request = LeafRequest {
            payload: Some(request.clone()),
            shard,
            shard_count,
            request_id: 1,
            attempt: 0,
            report_start: false,
        };
        let wait = Duration::from_secs(10);
        match wire::answer(wire::channel(&uri), request, Some(wait), wait).await {
            Ok(response) => partials.push(response.partial.unwrap_or_default()),
            Err(status) => bail!(
                "cannot take a partial from --leaf {addr} (shard {shard} of {shard_count}): {}",
                wire::describe(&status)
            ),
        }
    }
    Ok(partials)
}

/// After each check but the drain: when the check ended the started
/// process, the check fails saying so, and the process is started again
/// for the checks after it.
async fn aftermath(target: &mut Target, check: &str, outcome: Outcome) -> Outcome {
    if check == "drain" || !target.can_signal() {
        return outcome;
    }
    // A call that failed may have taken the process down with it.
    let wait = if matches!(outcome, Outcome::Fail { .. }) {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    };
    let Some(exit) = target.exit_within(wait).await else {
        return outcome;
    };
    let restarted = match target.restart().await {
        Ok(()) => "started again for the next checks".to_owned(),
        Err(e) => format!("starting it again failed: {e:#}"),
    };
    match outcome {
        Outcome::Fail { expected, got } => {
            Outcome::fail(expected, format!("{got}; the process {exit} ({restarted})"))
        }
        _ => Outcome::fail(
            "the process keeps running",
            format!("it {exit} during this check ({restarted})"),
        ),
    }
}
