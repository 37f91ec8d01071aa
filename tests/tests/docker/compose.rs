//! `deploy/compose.yaml` brought up as a user would: the root finds the
//! leaves through Docker's DNS, and follows them leaving and joining.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use scatter_proto::v1::ShardOutcome;
use scatter_root::runtime::docker::Owner;
use scatter_tests::root::{missing, outcome};
use scatter_tests::skip::{self, Need};
use tokio::time::Instant;

use crate::engine::{self, RunGuard, docker};
use crate::load::Load;

/// The compose file under test.
const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/compose.yaml");

/// A compose project, taken down when dropped.
struct Project {
    command: Vec<String>,
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    /// `docker compose` (v2) or `docker-compose` (v1), whichever is here.
    fn command() -> Option<Vec<String>> {
        let works = |cmd: &[&str]| {
            Command::new(cmd[0])
                .args(&cmd[1..])
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        [vec!["docker", "compose"], vec!["docker-compose"]]
            .into_iter()
            .find(|cmd| works(cmd))
            .map(|cmd| cmd.into_iter().map(str::to_owned).collect())
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(&self.command[0]);
        command
            .args(&self.command[1..])
            .args(["--project-name", &self.name, "--file", FILE])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", self.command))
    }

    fn up(command: Vec<String>, guard: &RunGuard, port: u16) -> Self {
        let project = Self {
            command,
            name: format!("scatter-{}", guard.run),
            env: vec![
                ("SCATTER_RUN".into(), guard.run.to_string()),
                ("SCATTER_OWNER".into(), Owner::this_process().label()),
                ("SCATTER_PORT".into(), port.to_string()),
                ("SCATTER_DOCS".into(), "2000".into()),
            ],
        };
        let out = project.run(&["up", "--detach"]);
        assert!(
            out.status.success(),
            "compose up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        project
    }

    fn down(&self) -> bool {
        self.run(&["down", "--timeout", "5", "--remove-orphans"])
            .status
            .success()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

/// The containers of one compose service of the run.
fn service(guard: &RunGuard, name: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        &format!("label=scatter.run={}", guard.run),
        "--filter",
        &format!("label=com.docker.compose.service={name}"),
    ]);
    out.lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_tree_finds_leaves_by_dns_and_follows_them_leaving_and_joining() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let Some(command) = Project::command() else {
        skip::missing(
            Need::Docker,
            "neither `docker compose` nor `docker-compose` runs (apt-get install docker-compose)",
        );
        return;
    };
    let guard = RunGuard::new(engine::run_id("compose"));
    let port = scatter_tests::free_port().port();
    let project = Project::up(command, &guard, port);

    let load = Load::start(
        SocketAddr::from(([127, 0, 0, 1], port)),
        2,
        Duration::from_secs(1),
    );
    load.until(
        "the composed root answers with both shards",
        Instant::now(),
        Duration::from_secs(60),
        |o| o.iter().rev().take(5).filter(|o| o.full(2)).count() == 5,
    )
    .await;
    let root = service(&guard, "root");
    let root_started = engine::started_at(&root[0]);

    // Shard 1's leaves leave: DNS stops listing them, and the root reports
    // the shard skipped while shard 0 goes on answering.
    let leaves = service(&guard, "leaf-1");
    assert_eq!(leaves.len(), 2, "leaf-1 runs with scale 2");
    let left = Instant::now();
    let mut kill = vec!["kill"];
    kill.extend(leaves.iter().map(String::as_str));
    docker(&kill);
    load.until(
        "shard 1 reported skipped",
        left,
        Duration::from_secs(20),
        |o| {
            o.iter().any(|o| {
                o.result.as_ref().is_ok_and(|c| {
                    c.answered == 1 && outcome(missing(c, 1)) == ShardOutcome::Skipped
                })
            })
        },
    )
    .await;

    // They come back: the root finds them again, without a restart.
    let mut start = vec!["start"];
    start.extend(leaves.iter().map(String::as_str));
    docker(&start);
    let joined = Instant::now();
    load.until(
        "both shards answer again",
        joined,
        Duration::from_secs(20),
        |o| o.iter().rev().take(5).filter(|o| o.full(2)).count() == 5,
    )
    .await;
    load.assert_all_answered(left, |c| {
        c.total == 2 && !c.missing.iter().any(|m| m.shard == 0)
    });
    load.stop().await;
    assert_eq!(
        engine::started_at(&root[0]),
        root_started,
        "the root was not restarted"
    );

    assert!(project.down(), "compose down succeeds");
    guard.assert_gone();
}
