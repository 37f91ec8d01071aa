//! One shard's attempts as one future: choose a replica, call it, hedge to
//! another replica after the shard's delay, retry a fast failure at once,
//! and end with the first success (dropping the losers, which cancels them
//! at the leaf), a failure, or the gather deadline.
//!
//! The leaf call is any `tower::Service<LeafCall>`, so layers stack on it
//! and tests drive this future with an in-memory service in paused time.

use std::sync::Arc;
use std::time::Duration;

use futures::future::OptionFuture;
use scatter_proto::v1::{LeafRequest, Payload};
use tokio::time::Instant;
use tonic::{Code, Status};
use tower::{Service, ServiceExt as _};

use super::attempts::Attempts;
use super::budget::HedgeBudget;
use super::choose::choose;
use super::event::{Missing, ShardEnd};
use super::leaf_call::{AttemptKind, LeafCall};
use super::request_id::RequestId;
use crate::admission::Admission;
use crate::call_status::is_over_limit;
use crate::config::{HedgeConfig, ProbationConfig};
use crate::topology::{Replica, Shard, probation};

/// Whether one request hedges, and after which percentile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Hedging {
    /// No hedges (fast retries still go out).
    Off,
    /// Hedge after the root's configured percentile of the shard's latencies.
    Configured,
    /// Hedge after this percentile instead (a per-request override).
    Percentile(f64),
}

/// What one shard's future needs to know of its request and the tree.
pub struct ShardPlan<'a> {
    /// The shard, with its replicas and statistics.
    pub shard: &'a Shard,
    /// How many shards the request went to.
    pub shard_count: u32,
    /// The client's payload, shared.
    pub payload: &'a Payload,
    /// The request's id, sent with every attempt.
    pub request_id: &'a RequestId,
    /// When the root stops waiting for leaves.
    pub gather_deadline: Instant,
    /// This request's hedging.
    pub hedging: Hedging,
    /// Hedge and retry settings.
    pub hedge: &'a HedgeConfig,
    /// Probation settings.
    pub probation: &'a ProbationConfig,
    /// The shared budget for hedges and retries.
    pub budget: &'a HedgeBudget,
    /// The root's admission: no extra attempts while it is saturated.
    pub admission: &'a Admission,
}

/// How one shard ended, with the partial when it answered.
pub struct ShardOutcome {
    /// Index of the shard in the request's snapshot.
    pub shard: usize,
    /// How it ended.
    pub end: ShardEnd,
    /// The partial, the replica index and attempt number that answered.
    pub answer: Option<Answer>,
}

/// The winning attempt of a shard.
pub struct Answer {
    /// The leaf's partial.
    pub partial: Payload,
    /// The replica that answered.
    pub replica: Arc<Replica>,
    /// Its attempt number (0 first, then hedges and retries).
    pub attempt: u32,
}

/// One finished attempt.
struct Attempt {
    replica: usize,
    attempt: u32,
    kind: AttemptKind,
    result: Result<Payload, Status>,
    latency: Duration,
}

/// Runs every attempt of one shard; `index` is the shard's place in the
/// request's snapshot.
pub async fn run<S>(plan: ShardPlan<'_>, index: usize, leaf: S) -> ShardOutcome
where
    S: Service<LeafCall, Response = Payload, Error = Status> + Clone,
{
    let replicas = &plan.shard.replicas;
    let ended = |end| ShardOutcome {
        shard: index,
        end,
        answer: None,
    };
    if replicas.is_empty() {
        return ended(ShardEnd::Skipped(Missing {
            code: Code::Unavailable,
            message: "no live replica is known for this shard".into(),
            ..Missing::default()
        }));
    }
    if !replicas.iter().any(|r| r.stats.health.takes_work()) {
        let addrs: Vec<&str> = replicas.iter().map(|r| r.addr.as_str()).collect();
        return ended(ShardEnd::Skipped(Missing {
            code: Code::Unavailable,
            message: format!(
                "every replica of this shard is draining or not ready (health NOT_SERVING): {}",
                addrs.join(", ")
            ),
            ..Missing::default()
        }));
    }
    plan.budget.deposit();
    let mut shard = ShardRun {
        plan: &plan,
        tried: Vec::with_capacity(2),
        last_error: None,
    };
    let mut attempts = Attempts::with_capacity(plan.hedge.max_attempts as usize);
    let now = Instant::now();
    let first = shard.pick(AttemptKind::First);
    attempts.extend(first.map(|r| shard.launch(&leaf, r, AttemptKind::First, now)));
    if attempts.is_empty() {
        return ended(shard.failed());
    }
    let hedge_at = shard.hedge_at(now);
    let mut hedge_armed = hedge_at.is_some();
    let hedge = OptionFuture::from(hedge_at.map(tokio::time::sleep_until));
    let deadline = tokio::time::sleep_until(plan.gather_deadline);
    tokio::pin!(hedge, deadline);
    loop {
        tokio::select! {
            biased;
            Some(done) = attempts.next() => {
                let now = Instant::now();
                shard.observe(&done, now);
                match done.result {
                    Ok(partial) => {
                        if done.kind == AttemptKind::Hedge {
                            replicas[done.replica].stats.counters.hedges_won.inc();
                        }
                        // Dropping `attempts` cancels the losers.
                        return ShardOutcome {
                            shard: index,
                            end: ShardEnd::Answered,
                            answer: Some(Answer { partial, replica: Arc::clone(&replicas[done.replica]), attempt: done.attempt }),
                        };
                    }
                    Err(status) => {
                        let retryable = is_retryable(&status);
                        shard.last_error = Some((status, done.replica));
                        if retryable && attempts.is_empty() {
                            let retry = shard.extra(AttemptKind::Retry, now);
                            attempts.extend(retry.map(|r| shard.launch(&leaf, r, AttemptKind::Retry, now)));
                        }
                        if attempts.is_empty() {
                            return ended(shard.failed());
                        }
                    }
                }
            }
            Some(()) = &mut hedge, if hedge_armed => {
                hedge_armed = false;
                let now = Instant::now();
                let hedge = shard.extra(AttemptKind::Hedge, now);
                if hedge.is_some() {
                    plan.shard.stats.hedged(now);
                }
                attempts.extend(hedge.map(|r| shard.launch(&leaf, r, AttemptKind::Hedge, now)));
            }
            () = &mut deadline => return ended(shard.timed_out()),
        }
    }
}

/// One request's state for one shard.
struct ShardRun<'p, 'a> {
    plan: &'p ShardPlan<'a>,
    tried: Vec<usize>,
    last_error: Option<(Status, usize)>,
}

impl ShardRun<'_, '_> {
    /// The replica for the next attempt; `None` when none is left to try.
    fn pick(&self, kind: AttemptKind) -> Option<usize> {
        let replicas = &self.plan.shard.replicas;
        choose(replicas, &self.tried, Instant::now()).or_else(|| {
            // The only replica may be retried (its connection may just have been re-made).
            (replicas.len() == 1 && kind == AttemptKind::Retry).then_some(0)
        })
    }

    /// Sends one attempt to `replica`.
    fn launch<S>(
        &mut self,
        leaf: &S,
        replica: usize,
        kind: AttemptKind,
        now: Instant,
    ) -> impl Future<Output = Attempt> + use<S>
    where
        S: Service<LeafCall, Response = Payload, Error = Status> + Clone,
    {
        let replicas = &self.plan.shard.replicas;
        let attempt = self.attempts();
        self.tried.push(replica);
        let call = LeafCall {
            replica: Arc::clone(&replicas[replica]),
            request: LeafRequest {
                payload: Some(self.plan.payload.clone()),
                shard: self.plan.shard.id,
                shard_count: self.plan.shard_count,
                request_id: self.plan.request_id.number(),
                attempt,
            },
            timeout: self
                .plan
                .gather_deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)),
            kind,
            request_id: self.plan.request_id.clone(),
        };
        let leaf = leaf.clone();
        async move {
            let result = leaf.oneshot(call).await;
            Attempt {
                replica,
                attempt,
                kind,
                result,
                latency: now.elapsed(),
            }
        }
    }

    fn attempts(&self) -> u32 {
        u32::try_from(self.tried.len()).unwrap_or(u32::MAX)
    }

    /// When to hedge, or `None` when this shard is not hedged.
    fn hedge_at(&self, now: Instant) -> Option<Instant> {
        let percentile = match self.plan.hedging {
            Hedging::Off => return None,
            Hedging::Configured => None,
            Hedging::Percentile(p) => Some(p),
        };
        // A hedge goes to another replica: with one replica there is nothing to gain.
        if self.plan.shard.replicas.len() < 2 || self.plan.hedge.max_attempts < 2 {
            return None;
        }
        let at = now
            + self
                .plan
                .shard
                .stats
                .hedge_delay(self.plan.hedge, percentile);
        (at < self.plan.gather_deadline).then_some(at)
    }

    /// The replica one more attempt (hedge or retry) may go to now, if
    /// any: attempts left, a replica left (a hedge never goes back to one
    /// already tried), time to answer, room for more load (the root not
    /// saturated, the replica not queueing), and a token in the budget.
    fn extra(&self, kind: AttemptKind, now: Instant) -> Option<usize> {
        let hedge = self.plan.hedge;
        if self.attempts() >= hedge.max_attempts {
            return None;
        }
        if kind == AttemptKind::Hedge && self.tried.len() >= self.plan.shard.replicas.len() {
            return None;
        }
        if self.plan.gather_deadline.saturating_duration_since(now) < hedge.min_remaining {
            return None;
        }
        let replica = self.pick(kind)?;
        let replicas = &self.plan.shard.replicas;
        if self.plan.admission.saturated() || replicas[replica].stats.queueing() {
            self.plan.shard.stats.load_refusals.inc();
            return None;
        }
        let paid = match kind {
            AttemptKind::Hedge => self.plan.budget.try_withdraw_hedge(),
            AttemptKind::First | AttemptKind::Retry => self.plan.budget.try_withdraw_retry(),
        };
        if !paid {
            self.plan.shard.stats.budget_refusals.inc();
            return None;
        }
        Some(replica)
    }

    /// Folds a finished attempt into the shard's statistics and re-judges
    /// the replica's probation.
    fn observe(&self, done: &Attempt, now: Instant) {
        let shard = self.plan.shard;
        // The window only sets hedge delays: with hedging off or a fixed
        // delay nobody reads it, and recording is not free.
        let hedge = self.plan.hedge;
        if done.result.is_ok() && hedge.enabled && hedge.fixed_delay.is_none() {
            shard.stats.record(done.latency, hedge, now);
        }
        if probation::evaluate(&shard.replicas, done.replica, self.plan.probation, now) {
            tracing::debug!(shard = shard.id, "replica ejected");
        }
    }

    fn missing(&self, code: Code, message: String, replica: Option<usize>) -> Missing {
        Missing {
            code,
            message,
            replica: replica
                .map(|r| self.plan.shard.replicas[r].addr.clone())
                .unwrap_or_default(),
            attempts: self.attempts(),
        }
    }

    fn failed(&self) -> ShardEnd {
        let Some((status, replica)) = &self.last_error else {
            return ShardEnd::Failed(self.missing(
                Code::Unknown,
                "no attempt could be made".into(),
                None,
            ));
        };
        let missing = self.missing(status.code(), status.message().to_owned(), Some(*replica));
        // The call's own timeout (the same deadline, sent as `grpc-timeout`)
        // may expire a moment before the root's timer: that is a timeout,
        // not a failure of the leaf.
        if status.code() == Code::DeadlineExceeded {
            ShardEnd::TimedOut(missing)
        } else {
            ShardEnd::Failed(missing)
        }
    }

    fn timed_out(&self) -> ShardEnd {
        ShardEnd::TimedOut(self.missing(
            Code::DeadlineExceeded,
            "no answer before the request deadline".into(),
            self.tried.last().copied(),
        ))
    }
}

/// Fast failures that say nothing about the request: try another replica.
/// A partial over the root's limit is not one: the shard's other replicas
/// hold the same data and would answer as much.
fn is_retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted
    ) && !is_over_limit(status)
}
