//! The merge side of a request: a stream of partials into the merge, opened
//! before the first leaf call and fed each partial the moment it arrives.
//!
//! The merge is either a separate process (the user's container, reached
//! over gRPC) or linked into the root (a built-in such as `concat`, or the
//! user's own [`scatter_merge::Merge`]), folding on a task of its own.
//! [`MergeReserve`] keeps back the time `finish` needs.

mod local;
mod progressive;
mod reachability;
mod remote;
mod reserve;

use std::sync::Arc;

use scatter_merge::DynMerge;
use scatter_proto::v1::{MergeBegin, Payload};
use tokio::time::Instant;

use crate::config::BUILTIN_CONCAT;
use crate::error::{QueryError, StartError};
use crate::fanout::RequestId;
use crate::topology::Connector;
use local::LocalSession;
use progressive::ProgressiveSession;
pub use reachability::Reachability;
pub use remote::RemoteMerge;
use remote::RemoteSession;
pub use reserve::MergeReserve;

/// Where one root merges.
#[derive(Clone)]
pub enum MergeTarget {
    /// The built-in concat (`builtin:concat`), folded inline.
    Concat,
    /// Linked into the root, folding on a task of its own per request.
    Local(Arc<dyn DynMerge>),
    /// A merge process reached over gRPC.
    Remote(RemoteMerge),
}

impl MergeTarget {
    /// The target named in configuration: `builtin:concat`, or an address.
    pub async fn from_config(name: &str, connector: &Connector) -> Result<Self, StartError> {
        if name == BUILTIN_CONCAT {
            return Ok(Self::Concat);
        }
        if let Some(other) = name.strip_prefix("builtin:") {
            return Err(StartError::Config(format!(
                "unknown built-in merge {other:?}; the built-in is {BUILTIN_CONCAT:?}"
            )));
        }
        Ok(Self::Remote(RemoteMerge::connect(name, connector).await?))
    }

    /// Starts merging one request; the merge has until `deadline` to
    /// answer. With `snapshots`, the merge reports the result so far after
    /// each partial (a merge process through `MergeProgressive`, when it
    /// has it).
    pub fn open(
        &self,
        begin: MergeBegin,
        request_id: &RequestId,
        deadline: Instant,
        snapshots: bool,
    ) -> Result<MergeSession, QueryError> {
        Ok(match self {
            Self::Concat => MergeSession::Local(LocalSession::open(
                &scatter_merge::Concat,
                &begin,
                deadline,
                snapshots,
                true,
            )?),
            Self::Local(merge) => MergeSession::Local(LocalSession::open(
                merge.as_ref(),
                &begin,
                deadline,
                snapshots,
                false,
            )?),
            Self::Remote(merge) if snapshots => MergeSession::Progressive(Box::new(
                ProgressiveSession::open(merge, begin, request_id, deadline),
            )),
            Self::Remote(merge) => MergeSession::Remote(merge.open(begin, request_id, deadline)),
        })
    }

    /// Notes whether a request reached the merge: a merge process found
    /// down (UNAVAILABLE), or answering again, is logged once per change.
    pub fn observe<T>(&self, result: &Result<T, QueryError>) {
        let Self::Remote(merge) = self else { return };
        match result {
            Ok(_) => {
                merge.reachability().reached();
            }
            Err(QueryError::MergeUnavailable { message, .. }) => {
                merge.reachability().unreachable(message);
            }
            Err(_) => {}
        }
    }

    /// The remote merge's address, for `/status`.
    pub fn describe(&self) -> String {
        match self {
            Self::Concat => BUILTIN_CONCAT.into(),
            Self::Local(_) => "in-process".into(),
            Self::Remote(merge) => merge.addr().to_owned(),
        }
    }
}

/// One request's merge in progress.
pub enum MergeSession {
    /// Folding in the root.
    Local(LocalSession),
    /// Streaming to a merge process.
    Remote(RemoteSession),
    /// Streaming to a merge process that answers with snapshots (boxed: it
    /// is large, and only streaming clients use it).
    Progressive(Box<ProgressiveSession>),
}

impl MergeSession {
    /// Hands one shard's partial to the merge; never waits.
    pub fn send(&mut self, shard: u32, partial: Payload) {
        match self {
            Self::Local(s) => s.send(shard, partial),
            Self::Remote(s) => s.send(shard, partial),
            Self::Progressive(s) => s.send(shard, partial),
        }
    }

    /// Whether a snapshot (or word that there is none) follows each partial
    /// sent: the session was opened with `snapshots`.
    pub fn gives_snapshots(&self, asked: bool) -> bool {
        asked && !matches!(self, Self::Remote(_))
    }

    /// The next snapshot (the result so far, or `None` when the fold gives
    /// none), one per partial when asked for; or the merge's error when it
    /// ended before `finish`. Otherwise never resolves. Cancel-safe.
    pub async fn next_snapshot(&mut self) -> Result<Option<Payload>, QueryError> {
        match self {
            Self::Local(s) => s.next_snapshot().await,
            Self::Remote(s) => Err(s.ended_early().await),
            Self::Progressive(s) => s.next_snapshot().await,
        }
    }

    /// No more partials: returns the merged result.
    pub async fn finish(self) -> Result<Payload, QueryError> {
        match self {
            Self::Local(s) => s.finish().await,
            Self::Remote(s) => s.finish().await,
            Self::Progressive(s) => s.finish().await,
        }
    }
}
