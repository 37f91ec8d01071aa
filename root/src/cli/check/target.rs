//! The process under check: one already running at an address, or one the
//! checker starts itself — a command (`--exec`) or a container (`--image`)
//! — which it can then send SIGTERM, watch exit, and start again after a
//! crash so that one broken check does not fail the ones after it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::container::Container;
use super::wire;

/// How a started process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code, when it exited rather than died of a signal.
    pub code: Option<i32>,
    /// In words, after "the process": `exited with code 70`.
    text: String,
}

impl Exit {
    /// An exit with `code`.
    pub fn code(code: i32) -> Self {
        Self {
            code: Some(code),
            text: format!("exited with code {code}"),
        }
    }

    /// An end without an exit code, said as `text`.
    pub fn other(text: String) -> Self {
        Self { code: None, text }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where the process under check is, and how it was started.
pub struct Target {
    uri: String,
    started: Started,
    ready_within: Duration,
}

enum Started {
    /// Already running; the checker cannot signal it.
    Address,
    /// A command the checker runs.
    Exec(Exec),
    /// A container the checker runs.
    Container(Container),
}

/// A command run through `sh -c 'exec …'`, its output in a file.
struct Exec {
    command: String,
    env: Vec<(String, String)>,
    output: PathBuf,
    child: Child,
}

/// What to check and how to reach or start it.
pub struct TargetSpec {
    /// `host:port` or a URI; chosen by the checker when absent.
    pub addr: Option<String>,
    /// A command line to run.
    pub exec: Option<String>,
    /// An image to run.
    pub image: Option<String>,
    /// The port the image's process listens on inside the container.
    pub port: u16,
    /// `KEY=VALUE` for the started process.
    pub env: Vec<String>,
    /// How long a started process has to serve.
    pub ready_within: Duration,
}

impl Target {
    /// Reaches or starts the target of `spec` and waits until it serves
    /// gRPC health.
    ///
    /// # Errors
    /// When it cannot start, exits, or does not serve in time.
    pub async fn start(spec: TargetSpec) -> anyhow::Result<Self> {
        let env = spec
            .env
            .iter()
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("--env {pair:?} must be KEY=VALUE"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (uri, started) = match (spec.exec, spec.image) {
            (Some(_), Some(_)) => bail!("give --exec or --image, not both"),
            (None, None) => {
                let Some(addr) = spec.addr else {
                    bail!("give the address of a running process, or --exec CMD, or --image IMG");
                };
                (scatter_root::topology::normalise(&addr), Started::Address)
            }
            (Some(command), None) => {
                let (uri, listen) = local_address(spec.addr)?;
                let mut env = env;
                env.push(("SCATTER_LISTEN".to_owned(), listen));
                let exec = Exec::spawn(command, env)?;
                (uri, Started::Exec(exec))
            }
            (None, Some(image)) => {
                if let Some(addr) = spec.addr {
                    bail!(
                        "give {addr} or --image, not both: the checker reaches the container \
                         on a loopback port the engine publishes (--port is the one inside)"
                    );
                }
                let container = Container::run(&image, spec.port, env).await?;
                (container.uri(), Started::Container(container))
            }
        };
        let mut target = Self {
            uri,
            started,
            ready_within: spec.ready_within,
        };
        target.wait_serving().await?;
        Ok(target)
    }

    /// The gRPC URI of the process, e.g. `http://127.0.0.1:7001`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// What was checked, for the report.
    pub fn describe(&self) -> String {
        match &self.started {
            Started::Address => self.uri.clone(),
            Started::Exec(exec) => format!("--exec {:?} at {}", exec.command, self.uri),
            Started::Container(container) => {
                format!("--image {} at {}", container.image(), self.uri)
            }
        }
    }

    /// Where the started process's output is, when the checker started it.
    pub fn output(&self) -> Option<String> {
        match &self.started {
            Started::Address => None,
            Started::Exec(exec) => Some(exec.output.display().to_string()),
            Started::Container(container) => Some(container.logs_hint()),
        }
    }

    /// Whether the checker started the process and can signal it.
    pub fn can_signal(&self) -> bool {
        !matches!(self.started, Started::Address)
    }

    /// Sends SIGTERM.
    ///
    /// # Errors
    /// When the process is not the checker's, or the signal cannot be sent.
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        match &mut self.started {
            Started::Address => bail!("the checker did not start this process"),
            Started::Exec(exec) => {
                let pid = exec.child.id().context("the process has exited")?;
                kill(Pid::from_raw(pid as i32), Signal::SIGTERM).context("cannot send SIGTERM")
            }
            Started::Container(container) => container.terminate().await,
        }
    }

    /// How the process ended, waiting for it up to `within`; `None` when it
    /// still runs then (or is not the checker's).
    pub async fn exit_within(&mut self, within: Duration) -> Option<Exit> {
        match &mut self.started {
            Started::Address => None,
            Started::Exec(exec) => tokio::time::timeout(within, exec.child.wait())
                .await
                .ok()
                .map(|status| match status {
                    Ok(status) => describe_exit(status),
                    Err(e) => Exit::other(format!("cannot be waited for: {e}")),
                }),
            Started::Container(container) => container.exit_within(within).await,
        }
    }

    /// Starts the process again after it exited, and waits until it serves.
    ///
    /// # Errors
    /// When it cannot start or does not serve in time.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        match &mut self.started {
            Started::Address => bail!("the checker did not start this process"),
            Started::Exec(exec) => exec.respawn()?,
            Started::Container(container) => {
                container.restart().await?;
                self.uri = container.uri();
            }
        }
        self.wait_serving().await
    }

    /// Stops a started process (killing it) and removes what was made for
    /// it; a container's output is printed first when `show_output`.
    pub async fn stop(self, show_output: bool) {
        match self.started {
            Started::Address => {}
            Started::Exec(mut exec) => {
                let _ = exec.child.kill().await;
            }
            Started::Container(container) => container.remove(show_output).await,
        }
    }

    /// Waits until the process answers gRPC health with SERVING.
    async fn wait_serving(&mut self) -> anyhow::Result<()> {
        let until = Instant::now() + self.ready_within;
        loop {
            let last = match wire::health(&self.uri, "").await {
                Ok(status) if status == wire::SERVING => return Ok(()),
                Ok(status) => format!("health says {}", wire::status_name(status)),
                Err(e) => wire::describe(&e),
            };
            if let Some(exit) = self.exit_within(Duration::ZERO).await {
                let output = self.output().unwrap_or_default();
                bail!(
                    "the process {exit} before it served {} (its output: {output})",
                    self.uri
                );
            }
            if Instant::now() >= until {
                bail!(
                    "{} did not serve gRPC health within {:?}: {last}",
                    self.uri,
                    self.ready_within
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Exec {
    fn spawn(command: String, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let output =
            std::env::temp_dir().join(format!("scatter-check-{}-{stamp}.log", std::process::id()));
        let child = Self::child(&command, &env, &output)?;
        Ok(Self {
            command,
            env,
            output,
            child,
        })
    }

    fn respawn(&mut self) -> anyhow::Result<()> {
        self.child = Self::child(&self.command, &self.env, &self.output)?;
        Ok(())
    }

    fn child(
        command: &str,
        env: &[(String, String)],
        output: &std::path::Path,
    ) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(output)
            .with_context(|| format!("cannot write {}", output.display()))?;
        let err = log.try_clone()?;
        // `exec` so that the signals go to the program, not to a shell.
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {command:?}"))
    }
}

/// `exited with code 0`, `was killed by SIGKILL`.
fn describe_exit(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::code(code),
        (None, Some(signal)) => Exit::other(match Signal::try_from(signal) {
            Ok(signal) => format!("was killed by {signal}"),
            Err(_) => format!("was killed by signal {signal}"),
        }),
        (None, None) => Exit::other("ended".to_owned()),
    }
}

/// The URI to reach a local process at and its `SCATTER_LISTEN`: `addr`
/// when given, else a free loopback port.
fn local_address(addr: Option<String>) -> anyhow::Result<(String, String)> {
    let listen = match addr {
        Some(addr) => addr
            .split_once("://")
            .map_or(addr.as_str(), |(_, rest)| rest)
            .to_owned(),
        None => scatter_management::loopback_ports(1)
            .context("cannot find a free port on 127.0.0.1")?[0]
            .to_string(),
    };
    Ok((format!("http://{listen}"), listen))
}
