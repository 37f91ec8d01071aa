//! Leaves that are down or refuse a request cost only their own shard, are
//! reported shard by shard, and a leaf that comes back is used again.

use std::time::Duration;

use futures::future::join_all;
use scatter_proto::v1::ShardOutcome;
use scatter_tests::root::{assert_full_coverage, coverage, missing, outcome};
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, MergedResult, Query, Root, Script, Tree, eventually, free_port};
use tonic::Code;

#[tokio::test]
async fn shard_whose_leaf_is_down_is_reported_failed_unavailable_and_named_when_all_are_required() {
    let (leaves, merge) = tokio::join!(
        join_all((0..2).map(|shard| async move { LeafFlags::new(shard, 3).start().await })),
        test_merge()
    );
    let down = free_port();
    let mut shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    shards.push(down.to_string());
    let root = Root::start(&shards, &merge.uri(), &[]).await;

    let response = root
        .query(Query::script(&Script::new()))
        .await
        .expect("a partial answer by default");
    let c = coverage(&response);
    assert_eq!((c.total, c.answered, c.failed), (3, 2, 1), "{c:?}");
    let shard = missing(c, 2);
    assert_eq!(outcome(shard), ShardOutcome::Failed, "{shard:?}");
    assert_eq!(Code::from(shard.code), Code::Unavailable, "{shard:?}");
    assert!(shard.replica.contains(&down.to_string()), "{shard:?}");

    let status = root
        .query(Query::script(&Script::new()).require_all_shards())
        .await
        .expect_err("all shards were required");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("shard 2"), "{status:?}");
}

#[tokio::test]
async fn leaf_refusing_the_request_fails_its_shard_with_its_own_code_and_message() {
    let tree = Tree::start(3, &[]).await;
    let refusal = "shard 1 cannot read this query";
    let script = Script::new().fail(1, "invalid_argument", refusal);

    let response = tree
        .root
        .query(Query::script(&script))
        .await
        .expect("a partial answer");

    let c = coverage(&response);
    assert_eq!((c.total, c.answered, c.failed), (3, 2, 1), "{c:?}");
    let shard = missing(c, 1);
    assert_eq!(outcome(shard), ShardOutcome::Failed, "{shard:?}");
    assert_eq!(Code::from(shard.code), Code::InvalidArgument, "{shard:?}");
    assert_eq!(shard.message, refusal);
    assert_eq!(
        shard.attempts, 1,
        "a client fault is not retried: {shard:?}"
    );
    let merged = MergedResult::from_payload(&response.result.unwrap_or_default());
    assert_eq!(merged.shards(), vec![0, 2]);
}

#[tokio::test]
async fn leaf_restarted_on_its_port_is_used_again_for_full_coverage() {
    let mut tree = Tree::start(2, &[]).await;
    let good = Query::script(&Script::new());
    assert_full_coverage(&tree.root.query(good.clone()).await.expect("an answer"), 2);

    let addr = tree.leaves[1].addr();
    tree.leaves[1].process.kill().await;
    let response = tree
        .root
        .query(good.clone())
        .await
        .expect("a partial answer");
    let shard = missing(coverage(&response), 1);
    assert_eq!(outcome(shard), ShardOutcome::Failed, "{shard:?}");
    assert_eq!(Code::from(shard.code), Code::Unavailable, "{shard:?}");

    tree.leaves[1] = LeafFlags::new(1, 2).listen(addr).start().await;
    let root = &tree.root;
    eventually(
        "full coverage once the leaf is back",
        Duration::from_secs(5),
        async || {
            root.query(good.clone())
                .await
                .is_ok_and(|r| coverage(&r).answered == 2)
        },
    )
    .await;
}
