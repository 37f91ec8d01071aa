//! The bench leaves of a run (shards × replicas processes on loopback) and
//! their supervision, as an orchestrator would do it: a leaf that dies is
//! started again on the same port after [`RESTART_DELAY`], and every death
//! is counted. The harness knows each leaf's current process id, so it can
//! freeze one for real ([`crate::pauses`]), and can wait until the whole
//! fleet serves again before it reads counters.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::leaf::LeafConfig;
use crate::topology::{Shape, sibling_binary};

/// How long a dead leaf stays down before it is started again (on the
/// same port), like an orchestrator's restart delay.
pub const RESTART_DELAY: Duration = Duration::from_secs(1);
/// How long a leaf may take to report SERVING.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a leaf may drain after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The running bench leaves.
pub struct Fleet {
    leaves: Vec<Vec<SocketAddr>>,
    /// Each leaf's current process id (0 while it is down), shard-major.
    pids: Arc<Vec<AtomicU32>>,
    deaths: Arc<AtomicU64>,
    stopping: CancellationToken,
    supervisors: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Starts `shape` bench leaves configured by `config` and waits until
    /// every one is SERVING.
    pub async fn start(shape: Shape, config: &LeafConfig) -> anyhow::Result<Self> {
        let program = sibling_binary("scatter-bench-leaf")?;
        let config = serde_json::to_string(config)?;
        let count = (shape.shards * shape.replicas) as usize;
        let addrs = scatter_management::loopback_ports(count).context("no free loopback port")?;
        let pids: Arc<Vec<AtomicU32>> = Arc::new((0..count).map(|_| AtomicU32::new(0)).collect());
        let deaths = Arc::new(AtomicU64::new(0));
        let stopping = CancellationToken::new();
        let mut fleet = Self {
            leaves: addrs
                .chunks(shape.replicas as usize)
                .map(<[SocketAddr]>::to_vec)
                .collect(),
            pids: Arc::clone(&pids),
            deaths: Arc::clone(&deaths),
            stopping: stopping.clone(),
            supervisors: Vec::new(),
        };
        for (i, addr) in addrs.iter().enumerate() {
            let (shard, replica) = (i as u32 / shape.replicas, i as u32 % shape.replicas);
            let args = vec![
                "--shard".into(),
                shard.to_string(),
                "--shard-count".into(),
                shape.shards.to_string(),
                "--replica".into(),
                replica.to_string(),
                "--leaf-config".into(),
                config.clone(),
                "--grace-ms".into(),
                "2000".into(),
                "--listen".into(),
                addr.to_string(),
            ];
            let leaf = LeafProcess {
                program: program.clone(),
                args,
                index: i,
                pids: Arc::clone(&pids),
            };
            let child = match leaf.spawn() {
                Ok(child) => child,
                Err(error) => {
                    fleet.stop().await;
                    return Err(error);
                }
            };
            fleet.supervisors.push(tokio::spawn(leaf.supervise(
                child,
                Arc::clone(&deaths),
                stopping.clone(),
            )));
        }
        if let Err(error) = fleet.wait_serving(READY_TIMEOUT).await {
            fleet.stop().await;
            return Err(error);
        }
        Ok(fleet)
    }

    /// Leaf addresses by shard, then replica.
    pub fn leaves(&self) -> &[Vec<SocketAddr>] {
        &self.leaves
    }

    /// Every leaf address.
    pub fn all(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.leaves.iter().flatten().copied()
    }

    /// Each leaf's current process id, shard-major (shared: it changes
    /// when a leaf is restarted; 0 while it is down).
    pub fn pids(&self) -> Arc<Vec<AtomicU32>> {
        Arc::clone(&self.pids)
    }

    /// Leaf processes that have died since the fleet started.
    pub fn deaths(&self) -> u64 {
        self.deaths.load(Ordering::Relaxed)
    }

    /// Waits until every leaf reports SERVING (a restarted one included).
    pub async fn wait_serving(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        for addr in self.all() {
            let uri = format!("http://{addr}");
            while !scatter_management::is_serving(&uri).await {
                if tokio::time::Instant::now() >= deadline {
                    bail!("bench leaf {addr} did not report SERVING within {timeout:?}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Stops every leaf: resumed if frozen, SIGTERM, the drain, then a kill.
    pub async fn stop(self) {
        self.stopping.cancel();
        for supervisor in self.supervisors {
            let _ = supervisor.await;
        }
    }
}

/// One leaf's program and arguments, and where its pid is published.
struct LeafProcess {
    program: std::path::PathBuf,
    args: Vec<String>,
    index: usize,
    pids: Arc<Vec<AtomicU32>>,
}

impl LeafProcess {
    fn spawn(&self) -> anyhow::Result<Child> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(stderr())
            .kill_on_drop(true);
        die_with_harness(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        self.pids[self.index].store(child.id().unwrap_or(0), Ordering::Relaxed);
        Ok(child)
    }

    /// Restarts the leaf after [`RESTART_DELAY`] each time it dies, until told to stop.
    async fn supervise(
        self,
        mut child: Child,
        deaths: Arc<AtomicU64>,
        stopping: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = child.wait() => {
                    self.pids[self.index].store(0, Ordering::Relaxed);
                    deaths.fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        () = tokio::time::sleep(RESTART_DELAY) => {}
                        () = stopping.cancelled() => return,
                    }
                    match self.spawn() {
                        Ok(next) => child = next,
                        Err(error) => {
                            eprintln!("bench leaf {} not restarted: {error:#}", self.index);
                            return;
                        }
                    }
                }
                () = stopping.cancelled() => {
                    terminate(&mut child).await;
                    self.pids[self.index].store(0, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

/// SIGCONT (a frozen leaf cannot drain), SIGTERM, up to [`STOP_GRACE`], SIGKILL.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let pid = Pid::from_raw(pid as i32);
        let _ = kill(pid, Signal::SIGCONT);
        let _ = kill(pid, Signal::SIGTERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// Asks the kernel to SIGKILL the leaf when the harness dies, even by
/// SIGKILL: a leaf left frozen by a pause would not act on SIGTERM.
#[allow(unsafe_code)]
fn die_with_harness(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// The harness's stderr, for a leaf's output: stdout is the report's.
fn stderr() -> Stdio {
    use std::os::fd::AsFd as _;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::inherit(), Stdio::from)
}
