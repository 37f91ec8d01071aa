//! Tests that need more than the Rust toolchain (a Docker engine, Python,
//! Chromium, promtool) and what happens when the need is missing here.
//!
//! A test whose need is missing calls [`missing`] and returns. That prints
//! the reason and, when `SCATTER_SKIP_LOG` names a file (`scripts/test.sh`
//! sets it), appends one line to it, which the script prints as a summary
//! after the run: a skip is never a silent pass. Where the need must be
//! met — `SCATTER_REQUIRE_<NEED>=1`, or `SCATTER_REQUIRE_ALL=1` as CI sets
//! — it fails the test instead.

use std::io::Write as _;

/// What a group of tests needs beyond the Rust toolchain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A Docker engine and the images of `deploy/build-images.sh`.
    Docker,
    /// Python 3 with the packages of `tests/python-requirements.txt`.
    Python,
    /// Headless Chromium (Debian's `chromium`).
    Chromium,
    /// `promtool` (Debian's `prometheus`).
    Promtool,
    /// `kubernetes-validate` (from PyPI).
    KubernetesValidate,
    /// `kubectl`, for its built-in kustomize (`kubectl kustomize`).
    Kubectl,
}

impl Need {
    /// The `SCATTER_REQUIRE_*` variable that makes this need a must.
    pub fn variable(self) -> &'static str {
        match self {
            Self::Docker => "SCATTER_REQUIRE_DOCKER",
            Self::Python => "SCATTER_REQUIRE_PYTHON",
            Self::Chromium => "SCATTER_REQUIRE_CHROMIUM",
            Self::Promtool => "SCATTER_REQUIRE_PROMTOOL",
            Self::KubernetesValidate => "SCATTER_REQUIRE_KUBERNETES_VALIDATE",
            Self::Kubectl => "SCATTER_REQUIRE_KUBECTL",
        }
    }

    /// Whether this run must meet the need rather than skip.
    pub fn required(self) -> bool {
        let set = |name: &str| std::env::var(name).as_deref() == Ok("1");
        set(self.variable()) || set("SCATTER_REQUIRE_ALL")
    }
}

/// Skips what the calling test was about to do, because `need` is not met
/// here for the reason `why` (which says how to meet it): prints it and
/// records it in `SCATTER_SKIP_LOG`.
///
/// # Panics
/// When the need is [required](Need::required).
#[track_caller]
pub fn missing(need: Need, why: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(
        !need.required(),
        "{} is set but {test} cannot run: {why}",
        if std::env::var(need.variable()).as_deref() == Ok("1") {
            need.variable()
        } else {
            "SCATTER_REQUIRE_ALL"
        }
    );
    eprintln!("skipped: {test}: {why}");
    if let Some(log) = std::env::var_os("SCATTER_SKIP_LOG") {
        let line = format!("{test}: {why}\n");
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(e) = appended {
            eprintln!("cannot record the skip in {}: {e}", log.to_string_lossy());
        }
    }
}
