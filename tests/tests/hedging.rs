//! Tail tolerance across real processes, where only the wire can show it: a
//! slow replica is hedged to its sibling and the loser's cancellation
//! reaches the leaf, a leaf's UNAVAILABLE is retried on its sibling, a
//! leaf's INVALID_ARGUMENT reaches the client unretried, a leaf's slow hint
//! crosses `Leaf/AnswerStream` and is hedged at once, a tied call routes
//! around a frozen leaf, and a leaf without `AnswerStream` is still called. The timing rules
//! (hedge delay, a faster error against a slower success, the budget, no
//! hedge too close to the deadline) are tested in paused time on one
//! shard's future, in `root/src/fanout/tests/shard.rs`.
//!
//! A fresh root has no latency history, so its first attempt for a shard
//! goes to replica 0 (ties go to the lower index); the tests script replica 0
//! as the troubled one. Hedge delays are fixed so timing is not learnt.

use std::time::{Duration, Instant};

use futures::future::join_all;
use nix::sys::signal::Signal;
use scatter_tests::root::coverage;
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, MergedResult, Query, Root, Script, Server};
use tonic::Code;

const CANCELLED: &str = r#"scatter_leaf_calls_total{outcome="cancelled"}"#;
const LEAF_CALLS_OK: &str = r#"scatter_leaf_calls_total{outcome="ok"}"#;
const LEAF_CALLS_ERR: &str = r#"scatter_leaf_calls_total{outcome="error"}"#;

/// One shard served by two test leaves (replica 0 and 1), a test merge,
/// and a root over them with `flags`.
struct Pair {
    leaves: Vec<Server>,
    root: Root,
    _merge: Server,
}

impl Pair {
    async fn start(flags: &[&str]) -> Self {
        Self::start_with(&[], flags).await
    }

    /// The pair with `leaf_flags` given to both leaves.
    async fn start_with(leaf_flags: &[&str], flags: &[&str]) -> Self {
        let replicas = (0..2).map(|replica| LeafFlags {
            replica,
            extra: leaf_flags.iter().map(|f| (*f).to_owned()).collect(),
            ..LeafFlags::new(0, 1)
        });
        let (leaves, merge) = tokio::join!(join_all(replicas.map(LeafFlags::start)), test_merge());
        let shard = format!("{},{}", leaves[0].addr(), leaves[1].addr());
        let root = Root::start(&[shard], &merge.uri(), flags).await;
        Self {
            leaves,
            root,
            _merge: merge,
        }
    }

    /// A root counter for replica `index` of shard 0.
    async fn root_counter(&self, name: &str, index: usize) -> f64 {
        let series = format!(
            r#"{name}{{shard="0",replica="{}"}}"#,
            self.leaves[index].uri()
        );
        self.root.server.metric(&series).await.unwrap_or(0.0)
    }
}

/// Who answered shard 0: (replica, attempt).
fn answered_by(result: &MergedResult) -> (u64, u64) {
    let partial = &result.partials[0].partial;
    (
        partial["replica"].as_u64().expect("a replica"),
        partial["attempt"].as_u64().expect("an attempt"),
    )
}

#[tokio::test]
async fn slow_replica_is_hedged_to_its_sibling_whose_answer_is_used_and_the_slow_call_is_cancelled()
{
    let pair = Pair::start(&["--hedge-delay-ms", "50", "--probation", "off"]).await;
    let query = Query::script(&Script::new().delay("0.0", 5_000)).deadline(Duration::from_secs(3));

    let started = Instant::now();
    let response = pair.root.query(query).await.expect("an answer");
    let took = started.elapsed();

    assert!(
        took < Duration::from_secs(1),
        "the hedge should answer long before 5 s: {took:?}"
    );
    let c = coverage(&response);
    assert_eq!((c.total, c.answered), (1, 1), "{c:?}");
    let result = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(
        answered_by(&result),
        (1, 1),
        "replica 1's hedge (attempt 1) answered"
    );
    pair.leaves[0]
        .wait_metric(CANCELLED, 1.0, Duration::from_secs(2))
        .await;
    assert_eq!(pair.root_counter("scatter_root_hedges_total", 1).await, 1.0);
    assert_eq!(
        pair.root_counter("scatter_root_hedges_won_total", 1).await,
        1.0
    );
}

#[tokio::test]
async fn unavailable_replica_is_retried_on_its_sibling_at_once() {
    // A hedge delay far beyond the deadline: only a retry can explain an answer.
    let pair = Pair::start(&["--hedge-delay-ms", "10000", "--probation", "off"]).await;
    let script = Script::new().fail("0.0", "unavailable", "replica 0 is going away");
    let started = Instant::now();
    let response = pair
        .root
        .query(Query::script(&script).deadline(Duration::from_secs(2)))
        .await
        .expect("an answer");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(coverage(&response).answered, 1);
    let result = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(answered_by(&result), (1, 1));
    assert_eq!(
        pair.root_counter("scatter_root_retries_total", 1).await,
        1.0
    );
    let errors = format!(
        r#"scatter_root_leaf_errors_total{{shard="0",replica="{}",code="Unavailable"}}"#,
        pair.leaves[0].uri()
    );
    assert_eq!(
        pair.root.server.metric(&errors).await,
        Some(1.0),
        "{errors}"
    );
}

#[tokio::test]
async fn invalid_argument_is_not_retried() {
    let pair = Pair::start(&["--hedge-delay-ms", "10000", "--probation", "off"]).await;
    let script = Script::new().fail("0.0", "invalid_argument", "no such field: colour");
    let status = pair
        .root
        .query(Query::script(&script).deadline(Duration::from_secs(2)))
        .await
        .expect_err("the only shard refused the request");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("no such field: colour"),
        "{status:?}"
    );
    assert_eq!(
        pair.leaves[1].metric(LEAF_CALLS_OK).await.unwrap_or(0.0),
        0.0
    );
    assert_eq!(
        pair.leaves[1].metric(LEAF_CALLS_ERR).await.unwrap_or(0.0),
        0.0
    );
    assert_eq!(
        pair.root_counter("scatter_root_retries_total", 1).await,
        0.0
    );
}

#[tokio::test]
async fn a_leaf_that_says_its_call_will_be_slow_is_hedged_at_once() {
    // A hedge delay beyond the deadline: only the hint can explain a hedge.
    let pair = Pair::start(&[
        "--hints",
        "on",
        "--hedge-delay-ms",
        "60000",
        "--probation",
        "off",
    ])
    .await;
    let script = Script::new().slow_hint("0.0", 0).delay("0.0", 30_000);
    let response = pair
        .root
        .query(Query::script(&script).deadline(Duration::from_secs(10)))
        .await
        .expect("the hedge answered before the deadline");
    let result = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(answered_by(&result), (1, 1), "replica 1's hedge answered");
    assert_eq!(pair.root_counter("scatter_root_hedges_total", 1).await, 1.0);
    pair.leaves[0]
        .wait_metric(CANCELLED, 1.0, Duration::from_secs(2))
        .await;
}

#[tokio::test]
async fn a_tied_call_routes_around_a_frozen_leaf() {
    // No hedging at all: only the tied copy can answer for a frozen leaf.
    let pair = Pair::start(&[
        "--hedge",
        "off",
        "--tied-delay-ms",
        "1",
        "--probation",
        "off",
    ])
    .await;
    pair.leaves[0].process.signal(Signal::SIGSTOP);
    let answer = pair
        .root
        .query(Query::script(&Script::new()).deadline(Duration::from_secs(10)))
        .await;
    pair.leaves[0].process.signal(Signal::SIGCONT);
    let response = answer.expect("the tied copy answered while replica 0 was frozen");
    let result = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(
        answered_by(&result),
        (1, 1),
        "the copy (attempt 1) answered"
    );
    assert_eq!(pair.root_counter("scatter_root_tied_total", 1).await, 1.0);
    assert_eq!(
        pair.root_counter("scatter_root_cancellations_total", 0)
            .await,
        1.0,
        "the frozen leaf's call was cancelled when the copy started"
    );
}

#[tokio::test]
async fn a_leaf_without_answer_stream_is_called_with_answer_and_no_longer_tied_once_known() {
    let pair = Pair::start_with(
        &["--unary-only"],
        &[
            "--hints",
            "on",
            "--tied-delay-ms",
            "1",
            "--probation",
            "off",
        ],
    )
    .await;
    let query = || Query::script(&Script::new()).deadline(Duration::from_secs(5));
    let tied = async || {
        pair.root_counter("scatter_root_tied_total", 0).await
            + pair.root_counter("scatter_root_tied_total", 1).await
    };
    // Until a replica has answered UNIMPLEMENTED once, the root cannot know
    // it will not say when its calls start: a first call may be tied.
    for _ in 0..5 {
        let response = pair.root.query(query()).await.expect("answered");
        assert_eq!(coverage(&response).answered, 1);
    }
    let learnt = tied().await;
    assert!(
        learnt <= 2.0,
        "at most one tie per replica while learning: {learnt}"
    );
    for _ in 0..10 {
        let response = pair
            .root
            .query(query())
            .await
            .expect("answered through Leaf/Answer");
        assert_eq!(coverage(&response).answered, 1);
    }
    assert_eq!(
        tied().await,
        learnt,
        "a leaf that cannot say its call started is not tied again"
    );
}
