//! One shard's attempts as one future: choose a replica, call it, hedge to
//! another replica after the shard's delay — or at once when the leaf says
//! the call will be slow; a hedge refused for now (budget spent, root or
//! sibling loaded) asks again one delay later, then two, four… —, tie the
//! call to a copy at another replica when it has not started after the tie
//! delay, retry a fast failure at once (a call whose connection broke
//! mid-call only once per request: it may be the payload that broke it),
//! and end with the first success (dropping the losers, which cancels them
//! at the leaf), a failure, or the gather deadline.
//!
//! The leaf call is any `tower::Service<LeafCall>`, so layers stack on it
//! and tests drive this future with an in-memory service in paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::{OptionFuture, pending};
use scatter_proto::v1::{LeafRequest, Payload};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tonic::{Code, Status};
use tower::{Service, ServiceExt as _};

use super::attempts::Attempts;
use super::choose::choose;
use super::event::{Missing, ShardEnd};
use super::leaf_call::{AttemptKind, LeafCall};
use super::listen::{self, Heard, Listener, News};
use super::request_id::RequestId;
use crate::admission::Admission;
use crate::call_status::{is_broken_connection, is_over_limit};
use crate::config::{HedgeConfig, ProbationConfig};
use crate::topology::{HedgeBudget, Replica, Shard, probation};

/// A refused hedge's wait before it asks again doubles at most this many
/// times (to 16 hedge delays); the deadline ends the asking anyway.
const MAX_PUT_OFF_DOUBLINGS: u32 = 4;

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
    /// Listen for leaves' slow hints, and hedge at once on one.
    pub hints: bool,
    /// Tie the shard's first call: after this delay without word that it
    /// started, a copy goes to another replica, and the first to start
    /// cancels the other.
    pub tied: Option<Duration>,
    /// Hedge and retry settings.
    pub hedge: &'a HedgeConfig,
    /// Probation settings.
    pub probation: &'a ProbationConfig,
    /// The shared budget for hedges and retries.
    pub budget: &'a HedgeBudget,
    /// The root's admission: no extra attempts while it is saturated.
    pub admission: &'a Admission,
    /// Set when the first call of this request whose connection broke
    /// mid-call asks for a retry (sent if the budget allows): one such
    /// retry per request, shared by its shards. A leaf that dies under one
    /// call (a crash, a lost host) costs nothing; a payload that kills
    /// every leaf it reaches (a query of death) kills one second replica,
    /// not every shard's.
    pub broken_retried: &'a AtomicBool,
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
    // The shard's own bucket pays for hedges only.
    if plan.hedging != Hedging::Off {
        plan.shard.stats.budget(plan.hedge).deposit();
    }
    let (heard_tx, heard_rx) = if plan.hints || plan.tied.is_some() {
        let (tx, rx) = listen::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let mut shard = ShardRun {
        plan: &plan,
        tried: Vec::with_capacity(2),
        launched: Vec::new(),
        sent: 0,
        last_error: None,
        heard: heard_tx,
        tie: None,
        refused: false,
        put_off: 0,
    };
    let mut heard = heard_rx;
    let mut attempts = Attempts::with_capacity(plan.hedge.max_attempts as usize);
    let now = Instant::now();
    let first = shard.pick(AttemptKind::First);
    if let Some(first) = first {
        shard.prepare_tie(first);
    }
    attempts.extend(first.map(|r| shard.launch(&leaf, r, AttemptKind::First, now)));
    if attempts.is_empty() {
        return ended(shard.failed());
    }
    // A hedge may go once, after the delay or on a slow hint, whichever
    // comes first; the delay may fall past the deadline, a hint still not.
    let mut may_hedge = shard.hedges();
    let hedge_at = shard.hedge_at(now).filter(|_| may_hedge);
    let mut hedge_armed = hedge_at.is_some();
    let hedge = OptionFuture::from(hedge_at.map(tokio::time::sleep_until));
    let tie_at = shard.tie_at(now);
    let mut tie_armed = tie_at.is_some();
    let tie = OptionFuture::from(tie_at.map(tokio::time::sleep_until));
    let deadline = tokio::time::sleep_until(plan.gather_deadline);
    tokio::pin!(hedge, tie, deadline);
    loop {
        // Set when a hedge is asked for now: by a slow hint, or by the
        // timer (no longer armed once it fired).
        let ask_hedge = tokio::select! {
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
                        // A failed call starts nothing: a tie it was in is off.
                        shard.tie = None;
                        let retryable = is_retryable(&status);
                        let broken = is_broken_connection(&status);
                        shard.last_error = Some((status, done.replica));
                        if retryable
                            && attempts.is_empty()
                            && (!broken || !plan.broken_retried.swap(true, Ordering::Relaxed))
                        {
                            let retry = shard.extra(AttemptKind::Retry, now).go();
                            attempts.extend(retry.map(|r| shard.launch(&leaf, r, AttemptKind::Retry, now)));
                        }
                        if attempts.is_empty() {
                            return ended(shard.failed());
                        }
                    }
                }
                false
            }
            Some(heard) = next_heard(&mut heard) => match heard.news {
                News::Started => {
                    if shard.started(heard.attempt, &mut attempts) {
                        tie_armed = false;
                    }
                    false
                }
                News::Slow { expected } => {
                    may_hedge && shard.hint_hedges(heard.attempt, expected, hedge_at, &attempts)
                }
            },
            Some(()) = &mut tie, if tie_armed => {
                tie_armed = false;
                let now = Instant::now();
                let copy = shard.tie();
                attempts.extend(copy.map(|r| shard.launch(&leaf, r, AttemptKind::Tied, now)));
                false
            }
            Some(()) = &mut hedge, if hedge_armed => {
                hedge_armed = false;
                true
            }
            () = &mut deadline => return ended(shard.timed_out()),
        };
        if !ask_hedge {
            continue;
        }
        let now = Instant::now();
        let next = match shard.hedge(now) {
            Extra::Go(r) => {
                attempts.extend([shard.launch(&leaf, r, AttemptKind::Hedge, now)]);
                None
            }
            // An armed timer asks again by itself.
            Extra::Later if hedge_armed => continue,
            Extra::Later => shard.ask_again_at(now),
            Extra::Never => None,
        };
        match next {
            Some(at) => {
                hedge.set(Some(tokio::time::sleep_until(at)).into());
                hedge_armed = true;
            }
            None => {
                hedge_armed = false;
                may_hedge = false;
            }
        }
    }
}

/// The next word from the shard's leaves; never, when the shard does not
/// listen.
async fn next_heard(heard: &mut Option<UnboundedReceiver<Heard>>) -> Option<Heard> {
    match heard {
        Some(heard) => heard.recv().await,
        None => pending().await,
    }
}

/// Whether one more attempt may go.
enum Extra {
    /// Now, to this replica.
    Go(usize),
    /// Not now (no token, too much load); it may later.
    Later,
    /// Not for this shard in this request.
    Never,
}

impl Extra {
    /// The replica, when the attempt may go now.
    fn go(self) -> Option<usize> {
        match self {
            Self::Go(replica) => Some(replica),
            Self::Later | Self::Never => None,
        }
    }
}

/// A tied call and its copy, until one of them starts.
struct Tie {
    /// The attempt numbers of the first call and, once sent, its copy.
    pair: [Option<u32>; 2],
}

/// One request's state for one shard.
struct ShardRun<'p, 'a> {
    plan: &'p ShardPlan<'a>,
    /// Replicas that got (or are working on) an attempt; a tied copy
    /// cancelled before it started is taken off again.
    tried: Vec<usize>,
    /// Every attempt sent, its number, replica and send time, kept only
    /// when the shard listens (only what leaves say reads it): no
    /// allocation per shard otherwise.
    launched: Vec<(u32, usize, Instant)>,
    /// Attempts sent so far; numbers them.
    sent: u32,
    last_error: Option<(Status, usize)>,
    /// Where listeners of this shard's attempts send what they hear.
    heard: Option<UnboundedSender<Heard>>,
    /// The tie, while it is undecided.
    tie: Option<Tie>,
    /// An extra attempt was refused (budget or load) and counted.
    refused: bool,
    /// Times a refused hedge was put off; each puts the next ask off twice
    /// as long as the last.
    put_off: u32,
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
    ) -> (u32, impl Future<Output = Attempt> + use<S>)
    where
        S: Service<LeafCall, Response = Payload, Error = Status> + Clone,
    {
        let replicas = &self.plan.shard.replicas;
        let attempt = self.sent;
        self.sent += 1;
        self.tried.push(replica);
        if self.heard.is_some() {
            self.launched.push((attempt, replica, now));
        }
        if kind == AttemptKind::Tied
            && let Some(tie) = &mut self.tie
        {
            tie.pair[1] = Some(attempt);
        }
        let tied = matches!(kind, AttemptKind::First | AttemptKind::Tied) && self.tie.is_some();
        let listener = self
            .heard
            .as_ref()
            .map(|heard| Listener::new(heard.clone(), attempt, tied));
        let call = LeafCall {
            replica: Arc::clone(&replicas[replica]),
            request: LeafRequest {
                payload: Some(self.plan.payload.clone()),
                shard: self.plan.shard.id,
                shard_count: self.plan.shard_count,
                request_id: self.plan.request_id.number(),
                attempt,
                report_start: false,
            },
            timeout: self
                .plan
                .gather_deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)),
            kind,
            request_id: self.plan.request_id.clone(),
            listener,
        };
        let leaf = leaf.clone();
        let attempt_future = async move {
            let result = leaf.oneshot(call).await;
            Attempt {
                replica,
                attempt,
                kind,
                result,
                latency: now.elapsed(),
            }
        };
        (attempt, attempt_future)
    }

    /// Ties the first call, about to go to `first`, when the request ties
    /// calls, another replica could take the copy, and the leaf says when
    /// work starts (it streams answers).
    fn prepare_tie(&mut self, first: usize) {
        let replicas = &self.plan.shard.replicas;
        if self.plan.tied.is_some()
            && replicas.len() >= 2
            && replicas[first].stats.reports.streams()
        {
            self.tie = Some(Tie {
                pair: [Some(self.sent), None],
            });
        }
    }

    /// When the tied copy goes out, unless the first call starts before:
    /// after the tie delay, or the shard's usual (p99) time to start when
    /// that is longer, so a call merely slow to say it started is not
    /// copied.
    fn tie_at(&self, now: Instant) -> Option<Instant> {
        let delay = self.plan.tied.filter(|_| self.tie.is_some())?;
        let usual = self.plan.shard.stats.starts.usual().unwrap_or_default();
        let at = now + delay.max(usual);
        (at < self.plan.gather_deadline).then_some(at)
    }

    /// The tied copy, when the tie is still undecided and a replica that
    /// reports its starts can take it (the root not saturated). It is not
    /// paid from the hedge budget: the copy that does not start first is
    /// cancelled before it does any work.
    fn tie(&self) -> Option<usize> {
        self.tie.as_ref()?;
        let replica = self.pick(AttemptKind::Tied)?;
        let stats = &self.plan.shard.replicas[replica].stats;
        (stats.reports.streams() && !self.plan.admission.saturated()).then_some(replica)
    }

    /// A leaf said `attempt` started: when it is one of an undecided tie,
    /// the tie is decided, and the other call of the pair is cancelled
    /// (it has not started, or only just). Returns whether a tie was
    /// decided.
    fn started<F: Future>(&mut self, attempt: u32, attempts: &mut Attempts<F>) -> bool {
        if let Some(&(_, _, sent)) = self.launched.iter().find(|(n, ..)| *n == attempt) {
            let now = Instant::now();
            let stats = &self.plan.shard.stats;
            stats
                .starts
                .record(now.saturating_duration_since(sent), now);
        }
        let Some(tie) = self.tie.take_if(|tie| tie.pair.contains(&Some(attempt))) else {
            return false;
        };
        for other in tie.pair.into_iter().flatten().filter(|n| *n != attempt) {
            if attempts.cancel(other)
                && let Some(&(_, replica, _)) = self.launched.iter().find(|(n, ..)| *n == other)
            {
                // It did no work for the shard: a hedge may still go there.
                self.tried.retain(|r| *r != replica);
            }
        }
        true
    }

    /// Whether a slow hint for `attempt` warrants a hedge now: the attempt
    /// is still out, and the leaf gave no time, or one that ends after the
    /// hedge would have gone anyway.
    fn hint_hedges<F: Future>(
        &self,
        attempt: u32,
        expected: Option<Duration>,
        hedge_at: Option<Instant>,
        attempts: &Attempts<F>,
    ) -> bool {
        if !attempts.contains(attempt) {
            return false;
        }
        let sent = self.launched.iter().find(|(n, ..)| *n == attempt);
        match (expected, hedge_at, sent) {
            (Some(expected), Some(hedge_at), Some(&(_, _, sent))) => sent + expected > hedge_at,
            _ => true,
        }
    }

    /// Whether a hedge may go now, and where.
    fn hedge(&mut self, now: Instant) -> Extra {
        let extra = self.extra(AttemptKind::Hedge, now);
        if let Extra::Go(_) = extra {
            self.plan.shard.stats.hedged(now);
        }
        extra
    }

    /// Attempts working for the shard: the ones sent, less tied copies
    /// cancelled before they started.
    fn attempts(&self) -> u32 {
        u32::try_from(self.tried.len()).unwrap_or(u32::MAX)
    }

    /// When to hedge, or `None` when this shard is not hedged.
    /// Whether this request hedges this shard at all: hedging on, and
    /// another replica to go to (with one there is nothing to gain).
    fn hedges(&self) -> bool {
        self.plan.hedging != Hedging::Off
            && self.plan.shard.replicas.len() >= 2
            && self.plan.hedge.max_attempts >= 2
    }

    /// When to hedge after the delay, or `None` when that falls past the
    /// deadline (or the request does not hedge).
    fn hedge_at(&self, now: Instant) -> Option<Instant> {
        let percentile = match self.plan.hedging {
            Hedging::Off => return None,
            Hedging::Configured => None,
            Hedging::Percentile(p) => Some(p),
        };
        let at = now
            + self
                .plan
                .shard
                .stats
                .hedge_delay(self.plan.hedge, percentile);
        (at < self.plan.gather_deadline).then_some(at)
    }

    /// When a hedge refused for now asks again: one hedge delay after the
    /// first refusal, then two, four… (so a shard asks a handful of times
    /// at most while a burst of load lasts); `None` when that falls past
    /// the deadline.
    fn ask_again_at(&mut self, now: Instant) -> Option<Instant> {
        let first = self.hedge_at(now)?;
        let factor = 1u32 << self.put_off.min(MAX_PUT_OFF_DOUBLINGS);
        self.put_off += 1;
        let at = now + (first - now) * factor;
        (at < self.plan.gather_deadline).then_some(at)
    }

    /// Whether one more attempt (hedge or retry) may go now, and where:
    /// attempts left, a replica left (a hedge never goes back to one
    /// already tried), time to answer — else never —, room for more load
    /// (the root not saturated, the replica not queueing) and a token in
    /// the budget — else not now. A refusal is counted once per shard and
    /// request, however often a hedge asks again.
    fn extra(&mut self, kind: AttemptKind, now: Instant) -> Extra {
        let hedge = self.plan.hedge;
        if self.attempts() >= hedge.max_attempts {
            return Extra::Never;
        }
        if kind == AttemptKind::Hedge && self.tried.len() >= self.plan.shard.replicas.len() {
            return Extra::Never;
        }
        if self.plan.gather_deadline.saturating_duration_since(now) < hedge.min_remaining {
            return Extra::Never;
        }
        let Some(replica) = self.pick(kind) else {
            return Extra::Never;
        };
        let stats = &self.plan.shard.stats;
        let replicas = &self.plan.shard.replicas;
        if self.plan.admission.saturated() || replicas[replica].stats.queueing() {
            if !std::mem::replace(&mut self.refused, true) {
                stats.load_refusals.inc();
            }
            return Extra::Later;
        }
        let paid = match kind {
            AttemptKind::Hedge => self.pay_hedge(),
            AttemptKind::First | AttemptKind::Retry | AttemptKind::Tied => {
                self.plan.budget.try_withdraw_retry()
            }
        };
        if !paid {
            if !std::mem::replace(&mut self.refused, true) {
                stats.budget_refusals.inc();
            }
            return Extra::Later;
        }
        Extra::Go(replica)
    }

    /// Takes a token for a hedge from the shard's own budget and the
    /// tree's; both must have one.
    fn pay_hedge(&self) -> bool {
        let own = self.plan.shard.stats.budget(self.plan.hedge);
        if !own.try_withdraw() {
            return false;
        }
        if !self.plan.budget.try_withdraw_hedge() {
            own.refund();
            return false;
        }
        true
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
            attempts: self.sent,
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
