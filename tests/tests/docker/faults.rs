//! Faults under steady load through a root on the host: a leaf killed,
//! frozen, cut off the network or stopped, and the merge killed. Every
//! request sent meanwhile is accounted for: answered within its deadline
//! with coverage that says what happened, or refused with a clear code.

use std::time::Duration;

use scatter_proto::v1::{Coverage, ShardOutcome};
use scatter_tests::eventually;
use scatter_tests::root::{missing, outcome};
use tokio::time::Instant;
use tonic::Code;

use crate::engine::{self, Moment, docker, id_of, started_at};
use crate::load::{self, Load, Outcome};
use crate::tree::ContainerTree;

/// How long a fault phase may take to show what it should.
const PHASE: Duration = Duration::from_secs(20);

fn answered_all(total: u32) -> impl Fn(&Coverage) -> bool {
    move |c| c.total == total && c.answered == total && c.missing.is_empty()
}

/// Whether the last `n` outcomes all had every one of `total` shards.
fn last_full(outcomes: &[Outcome], n: usize, total: u32) -> bool {
    outcomes.len() >= n && outcomes.iter().rev().take(n).all(|o| o.full(total))
}

/// Polls until the runtime has started leaf `shard`.`replica` again (its
/// start time changed) and put it back in the root's rotation.
async fn started_again(tree: &ContainerTree, shard: u32, replica: u32, before: &str) {
    eventually(
        "the runtime started the leaf again and put it back in rotation",
        PHASE,
        async || {
            started_at(&tree.leaf(shard, replica)) != before
                && tree
                    .leaf_uri(shard, replica)
                    .is_some_and(|uri| tree.in_rotation(shard).contains(&uri))
        },
    )
    .await;
}

/// A tree of `shards` × `replicas` under load, once it answers in full.
async fn loaded_tree(
    test: &str,
    shards: u32,
    replicas: u32,
    deadline: Duration,
) -> (ContainerTree, Load) {
    let tree = ContainerTree::start(test, shards, replicas).await;
    let load = Load::start(tree.addr, 4, deadline);
    load.until(
        "full answers before the fault",
        Instant::now(),
        PHASE,
        |o| last_full(o, 20, shards),
    )
    .await;
    (tree, load)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leaf_is_covered_by_its_replica_and_a_shard_without_replicas_is_reported() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let (tree, load) = loaded_tree("kill", 2, 2, Duration::from_secs(1)).await;

    // One replica of shard 0 dies: the other answers for it, and the
    // runtime starts it again.
    let (leaf, before) = (tree.leaf(0, 0), started_at(&tree.leaf(0, 0)));
    let killed = Moment::now();
    docker(&["kill", &leaf]);
    started_again(&tree, 0, 0, &before).await;
    load.until("answers after the restart", Instant::now(), PHASE, |o| {
        o.len() >= 20
    })
    .await;
    // A call in flight on the leaf as it died breaks; the root takes the
    // broken connection as UNAVAILABLE and retries the other replica, so
    // every request, from the kill on, is answered in full.
    load.assert_all_answered(killed.at, answered_all(2));

    // Both replicas of shard 1 die: answers go on, reporting shard 1 missing
    // (failed or timed out while the dead leaves are still listed, skipped
    // once the runtime took them out), until the runtime has them back.
    let killed = Instant::now();
    docker(&["kill", &tree.leaf(1, 0), &tree.leaf(1, 1)]);
    load.until("an answer reporting shard 1 missing", killed, PHASE, |o| {
        o.iter()
            .any(|o| o.result.as_ref().is_ok_and(|c| c.answered == 1))
    })
    .await;
    load.until("full answers once shard 1 is back", killed, PHASE, |o| {
        last_full(o, 10, 2)
    })
    .await;
    load.assert_all_answered(killed, |c| {
        let shard_0_answered = !c.missing.iter().any(|m| m.shard == 0);
        let shard_1_truthful =
            c.answered == 2 || outcome(missing(c, 1)) != ShardOutcome::Unspecified;
        c.total == 2 && shard_0_answered && shard_1_truthful
    });
    load.stop().await;
    tree.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_leaf_is_hedged_within_the_deadline_with_true_coverage() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let (tree, load) = loaded_tree("pause", 2, 2, Duration::from_secs(1)).await;

    // One replica of shard 0 hangs: connections stay open, nothing answers.
    // Hedges to the other replica answer in its place; a request whose hedge
    // the budget refused reports shard 0 timed out — never an error, never
    // an answer past the deadline.
    let other = tree
        .leaf_uri(0, 1)
        .expect("the other replica is on the network");
    let hedges_won = tree.hedges_won(&other);
    docker(&["pause", &tree.leaf(0, 0)]);
    let paused = Instant::now();
    load.until("answers while one replica hangs", paused, PHASE, |o| {
        o.len() >= 100
    })
    .await;
    load.assert_all_answered(paused, |c| {
        c.total == 2 && (c.answered == 2 || outcome(missing(c, 0)) == ShardOutcome::TimedOut)
    });
    assert!(
        tree.hedges_won(&other) > hedges_won,
        "hedges answered for the hung replica"
    );

    // Now both replicas of shard 0 hang: each answer still comes within its
    // deadline, saying shard 0 did not answer and shard 1 did.
    docker(&["pause", &tree.leaf(0, 1)]);
    let both = Instant::now();
    load.until("answers while shard 0 hangs", both, PHASE, |o| {
        o.len() >= 12
    })
    .await;
    load.assert_all_answered(both, |c| {
        c.total == 2
            && c.answered == 1
            && [ShardOutcome::TimedOut, ShardOutcome::Skipped].contains(&outcome(missing(c, 0)))
    });

    docker(&["unpause", &tree.leaf(0, 0), &tree.leaf(0, 1)]);
    let thawed = Instant::now();
    load.until("full answers once thawed", thawed, PHASE, |o| {
        last_full(o, 10, 2)
    })
    .await;
    load.stop().await;
    tree.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_cut_off_the_network_is_hedged_and_returns_to_rotation_when_reconnected() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let (tree, load) = loaded_tree("netcut", 2, 2, Duration::from_secs(1)).await;

    let old = tree.leaf_uri(1, 0).expect("the leaf is on the network");
    let cut = Instant::now();
    docker(&["network", "disconnect", &tree.network(), &tree.leaf(1, 0)]);
    eventually(
        "the runtime took the cut-off leaf out of rotation",
        PHASE,
        async || !tree.in_rotation(1).contains(&old),
    )
    .await;
    load.until("answers while it is cut off", Instant::now(), PHASE, |o| {
        o.len() >= 20
    })
    .await;
    load.assert_all_answered(cut, answered_all(2));

    let reconnected = Instant::now();
    docker(&["network", "connect", &tree.network(), &tree.leaf(1, 0)]);
    eventually(
        "the leaf is back in rotation and called again",
        PHASE,
        async || {
            tree.leaf_uri(1, 0)
                .is_some_and(|uri| tree.in_rotation(1).contains(&uri) && tree.calls_to(&uri) > 0)
        },
    )
    .await;
    load.assert_all_answered(reconnected, answered_all(2));
    load.stop().await;
    tree.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_merge_gives_unavailable_in_the_gap_and_answers_after_its_restart() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let deadline = Duration::from_secs(1);
    let (tree, load) = loaded_tree("merge", 2, 1, deadline).await;

    let merge = tree.merge();
    let killed = Moment::now();
    docker(&["kill", &merge]);
    load.until("a request in the gap", killed.at, PHASE, |o| {
        o.iter().any(|o| o.result.is_err())
    })
    .await;
    load.until(
        "full answers after the merge's restart",
        killed.at,
        PHASE,
        |o| {
            o.iter()
                .position(|o| o.result.is_err())
                .is_some_and(|first| last_full(&o[first..], 20, 2))
        },
    )
    .await;
    // Requests in flight as the merge died lose their merge stream mid-call,
    // and requests sent while it is gone find no merge: every one of them
    // gets UNAVAILABLE naming the merge, within its deadline.
    let outcomes = load.since(killed.at);
    let mut in_the_gap = 0;
    for outcome in &outcomes {
        assert!(outcome.latency <= deadline + load::SLACK, "{outcome:?}");
        if let Err(status) = &outcome.result {
            in_the_gap += 1;
            assert!(
                status.code() == Code::Unavailable && status.message().contains("merge"),
                "a request in the gap got {:?}: {}",
                status.code(),
                status.message()
            );
        }
    }
    assert!(in_the_gap > 0, "no request fell in the gap: {outcomes:?}");
    load.stop().await;
    tree.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_leaf_drains_and_clients_see_no_error() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let (tree, load) = loaded_tree("stop", 2, 2, Duration::from_secs(1)).await;

    let (leaf, before) = (tree.leaf(0, 1), started_at(&tree.leaf(0, 1)));
    let stopped = Moment::now();
    // SIGTERM, then up to 10 s for the drain: the leaf reports NOT_SERVING,
    // the runtime takes it out of rotation, calls in flight finish, and the
    // leaf exits on its own.
    docker(&["stop", "--time", "10", &leaf]);
    let death = stopped.death_of(&id_of(&leaf));
    assert_eq!(
        death.exit_code, "0",
        "the leaf drained and exited by itself"
    );
    started_again(&tree, 0, 1, &before).await;
    load.until("answers after the restart", Instant::now(), PHASE, |o| {
        o.len() >= 20
    })
    .await;
    load.assert_all_answered(stopped.at, answered_all(2));
    load.stop().await;
    tree.stop().await;
}
