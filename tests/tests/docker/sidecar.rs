//! The root in a container, running the Docker runtime through the
//! engine's socket: the merge joins the root's network namespace (the pod
//! pattern), and stopping the root removes every container it started.

use std::time::Duration;

use scatter_root::runtime::docker::{Owner, RunId};
use tokio::time::Instant;

use crate::engine::{self, ROOT_IMAGE, RunGuard, docker};
use crate::load::Load;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_in_a_container_runs_the_merge_as_its_sidecar_and_removes_everything_on_stop() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let guard = RunGuard::new(engine::run_id("inroot"));
    let inner = RunGuard::new(RunId::new(format!("{}-tree", guard.run)));
    let port = scatter_tests::free_port().port();
    let socket = docker_socket();
    let root = format!("scatter-{}-root", guard.run);
    docker(&[
        "run",
        "--detach",
        "--name",
        &root,
        "--label",
        "scatter.managed=true",
        "--label",
        &format!("scatter.run={}", guard.run),
        "--label",
        &format!("scatter.owner={}", Owner::this_process().label()),
        "--user",
        "0",
        "--volume",
        &format!("{socket}:/var/run/docker.sock"),
        "--publish",
        &format!("127.0.0.1:{port}:50000"),
        ROOT_IMAGE,
        "serve",
        "--runtime=docker",
        "--listen=0.0.0.0:50000",
        "--shards=2",
        "--replicas=1",
        "--leaf-arg=--docs",
        "--leaf-arg=2000",
        &format!("--run-id={}", inner.run),
    ]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let load = Load::start(addr, 1, Duration::from_secs(1));
    load.until(
        "the containerised root answers with every shard",
        Instant::now(),
        Duration::from_secs(60),
        |o| o.iter().any(|o| o.full(2)),
    )
    .await;
    load.stop().await;

    let root_id = engine::id_of(&root);
    let merge = format!("scatter-{}-merge", inner.run);
    let mode = docker(&["inspect", "--format", "{{.HostConfig.NetworkMode}}", &merge]);
    assert_eq!(
        mode,
        format!("container:{root_id}"),
        "the merge shares the root's network namespace"
    );

    docker(&["stop", "--time", "30", &root]);
    let code = docker(&["inspect", "--format", "{{.State.ExitCode}}", &root]);
    assert_eq!(code, "0", "the root drained and exited cleanly");
    inner.assert_gone();
}

/// The engine's Unix socket, as the root in a container must see it.
fn docker_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/var/run/docker.sock".to_owned())
}
