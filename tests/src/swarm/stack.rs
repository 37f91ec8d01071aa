//! One stack of `deploy/swarm/stack.yaml` under a name of its own: deployed
//! from the local images, its services rolled one at a time, the leaf
//! tasks compared with what the root's `/status` shows, and removed — with
//! its tasks and network — when the test ends, pass or fail.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::cli::{docker_async, docker_with, try_docker};
use super::cluster::Swarm;

/// How long the stack's tasks may take to stop and its network to go.
const REMOVAL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one service's rolling update may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60);

/// The label Docker puts on every object of a stack.
const NAMESPACE: &str = "com.docker.stack.namespace";

/// A deployed stack, removed when dropped (after a failed assertion too).
/// It borrows the swarm, so it goes before the swarm is left.
#[derive(Debug)]
pub struct Stack<'s> {
    name: String,
    removed: bool,
    _swarm: &'s Swarm,
}

/// One service's rolling update.
#[derive(Clone, Debug)]
pub struct Roll {
    /// The service, without the stack's prefix.
    pub service: String,
    /// When `docker service update` was started.
    pub started: Instant,
    /// When Docker reported every task replaced and the update completed.
    pub converged: Instant,
}

impl<'s> Stack<'s> {
    /// `docker stack deploy --resolve-image never` of `file` as `name`,
    /// with `env` for the file's variables.
    ///
    /// # Panics
    /// When the deploy fails (what it created is removed first).
    pub fn deploy(swarm: &'s Swarm, file: &Path, name: &str, env: &[(&str, String)]) -> Self {
        let stack = Self {
            name: name.to_owned(),
            removed: false,
            _swarm: swarm,
        };
        let file = file.to_str().expect("a UTF-8 path");
        docker_with(
            &[
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "--compose-file",
                file,
                name,
            ],
            env,
        );
        stack
    }

    /// The full name of the stack's `service`.
    pub fn service(&self, service: &str) -> String {
        format!("{}_{service}", self.name)
    }

    /// Replaces every task of `service` (`docker service update --force`)
    /// with the update settings of the stack file, and returns once Docker
    /// says the update completed.
    ///
    /// # Panics
    /// When the update fails, is rolled back or paused.
    pub async fn roll(&self, service: &str) -> Roll {
        let full = self.service(service);
        let started = Instant::now();
        if let Err(e) = docker_async(&[
            "service",
            "update",
            "--force",
            "--detach=false",
            "--quiet",
            &full,
        ])
        .await
        {
            panic!("rolling {full} failed: {e}");
        }
        // The command returns once every task runs the new spec; the
        // update itself ends after the last task's `monitor` window.
        let deadline = Instant::now() + UPDATE_TIMEOUT;
        loop {
            let state = docker_async(&[
                "service",
                "inspect",
                "--format",
                "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
                &full,
            ])
            .await
            .unwrap_or_else(|e| panic!("cannot inspect {full}: {e}"));
            match state.as_str() {
                "completed" => break,
                "updating" => {}
                other => panic!("the update of {full} ended {other:?}, not completed"),
            }
            assert!(
                Instant::now() < deadline,
                "the update of {full} still runs after {UPDATE_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let converged = Instant::now();
        Roll {
            service: service.to_owned(),
            started,
            converged,
        }
    }

    /// The addresses (`http://IP:port`, as the root names replicas) of the
    /// running tasks of `services`.
    pub async fn task_addrs(
        &self,
        services: &[&str],
        port: u16,
    ) -> Result<BTreeSet<String>, String> {
        let mut addrs = BTreeSet::new();
        for service in services {
            let tasks = docker_async(&[
                "service",
                "ps",
                "--quiet",
                "--no-trunc",
                "--filter",
                "desired-state=running",
                &self.service(service),
            ])
            .await?;
            for task in tasks.lines() {
                let described = docker_async(&[
                    "inspect",
                    "--format",
                    "{{.Status.State}}{{range .NetworksAttachments}}{{range .Addresses}} {{.}}{{end}}{{end}}",
                    task,
                ])
                .await?;
                let mut words = described.split_whitespace();
                if words.next() != Some("running") {
                    return Err(format!("task {task} of {service} is not running yet"));
                }
                for cidr in words {
                    let ip = cidr.split('/').next().unwrap_or(cidr);
                    addrs.insert(format!("http://{ip}:{port}"));
                }
            }
        }
        Ok(addrs)
    }

    /// `Ok` when the root at `root` has exactly the running tasks of
    /// `leaf_services` as its replicas, `replicas` per shard over `shards`
    /// shards, each reporting SERVING; else what differs.
    pub async fn root_follows(
        &self,
        root: SocketAddr,
        leaf_services: &[&str],
        shards: usize,
        replicas: usize,
    ) -> Result<(), String> {
        let tasks = self.task_addrs(leaf_services, 50051).await?;
        let (code, body) = crate::admin::get(root, "/status")
            .await
            .map_err(|e| format!("/status: {e}"))?;
        if code != 200 {
            return Err(format!("/status answered {code}"));
        }
        let status: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("/status is not JSON: {e}"))?;
        let tree = status["details"]["shards"]
            .as_array()
            .ok_or("/status has no shards")?;
        if tree.len() != shards {
            return Err(format!("the root has {} shards, not {shards}", tree.len()));
        }
        let mut seen = BTreeSet::new();
        for shard in tree {
            let members = shard["replicas"]
                .as_array()
                .ok_or("a shard has no replicas")?;
            let serving = members.iter().filter(|r| r["serving"] == true).count();
            if members.len() != replicas || serving != replicas {
                return Err(format!(
                    "shard {} has {} replicas, {serving} serving; want {replicas}",
                    shard["shard"],
                    members.len()
                ));
            }
            seen.extend(
                members
                    .iter()
                    .filter_map(|r| r["addr"].as_str().map(str::to_owned)),
            );
        }
        if seen == tasks {
            Ok(())
        } else {
            Err(format!(
                "the root's replicas {seen:?} are not the running tasks {tasks:?}"
            ))
        }
    }

    /// Waits until [`Stack::root_follows`] holds, and returns how long
    /// that took.
    ///
    /// # Panics
    /// When it does not within `timeout`, with the last difference seen.
    pub async fn until_root_follows(
        &self,
        root: SocketAddr,
        leaf_services: &[&str],
        shards: usize,
        replicas: usize,
        timeout: Duration,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let why = match self
                .root_follows(root, leaf_services, shards, replicas)
                .await
            {
                Ok(()) => return started.elapsed(),
                Err(why) => why,
            };
            assert!(
                started.elapsed() < timeout,
                "the root does not follow the stack's leaves after {timeout:?}: {why}"
            );
            // Each check runs a few docker commands: a slower poll than
            // `crate::poll`'s keeps the engine free for the update.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Removes the stack and waits until its tasks' containers and its
    /// network are gone.
    ///
    /// # Panics
    /// When something of the stack is left after [`REMOVAL_TIMEOUT`].
    pub fn remove(mut self) {
        self.removed = true;
        if let Err(left) = self.take_down() {
            panic!("stack {} left {left}", self.name);
        }
    }

    fn take_down(&self) -> Result<(), String> {
        let filter = format!("label={NAMESPACE}={}", self.name);
        // Only this stack's services and network: `stack rm` goes by the
        // namespace label Docker gave them at deploy.
        if let Err(e) = try_docker(&["stack", "rm", &self.name]) {
            eprintln!("docker stack rm {}: {e}", self.name);
        }
        let deadline = Instant::now() + REMOVAL_TIMEOUT;
        loop {
            let containers =
                try_docker(&["ps", "--all", "--quiet", "--filter", &filter]).unwrap_or_default();
            let networks =
                try_docker(&["network", "ls", "--quiet", "--filter", &filter]).unwrap_or_default();
            if containers.is_empty() && networks.is_empty() {
                return Ok(());
            }
            // `stack rm` gives up on a network whose tasks are still
            // draining: remove it again once they have stopped.
            if containers.is_empty() {
                for network in networks.lines() {
                    let _ = try_docker(&["network", "rm", network]);
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "containers [{}] and networks [{}] after {REMOVAL_TIMEOUT:?}",
                    containers.replace('\n', " "),
                    networks.replace('\n', " ")
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        if !self.removed
            && let Err(left) = self.take_down()
        {
            eprintln!("stack {} left {left}", self.name);
        }
    }
}

/// The stack's name for one test run: unique on this engine.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}
