//! Running `scatter check` as a user would, and reading its `--json` report.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::binary;

/// How long one run of the checker may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// One finished run of `scatter check`.
#[derive(Debug)]
pub struct CheckRun {
    /// Whether it exited 0.
    pub success: bool,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl CheckRun {
    /// The `--json` report.
    ///
    /// # Panics
    /// When stdout is not one.
    pub fn report(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "not a JSON report ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The names of the checks whose result was `result` (`pass`, `fail`,
    /// `skip`).
    pub fn with_result(&self, result: &str) -> BTreeSet<String> {
        self.report()["checks"]
            .as_array()
            .expect("a report lists its checks")
            .iter()
            .filter(|c| c["result"] == result)
            .map(|c| c["check"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The line of check `name` in the report.
    ///
    /// # Panics
    /// When the report has no such check.
    pub fn line(&self, name: &str) -> Value {
        self.report()["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|c| c["check"] == name).cloned())
            .unwrap_or_else(|| panic!("no check {name} in {}", self.stdout))
    }
}

/// Runs `scatter check` with `args` to its end.
///
/// # Panics
/// When it cannot start or runs past three minutes.
pub async fn run(args: &[&str]) -> CheckRun {
    let checker = tokio::process::Command::new(binary("scatter"))
        .arg("check")
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_TIMEOUT, checker)
        .await
        .unwrap_or_else(|_| panic!("scatter check {args:?} still runs after {RUN_TIMEOUT:?}"))
        .expect("scatter check starts");
    CheckRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Asserts that the run failed exactly the checks `failing` and skipped
/// none: what a broken fixture must break, and nothing else.
///
/// # Panics
/// When it did otherwise, with the report.
pub fn assert_fails_exactly(run: &CheckRun, failing: &[&str]) {
    let failed = run.with_result("fail");
    let expected: BTreeSet<String> = failing.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        failed, expected,
        "failed checks differ from {failing:?}:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.with_result("skip").is_empty(),
        "checks skipped:\n{}",
        run.stdout
    );
    assert_eq!(
        run.success,
        failing.is_empty(),
        "exit status of {}",
        run.stdout
    );
}
