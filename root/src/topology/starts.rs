//! How long a shard's calls take to start work at their leaves, for tied
//! calls: a tie waits at least the shard's recent p99 time-to-start, so
//! only a call that is truly stuck (queued behind others, its leaf frozen
//! in a pause) gets a copy, however slow the machine is to say "started".
//! A copy sent while the first call is merely slow to report would start
//! too, and its work would be wasted.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::window::{AtomicDuration, LatencyWindow};

/// The percentile of recent times-to-start a tie waits at least.
pub const TIE_PERCENTILE: f64 = 99.0;
/// How far back the times-to-start go.
const SPAN: Duration = Duration::from_secs(10);

/// A shard's recent times from sending a call to hearing it started.
pub struct StartTimes {
    window: Mutex<LatencyWindow>,
    usual: AtomicDuration,
}

impl StartTimes {
    /// No times yet.
    pub fn new(now: Instant) -> Self {
        Self {
            window: Mutex::new(LatencyWindow::new(SPAN, now)),
            usual: AtomicDuration::default(),
        }
    }

    /// One call started `elapsed` after it was sent.
    pub fn record(&self, elapsed: Duration, now: Instant) {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.record(elapsed, now)
            && let Some(usual) = window.percentile(TIE_PERCENTILE)
        {
            self.usual.set(usual);
        }
    }

    /// The recent p99 time-to-start, once there are enough samples.
    pub fn usual(&self) -> Option<Duration> {
        self.usual.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_usual_time_to_start_is_the_recent_p99_once_known() {
        let starts = StartTimes::new(Instant::now());
        assert_eq!(starts.usual(), None);
        for i in 0..200u64 {
            let ms = if i % 100 == 99 { 30 } else { 1 + i % 3 };
            starts.record(Duration::from_millis(ms), Instant::now());
        }
        let usual = starts.usual().expect("enough samples");
        assert!(
            usual >= Duration::from_millis(3) && usual < Duration::from_millis(30),
            "{usual:?}: the p99 is past the ordinary starts and below the rare stuck one"
        );
    }
}
