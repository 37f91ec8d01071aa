//! The processes of a run besides the leaves ([`crate::fleet`]), all on
//! loopback: a root process —
//! Scatter's (`scatter serve`) or the hand-written `scatter-bench-plain-root`,
//! started by the harness itself so it knows the pid whose CPU it measures —
//! and optionally a merge process (through the root crate's process
//! runtime, which waits for it to report SERVING and stops it afterwards).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use scatter_root::runtime::process::{ChildSpec, ProcessOptions, ProcessRuntime};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// How many shards, and replicas per shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Shards in the tree.
    pub shards: u32,
    /// Replicas of each shard.
    pub replicas: u32,
}

/// The binary `name` next to the running one (target/release/ or
/// target/debug/; test and bench binaries live one level down, in deps/).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running binary")?;
    let mut dir = exe.parent().context("the binary has no folder")?;
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found next to {}; run cargo build --release --workspace first",
            path.display(),
            exe.display()
        );
    }
    Ok(path)
}

fn process_options() -> ProcessOptions {
    ProcessOptions {
        stop_grace: Duration::from_secs(3),
        ..ProcessOptions::default()
    }
}

/// A merge process serving the built-in concatenation.
pub struct MergeProcess {
    runtime: ProcessRuntime,
    /// Its address.
    pub addr: SocketAddr,
}

impl MergeProcess {
    /// Starts `scatter-bench-merge` and waits until it is SERVING.
    pub async fn start() -> anyhow::Result<Self> {
        let spec = ChildSpec {
            name: "bench-merge".into(),
            program: sibling_binary("scatter-bench-merge")?,
            args: Vec::new(),
            env: Vec::new(),
        };
        let runtime = ProcessRuntime::start(vec![spec], process_options()).await?;
        let addr = runtime.addrs()[0];
        Ok(Self { runtime, addr })
    }

    /// Stops it.
    pub async fn stop(self) {
        self.runtime.stop(&process_options()).await;
    }
}

/// A root process: Scatter's (`scatter serve`) or the hand-written one of
/// the `plain-root` mode (`scatter-bench-plain-root`).
pub struct RootProcess {
    child: Child,
    /// Where it serves gRPC (and, for Scatter's, `/metrics`).
    pub addr: SocketAddr,
    /// Its process id (for CPU accounting).
    pub pid: u32,
}

impl RootProcess {
    /// Starts a Scatter root over `leaves` merging with `merge`
    /// (`builtin:concat` or an address), with `extra` flags, and waits for
    /// its ready line. The binary is the `scatter` beside this one, or
    /// `$SCATTER_BENCH_ROOT` (to measure another build of the root against
    /// the same leaves).
    pub async fn start(
        leaves: &[Vec<SocketAddr>],
        merge: &str,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let program = match std::env::var_os("SCATTER_BENCH_ROOT") {
            Some(path) => PathBuf::from(path),
            None => sibling_binary("scatter")?,
        };
        let mut command = Command::new(&program);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--merge", merge])
            .args(extra);
        Self::spawn(command, leaves, "scatter root ready on http://").await
    }

    /// Starts the hand-written root of the `plain-root` mode over `leaves`
    /// and waits for its ready line.
    pub async fn start_plain(leaves: &[Vec<SocketAddr>]) -> anyhow::Result<Self> {
        let mut command = Command::new(sibling_binary("scatter-bench-plain-root")?);
        command.args(["--listen", "127.0.0.1:0"]);
        Self::spawn(command, leaves, crate::plain_root::READY_LINE).await
    }

    /// Runs `command` with one `--shard` flag per shard of `leaves` and
    /// waits for the stdout line starting with `ready` (then its address).
    async fn spawn(
        mut command: Command,
        leaves: &[Vec<SocketAddr>],
        ready: &str,
    ) -> anyhow::Result<Self> {
        command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for replicas in leaves {
            let list: Vec<String> = replicas.iter().map(ToString::to_string).collect();
            command.arg("--shard").arg(list.join(","));
        }
        let program = command.as_std().get_program().to_owned();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let pid = child.id().context("the root exited at once")?;
        let stdout = child.stdout.take().context("no stdout from the root")?;
        let mut lines = BufReader::new(stdout).lines();
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix(ready) {
                    return Ok::<_, anyhow::Error>(Some(url.trim().parse::<SocketAddr>()?));
                }
            }
            Ok(None)
        })
        .await;
        let addr = match started {
            Ok(Ok(Some(addr))) => addr,
            Ok(Ok(None)) => bail!("the root exited before it was ready; see its errors above"),
            Ok(Err(e)) => return Err(e.context("reading the root's ready line")),
            Err(_) => bail!("the root did not say it was ready within 30 s"),
        };
        // Keep reading so the root never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr, pid })
    }

    /// SIGTERM, up to 5 s to drain, then SIGKILL.
    pub async fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
