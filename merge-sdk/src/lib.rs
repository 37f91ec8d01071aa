//! Write a Scatter merge as a fold.
//!
//! A merge receives the partial answers of one request one at a time, as the
//! shards answer, and folds them into one result. [`Merge::begin`] starts a
//! [`Fold`] from the request; [`Fold::accept`] takes each partial tagged with
//! its shard; [`Fold::finish`] returns the result. Shards that never answer
//! send nothing, so a fold must never wait for "all shards".
//!
//! The same trait serves two ways:
//! - as a process or container: [`serve`] wraps it in the `scatter.v1.Merge`
//!   gRPC service with health, `/metrics` and a graceful drain;
//! - in process: the root links it directly ([`DynMerge`]), and ships
//!   [`Concat`] as a built-in for users who run no merge of their own.
//!
//! ```no_run
//! use scatter_merge::{Fold, Merge, MergeBegin, MergeOptions, Payload, Status};
//!
//! /// Sums the 8-byte little-endian counts of every shard.
//! struct Sum;
//! struct Total(u64);
//!
//! impl Merge for Sum {
//!     type Fold = Total;
//!     fn begin(&self, _: &MergeBegin) -> Result<Total, Status> {
//!         Ok(Total(0))
//!     }
//! }
//!
//! impl Fold for Total {
//!     fn accept(&mut self, _shard: u32, partial: Payload) -> Result<(), Status> {
//!         let bytes: [u8; 8] = partial.body.as_ref().try_into()
//!             .map_err(|_| Status::invalid_argument("a partial is not 8 bytes"))?;
//!         self.0 += u64::from_le_bytes(bytes);
//!         Ok(())
//!     }
//!     fn finish(self) -> Result<Payload, Status> {
//!         Ok(Payload::new("application/octet-stream", self.0.to_le_bytes().to_vec()))
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), scatter_merge::Error> {
//!     scatter_merge::serve(Sum, MergeOptions::from_env()?).await
//! }
//! ```

mod builtin;
mod dynamic;
mod options;
mod service;

pub use builtin::{CONCAT_CONTENT_TYPE, Concat};
pub use dynamic::{DynFold, DynMerge};
pub use options::MergeOptions;
pub use scatter_management::{Error, Flag, Flags, Process, ServeOptions, init_logging};
pub use scatter_proto::v1::{MergeBegin, Payload};
pub use service::{MergeService, serve, serve_on};
pub use tonic::{Code, Status};

/// A merge: starts one [`Fold`] per request.
pub trait Merge: Send + Sync + 'static {
    /// The state of one request's merge.
    type Fold: Fold;

    /// Starts merging one request. An error fails the request with your
    /// status (e.g. `invalid_argument` for a request you cannot read).
    fn begin(&self, begin: &MergeBegin) -> Result<Self::Fold, Status>;
}

/// The merge of one request, fed partials as they arrive.
pub trait Fold: Send + 'static {
    /// Takes one shard's partial. An error ends the merge with that status.
    fn accept(&mut self, shard: u32, partial: Payload) -> Result<(), Status>;

    /// Returns the merged result once no more partials will come.
    fn finish(self) -> Result<Payload, Status>;

    /// The result of the partials accepted so far, for clients that watch a
    /// request progress (`Root.QueryStream`). Called after each partial when
    /// a client streams; `None` (the default) sends coverage without a
    /// snapshot. Keep it cheap, or return `None`.
    fn snapshot(&self) -> Option<Payload> {
        None
    }
}
