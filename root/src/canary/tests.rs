//! Canary requests through the whole engine ([`Fanout`]) over in-memory
//! leaves, in paused time: every timing below is exact. A leaf "dies" as
//! a real one looks to the root — its call ends in a broken connection —
//! and refuses every later call as a dead process would.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scatter_management::metrics::Registry;
use scatter_proto::v1::{Canary as Asked, Payload, Policy, QueryRequest, QueryResponse};
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::Fanout;
use crate::call_status::local_cause;
use crate::config::RootConfig;
use crate::error::QueryError;
use crate::fanout::LeafCall;
use crate::merge::MergeTarget;
use crate::topology::{Connector, Replica, ReplicaStats, Shard, ShardStats, Topology};

/// How long every leaf takes.
const LEAF_MS: u64 = 10;
/// The body that kills whichever leaf reads it.
const DEADLY: &str = "deadly";
/// The body every leaf refuses as malformed.
const REFUSED: &str = "refused";

/// One call as the leaves saw it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    shard: u32,
    replica: String,
    at_ms: u64,
}

/// An in-memory tree: shard `s` replica `r` at `addr(s, r)`. A call
/// carrying [`DEADLY`] kills its leaf (while `deadly` holds), one carrying
/// a body `slow:MS` takes MS ms, any other answers after [`LEAF_MS`].
#[derive(Clone)]
struct Leaves {
    seen: Arc<Mutex<Vec<Seen>>>,
    dead: Arc<Mutex<HashSet<String>>>,
    deadly: Arc<Mutex<bool>>,
    start: Instant,
}

impl Leaves {
    fn new() -> Self {
        Self {
            seen: Arc::default(),
            dead: Arc::default(),
            deadly: Arc::new(Mutex::new(true)),
            start: Instant::now(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn dead(&self) -> usize {
        self.dead.lock().unwrap().len()
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        LeafCall,
        Response = Payload,
        Error = Status,
        Future = impl Future<Output = Result<Payload, Status>> + Send + use<>,
    > + Clone
    + Send
    + Sync
    + use<> {
        let leaves = self.clone();
        tower::service_fn(move |call: LeafCall| {
            let leaves = leaves.clone();
            async move {
                let addr = call.replica.addr.clone();
                if leaves.dead.lock().unwrap().contains(&addr) {
                    return Err(Status::unavailable(format!("{addr}: connection refused")));
                }
                leaves.seen.lock().unwrap().push(Seen {
                    shard: call.request.shard,
                    replica: addr.clone(),
                    at_ms: ms_since(leaves.start),
                });
                let body = call.request.payload.map(|p| p.body).unwrap_or_default();
                let body = String::from_utf8_lossy(&body).into_owned();
                let ms = body
                    .strip_prefix("slow:")
                    .map_or(LEAF_MS, |ms| ms.parse().unwrap());
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if body == DEADLY && *leaves.deadly.lock().unwrap() {
                    leaves.dead.lock().unwrap().insert(addr);
                    return Err(broken_connection());
                }
                if body == REFUSED {
                    return Err(Status::invalid_argument("cannot read this query"));
                }
                Ok(Payload::new(
                    "text/plain",
                    format!("{}", call.request.shard),
                ))
            }
        })
    }
}

/// What the gRPC leaf call gives for a leaf that died mid-call.
fn broken_connection() -> Status {
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
    let mut status = Status::unknown("transport error");
    status.set_source(Arc::new(reset));
    local_cause(status)
}

fn addr(shard: u32, replica: u32) -> String {
    format!("http://127.0.0.1:{}", 10_000 + shard * 10 + replica)
}

fn ms_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap()
}

/// A fan-out over `shards` × `replicas` in-memory leaves, canary policy
/// `enabled`, hedging off (no second call muddles the counts), the
/// canary settings `tune` makes.
fn fanout(
    leaves: &Leaves,
    shards: u32,
    replicas: u32,
    enabled: bool,
    tune: impl FnOnce(&mut RootConfig),
) -> (Fanout<impl crate::fanout::LeafService>, Registry) {
    let registry = Registry::default();
    let tree: Vec<Shard> = (0..shards)
        .map(|id| Shard {
            id,
            replicas: (0..replicas)
                .map(|r| {
                    let addr = addr(id, r);
                    let channel = Connector::default().endpoint(&addr).unwrap().connect_lazy();
                    Arc::new(Replica {
                        client: Connector::default().leaf_client(channel),
                        stats: ReplicaStats::new(&registry, id, &addr),
                        addr,
                    })
                })
                .collect(),
            stats: Arc::new(ShardStats::new(&registry, id)),
        })
        .collect();
    let mut config = RootConfig {
        shards: (0..shards)
            .map(|s| (0..replicas).map(|r| addr(s, r)).collect())
            .collect(),
        ..RootConfig::default()
    };
    config.hedge.enabled = false;
    config.probation.enabled = false;
    config.admission.adaptive = false;
    config.canary.enabled = enabled;
    tune(&mut config);
    config.validate().unwrap();
    let topology = Arc::new(Topology::of_shards(
        tree,
        Connector::default(),
        registry.clone(),
    ));
    let fanout = Fanout::with_leaf(
        config,
        topology,
        MergeTarget::Concat,
        &registry,
        leaves.service(),
    );
    (fanout, registry)
}

fn request(body: &'static str, policy: Policy) -> QueryRequest {
    QueryRequest {
        payload: Some(Payload::new("text/plain", body)),
        policy: Some(policy),
    }
}

async fn query(
    fanout: &Fanout<impl crate::fanout::LeafService>,
    body: &'static str,
) -> Result<QueryResponse, QueryError> {
    fanout.query(request(body, Policy::default()), None).await
}

fn answered(response: &QueryResponse) -> u32 {
    response.coverage.as_ref().unwrap().answered
}

fn metric(registry: &Registry, series: &str) -> u64 {
    let text = registry.render();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test(start_paused = true)]
async fn a_payload_that_kills_its_canary_leaf_is_not_fanned_out_and_its_twin_is_refused_without_a_leaf_call()
 {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 2, true, |_| {});

    let error = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error}");
    let seen = leaves.seen();
    assert_eq!(seen.len(), 1, "one leaf only, no retry: {seen:?}");
    assert_eq!(leaves.dead(), 1);
    let message = error.to_string();
    for part in [
        "payload content ",
        "query of death",
        &format!("shard {}", seen[0].shard),
        &seen[0].replica,
        "connection broke",
        "sent to no other shard",
        "300.0 s more",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }

    tokio::time::advance(Duration::from_secs(60)).await;
    let again = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.to_string().contains("240.0 s more"), "{again}");
    assert!(again.to_string().contains("60.0 s ago"), "{again}");
    assert_eq!(leaves.calls(), 1, "refused without touching a leaf");
    assert_eq!(
        metric(
            &registry,
            r#"scatter_root_canary_outcomes_total{outcome="killed"}"#
        ),
        1
    );
    assert_eq!(metric(&registry, "scatter_root_canary_refusals_total"), 1);
    assert_eq!(fanout.engine().canary.quarantined(), 1);

    let other = query(&fanout, "benign").await.unwrap();
    assert_eq!(
        answered(&other),
        3,
        "other payloads still reach every shard"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unseen_benign_payload_costs_one_canary_round_trip_then_fans_out_and_is_seen_after() {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 1, true, |_| {});

    let response = query(&fanout, "benign").await.unwrap();
    assert_eq!(answered(&response), 3);
    let seen = leaves.seen();
    assert_eq!(
        seen.len(),
        3,
        "the canary's shard is not asked again: {seen:?}"
    );
    assert_eq!(seen[0].at_ms, 0, "the canary alone first");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.at_ms == LEAF_MS && s.shard != seen[0].shard),
        "the other shards once it answered: {seen:?}"
    );
    assert_eq!(ms_since(leaves.start), 2 * LEAF_MS, "one extra round trip");

    let start = ms_since(leaves.start);
    let response = query(&fanout, "benign").await.unwrap();
    assert_eq!(answered(&response), 3);
    let seen = leaves.seen();
    assert!(
        seen[3..].iter().all(|s| s.at_ms == start),
        "seen: every shard at once: {seen:?}"
    );
    assert_eq!(metric(&registry, "scatter_root_canaries_sent_total"), 1);
    assert_eq!(
        metric(
            &registry,
            r#"scatter_root_canary_outcomes_total{outcome="passed"}"#
        ),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_canary_slower_than_the_timeout_is_not_waited_for_past_it_and_is_remembered_when_it_answers()
 {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 1, true, |_| {});

    let response = query(&fanout, "slow:300").await.unwrap();
    assert_eq!(answered(&response), 3);
    let seen = leaves.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[1..].iter().all(|s| s.at_ms == 100),
        "fanned out at the 100 ms canary timeout: {seen:?}"
    );
    assert_eq!(ms_since(leaves.start), 400);
    assert_eq!(metric(&registry, "scatter_root_canaries_slow_total"), 1);

    let start = ms_since(leaves.start);
    query(&fanout, "slow:300").await.unwrap();
    assert!(
        leaves.seen()[3..].iter().all(|s| s.at_ms == start),
        "the slow canary answered: seen"
    );
}

#[tokio::test(start_paused = true)]
async fn a_quarantine_ends_after_its_period_and_the_payload_is_canaried_again() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 1, true, |config| {
        config.canary.quarantine = Duration::from_secs(30);
    });
    query(&fanout, DEADLY).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(30) - Duration::from_millis(1)).await;
    let error = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(leaves.calls(), 1);

    // The leaves were fixed meanwhile: the payload is no longer deadly.
    *leaves.deadly.lock().unwrap() = false;
    tokio::time::advance(Duration::from_millis(1)).await;
    let response = query(&fanout, DEADLY).await.unwrap();
    // The canary went to the shard it chose before, whose leaf is still
    // dead (a refused connection: no death of this payload's doing); then
    // the other shard was asked.
    assert_eq!(answered(&response), 1, "the killed leaf stays dead");
    assert_eq!(leaves.calls(), 2);
    assert_eq!(fanout.engine().canary.quarantined(), 0);
}

#[tokio::test(start_paused = true)]
async fn memory_is_bounded_the_oldest_seen_is_forgotten_first_and_a_flood_of_seen_keeps_the_quarantine()
 {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 2, true, |config| {
        config.canary.max_fingerprints = 2;
    });
    query(&fanout, DEADLY).await.unwrap_err();
    for body in ["a", "b", "c"] {
        query(&fanout, body).await.unwrap();
    }
    assert_eq!(fanout.engine().canary.memory.seen_len(), 2);
    let calls = leaves.calls();
    query(&fanout, "c").await.unwrap();
    assert_eq!(
        leaves.calls() - calls,
        2,
        "c is seen: straight to both shards"
    );
    let start = ms_since(leaves.start);
    query(&fanout, "a").await.unwrap();
    let seen = leaves.seen();
    assert_eq!(
        seen[seen.len() - 1].at_ms,
        start + LEAF_MS,
        "a was forgotten: canaried again"
    );
    let error = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "still quarantined");
}

#[tokio::test(start_paused = true)]
async fn a_request_may_ask_for_a_canary_always_or_never_whatever_the_policy() {
    let leaves = Leaves::new();
    let (off, _) = fanout(&leaves, 2, 1, false, |_| {});
    let always = || Policy {
        canary: Asked::Always as i32,
        ..Policy::default()
    };
    for _ in 0..2 {
        let start = ms_since(leaves.start);
        off.query(request("q", always()), None).await.unwrap();
        let seen = leaves.seen();
        assert_eq!(
            seen[seen.len() - 1].at_ms,
            start + LEAF_MS,
            "canaried, seen or not: {seen:?}"
        );
    }
    let start = ms_since(leaves.start);
    query(&off, "unseen").await.unwrap();
    assert!(
        leaves.seen().iter().rev().take(2).all(|s| s.at_ms == start),
        "the policy off: no canary"
    );

    let (on, _) = fanout(&leaves, 2, 1, true, |_| {});
    let never = Policy {
        canary: Asked::Never as i32,
        ..Policy::default()
    };
    let start = ms_since(leaves.start);
    on.query(request("fresh", never.clone()), None)
        .await
        .unwrap();
    assert!(
        leaves.seen().iter().rev().take(2).all(|s| s.at_ms == start),
        "never: no canary"
    );

    // A killer found by an asked-for canary is refused to every request.
    let calls = leaves.calls();
    off.query(request(DEADLY, always()), None)
        .await
        .unwrap_err();
    assert_eq!(leaves.calls(), calls + 1);
    let error = query(&off, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(leaves.calls(), calls + 1);
    let never = Policy {
        canary: Asked::Never as i32,
        ..Policy::default()
    };
    let error = off.query(request(DEADLY, never), None).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(leaves.calls(), calls + 1, "never still refused");
}

#[tokio::test(start_paused = true)]
async fn a_client_fingerprint_names_the_kind_so_one_killer_quarantines_its_siblings() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 1, true, |_| {});
    let kind = || Policy {
        fingerprint: "report-by-region".into(),
        ..Policy::default()
    };
    fanout
        .query(request(DEADLY, kind()), None)
        .await
        .unwrap_err();
    let error = fanout
        .query(request("another region", kind()), None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        error.to_string().contains("payload \"report-by-region\""),
        "{error}"
    );
    assert_eq!(leaves.calls(), 1);

    let long = Policy {
        fingerprint: "x".repeat(300),
        ..Policy::default()
    };
    let error = fanout.query(request("q", long), None).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error}");
    assert_eq!(leaves.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leaf_refusing_the_canary_is_no_death_the_request_goes_on_and_the_next_canaries_again() {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 1, true, |_| {});
    let error = query(&fanout, REFUSED).await.unwrap_err();
    assert_eq!(
        error.code(),
        Code::InvalidArgument,
        "as without a canary: {error}"
    );
    assert_eq!(leaves.calls(), 3, "the other shards were asked");
    assert_eq!(leaves.dead(), 0);
    let start = ms_since(leaves.start);
    query(&fanout, REFUSED).await.unwrap_err();
    let seen = leaves.seen();
    assert_eq!(seen[4].at_ms, start + LEAF_MS, "canaried again: {seen:?}");
    assert_eq!(
        metric(
            &registry,
            r#"scatter_root_canary_outcomes_total{outcome="inconclusive"}"#
        ),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_canary_whose_replica_is_already_down_is_retried_on_its_sibling_and_passes() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 2, true, |_| {});
    // Both shards' replica 0 is down before the request: a refused
    // connection is not this payload's doing.
    for shard in 0..2 {
        leaves.dead.lock().unwrap().insert(addr(shard, 0));
    }
    let response = query(&fanout, "benign").await.unwrap();
    assert_eq!(answered(&response), 2);
    let start = ms_since(leaves.start);
    query(&fanout, "benign").await.unwrap();
    assert!(
        leaves.seen().iter().rev().take(2).all(|s| s.at_ms == start),
        "it passed: seen"
    );
}

#[tokio::test(start_paused = true)]
async fn identical_requests_arriving_while_a_canary_is_out_wait_for_it_so_a_burst_of_a_killer_costs_one_leaf()
 {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 3, 2, true, |_| {});
    let burst = (0..5).map(|_| query(&fanout, DEADLY));
    let results = futures::future::join_all(burst).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap_err().code() == Code::FailedPrecondition),
        "every one refused"
    );
    assert_eq!((leaves.calls(), leaves.dead()), (1, 1));

    let burst = (0..5).map(|_| query(&fanout, "benign"));
    let results = futures::future::join_all(burst).await;
    assert!(results.iter().all(|r| answered(r.as_ref().unwrap()) == 3));
    assert_eq!(
        leaves.calls(),
        1 + (1 + 2 + 4 * 3),
        "the killer's canary; one canary, then its request's two other shards and four fan-outs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_for_a_canary_whose_request_went_away_sends_its_own() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 1, true, |_| {});
    let first = tokio::time::timeout(Duration::from_millis(5), query(&fanout, "slow:50"));
    let second = async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        query(&fanout, "slow:50").await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(first.is_err(), "the first request was dropped at 5 ms");
    assert_eq!(answered(&second.unwrap()), 2);
    let at: Vec<u64> = leaves.seen().iter().map(|s| s.at_ms).collect();
    assert_eq!(
        at,
        vec![0, 5, 55],
        "its own canary at 5 ms, then the other shard"
    );
}
