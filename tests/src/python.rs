//! Python for the tests that run Python leaves, merges and clients (grpcio):
//! which interpreter, whether it has what a test needs, and starting the
//! Python processes.
//!
//! The interpreter is `$SCATTER_PYTHON`, else the project's venv at
//! `target/python-venv` (`scripts/test.sh` makes it from
//! `tests/python-requirements.txt`), else `python3` on the `PATH`. Where it
//! lacks a module the test is skipped through [`skip::missing`], which fails
//! it instead where Python is required (CI).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::server::{Server, free_port};
use crate::skip::{self, Need};

/// How long a Python client may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run to make the venv the tests look for.
const MAKE_VENV: &str = "python3 -m venv target/python-venv && \
     target/python-venv/bin/pip install -r tests/python-requirements.txt (or run scripts/test.sh)";

/// The workspace's root folder.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python interpreter the tests run: `$SCATTER_PYTHON`, else
/// `target/python-venv/bin/python3` when it exists, else `python3`.
pub fn interpreter() -> PathBuf {
    if let Some(python) = std::env::var_os("SCATTER_PYTHON").filter(|p| !p.is_empty()) {
        return python.into();
    }
    let venv = workspace().join("target/python-venv/bin/python3");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// A command-line tool installed beside the [`interpreter`] (a venv's
/// `bin`, e.g. `kubernetes-validate`), else `name` on the `PATH`.
pub fn tool(name: &str) -> PathBuf {
    interpreter()
        .parent()
        .map(|bin| bin.join(name))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Whether the [`interpreter`] can import every one of `modules`; when it
/// cannot, the test is skipped (see [`skip::missing`]).
///
/// # Panics
/// When it cannot and Python is required.
pub fn ready(modules: &[&str]) -> bool {
    let python = interpreter();
    let ready = Command::new(&python)
        .args(["-c", &format!("import {}", modules.join(", "))])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let why = format!(
            "{} cannot import {}: {MAKE_VENV}",
            python.display(),
            modules.join(", ")
        );
        skip::missing(Need::Python, &why);
    }
    ready
}

/// Whether the interpreter has what the Python leaf, merge and clients
/// import (grpcio, grpcio-tools, grpcio-health-checking); skips when not.
pub fn grpc_ready() -> bool {
    ready(&["grpc", "grpc_tools", "grpc_health"])
}

/// A file of the Python example in `examples/<example>`.
pub fn example(example: &str, file: &str) -> PathBuf {
    workspace().join("examples").join(example).join(file)
}

/// A file of `tests/fixtures` (e.g. `broken_leaf.py`).
pub fn fixture(file: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(file)
}

/// Starts `script` under the [`interpreter`] with `args` and `--listen` a
/// free port, and returns once it reports SERVING.
pub async fn start(name: &str, script: &Path, args: &[String]) -> Server {
    start_on(name, script, args, free_port()).await
}

/// Like [`start`], listening on `addr`.
pub async fn start_on(name: &str, script: &Path, args: &[String], addr: SocketAddr) -> Server {
    let mut all = vec![script.display().to_string()];
    all.extend_from_slice(args);
    Server::start(name, &interpreter(), &all, addr).await
}

/// Starts the Python search leaf (`examples/python-leaf/leaf.py`) for
/// `shard` of `shard_count` over `corpus_dir`, with `extra` flags (e.g.
/// `--delay-ms 300`).
pub async fn leaf(shard: u32, shard_count: u32, corpus_dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--corpus-dir".to_owned(),
        corpus_dir.display().to_string(),
        "--shard".to_owned(),
        shard.to_string(),
        "--shard-count".to_owned(),
        shard_count.to_string(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let name = format!("python leaf {shard}");
    start(&name, &example("python-leaf", "leaf.py"), &args).await
}

/// Starts the Python search merge (`examples/python-merge/merge.py`) with
/// `extra` flags.
pub async fn merge(extra: &[&str]) -> Server {
    let args: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
    start("python merge", &example("python-merge", "merge.py"), &args).await
}

/// Runs the Python `script` with `args` to its end and returns what it
/// printed.
///
/// # Panics
/// When it cannot start, runs past a minute, or exits with failure (with
/// its output).
pub async fn run(script: &Path, args: &[&str]) -> String {
    let client = tokio::process::Command::new(interpreter())
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(CLIENT_TIMEOUT, client)
        .await
        .unwrap_or_else(|_| panic!("{} still runs after {CLIENT_TIMEOUT:?}", script.display()))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} failed:\n{stdout}{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A corpus directory for search leaves, Rust (`search-leaf --corpus-dir`)
/// or Python: one file per document, removed when dropped.
pub struct CorpusDir {
    path: PathBuf,
}

impl CorpusDir {
    /// Writes `documents` — (id, title, text) — as the files of a fresh
    /// directory named after `name` and this process: the file name is
    /// the id, the first line the title, the rest the text.
    ///
    /// # Panics
    /// When the directory cannot be written.
    pub fn write(
        name: &str,
        documents: impl IntoIterator<Item = (String, String, String)>,
    ) -> Self {
        let path =
            std::env::temp_dir().join(format!("scatter-corpus-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a corpus directory under the temp dir");
        for (id, title, text) in documents {
            std::fs::write(path.join(&id), format!("{title}\n{text}"))
                .unwrap_or_else(|e| panic!("cannot write corpus file {id}: {e}"));
        }
        Self { path }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CorpusDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
