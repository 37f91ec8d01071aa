//! The Docker engine as the tests drive it: the `docker` command line (kill,
//! pause, network disconnect, stop — what an operator or a failure does),
//! whether an engine and the images are here at all, and a guard that
//! removes a run's containers and network when a test ends, pass or fail.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use scatter_root::runtime::docker::RunId;
use scatter_tests::skip::{self, Need};
use tokio::time::Instant;

/// The images under test, built by `deploy/build-images.sh`.
pub const LEAF_IMAGE: &str = "scatter-search-leaf:dev";
/// The example merge's image.
pub const MERGE_IMAGE: &str = "scatter-search-merge:dev";
/// The root's image.
pub const ROOT_IMAGE: &str = "scatter-root:dev";

/// Runs `docker ARGS` and returns its stdout, trimmed.
///
/// # Panics
/// When the command fails, with its stderr.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}"));
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs `docker ARGS`; its stdout, or `None` when it failed (clean-up,
/// which must not panic).
pub fn docker_quietly(args: &[&str]) -> Option<String> {
    let output = Command::new("docker").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Whether the tests can run: an engine answers and the images exist.
/// Without them the tests skip, visibly (see `scatter_tests::skip`),
/// unless `SCATTER_REQUIRE_DOCKER=1` or `SCATTER_REQUIRE_ALL=1` (CI), under
/// which a missing engine or image is a failure.
///
/// # Panics
/// When Docker is required and the engine or an image is missing.
pub fn available() -> bool {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let engine = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output();
        match engine {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(format!(
                    "no Docker engine answers: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Err(e) => return Err(format!("no docker command: {e}")),
        }
        let images = Command::new("docker")
            .args([
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                LEAF_IMAGE,
                MERGE_IMAGE,
                ROOT_IMAGE,
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if !images.status.success() {
            return Err(format!(
                "the images are not built ({}); run deploy/build-images.sh",
                String::from_utf8_lossy(&images.stderr).trim()
            ));
        }
        Ok(())
    });
    match checked {
        Ok(()) => true,
        Err(why) => {
            skip::missing(Need::Docker, why);
            false
        }
    }
}

/// One test at a time: the tests share two cores with their containers and
/// the engine, and their timing assertions should measure Scatter, not the
/// scheduler. Hold the guard for the whole test.
pub async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// A run id for one test: readable, unique.
pub fn run_id(test: &str) -> RunId {
    RunId::new(format!("{test}-{}", RunId::random()))
}

/// The IPv4 address of `container` on `network`; empty when detached.
pub fn ip_on(container: &str, network: &str) -> String {
    docker(&[
        "inspect",
        "--format",
        &format!(
            "{{{{with index .NetworkSettings.Networks {network:?}}}}}{{{{.IPAddress}}}}{{{{end}}}}"
        ),
        container,
    ])
}

/// Containers (ids) carrying `label=value`, in any state.
pub fn containers_with(label: &str, value: &str) -> Vec<String> {
    let filter = format!("label={label}={value}");
    let out = docker_quietly(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
    out.unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Networks (ids) carrying `label=value`.
pub fn networks_with(label: &str, value: &str) -> Vec<String> {
    let filter = format!("label={label}={value}");
    let out = docker_quietly(&["network", "ls", "-q", "--no-trunc", "--filter", &filter]);
    out.unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Removes every container and network of a run when dropped: the test's
/// safety net (the runtime removes its own objects on the way out too).
pub struct RunGuard {
    /// The run.
    pub run: RunId,
}

impl RunGuard {
    /// Guards `run`.
    pub fn new(run: RunId) -> Self {
        Self { run }
    }

    /// Asserts nothing of the run is left.
    ///
    /// # Panics
    /// When a container or network of the run remains.
    pub fn assert_gone(&self) {
        let containers = containers_with("scatter.run", self.run.as_str());
        let networks = networks_with("scatter.run", self.run.as_str());
        assert!(
            containers.is_empty() && networks.is_empty(),
            "run {} left containers {containers:?} and networks {networks:?}",
            self.run
        );
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let run = self.run.as_str();
        let containers = containers_with("scatter.run", run);
        for id in &containers {
            // A frozen container is thawed first so the kill is immediate.
            docker_quietly(&["unpause", id]);
        }
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            docker_quietly(&args);
        }
        for network in networks_with("scatter.run", run) {
            docker_quietly(&["network", "rm", &network]);
        }
    }
}

/// A moment on the test's clock and on the engine's (the wall clock of
/// the same machine), to place engine events among the test's requests.
#[derive(Clone, Copy, Debug)]
pub struct Moment {
    /// On the test's clock.
    pub at: Instant,
    wall: Duration,
}

impl Moment {
    /// Now.
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            wall: wall_clock(),
        }
    }

    /// The first death of the container `id` after this moment (the
    /// engine's `die` event, which comes once the process is gone).
    ///
    /// # Panics
    /// When the engine reports no such death.
    pub fn death_of(&self, id: &str) -> Death {
        let events = docker(&[
            "events",
            "--since",
            &self.wall.as_secs().to_string(),
            "--until",
            &(wall_clock().as_secs() + 1).to_string(),
            "--filter",
            &format!("container={id}"),
            "--filter",
            "event=die",
            "--format",
            "{{.TimeNano}} {{.Actor.Attributes.exitCode}}",
        ]);
        events
            .lines()
            .filter_map(|line| {
                let (nanos, code) = line.trim().split_once(' ')?;
                let wall = Duration::from_nanos(nanos.parse().ok()?);
                (wall >= self.wall).then(|| Death {
                    exit_code: code.to_owned(),
                })
            })
            .next()
            .unwrap_or_else(|| panic!("no die event for {id} in {events:?}"))
    }
}

/// A container's process ending.
#[derive(Clone, Debug)]
pub struct Death {
    /// Its exit code.
    pub exit_code: String,
}

fn wall_clock() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
}

/// The id of a container.
pub fn id_of(container: &str) -> String {
    docker(&["inspect", "--format", "{{.Id}}", container])
}

/// When a container last started, as the engine reports it.
pub fn started_at(container: &str) -> String {
    docker(&["inspect", "--format", "{{.State.StartedAt}}", container])
}
