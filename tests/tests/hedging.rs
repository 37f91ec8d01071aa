//! Tail tolerance across real processes: a slow replica is hedged to its
//! sibling, the loser is cancelled at the leaf, a fast error never beats a
//! slower success, the budget bounds extra calls, no hedge goes out too
//! close to the deadline, and fast failures are retried on a sibling while
//! errors that blame the request are not.
//!
//! A fresh root has no latency history, so its first attempt for a shard
//! goes to replica 0 (ties go to the lower index); the tests script replica 0
//! as the troubled one. Hedge delays are fixed so timing is not learnt.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
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
        let replicas = (0..2).map(|replica| LeafFlags {
            replica,
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

/// A root config file, removed when the test ends.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(toml: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("scatter-hedging-{}-{n}.toml", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, toml).expect("a temp config file");
        Self(path)
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
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
async fn fast_error_from_the_hedge_does_not_win_over_a_slower_success() {
    let pair = Pair::start(&["--hedge-delay-ms", "30", "--probation", "off"]).await;
    // Replica 0 answers after 300 ms; the hedge at replica 1 fails at once
    // with an error that is not worth a retry.
    let script = Script::new()
        .delay("0.0", 300)
        .fail("0.1", "internal", "replica 1 is broken");
    let response = pair
        .root
        .query(Query::script(&script).deadline(Duration::from_secs(3)))
        .await
        .expect("an answer");

    let c = coverage(&response);
    assert_eq!(
        (c.answered, c.failed),
        (1, 0),
        "the slower success counts: {c:?}"
    );
    let result = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(answered_by(&result), (0, 0));
    pair.leaves[1]
        .wait_metric(LEAF_CALLS_ERR, 1.0, Duration::from_secs(2))
        .await;
}

#[tokio::test]
async fn spent_budget_sends_no_hedge_and_counts_the_refusal() {
    // No deposits, room for one hedge (a fifth of the bucket is kept for
    // retries): the first slow request hedges, the next cannot.
    let config = ConfigFile::new(
        "[hedge]\nbudget_ratio = 0.0\nbudget_burst = 1.25\n[probation]\nenabled = false\n",
    );
    let path = config.path();
    let pair = Pair::start(&["--config", &path, "--hedge-delay-ms", "30"]).await;

    let first = Script::new().delay("0.0", 2_000);
    let response = pair
        .root
        .query(Query::script(&first).deadline(Duration::from_secs(3)))
        .await
        .expect("an answer");
    let result = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(
        answered_by(&result),
        (1, 1),
        "the one token paid for a hedge"
    );

    // Now both replicas are slow: a hedge is due after 30 ms, but unpaid.
    let both_slow = Script::new().delay("*", 300);
    let started = Instant::now();
    let response = pair
        .root
        .query(Query::script(&both_slow).deadline(Duration::from_secs(3)))
        .await
        .expect("an answer");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(coverage(&response).answered, 1);
    let result = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(answered_by(&result).1, 0, "no second attempt was sent");
    let refusals = pair
        .root
        .server
        .metric(r#"scatter_root_budget_refusals_total{shard="0"}"#)
        .await;
    assert_eq!(refusals, Some(1.0));
    let hedges = pair.root_counter("scatter_root_hedges_total", 0).await
        + pair.root_counter("scatter_root_hedges_total", 1).await;
    assert_eq!(hedges, 1.0, "only the first request hedged");
}

#[tokio::test]
async fn no_hedge_goes_out_with_less_deadline_left_than_configured() {
    // Deadline 200 ms, hedge due at 100 ms: 80 ms or so would be left for it.
    let strict =
        ConfigFile::new("[hedge]\nmin_remaining = \"150ms\"\n[probation]\nenabled = false\n");
    let path = strict.path();
    let pair = Pair::start(&["--config", &path, "--hedge-delay-ms", "100"]).await;
    let script = Script::new().delay("0.0", 5_000);
    let status = pair
        .root
        .query(Query::script(&script).deadline(Duration::from_millis(200)))
        .await
        .expect_err("the only shard timed out");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("shard 0 timed out"), "{status:?}");
    let calls_at_replica_1 = pair.leaves[1].metric(LEAF_CALLS_OK).await.unwrap_or(0.0)
        + pair.leaves[1].metric(CANCELLED).await.unwrap_or(0.0);
    assert_eq!(calls_at_replica_1, 0.0, "no hedge was sent");
    assert_eq!(pair.root_counter("scatter_root_hedges_total", 1).await, 0.0);

    // The same request with room left is hedged and answered.
    let roomy =
        ConfigFile::new("[hedge]\nmin_remaining = \"10ms\"\n[probation]\nenabled = false\n");
    let path = roomy.path();
    let pair = Pair::start(&["--config", &path, "--hedge-delay-ms", "100"]).await;
    let response = pair
        .root
        .query(Query::script(&script).deadline(Duration::from_millis(200)))
        .await
        .expect("an answer");
    assert_eq!(coverage(&response).answered, 1);
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
