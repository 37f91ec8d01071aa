//! One deadline bounds the whole request: a shard slower than the deadline
//! is reported timed out while the others answer, the answer arrives on
//! time, and the slow leaf's work is cancelled.

use std::time::{Duration, Instant};

use scatter_proto::v1::ShardOutcome;
use scatter_tests::root::{coverage, missing, outcome};
use scatter_tests::{MergedResult, Query, Script, Tree};
use tonic::Code;

const DEADLINE: Duration = Duration::from_millis(300);
/// What the answer may take beyond the deadline: the merge's reply and the
/// trip back on loopback, on a busy 2-core machine.
const MARGIN: Duration = Duration::from_millis(250);
const CANCELLED: &str = r#"scatter_leaf_calls_total{outcome="cancelled"}"#;

#[tokio::test]
async fn shard_slower_than_the_deadline_times_out_alone_and_its_leaf_call_is_cancelled() {
    let tree = Tree::start(3, &[]).await;
    let mut client = tree.root.client().await;
    let query = Query::script(&Script::new().delay(2, 10_000)).deadline(DEADLINE);

    let started = Instant::now();
    let response = client
        .query(query.request())
        .await
        .expect("a partial answer")
        .into_inner();
    let took = started.elapsed();

    // tonic's client enforces the deadline it sends, so a late answer would
    // already be an error; this says the same for any client.
    assert!(
        took < DEADLINE + MARGIN,
        "answered after {took:?}; the deadline was {DEADLINE:?}"
    );
    let c = coverage(&response);
    assert_eq!(
        (c.total, c.answered, c.timed_out, c.failed, c.skipped),
        (3, 2, 1, 0, 0),
        "{c:?}"
    );
    let slow = missing(c, 2);
    assert_eq!(outcome(slow), ShardOutcome::TimedOut, "{slow:?}");
    assert_eq!(Code::from(slow.code), Code::DeadlineExceeded, "{slow:?}");
    let merged = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(merged.shards(), vec![0, 1]);

    tree.leaves[2]
        .wait_metric(CANCELLED, 1.0, Duration::from_secs(2))
        .await;
}
