//! One request, top to bottom: check it, fix its deadlines, open the merge,
//! gather (every partial forwarded to the merge the moment it arrives),
//! apply the policy to the coverage, finish the merge. A progressive client
//! is told each step on `progress`; the unary answer passes none.

use std::time::Duration;

use futures::StreamExt as _;
use scatter_proto::v1::query_update::Kind;
use scatter_proto::v1::{
    MergeBegin, Payload, QueryProgress, QueryRequest, QueryResponse, QueryUpdate,
};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tonic::Status;
use tower::Service;

use super::Engine;
use crate::error::QueryError;
use crate::fanout::{Deadlines, GatherEvent, LeafCall, ShardEnd, ShardPlan, coverage, gather};

/// Where a progressive request's updates go.
pub type Progress = UnboundedSender<Result<QueryUpdate, QueryError>>;

/// Runs one request; with `progress`, reports each shard's end (and the
/// merge's snapshot, where it gives one) as it happens.
pub async fn run<S>(
    engine: &Engine<S>,
    request: QueryRequest,
    client_timeout: Option<Duration>,
    progress: Option<&Progress>,
) -> Result<QueryResponse, QueryError>
where
    S: Service<LeafCall, Response = Payload, Error = Status> + Clone,
{
    let started = Instant::now();
    let payload = request
        .payload
        .ok_or_else(|| QueryError::InvalidRequest("the request has no payload".into()))?;
    let policy = request.policy.unwrap_or_default();
    coverage::validate(&policy)?;
    let total = Deadlines::total(&engine.config.deadline, client_timeout);
    let deadlines = Deadlines::new(total, engine.reserve.for_deadline(total), started);

    let snapshot = engine.topology.snapshot();
    let request_id = engine.next_request_id();
    let wants_snapshots = progress.is_some();
    let mut merge = engine.merge.open(
        MergeBegin {
            request: Some(payload.clone()),
            shard_count: snapshot.shard_count(),
            request_id,
            deadline_ms: u64::try_from(total.as_millis()).unwrap_or(u64::MAX),
        },
        deadlines.request,
        wants_snapshots,
    )?;
    let snapshot_follows = merge.gives_snapshots(wants_snapshots);
    // Coverage so far is built only for a client that watches.
    let report = |ends: &[Option<ShardEnd>], snapshot: Option<Payload>| {
        if let Some(progress) = progress {
            let coverage = coverage::so_far(ends.iter().map(Option::as_ref));
            let _ = progress.send(Ok(QueryUpdate {
                request_id,
                kind: Some(Kind::Progress(QueryProgress {
                    coverage: Some(coverage),
                    snapshot,
                })),
            }));
        }
    };

    let hedging = engine.hedging(&policy);
    let plans = snapshot.shards.iter().map(|shard| ShardPlan {
        shard,
        shard_count: snapshot.shard_count(),
        payload: &payload,
        request_id,
        gather_deadline: deadlines.gather,
        hedging,
        hedge: &engine.config.hedge,
        probation: &engine.config.probation,
        budget: &engine.hedge_budget,
    });
    let events = gather(plans, &engine.leaf);
    tokio::pin!(events);
    let mut ends: Vec<Option<ShardEnd>> = vec![None; snapshot.shards.len()];
    // Snapshots still to come for partials already sent: the last shard's
    // progress is reported too, but never past the request's deadline.
    let mut snapshots_due = 0usize;
    let mut gathered = false;
    let request_deadline = tokio::time::sleep_until(deadlines.request);
    tokio::pin!(request_deadline);
    while !gathered || snapshots_due > 0 {
        tokio::select! {
            biased;
            event = events.next(), if !gathered => match event {
                Some(GatherEvent::Partial { shard, partial, .. }) => {
                    merge.send(snapshot.shards[shard].id, partial);
                    snapshots_due += usize::from(snapshot_follows);
                }
                Some(GatherEvent::ShardEnded { shard, end }) => {
                    let answered = matches!(end, ShardEnd::Answered);
                    ends[shard] = Some(end);
                    // An answered shard is reported with the merge's snapshot
                    // when one follows, so a client sees both at once.
                    if !(answered && snapshot_follows) {
                        report(&ends, None);
                    }
                }
                None => gathered = true,
            },
            snapshot = merge.next_snapshot() => {
                snapshots_due = snapshots_due.saturating_sub(1);
                report(&ends, snapshot?);
            }
            () = &mut request_deadline, if gathered => break,
        }
    }
    let ends: Vec<ShardEnd> = ends.into_iter().flatten().collect();
    let coverage = coverage::report(&ends);
    engine.metrics.record_coverage(&coverage);
    coverage::enforce(&policy, &coverage)?;
    let finishing = Instant::now();
    let result = merge.finish().await?;
    engine.reserve.record(finishing.elapsed());
    engine.metrics.request_latency.record(started.elapsed());
    Ok(QueryResponse {
        result: Some(result),
        coverage: Some(coverage),
        request_id,
    })
}
