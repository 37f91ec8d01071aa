//! A merge linked into the root. A user's fold runs on a thread of the
//! blocking pool, fed partials through a channel, so a slow or blocking
//! fold never holds up the gather (its hedge timers, its deadline) nor any
//! other request: it takes no runtime worker. The built-in concat, whose
//! `accept` is a push onto a vector, folds inline: a thread hand-off per
//! partial would cost more than the fold.

use std::collections::VecDeque;

use scatter_merge::{DynFold, DynMerge};
use scatter_proto::v1::{MergeBegin, Payload};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tonic::Status;

use crate::error::QueryError;

/// One request's in-process fold.
pub struct LocalSession {
    fold: Folding,
    opened: Instant,
    deadline: Instant,
}

/// Where the fold runs.
enum Folding {
    /// In the request's own task, for the built-in merge only.
    Inline {
        fold: Option<Box<dyn DynFold>>,
        snapshots: bool,
        /// What `next_snapshot` has yet to hand out.
        events: VecDeque<FoldEvent>,
    },
    /// On a thread of the blocking pool.
    Task {
        partials: Option<mpsc::UnboundedSender<(u32, Payload)>>,
        events: mpsc::UnboundedReceiver<FoldEvent>,
        result: oneshot::Receiver<Result<Payload, Status>>,
    },
}

/// What the fold says while it runs.
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
        inline: bool,
    ) -> Result<Self, QueryError> {
        let fold = merge.begin_dyn(begin).map_err(|s| failed(&s))?;
        let fold = if inline {
            Folding::Inline {
                fold: Some(fold),
                snapshots,
                events: VecDeque::new(),
            }
        } else {
            let (partials, inbox) = mpsc::unbounded_channel();
            let (events_tx, events) = mpsc::unbounded_channel();
            let (result_tx, result) = oneshot::channel();
            tokio::task::spawn_blocking(move || run(fold, inbox, &events_tx, result_tx, snapshots));
            Folding::Task {
                partials: Some(partials),
                events,
                result,
            }
        };
        Ok(Self {
            fold,
            opened: Instant::now(),
            deadline,
        })
    }

    pub(super) fn send(&mut self, shard: u32, partial: Payload) {
        match &mut self.fold {
            Folding::Inline {
                fold,
                snapshots,
                events,
            } => {
                let Some(folding) = fold else { return };
                match folding.accept_dyn(shard, partial) {
                    Ok(()) if *snapshots => {
                        events.push_back(FoldEvent::Snapshot(folding.snapshot_dyn()));
                    }
                    Ok(()) => {}
                    Err(status) => {
                        events.push_back(FoldEvent::Failed(status));
                        *fold = None;
                    }
                }
            }
            Folding::Task { partials, .. } => {
                if let Some(partials) = partials {
                    // A closed channel means the fold failed; `next_snapshot` says why.
                    let _ = partials.send((shard, partial));
                }
            }
        }
    }

    pub(super) async fn next_snapshot(&mut self) -> Result<Option<Payload>, QueryError> {
        let event = match &mut self.fold {
            Folding::Inline { events, .. } => events.pop_front(),
            Folding::Task { events, .. } => events.recv().await,
        };
        match event {
            Some(FoldEvent::Snapshot(snapshot)) => Ok(snapshot),
            Some(FoldEvent::Failed(status)) => Err(failed(&status)),
            // Nothing more until `finish`.
            None => std::future::pending().await,
        }
    }

    pub(super) async fn finish(self) -> Result<Payload, QueryError> {
        let (fold, mut result) = match self.fold {
            Folding::Inline {
                fold: Some(fold), ..
            } => {
                return fold.finish_dyn().map_err(|s| failed(&s));
            }
            Folding::Inline { fold: None, .. } => {
                return Err(QueryError::MergeFailed {
                    code: tonic::Code::Internal,
                    message: "the merge failed on an earlier partial".into(),
                });
            }
            Folding::Task {
                partials, result, ..
            } => (partials, result),
        };
        drop(fold); // no more partials: the fold finishes
        match tokio::time::timeout_at(self.deadline, &mut result).await {
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

/// The fold's thread: accepts partials until the channel closes, then
/// finishes.
fn run(
    mut fold: Box<dyn DynFold>,
    mut inbox: mpsc::UnboundedReceiver<(u32, Payload)>,
    events: &mpsc::UnboundedSender<FoldEvent>,
    result: oneshot::Sender<Result<Payload, Status>>,
    snapshots: bool,
) {
    while let Some((shard, partial)) = inbox.blocking_recv() {
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
