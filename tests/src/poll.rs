//! Waiting for a condition, never for a length of time: check every few
//! milliseconds until it holds or the deadline passes.

use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Returns once `check` answers `true`.
///
/// # Panics
/// When `check` is still `false` after `timeout`, naming `what` was awaited.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still not the case after {timeout:?}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
