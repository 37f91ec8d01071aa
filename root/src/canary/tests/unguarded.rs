//! Queries of death without canaries: the fan-out retries a call whose
//! leaf died under it on a sibling replica, but only once per request. A
//! payload that kills every leaf it reaches takes one shard's second
//! replica, not every shard's; a leaf that crashes on its own still costs
//! its request nothing.

use tonic::Code;

use super::*;

#[tokio::test(start_paused = true)]
async fn a_query_of_death_kills_each_shards_first_leaf_and_one_sibling_not_every_replica() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 4, 2, false, |_| {});

    let error = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert_eq!(
        (leaves.calls(), leaves.dead()),
        (5, 5),
        "four first calls and one retry, each a leaf lost"
    );
    let retried = leaves.seen()[4].shard;
    let benign = query(&fanout, "benign").await.unwrap();
    let coverage = benign.coverage.unwrap();
    assert_eq!(
        coverage.answered, 3,
        "every shard but the retried one kept a live replica"
    );
    let lost: Vec<u32> = coverage.missing.iter().map(|m| m.shard).collect();
    assert_eq!(lost, [retried]);
}

#[tokio::test(start_paused = true)]
async fn a_leaf_that_crashes_under_its_call_is_retried_on_its_sibling() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 3, 2, false, |_| {});

    let response = query(&fanout, "crash:1").await.unwrap();
    assert_eq!(answered(&response), 3, "shard 1 answered from its sibling");
    assert_eq!((leaves.calls(), leaves.dead()), (4, 1));
}

#[tokio::test(start_paused = true)]
async fn the_one_retry_is_per_request_so_each_request_may_have_its_own() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 3, 2, false, |_| {});

    for body in ["crash:0", "crash:2"] {
        let response = query(&fanout, body).await.unwrap();
        assert_eq!(answered(&response), 3, "{body}: retried on the sibling");
    }
    assert_eq!(leaves.dead(), 2);
}
