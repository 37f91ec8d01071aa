//! `scatter query`: one query to a root; prints the merged result and the
//! coverage, and exits non-zero when the root answers with an error. With
//! `--stream` it calls `QueryStream` and prints each update as it arrives.
//! A deadline that passes before the root answers — `--deadline-ms 0`
//! included, as in other gRPC clients — is reported as `DeadlineExceeded`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use prost::Message as _;
use scatter_management::{ClientTlsFiles, PemFile};
use scatter_proto::v1::query_update::Kind;
use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{
    Canary, ConcatResult, Coverage, HedgePolicy, Payload, Policy, Priority, QueryRequest,
};
use scatter_root::fanout::coverage::describe;
use scatter_root::topology::normalise;
use tonic::transport::Endpoint;
use tonic::{Code, Status};

/// Flags of `scatter query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The root's address: `host:port`, `http://host:port`, or
    /// `https://host:port` (with --tls-ca; `host:port` then means https).
    #[arg(long)]
    addr: String,
    /// Call the root over TLS, trusting certificates this CA signed (PEM).
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<PathBuf>,
    /// The client's certificate (PEM), for a root that requires one
    /// (`--tls-client-ca`); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
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
    /// Tie this request's leaf calls: a call not started at its leaf after
    /// the root's tie delay (1 ms when it has none) gets a copy at another
    /// replica, and the first to start cancels the other.
    #[arg(long)]
    tied: bool,
    /// The request's priority under overload: `low` is shed first, `high` last.
    #[arg(long, value_parser = ["low", "normal", "high"], default_value = "normal")]
    priority: String,
    /// The payload's fingerprint for canary requests: the name of its kind
    /// (e.g. a query template); the root hashes the payload when absent.
    #[arg(long)]
    fingerprint: Option<String>,
    /// Send this request to one shard first (`always`), or fan it out at
    /// once (`never`), whatever the root's canary policy; quarantined
    /// payloads are refused either way.
    #[arg(long, value_parser = ["always", "never"])]
    canary: Option<String>,
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
    let (addr, endpoint) = endpoint(&args)?;
    let channel = endpoint.connect().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to the root at {addr}: {}",
            scatter_management::error_chain(&e)
        )
    })?;
    let mut client = RootClient::new(channel).max_decoding_message_size(usize::MAX);
    let mut request = tonic::Request::new(QueryRequest {
        payload: Some(Payload::new(args.content_type.clone(), args.text.join(" "))),
        policy: Some(Policy {
            require_all_shards: args.require_all,
            min_coverage: args.min_coverage.unwrap_or(0.0),
            hedge: (args.no_hedge || args.tied).then_some(HedgePolicy {
                disabled: args.no_hedge,
                percentile: 0.0,
                tied: args.tied,
            }),
            priority: match args.priority.as_str() {
                "low" => Priority::Low,
                "high" => Priority::High,
                _ => Priority::Normal,
            } as i32,
            fingerprint: args.fingerprint.clone().unwrap_or_default(),
            canary: match args.canary.as_deref() {
                Some("always") => Canary::Always,
                Some("never") => Canary::Never,
                _ => Canary::Unspecified,
            } as i32,
        }),
    });
    let deadline = args.deadline_ms.map(|ms| {
        request.set_timeout(Duration::from_millis(ms));
        std::time::Instant::now() + Duration::from_millis(ms)
    });
    if args.stream {
        return stream(client, request, deadline, args.tls_ca.is_none()).await;
    }
    match client.query(request).await {
        Ok(response) => {
            let response = response.into_inner();
            print_result(&response.result.unwrap_or_default());
            print_coverage(&response.coverage.unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Err(status) => Ok(fail(&status, deadline, args.tls_ca.is_none())),
    }
}

/// The root's address and an endpoint for it, over TLS when `--tls-ca`
/// is given.
fn endpoint(args: &QueryArgs) -> anyhow::Result<(String, Endpoint)> {
    let Some(ca) = &args.tls_ca else {
        if args.tls_cert.is_some() {
            bail!("--tls-cert needs --tls-ca: the CA that signed the root's certificate");
        }
        let addr = normalise(&args.addr);
        let endpoint =
            Endpoint::from_shared(addr.clone()).with_context(|| format!("bad address {addr:?}"))?;
        return Ok((addr, endpoint));
    };
    let addr = match normalise(&args.addr).strip_prefix("http://") {
        Some(host) => format!("https://{host}"),
        None => normalise(&args.addr),
    };
    let files = ClientTlsFiles {
        ca: PemFile::new(ca, "--tls-ca"),
        identity: args
            .tls_cert
            .as_ref()
            .zip(args.tls_key.as_ref())
            .map(|(cert, key)| {
                (
                    PemFile::new(cert, "--tls-cert"),
                    PemFile::new(key, "--tls-key"),
                )
            }),
        server_name: None,
    };
    let endpoint = Endpoint::from_shared(addr.clone())
        .with_context(|| format!("bad address {addr:?}"))?
        .tls_config(scatter_management::client_tls(&files)?)?;
    Ok((addr, endpoint))
}

/// Prints why the call failed. tonic ends a call whose `grpc-timeout`
/// passes on the client side with CANCELLED ("Timeout expired"); that is
/// the deadline the user set, so it is reported as DEADLINE_EXCEEDED. On
/// a stream the status may come without its source, so a CANCELLED after
/// the user's `deadline` counts too.
fn fail(status: &Status, deadline: Option<std::time::Instant>, plaintext: bool) -> ExitCode {
    let timer_fired = std::iter::successors(std::error::Error::source(status), |e| e.source())
        .any(|e| e.is::<tonic::TimeoutExpired>())
        || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    if status.code() == Code::Cancelled && timer_fired {
        eprintln!(
            "error: {:?}: the deadline passed before the root answered",
            Code::DeadlineExceeded
        );
    } else {
        let mut message = status.message().to_owned();
        if let Some(source) = std::error::Error::source(status) {
            message = format!("{message}: {}", scatter_management::error_chain(source));
        }
        eprintln!("error: {:?}: {message}", status.code());
        // A TLS port drops plaintext HTTP/2 (or answers bytes h2 cannot
        // parse); a TLS 1.3 root refusing the client's certificate sends an
        // alert and closes, after the client thought the handshake done.
        let closed = scatter_management::refused_after_handshake(&message);
        if plaintext && (closed || message.contains("h2 protocol error")) {
            eprintln!(
                "hint: if the root serves TLS, call it with --tls-ca \
                 (and --tls-cert/--tls-key when it requires client certificates)"
            );
        } else if !plaintext && closed {
            eprintln!(
                "hint: the root ended the connection after the TLS handshake: if it \
                 requires client certificates (mTLS), it refused this one (--tls-cert/--tls-key)"
            );
        }
    }
    ExitCode::FAILURE
}

/// Prints every update of a `QueryStream` call as it arrives.
async fn stream(
    mut client: RootClient<tonic::transport::Channel>,
    request: tonic::Request<QueryRequest>,
    deadline: Option<std::time::Instant>,
    plaintext: bool,
) -> anyhow::Result<ExitCode> {
    let mut updates = match client.query_stream(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Ok(fail(&status, deadline, plaintext)),
    };
    let started = std::time::Instant::now();
    loop {
        let update = match updates.message().await {
            Ok(Some(update)) => update,
            Ok(None) => anyhow::bail!("the root ended the stream without a final result"),
            Err(status) => return Ok(fail(&status, deadline, plaintext)),
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
