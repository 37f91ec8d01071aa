//! The root says it is ready (`/readyz` 200, gRPC health SERVING for `""`
//! and `scatter.v1.Root`) only while it could answer: its merge serving and
//! a shard with a serving replica (all of them under
//! `--ready-min-coverage 1`). On SIGTERM with a drain delay it reports
//! NOT_SERVING first and keeps answering until the delay is over. `/status`
//! shows each replica's health and last error, and the hedge-delay gauge
//! the delay hedges actually waited.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::future::join_all;
use nix::sys::signal::Signal;
use scatter_tests::admin::get;
use scatter_tests::root::coverage;
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Query, Root, Script, Server, Tree, binary, eventually, free_port};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Readiness is checked every second by default: a change shows within this.
const NOTICED: Duration = Duration::from_secs(5);
const DEADLINE: Duration = Duration::from_secs(3);

/// Whether the root is ready, when `/readyz` (200 or not) and gRPC health
/// (SERVING or not, for `""` and `scatter.v1.Root`) agree; `None` when a
/// readiness round landed between the reads.
async fn ready(root: &Root) -> Option<bool> {
    let http = matches!(get(root.server.addr(), "/readyz").await, Ok((200, _)));
    for service in ["", "scatter.v1.Root"] {
        let mut client = HealthClient::new(root.server.channel().await);
        let request = HealthCheckRequest {
            service: service.to_owned(),
        };
        let answer = client.check(request).await.expect("health answers");
        if (answer.into_inner().status == ServingStatus::Serving as i32) != http {
            return None;
        }
    }
    Some(http)
}

async fn wait_ready(root: &Root, want: bool, what: &str) {
    eventually(what, NOTICED, async || ready(root).await == Some(want)).await;
}

/// How many shards answered a plain query (which must succeed).
async fn answered(root: &Root) -> u32 {
    let query = Query::script(&Script::new()).deadline(DEADLINE);
    let response = root.query(query).await.expect("an answer");
    coverage(&response).answered
}

/// Why the root says it is not ready; empty when it is.
async fn not_ready_because(root: &Root) -> String {
    let details = root.status().await;
    details["readiness"]["not_ready_because"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn start_merge(addr: SocketAddr) -> Server {
    Server::start("test-merge", &binary("test-merge"), &[], addr).await
}

#[tokio::test]
async fn a_root_whose_merge_is_down_is_not_ready_until_it_serves_and_again_once_it_is_killed() {
    let leaf = LeafFlags::new(0, 1).start().await;
    let merge_addr = free_port();
    let root = Root::start_listening(
        &[leaf.addr().to_string()],
        &format!("http://{merge_addr}"),
        &[],
    )
    .await;
    eventually("the reason is given", NOTICED, async || {
        not_ready_because(&root)
            .await
            .contains(&merge_addr.to_string())
    })
    .await;
    assert_eq!(ready(&root).await, Some(false), "no merge, not ready");

    let mut merge = start_merge(merge_addr).await;
    wait_ready(&root, true, "ready once the merge serves").await;
    assert_eq!(answered(&root).await, 1, "a ready root answers");

    merge.process.kill().await;
    let killed = Instant::now();
    wait_ready(&root, false, "not ready once the merge is killed").await;
    assert!(killed.elapsed() < NOTICED);
    let details = root.status().await;
    assert_eq!(
        details["readiness"]["merge_health"], "unreachable",
        "{details}"
    );

    let _merge = start_merge(merge_addr).await;
    wait_ready(&root, true, "ready again once the merge is back").await;
}

#[tokio::test]
async fn a_root_with_every_leaf_down_is_not_ready_and_one_shard_back_is_enough_by_default() {
    let mut tree = Tree::start(2, &[]).await;
    let shards: Vec<String> = tree.leaves.iter().map(|l| l.addr().to_string()).collect();
    let strict = Root::start(&shards, &tree.merge.uri(), &["--ready-min-coverage", "1"]).await;
    assert_eq!(
        (ready(&tree.root).await, ready(&strict).await),
        (Some(true), Some(true))
    );

    let addrs: Vec<SocketAddr> = tree.leaves.iter().map(Server::addr).collect();
    for leaf in &mut tree.leaves {
        leaf.process.kill().await;
    }
    wait_ready(&tree.root, false, "not ready with every leaf down").await;
    wait_ready(&strict, false, "the strict root neither").await;
    let why = not_ready_because(&tree.root).await;
    assert!(why.contains("0 of 2"), "{why}");

    let _back = LeafFlags::new(0, 2).listen(addrs[0]).start().await;
    wait_ready(&tree.root, true, "ready with shard 0 back").await;
    assert_eq!(answered(&tree.root).await, 1, "a partial answer");
    // The strict root wants every shard: one is still down.
    eventually(
        "the strict root sees shard 0 back, not shard 1",
        NOTICED,
        async || {
            let why = not_ready_because(&strict).await;
            why.contains("1 of 2") && why.contains("shard 1")
        },
    )
    .await;
    assert_eq!(ready(&strict).await, Some(false));
}

/// 1 from SIGTERM until exit, on every process.
const DRAINING: &str = "scatter_draining";

#[tokio::test]
async fn sigterm_under_a_drain_delay_fails_readiness_first_while_queries_still_succeed_then_exits_zero()
 {
    const DELAY: Duration = Duration::from_millis(2_000);
    let mut tree = Tree::start(1, &["--drain-delay-ms", "2000"]).await;
    assert_eq!(ready(&tree.root).await, Some(true));
    assert_eq!(tree.root.server.metric(DRAINING).await, Some(0.0));

    tree.root.server.process.signal(Signal::SIGTERM);
    let signalled = Instant::now();
    eventually("/readyz fails after SIGTERM", DELAY / 2, async || {
        matches!(get(tree.root.server.addr(), "/readyz").await, Ok((503, _)))
    })
    .await;
    assert_eq!(
        answered(&tree.root).await,
        1,
        "a query during the drain delay is answered"
    );
    assert_eq!(tree.root.server.metric(DRAINING).await, Some(1.0));
    assert!(
        signalled.elapsed() < DELAY,
        "the query ran inside the delay: {:?}",
        signalled.elapsed()
    );

    let exit = tree
        .root
        .server
        .process
        .wait_exit(Duration::from_secs(10))
        .await;
    assert!(exit.success(), "exit status {exit}");
    assert!(
        signalled.elapsed() >= DELAY,
        "exited after {:?}, before the drain delay was over",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn status_shows_a_killed_leafs_replica_not_serving_with_its_last_error() {
    let mut tree = Tree::start(2, &[]).await;
    let dead = tree.leaves[1].uri();
    tree.leaves[1].process.kill().await;
    assert_eq!(answered(&tree.root).await, 1, "a partial answer");

    eventually(
        "the dead replica shows as unreachable",
        NOTICED,
        async || tree.root.status().await["shards"][1]["replicas"][0]["serving"] == false,
    )
    .await;
    let details = tree.root.status().await;
    let replica = &details["shards"][1]["replicas"][0];
    assert_eq!(replica["addr"], dead.as_str(), "{replica}");
    assert_eq!(replica["health"], "unreachable", "{replica}");
    assert_eq!(replica["last_error"]["code"], "Unavailable", "{replica}");
    assert!(replica["last_error"]["message"].is_string(), "{replica}");
    assert!(replica["error_rate"].as_f64() > Some(0.0), "{replica}");
    assert_eq!(replica["in_flight"], 0, "{replica}");

    let alive = &details["shards"][0]["replicas"][0];
    assert_eq!(alive["serving"], true, "{alive}");
    assert_eq!(alive["in_rotation"], true, "{alive}");
    assert!(alive["last_error"].is_null(), "{alive}");
    assert!(alive["latency_ewma_ms"].as_f64() > Some(0.0), "{alive}");
}

#[tokio::test]
async fn the_hedge_delay_gauge_shows_the_delay_hedges_waited() {
    let replicas = (0..2).map(|replica| LeafFlags {
        replica,
        ..LeafFlags::new(0, 1)
    });
    let (leaves, merge) = tokio::join!(join_all(replicas.map(LeafFlags::start)), test_merge());
    let shard = format!("{},{}", leaves[0].addr(), leaves[1].addr());
    let flags = ["--hedge-delay-ms", "30", "--probation", "off"];
    let root = Root::start(&[shard], &merge.uri(), &flags).await;
    const GAUGE: &str = r#"scatter_root_hedge_delay_seconds{shard="0"}"#;

    // A fresh root sends the first attempt to replica 0, which is slow.
    let query = Query::script(&Script::new().delay("0.0", 2_000)).deadline(DEADLINE);
    root.query(query).await.expect("the hedge answers");
    let hedges = format!(
        r#"scatter_root_hedges_total{{shard="0",replica="{}"}}"#,
        leaves[1].uri()
    );
    assert_eq!(root.server.metric(&hedges).await, Some(1.0));
    assert_eq!(root.server.metric(GAUGE).await, Some(0.03));
}
