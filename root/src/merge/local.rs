//! A merge linked into the root: each request's fold runs on a task of its
//! own, fed partials through a channel, so a slow fold never holds up the
//! gather (its hedge timers, its deadline). A fold that is CPU-heavy still
//! takes a runtime worker while it runs: keep `accept` short, or run the
//! merge as a process.

use scatter_merge::{DynFold, DynMerge};
use scatter_proto::v1::{MergeBegin, Payload};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tonic::Status;

use crate::error::QueryError;

/// One request's in-process fold.
pub struct LocalSession {
    partials: Option<mpsc::UnboundedSender<(u32, Payload)>>,
    events: mpsc::UnboundedReceiver<FoldEvent>,
    result: oneshot::Receiver<Result<Payload, Status>>,
    opened: Instant,
    deadline: Instant,
}

/// What the fold task says while it runs.
enum FoldEvent {
    /// The result so far, after one more partial (when asked for).
    Snapshot(Option<Payload>),
    /// `accept` failed: the merge is over.
    Failed(Status),
}

impl LocalSession {
    pub(super) fn open(
        merge: &dyn DynMerge,
        begin: &MergeBegin,
        deadline: Instant,
        snapshots: bool,
    ) -> Result<Self, QueryError> {
        let fold = merge.begin_dyn(begin).map_err(|s| failed(&s))?;
        let (partials, inbox) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (result_tx, result) = oneshot::channel();
        tokio::spawn(run(fold, inbox, events_tx, result_tx, snapshots));
        Ok(Self {
            partials: Some(partials),
            events,
            result,
            opened: Instant::now(),
            deadline,
        })
    }

    pub(super) fn send(&mut self, shard: u32, partial: Payload) {
        if let Some(partials) = &self.partials {
            // A closed channel means the fold failed; `next_snapshot` says why.
            let _ = partials.send((shard, partial));
        }
    }

    pub(super) async fn next_snapshot(&mut self) -> Result<Option<Payload>, QueryError> {
        match self.events.recv().await {
            Some(FoldEvent::Snapshot(snapshot)) => Ok(snapshot),
            Some(FoldEvent::Failed(status)) => Err(failed(&status)),
            // The fold task ended without failing: it waits for `finish`.
            None => std::future::pending().await,
        }
    }

    pub(super) async fn finish(mut self) -> Result<Payload, QueryError> {
        drop(self.partials.take()); // no more partials: the fold finishes
        match tokio::time::timeout_at(self.deadline, &mut self.result).await {
            Ok(Ok(result)) => result.map_err(|s| failed(&s)),
            Ok(Err(_)) => Err(QueryError::MergeFailed {
                code: tonic::Code::Internal,
                message: "the in-process merge panicked".into(),
            }),
            Err(_) => Err(QueryError::MergeDeadline {
                waited_ms: self.opened.elapsed().as_millis(),
            }),
        }
    }
}

/// The fold task: accepts partials until the channel closes, then finishes.
async fn run(
    mut fold: Box<dyn DynFold>,
    mut inbox: mpsc::UnboundedReceiver<(u32, Payload)>,
    events: mpsc::UnboundedSender<FoldEvent>,
    result: oneshot::Sender<Result<Payload, Status>>,
    snapshots: bool,
) {
    while let Some((shard, partial)) = inbox.recv().await {
        if let Err(status) = fold.accept_dyn(shard, partial) {
            let _ = events.send(FoldEvent::Failed(status.clone()));
            let _ = result.send(Err(status));
            return;
        }
        if snapshots {
            let _ = events.send(FoldEvent::Snapshot(fold.snapshot_dyn()));
        }
    }
    let _ = result.send(fold.finish_dyn());
}

fn failed(status: &Status) -> QueryError {
    let (code, message) = (status.code(), status.message().to_owned());
    QueryError::MergeFailed { code, message }
}
