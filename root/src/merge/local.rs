//! A merge linked into the root: the fold runs in the request's own task.

use scatter_merge::{DynFold, DynMerge};
use scatter_proto::v1::{MergeBegin, Payload};
use tonic::Status;

use crate::RootError;

/// One request's in-process fold.
pub struct LocalSession {
    fold: Box<dyn DynFold>,
}

impl LocalSession {
    pub(super) fn open(merge: &dyn DynMerge, begin: &MergeBegin) -> Result<Self, RootError> {
        Ok(Self {
            fold: merge.begin_dyn(begin).map_err(|s| failed(&s))?,
        })
    }

    pub(super) fn send(&mut self, shard: u32, partial: Payload) -> Result<(), RootError> {
        self.fold.accept_dyn(shard, partial).map_err(|s| failed(&s))
    }

    pub(super) fn finish(self) -> Result<Payload, RootError> {
        self.fold.finish_dyn().map_err(|s| failed(&s))
    }
}

fn failed(status: &Status) -> RootError {
    let (code, message) = (status.code(), status.message().to_owned());
    RootError::MergeFailed { code, message }
}
