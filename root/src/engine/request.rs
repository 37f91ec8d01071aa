//! One request, top to bottom: check it, fix its deadlines, send its
//! canary when it needs one (or refuse a quarantined payload), open the
//! merge, gather (every partial forwarded to the merge the moment it arrives),
//! apply the policy to the coverage, finish the merge. A progressive client
//! is told each step on `updates`; the unary answer passes none.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures::StreamExt as _;
use prost::Message as _;
use scatter_management::trace::{OpenSpan, SpanKind};
use scatter_proto::v1::{MergeBegin, Payload, QueryRequest, QueryResponse};
use tokio::time::Instant;
use tonic::{Code, Status};
use tower::Service;

use super::Engine;
use super::progress::{Progress, Updates};
use super::request_log::{self, ShardRecord};
use crate::canary::{Sent, send_first};
use crate::error::QueryError;
use crate::fanout::{
    Deadlines, GatherEvent, Hedging, LeafCall, Missing, RequestId, ShardEnd, ShardPlan, coverage,
    gather, gather_after,
};

/// Runs request `id`; with `progress`, reports each shard's end (and the
/// merge's snapshot, where it gives one) as it happens. Its end is logged,
/// and tells whether the merge was reachable.
pub async fn run<S>(
    engine: &Engine<S>,
    request: QueryRequest,
    client_timeout: Option<Duration>,
    updates: Option<&Updates>,
    id: &RequestId,
) -> Result<QueryResponse, QueryError>
where
    S: Service<LeafCall, Response = Payload, Error = Status, Future: Send> + Clone + Send,
{
    let started = Instant::now();
    let span = OpenSpan::start(
        id.trace().clone(),
        "scatter.v1.Root/Query",
        SpanKind::Server,
    );
    let mut record = ShardRecord::default();
    let result = drive(engine, request, client_timeout, updates, id, &mut record).await;
    engine.merge.observe(&result);
    let slow = engine.config.logs.slow_threshold();
    request_log::finished(id, &result, &record, started.elapsed(), slow);
    request_log::span(span, id, &result, &record);
    result
}

/// The request itself, its shards' ends kept in `record`.
async fn drive<S>(
    engine: &Engine<S>,
    request: QueryRequest,
    client_timeout: Option<Duration>,
    updates: Option<&Updates>,
    id: &RequestId,
    record: &mut ShardRecord,
) -> Result<QueryResponse, QueryError>
where
    S: Service<LeafCall, Response = Payload, Error = Status, Future: Send> + Clone + Send,
{
    let started = Instant::now();
    let payload = request
        .payload
        .ok_or_else(|| QueryError::InvalidRequest("the request has no payload".into()))?;
    let policy = request.policy.unwrap_or_default();
    coverage::validate(&policy)?;
    let total = Deadlines::total(&engine.config.deadline, client_timeout);
    let deadlines = Deadlines::new(total, engine.reserve.for_deadline(total), started);
    let canary = engine
        .canary
        .admit(&policy, &payload, deadlines.gather)
        .await?;

    let snapshot = engine.topology.snapshot();
    let hedging = engine.hedging(&policy);
    let hints = engine.config.hedge.hints && hedging != Hedging::Off;
    let tied = engine.tied(&policy);
    let broken_retried = AtomicBool::new(false);
    let plan = |index: usize| ShardPlan {
        shard: &snapshot.shards[index],
        shard_count: snapshot.shard_count(),
        payload: &payload,
        request_id: id,
        gather_deadline: deadlines.gather,
        hedging,
        hints,
        tied,
        hedge: &engine.config.hedge,
        probation: &engine.config.probation,
        budget: &engine.hedge_budget,
        admission: &engine.admission,
        broken_retried: &broken_retried,
    };
    // The canary's answer (or its death) comes before the merge opens.
    let first = match canary {
        Some(ticket) => send_first(ticket, &snapshot.shards, plan, &engine.leaf).await?,
        None => None,
    };
    let request_id = id.number();
    let wants_snapshots = updates.is_some();
    let mut merge = engine.merge.open(
        MergeBegin {
            request: Some(payload.clone()),
            shard_count: snapshot.shard_count(),
            request_id,
            deadline_ms: u64::try_from(total.as_millis()).unwrap_or(u64::MAX),
        },
        id,
        deadlines.request,
        wants_snapshots,
    )?;
    let snapshot_follows = merge.gives_snapshots(wants_snapshots);
    // Coverage so far is built only for a client that watches.
    let mut progress = updates.map(|updates| Progress::new(updates, request_id));

    let shards = 0..snapshot.shards.len();
    let events = match first {
        None => gather(shards.map(plan), &engine.leaf).left_stream(),
        Some(Sent {
            shard: canaried,
            outcome,
            fan_out,
        }) => {
            let others = shards.filter(move |&i| fan_out && i != canaried);
            gather_after(outcome, others.map(|i| (i, plan(i))), &engine.leaf).right_stream()
        }
    };
    tokio::pin!(events);
    record.snapshot = Some(Arc::clone(&snapshot));
    record.ends = vec![None; snapshot.shards.len()];
    let ends = &mut record.ends;
    // Updates still waiting for a snapshot are sent too, but never past the
    // request's deadline.
    let waiting =
        |progress: &Option<Progress<'_>>| progress.as_ref().is_some_and(Progress::waiting);
    let mut gathered = false;
    let request_deadline = tokio::time::sleep_until(deadlines.request);
    tokio::pin!(request_deadline);
    while !gathered || waiting(&progress) {
        tokio::select! {
            biased;
            event = events.next(), if !gathered => match event {
                Some(GatherEvent::Partial { shard, partial, .. }) => {
                    merge.send(snapshot.shards[shard].id, partial);
                }
                Some(GatherEvent::ShardEnded { shard, end }) => {
                    let answered = matches!(end, ShardEnd::Answered);
                    ends[shard] = Some(end);
                    if let Some(progress) = &mut progress {
                        progress.shard_ended(ends, answered && snapshot_follows);
                    }
                }
                None => gathered = true,
            },
            snapshot = merge.next_snapshot() => {
                let snapshot = snapshot?;
                if let Some(progress) = &mut progress {
                    progress.snapshot(snapshot);
                }
            }
            () = &mut request_deadline, if gathered => break,
        }
    }
    // Shards never called: the deadline came while the canary was out.
    for end in ends.iter_mut().filter(|end| end.is_none()) {
        *end = Some(ShardEnd::TimedOut(Missing {
            code: Code::DeadlineExceeded,
            message: "not called: the request's deadline came while its canary was out".into(),
            ..Missing::default()
        }));
    }
    let coverage = coverage::so_far(ends.iter().map(Option::as_ref));
    let now = Instant::now();
    for (shard, end) in snapshot.shards.iter().zip(ends.iter()) {
        shard
            .stats
            .ended(matches!(end, Some(ShardEnd::Answered)), now);
    }
    engine.metrics.record_coverage(&coverage);
    coverage::enforce(&policy, &coverage)?;
    let finishing = Instant::now();
    let result = merge.finish().await?;
    check_result_size(&result, engine.config.limits.max_result_bytes)?;
    let merging = finishing.elapsed();
    engine.reserve.record(merging);
    // The trace id marks the latencies as exemplars.
    let trace_id = id.trace_id();
    let metrics = &engine.metrics;
    metrics.merge_latency.record_traced(merging, Some(trace_id));
    metrics
        .request_latency
        .record_traced(started.elapsed(), Some(trace_id));
    Ok(QueryResponse {
        result: Some(result),
        coverage: Some(coverage),
        request_id,
        trace_id: trace_id.to_owned(),
    })
}

/// A merge linked into the root is held to the same limit as a merge
/// process, whose larger result tonic refuses while decoding it.
fn check_result_size(result: &Payload, limit: usize) -> Result<(), QueryError> {
    let size = result.encoded_len();
    if size > limit {
        return Err(QueryError::OverLimit(format!(
            "the merge's result is larger than this root accepts (raise --max-result-bytes): \
             {size} bytes, the limit is {limit} bytes"
        )));
    }
    Ok(())
}
