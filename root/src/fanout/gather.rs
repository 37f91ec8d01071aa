//! The gather loop of one request: every shard's first attempt goes out at
//! once; then, in one task, the loop reacts to whichever comes first — an
//! attempt ending, a shard's hedge delay passing, the merge failing, or the
//! gather deadline — until every shard has ended or time is up.
//!
//! A partial is handed to the merge the moment it arrives. When a shard
//! answers, its other attempts are cancelled. When the loop ends, every
//! attempt still out is dropped, which cancels it at the leaf.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::{AbortHandle, Abortable};
use futures::stream::FuturesUnordered;
use scatter_proto::v1::{LeafRequest, Payload};
use tokio::time::Instant;
use tonic::{Code, Status};

use super::attempt::{self, AttemptKind, AttemptOutcome};
use super::coverage::{Missing, ShardEnd};
use super::{Engine, probation, select};
use crate::RootError;
use crate::discovery::Topology;
use crate::merge::MergeSession;

/// Per-request hedging: `None` is off, `Some(p)` is on with an optional
/// percentile override.
pub type HedgeChoice = Option<Option<f64>>;

/// One request's view of one shard.
struct ShardProgress {
    tried: Vec<usize>,
    outstanding: Vec<(usize, AbortHandle)>,
    last_error: Option<(Status, usize)>,
    end: Option<ShardEnd>,
}

/// What the loop needs to know of the request.
pub struct GatherRequest<'a> {
    pub topology: &'a Topology,
    pub request_id: u64,
    pub payload: &'a Payload,
    pub gather_deadline: Instant,
    pub hedging: HedgeChoice,
}

/// Runs the gather loop; returns how each shard ended, or the merge's error.
pub async fn gather(
    engine: &Engine,
    request: GatherRequest<'_>,
    merge: &mut MergeSession,
) -> Result<Vec<ShardEnd>, RootError> {
    let shards = &request.topology.shards;
    let mut progress: Vec<ShardProgress> = shards
        .iter()
        .map(|shard| ShardProgress {
            tried: Vec::with_capacity(2),
            outstanding: Vec::with_capacity(1),
            last_error: None,
            end: shard.replicas.is_empty().then(|| {
                ShardEnd::Skipped(Missing {
                    code: Code::Unavailable,
                    message: "no live replica is known for this shard".into(),
                    ..Missing::default()
                })
            }),
        })
        .collect();
    let mut attempts = FuturesUnordered::new();
    let mut hedge_timers = FuturesUnordered::new();
    let mut pending = progress.iter().filter(|p| p.end.is_none()).count();

    let now = Instant::now();
    for (shard, shard_progress) in progress.iter_mut().enumerate() {
        if shard_progress.end.is_none() {
            engine.hedge_budget.deposit();
            if let Some(call) = launch(&request, shard_progress, shard, AttemptKind::First, now) {
                attempts.push(call);
            }
            if let Some(timer) = hedge_timer(engine, &request, shard, now) {
                hedge_timers.push(timer);
            }
        }
    }

    // One timer for the whole loop, not one per iteration.
    let deadline = tokio::time::sleep_until(request.gather_deadline);
    tokio::pin!(deadline);
    while pending > 0 {
        tokio::select! {
            biased;
            Some(done) = attempts.next() => {
                let Ok(outcome) = done else { continue }; // cancelled loser
                let shard = outcome.shard;
                let was_pending = progress[shard].end.is_none();
                let retry = settle(engine, &request, &mut progress[shard], outcome, merge)?;
                if retry {
                    let now = Instant::now();
                    if let Some(call) = launch(&request, &mut progress[shard], shard, AttemptKind::Retry, now) {
                        attempts.push(call);
                    }
                }
                if progress[shard].end.is_none() && progress[shard].outstanding.is_empty() {
                    progress[shard].end = Some(failed(&request, &progress[shard], shard));
                }
                if was_pending && progress[shard].end.is_some() {
                    pending -= 1;
                }
            }
            Some(shard) = hedge_timers.next() => {
                let now = Instant::now();
                if should_hedge(engine, &request, &progress[shard], shard, now)
                    && let Some(call) = launch(&request, &mut progress[shard], shard, AttemptKind::Hedge, now)
                {
                    attempts.push(call);
                }
            }
            early = merge.ended_early() => {
                early?;
                return Err(RootError::MergeFailed {
                    code: Code::Internal,
                    message: "the merge answered before the root finished sending partials".into(),
                });
            }
            () = &mut deadline => break,
        }
    }

    // Dropping `attempts` cancels every call still out.
    Ok(progress
        .into_iter()
        .enumerate()
        .map(|(shard, p)| match p.end {
            Some(end) => end,
            None => ShardEnd::TimedOut(Missing {
                code: Code::DeadlineExceeded,
                message: "no answer before the request deadline".into(),
                replica: p
                    .tried
                    .last()
                    .map(|&r| shards[shard].replicas[r].addr.clone())
                    .unwrap_or_default(),
                attempts: u32::try_from(p.tried.len()).unwrap_or(u32::MAX),
            }),
        })
        .collect())
}

/// Folds one finished attempt into its shard; returns `true` when the shard
/// should be retried at once on another replica.
fn settle(
    engine: &Engine,
    request: &GatherRequest<'_>,
    progress: &mut ShardProgress,
    outcome: AttemptOutcome,
    merge: &mut MergeSession,
) -> Result<bool, RootError> {
    let shard = &request.topology.shards[outcome.shard];
    progress
        .outstanding
        .retain(|(replica, _)| *replica != outcome.replica);
    let now = Instant::now();
    if outcome.result.is_ok() {
        shard
            .stats
            .record(outcome.latency, &engine.config.hedge, now);
    }
    if probation::evaluate(
        &shard.replicas,
        outcome.replica,
        &engine.config.probation,
        now,
    ) {
        tracing::debug!(shard = shard.id, "replica ejected");
    }
    if progress.end.is_some() {
        return Ok(false);
    }
    match outcome.result {
        Ok(partial) => {
            if outcome.kind == AttemptKind::Hedge {
                shard.replicas[outcome.replica]
                    .stats
                    .counters
                    .hedges_won
                    .inc();
            }
            progress.end = Some(ShardEnd::Answered);
            for (_, handle) in progress.outstanding.drain(..) {
                handle.abort();
            }
            merge.send(shard.id, partial)?;
            Ok(false)
        }
        Err(status) => {
            let retryable = is_retryable(status.code());
            progress.last_error = Some((status, outcome.replica));
            if !retryable || !progress.outstanding.is_empty() {
                return Ok(false);
            }
            Ok(may_send_extra(
                engine,
                request,
                progress,
                outcome.shard,
                AttemptKind::Retry,
                now,
            ))
        }
    }
}

/// Fast failures that say nothing about the request: try another replica.
fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted
    )
}

/// Whether one more attempt (hedge or retry) is allowed now: attempts left,
/// a replica to send it to, time to answer, and a token in the budget.
fn may_send_extra(
    engine: &Engine,
    request: &GatherRequest<'_>,
    progress: &ShardProgress,
    shard: usize,
    kind: AttemptKind,
    now: Instant,
) -> bool {
    let hedge = &engine.config.hedge;
    let replicas = request.topology.shards[shard].replicas.len();
    let attempts = u32::try_from(progress.tried.len()).unwrap_or(u32::MAX);
    let has_replica = progress.tried.len() < replicas || replicas == 1;
    if attempts >= hedge.max_attempts || !has_replica {
        return false;
    }
    if request.gather_deadline.saturating_duration_since(now) < hedge.min_remaining {
        return false;
    }
    let paid = match kind {
        AttemptKind::Hedge => engine.hedge_budget.try_withdraw_hedge(),
        AttemptKind::First | AttemptKind::Retry => engine.hedge_budget.try_withdraw_retry(),
    };
    if paid {
        true
    } else {
        request.topology.shards[shard].stats.budget_refusals.inc();
        false
    }
}

fn should_hedge(
    engine: &Engine,
    request: &GatherRequest<'_>,
    progress: &ShardProgress,
    shard: usize,
    now: Instant,
) -> bool {
    // A hedge goes to another replica: with one replica there is nothing to gain.
    progress.end.is_none()
        && !progress.outstanding.is_empty()
        && progress.tried.len() < request.topology.shards[shard].replicas.len()
        && may_send_extra(engine, request, progress, shard, AttemptKind::Hedge, now)
}

fn hedge_timer(
    engine: &Engine,
    request: &GatherRequest<'_>,
    shard: usize,
    now: Instant,
) -> Option<impl Future<Output = usize> + use<>> {
    let percentile = request.hedging?;
    let topology_shard = &request.topology.shards[shard];
    if topology_shard.replicas.len() < 2 || engine.config.hedge.max_attempts < 2 {
        return None;
    }
    let delay = topology_shard
        .stats
        .hedge_delay(&engine.config.hedge, percentile);
    let at = now + delay;
    (at < request.gather_deadline).then_some(async move {
        tokio::time::sleep_until(at).await;
        shard
    })
}

/// Sends one attempt of `shard` to a replica chosen for it.
fn launch(
    request: &GatherRequest<'_>,
    progress: &mut ShardProgress,
    shard: usize,
    kind: AttemptKind,
    now: Instant,
) -> Option<Abortable<impl Future<Output = AttemptOutcome> + use<>>> {
    let replicas = &request.topology.shards[shard].replicas;
    let index = select::choose(replicas, &progress.tried, now).or_else(|| {
        // The only replica may be retried (e.g. its connection was just re-made).
        (replicas.len() == 1 && kind == AttemptKind::Retry).then_some(0)
    })?;
    let attempt = u32::try_from(progress.tried.len()).unwrap_or(u32::MAX);
    progress.tried.push(index);
    let leaf_request = LeafRequest {
        payload: Some(request.payload.clone()),
        shard: request.topology.shards[shard].id,
        shard_count: request.topology.shard_count(),
        request_id: request.request_id,
        attempt,
    };
    let timeout = request
        .gather_deadline
        .saturating_duration_since(now)
        .max(Duration::from_millis(1));
    let (handle, registration) = AbortHandle::new_pair();
    progress.outstanding.push((index, handle));
    let replica = Arc::clone(&replicas[index]);
    Some(Abortable::new(
        attempt::call(replica, leaf_request, timeout, shard, index, kind),
        registration,
    ))
}

fn failed(request: &GatherRequest<'_>, progress: &ShardProgress, shard: usize) -> ShardEnd {
    let replicas = &request.topology.shards[shard].replicas;
    let (code, message, replica) = match &progress.last_error {
        Some((status, r)) => (
            status.code(),
            status.message().to_owned(),
            replicas[*r].addr.clone(),
        ),
        None => (
            Code::Unknown,
            "no attempt could be made".to_owned(),
            String::new(),
        ),
    };
    let attempts = u32::try_from(progress.tried.len()).unwrap_or(u32::MAX);
    // The call's own timeout (the same deadline, sent as `grpc-timeout`) may
    // expire a moment before the root's timer: that is a timeout, not a
    // failure of the leaf.
    if code == Code::DeadlineExceeded {
        return ShardEnd::TimedOut(Missing {
            code,
            message,
            replica,
            attempts,
        });
    }
    ShardEnd::Failed(Missing {
        code,
        message,
        replica,
        attempts,
    })
}
