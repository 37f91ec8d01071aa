//! The merge side of a request: a stream of partials into the merge, opened
//! before the first leaf call and fed each partial the moment it arrives.
//!
//! The merge is either a separate process (the user's container, reached
//! over gRPC) or linked into the root (a built-in such as `concat`, or the
//! user's own [`scatter_merge::Merge`]), folding on a task of its own.
//! [`MergeReserve`] keeps back the time `finish` needs.

mod local;
mod remote;
mod reserve;

use std::sync::Arc;

use scatter_merge::DynMerge;
use scatter_proto::v1::{MergeBegin, Payload};
use tokio::time::Instant;

use crate::config::BUILTIN_CONCAT;
use crate::error::{QueryError, StartError};
use crate::topology::Connector;
use local::LocalSession;
pub use remote::RemoteMerge;
use remote::RemoteSession;
pub use reserve::MergeReserve;

/// Where one root merges.
#[derive(Clone)]
pub enum MergeTarget {
    /// Linked into the root.
    Local(Arc<dyn DynMerge>),
    /// A merge process reached over gRPC.
    Remote(RemoteMerge),
}

impl MergeTarget {
    /// The target named in configuration: `builtin:concat`, or an address.
    pub async fn from_config(name: &str, connector: &Connector) -> Result<Self, StartError> {
        if name == BUILTIN_CONCAT {
            return Ok(Self::Local(Arc::new(scatter_merge::Concat)));
        }
        if let Some(other) = name.strip_prefix("builtin:") {
            return Err(StartError::Config(format!(
                "unknown built-in merge {other:?}; the built-in is {BUILTIN_CONCAT:?}"
            )));
        }
        Ok(Self::Remote(RemoteMerge::connect(name, connector).await?))
    }

    /// Starts merging one request; the merge has until `deadline` to
    /// answer. With `snapshots`, a merge that can (one linked in) reports
    /// the result so far after each partial.
    pub fn open(
        &self,
        begin: MergeBegin,
        deadline: Instant,
        snapshots: bool,
    ) -> Result<MergeSession, QueryError> {
        Ok(match self {
            Self::Local(merge) => MergeSession::Local(LocalSession::open(
                merge.as_ref(),
                &begin,
                deadline,
                snapshots,
            )?),
            Self::Remote(merge) => MergeSession::Remote(merge.open(begin, deadline)),
        })
    }

    /// The remote merge's address, for `/status`.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(_) => "in-process".into(),
            Self::Remote(merge) => merge.addr().to_owned(),
        }
    }
}

/// One request's merge in progress.
pub enum MergeSession {
    /// Folding in the root, on a task of its own.
    Local(LocalSession),
    /// Streaming to a merge process.
    Remote(RemoteSession),
}

impl MergeSession {
    /// Hands one shard's partial to the merge; never waits.
    pub fn send(&mut self, shard: u32, partial: Payload) {
        match self {
            Self::Local(s) => s.send(shard, partial),
            Self::Remote(s) => s.send(shard, partial),
        }
    }

    /// Whether a snapshot follows each partial sent (the session was opened
    /// with `snapshots` and the merge is linked in).
    pub fn gives_snapshots(&self, asked: bool) -> bool {
        asked && matches!(self, Self::Local(_))
    }

    /// The next snapshot (the result so far, or `None` when the fold gives
    /// none), one per partial when asked for; or the merge's error when it
    /// ended before `finish`. Otherwise never resolves. Cancel-safe.
    pub async fn next_snapshot(&mut self) -> Result<Option<Payload>, QueryError> {
        match self {
            Self::Local(s) => s.next_snapshot().await,
            Self::Remote(s) => Err(s.ended_early().await),
        }
    }

    /// No more partials: returns the merged result.
    pub async fn finish(self) -> Result<Payload, QueryError> {
        match self {
            Self::Local(s) => s.finish().await,
            Self::Remote(s) => s.finish().await,
        }
    }
}
