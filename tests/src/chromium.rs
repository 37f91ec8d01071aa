//! Headless Chromium for the tests of pages the processes serve (the root's
//! status page): the DOM a page has built after its scripts ran for a few
//! seconds of virtual time, or a screenshot of it.
//!
//! Where Chromium is missing the test is skipped, visibly (see
//! [`crate::skip`]), unless `SCATTER_REQUIRE_CHROMIUM=1` or
//! `SCATTER_REQUIRE_ALL=1` (CI, after installing `chromium`) make it fail.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::process::Command;

/// How long one Chromium run may take: it can be slow to start on a busy
/// machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// How much virtual time a page's scripts get before the DOM is read:
/// enough for a page that refreshes every second to have fetched twice.
const VIRTUAL_TIME_MS: u32 = 2_500;

/// The names Chromium is installed under.
const PROGRAMS: [&str; 2] = ["chromium", "chromium-browser"];

/// A headless Chromium found on this machine.
pub struct Chromium {
    program: PathBuf,
}

impl Chromium {
    /// Chromium, if it is installed.
    ///
    /// # Panics
    /// When it is not and Chromium is required (see [`crate::skip`]).
    pub fn find() -> Option<Self> {
        let found = PROGRAMS.iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(name))
                    .find(|candidate| candidate.is_file())
            })
        });
        if found.is_none() {
            crate::skip::missing(
                crate::skip::Need::Chromium,
                "chromium is not installed here (apt-get install chromium)",
            );
        }
        found.map(|program| Self { program })
    }

    /// The DOM of `url` once its scripts have run for a few seconds.
    ///
    /// # Panics
    /// When Chromium fails or runs too long.
    pub async fn dom(&self, url: &str) -> String {
        let output = self.run(&["--dump-dom".to_owned(), url.to_owned()]).await;
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Saves a `width` × `height` screenshot (PNG) of `url` to `path`.
    ///
    /// # Panics
    /// When Chromium fails, runs too long, or writes no file.
    pub async fn screenshot(&self, url: &str, path: &Path, width: u32, height: u32) {
        let _ = std::fs::remove_file(path);
        self.run(&[
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},{height}"),
            "--hide-scrollbars".to_owned(),
            url.to_owned(),
        ])
        .await;
        assert!(path.is_file(), "chromium wrote no {}", path.display());
    }

    async fn run(&self, args: &[String]) -> Output {
        // A profile of its own per run, so runs in parallel tests do not
        // fight over one profile's lock.
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "scatter-chromium-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let run = Command::new(&self.program)
            .args([
                "--headless",
                // Tests run as root in CI, where the sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                &format!("--user-data-dir={}", profile.display()),
                &format!("--virtual-time-budget={VIRTUAL_TIME_MS}"),
            ])
            .args(args)
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(RUN_TIMEOUT, run).await;
        let _ = std::fs::remove_dir_all(&profile);
        let output = output
            .unwrap_or_else(|_| panic!("chromium still runs after {RUN_TIMEOUT:?}: {args:?}"))
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program.display()));
        assert!(
            output.status.success(),
            "chromium {args:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}
