//! What the root logs about requests. Every finished request is one
//! `debug` line (turn it on with `SCATTER_LOG=scatter_root=debug`); a
//! request slower than `slow_request` is also a `warn` line at the default
//! level, so slow requests show without turning on debug logs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_text;

/// Request-level log settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A request taking longer than this, answered or not, is logged as
    /// slow. Lower catches more stragglers and writes more lines under
    /// load; zero turns the slow-request line off. Default 1 s (the default
    /// deadline: a request that used its whole budget).
    #[serde(with = "duration_text")]
    pub slow_request: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            slow_request: Duration::from_secs(1),
        }
    }
}

impl LogConfig {
    /// The slow-request threshold, or `None` when the line is off.
    pub fn slow_threshold(&self) -> Option<Duration> {
        (!self.slow_request.is_zero()).then_some(self.slow_request)
    }
}
