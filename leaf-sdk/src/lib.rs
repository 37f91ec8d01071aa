//! Write a Scatter leaf in about twenty lines.
//!
//! A leaf answers for one shard. Implement [`Leaf`] — one async method that
//! turns a [`ShardRequest`] into a partial [`Payload`] — and call [`serve`].
//! The SDK supplies the rest: the `scatter.v1.Leaf` gRPC service, gRPC health
//! and the HTTP `/healthz` `/readyz` `/metrics` `/status` endpoints on the same
//! port, and a graceful drain on SIGTERM or ctrl-c. When the root cancels a
//! call (another replica won, the deadline passed, the client left) the
//! future your method returned is dropped, so its work stops there. Every
//! answer tells the root the leaf's load; a root that listens
//! (`scatter serve --hints on`) also hears [`Hints::slow`] — say early that a
//! call will be slow, and the root hedges it at once — and, for tied calls,
//! when each call's work starts.
//!
//! ```no_run
//! use scatter_leaf::{Leaf, LeafOptions, Payload, ShardRequest, Status};
//!
//! struct Echo {
//!     shard: u32,
//! }
//!
//! impl Leaf for Echo {
//!     async fn answer(&self, request: ShardRequest) -> Result<Payload, Status> {
//!         let text = format!("shard {} saw {} bytes", self.shard, request.payload.body.len());
//!         Ok(Payload::new("text/plain", text))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), scatter_leaf::Error> {
//!     let options = LeafOptions::from_env()?;
//!     scatter_leaf::serve(Echo { shard: options.shard }, options).await
//! }
//! ```
//!
//! Flags (each also read from its environment variable):
//! `--listen` / `SCATTER_LISTEN` (default `127.0.0.1:50051`),
//! `--shard` / `SCATTER_SHARD` (a number, or `ordinal` to take it from the
//! trailing number of the host name, as in a Kubernetes StatefulSet),
//! `--shard-count` / `SCATTER_SHARD_COUNT`, `--grace-ms` / `SCATTER_GRACE_MS`,
//! `--drain-delay-ms` / `SCATTER_DRAIN_DELAY_MS`, `--max-in-flight` /
//! `SCATTER_MAX_IN_FLIGHT` (default 0, no cap: past N calls running, a call
//! is refused at once with `RESOURCE_EXHAUSTED` before your method runs,
//! counted as `scatter_leaf_calls_total{outcome="refused"}`), `--max-concurrency` /
//! `SCATTER_MAX_CONCURRENCY` (default 0, no limit: past N calls being worked on,
//! a call waits its turn in arrival order, reported to the root as queued). `--help` lists
//! them; a flag the leaf does not know is refused at start, naming it. A leaf
//! with flags of its own declares them beside the SDK's:
//! `Flags::from_env(&[LeafOptions::FLAGS, MY_FLAGS])`, then
//! [`LeafOptions::from_flags`] (see `examples/search/src/bin/search-leaf.rs`).

mod hints;
mod options;
mod queue;
mod request;
mod service;

use std::future::Future;

pub use bytes::Bytes;
pub use hints::Hints;
pub use options::LeafOptions;
pub use request::ShardRequest;
pub use scatter_management::{Error, Flag, Flags, Process, ServeOptions, init_logging};
pub use scatter_proto::v1::Payload;
pub use service::{LeafService, serve, serve_on};
pub use tonic::{Code, Status};

/// The logic of a leaf: the partial answer of its shard for one request.
///
/// Return `Err(Status)` to fail the shard: `Status::invalid_argument` for a
/// request the leaf cannot read (the root does not retry it),
/// `Status::unavailable` when this replica cannot serve now (the root may
/// retry another replica).
pub trait Leaf: Send + Sync + 'static {
    /// Computes this shard's partial answer.
    fn answer(&self, request: ShardRequest)
    -> impl Future<Output = Result<Payload, Status>> + Send;
}
