//! Health-driven membership: the root watches every leaf's gRPC health
//! stream. A leaf that says NOT_SERVING — here one given SIGTERM with a
//! long drain delay, so it goes on answering whoever still calls it — gets
//! no new call from the root; a shard whose every replica drains is
//! reported so in coverage; and a leaf restarted on the same address is
//! back in rotation once it says SERVING.

use std::net::SocketAddr;
use std::time::Duration;

use nix::sys::signal::Signal;
use scatter_tests::root::coverage;
use scatter_tests::tree::test_merge;
use scatter_tests::{
    LeafFlags, LeafPartial, MergedResult, Query, Root, Script, eventually, free_port,
};
use serde_json::Value;

/// Long enough that a draining leaf is still up, answering, for the test.
const DRAIN_DELAY: &str = "60000";
/// Time for the root to notice a change.
const SETTLE: Duration = Duration::from_secs(10);

fn leaf(shard: u32, replica: u32, addr: SocketAddr) -> LeafFlags {
    LeafFlags {
        replica,
        extra: vec!["--drain-delay-ms".to_owned(), DRAIN_DELAY.to_owned()],
        ..LeafFlags::new(shard, 2).listen(addr)
    }
}

/// Which replica answered for each shard, per answer; `None` for a shard
/// that did not answer.
fn answered_by(response: &scatter_proto::v1::QueryResponse) -> [Option<u32>; 2] {
    let result = MergedResult::from_payload(response.result.as_ref().expect("a result"));
    let mut by = [None, None];
    for merged in result.partials {
        let partial: LeafPartial =
            serde_json::from_value(merged.partial).expect("a test-leaf partial");
        by[partial.shard as usize] = Some(partial.replica);
    }
    by
}

/// The root's `/status` view of replica `replica` of `shard`.
async fn replica_status(root: &Root, shard: usize, replica: usize) -> Value {
    root.status().await["shards"][shard]["replicas"][replica].clone()
}

#[tokio::test]
async fn a_draining_leaf_leaves_rotation_at_once_and_a_restarted_one_comes_back() {
    // Shard 0 on two replicas, shard 1 on two; r0 of shard 0 will drain.
    let addrs = [[free_port(), free_port()], [free_port(), free_port()]];
    let mut leaves = Vec::new();
    for (shard, replicas) in (0..).zip(&addrs) {
        for (replica, addr) in (0..).zip(replicas) {
            leaves.push(leaf(shard, replica, *addr).start().await);
        }
    }
    let merge = test_merge().await;
    let shards: Vec<String> = addrs.iter().map(|r| format!("{},{}", r[0], r[1])).collect();
    let root = Root::start(&shards, &merge.uri(), &[]).await;
    let query = || Query::script(&Script::new()).deadline(Duration::from_secs(5));

    leaves[0].process.signal(Signal::SIGTERM);
    eventually(
        "the root takes the draining replica out of rotation",
        SETTLE,
        async || replica_status(&root, 0, 0).await["takes_work"] == false,
    )
    .await;
    // It still answers whoever calls it, for a minute: only the root's
    // choice keeps calls away from it now.
    for _ in 0..40 {
        let response = root.query(query()).await.expect("an answer");
        assert_eq!(coverage(&response).answered, 2);
        assert_eq!(
            answered_by(&response)[0],
            Some(1),
            "shard 0 went to its draining replica"
        );
    }
    let status = replica_status(&root, 0, 0).await;
    assert_eq!(status["in_rotation"], false, "{status}");
    assert_eq!(status["health"], "not_serving", "{status}");

    // Both replicas of shard 1 drain: the shard is reported as such.
    leaves[2].process.signal(Signal::SIGTERM);
    leaves[3].process.signal(Signal::SIGTERM);
    eventually("shard 1 is skipped as draining", SETTLE, async || {
        let response = root.query(query()).await.expect("an answer");
        let missing = &coverage(&response).missing;
        missing.len() == 1
            && missing[0].shard == 1
            && missing[0]
                .message
                .contains("every replica of this shard is draining")
    })
    .await;

    // Shard 0's drained replica is replaced on its address: it is watched
    // again and takes calls once it says SERVING.
    let mut drained = leaves.remove(0);
    drained.process.signal(Signal::SIGKILL);
    drained.process.wait_exit(SETTLE).await;
    drop(drained);
    let _restarted = leaf(0, 0, addrs[0][0]).start().await;
    eventually(
        "the restarted replica is back in rotation",
        SETTLE,
        async || replica_status(&root, 0, 0).await["takes_work"] == true,
    )
    .await;
    eventually(
        "shard 0 is answered by its restarted replica",
        SETTLE,
        async || {
            let response = root.query(query()).await.expect("an answer");
            answered_by(&response)[0] == Some(0)
        },
    )
    .await;
}
