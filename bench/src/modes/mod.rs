//! The systems under test. Each mode turns a harness request id into one
//! complete request — a single leaf call, a fan-out over every shard, or a
//! query to a root process (Scatter's or a hand-written one) or to
//! Scatter's fan-out embedded in the client — and reports whether it
//! succeeded and, for a streaming mode, when its answer grew; the harness
//! times it.
//!
//! All client work of every mode runs on the harness's client runtime (its
//! threads are named `bench-client`), so the CPU of an in-harness fan-out
//! can be measured apart from the load generator.

mod direct;
mod failure;
mod plain_fanout;
mod scatter;
mod scatter_embedded;
mod scatter_stream;
mod tower_hedge;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::{LeafRequest, Payload};
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

pub use direct::Direct;
pub use failure::Failure;
pub use plain_fanout::{PlainFanout, concat_all};
pub use scatter::ScatterQuery;
pub use scatter_embedded::ScatterEmbedded;
pub use scatter_stream::ScatterStream;
pub use tower_hedge::TowerHedge;

use crate::priority::PriorityMix;
use crate::query_of_death::{self, DeadlyMix};
use crate::wire;

/// A way of answering a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// One leaf (shard 0, replica 0) called directly: the RPC floor.
    Direct,
    /// A hand-written tonic fan-out: every shard at once, replica by
    /// round-robin, join all, concatenate; no hedging, no retries.
    PlainFanout,
    /// The same fan-out in a hand-written tonic root process of its own,
    /// queried like Scatter's root: Scatter-as-a-service's like-for-like baseline.
    PlainRoot,
    /// The same fan-out with tower's `hedge` middleware on each shard.
    TowerHedge,
    /// The Scatter root with its built-in merge, hedging off.
    Scatter,
    /// Scatter's fan-out as a library in the client (`scatter_root::Fanout`),
    /// configured as `Scatter`'s root: no root hop.
    ScatterEmbedded,
    /// The Scatter root with hedging on.
    ScatterHedge,
    /// `ScatterHedge`'s root with leaf hints on: a leaf that knows a call
    /// will be slow says so, and the root hedges at once.
    ScatterHints,
    /// `ScatterHints`' root with tied requests: every shard's call goes to
    /// a second replica after a short delay, and the copy that starts work
    /// second is dropped.
    ScatterTied,
    /// `ScatterHedge`'s root with canaries: a payload it has not seen goes
    /// to one shard first, and one that kills its canary is refused.
    ScatterCanary,
    /// `ScatterHedge`'s root queried with `QueryStream`: progressive
    /// coverage, timed at half the shards, all but one, and the full answer.
    ScatterStream,
    /// The Scatter root streaming partials to a merge process, hedging off.
    ScatterMerge,
}

impl Mode {
    /// The mode's name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::PlainFanout => "plain-fanout",
            Self::PlainRoot => "plain-root",
            Self::TowerHedge => "tower-hedge",
            Self::Scatter => "scatter",
            Self::ScatterEmbedded => "scatter-embedded",
            Self::ScatterHedge => "scatter-hedge",
            Self::ScatterHints => "scatter-hints",
            Self::ScatterTied => "scatter-tied",
            Self::ScatterCanary => "scatter-canary",
            Self::ScatterStream => "scatter-stream",
            Self::ScatterMerge => "scatter-merge",
        }
    }

    /// Whether the fan-out runs in a root process of its own (else in the
    /// harness's client threads).
    pub fn is_root(self) -> bool {
        matches!(
            self,
            Self::PlainRoot
                | Self::Scatter
                | Self::ScatterHedge
                | Self::ScatterHints
                | Self::ScatterTied
                | Self::ScatterCanary
                | Self::ScatterStream
                | Self::ScatterMerge
        )
    }

    /// Whether the client reads a progressive answer, whose [`Milestones`]
    /// the report shows.
    pub fn streams(self) -> bool {
        self == Self::ScatterStream
    }

    /// Whether the root process is Scatter's, with `/metrics` to read.
    pub fn is_scatter_root(self) -> bool {
        self.is_root() && self != Self::PlainRoot
    }

    /// The hand-written mode that does the same job in the same place: a
    /// root process for the Scatter root modes, the harness's client for
    /// Scatter as a library. Reports divide by it like for like.
    pub fn counterpart(self) -> Option<Self> {
        match self {
            Self::Scatter
            | Self::ScatterHedge
            | Self::ScatterHints
            | Self::ScatterTied
            | Self::ScatterCanary
            | Self::ScatterStream
            | Self::ScatterMerge => Some(Self::PlainRoot),
            Self::ScatterEmbedded => Some(Self::PlainFanout),
            _ => None,
        }
    }
}

/// When a streaming request's answer grew, on the client's clock: the
/// first update (progress or final) that covered each share of the shards
/// (empty for a unary mode, whose one response is its answer); and the
/// leaf work the answer used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Milestones {
    /// At least half the shards answered.
    pub half: Option<Instant>,
    /// Every shard but one answered (N−1 of N).
    pub all_but_one: Option<Instant>,
    /// The final answer arrived (before the stream's trailers, which end
    /// the call a moment later).
    pub full: Option<Instant>,
    /// The leaf busy time the partials of the answer report: the leaf work
    /// it used (see [`crate::work`]).
    pub leaf_busy: Duration,
}

/// One request's outcome: `Err` says whether it was shed, and why.
pub type CallFuture = BoxFuture<'static, Result<Milestones, Failure>>;

/// A system under test, ready for requests.
pub trait Target: Send + Sync + 'static {
    /// Starts request `request` (the id the leaves draw from).
    fn call(&self, request: u64) -> CallFuture;
}

/// What every request carries, the same in every mode.
#[derive(Clone, Copy, Debug)]
pub struct CallSettings {
    /// Request payload size in bytes.
    pub request_bytes: usize,
    /// The client's deadline, sent as `grpc-timeout`.
    pub timeout: Duration,
    /// `Policy.priority` of each request, by id (queries to a root only);
    /// `None` leaves it unset.
    pub priorities: Option<PriorityMix>,
    /// Which requests carry the deadly marker; `None`: none.
    pub deadly: Option<DeadlyMix>,
    /// Queries to a root say their fingerprint (`Policy.fingerprint`).
    pub fingerprints: bool,
}

impl CallSettings {
    /// The payload of request `request`.
    pub fn payload(&self, request: u64) -> Payload {
        let body = if self.is_deadly(request) {
            wire::deadly_request_body(request, self.request_bytes)
        } else {
            wire::request_body(request, self.request_bytes)
        };
        Payload::new(wire::REQUEST_CONTENT_TYPE, body)
    }

    /// Whether request `request` is deadly.
    pub fn is_deadly(&self, request: u64) -> bool {
        self.deadly.is_some_and(|mix| mix.is_deadly(request))
    }

    /// The fingerprint request `request` says, when queries say one.
    pub fn fingerprint(&self, request: u64) -> Option<String> {
        self.fingerprints
            .then(|| query_of_death::fingerprint(request, self.is_deadly(request)))
    }
}

/// Largest message a bench client accepts (1 MiB partials × 64 shards fit).
pub const MAX_MESSAGE: usize = 256 << 20;

/// A kept-open channel to `addr`, connected now (as the root connects its leaves).
pub async fn channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

/// Leaf clients by shard, then replica.
pub async fn leaf_clients(
    leaves: &[Vec<SocketAddr>],
) -> anyhow::Result<Vec<Vec<LeafClient<Channel>>>> {
    let mut shards = Vec::with_capacity(leaves.len());
    for replicas in leaves {
        let mut clients = Vec::with_capacity(replicas.len());
        for addr in replicas {
            clients.push(
                LeafClient::new(channel(*addr).await?).max_decoding_message_size(MAX_MESSAGE),
            );
        }
        shards.push(clients);
    }
    Ok(shards)
}

/// One leaf call's gRPC request with the client's deadline.
pub fn leaf_request(call: LeafRequest, timeout: Duration) -> tonic::Request<LeafRequest> {
    let mut request = tonic::Request::new(call);
    request.set_timeout(timeout);
    request
}

/// A status as a shed or an error, with a short description.
pub fn describe(status: &tonic::Status) -> Failure {
    Failure::from_status(status)
}
