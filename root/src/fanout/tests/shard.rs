//! One shard's attempts, driven by an in-memory leaf in paused time: every
//! timing below is exact, with no wall clock and no margins.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scatter_management::metrics::Registry;
use scatter_management::trace::{Spans, TraceContext};
use scatter_proto::v1::{LoadReport, Payload};
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::admission::{Admission, Class};
use crate::config::{AdmissionConfig, HedgeConfig, ProbationConfig};
use crate::fanout::event::{Missing, ShardEnd};
use crate::fanout::leaf_call::LeafCall;
use crate::fanout::listen::News;
use crate::fanout::observe::ObserveLayer;
use crate::fanout::request_id::RequestId;
use crate::fanout::shard::{self, Hedging, ShardOutcome, ShardPlan};
use crate::topology::HedgeBudget;
use crate::topology::{Connector, Replica, ReplicaStats, Shard, ShardStats};

/// What one replica does with every call: wait, then answer or fail.
#[derive(Clone, Copy)]
pub(super) enum Behaviour {
    Answer(u64),
    Fail(u64, Code),
    /// Say at once the call will be slow (taking this long, when given),
    /// then answer after the first number of ms.
    Hint(u64, Option<u64>),
    /// Wait this long in the leaf's queue (not started), say so when asked
    /// (a tied call), then work this long and answer.
    Queue(u64, u64),
}

/// One call as the leaf saw it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Seen {
    pub replica: String,
    pub attempt: u32,
    pub at_ms: u64,
    /// `None` while running; `Some(true)` answered, `Some(false)` cancelled.
    pub completed: Option<bool>,
    /// When work on it began at the leaf (left its queue); `None` never.
    pub started_ms: Option<u64>,
    /// When it answered, failed or was cancelled.
    pub ended_ms: Option<u64>,
}

/// An in-memory tree of one shard: replicas `r0`, `r1`, ... and a log of
/// every call they received.
#[derive(Clone)]
pub(super) struct Leaves {
    behaviour: Arc<HashMap<String, Behaviour>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    start: Instant,
}

impl Leaves {
    pub(super) fn new(behaviours: &[Behaviour]) -> Self {
        Self {
            behaviour: Arc::new(
                behaviours
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (addr(i), *b))
                    .collect(),
            ),
            seen: Arc::default(),
            start: Instant::now(),
        }
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        LeafCall,
        Response = Payload,
        Error = Status,
        Future = impl Future<Output = Result<Payload, Status>> + Send + use<>,
    > + Clone
    + use<> {
        let leaves = self.clone();
        tower::service_fn(move |call: LeafCall| {
            let leaves = leaves.clone();
            async move {
                let behaviour = leaves.behaviour[&call.replica.addr];
                let index = {
                    let mut seen = leaves.seen.lock().unwrap();
                    seen.push(Seen {
                        replica: call.replica.addr.clone(),
                        attempt: call.request.attempt,
                        at_ms: ms_since(leaves.start),
                        completed: None,
                        started_ms: None,
                        ended_ms: None,
                    });
                    seen.len() - 1
                };
                let mut guard = Cancelled {
                    seen: Arc::clone(&leaves.seen),
                    index,
                    start: leaves.start,
                    done: false,
                };
                let start = |leaves: &Leaves| {
                    leaves.seen.lock().unwrap()[index].started_ms = Some(ms_since(leaves.start));
                };
                if !matches!(behaviour, Behaviour::Queue(..)) {
                    start(&leaves);
                }
                let result = match behaviour {
                    Behaviour::Hint(ms, expected) => {
                        if let Some(listener) = &call.listener {
                            listener.hear(News::Slow {
                                expected: expected.map(Duration::from_millis),
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok(Payload::new("text/plain", call.replica.addr.clone()))
                    }
                    Behaviour::Queue(wait, work) => {
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                        start(&leaves);
                        if let Some(listener) = call.listener.as_ref().filter(|l| l.report_start())
                        {
                            listener.hear(News::Started);
                        }
                        tokio::time::sleep(Duration::from_millis(work)).await;
                        Ok(Payload::new("text/plain", call.replica.addr.clone()))
                    }
                    Behaviour::Answer(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok(Payload::new("text/plain", call.replica.addr.clone()))
                    }
                    Behaviour::Fail(ms, code) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Err(Status::new(code, format!("{} says no", call.replica.addr)))
                    }
                };
                guard.done = true;
                let mut seen = leaves.seen.lock().unwrap();
                seen[index].completed = Some(true);
                seen[index].ended_ms = Some(ms_since(leaves.start));
                drop(seen);
                result
            }
        })
    }
}

/// Marks a call cancelled when the root drops it before it ends.
struct Cancelled {
    seen: Arc<Mutex<Vec<Seen>>>,
    index: usize,
    start: Instant,
    done: bool,
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if !self.done {
            let mut seen = self.seen.lock().unwrap();
            seen[self.index].completed = Some(false);
            seen[self.index].ended_ms = Some(ms_since(self.start));
        }
    }
}

pub(super) fn addr(i: usize) -> String {
    format!("http://127.0.0.1:{}", 9 + i)
}

fn ms_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap()
}

fn shard(replicas: usize, registry: &Registry) -> Shard {
    Shard {
        id: 0,
        replicas: (0..replicas)
            .map(|i| {
                let addr = addr(i);
                let channel = Connector::default().endpoint(&addr).unwrap().connect_lazy();
                Arc::new(Replica {
                    client: Connector::default().leaf_client(channel),
                    stats: ReplicaStats::new(registry, 0, &addr),
                    addr,
                })
            })
            .collect(),
        stats: Arc::new(ShardStats::new(registry, 0)),
    }
}

/// The settings every test starts from: hedge after a fixed 20 ms, no
/// probation (it would need history), a full budget.
pub(super) struct World {
    pub shard: Shard,
    pub hedge: HedgeConfig,
    probation: ProbationConfig,
    pub budget: HedgeBudget,
    admission: Admission,
    payload: Payload,
    deadline_ms: u64,
    pub hints: bool,
    pub tied: Option<Duration>,
}

impl World {
    pub(super) fn new(replicas: usize) -> Self {
        Self {
            shard: shard(replicas, &Registry::default()),
            hedge: HedgeConfig {
                fixed_delay: Some(Duration::from_millis(20)),
                ..HedgeConfig::default()
            },
            probation: ProbationConfig {
                enabled: false,
                ..ProbationConfig::default()
            },
            budget: HedgeBudget::new(0.05, 100.0),
            admission: Admission::new(&AdmissionConfig::default(), 1024, &Registry::default()),
            payload: Payload::new("text/plain", "query"),
            deadline_ms: 1000,
            hints: false,
            tied: None,
        }
    }

    /// Makes `replica` look faster than its sibling, so the first attempt
    /// goes to it (choice is random between fresh replicas).
    pub(super) fn make_first_choice(&self, replica: usize) {
        for (i, r) in self.shard.replicas.iter().enumerate() {
            let ms = if i == replica { 1 } else { 50 };
            r.stats.observe(Some(Duration::from_millis(ms)));
        }
    }

    pub(super) async fn run(&self, leaves: &Leaves) -> (ShardOutcome, u64) {
        let request_id = RequestId::new(7, None, TraceContext::start(), Spans::default());
        let plan = ShardPlan {
            shard: &self.shard,
            shard_count: 1,
            payload: &self.payload,
            request_id: &request_id,
            gather_deadline: leaves.start + Duration::from_millis(self.deadline_ms),
            hedging: Hedging::Configured,
            hints: self.hints,
            tied: self.tied,
            hedge: &self.hedge,
            probation: &self.probation,
            budget: &self.budget,
            admission: &self.admission,
            broken_retried: &AtomicBool::new(false),
        };
        let service = tower::ServiceBuilder::new()
            .layer(ObserveLayer)
            .service(leaves.service());
        let outcome = shard::run(plan, 0, service).await;
        (outcome, ms_since(leaves.start))
    }
}

fn failed(outcome: &ShardOutcome) -> &Missing {
    match &outcome.end {
        ShardEnd::Failed(missing) => missing,
        other => panic!("the shard did not fail: {other:?}"),
    }
}

/// Makes `replica` look queueing: two calls in flight, and slower of late
/// than its trend.
pub(super) fn make_queueing(replica: &ReplicaStats) {
    for _ in 0..20 {
        replica.observe(Some(Duration::from_millis(400)));
    }
    replica.started();
    replica.started();
    assert!(replica.queueing());
}

pub(super) fn answered_by(outcome: &ShardOutcome) -> (String, u32) {
    assert!(
        matches!(outcome.end, ShardEnd::Answered),
        "{:?}",
        outcome.end
    );
    let answer = outcome.answer.as_ref().expect("a partial");
    (answer.replica.addr.clone(), answer.attempt)
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_attempt_is_hedged_after_the_delay_and_the_loser_is_cancelled() {
    let world = World::new(2);
    let leaves = Leaves::new(&[Behaviour::Answer(500), Behaviour::Answer(5)]);
    world.make_first_choice(0);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 1), "the hedge answered");
    assert_eq!(at, 25, "hedged at 20 ms, answered 5 ms later");
    let seen = leaves.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[1].replica.as_str(), seen[1].at_ms),
        (addr(1).as_str(), 20)
    );
    assert_eq!(
        seen[0].completed,
        Some(false),
        "the slow first call is cancelled"
    );
    let counters = &world.shard.replicas[1].stats.counters;
    assert_eq!((counters.hedges.get(), counters.hedges_won.get()), (1, 1));
    assert_eq!(
        world.shard.replicas[0].stats.counters.cancellations.get(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_faster_error_from_the_hedge_does_not_win_over_a_slower_success() {
    let world = World::new(2);
    let leaves = Leaves::new(&[Behaviour::Answer(50), Behaviour::Fail(5, Code::Internal)]);
    world.make_first_choice(0);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(0), 0));
    assert_eq!(at, 50);
    assert_eq!(
        leaves.seen().len(),
        2,
        "the hedge went out and failed at 25 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_sends_no_hedge_and_counts_the_refusal() {
    let mut world = World::new(2);
    world.budget = HedgeBudget::new(0.0, 1.0);
    assert!(world.budget.try_withdraw_retry(), "spend the only token");
    let leaves = Leaves::new(&[Behaviour::Answer(80), Behaviour::Answer(80)]);
    let (outcome, at) = world.run(&leaves).await;
    assert!(matches!(outcome.end, ShardEnd::Answered));
    assert_eq!(at, 80, "no hedge: the first attempt's answer");
    assert_eq!(leaves.seen().len(), 1);
    assert_eq!(world.shard.stats.budget_refusals.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_hedge_goes_out_too_close_to_the_deadline() {
    let mut world = World::new(2);
    world.hedge.fixed_delay = Some(Duration::from_millis(29));
    world.hedge.min_remaining = Duration::from_millis(2);
    world.deadline_ms = 30;
    let leaves = Leaves::new(&[Behaviour::Answer(100), Behaviour::Answer(100)]);
    let (outcome, at) = world.run(&leaves).await;
    assert!(
        matches!(outcome.end, ShardEnd::TimedOut(_)),
        "{:?}",
        outcome.end
    );
    assert_eq!(at, 30);
    assert_eq!(
        leaves.seen().len(),
        1,
        "1 ms left at the hedge delay: no hedge"
    );
}

#[tokio::test(start_paused = true)]
async fn unavailable_is_retried_on_the_sibling_at_once() {
    let world = World::new(2);
    let leaves = Leaves::new(&[
        Behaviour::Fail(0, Code::Unavailable),
        Behaviour::Fail(0, Code::Unavailable),
    ]);
    let (outcome, at) = world.run(&leaves).await;
    let missing = failed(&outcome);
    assert_eq!((missing.code, missing.attempts), (Code::Unavailable, 2));
    assert_eq!(
        at, 0,
        "the retry went out at once, not after the hedge delay"
    );
    let seen = leaves.seen();
    assert_ne!(
        seen[0].replica, seen[1].replica,
        "the retry went to the sibling"
    );
    assert_eq!(
        world
            .shard
            .replicas
            .iter()
            .map(|r| r.stats.counters.retries.get())
            .sum::<u64>(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_retried_shard_is_answered_by_the_sibling() {
    let world = World::new(2);
    let leaves = Leaves::new(&[Behaviour::Fail(1, Code::Unavailable), Behaviour::Answer(3)]);
    world.make_first_choice(0);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 1));
    assert_eq!(at, 4);
}

#[tokio::test(start_paused = true)]
async fn invalid_argument_is_not_retried() {
    let world = World::new(2);
    let leaves = Leaves::new(&[
        Behaviour::Fail(1, Code::InvalidArgument),
        Behaviour::Fail(1, Code::InvalidArgument),
    ]);
    let (outcome, at) = world.run(&leaves).await;
    let missing = failed(&outcome);
    assert_eq!((missing.code, missing.attempts), (Code::InvalidArgument, 1));
    assert!(missing.message.contains("says no"), "{}", missing.message);
    assert_eq!(at, 1);
    assert_eq!(leaves.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_shard_as_timed_out_and_cancels_every_attempt() {
    let mut world = World::new(2);
    world.deadline_ms = 100;
    let leaves = Leaves::new(&[Behaviour::Answer(500), Behaviour::Answer(500)]);
    let (outcome, at) = world.run(&leaves).await;
    let ShardEnd::TimedOut(missing) = &outcome.end else {
        panic!("{:?}", outcome.end);
    };
    assert_eq!(
        (missing.code, missing.attempts),
        (Code::DeadlineExceeded, 2)
    );
    assert_eq!(at, 100, "ended exactly at the gather deadline");
    // The shard future is gone: both calls were dropped, which cancels them.
    assert!(leaves.seen().iter().all(|s| s.completed == Some(false)));
}

#[tokio::test(start_paused = true)]
async fn a_shard_without_replicas_is_skipped_without_a_call() {
    let world = World::new(0);
    let leaves = Leaves::new(&[]);
    let (outcome, at) = world.run(&leaves).await;
    assert!(matches!(outcome.end, ShardEnd::Skipped(_)));
    assert_eq!(at, 0);
}

#[tokio::test(start_paused = true)]
async fn a_saturated_root_sends_no_hedge_and_counts_it_apart_from_the_budget() {
    let world = World::new(2);
    // Fill the root's admission up to where normal priority is shed.
    let held: Vec<_> = std::iter::from_fn(|| {
        world
            .admission
            .admit(Class::Normal, Duration::from_secs(1))
            .ok()
    })
    .take(2000)
    .collect();
    assert!(!held.is_empty() && world.admission.saturated());
    let leaves = Leaves::new(&[Behaviour::Answer(80), Behaviour::Answer(5)]);
    world.make_first_choice(0);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(0), 0));
    assert_eq!(
        at, 80,
        "no hedge while saturated: the first attempt's answer"
    );
    assert_eq!(leaves.seen().len(), 1);
    assert_eq!(world.shard.stats.load_refusals.get(), 1);
    assert_eq!(world.shard.stats.budget_refusals.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_hedge_goes_to_a_replica_that_is_queueing() {
    let world = World::new(2);
    world.make_first_choice(0);
    make_queueing(&world.shard.replicas[1].stats);
    let leaves = Leaves::new(&[Behaviour::Answer(80), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(0), 0));
    assert_eq!(at, 80);
    assert_eq!(world.shard.stats.load_refusals.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leaf_saying_calls_wait_there_gets_no_hedge_though_its_latency_looks_calm() {
    let world = World::new(2);
    world.make_first_choice(0);
    let waiting = LoadReport {
        in_flight: 1,
        queued: 3,
    };
    world.shard.replicas[1]
        .stats
        .reports
        .record(&waiting, Instant::now());
    assert!(world.shard.replicas[1].stats.queueing());
    let leaves = Leaves::new(&[Behaviour::Answer(80), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(0), 0));
    assert_eq!(at, 80, "no hedge joined the leaf's queue");
    assert_eq!(world.shard.stats.load_refusals.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leaf_saying_no_call_waits_is_hedged_to_after_a_straggler_raised_its_latency() {
    let world = World::new(2);
    world.make_first_choice(0);
    // A straggler or two made replica 1 look slow of late, with calls out
    // there — but its leaf says nothing waits: they were slow, not queued.
    let sibling = &world.shard.replicas[1].stats;
    for _ in 0..20 {
        sibling.observe(Some(Duration::from_millis(400)));
    }
    sibling.started();
    sibling.started();
    let calm = LoadReport {
        in_flight: 2,
        queued: 0,
    };
    sibling.reports.record(&calm, Instant::now());
    assert!(!sibling.queueing());
    let leaves = Leaves::new(&[Behaviour::Answer(80), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 1), "the hedge won");
    assert!(at < 80, "answered by the hedge at {at} ms");
    assert_eq!(world.shard.stats.load_refusals.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_leaf_at_its_cap_is_retried_on_the_sibling_at_once_and_counted() {
    let world = World::new(2);
    world.make_first_choice(0);
    let leaves = Leaves::new(&[
        Behaviour::Fail(0, Code::ResourceExhausted),
        Behaviour::Answer(3),
    ]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 1));
    assert_eq!(at, 3, "retried at once, not after the hedge delay");
    assert_eq!(world.shard.replicas[0].stats.counters.refusals.get(), 1);
    assert_eq!(world.shard.replicas[1].stats.counters.retries.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_draining_replica_gets_no_call_not_even_a_hedge() {
    let world = World::new(2);
    // r0 looks faster, so without its NOT_SERVING it would get the call.
    world.make_first_choice(0);
    world.shard.replicas[0].stats.health.set_takes_work(false);
    let leaves = Leaves::new(&[Behaviour::Answer(5), Behaviour::Answer(50)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 0));
    assert_eq!(at, 50, "no hedge went to the draining replica");
    assert!(leaves.seen().iter().all(|s| s.replica == addr(1)));
}

#[tokio::test(start_paused = true)]
async fn a_shard_whose_every_replica_drains_is_skipped_saying_so() {
    let world = World::new(2);
    for replica in &world.shard.replicas {
        replica.stats.health.set_takes_work(false);
    }
    let leaves = Leaves::new(&[Behaviour::Answer(5), Behaviour::Answer(5)]);
    let (outcome, _) = world.run(&leaves).await;
    let ShardEnd::Skipped(missing) = &outcome.end else {
        panic!("not skipped: {:?}", outcome.end);
    };
    assert_eq!(missing.code, Code::Unavailable);
    assert!(
        missing
            .message
            .contains("every replica of this shard is draining")
            && missing.message.contains(&addr(0))
            && missing.message.contains(&addr(1)),
        "{}",
        missing.message
    );
    assert!(leaves.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_replica_back_to_serving_takes_calls_again() {
    let world = World::new(2);
    world.make_first_choice(0);
    let r0 = &world.shard.replicas[0].stats.health;
    r0.set_takes_work(false);
    r0.set_takes_work(true);
    let leaves = Leaves::new(&[Behaviour::Answer(5), Behaviour::Answer(50)]);
    let (outcome, _) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(0), 0));
}
