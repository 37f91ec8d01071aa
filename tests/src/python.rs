//! Python for the tests that run Python leaves and clients (grpcio): whether
//! python3 has what a test needs, and running a client script to its end.
//!
//! Where Python or a package is missing the test says so and passes, unless
//! `SCATTER_REQUIRE_PYTHON=1` (CI sets it, after installing them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long a Python client may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether python3 can import every one of `modules`; `packages` is what
/// to `pip install` to get them.
///
/// # Panics
/// When it cannot and `SCATTER_REQUIRE_PYTHON=1`.
pub fn ready(modules: &[&str], packages: &str) -> bool {
    let ready = Command::new("python3")
        .args(["-c", &format!("import {}", modules.join(", "))])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var("SCATTER_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "SCATTER_REQUIRE_PYTHON=1 but python3 cannot import {modules:?} \
             (pip install {packages})"
        );
        eprintln!("skipped: python3 with {packages} is not installed here");
    }
    ready
}

/// A file of the Python example in `examples/<example>`.
pub fn example(example: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example)
        .join(file)
}

/// Runs the Python `script` with `args` to its end and returns what it
/// printed.
///
/// # Panics
/// When it cannot start, runs past a minute, or exits with failure (with
/// its output).
pub async fn run(script: &Path, args: &[&str]) -> String {
    let client = tokio::process::Command::new("python3")
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
