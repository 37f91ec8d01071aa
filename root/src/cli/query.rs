//! `scatter query`: one query to a root; prints the merged result and the
//! coverage, and exits non-zero when the root answers with an error. With
//! `--stream` it calls `QueryStream` and prints each update as it arrives.
//! A deadline that passes before the root answers — `--deadline-ms 0`
//! included, as in other gRPC clients — is reported as `DeadlineExceeded`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use prost::Message as _;
use scatter_proto::v1::query_update::Kind;
use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{
    ConcatResult, Coverage, HedgePolicy, Payload, Policy, Priority, QueryRequest,
};
use scatter_root::fanout::coverage::describe;
use scatter_root::topology::normalise;
use tonic::{Code, Status};

/// Flags of `scatter query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The root's address: `host:port` or `http://host:port`.
    #[arg(long)]
    addr: String,
    /// The request's deadline (sent as `grpc-timeout`); the root's default
    /// when absent. One that passes first (0 does at once) is DeadlineExceeded.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Fail unless every shard answers.
    #[arg(long)]
    require_all: bool,
    /// Fail unless at least this fraction of shards answers.
    #[arg(long)]
    min_coverage: Option<f64>,
    /// Send no hedges for this request.
    #[arg(long)]
    no_hedge: bool,
    /// The request's priority under overload: `low` is shed first, `high` last.
    #[arg(long, value_parser = ["low", "normal", "high"], default_value = "normal")]
    priority: String,
    /// Print each progress update as shards answer (`QueryStream`), then
    /// the final result.
    #[arg(long)]
    stream: bool,
    /// The payload's content type.
    #[arg(long, default_value = "text/plain")]
    content_type: String,
    /// The payload: the words of the query.
    #[arg(required = true)]
    text: Vec<String>,
}

/// Runs `scatter query`.
pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let addr = normalise(&args.addr);
    let mut client = RootClient::connect(addr.clone())
        .await
        .with_context(|| format!("cannot connect to the root at {addr}"))?
        .max_decoding_message_size(usize::MAX);
    let mut request = tonic::Request::new(QueryRequest {
        payload: Some(Payload::new(args.content_type.clone(), args.text.join(" "))),
        policy: Some(Policy {
            require_all_shards: args.require_all,
            min_coverage: args.min_coverage.unwrap_or(0.0),
            hedge: args.no_hedge.then_some(HedgePolicy {
                disabled: true,
                percentile: 0.0,
            }),
            priority: match args.priority.as_str() {
                "low" => Priority::Low,
                "high" => Priority::High,
                _ => Priority::Normal,
            } as i32,
        }),
    });
    let deadline = args.deadline_ms.map(|ms| {
        request.set_timeout(Duration::from_millis(ms));
        std::time::Instant::now() + Duration::from_millis(ms)
    });
    if args.stream {
        return stream(client, request, deadline).await;
    }
    match client.query(request).await {
        Ok(response) => {
            let response = response.into_inner();
            print_result(&response.result.unwrap_or_default());
            print_coverage(&response.coverage.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Err(status) => Ok(fail(&status, deadline)),
    }
}

/// Prints why the call failed. tonic ends a call whose `grpc-timeout`
/// passes on the client side with CANCELLED ("Timeout expired"); that is
/// the deadline the user set, so it is reported as DEADLINE_EXCEEDED. On
/// a stream the status may come without its source, so a CANCELLED after
/// the user's `deadline` counts too.
fn fail(status: &Status, deadline: Option<std::time::Instant>) -> ExitCode {
    let timer_fired = std::iter::successors(std::error::Error::source(status), |e| e.source())
        .any(|e| e.is::<tonic::TimeoutExpired>())
        || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    if status.code() == Code::Cancelled && timer_fired {
        eprintln!(
            "error: {:?}: the deadline passed before the root answered",
            Code::DeadlineExceeded
        );
    } else {
        eprintln!("error: {:?}: {}", status.code(), status.message());
    }
    ExitCode::FAILURE
}

/// Prints every update of a `QueryStream` call as it arrives.
async fn stream(
    mut client: RootClient<tonic::transport::Channel>,
    request: tonic::Request<QueryRequest>,
    deadline: Option<std::time::Instant>,
) -> anyhow::Result<ExitCode> {
    let mut updates = match client.query_stream(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Ok(fail(&status, deadline)),
    };
    let started = std::time::Instant::now();
    loop {
        let update = match updates.message().await {
            Ok(Some(update)) => update,
            Ok(None) => anyhow::bail!("the root ended the stream without a final result"),
            Err(status) => return Ok(fail(&status, deadline)),
        };
        let at = started.elapsed().as_secs_f64() * 1e3;
        match update.kind {
            Some(Kind::Progress(progress)) => {
                let coverage = progress.coverage.unwrap_or_default();
                let ended =
                    coverage.answered + coverage.failed + coverage.timed_out + coverage.skipped;
                println!(
                    "[{at:7.1} ms] {ended}/{} shards ended, {} answered",
                    coverage.total, coverage.answered
                );
                if let Some(snapshot) = progress.snapshot {
                    print_result(&snapshot);
                }
            }
            Some(Kind::Done(response)) => {
                println!("[{at:7.1} ms] done");
                print_result(&response.result.unwrap_or_default());
                print_coverage(&response.coverage.unwrap_or_default());
                return Ok(ExitCode::SUCCESS);
            }
            None => {}
        }
    }
}

fn print_result(result: &Payload) {
    let body = &result.body;
    if result.content_type.starts_with("application/json") {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            ),
            Err(_) => println!("{}", String::from_utf8_lossy(body)),
        }
    } else if result.content_type == scatter_merge::CONCAT_CONTENT_TYPE {
        match ConcatResult::decode(body.clone()) {
            Ok(concat) => {
                for p in concat.partials {
                    let partial = p.partial.unwrap_or_default();
                    println!("shard {}: {}", p.shard, readable(&partial));
                }
            }
            Err(error) => println!("<undecodable concat result: {error}>"),
        }
    } else {
        println!("{}", readable(result));
    }
}

fn readable(payload: &Payload) -> String {
    match std::str::from_utf8(&payload.body) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("<{} bytes of {}>", payload.body.len(), payload.content_type),
    }
}

fn print_coverage(coverage: &Coverage) {
    let mut line = format!(
        "coverage: {}/{} answered",
        coverage.answered, coverage.total
    );
    if coverage.answered < coverage.total {
        line.push_str(&format!(
            ", {} failed, {} timed out, {} skipped",
            coverage.failed, coverage.timed_out, coverage.skipped
        ));
    }
    println!("{line}");
    if !coverage.missing.is_empty() {
        println!("{}", describe(coverage));
    }
}
