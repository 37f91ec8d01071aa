//! Drains under steady load. SIGTERM to a root: readiness fails before the
//! listener closes, every call in flight completes, calls after the close
//! are UNAVAILABLE, and the root exits 0 within its drain delay plus grace;
//! a root that started its own leaves (`scatter demo`) leaves no child
//! behind. A rolling restart of one leaf replica at a time, under load that
//! requires every shard, loses no request.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use nix::sys::signal::Signal;
use scatter_example_search::Query as SearchQuery;
use scatter_tests::admin::get;
use scatter_tests::load::{Load, Sent};
use scatter_tests::process::{children_of, is_running};
use scatter_tests::root::{assert_full_coverage, coverage};
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Query, Root, Script, Server, Tree, eventually, free_port};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const CLIENTS: usize = 4;
const LEAF_IN_FLIGHT: &str = "scatter_leaf_in_flight";
const DRAIN_DELAY: Duration = Duration::from_millis(1_000);
const GRACE: Duration = Duration::from_millis(5_000);
const DEADLINE: Duration = Duration::from_secs(5);
/// Time for load to reach a steady state, or for a change to show.
const SETTLE: Duration = Duration::from_secs(10);

/// When `/readyz` first answered 503, and when a connection to the root was
/// first refused (its listener closed).
#[derive(Debug, Default)]
struct ReadyzSeen {
    not_ready: Option<Instant>,
    refused: Option<Instant>,
}

/// Polls `/readyz` on `addr` until the connection is refused.
fn watch_readyz(addr: SocketAddr) -> JoinHandle<ReadyzSeen> {
    tokio::spawn(async move {
        let mut seen = ReadyzSeen::default();
        loop {
            match get(addr, "/readyz").await {
                Ok((200, _)) => {}
                Ok(_) => {
                    seen.not_ready.get_or_insert_with(Instant::now);
                }
                Err(_) => {
                    seen.refused = Some(Instant::now());
                    return seen;
                }
            }
            tokio::time::sleep(scatter_tests::poll::POLL_INTERVAL).await;
        }
    })
}

/// When gRPC health (watched on its own connection) first said NOT_SERVING.
fn watch_health(channel: tonic::transport::Channel) -> JoinHandle<Option<Instant>> {
    tokio::spawn(async move {
        let mut watch = HealthClient::new(channel)
            .watch(HealthCheckRequest::default())
            .await
            .ok()?
            .into_inner();
        while let Ok(Some(update)) = watch.message().await {
            if update.status == ServingStatus::NotServing as i32 {
                return Some(Instant::now());
            }
        }
        None
    })
}

/// Waits until every load client was refused, then collects their calls.
async fn calls_until_refused(load: Load) -> Vec<Sent> {
    eventually(
        "every client is refused once the root is gone",
        SETTLE,
        async || load.all_refused(),
    )
    .await;
    load.stop().await
}

/// Asserts every client's last call was refused with UNAVAILABLE.
fn assert_each_client_ends_unavailable(calls: &[Sent], clients: usize) {
    for client in 0..clients {
        let last = calls
            .iter()
            .filter(|c| c.client == client)
            .max_by_key(|c| c.started)
            .unwrap_or_else(|| panic!("client {client} sent nothing"));
        assert_eq!(last.code(), Code::Unavailable, "client {client}: {last:?}");
    }
}

#[tokio::test]
async fn sigterm_under_load_fails_readiness_first_finishes_in_flight_refuses_new_and_exits_zero() {
    let drain_delay = DRAIN_DELAY.as_millis().to_string();
    let grace = GRACE.as_millis().to_string();
    // A fixed limit: the adaptive one would shed some of the load, which
    // is not what this test is about.
    let flags = [
        "--drain-delay-ms",
        &drain_delay,
        "--grace-ms",
        &grace,
        "--admission",
        "fixed",
    ];
    let mut tree = Tree::start(2, &flags).await;
    let addr = tree.root.server.addr();
    // Slow enough that every client always has a call in flight.
    let query = Query::script(&Script::new().delay("*", 300)).deadline(DEADLINE);
    let load = Load::start(addr, CLIENTS, &query);
    eventually("every client has been answered", SETTLE, async || {
        load.answered() >= 2 * CLIENTS
    })
    .await;
    let readyz = watch_readyz(addr);
    let health = watch_health(tree.root.server.channel().await);

    // Taken before the signal, so every "after SIGTERM" below is safe.
    let signalled = Instant::now();
    tree.root.server.process.signal(Signal::SIGTERM);
    let exit = tree
        .root
        .server
        .process
        .wait_exit(DRAIN_DELAY + GRACE)
        .await;
    let exited = Instant::now();
    assert!(exit.success(), "exit status {exit}");
    let calls = calls_until_refused(load).await;
    let readyz = readyz.await.expect("the /readyz watch ran");
    let health = health.await.expect("the health watch ran");

    // Readiness fails first, on both faces, then the listener closes.
    let not_ready = readyz
        .not_ready
        .expect("/readyz answered 503 before closing");
    let closed = readyz.refused.expect("the listener closed");
    let not_serving = health.expect("gRPC health said NOT_SERVING");
    assert!(not_ready < closed, "{readyz:?}");
    assert!(not_serving < closed, "NOT_SERVING came after the close");
    assert!(
        closed - signalled >= DRAIN_DELAY,
        "the listener closed {:?} after SIGTERM, inside the drain delay",
        closed - signalled
    );

    // Every call is answered, or refused with UNAVAILABLE after the close.
    for call in &calls {
        match call.code() {
            Code::Ok => assert_full_coverage(call.result.as_ref().unwrap(), 2),
            Code::Unavailable => assert!(
                call.started + Duration::from_millis(50) >= signalled + DRAIN_DELAY,
                "refused {:?} after SIGTERM, inside the drain delay: {call:?}",
                call.started - signalled
            ),
            _ => panic!("a call neither answered nor UNAVAILABLE: {call:?}"),
        }
    }
    // Calls in flight when the listener closed completed.
    let in_flight: Vec<&Sent> = calls
        .iter()
        .filter(|c| c.started < closed && c.ended > closed)
        .collect();
    assert!(!in_flight.is_empty(), "no call was in flight at the close");
    for call in in_flight {
        assert_eq!(call.code(), Code::Ok, "an in-flight call: {call:?}");
    }
    assert!(
        calls
            .iter()
            .any(|c| c.started > signalled && c.result.is_ok()),
        "calls during the drain delay are answered"
    );
    assert_each_client_ends_unavailable(&calls, CLIENTS);
    assert!(
        exited - signalled < DRAIN_DELAY + GRACE,
        "exited {:?} after SIGTERM",
        exited - signalled
    );
}

#[tokio::test]
async fn sigterm_to_a_demo_under_load_answers_in_flight_calls_in_full_and_leaves_no_child() {
    let (mut demo, addr) = scatter_tests::tree::demo(2, 2).await;
    let children = children_of(demo.pid());
    assert_eq!(children.len(), 5, "four leaves and a merge: {children:?}");

    // Two clients: the demo's root runs the adaptive limit, which starts
    // low; a call it sheds (RESOURCE_EXHAUSTED) was never in flight.
    const DEMO_CLIENTS: usize = 2;
    let query = Query::new(SearchQuery::new("hello world", 10).to_payload()).deadline(DEADLINE);
    let load = Load::start(addr, DEMO_CLIENTS, &query);
    eventually("every client has been answered", SETTLE, async || {
        load.answered() >= 5 * DEMO_CLIENTS
    })
    .await;

    let signalled = Instant::now();
    demo.signal(Signal::SIGTERM);
    let exit = demo.wait_exit(SETTLE * 2).await;
    assert!(exit.success(), "the demo exited with {exit}");
    let calls = calls_until_refused(load).await;

    // The leaves outlive the root's drain: no answer lost a shard.
    for call in &calls {
        match call.code() {
            Code::Ok => assert_full_coverage(call.result.as_ref().unwrap(), 2),
            Code::ResourceExhausted => {}
            Code::Unavailable => assert!(call.started > signalled, "refused early: {call:?}"),
            _ => panic!("a call neither answered, shed nor UNAVAILABLE: {call:?}"),
        }
    }
    assert_each_client_ends_unavailable(&calls, DEMO_CLIENTS);
    eventually(
        "every child of the demo has exited",
        Duration::from_secs(5),
        async || !children.iter().any(|&pid| is_running(pid)),
    )
    .await;
}

/// The root's `/status` view of replica `replica` of `shard`.
async fn replica_status(root: &Root, shard: usize, replica: usize) -> Value {
    let Ok((200, body)) = get(root.server.addr(), "/status").await else {
        return Value::Null;
    };
    let status: Value = serde_json::from_str(&body).unwrap_or_default();
    status["details"]["shards"][shard]["replicas"][replica].clone()
}

#[tokio::test]
async fn rolling_restart_of_one_leaf_replica_at_a_time_under_load_loses_no_request() {
    const SHARDS: u32 = 2;
    const REPLICAS: u32 = 2;
    let leaf_flags = |shard: u32, replica: u32, addr: SocketAddr| LeafFlags {
        replica,
        extra: ["--drain-delay-ms", "500", "--grace-ms", "5000"]
            .map(str::to_owned)
            .to_vec(),
        ..LeafFlags::new(shard, SHARDS).listen(addr)
    };
    let addrs: Vec<Vec<SocketAddr>> = (0..SHARDS)
        .map(|_| (0..REPLICAS).map(|_| free_port()).collect())
        .collect();
    let starts = (0..SHARDS).flat_map(|shard| {
        let addrs = &addrs;
        (0..REPLICAS).map(move |r| leaf_flags(shard, r, addrs[shard as usize][r as usize]))
    });
    let (leaves, merge) = tokio::join!(join_all(starts.map(LeafFlags::start)), test_merge());
    let mut leaves: Vec<Option<Server>> = leaves.into_iter().map(Some).collect();
    let shards: Vec<String> = addrs
        .iter()
        .map(|replicas| {
            let replicas: Vec<String> = replicas.iter().map(ToString::to_string).collect();
            replicas.join(",")
        })
        .collect();
    let root = Root::start(&shards, &merge.uri(), &["--admission", "fixed"]).await;

    let query = Query::script(&Script::new().delay("*", 20))
        .deadline(DEADLINE)
        .require_all_shards();
    let load = Load::start(root.server.addr(), CLIENTS, &query);
    eventually("every client has been answered", SETTLE, async || {
        load.answered() >= 2 * CLIENTS
    })
    .await;

    for shard in 0..SHARDS {
        for replica in 0..REPLICAS {
            let index = (shard * REPLICAS + replica) as usize;
            let mut leaf = leaves[index].take().expect("each replica restarts once");
            let before = load.answered();
            eventually("the replica has calls in flight", SETTLE, async || {
                leaf.metric(LEAF_IN_FLIGHT).await > Some(0.0)
            })
            .await;
            leaf.process.signal(Signal::SIGTERM);
            let exit = leaf.process.wait_exit(GRACE * 2).await;
            assert!(exit.success(), "leaf {shard}.{replica} exited with {exit}");
            drop(leaf);
            let addr = addrs[shard as usize][replica as usize];
            leaves[index] = Some(leaf_flags(shard, replica, addr).start().await);
            let (s, r) = (shard as usize, replica as usize);
            eventually("the root sees the restarted replica", SETTLE, async || {
                let status = replica_status(&root, s, r).await;
                status["serving"] == true && status["in_rotation"] == true
            })
            .await;
            assert!(
                load.answered() > before,
                "no answers while leaf {shard}.{replica} restarted"
            );
        }
    }

    let calls = load.stop().await;
    let failed: Vec<&Sent> = calls.iter().filter(|c| c.result.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed during the rolling restart, e.g. {:?}",
        failed.len(),
        calls.len(),
        failed.first()
    );
    for call in &calls {
        assert_eq!(coverage(call.result.as_ref().unwrap()).answered, SHARDS);
    }
}
