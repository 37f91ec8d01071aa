//! The merge side of a request: a stream of partials into the merge, opened
//! before the first leaf call and fed each partial the moment it arrives.
//!
//! The merge is either a separate process (the user's container, reached
//! over gRPC) or linked into the root (a built-in such as `concat`, or the
//! user's own [`scatter_merge::Merge`]).

mod local;
mod remote;

use std::sync::Arc;

use scatter_merge::DynMerge;
use scatter_proto::v1::{MergeBegin, Payload};
use tokio::time::Instant;

use crate::RootError;
use crate::config::{BUILTIN_CONCAT, ConnectConfig};
use local::LocalSession;
use remote::{RemoteMerge, RemoteSession};

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
    pub async fn from_config(name: &str, connect: &ConnectConfig) -> Result<Self, RootError> {
        if name == BUILTIN_CONCAT {
            return Ok(Self::Local(Arc::new(scatter_merge::Concat)));
        }
        if let Some(other) = name.strip_prefix("builtin:") {
            return Err(RootError::Config(format!(
                "unknown built-in merge {other:?}; the built-in is {BUILTIN_CONCAT:?}"
            )));
        }
        Ok(Self::Remote(RemoteMerge::connect(name, connect).await?))
    }

    /// Starts merging one request; the merge has until `deadline` to answer.
    pub fn open(&self, begin: MergeBegin, deadline: Instant) -> Result<MergeSession, RootError> {
        Ok(match self {
            Self::Local(merge) => MergeSession::Local(LocalSession::open(merge.as_ref(), &begin)?),
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
    /// Folding in the root.
    Local(LocalSession),
    /// Streaming to a merge process.
    Remote(RemoteSession),
}

impl MergeSession {
    /// Hands one shard's partial to the merge.
    pub fn send(&mut self, shard: u32, partial: Payload) -> Result<(), RootError> {
        match self {
            Self::Local(s) => s.send(shard, partial),
            Self::Remote(s) => {
                s.send(shard, partial);
                Ok(())
            }
        }
    }

    /// Resolves only if the merge ends on its own before it is finished
    /// (typically: it failed, or is down); never for an in-process merge.
    pub async fn ended_early(&mut self) -> Result<Payload, RootError> {
        match self {
            Self::Local(_) => std::future::pending().await,
            Self::Remote(s) => s.ended_early().await,
        }
    }

    /// No more partials: returns the merged result.
    pub async fn finish(self) -> Result<Payload, RootError> {
        match self {
            Self::Local(s) => s.finish(),
            Self::Remote(s) => s.finish().await,
        }
    }
}
