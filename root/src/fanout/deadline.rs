//! One budget per request: the client's `grpc-timeout` capped by the
//! configured maximum (or the default when absent), split into time for the
//! leaves and a reserve for the merge.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::DeadlineConfig;

/// The deadlines of one request.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// When the client stops waiting: the merge must have answered.
    pub request: Instant,
    /// When the root stops waiting for leaves and half-closes the merge.
    pub gather: Instant,
}

impl Budget {
    /// The budget of a request arriving `now` with the client's timeout.
    pub fn new(config: &DeadlineConfig, client_timeout: Option<Duration>, now: Instant) -> Self {
        let total = client_timeout.map_or(config.default, |t| t.min(config.max));
        let reserve = config.merge_reserve.min(total / 10);
        Self {
            request: now + total,
            gather: now + (total - reserve),
        }
    }

    /// Time left for leaf calls from `now`, zero once the gather deadline passed.
    pub fn leaf_remaining(&self, now: Instant) -> Duration {
        self.gather.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DeadlineConfig {
        DeadlineConfig {
            default: Duration::from_millis(500),
            max: Duration::from_secs(2),
            merge_reserve: Duration::from_millis(20),
        }
    }

    #[test]
    fn client_timeout_is_capped_and_defaulted() {
        let now = Instant::now();
        let capped = Budget::new(&config(), Some(Duration::from_secs(60)), now);
        assert_eq!(capped.request - now, Duration::from_secs(2));
        let default = Budget::new(&config(), None, now);
        assert_eq!(default.request - now, Duration::from_millis(500));
    }

    #[test]
    fn merge_reserve_is_at_most_a_tenth() {
        let now = Instant::now();
        let roomy = Budget::new(&config(), Some(Duration::from_secs(1)), now);
        assert_eq!(roomy.request - roomy.gather, Duration::from_millis(20));
        let tight = Budget::new(&config(), Some(Duration::from_millis(50)), now);
        assert_eq!(tight.request - tight.gather, Duration::from_millis(5));
    }
}
