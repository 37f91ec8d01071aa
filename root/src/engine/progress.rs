//! What a progressive client is told: one update per shard end, in the
//! order shards ended, each with the coverage at that moment. An answered
//! shard's update waits for the merge's snapshot of it (when the merge
//! gives snapshots), and updates behind it wait their turn, so coverage
//! never goes backwards in the stream.

use std::collections::VecDeque;

use scatter_proto::v1::query_update::Kind;
use scatter_proto::v1::{Coverage, Payload, QueryProgress, QueryUpdate};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::QueryError;
use crate::fanout::{ShardEnd, coverage};

/// Where a progressive request's updates go.
pub type Updates = UnboundedSender<Result<QueryUpdate, QueryError>>;

/// The updates of one progressive request, in order.
pub struct Progress<'a> {
    updates: &'a Updates,
    request_id: u64,
    /// Updates not sent yet; the front one may wait for a snapshot.
    queue: VecDeque<Pending>,
}

struct Pending {
    coverage: Coverage,
    snapshot: Option<Payload>,
    awaits_snapshot: bool,
}

impl<'a> Progress<'a> {
    /// Updates of request `request_id`, sent on `updates`.
    pub fn new(updates: &'a Updates, request_id: u64) -> Self {
        Self {
            updates,
            request_id,
            queue: VecDeque::new(),
        }
    }

    /// A shard has ended (`ends` holds every end so far); its update waits
    /// for the merge's snapshot when `snapshot_follows`.
    pub fn shard_ended(&mut self, ends: &[Option<ShardEnd>], snapshot_follows: bool) {
        self.queue.push_back(Pending {
            coverage: coverage::so_far(ends.iter().map(Option::as_ref)),
            snapshot: None,
            awaits_snapshot: snapshot_follows,
        });
        self.flush();
    }

    /// The merge's snapshot after the oldest partial still waiting for one.
    pub fn snapshot(&mut self, snapshot: Option<Payload>) {
        if let Some(pending) = self.queue.iter_mut().find(|p| p.awaits_snapshot) {
            pending.snapshot = snapshot;
            pending.awaits_snapshot = false;
        }
        self.flush();
    }

    /// Whether an update still waits for a snapshot.
    pub fn waiting(&self) -> bool {
        !self.queue.is_empty()
    }

    fn flush(&mut self) {
        while self.queue.front().is_some_and(|p| !p.awaits_snapshot) {
            let Some(ready) = self.queue.pop_front() else {
                return;
            };
            let _ = self.updates.send(Ok(QueryUpdate {
                request_id: self.request_id,
                kind: Some(Kind::Progress(QueryProgress {
                    coverage: Some(ready.coverage),
                    snapshot: ready.snapshot,
                })),
            }));
        }
    }
}
