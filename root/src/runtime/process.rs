//! The process runtime: leaves and merges as child processes on free
//! loopback ports. Each child gets `--listen 127.0.0.1:PORT`; the runtime
//! waits until it reports SERVING on gRPC health, restarts it on the same
//! port if it dies, and on [`ProcessRuntime::stop`] sends SIGTERM, waits for
//! the drain, and kills what is left. Children also die with the root if it
//! is killed outright (Linux parent-death signal), so none is orphaned.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::StartError;
use crate::topology::Connector;

/// One program to run.
#[derive(Clone, Debug)]
pub struct ChildSpec {
    /// A name for logs, e.g. `leaf-3.1`.
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments; `--listen 127.0.0.1:PORT` is appended.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// How children are watched and stopped.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// How long a child may take to report SERVING. Default 30 s.
    pub ready_timeout: Duration,
    /// How long a child may drain after SIGTERM before it is killed. Default 10 s.
    pub stop_grace: Duration,
    /// Pause before restarting a child that died, doubled per quick death
    /// up to 5 s. Default 100 ms.
    pub restart_backoff: Duration,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        Self {
            ready_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_secs(10),
            restart_backoff: Duration::from_millis(100),
        }
    }
}

/// Children started and supervised by this runtime.
pub struct ProcessRuntime {
    children: Vec<Supervised>,
    stopping: CancellationToken,
}

struct Supervised {
    name: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ProcessRuntime {
    /// Starts every child and waits until all report SERVING. On failure
    /// the children already started are stopped.
    pub async fn start(specs: Vec<ChildSpec>, options: ProcessOptions) -> Result<Self, StartError> {
        let stopping = CancellationToken::new();
        let specs_len = specs.len();
        let mut started = Vec::with_capacity(specs_len);
        let mut runtime = Self {
            children: Vec::new(),
            stopping: stopping.clone(),
        };
        for (spec, addr) in specs.into_iter().zip(free_ports(specs_len)?) {
            let child = spawn(&spec, addr)?;
            started.push((spec, addr, child));
        }
        // Children start in parallel; wait for each in turn.
        for (spec, addr, mut child) in started {
            if let Err(error) =
                wait_ready(&spec.name, addr, &mut child, options.ready_timeout).await
            {
                let _ = child.start_kill();
                runtime.stop_with(&options).await;
                return Err(error);
            }
            let task = tokio::spawn(supervise(
                spec.clone(),
                addr,
                child,
                options.clone(),
                stopping.clone(),
            ));
            runtime.children.push(Supervised {
                name: spec.name,
                addr,
                task,
            });
        }
        Ok(runtime)
    }

    /// The loopback address of each child, in the order given.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.children.iter().map(|c| c.addr).collect()
    }

    /// The name and address of each child.
    pub fn children(&self) -> impl Iterator<Item = (&str, SocketAddr)> {
        self.children.iter().map(|c| (c.name.as_str(), c.addr))
    }

    /// Stops every child: SIGTERM, the drain, then a kill for any left.
    pub async fn stop(mut self, options: &ProcessOptions) {
        self.stop_with(options).await;
    }

    async fn stop_with(&mut self, _options: &ProcessOptions) {
        self.stopping.cancel();
        for child in self.children.drain(..) {
            if let Err(error) = child.task.await {
                tracing::warn!(name = %child.name, %error, "supervisor ended abnormally");
            }
        }
    }
}

impl Drop for ProcessRuntime {
    fn drop(&mut self) {
        // Supervisors stop their children when told; `kill_on_drop` covers
        // a runtime dropped without `stop`.
        self.stopping.cancel();
    }
}

/// `n` distinct free loopback ports for the children, kept by each across
/// its restarts ([`scatter_management::loopback_ports`]).
fn free_ports(n: usize) -> Result<Vec<SocketAddr>, StartError> {
    scatter_management::loopback_ports(n)
        .map_err(|e| StartError::runtime("no free loopback port", e))
}

fn spawn(spec: &ChildSpec, addr: SocketAddr) -> Result<Child, StartError> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .arg("--listen")
        .arg(addr.to_string())
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stderr_stdio())
        .kill_on_drop(true);
    die_with_parent(&mut command);
    command.spawn().map_err(|e| {
        StartError::runtime(
            format!("cannot start {} ({})", spec.name, spec.program.display()),
            e,
        )
    })
}

/// Children's output goes to the root's stderr, keeping stdout for the
/// root's own lines (such as `ready`).
fn stderr_stdio() -> Stdio {
    use std::os::fd::AsFd as _;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::inherit(), Stdio::from)
}

/// Asks the kernel to SIGTERM the child when the root dies, even by SIGKILL.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl(2), which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
}

async fn wait_ready(
    name: &str,
    addr: SocketAddr,
    child: &mut Child,
    timeout: Duration,
) -> Result<(), StartError> {
    let deadline = Instant::now() + timeout;
    let uri = format!("http://{addr}");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(StartError::runtime_failed(format!(
                "{name} exited before it was ready ({status}); see its output above"
            )));
        }
        if Connector::default()
            .is_serving(&uri, Duration::from_millis(500))
            .await
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StartError::runtime_failed(format!(
                "{name} did not report SERVING on {addr} within {timeout:?}"
            )));
        }
        // Poll again shortly: readiness is a condition we check, not a delay we trust.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Watches one child: restarts it when it dies, stops it when told.
async fn supervise(
    spec: ChildSpec,
    addr: SocketAddr,
    mut child: Child,
    options: ProcessOptions,
    stopping: CancellationToken,
) {
    let mut backoff = options.restart_backoff;
    loop {
        let started = Instant::now();
        tokio::select! {
            status = child.wait() => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                tracing::warn!(name = %spec.name, %status, "child exited; restarting");
                if started.elapsed() > Duration::from_secs(10) {
                    backoff = options.restart_backoff;
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = stopping.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                match spawn(&spec, addr) {
                    Ok(next) => child = next,
                    Err(error) => {
                        tracing::error!(%error, "restart failed; giving up on this child");
                        return;
                    }
                }
                if let Err(error) = wait_ready(&spec.name, addr, &mut child, options.ready_timeout).await {
                    tracing::warn!(%error, "restarted child not ready yet");
                }
            }
            () = stopping.cancelled() => {
                terminate(&spec.name, &mut child, options.stop_grace).await;
                return;
            }
        }
    }
}

/// SIGTERM, wait up to `grace` for the drain, then SIGKILL.
async fn terminate(name: &str, child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(Ok(status)) => tracing::debug!(name, %status, "child stopped"),
        _ => {
            tracing::warn!(
                name,
                "child did not stop within its grace period; killing it"
            );
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_started_together_never_share_a_port() {
        let ports = free_ports(256).unwrap();
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
