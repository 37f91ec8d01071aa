//! One deadline per request: the client's `grpc-timeout` capped by the
//! configured maximum (or the default when absent), split into time for the
//! leaves and a reserve for the merge.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::DeadlineConfig;

/// The deadlines of one request.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// When the client stops waiting: the merge must have answered.
    pub request: Instant,
    /// When the root stops waiting for leaves and half-closes the merge.
    pub gather: Instant,
}

impl Deadlines {
    /// The whole budget of a request with the client's timeout.
    pub fn total(config: &DeadlineConfig, client_timeout: Option<Duration>) -> Duration {
        client_timeout.map_or(config.default, |t| t.min(config.max))
    }

    /// The deadlines of a request arriving `now` with `total` to spend,
    /// `reserve` of it kept for the merge.
    pub fn new(total: Duration, reserve: Duration, now: Instant) -> Self {
        Self {
            request: now + total,
            gather: now + total.saturating_sub(reserve),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_timeout_is_capped_and_defaulted() {
        let config = DeadlineConfig {
            default: Duration::from_millis(500),
            max: Duration::from_secs(2),
            ..DeadlineConfig::default()
        };
        let capped = Deadlines::total(&config, Some(Duration::from_secs(60)));
        assert_eq!(capped, Duration::from_secs(2));
        assert_eq!(Deadlines::total(&config, None), Duration::from_millis(500));
    }

    #[test]
    fn the_gather_ends_a_reserve_before_the_request() {
        let now = Instant::now();
        let d = Deadlines::new(Duration::from_secs(1), Duration::from_millis(20), now);
        assert_eq!(d.request - now, Duration::from_secs(1));
        assert_eq!(d.request - d.gather, Duration::from_millis(20));
    }
}
