//! Leftovers of a root that died without cleaning up (SIGKILL, a crash)
//! are removed by the next runtime to start; a live run's are kept.

use scatter_root::runtime::docker::{Owner, sweep_stale_runs};

use crate::engine::{self, LEAF_IMAGE, RunGuard, docker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_a_dead_run_are_swept_and_those_of_a_live_one_kept() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let dead = RunGuard::new(engine::run_id("dead"));
    let live = RunGuard::new(engine::run_id("live"));
    let Owner::Process {
        boot,
        pid_namespace,
        ..
    } = Owner::this_process()
    else {
        unreachable!("a test runs as a process")
    };
    let gone = Owner::Process {
        boot,
        pid_namespace,
        pid: u32::MAX,
        started: 1,
    };
    for (guard, owner) in [(&dead, gone), (&live, Owner::this_process())] {
        let labels = [
            "--label".to_owned(),
            "scatter.managed=true".to_owned(),
            "--label".to_owned(),
            format!("scatter.run={}", guard.run),
            "--label".to_owned(),
            format!("scatter.owner={}", owner.label()),
        ];
        let mut network = vec!["network", "create"];
        network.extend(labels.iter().map(String::as_str));
        let name = format!("scatter-{}", guard.run);
        network.push(&name);
        docker(&network);
        let mut container = vec!["create", "--network", &name];
        container.extend(labels.iter().map(String::as_str));
        container.push(LEAF_IMAGE);
        docker(&container);
    }

    let swept = sweep_stale_runs().await.expect("the sweep runs");
    assert!(
        swept.contains(&dead.run),
        "the dead run is swept: {swept:?}"
    );
    assert!(
        !swept.contains(&live.run),
        "the live run is kept: {swept:?}"
    );
    dead.assert_gone();
    assert_eq!(
        engine::containers_with("scatter.run", live.run.as_str()).len(),
        1
    );
    assert_eq!(
        engine::networks_with("scatter.run", live.run.as_str()).len(),
        1
    );
}
