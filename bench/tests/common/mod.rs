//! What the integration tests share: the root binary they run against.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `scatter` binary sits beside ours once the root crate is built;
/// `cargo test --workspace` builds it, `cargo test -p scatter-bench` may not.
pub fn ensure_root_binary(bench: &Path) -> PathBuf {
    let root = bench.with_file_name("scatter");
    if !root.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "scatter-root", "--bin", "scatter"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the scatter binary failed");
    }
    assert!(root.exists(), "no scatter binary at {}", root.display());
    root
}

/// A short run of `scenario` with every mode in `modes` at `rate`
/// requests/s (1 s after a 0.5 s warm-up), its outputs in a directory of
/// its own; returns that directory and the run's stdout. Fails the test,
/// with the harness's stderr, if the run fails.
pub fn short_run(scenario: &str, rate: f64, modes: &[&str]) -> (PathBuf, String) {
    short_run_with(scenario, rate, modes, &[])
}

/// [`short_run`] with `extra` flags (e.g. `--seeds 1,2`).
pub fn short_run_with(
    scenario: &str,
    rate: f64,
    modes: &[&str],
    extra: &[&str],
) -> (PathBuf, String) {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_scatter-bench"));
    ensure_root_binary(&bench);
    let tag = if extra.is_empty() { "" } else { "-extra" };
    let out = std::env::temp_dir().join(format!(
        "scatter-bench-{scenario}{tag}-{}",
        std::process::id()
    ));
    let output = Command::new(&bench)
        .args([scenario, "--duration", "1", "--rate", &rate.to_string()])
        .args(["--warmup", "0.5", "--modes", &modes.join(","), "--out"])
        .arg(&out)
        .args(extra)
        .output()
        .expect("scatter-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scatter-bench failed:\n{stderr}");
    (out, String::from_utf8_lossy(&output.stdout).into_owned())
}
