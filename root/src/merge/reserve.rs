//! The merge reserve: the part of a request's deadline kept back from the
//! leaves so the merge can finish and the answer reach the client in time.
//! It follows how long `finish` actually takes (a high percentile of recent
//! finishes, plus a floor), so a fast merge gives the leaves nearly all of
//! the deadline and a slow one gets the time it needs; it is never more
//! than a tenth of a request's deadline.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::DeadlineConfig;
use crate::topology::{AtomicDuration, LatencyWindow};

/// How far back finish latencies count.
const WINDOW_SPAN: Duration = Duration::from_secs(10);

/// The adaptive merge reserve of one merge target.
pub struct MergeReserve {
    window: Mutex<LatencyWindow>,
    cached: AtomicDuration,
    percentile: f64,
    floor: Duration,
    initial: Duration,
}

impl MergeReserve {
    /// A reserve that starts at `config.merge_reserve` and then follows the
    /// merge's measured finish latency.
    pub fn new(config: &DeadlineConfig) -> Self {
        Self {
            window: Mutex::new(LatencyWindow::new(WINDOW_SPAN, Instant::now())),
            cached: AtomicDuration::default(),
            percentile: config.merge_reserve_percentile,
            floor: config.merge_reserve_floor,
            initial: config.merge_reserve,
        }
    }

    /// The reserve for a request whose whole deadline is `total`.
    pub fn for_deadline(&self, total: Duration) -> Duration {
        let measured = self.cached.get().map(|p| p + self.floor);
        measured.unwrap_or(self.initial).min(total / 10)
    }

    /// Records how long one request's `finish` took.
    pub fn record(&self, finish: Duration) {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.record(finish, Instant::now())
            && let Some(value) = window.percentile(self.percentile)
        {
            self.cached.set(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_starts_at_its_initial_value_then_follows_finish_times() {
        let config = DeadlineConfig::default();
        let reserve = MergeReserve::new(&config);
        let second = Duration::from_secs(1);
        assert_eq!(reserve.for_deadline(second), config.merge_reserve);
        for _ in 0..200 {
            reserve.record(Duration::from_micros(300));
        }
        let adapted = reserve.for_deadline(second);
        assert!(
            adapted >= config.merge_reserve_floor
                && adapted <= config.merge_reserve_floor + Duration::from_micros(400),
            "a fast merge keeps back its finish time and the floor: {adapted:?}"
        );
        for _ in 0..200 {
            reserve.record(Duration::from_millis(400));
        }
        assert_eq!(
            reserve.for_deadline(second),
            Duration::from_millis(100),
            "never more than a tenth of the deadline"
        );
    }
}
