//! A running root (`scatter serve`), the queries tests send it (unary or
//! progressive), and reading the coverage of its answers.

use std::time::Duration;

use scatter_proto::v1::query_update::Kind;
use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{
    Canary, Coverage, MissingShard, Payload, Policy, Priority, QueryProgress, QueryRequest,
    QueryResponse, QueryUpdate, ShardOutcome,
};
use tonic::transport::Channel;
use tonic::{Status, Streaming};

use crate::binary;
use crate::process::ChildProcess;
use crate::script::Script;
use crate::server::{START_TIMEOUT, Server};

/// What `scatter serve` prints once it serves, before `http://ADDR` (or
/// `https://ADDR` over TLS).
const READY: &str = "scatter root ready on ";

/// A `scatter serve` process.
pub struct Root {
    /// The root's process, address and admin endpoints.
    pub server: Server,
}

impl Root {
    /// Starts `scatter serve` on a free port over `shards` (one entry per
    /// shard: its replica addresses, comma-separated) merging with `merge`
    /// (`builtin:concat` or a merge's URI), plus `flags`; returns once it
    /// serves.
    pub async fn start(shards: &[String], merge: &str, flags: &[&str]) -> Self {
        let Self { server } = Self::start_listening(shards, merge, flags).await;
        let addr = server.addr();
        Self {
            server: Server::adopt(server.process, addr).await,
        }
    }

    /// Like [`Root::start`], but returns once the root listens, serving or
    /// not: a root whose merge or every leaf is down is not ready.
    pub async fn start_listening(shards: &[String], merge: &str, flags: &[&str]) -> Self {
        let mut args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--merge", merge]
            .map(str::to_owned)
            .to_vec();
        for shard in shards {
            args.extend(["--shard".to_owned(), shard.clone()]);
        }
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let mut process = ChildProcess::spawn("root", &binary("scatter"), &args);
        let line = process.stdout_line(READY, START_TIMEOUT).await;
        let addr = line
            .rsplit("://")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in the root's line {line:?}"));
        Self {
            server: Server::adopt_listening(process, addr),
        }
    }

    /// The `details` of the root's `/status` (served in plaintext).
    ///
    /// # Panics
    /// When `/status` does not answer 200 with JSON.
    pub async fn status(&self) -> serde_json::Value {
        let (code, body) = crate::admin::get(self.server.addr(), "/status")
            .await
            .expect("/status answers");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["details"].clone()
    }

    /// A client of the root's `Root` service.
    pub async fn client(&self) -> RootClient<Channel> {
        RootClient::new(self.server.channel().await)
    }

    /// Sends `query` on a new connection.
    pub async fn query(&self, query: Query) -> Result<QueryResponse, Status> {
        self.client()
            .await
            .query(query.request())
            .await
            .map(tonic::Response::into_inner)
    }

    /// Calls `QueryStream` with `query` on a new connection: the updates as
    /// they come, to read one by one or to drop early.
    pub async fn query_stream(&self, query: Query) -> Result<Streaming<QueryUpdate>, Status> {
        self.client()
            .await
            .query_stream(query.request())
            .await
            .map(tonic::Response::into_inner)
    }

    /// Calls `QueryStream` with `query` and reads it to its end.
    pub async fn query_stream_to_end(&self, query: Query) -> StreamEnd {
        match self.query_stream(query).await {
            Ok(updates) => StreamEnd::read(updates).await,
            Err(status) => StreamEnd {
                updates: Vec::new(),
                end: Err(status),
            },
        }
    }
}

/// A `QueryStream` call read to its end.
#[derive(Debug)]
pub struct StreamEnd {
    /// Every update received, in order.
    pub updates: Vec<QueryUpdate>,
    /// `Ok` when the root closed the stream, or the status it ended with.
    pub end: Result<(), Status>,
}

impl StreamEnd {
    /// Reads `updates` until the root closes the stream or fails it.
    pub async fn read(mut updates: Streaming<QueryUpdate>) -> Self {
        let mut received = Vec::new();
        let end = loop {
            match updates.message().await {
                Ok(Some(update)) => received.push(update),
                Ok(None) => break Ok(()),
                Err(status) => break Err(status),
            }
        };
        Self {
            updates: received,
            end,
        }
    }
}

/// One request to a root: payload, policy and deadline.
#[derive(Clone, Debug, Default)]
pub struct Query {
    payload: Option<Payload>,
    policy: Policy,
    deadline: Option<Duration>,
}

impl Query {
    /// A query carrying `payload`, with the root's default deadline and policy.
    pub fn new(payload: Payload) -> Self {
        Self {
            payload: Some(payload),
            ..Self::default()
        }
    }

    /// A query carrying `script` for the test leaves and merge.
    pub fn script(script: &Script) -> Self {
        Self::new(script.payload())
    }

    /// A malformed query: no payload at all.
    pub fn without_payload() -> Self {
        Self::default()
    }

    /// Sends `deadline` as the request's `grpc-timeout`.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The deadline it is sent with, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.deadline
    }

    /// Fails the request unless every shard answers.
    #[must_use]
    pub fn require_all_shards(mut self) -> Self {
        self.policy.require_all_shards = true;
        self
    }

    /// Fails the request unless this fraction of shards answers.
    #[must_use]
    pub fn min_coverage(mut self, fraction: f64) -> Self {
        self.policy.min_coverage = fraction;
        self
    }

    /// Sends the request with `priority` (shed order under overload).
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Self {
        self.policy.priority = priority as i32;
        self
    }

    /// Names the payload's kind for the root's canary memory (`Policy.fingerprint`).
    #[must_use]
    pub fn fingerprint(mut self, name: &str) -> Self {
        self.policy.fingerprint = name.to_owned();
        self
    }

    /// Sends the request with `canary` (one shard first, or not).
    #[must_use]
    pub fn canary(mut self, canary: Canary) -> Self {
        self.policy.canary = canary as i32;
        self
    }

    /// The gRPC request.
    pub fn request(&self) -> tonic::Request<QueryRequest> {
        let mut request = tonic::Request::new(QueryRequest {
            payload: self.payload.clone(),
            policy: Some(self.policy.clone()),
        });
        if let Some(deadline) = self.deadline {
            request.set_timeout(deadline);
        }
        request
    }
}

/// The progress `update` reports, when it is a progress update.
pub fn progress(update: &QueryUpdate) -> Option<&QueryProgress> {
    match &update.kind {
        Some(Kind::Progress(progress)) => Some(progress),
        _ => None,
    }
}

/// The final answer `update` carries, when it is the `done` update.
pub fn done(update: &QueryUpdate) -> Option<&QueryResponse> {
    match &update.kind {
        Some(Kind::Done(response)) => Some(response),
        _ => None,
    }
}

/// The coverage of `response`.
///
/// # Panics
/// When the root sent none.
pub fn coverage(response: &QueryResponse) -> &Coverage {
    response
        .coverage
        .as_ref()
        .expect("every root response carries coverage")
}

/// Asserts that all `total` shards answered.
///
/// # Panics
/// When they did not, showing the coverage.
pub fn assert_full_coverage(response: &QueryResponse, total: u32) {
    let c = coverage(response);
    assert!(
        c.total == total && c.answered == total && c.missing.is_empty(),
        "wanted {total}/{total} shards answered, got {c:?}"
    );
}

/// The report of `shard`, which did not answer.
///
/// # Panics
/// When the shard is not reported missing.
pub fn missing(coverage: &Coverage, shard: u32) -> &MissingShard {
    coverage
        .missing
        .iter()
        .find(|m| m.shard == shard)
        .unwrap_or_else(|| panic!("shard {shard} is not reported missing in {coverage:?}"))
}

/// How a missing shard ended.
pub fn outcome(missing: &MissingShard) -> ShardOutcome {
    ShardOutcome::try_from(missing.outcome).unwrap_or(ShardOutcome::Unspecified)
}
