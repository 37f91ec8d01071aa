//! Canary requests against a query of death, with real processes: a
//! `scatter serve --canary on` root over test leaves that exit on a marked
//! payload. The payload costs one leaf process (not its shard's other
//! replica, not the other shards), its client gets FAILED_PRECONDITION
//! saying why, and the identical request after it is refused without a
//! leaf dying.

use std::time::Duration;

use futures::future::join_all;
use scatter_tests::root::assert_full_coverage;
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Query, Root, Script, eventually};
use tonic::Code;

const SHARDS: u32 = 3;
const REPLICAS: u32 = 2;

#[tokio::test]
async fn a_query_of_death_kills_one_leaf_process_and_its_twin_is_refused_with_a_clear_status() {
    let flags = (0..SHARDS).flat_map(|shard| {
        (0..REPLICAS).map(move |replica| LeafFlags {
            replica,
            ..LeafFlags::new(shard, SHARDS)
        })
    });
    let (mut leaves, merge) = tokio::join!(join_all(flags.map(LeafFlags::start)), test_merge());
    let shards: Vec<String> = leaves
        .chunks(REPLICAS as usize)
        .map(|replicas| {
            let addrs: Vec<String> = replicas.iter().map(|l| l.addr().to_string()).collect();
            addrs.join(",")
        })
        .collect();
    let root = Root::start(&shards, &merge.uri(), &["--canary", "on"]).await;
    let benign = Query::script(&Script::new());
    assert_full_coverage(
        &root.query(benign.clone()).await.expect("an answer"),
        SHARDS,
    );

    let deadly = Query::script(&Script::new().exit("*", 70));
    let status = root.query(deadly.clone()).await.expect_err("refused");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    for part in [
        "query of death",
        "broke the connection",
        "sent to no other shard",
    ] {
        assert!(status.message().contains(part), "{part:?}: {status:?}");
    }
    let mut exited = Vec::new();
    eventually(
        "the canary's leaf exits",
        Duration::from_secs(10),
        async || {
            exited = leaves
                .iter_mut()
                .enumerate()
                .filter_map(|(i, leaf)| leaf.process.exited().map(|_| i))
                .collect();
            !exited.is_empty()
        },
    )
    .await;
    assert_eq!(exited.len(), 1, "one leaf process lost: {exited:?}");
    let dead = &leaves[exited[0]];
    assert!(
        status.message().contains(&dead.addr().to_string()),
        "the status names the dead replica {}: {status:?}",
        dead.addr()
    );

    let again = root.query(deadly).await.expect_err("refused again");
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    assert!(again.message().contains("refused"), "{again:?}");
    assert_eq!(
        root.server
            .metric("scatter_root_canary_refusals_total")
            .await,
        Some(1.0)
    );
    let still_running = leaves
        .iter_mut()
        .filter_map(|leaf| leaf.process.exited().is_none().then_some(()))
        .count();
    assert_eq!(still_running, (SHARDS * REPLICAS) as usize - 1);
    assert_full_coverage(&root.query(benign).await.expect("an answer"), SHARDS);
}
