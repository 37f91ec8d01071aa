//! A child process owned by one test. It is killed when its guard drops —
//! when the test ends, whether it passed or panicked — and what it wrote to
//! stdout and stderr is kept and printed if the test fails.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// A running child; dropping it kills the process.
pub struct ChildProcess {
    name: String,
    child: Child,
    output: Arc<Mutex<String>>,
    stdout_lines: mpsc::UnboundedReceiver<String>,
}

impl ChildProcess {
    /// Starts `program` with `args`, capturing its output under `name`.
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn spawn(name: &str, program: &Path, args: &[String]) -> Self {
        Self::spawn_with_env(name, program, args, &[])
    }

    /// Like [`ChildProcess::spawn`], with `env` set in the child's
    /// environment (e.g. `SCATTER_LOG=debug`).
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn spawn_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, stdout_lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        tokio::spawn(keep_lines(stdout, Arc::clone(&output), Some(tx)));
        tokio::spawn(keep_lines(stderr, Arc::clone(&output), None));
        Self {
            name: name.to_owned(),
            child,
            output,
            stdout_lines,
        }
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    ///
    /// # Panics
    /// Once the process has been reaped.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process has not been reaped")
    }

    /// Sends `signal` (e.g. SIGTERM) to the process.
    ///
    /// # Panics
    /// When the signal cannot be sent.
    pub fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.pid()).expect("pids fit in i32");
        kill(Pid::from_raw(pid), signal)
            .unwrap_or_else(|e| panic!("cannot send {signal} to {}: {e}", self.name));
    }

    /// The next line on stdout that contains `needle`.
    ///
    /// # Panics
    /// When no such line comes within `timeout`, or stdout closes first.
    pub async fn stdout_line(&mut self, needle: &str, timeout: Duration) -> String {
        let found = tokio::time::timeout(timeout, async {
            while let Some(line) = self.stdout_lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{} closed stdout before printing {needle:?}", self.name),
            Err(_) => panic!(
                "{} printed no line with {needle:?} within {timeout:?}",
                self.name
            ),
        }
    }

    /// The exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to exit.
    ///
    /// # Panics
    /// When it is still running after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("cannot wait for {}: {e}", self.name),
            Err(_) => panic!("{} did not exit within {timeout:?}", self.name),
        }
    }

    /// Kills the process (SIGKILL) and waits until it is gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Everything the process wrote so far, stdout and stderr interleaved.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!(
                "----- output of {} -----\n{}----- end of {} -----",
                self.name,
                self.output(),
                self.name
            );
        }
    }
}

async fn keep_lines(
    stream: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    stdout: Option<mpsc::UnboundedSender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(output, "{line}");
        }
        if let Some(tx) = &stdout {
            let _ = tx.send(line);
        }
    }
}

/// What a command that ran to its end said.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `program` with `args` to its end (a command line, not a server).
///
/// # Panics
/// When it cannot start or still runs after `timeout` (it is then killed).
pub async fn run_to_end(program: &Path, args: &[&str], timeout: Duration) -> Finished {
    run_to_end_with_env(program, args, &[], timeout).await
}

/// [`run_to_end`] with `env` added to its environment.
///
/// # Panics
/// As [`run_to_end`].
pub async fn run_to_end_with_env(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Finished {
    let run = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} {args:?} still runs after {timeout:?}",
                program.display()
            )
        })
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The processes whose parent is `pid`, from `/proc/*/stat`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| stat(child).is_some_and(|(_, parent)| parent == pid))
        .collect()
}

/// Whether `pid` is still a live process (not gone, not a zombie).
pub fn is_running(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| !matches!(state, 'Z' | 'X'))
}

/// The state letter and parent pid of `pid`.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let mut fields = text.get(text.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

/// The resident memory of `pid` (`VmRSS` of `/proc/PID/status`), in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
