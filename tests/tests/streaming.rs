//! Partials are streamed into the merge as shards answer, not batched when
//! the slowest shard is done.

use std::time::Duration;

use scatter_tests::{Query, Script, Tree};

const PARTIALS: &str = "scatter_merge_partials_total";
const CANCELLED: &str = r#"scatter_leaf_calls_total{outcome="cancelled"}"#;

#[tokio::test]
async fn partials_reach_the_merge_while_a_slower_shard_is_still_working() {
    let tree = Tree::start(3, &[]).await;
    let mut client = tree.root.client().await;
    let query = Query::script(&Script::new().delay(2, 3_000)).deadline(Duration::from_secs(5));
    let pending = tokio::spawn(async move { client.query(query.request()).await });

    // Shards 0 and 1 answer at once; shard 2 takes 3 s.
    tree.merge
        .wait_metric(PARTIALS, 2.0, Duration::from_millis(2_500))
        .await;
    assert!(
        !pending.is_finished(),
        "the query ended before the slow shard answered: {:?}",
        pending.await
    );

    // Done: the client cancels, and the slow leaf call is cancelled with it.
    pending.abort();
    tree.leaves[2]
        .wait_metric(CANCELLED, 1.0, Duration::from_secs(2))
        .await;
    assert_eq!(tree.merge.metric(PARTIALS).await, Some(2.0));
}
