//! `scatter demo` runs a whole local tree that `scatter query` can ask, and
//! SIGTERM takes all of it down cleanly.

use std::time::Duration;

use nix::sys::signal::Signal;
use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{Payload, QueryRequest};
use scatter_tests::process::{children_of, is_running};
use scatter_tests::{ChildProcess, binary, eventually};

/// Starts `scatter demo` with 2 shards × 1 replica; returns it and its address.
async fn start_demo() -> (ChildProcess, String) {
    let (demo, addr) = scatter_tests::tree::demo(2, 1).await;
    (demo, format!("http://{addr}"))
}

#[tokio::test]
async fn demo_answers_with_full_coverage_and_sigterm_stops_it_and_every_child() {
    let (mut demo, addr) = start_demo().await;
    let children = children_of(demo.pid());
    assert_eq!(children.len(), 3, "two leaves and a merge: {children:?}");

    let query = tokio::process::Command::new(binary("scatter"))
        .args(["query", "--addr", &addr, "hello", "world"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(10), query)
        .await
        .expect("scatter query finishes")
        .expect("scatter query runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scatter query failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("coverage: 2/2 answered"), "{stdout}");

    demo.signal(Signal::SIGTERM);
    let status = demo.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "the demo exited with {status}");
    eventually(
        "every child of the demo has exited",
        Duration::from_secs(5),
        async || !children.iter().any(|&pid| is_running(pid)),
    )
    .await;
}

fn search_leaves_of(pid: u32) -> Vec<u32> {
    children_of(pid)
        .into_iter()
        .filter(|child| {
            std::fs::read(format!("/proc/{child}/cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains("search-leaf"))
        })
        .collect()
}

#[tokio::test]
async fn demo_restarts_a_leaf_that_dies_and_full_coverage_returns() {
    let (mut demo, addr) = start_demo().await;
    let leaves = search_leaves_of(demo.pid());
    assert_eq!(leaves.len(), 2, "{leaves:?}");
    let victim = leaves[0];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim as i32), Signal::SIGKILL)
        .expect("the leaf can be killed");

    eventually(
        "the runtime starts a new leaf in place of the dead one",
        Duration::from_secs(15),
        async || {
            let now = search_leaves_of(demo.pid());
            now.len() == 2 && !now.contains(&victim)
        },
    )
    .await;
    let mut client = RootClient::connect(addr).await.expect("the demo's root");
    eventually(
        "full coverage again after the restart",
        Duration::from_secs(15),
        async || {
            let request = QueryRequest {
                payload: Some(Payload::new("text/plain", "hello world")),
                policy: None,
            };
            client
                .query(request)
                .await
                .ok()
                .and_then(|r| r.into_inner().coverage)
                .is_some_and(|c| c.answered == 2 && c.total == 2)
        },
    )
    .await;
    demo.signal(Signal::SIGTERM);
    let status = demo.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "the demo exited with {status}");
}
